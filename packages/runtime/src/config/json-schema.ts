import { z } from 'zod';
import { ConfigSchema } from './schema.js';

/** The JSON Schema of the config file, generated from the one typed schema (committed; CI checks it is fresh). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >;
  return { $id: 'https://mandate.dev/schemas/config.json', title: 'Mandate configuration', ...schema };
}

import { join } from 'node:path';
import { ConfigSchema, type ConfigInput } from '../../src/config/index.js';
import { createMandate, type Mandate } from '../../src/app/index.js';
import type { Logger } from '../../src/kernel/index.js';
import { BOT_ENTITIES, FIXTURES, fixtureConfig } from './helpers.js';

/** The misbehaving fixture server (fixtures/unruly-server.mjs) as stdio upstream `name`, trusted on first use. */
export function unrulyUpstream(name: string, env: Record<string, string> = {}) {
  return {
    name,
    command: process.execPath,
    args: [join(FIXTURES, 'unruly-server.mjs')],
    env: { NAME: name, ...env },
    trustOnFirstUse: true,
  };
}

/** A Cedar schema declaring these actions (no context), and a policy permitting every agent all of them. */
export function schemaFor(actions: string[]): string {
  return [
    'entity Agent = { roles: Set<String>, status: String };',
    'entity User = { roles: Set<String>, status: String };',
    'entity Tool;',
    ...actions.map((a) => `action "${a}" appliesTo { principal: [Agent, User], resource: Tool };`),
  ].join('\n');
}
export const PERMIT_ALL = `@id("all") permit (principal is Agent, action, resource);`;

export interface Logged {
  level: 'warn' | 'error';
  msg: string;
  fields?: Record<string, unknown>;
}

/** A node (memory store) with these upstreams, its warnings and errors kept in `logged`. */
export async function startLogged(
  gateway: ConfigInput['gateway'],
  actions: string[],
): Promise<{ m: Mandate; url: string; logged: Logged[] }> {
  const logged: Logged[] = [];
  const keep = (level: Logged['level']) => (msg: string, fields?: Record<string, unknown>) =>
    void logged.push({ level, msg, ...(fields ? { fields } : {}) });
  const logger: Logger = { debug: () => {}, info: () => {}, warn: keep('warn'), error: keep('error') };
  const { config, dir } = fixtureConfig({
    policies: PERMIT_ALL,
    schema: schemaFor(actions),
    entities: BOT_ENTITIES,
    gateway,
  });
  const m = await createMandate(
    { config: ConfigSchema.parse(config), file: null, baseDir: dir, nodeId: 'test' },
    { logger },
  );
  const { url } = await m.listen();
  return { m, url, logged };
}

export const textOf = (r: unknown) => (r as { content: { text: string }[] }).content[0]?.text ?? '';

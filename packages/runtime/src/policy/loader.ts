import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MandateError, decodeUtf8Strict } from '../kernel/index.js';
import type { PolicySetSource } from './port.js';

/**
 * Reads a policy directory: every `*.cedar` file (non-recursive, sorted by name) and exactly one
 * `*.cedarschema` file. It only reads; {@link PolicyEngine.validate} judges the content.
 *
 * @throws MandateError `policy_invalid` when the directory is missing or unreadable, has no policy
 *   file, or has no or several schema files — a half-found set must never be activated.
 */
export async function loadPolicyDir(dir: string): Promise<PolicySetSource> {
  let names: string[];
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    names = entries.filter((e) => e.isFile()).map((e) => e.name);
  } catch (cause) {
    throw new MandateError('policy_invalid', `policy directory cannot be read: ${dir}`, { cause });
  }
  // Code-unit order, not locale order: the same directory must load the same way everywhere.
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const policyFiles = names.filter((n) => n.endsWith('.cedar'));
  const schemaFiles = names.filter((n) => n.endsWith('.cedarschema'));
  if (policyFiles.length === 0) {
    throw new MandateError('policy_invalid', `no *.cedar policy file in ${dir}`);
  }
  if (schemaFiles.length !== 1) {
    throw new MandateError(
      'policy_invalid',
      schemaFiles.length === 0
        ? `no *.cedarschema schema file in ${dir}`
        : `exactly one *.cedarschema file expected in ${dir}, found ${schemaFiles.join(', ')}`,
    );
  }
  const policies: Record<string, string> = {};
  for (const name of policyFiles) policies[name] = await readText(dir, name);
  return { policies, schema: await readText(dir, schemaFiles[0]!) };
}

// SECURITY: fail closed — invalid UTF-8 is rejected, not replaced with U+FFFD: the text hashed
// into the version and the text Cedar parses must be exactly the bytes on disk.
async function readText(dir: string, name: string): Promise<string> {
  try {
    return decodeUtf8Strict(await readFile(join(dir, name)));
  } catch (cause) {
    throw new MandateError('policy_invalid', `policy file cannot be read as UTF-8: ${name}`, { cause });
  }
}

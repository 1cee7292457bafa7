import { readdir, readFile, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { MandateError, decodeUtf8Strict } from '../kernel/index.js';
import type { PolicySetSource } from './port.js';

/** Does the name end like a policy or schema file, in any case (`x.CEDAR`, `s.CedarSchema`)? */
const POLICY_LIKE = /\.cedar(schema)?$/i;

/**
 * Reads a policy directory: every `*.cedar` file (non-recursive, sorted by name) and exactly one
 * `*.cedarschema` file. A symbolic link is followed (a Kubernetes ConfigMap mounts every file as a
 * link into `..data/`; a shared guardrails file is often linked in). It only reads;
 * {@link PolicyEngine.validate} judges the content.
 *
 * SECURITY: fail closed — a policy that is silently left out may be the forbid that denies, so an
 * entry that looks like a policy or schema file but would not be read is refused, naming it: a
 * dangling link, a link to something other than a file, a directory or other non-file named
 * `*.cedar`, a case variant (`x.CEDAR`), and a subfolder holding `*.cedar` files (subfolders are not
 * read). Folders whose name starts with `.` are not searched (`..data` and `..2024_…` of a
 * ConfigMap, `.git`).
 *
 * @throws MandateError `policy_invalid` when the directory is missing or unreadable, has no policy
 *   file, or has no or several schema files, or holds an entry above — a half-found set must never
 *   be activated.
 */
export async function loadPolicyDir(dir: string): Promise<PolicySetSource> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (cause) {
    throw new MandateError('policy_invalid', `policy directory cannot be read: ${dir}`, { cause });
  }
  const names: string[] = [];
  for (const e of entries) {
    const kind = await kindOf(dir, e);
    if (POLICY_LIKE.test(e.name)) {
      if (!e.name.endsWith('.cedar') && !e.name.endsWith('.cedarschema'))
        refuse(dir, e.name, 'the extension must be written in lower case (.cedar, .cedarschema)');
      if (kind === 'dangling') refuse(dir, e.name, 'a symbolic link to nothing');
      if (kind !== 'file')
        refuse(dir, e.name, e.isSymbolicLink() ? `a symbolic link to a ${kind}` : `a ${kind}, not a file`);
      names.push(e.name);
    } else if (kind === 'directory' && !e.name.startsWith('.')) {
      const nested = await policyFilesUnder(join(dir, e.name));
      if (nested !== null)
        refuse(dir, e.name, `a subfolder holding ${nested}; subfolders are not read — move it up`);
    }
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

type EntryKind = 'file' | 'directory' | 'dangling' | 'special file';

function refuse(dir: string, name: string, why: string): never {
  throw new MandateError('policy_invalid', `${join(dir, name)}: ${why}; refusing the policy directory`);
}

/** What an entry is, a symbolic link followed to its target (`dangling` when that is missing or loops). */
async function kindOf(dir: string, e: Dirent): Promise<EntryKind> {
  if (!e.isSymbolicLink()) return e.isFile() ? 'file' : e.isDirectory() ? 'directory' : 'special file';
  try {
    const st = await stat(join(dir, e.name));
    return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'special file';
  } catch {
    return 'dangling';
  }
}

/**
 * The first policy-like entry found under a subfolder (its path inside it), or null. Folders
 * starting with `.` are not searched. A folder that cannot be read is passed over: nothing in it
 * would be read either, the check only catches a file put where it is never loaded.
 */
async function policyFilesUnder(sub: string): Promise<string | null> {
  let found: string[];
  try {
    found = await readdir(sub, { recursive: true });
  } catch {
    return null;
  }
  const hit = found
    .filter((p) => !p.split(/[\\/]/).some((part) => part.startsWith('.')))
    .sort()
    .find((p) => POLICY_LIKE.test(p));
  return hit ?? null;
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

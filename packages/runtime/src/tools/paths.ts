import { MandateError } from '../kernel/index.js';

/**
 * Path arguments, decided in one form (issue 8 §1, DESIGN "Arguments that name things are
 * canonicalised before deciding"). Everything here is pure except {@link resolveRealPath}, which
 * reads the filesystem only through the functions it is handed.
 */

/** Longest path accepted (Linux PATH_MAX). */
export const MAX_PATH_LENGTH = 4096;

/** Where a value sits in args (`args.edits[2].path`), for errors. */
export interface PathArgOptions {
  /** The arg path named in a refusal; default `args`. */
  arg?: string;
}

function refuse(arg: string, why: string): never {
  throw new MandateError('invalid_args', `${arg}: ${why}`, { details: { path: arg } });
}

// C0 controls (NUL included), DEL and C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;
// Percent-encoded dot, slash, backslash or NUL: a server that decodes would see other segments.
const ENCODED = /%(2e|2f|5c|00)/i;

/**
 * The canonical form of a POSIX path, resolved lexically: `.` dropped, `..` applied, repeated
 * separators collapsed, a trailing slash removed (`/srv/sandbox//sub/../a.txt/` →
 * `/srv/sandbox/a.txt`).
 *
 * SECURITY: refuses (400 `invalid_args` naming the arg) what could be read two ways: NUL and any
 * control character (a C library stops at NUL: `a.txt\0/../../secret` is one path to Mandate and
 * another to the server), a relative path (relative to what? The server's working directory is not
 * Mandate's), `..` above `/`, a backslash (a separator to a Windows server, a file name character
 * to POSIX), a percent-encoded dot, slash, backslash or NUL (a separator to a server that
 * URL-decodes), an empty or over-long value. A URL (`file:///etc/passwd`) or a Windows path
 * (`C:\x`) is not absolute POSIX and is refused with the rest.
 */
export function canonicalPath(value: string, options: PathArgOptions = {}): string {
  const arg = options.arg ?? 'args';
  if (typeof value !== 'string') refuse(arg, 'a path must be a string');
  if (value.length === 0) refuse(arg, 'the path is empty');
  if (value.length > MAX_PATH_LENGTH) refuse(arg, `the path is longer than ${MAX_PATH_LENGTH} characters`);
  const control = CONTROL.exec(value);
  if (control) {
    const cp = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    refuse(arg, `the path holds the control character U+${cp}`);
  }
  if (value.includes('\\'))
    refuse(arg, 'the path holds a backslash (a Windows separator); give a POSIX path');
  if (ENCODED.test(value))
    refuse(
      arg,
      'the path holds a percent-encoded dot, slash, backslash or NUL; Mandate does not decode paths',
    );
  if (!value.startsWith('/')) refuse(arg, 'the path is not absolute (it must start with /)');
  const out: string[] = [];
  for (const segment of value.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) refuse(arg, 'the path climbs above / with ..');
      out.pop();
    } else out.push(segment);
  }
  return '/' + out.join('/');
}

/**
 * The folders holding a canonical path, nearest first: `/srv/sandbox/a.txt` → `/srv/sandbox`,
 * `/srv`, `/`. The root has none.
 */
export function pathAncestors(canonical: string): string[] {
  const out: string[] = [];
  let p = canonical;
  while (p !== '/') {
    const cut = p.lastIndexOf('/');
    p = cut <= 0 ? '/' : p.slice(0, cut);
    out.push(p);
  }
  return out;
}

/** The two filesystem reads symlink resolution needs; injected so tests (and a sandbox) decide. */
export interface PathFs {
  /** Like `fs.promises.realpath`: rejects with `code: 'ENOENT'` when the path does not exist. */
  realpath(path: string): Promise<string>;
  /** Like `fs.promises.lstat` (does not follow a final symlink). */
  lstat(path: string): Promise<{ isSymbolicLink(): boolean }>;
}

const errCode = (err: unknown): string | undefined => (err as { code?: unknown })?.code as string | undefined;
const MISSING = new Set(['ENOENT', 'ENOTDIR']);

/**
 * A canonical path with its symlinks resolved on this machine. A path that does not exist yet (a
 * file about to be written) resolves its longest existing prefix and appends the rest, so
 * `/srv/sandbox/link-out/new.txt` with `link-out → /etc` is `/etc/new.txt`.
 *
 * SECURITY: fail closed — refuses (400 `invalid_args`) a dangling symlink on the way (a server
 * creating the file would follow it to a place nobody decided on) and any error other than "does
 * not exist" (permission denied, a symlink loop): what the path means could not be found out.
 */
export async function resolveRealPath(
  canonical: string,
  fs: PathFs,
  options: PathArgOptions = {},
): Promise<string> {
  const arg = options.arg ?? 'args';
  const rest: string[] = [];
  let prefix = canonical;
  for (;;) {
    let real: string;
    try {
      real = await fs.realpath(prefix);
    } catch (err) {
      const code = errCode(err);
      if (!code || !MISSING.has(code)) refuse(arg, `the path could not be resolved (${code ?? 'error'})`);
      let link = false;
      try {
        link = (await fs.lstat(prefix)).isSymbolicLink();
      } catch (lerr) {
        const lcode = errCode(lerr);
        if (!lcode || !MISSING.has(lcode))
          refuse(arg, `the path could not be resolved (${lcode ?? 'error'})`);
      }
      // The path itself is not named: the reason is recorded in the hashed request.refused event,
      // and the arg may be one redaction keeps out of every record (a probe).
      if (link) refuse(arg, 'a symlink on the path points to nothing; it cannot be decided on');
      // The root always exists; a filesystem that says otherwise is not one to decide on.
      if (prefix === '/') refuse(arg, 'the path could not be resolved (no root)');
      const cut = prefix.lastIndexOf('/');
      rest.unshift(prefix.slice(cut + 1));
      prefix = cut === 0 ? '/' : prefix.slice(0, cut);
      continue;
    }
    // The real path is checked like any input: a file name with a control character in it is refused.
    return canonicalPath(rest.length === 0 ? real : `${real}/${rest.join('/')}`, { arg });
  }
}

/** One step of a declared path arg: a key, and whether its value is an array of such values. */
export interface PathArgStep {
  key: string;
  each: boolean;
}

/** Parses `edits[].path` into steps; the syntax was checked by `ToolPathsSchema`. */
export function parsePathArg(spec: string): PathArgStep[] {
  return spec
    .split('.')
    .map((part) =>
      part.endsWith('[]') ? { key: part.slice(0, -2), each: true } : { key: part, each: false },
    );
}

/**
 * Rewrites every value a declared path arg names with `fn`, returning a copy of args (the input is
 * never changed). An absent arg is left alone (the args schema says whether it is required); a
 * present one of the wrong shape — not a string, not an array where `[]` is declared, not an
 * object on the way — is refused, so nothing declared as a path slips past as another type.
 */
export function rewritePathArgs(
  args: Record<string, unknown>,
  steps: readonly PathArgStep[],
  fn: (value: string, arg: string) => string,
): Record<string, unknown> {
  return walk(args, steps, 0, 'args', fn) as Record<string, unknown>;
}

function walk(
  value: unknown,
  steps: readonly PathArgStep[],
  i: number,
  where: string,
  fn: (value: string, arg: string) => string,
): unknown {
  if (i === steps.length) {
    if (typeof value !== 'string') refuse(where, 'a declared path must be a string');
    return fn(value, where);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    refuse(where, `expected an object holding ${steps[i]!.key}`);
  const step = steps[i]!;
  const record = value as Record<string, unknown>;
  if (!Object.hasOwn(record, step.key) || record[step.key] === undefined) return value;
  const child = record[step.key];
  const at = `${where}.${step.key}`;
  let next: unknown;
  if (step.each) {
    if (!Array.isArray(child)) refuse(at, 'expected an array of paths');
    next = child.map((el, k) => walk(el, steps, i + 1, `${at}[${k}]`, fn));
  } else {
    next = walk(child, steps, i + 1, at, fn);
  }
  // Spread and a computed key both define own properties: a `__proto__` key stays data.
  return { ...record, [step.key]: next };
}

import { describe, expect, it } from 'vitest';
import {
  canonicalPath,
  parsePathArg,
  pathAncestors,
  resolveRealPath,
  rewritePathArgs,
  type PathFs,
} from '../../src/tools/index.js';

/** The MandateError `fn` throws (fails the test when it does not throw). */
function refusal(fn: () => unknown): { code: string; message: string; details: unknown } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string; details: unknown };
  }
  throw new Error('expected a refusal');
}

async function refusalOf(p: Promise<unknown>): Promise<{ code: string; message: string; details: unknown }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string; details: unknown };
  }
  throw new Error('expected a refusal');
}

describe('canonicalPath: one form per path', () => {
  it.each([
    // issue 8 §1: the traversal inputs, each decided as what it really names
    ['/srv/sandbox/../secret.txt', '/srv/secret.txt'],
    ['/srv/sandbox/sub/../../secret.txt', '/srv/secret.txt'],
    ['/srv/sandbox/./../x', '/srv/x'],
    ['/srv/sandbox//../x', '/srv/x'],
    // and the ones that stay inside
    ['/srv/sandbox/sub/a.txt', '/srv/sandbox/sub/a.txt'],
    ['/srv/sandbox/./sub//a.txt', '/srv/sandbox/sub/a.txt'],
    ['/srv/sandbox/sub/', '/srv/sandbox/sub'],
    ['/srv/sandbox/sub/x/..', '/srv/sandbox/sub'],
    ['//srv///sandbox', '/srv/sandbox'],
    ['/', '/'],
    ['//', '/'],
    ['/.', '/'],
    ['/a/..', '/'],
    // names that merely look special are names
    ['/srv/...', '/srv/...'],
    ['/srv/..a/.b', '/srv/..a/.b'],
    ['/srv/sandbox-evil/x', '/srv/sandbox-evil/x'],
    ['/srv/Zürich/東京 notes.txt', '/srv/Zürich/東京 notes.txt'],
    ['/srv/100%/a%20b', '/srv/100%/a%20b'],
  ])('%s → %s', (input, expected) => {
    expect(canonicalPath(input)).toBe(expected);
    // Canonical is a fixed point.
    expect(canonicalPath(expected)).toBe(expected);
  });

  it.each([
    ['NUL (issue 8 §1)', '/srv/sandbox/hello.txt\u0000/../../secret.txt', 'control character U+0000'],
    ['a newline', '/srv/sandbox/a\nb', 'U+000A'],
    ['ESC', '/srv/sandbox/\u001b[2K', 'U+001B'],
    ['DEL', '/srv/sandbox/a\u007f', 'U+007F'],
    ['a C1 control', '/srv/sandbox/a\u009b', 'U+009B'],
    ['a relative path', 'srv/sandbox/a.txt', 'not absolute'],
    ['a dot-relative path', './a.txt', 'not absolute'],
    ['a parent-relative path', '../etc/passwd', 'not absolute'],
    ['a home path', '~/secret', 'not absolute'],
    ['an empty path', '', 'empty'],
    ['.. above the root', '/..', 'climbs above /'],
    ['.. above the root, later', '/srv/../../etc/passwd', 'climbs above /'],
    ['a Windows drive path', 'C:\\Windows\\system32', 'backslash'],
    ['a backslash traversal', '/srv/sandbox\\..\\secret.txt', 'backslash'],
    ['a UNC path', '\\\\server\\share', 'backslash'],
    ['a file URL', 'file:///etc/passwd', 'not absolute'],
    ['an http URL', 'http://example.com/x', 'not absolute'],
    ['a percent-encoded ..', '/srv/sandbox/%2e%2e/secret.txt', 'percent-encoded'],
    ['a percent-encoded slash', '/srv/sandbox/..%2Fsecret', 'percent-encoded'],
    ['a percent-encoded NUL', '/srv/sandbox/a%00', 'percent-encoded'],
    ['an over-long path', '/' + 'a'.repeat(5000), 'longer than 4096'],
  ])('refuses %s with invalid_args naming the arg', (_, input, why) => {
    const e = refusal(() => canonicalPath(input, { arg: 'args.edits[1].path' }));
    expect(e.code).toBe('invalid_args');
    expect(e.message.startsWith('args.edits[1].path: ')).toBe(true);
    expect(e.message).toContain(why);
    expect(e.details).toEqual({ path: 'args.edits[1].path' });
  });
});

describe('pathAncestors: the folder chain', () => {
  it.each([
    ['/srv/sandbox/a.txt', ['/srv/sandbox', '/srv', '/']],
    ['/srv/sandbox', ['/srv', '/']],
    ['/srv', ['/']],
    ['/', []],
  ])('%s', (p, expected) => {
    expect(pathAncestors(p)).toEqual(expected);
  });
});

/** A fake filesystem: `links` maps a path to its target; `files` lists what exists. */
function fakeFs(
  files: string[],
  links: Record<string, string> = {},
  errors: Record<string, string> = {},
): PathFs {
  const exists = new Set(['/', ...files]);
  const resolve = (p: string, depth = 0): string | null => {
    if (depth > 20) throw Object.assign(new Error('loop'), { code: 'ELOOP' });
    const parts = p.split('/').filter(Boolean);
    let cur = '/';
    for (let i = 0; i < parts.length; i++) {
      const next = cur === '/' ? `/${parts[i]}` : `${cur}/${parts[i]}`;
      if (errors[next]) throw Object.assign(new Error(errors[next]), { code: errors[next] });
      const target = links[next];
      if (target !== undefined) {
        const r = resolve(target, depth + 1);
        if (r === null) return null;
        cur = r;
      } else if (exists.has(next)) cur = next;
      else return null;
    }
    return cur;
  };
  return {
    async realpath(p) {
      const r = resolve(p);
      if (r === null) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return r;
    },
    async lstat(p) {
      if (links[p] !== undefined) return { isSymbolicLink: () => true };
      if (resolve(p) === null) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return { isSymbolicLink: () => false };
    },
  };
}

describe('resolveRealPath: symlinks resolved on this machine', () => {
  const fs = fakeFs(
    ['/srv', '/srv/sandbox', '/srv/sandbox/a.txt', '/srv/sandbox/sub', '/etc', '/etc/passwd'],
    {
      '/srv/sandbox/out': '/etc/passwd',
      '/srv/sandbox/outdir': '/etc',
      '/srv/sandbox/inner': '/srv/sandbox/sub',
      '/srv/sandbox/dangling': '/etc/new-file',
      '/srv/sandbox/loop': '/srv/sandbox/loop',
    },
  );

  it('keeps a real path inside as it is (the allow next to the refusals)', async () => {
    expect(await resolveRealPath('/srv/sandbox/a.txt', fs)).toBe('/srv/sandbox/a.txt');
    expect(await resolveRealPath('/srv/sandbox/inner', fs)).toBe('/srv/sandbox/sub');
  });

  it('follows a symlink that points out of the folder', async () => {
    expect(await resolveRealPath('/srv/sandbox/out', fs)).toBe('/etc/passwd');
  });

  it('resolves the longest existing prefix of a path that does not exist yet and appends the rest', async () => {
    expect(await resolveRealPath('/srv/sandbox/new/file.txt', fs)).toBe('/srv/sandbox/new/file.txt');
    expect(await resolveRealPath('/srv/sandbox/outdir/new.txt', fs)).toBe('/etc/new.txt');
  });

  it('refuses a dangling symlink (creating the file would follow it)', async () => {
    const e = await refusalOf(resolveRealPath('/srv/sandbox/dangling', fs, { arg: 'args.path' }));
    expect(e.code).toBe('invalid_args');
    expect(e.message).toContain('a symlink on the path points to nothing');
    expect(e.message).not.toContain('/srv/sandbox/dangling');
    expect(e.details).toEqual({ path: 'args.path' });
  });

  it('refuses when the path cannot be resolved for another reason (a loop, no permission)', async () => {
    expect((await refusalOf(resolveRealPath('/srv/sandbox/loop', fs))).code).toBe('invalid_args');
    const denied = fakeFs(['/srv'], {}, { '/srv/private': 'EACCES' });
    const e = await refusalOf(resolveRealPath('/srv/private/a.txt', denied));
    expect(e.code).toBe('invalid_args');
    expect(e.message).toContain('EACCES');
  });

  it('refuses a real path holding a control character', async () => {
    const odd = fakeFs(['/srv', '/srv/a\nb']);
    expect(
      (await refusalOf(resolveRealPath('/srv/link', { ...odd, realpath: async () => '/srv/a\nb' }))).code,
    ).toBe('invalid_args');
  });
});

describe('rewritePathArgs: every declared path, every element', () => {
  const upper = (v: string) => v.toUpperCase();

  it('rewrites a top-level arg, each element of an array, and a field of each object of an array', () => {
    const args = {
      path: '/a',
      paths: ['/b', '/c'],
      edits: [{ path: '/d', text: 'x' }, { path: '/e' }],
      other: '/f',
    };
    let out = rewritePathArgs(args, parsePathArg('path'), upper);
    out = rewritePathArgs(out, parsePathArg('paths[]'), upper);
    out = rewritePathArgs(out, parsePathArg('edits[].path'), upper);
    expect(out).toEqual({
      path: '/A',
      paths: ['/B', '/C'],
      edits: [{ path: '/D', text: 'x' }, { path: '/E' }],
      other: '/f',
    });
    // The input is never changed.
    expect(args.paths).toEqual(['/b', '/c']);
    expect(args.edits[0]!.path).toBe('/d');
  });

  it('leaves an absent arg alone (the args schema decides whether it is required)', () => {
    const args = { other: 1 };
    expect(rewritePathArgs(args, parsePathArg('path'), upper)).toBe(args);
    expect(rewritePathArgs(args, parsePathArg('edits[].path'), upper)).toBe(args);
  });

  it.each([
    ['a number where a path is declared', { path: 7 }, 'path', 'args.path'],
    ['null where a path is declared', { path: null }, 'path', 'args.path'],
    ['a string where an array of paths is declared', { paths: '/a' }, 'paths[]', 'args.paths'],
    ['a non-string element', { paths: ['/a', 3] }, 'paths[]', 'args.paths[1]'],
    ['a non-object element on the way', { edits: [{ path: '/a' }, '/b'] }, 'edits[].path', 'args.edits[1]'],
    ['an object where a path is declared', { path: { toString: '/a' } }, 'path', 'args.path'],
  ])('refuses %s', (_, args, spec, where) => {
    const e = refusal(() => rewritePathArgs(args as Record<string, unknown>, parsePathArg(spec), upper));
    expect(e.code).toBe('invalid_args');
    expect(e.details).toEqual({ path: where });
  });

  it('names every element it rewrites by its place in args', () => {
    const seen: string[] = [];
    rewritePathArgs({ edits: [{ path: '/a' }, { path: '/b' }] }, parsePathArg('edits[].path'), (v, arg) => {
      seen.push(arg);
      return v;
    });
    expect(seen).toEqual(['args.edits[0].path', 'args.edits[1].path']);
  });
});

// Issue 8 §1: a path policy must mean what it says. Each deny/refusal below was an allow on main
// (the path was decided as the raw string), next to the allow it guards.
import { describe, expect, it } from 'vitest';
import type { PathFs } from '../../src/tools/index.js';
import { decisionHarness } from './harness.js';
import { FILES_POLICIES, FILES_SCHEMA, FILES_TOOLS, NUL_PATH, TRAVERSALS } from './files-fixture.js';

/** One harness per file for the tests that only decide (a decision changes no state they read). */
let sharedHarness: ReturnType<typeof decisionHarness> | undefined;
const shared = () =>
  (sharedHarness ??= decisionHarness({ schema: FILES_SCHEMA, policies: FILES_POLICIES, tools: FILES_TOOLS }));

describe('resource in Dir::"/srv/sandbox" — the path as an entity whose ancestors are its folders', () => {
  const setup = () => decisionHarness({ schema: FILES_SCHEMA, policies: FILES_POLICIES, tools: FILES_TOOLS });

  it('allows a file under the folder, deciding and forwarding the canonical path', async () => {
    const h = await shared();
    for (const spelled of [
      '/srv/sandbox/sub/a.txt',
      '/srv/sandbox/./sub//a.txt',
      '/srv/sandbox/x/../sub/a.txt/',
    ]) {
      const { decision, args } = await h.decide('files.read_text_file', { path: spelled });
      expect(decision.effect, spelled).toBe('allow');
      expect(decision.reasons.map((r) => r.policyId)).toEqual(['read-in-sandbox']);
      expect(args).toEqual({ path: '/srv/sandbox/sub/a.txt' });
      expect(decision.resource).toEqual({ type: 'File', id: '/srv/sandbox/sub/a.txt' });
    }
  });

  it.each(TRAVERSALS)('denies the traversal %s', async (path) => {
    const h = await shared();
    const { decision, args } = await h.decide('files.read_text_file', { path });
    expect(decision.effect).toBe('deny');
    expect(decision.reasons.map((r) => r.policyId)).toEqual(['mandate.default_deny']);
    expect(decision.errors).toEqual([]);
    expect((args.path as string).startsWith('/srv/sandbox/')).toBe(false);
  });

  it('denies the sibling folder a string prefix would let through (/srv/sandbox-evil/x)', async () => {
    const h = await shared();
    const { decision } = await h.decide('files.read_text_file', { path: '/srv/sandbox-evil/x' });
    expect(decision.effect).toBe('deny');
  });

  it('refuses a path with NUL (400 invalid_args naming the arg) — it is never decided', async () => {
    const h = await setup();
    const e = await h.refusal('files.read_text_file', { path: NUL_PATH });
    expect(e.code).toBe('invalid_args');
    expect(e.details?.path).toBe('args.path');
    expect(h.events).toEqual([]);
  });

  it('refuses relative, URL and Windows-style paths', async () => {
    const h = await shared();
    for (const path of ['sandbox/a.txt', 'file:///srv/sandbox/a.txt', 'C:\\srv\\sandbox\\a.txt', '/..'])
      expect((await h.refusal('files.read_text_file', { path })).code, path).toBe('invalid_args');
  });

  it('records the canonical path in the audit event, digest and resource', async () => {
    const h = await setup();
    await h.decide('files.read_text_file', { path: '/srv/sandbox/../secret.txt' });
    const e = h.events.find((x) => x.type === 'decision')!;
    expect(e.effect).toBe('deny');
    expect(e.resource).toBe('File::/srv/secret.txt');
    expect((e.data as { args: unknown }).args).toEqual({ path: '/srv/secret.txt' });
    const other = await decisionHarness({
      schema: FILES_SCHEMA,
      policies: FILES_POLICIES,
      tools: FILES_TOOLS,
    });
    await other.decide('files.read_text_file', { path: '/srv/secret.txt' });
    expect((other.events[0]!.data as { argsDigest: string }).argsDigest).toBe(
      (e.data as { argsDigest: string }).argsDigest,
    );
  });

  it('binds an approval to the canonical path: another spelling of the same file uses it, another file does not', async () => {
    const h = await setup();
    const asked = await h.decide('files.write_file', { path: '/srv/sandbox/sub/a.txt', content: 'x' });
    expect(asked.decision.effect).toBe('approval_required');
    const id = asked.decision.approval!.id;
    await h.approvals.vote(id, { id: 'frank', roles: ['approver'] }, 'approve', null, null);
    const elsewhere = await h.decide(
      'files.write_file',
      { path: '/srv/sandbox/sub/b.txt', content: 'x' },
      { approvalId: id },
    );
    expect(elsewhere.decision.effect).toBe('deny');
    expect(elsewhere.decision.errors.map((e) => e.code)).toEqual(['approval_mismatch']);
    const same = await h.decide(
      'files.write_file',
      { path: '/srv/sandbox/./sub//a.txt', content: 'x' },
      { approvalId: id },
    );
    expect(same.decision.effect).toBe('allow');
    expect(same.args).toEqual({ path: '/srv/sandbox/sub/a.txt', content: 'x' });
  });
});

describe('resolveSymlinks: a symlink inside the folder that points out', () => {
  // /srv/sandbox/link → /etc ; /srv/sandbox/inner → /srv/sandbox/sub
  const fs: PathFs = {
    async realpath(p) {
      const real = p
        .replace(/^\/srv\/sandbox\/link(?=\/|$)/, '/etc')
        .replace(/^\/srv\/sandbox\/inner(?=\/|$)/, '/srv/sandbox/sub');
      const exists = [
        '/',
        '/srv',
        '/srv/sandbox',
        '/srv/sandbox/sub',
        '/srv/sandbox/sub/a.txt',
        '/etc',
        '/etc/passwd',
      ];
      if (!exists.includes(real)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return real;
    },
    async lstat(p) {
      if (p === '/srv/sandbox/link' || p === '/srv/sandbox/inner') return { isSymbolicLink: () => true };
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    },
  };
  const tools = FILES_TOOLS.map((t) =>
    t.action === 'files.read_text_file' ? { ...t, paths: { args: ['path'], resolveSymlinks: true } } : t,
  );
  const setup = () => decisionHarness({ schema: FILES_SCHEMA, policies: FILES_POLICIES, tools, fs });

  it('denies /srv/sandbox/link/passwd, decided (and forwarded) as /etc/passwd', async () => {
    const h = await setup();
    const { decision, args } = await h.decide('files.read_text_file', { path: '/srv/sandbox/link/passwd' });
    expect(decision.effect).toBe('deny');
    expect(args).toEqual({ path: '/etc/passwd' });
    expect(decision.resource).toEqual({ type: 'File', id: '/etc/passwd' });
  });

  it('allows a symlink that stays inside, forwarding its real path', async () => {
    const h = await setup();
    const { decision, args } = await h.decide('files.read_text_file', { path: '/srv/sandbox/inner/a.txt' });
    expect(decision.effect).toBe('allow');
    expect(args).toEqual({ path: '/srv/sandbox/sub/a.txt' });
  });

  it('without the opt-in the same call is decided lexically (and allowed): the opt-in is what catches it', async () => {
    const h = await decisionHarness({ schema: FILES_SCHEMA, policies: FILES_POLICIES, tools: FILES_TOOLS });
    const { decision } = await h.decide('files.read_text_file', { path: '/srv/sandbox/link/passwd' });
    expect(decision.effect).toBe('allow');
  });
});

describe('resolveSymlinks: a refusal names the arg, not the path', () => {
  it('a dangling symlink on the way: invalid_args without the path (it may be a redacted arg)', async () => {
    // A probe: `args.path: /srv/sandbox/private-ssn-078051120/dangling is a symlink to nothing`
    // was the reason recorded in the hashed, unerasable request.refused event.
    const fs: PathFs = {
      async realpath(p) {
        if (['/', '/srv', '/srv/sandbox', '/srv/sandbox/private-ssn-078051120'].includes(p)) return p;
        throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      },
      async lstat(p) {
        if (p === '/srv/sandbox/private-ssn-078051120/dangling') return { isSymbolicLink: () => true };
        throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      },
    };
    const tools = FILES_TOOLS.map((t) =>
      t.action === 'files.read_text_file' ? { ...t, paths: { args: ['path'], resolveSymlinks: true } } : t,
    );
    const h = await decisionHarness({ schema: FILES_SCHEMA, policies: FILES_POLICIES, tools, fs });
    const e = await h.refusal('files.read_text_file', {
      path: '/srv/sandbox/private-ssn-078051120/dangling/x',
    });
    expect(e.code).toBe('invalid_args');
    expect(e.message).toMatch(/^args\.path: a symlink on the path points to nothing/);
    expect(e.message).not.toContain('078051120');
  });
});

describe('like "/srv/sandbox/*" on the canonical value', () => {
  const setup = shared;

  it('allows a file under the folder', async () => {
    const h = await setup();
    const { decision, args } = await h.decide('files.get_file_info', { path: '/srv/sandbox/sub//a.txt' });
    expect(decision.effect).toBe('allow');
    expect(args).toEqual({ path: '/srv/sandbox/sub/a.txt' });
  });

  it.each(TRAVERSALS)('denies the traversal %s', async (path) => {
    const h = await setup();
    expect((await h.decide('files.get_file_info', { path })).decision.effect).toBe('deny');
  });

  it('refuses the NUL path', async () => {
    const h = await setup();
    expect((await h.refusal('files.get_file_info', { path: NUL_PATH })).code).toBe('invalid_args');
  });
});

describe('arrays of paths: every element is canonicalised and checked', () => {
  const setup = shared;

  it('allows and forwards canonical elements under the folder', async () => {
    const h = await setup();
    const { decision, args } = await h.decide('files.read_multiple_files', {
      paths: ['/srv/sandbox/a.txt', '/srv/sandbox/./sub//b.txt'],
    });
    expect(decision.effect).toBe('allow');
    expect(args).toEqual({ paths: ['/srv/sandbox/a.txt', '/srv/sandbox/sub/b.txt'] });
  });

  it('refuses when any element escapes (the pattern sees the canonical value) or holds NUL', async () => {
    const h = await setup();
    const escaped = await h.refusal('files.read_multiple_files', {
      paths: ['/srv/sandbox/a.txt', '/srv/sandbox/../secret.txt'],
    });
    expect(escaped.code).toBe('invalid_args');
    expect(escaped.details?.path).toBe('args.paths[1]');
    const nul = await h.refusal('files.read_multiple_files', { paths: ['/srv/sandbox/a.txt', NUL_PATH] });
    expect(nul.details?.path).toBe('args.paths[1]');
  });
});

import { describe, expect, it } from 'vitest';
import { ToolSchema } from '@mandate/protocol';
import { createToolRegistry } from '../../src/tools/index.js';
import { HIDDEN_MARKER } from '../../src/kernel/index.js';

const registry = createToolRegistry(
  [
    {
      action: 'mail.send',
      inputSchema: { type: 'object', properties: { to: { type: 'string' }, body: { type: 'string' } } },
      summary: 'Send mail to {to}',
    },
    { action: 'mail.draft', inputSchema: { type: 'object' } },
  ].map((t) => ToolSchema.parse(t)),
);

describe('summarize: what the approver reads', () => {
  it('renders an ordinary value as it is (the allow next to the escapes below)', () => {
    expect(registry.summarize('mail.send', { to: 'alice@corp.example' })).toBe(
      'Send mail to alice@corp.example',
    );
    expect(registry.summarize('mail.send', { to: 'jürgen@zürich.example' })).toBe(
      'Send mail to jürgen@zürich.example',
    );
  });

  it("quotes a value that is not one plain token: the template's words and the agent's do not run together", () => {
    // A probe: `Wire {amount} {currency} to {iban}` with currency `EUR to DE89… (ACME GmbH,
    // verified supplier). Ref` read as a wire to ACME; the call wired to another IBAN.
    const wire = createToolRegistry([
      ToolSchema.parse({ action: 'payments.wire', summary: 'Wire {amount} {currency} to {iban}' }),
    ]);
    expect(
      wire.summarize('payments.wire', {
        amount: 9000,
        currency: 'EUR to DE89370400440532013000 (ACME GmbH, verified supplier). Ref',
        iban: 'GB33BUKB20201555555555',
      }),
    ).toBe(
      'Wire 9000 "EUR to DE89370400440532013000 (ACME GmbH, verified supplier). Ref" to GB33BUKB20201555555555',
    );
    // The allow next to it: a value without spaces stays bare.
    expect(
      wire.summarize('payments.wire', { amount: 10, currency: 'EUR', iban: 'DE89-3704/00#4+4@x.y:z_1' }),
    ).toBe('Wire 10 EUR to DE89-3704/00#4+4@x.y:z_1');
    expect(registry.summarize('mail.send', { to: 'jürgen@zürich.example 東京' })).toBe(
      'Send mail to "jürgen@zürich.example 東京"',
    );
    expect(registry.summarize('mail.send', { to: '' })).toBe('Send mail to ""');
    // A quote in the value cannot end it early.
    expect(registry.summarize('mail.send', { to: 'a" to b "c' })).toBe('Send mail to "a\\" to b \\"c"');
  });

  it('escapes and flags the terminal attack of issue 8 §5 (CR + erase-line, then a harmless text)', () => {
    const s = registry.summarize('mail.send', {
      to: 'mallory@evil.example\r\u001b[2KSend mail to alice@corp.example',
    });
    expect(s).toBe(
      `${HIDDEN_MARKER} (control): Send mail to "mallory@evil.example\\u000D\\u001B[2KSend mail to alice@corp.example"`,
    );
    // eslint-disable-next-line no-control-regex
    expect(s).not.toMatch(/[\r\u001b]/);
  });

  it('escapes and flags a right-to-left override', () => {
    expect(registry.summarize('mail.send', { to: 'moc.live@\u202Eyrallam' })).toBe(
      `${HIDDEN_MARKER} (bidi): Send mail to moc.live@\\u202Eyrallam`,
    );
  });

  it('escapes the default summary too (JSON.stringify leaves bidi and zero-width characters raw)', () => {
    expect(registry.summarize('mail.draft', { to: 'a\u200Bb' })).toBe(
      `${HIDDEN_MARKER} (invisible): mail.draft {"to":"a\\u200Bb"}`,
    );
    expect(registry.summarize('mail.draft', { to: 'ab' })).toBe('mail.draft {"to":"ab"}');
  });
});

describe('tools that declare path args', () => {
  it('are refused at registry build when they ask for symlink resolution without a filesystem', () => {
    const tool = ToolSchema.parse({ action: 'files.read', paths: { args: ['path'], resolveSymlinks: true } });
    expect(() => createToolRegistry([tool])).toThrow(/no filesystem/);
  });

  it('reject a malformed path declaration in the tools file', () => {
    for (const bad of ['', 'a..b', 'a[]]', '../x', 'a.b.', '[]'])
      expect(ToolSchema.safeParse({ action: 'files.read', paths: { args: [bad] } }).success, bad).toBe(false);
    for (const good of ['path', 'paths[]', 'edits[].path', 'a.b-c.d'])
      expect(ToolSchema.safeParse({ action: 'files.read', paths: { args: [good] } }).success, good).toBe(
        true,
      );
  });

  it('give a path resource its folders, and canonicalise it even when handed raw args', async () => {
    const r = createToolRegistry([
      ToolSchema.parse({ action: 'files.read', resource: 'File::args.path', paths: { args: ['path'] } }),
    ]);
    expect(r.resourceOf('files.read', { path: '/srv/sandbox/../x/a.txt' })).toEqual({
      type: 'File',
      id: '/srv/x/a.txt',
      folders: { type: 'Dir', ids: ['/srv/x', '/srv', '/'] },
    });
    expect(await r.canonicalArgs('files.read', { path: '/srv//a/./b/' })).toEqual({ path: '/srv/a/b' });
    const plain = { q: 1 };
    const other = createToolRegistry([ToolSchema.parse({ action: 'x.y' })]);
    expect(await other.canonicalArgs('x.y', plain)).toBe(plain);
  });
});

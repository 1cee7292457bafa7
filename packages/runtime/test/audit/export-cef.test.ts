// CEF lines an agent cannot forge: every character a consumer might split a line on, or that hides
// text, is escaped in header and extension values; and a refusal on a route other than the
// decision path still says who was refused.
import { createServer, type AddressInfo } from 'node:net';
import type { AuditEvent } from '@mandate/protocol';
import { describe, expect, it } from 'vitest';
import { sealEvents } from '../../src/audit/chain.js';
import { cefExtension, cefHeader, exportAudit } from '../../src/audit/export.js';
import { createSyslogSink } from '../../src/sinks/syslog.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { decisionEvent } from './helpers.js';

async function cefOf(events: AuditEvent[]): Promise<string[]> {
  const store = createMemoryStore();
  await store.appendAudit(events, sealEvents);
  let text = '';
  await exportAudit(store, { format: 'cef', write: (c) => void (text += c) });
  return text.split('\n').slice(0, -1);
}

/** Anything a line splitter (ASCII, Unicode-aware, or JavaScript's) could end a line on. */
// eslint-disable-next-line no-control-regex
const LINE_BREAKING = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/u;

describe('CEF escaping', () => {
  it('an agent-controlled value with U+2028, U+2029, U+0085, NUL, VT, FF cannot start a second CEF line', async () => {
    const forged = 'CEF:0|Mandate|Mandate|0.1|decision|decision allow|2|suser=admin';
    for (const sep of ['\u2028', '\u2029', '\u0085', '\u0000', '\u000B', '\u000C', '\u001E', '\u009B']) {
      const lines = await cefOf([
        decisionEvent(1, { user: `nobody${sep}${forged}`, agent: `agent${sep}x`, action: `a${sep}b` }),
      ]);
      expect(lines).toHaveLength(1);
      expect(lines[0]).not.toMatch(LINE_BREAKING);
      const hex = sep.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      // A literal backslash (escaped, as CEF wants) then uXXXX: every CEF parser reads the same text.
      expect(lines[0]).toContain(`duser=nobody\\\\u${hex}CEF:0|Mandate|`);
      expect(lines[0]).toContain(`suser=agent\\\\u${hex}x`);
    }
  });

  it('escapes every C0/C1 control, DEL, line/paragraph separator, bidi control and lone surrogate; leaves other text alone', () => {
    const unsafe: number[] = [];
    for (let cp = 0; cp <= 0x9f; cp++) if (cp < 0x20 || cp >= 0x7f) unsafe.push(cp);
    unsafe.push(0x2028, 0x2029, 0x202a, 0x202e, 0x2066, 0x2069, 0xd800, 0xdfff);
    for (const cp of unsafe) {
      const s = `a${String.fromCharCode(cp)}b`;
      expect(cefExtension(s)).not.toMatch(LINE_BREAKING);
      expect(cefHeader(s)).not.toMatch(LINE_BREAKING);
      expect(cefExtension(s)).not.toMatch(/[\u202A-\u202E\u2066-\u2069]|\p{Cs}/u);
    }
    expect(cefExtension('x\u2028y')).toBe('x\\\\u2028y');
    expect(cefHeader('x\u2028y|z')).toBe('x\\\\u2028y\\|z');
    expect(cefExtension('\u0000')).toBe('\\\\u0000');
    expect(cefExtension('tab\there')).toBe('tab\\\\u0009here');
    // The CEF escapes themselves are unchanged.
    expect(cefExtension('a=b\\c\r\nd|e')).toBe('a\\=b\\\\c\\r\\nd|e');
    expect(cefHeader('a|b\\c\nd\r\ne')).toBe('a\\|b\\\\c d e');
    // Ordinary text in any script, emoji (a valid surrogate pair) included, is left as it is.
    expect(cefExtension('Zürich 東京 👨‍👩‍👧 café')).toBe('Zürich 東京 👨‍👩‍👧 café');
  });
});

describe('CEF: who was refused', () => {
  const refused = (route: string, caller: Record<string, unknown>, over: Partial<AuditEvent> = {}) => ({
    type: 'request.refused' as const,
    time: '2026-01-05T10:00:00.000Z',
    nodeId: 'n',
    data: { code: 'forbidden', reason: 'not allowed', route, caller },
    ...over,
  });

  it('a refusal on a non-decision route names the caller: subject as suser, key id, role, code and route', async () => {
    const [line] = await cefOf([
      refused('POST /v1/approvals/:id/approve', { role: 'approver', subject: 'user:bob', keyId: 'key_1' }),
    ]);
    expect(line).toMatch(
      /^CEF:0\|Mandate\|Mandate\|0\.1\|request\.refused\|request\.refused\|3\|rt=1767607200000 suser=user:bob suid=key_1 spriv=approver reason=forbidden cs2Label=hash cs2=[0-9a-f]{64} cs4Label=route cs4=POST \/v1\/approvals\/:id\/approve$/,
    );
  });

  it('a caller with no subject (an admin key) is still named by its key id; the decision path keeps the agent', async () => {
    const [admin, decision] = await cefOf([
      refused('MCP /mcp', { role: 'admin', subject: null, keyId: 'key_admin' }),
      refused(
        'decision',
        { role: 'agent', subject: 'support-bot', keyId: 'key_2' },
        { agent: 'support-bot', action: 'payments.refund', decisionId: 'dec_9' },
      ),
    ]);
    expect(admin).toContain('|3|rt=1767607200000 suid=key_admin spriv=admin reason=forbidden cs2Label=hash');
    expect(admin).not.toContain('suser=');
    expect(decision).toContain(
      'suser=support-bot suid=key_2 spriv=agent act=payments.refund reason=forbidden',
    );
    expect(decision).toContain('cs1Label=decisionId cs1=dec_9');
  });

  it("a decision's caller key id is named too (suid)", async () => {
    const [line] = await cefOf([decisionEvent(1, { data: { caller: 'key_7' } })]);
    expect(line).toContain('suser=agent:support suid=key_7 duser=user:alice');
  });

  it('the syslog sink sends the same escaped CEF', async () => {
    let got = '';
    const server = createServer((sock) => sock.setEncoding('utf8').on('data', (d: string) => (got += d)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const store = createMemoryStore();
    await store.appendAudit([decisionEvent(1, { user: 'nobody\u2028CEF:0|Mandate|x' })], sealEvents);
    const sink = createSyslogSink({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      tls: false,
      relp: false,
      facility: 13,
      appName: 'mandate',
      timeoutMs: 2000,
    });
    try {
      await sink.deliver(await store.readAudit(0, 1));
    } finally {
      await sink.close();
      server.close();
    }
    expect(got).toContain('duser=nobody\\\\u2028CEF:0|Mandate|x');
    expect(got).not.toMatch(/\u2028/);
  });
});

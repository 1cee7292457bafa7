// Regressions for bugs the integration suite found in src/ (each failed before its fix).
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { parseJsonStrict } from '../../src/kernel/index.js';
import { createTestMandate, disposeAll, examplePolicySource } from '../fixtures/mandate.js';
import { KEYS, client, expectError, refund } from '../fixtures/http.js';

afterAll(disposeAll);

describe('BUG 1 (secrets): the approval summary is rendered from the raw args and persisted unredacted', () => {
  // src/decisions/service.ts, `summary: tools.summarize(req.action, args)` in evaluate(): the summary
  // template is filled from the raw args, then stored in the approval (approvals.summary) and in the
  // hashed `approval.requested` audit event (data.summary). A secret in an arg the template names —
  // here a bearer token in a memo — lands in the hash chain, where it can never be erased without
  // breaking verification, while the same arg is correctly `[REDACTED:secret]` in approval.args.
  // Fix: render the summary from the redacted args: `summary: tools.summarize(req.action, redactedArgs)`
  // with `const redactedArgs = deps.redact(args, tool.redact)` computed once and reused for
  // `redactedArgs` (and ideally run `looksLikeSecret` over the rendered summary as a last guard).
  it('keeps a secret-shaped value named by the summary template out of the approval and the audit', async () => {
    const TOKEN = 'abcDEF0123456789xyzTOKEN';
    const t = await createTestMandate({
      store: 'sqlite',
      tools: (doc) => {
        const r = doc.tools.find((x) => x.action === 'payments.refund')!;
        (r.inputSchema as { properties: Record<string, unknown> }).properties.memo = { type: 'string' };
        r.summary = 'Refund {amount} to customer {customerId} ({memo})';
      },
    });
    const api = client(t.url);
    const src = examplePolicySource();
    src.schema = src.schema.replace(
      'args: { customerId: String, amount: Long }',
      'args: { customerId: String, amount: Long, memo?: String }',
    );
    expect((await api.put('/v1/policies', KEYS.admin, src)).status).toBe(200);
    const d = (
      await api.decide(KEYS.supportBot, {
        ...refund(900),
        args: { customerId: 'c-42', amount: 900, memo: `auth Bearer ${TOKEN}` },
      })
    ).body;
    expect(d.effect).toBe('approval_required');
    const a = (await api.get(`/v1/approvals/${d.approval!.id}`, KEYS.admin)).body;
    expect(a.args.memo).toBe('auth [REDACTED:secret]'); // only the secret-shaped piece goes (probe f1)
    expect(a.summary).not.toContain(TOKEN); // fails today
    const db = new Database(t.dbFile!, { readonly: true });
    try {
      const rows = db.prepare(`SELECT seq, type FROM audit_events WHERE event_text LIKE ?`).all(`%${TOKEN}%`);
      expect(rows).toEqual([]); // fails today: [{ type: 'approval.requested' }]
    } finally {
      db.close();
    }
  });
});

describe('BUG 2 (input that means two things): lone surrogate escapes are accepted', () => {
  // src/kernel/json.ts, Parser.string(): `JSON.parse` of the escaped slice accepts "\ud800", a lone
  // surrogate. RFC 8785 requires I-JSON input (RFC 7493 §2.1: no surrogate code points), and such a
  // string has no UTF-8 form: a downstream tool that re-encodes it gets U+FFFD, so what was decided
  // on is not what runs. Today `POST /v1/decisions` with `"intent":"\ud800"` (or such an arg value)
  // is decided and recorded. Raw bytes of a surrogate are already rejected by decodeUtf8Strict.
  // Fix: after decoding an escaped string (and for keys), reject it when `!str.isWellFormed()`
  // (Node 20 has String.prototype.isWellFormed) with `invalid_json` ("lone surrogate in string").
  it('rejects "\\ud800" and "\\udc00" in values and keys', () => {
    for (const text of ['"\\ud800"', '"a\\udc00b"', '{"\\ud83d":1}', '["\\ude00\\ud83d"]']) {
      expect(() => parseJsonStrict(text), text).toThrow(expect.objectContaining({ code: 'invalid_json' }));
    }
    // A proper pair stays fine.
    expect(parseJsonStrict('"\\ud83d\\ude00"')).toBe('😀');
  });

  it('answers 400 over HTTP instead of deciding on it', async () => {
    const t = await createTestMandate({ store: 'memory' });
    const api = client(t.url);
    const raw =
      '{"agent":"support-bot","onBehalfOf":"alice","action":"crm.read_customer","args":{"customerId":"c-42"},"intent":"\\ud800"}';
    expectError(
      await api.request('POST', '/v1/decisions', { key: KEYS.supportBot, raw }),
      400,
      'invalid_json',
    );
  });
});

describe('BUG 3 (P7): malformed input in URLs and query strings gives 500 internal', () => {
  // src/http/server.ts, dispatch(): `decodeURIComponent(m[i + 1]!)` throws URIError for `%ZZ`,
  // which sendError maps to 500 internal (and logs as a server failure).
  // Fix: try { decodeURIComponent(...) } catch { throw new MandateError('bad_request', 'invalid percent-encoding in the path') }.
  //
  // src/http/routes/approvals.ts, GET /v1/approvals: `limit: Number(ctx.url.searchParams.get('limit') ?? 100)`
  // passes NaN to the store (SQLite: 500 "database error"), and negative or huge limits unchecked.
  // Fix: parse like GET /v1/audit does: `Math.min(Math.max(Number(q) || 100, 1), 1000)`, or 400 for a non-integer.
  //
  // src/http/routes/grants.ts, POST /v1/grants: `new Date(deps.clock.now() + parseDuration(b.expiresIn)).toISOString()` (parseDuration now in src/kernel/duration.ts)
  // throws RangeError for `expiresIn: "99999999999y"` → 500. Fix: bound durations in parseDuration
  // (e.g. at most 100y, else bad_request) and check `Number.isFinite` before toISOString.
  it('answers 400, not 500', async () => {
    const t = await createTestMandate({ store: 'sqlite' });
    const api = client(t.url);
    expectError(await api.get('/v1/decisions/%ZZ', KEYS.admin), 400, 'bad_request');
    expectError(await api.get('/v1/approvals?limit=abc', KEYS.admin), 400, 'bad_request');
    expectError(
      await api.post('/v1/grants', KEYS.admin, {
        user: 'dave',
        agent: 'support-bot',
        actions: ['crm.*'],
        expiresIn: '99999999999y',
      }),
      400,
      'bad_request',
    );
  });
});

describe('BUG 4 (shutdown): close() waits for in-flight requests and then for keep-alive to time out', () => {
  // src/app/mandate.ts, close(): `s.close(cb); s.closeIdleConnections()` only closes connections that
  // are idle at that instant. A connection with a request in flight — a long-poll
  // `GET /v1/approvals/:id?wait=…` holds one for up to 60 s — stays open, and once its response is sent
  // it idles on keep-alive until keepAliveTimeout (65 s) before server.close() calls back. Measured:
  // close() took ~83 s with one 20 s long-poll open, so `mandate serve` ignores SIGTERM for over a
  // minute (orchestrators then SIGKILL it, skipping the final audit checkpoint).
  // Fix: on close, mark the server closing (respond with `connection: close` from then on), abort every
  // approvals.wait through one AbortController owned by the HTTP server (pass its signal into wait),
  // call closeIdleConnections() again as each in-flight response finishes, and after a short grace
  // period call server.closeAllConnections().
  it('closes promptly with a long-poll open, answering the poll', async () => {
    const t = await createTestMandate({ store: 'sqlite' });
    const api = client(t.url);
    const d = (await api.decide(KEYS.supportBot, refund(900))).body;
    const poll = api.get(`/v1/approvals/${d.approval!.id}?wait=20s`, KEYS.supportBot).then(
      (r) => r.status,
      () => 'connection closed',
    );
    await new Promise((r) => setTimeout(r, 200));
    const closed = await Promise.race([
      t.close().then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still closing after 5 s'), 5000)),
    ]);
    expect(closed).toBe('closed');
    expect(await poll).toBeDefined();
  });
});

describe('overload (P3)', () => {
  afterAll(disposeAll);

  it('sheds an API request past server.maxInFlight with 503 overloaded while a long poll holds the slot, then serves again', async () => {
    const t = await createTestMandate({
      store: 'memory',
      config: (raw) => {
        raw.server = { ...raw.server, maxInFlight: 1 };
      },
    });
    const api = client(t.url);
    const d = (await api.decide(KEYS.supportBot, refund(900))).body as { approval: { id: string } };
    const waiting = api.get(`/v1/approvals/${d.approval.id}?wait=2s`, KEYS.supportBot);
    await new Promise((r) => setTimeout(r, 300));
    expectError(await api.decide(KEYS.supportBot, refund(120)), 503, 'overloaded');
    expect((await waiting).status).toBe(200);
    expect((await api.decide(KEYS.supportBot, refund(120))).status).toBe(200);
  });
});

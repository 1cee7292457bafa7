import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookNotifier } from '../../src/notify/index.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createMandate } from '../../src/app/index.js';
import { HIDDEN_MARKER } from '../../src/kernel/index.js';
import { createTestMandate, disposeAll, examplePolicySource } from '../fixtures/mandate.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

async function receiver(statuses: number[]) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await disposeAll();
});

const SECRET = 'webhook-secret-0123456789';
const signatureOf = (r: Received) =>
  'sha256=' +
  createHmac('sha256', SECRET).update(`${r.headers['x-mandate-timestamp']}.${r.body}`).digest('hex');

describe('approval webhook', () => {
  it('signs the body with HMAC and retries with backoff until the receiver accepts', async () => {
    const rx = await receiver([500, 503, 200]);
    closers.push(rx.close);
    const n = createWebhookNotifier(
      { url: rx.url, secret: SECRET, maxAttempts: 5, backoffMs: 10, timeoutMs: 2000 },
      { clock: systemClock, logger: silentLogger },
    );
    n.send('approval.requested', { id: 'apr_1' });
    await n.drain();
    expect(rx.received).toHaveLength(3);
    for (const r of rx.received) {
      expect(r.headers['x-mandate-signature']).toBe(signatureOf(r));
      expect(r.headers['x-mandate-event']).toBe('approval.requested');
      expect(JSON.parse(r.body).data).toEqual({ id: 'apr_1' });
    }
    // A tampered body would not verify.
    const forged = { ...rx.received[0]!, body: rx.received[0]!.body.replace('apr_1', 'apr_2') };
    expect(forged.headers['x-mandate-signature']).not.toBe(signatureOf(forged));
  });

  it('gives up after maxAttempts without throwing', async () => {
    const rx = await receiver([500, 500, 500, 500]);
    closers.push(rx.close);
    const n = createWebhookNotifier(
      { url: rx.url, secret: SECRET, maxAttempts: 2, backoffMs: 10, timeoutMs: 2000 },
      { clock: systemClock, logger: silentLogger },
    );
    n.send('approval.resolved', { id: 'apr_1' });
    await n.drain();
    expect(rx.received).toHaveLength(2);
  });

  it('fires when an approval is created and when it is resolved, with the real summary', async () => {
    const rx = await receiver([]);
    closers.push(rx.close);
    const loaded = loadConfig({ store: 'memory', logLevel: 'silent' }, {}, process.cwd());
    loaded.config.approvals.webhook = {
      url: rx.url,
      secret: SECRET,
      maxAttempts: 3,
      backoffMs: 10,
      timeoutMs: 2000,
    };
    const m = await createMandate(loaded, { logger: silentLogger });
    try {
      const caller = { role: 'agent' as const, subject: 'support-bot', keyId: 'k' };
      const request = {
        agent: 'support-bot',
        onBehalfOf: 'alice',
        action: 'payments.refund',
        args: { customerId: 'c-42', amount: 900 },
      };
      const { decision } = await m.decisions.decide(request, caller);
      expect(decision.effect).toBe('approval_required');
      await m.approvals.vote(
        decision.approval!.id,
        { id: 'frank', roles: ['finance-manager'] },
        'approve',
        null,
        null,
      );
      await new Promise((r) => setTimeout(r, 200));
      const events = rx.received.map(
        (r) => JSON.parse(r.body) as { type: string; data: { id: string; summary: string; status: string } },
      );
      expect(events.map((e) => e.type)).toEqual(['approval.requested', 'approval.resolved']);
      expect(events[0]!.data.summary).toBe('Refund 900 to customer c-42');
      expect(events[1]!.data.status).toBe('approved');
    } finally {
      await m.close();
    }
  });
});

describe('webhook redirects (approvals, checkpoint mirror)', () => {
  /** A receiver answering every request `status` with `location`; another server it points to. */
  async function redirecting(status: number) {
    const elsewhere = await receiver([]);
    closers.push(elsewhere.close);
    const received: Received[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(status, { location: `${elsewhere.url}?token=secret` }).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, elsewhere };
  }

  for (const status of [302, 307, 308]) {
    it(`a ${status} is not a delivery and is not followed: retried, then given up; the Location host gets nothing`, async () => {
      const rx = await redirecting(status);
      const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
      const errors: string[] = [];
      const logger = {
        ...silentLogger,
        warn: (msg: string, fields?: Record<string, unknown>) => warnings.push({ msg, fields }),
        error: (msg: string) => errors.push(msg),
      };
      const n = createWebhookNotifier(
        { url: rx.url, secret: SECRET, maxAttempts: 3, backoffMs: 10, timeoutMs: 2000 },
        { clock: systemClock, logger },
      );
      n.send('audit.checkpoint', { seq: 7, hash: 'abc' });
      await n.drain();
      expect(rx.received).toHaveLength(3);
      // SECURITY: the signed event never went to the host Location names (nor as a GET).
      expect(rx.elsewhere.received).toEqual([]);
      expect(errors).toEqual(['webhook gave up']);
      expect(warnings[0]).toEqual({
        msg: 'webhook answered a redirect; redirects are not followed: configure the URL it points to',
        fields: {
          type: 'audit.checkpoint',
          status,
          location: new URL(rx.elsewhere.url).origin,
          attempt: 1,
        },
      });
    });
  }
});

describe('approval webhook: what a person is shown (issue 8 §5)', () => {
  it('carries an escaped, flagged display beside the raw values; an ordinary approval is flagged as nothing', async () => {
    const rx = await receiver([]);
    closers.push(rx.close);
    const t = await createTestMandate({
      store: 'memory',
      listen: false,
      config: (c) => {
        delete c.gateway;
        c.approvals = {
          ...c.approvals,
          webhook: { url: rx.url, secret: SECRET, maxAttempts: 1, backoffMs: 10, timeoutMs: 2000 },
        };
      },
      tools: (doc) => {
        const r = doc.tools.find((x) => x.action === 'payments.refund')!;
        (r.inputSchema as { properties: Record<string, unknown> }).properties.memo = { type: 'string' };
        r.summary = 'Refund {amount} to customer {customerId}: {memo}';
      },
    });
    const src = examplePolicySource();
    src.schema = src.schema.replace(
      'args: { customerId: String, amount: Long }',
      'args: { customerId: String, amount: Long, memo?: String }',
    );
    await t.m.policies.activate(src, 'test');
    const caller = { role: 'agent' as const, subject: 'support-bot', keyId: 'k' };
    const ask = (memo: string) =>
      t.m.decisions.decide(
        {
          agent: 'support-bot',
          onBehalfOf: 'alice',
          action: 'payments.refund',
          args: { customerId: 'c-42', amount: 900, memo },
        },
        caller,
      );
    const hostile = 'ok\r\u001b[2KRefund 10 to customer c-42: \u202Egnitset';
    expect((await ask('customer called')).decision.effect).toBe('approval_required');
    expect((await ask(hostile)).decision.effect).toBe('approval_required');
    for (let i = 0; i < 500 && rx.received.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    type Data = {
      summary: string;
      args: { memo: string };
      display: { hidden: string[]; summary: string; args: string; agent: string };
    };
    const [plain, evil] = rx.received.map((r) => (JSON.parse(r.body) as { data: Data }).data);
    expect(plain!.display).toMatchObject({
      hidden: [],
      summary: 'Refund 900 to customer c-42: "customer called"',
      agent: 'support-bot',
    });
    // The raw value stays what it is, for machines; the display is what a person may read.
    expect(evil!.args.memo).toBe(hostile);
    expect(evil!.display.hidden).toEqual(['control', 'bidi']);
    expect(evil!.display.summary.startsWith(HIDDEN_MARKER)).toBe(true);
    expect(evil!.display.summary).toContain('ok\\u000D\\u001B[2KRefund 10');
    expect(evil!.display.args.startsWith(`${HIDDEN_MARKER} (control, bidi): `)).toBe(true);
    // The stored summary itself is rendered escaped and flagged by the tool registry.
    expect(evil!.summary).toBe(evil!.display.summary);
    // eslint-disable-next-line no-control-regex
    expect(JSON.stringify(evil!.display)).not.toMatch(/[\r\u001b\u202E]/);
  });
});

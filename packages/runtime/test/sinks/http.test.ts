// The HTTP sinks (webhook, Splunk HEC, OTLP) against receivers that answer otherwise than 200:
// a redirect is never followed and never counts as a delivery; an OTLP partial success that
// dropped records is not a delivery of them; a receiver's body cap (413) or the sink's own
// `maxRequestBytes` never stops a sink: requests are cut under it, and a record too large alone
// goes as a stand-in the runner logs and counts.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { auditEvent, testSealer } from '../../src/storage/contract/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import type { Store } from '../../src/storage/port.js';
import { createSinkRunner, type SinkRunner, type SinkTransport } from '../../src/sinks/index.js';
import { createHecSink, createOtlpSink, createWebhookSink, hecEndpoint } from '../../src/sinks/http.js';
import type { Logger } from '../../src/kernel/index.js';
import { systemClock } from '../../src/kernel/index.js';
import { until } from './receivers.js';

interface Req {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}
type Reply = { status: number; headers?: Record<string, string>; body?: string };

const servers: Server[] = [];
const runners: SinkRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

/** A receiver answering each request with `reply(req)`; `requests` keeps what it got. */
async function receiver(reply: (req: Req) => Reply) {
  const requests: Req[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const r: Req = { method: req.method!, url: req.url!, headers: req.headers, body };
      requests.push(r);
      const a = reply(r);
      res.writeHead(a.status, a.headers).end(a.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, requests };
}

async function storeWith(events: Parameters<Store['appendAudit']>[0]): Promise<Store> {
  const store = createMemoryStore();
  await store.migrate();
  await store.appendAudit(events, testSealer);
  return store;
}

const events = (n: number, big: Record<number, number> = {}) =>
  Array.from({ length: n }, (_, i) =>
    auditEvent(i + 1, big[i + 1] ? { data: { blob: 'x'.repeat(big[i + 1]!) } } : {}),
  );

/** A logger keeping its warnings. */
function capture() {
  const warnings: { msg: string; fields: Record<string, unknown> }[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (msg, fields = {}) => warnings.push({ msg, fields }),
    error() {},
  };
  return { logger, warnings };
}

function run(store: Store, transport: SinkTransport, logger: Logger, batchSize = 50) {
  const r = createSinkRunner({
    store,
    clock: systemClock,
    logger,
    sinks: [{ name: 'siem', type: 'webhook', batchSize, transport }],
    pollMs: 10,
    maxBackoffMs: 40,
  });
  runners.push(r);
  return r;
}

type Parsed = { seq: number; hash: string; event?: unknown; omitted?: Record<string, unknown> };
const webhookRecords = (reqs: Req[]) =>
  reqs.flatMap((r) => (JSON.parse(r.body) as { records: Parsed[] }).records);

const kinds = ['webhook', 'splunk-hec', 'otlp'] as const;
function sinkOf(kind: (typeof kinds)[number], url: string, maxRequestBytes?: number): SinkTransport {
  const limit = maxRequestBytes ? { maxRequestBytes } : {};
  if (kind === 'webhook')
    return createWebhookSink({
      name: 'siem',
      url,
      secret: 'a-webhook-secret-0123',
      headers: {},
      timeoutMs: 2000,
      ...limit,
    });
  if (kind === 'splunk-hec')
    return createHecSink({ url, token: 'hec-token', sourcetype: 'mandate:audit', timeoutMs: 2000, ...limit });
  return createOtlpSink({ url, headers: {}, serviceName: 'mandate', timeoutMs: 2000, ...limit });
}

describe('HTTP sinks: redirects are failures, never followed', () => {
  for (const kind of kinds) {
    for (const status of [301, 302, 303, 307, 308]) {
      it(`${kind}: a ${status} fails the batch, and the Location host gets nothing`, async () => {
        const elsewhere = await receiver(() => ({ status: 200, body: '{}' }));
        const rx = await receiver(() => ({ status, headers: { location: `${elsewhere.origin}/steal?t=1` } }));
        const store = await storeWith(events(3));
        const sink = sinkOf(kind, `${rx.origin}/in`);
        await expect(sink.deliver(await store.readAudit(0, 10))).rejects.toThrow(
          new RegExp(
            `receiver answered ${status}, a redirect to ${elsewhere.origin}; redirects are not followed`,
          ),
        );
        expect(rx.requests).toHaveLength(1);
        // SECURITY: the batch, its signature or token, never reached the host Location names.
        expect(elsewhere.requests).toEqual([]);
      });
    }
  }

  it('through the runner: the cursor stays, failures count, lastError says why; then the receiver is fixed', async () => {
    let redirect = true;
    const rx = await receiver((req) =>
      redirect
        ? { status: 302, headers: { location: '/elsewhere?token=secret' } }
        : req.url === '/hook'
          ? { status: 200 }
          : { status: 404 },
    );
    const store = await storeWith(events(4));
    const r = run(store, sinkOf('webhook', `${rx.origin}/hook`), capture().logger);
    await until(() => (r.status()[0]?.failures ?? 0) >= 2, 'failures');
    const s = r.status()[0]!;
    expect(s).toMatchObject({ cursor: 0, delivered: 0 });
    expect(s.lastError).toMatch(
      /^delivering: receiver answered 302, a redirect to http:\/\/127\.0\.0\.1:\d+;/,
    );
    expect(s.lastError).not.toContain('token=secret');
    // Nothing went to the redirect target (a followed 302 would have been a GET to it).
    expect(rx.requests.every((q) => q.method === 'POST' && q.url === '/hook')).toBe(true);
    expect(await store.getSinkCursor('siem')).toBeNull();
    redirect = false;
    await until(async () => (await store.getSinkCursor('siem'))?.seq === 4, 'the delivery');
  });
});

describe('Splunk HEC endpoint', () => {
  it('keeps the base path of the URL (a proxy prefix) and its query', () => {
    expect(hecEndpoint('https://gw.example/splunk')).toBe(
      'https://gw.example/splunk/services/collector/event',
    );
    expect(hecEndpoint('https://gw.example/splunk/')).toBe(
      'https://gw.example/splunk/services/collector/event',
    );
    expect(hecEndpoint('https://splunk:8088')).toBe('https://splunk:8088/services/collector/event');
    expect(hecEndpoint('https://splunk:8088/services/collector')).toBe(
      'https://splunk:8088/services/collector/event',
    );
    expect(hecEndpoint('https://splunk:8088/services/collector/event')).toBe(
      'https://splunk:8088/services/collector/event',
    );
    expect(hecEndpoint('https://gw.example/splunk?channel=abc')).toBe(
      'https://gw.example/splunk/services/collector/event?channel=abc',
    );
  });

  it('posts under the prefix', async () => {
    const rx = await receiver((req) => ({
      status: req.url === '/splunk/services/collector/event' ? 200 : 404,
    }));
    const store = await storeWith(events(2));
    await sinkOf('splunk-hec', `${rx.origin}/splunk`).deliver(await store.readAudit(0, 10));
    expect(rx.requests.map((q) => q.url)).toEqual(['/splunk/services/collector/event']);
  });
});

/** The seqs of the log records of an OTLP body, with their stand-in reason if any. */
function otlpRecords(body: string): Parsed[] {
  const doc = JSON.parse(body) as {
    resourceLogs: { scopeLogs: { logRecords: { body: { stringValue: string } }[] }[] }[];
  };
  return doc.resourceLogs.flatMap((rl) =>
    rl.scopeLogs.flatMap((sl) => sl.logRecords.map((lr) => JSON.parse(lr.body.stringValue) as Parsed)),
  );
}

describe('OTLP partial success', () => {
  it('a record the collector drops is not delivered: it is isolated and sent as a stand-in, the rest in full', async () => {
    // The collector drops seq 5 whenever it comes in full (say, a field it refuses), takes the rest.
    const rx = await receiver((req) => {
      const dropped = otlpRecords(req.body).filter((r) => r.seq === 5 && r.event).length;
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          dropped
            ? { partialSuccess: { rejectedLogRecords: String(dropped), errorMessage: 'attribute too long' } }
            : {},
        ),
      };
    });
    const store = await storeWith(events(8));
    const report = await sinkOf('otlp', `${rx.origin}/v1/logs`).deliver(await store.readAudit(0, 10));
    expect(report?.omitted).toEqual([
      expect.objectContaining({ seq: 5, reason: 'rejected', message: 'attribute too long' }),
    ]);
    // Every record the collector kept: each in full, but 5 as a stand-in.
    const kept = new Map<number, Parsed>();
    for (const q of rx.requests) {
      const recs = otlpRecords(q.body);
      if (recs.some((r) => r.seq === 5 && r.event)) continue; // the answer dropped it
      for (const r of recs) kept.set(r.seq, r);
    }
    expect([...kept.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(kept.get(5)).toMatchObject({
      seq: 5,
      omitted: { reason: 'rejected', type: 'decision', agent: 'agent-a', message: 'attribute too long' },
    });
    expect(kept.get(5)!.event).toBeUndefined();
    expect(kept.get(4)!.event).toBeDefined();
  });

  it('a collector that drops everything, stand-ins too, fails the batch: the cursor stays', async () => {
    const rx = await receiver((req) => ({
      status: 200,
      body: JSON.stringify({
        partialSuccess: { rejectedLogRecords: otlpRecords(req.body).length, errorMessage: 'quota exceeded' },
      }),
    }));
    const store = await storeWith(events(3));
    const r = run(store, sinkOf('otlp', `${rx.origin}/v1/logs`), capture().logger);
    await until(() => (r.status()[0]?.failures ?? 0) >= 2, 'failures');
    expect(r.status()[0]).toMatchObject({ cursor: 0, delivered: 0 });
    expect(r.status()[0]!.lastError).toMatch(
      /receiver refused the stand-in of record #1: it rejected it \(partial success: quota exceeded\)/,
    );
    expect(await store.getSinkCursor('siem')).toBeNull();
  });

  it('a partial success rejecting nothing is a delivery; its message is logged', async () => {
    const rx = await receiver(() => ({
      status: 200,
      body: JSON.stringify({ partialSuccess: { rejectedLogRecords: 0, errorMessage: 'deprecated field' } }),
    }));
    const store = await storeWith(events(3));
    const log = capture();
    run(store, sinkOf('otlp', `${rx.origin}/v1/logs`), log.logger);
    await until(async () => (await store.getSinkCursor('siem'))?.seq === 3, 'the delivery');
    expect(log.warnings).toContainEqual({
      msg: 'audit sink receiver warned',
      fields: { sink: 'siem', warning: 'receiver warned: deprecated field', times: 1 },
    });
  });
});

describe('HTTP sinks: a record too large never stops the sink', () => {
  for (const kind of kinds) {
    it(`${kind}: a receiver capping bodies (413) gets every record, the one over its cap as a stand-in`, async () => {
      const CAP = 64 * 1024;
      const rx = await receiver((req) => ({ status: Buffer.byteLength(req.body) > CAP ? 413 : 200 }));
      // seq 4 is 200 KB: over the receiver's cap, under the sink's default 1 MiB.
      const store = await storeWith(events(10, { 4: 200_000 }));
      const log = capture();
      const r = run(store, sinkOf(kind, `${rx.origin}/in`), log.logger);
      await until(async () => (await store.getSinkCursor('siem'))?.seq === 10, 'the whole chain');
      const accepted = rx.requests.filter((q) => Buffer.byteLength(q.body) <= CAP);
      const got = accepted.flatMap((q) =>
        kind === 'webhook'
          ? webhookRecords([q])
          : kind === 'otlp'
            ? otlpRecords(q.body)
            : q.body.split('\n').map((l) => (JSON.parse(l) as { event: Parsed }).event),
      );
      expect(got.map((g) => g.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const four = got[3]!;
      expect(four.event).toBeUndefined();
      expect(four.omitted).toMatchObject({
        reason: 'too_large',
        limit: null,
        type: 'decision',
        time: '2025-01-01T00:00:04.000Z',
        agent: 'agent-a',
        user: 'user-1',
        action: 'payments.refund',
        effect: 'allow',
        decisionId: 'dec_4',
      });
      expect(four.omitted!.bytes).toBeGreaterThan(200_000);
      expect(four.hash).toBe((await store.readAudit(3, 1))[0]!.hash);
      expect(r.status()[0]).toMatchObject({ cursor: 10, omitted: 1, failures: 0 });
      expect(log.warnings).toContainEqual({
        msg: 'audit record sent to the sink as a stand-in; fetch it through the audit API',
        fields: expect.objectContaining({ sink: 'siem', seq: 4, reason: 'too_large', limit: null }),
      });
    });

    it(`${kind}: requests are cut under maxRequestBytes; a record over it goes as a stand-in without being sent`, async () => {
      const LIMIT = 100_000;
      const rx = await receiver(() => ({ status: 200 }));
      // 30 KB records: three fit a request; seq 6 (150 KB) never fits.
      const big: Record<number, number> = {};
      for (let i = 1; i <= 12; i++) big[i] = 30_000;
      big[6] = 150_000;
      const store = await storeWith(events(12, big));
      const report = await sinkOf(kind, `${rx.origin}/in`, LIMIT).deliver(await store.readAudit(0, 20));
      for (const q of rx.requests) expect(Buffer.byteLength(q.body)).toBeLessThanOrEqual(LIMIT);
      expect(rx.requests.length).toBeGreaterThanOrEqual(4);
      expect(report?.omitted).toEqual([
        expect.objectContaining({ seq: 6, reason: 'too_large', limit: LIMIT, message: null }),
      ]);
      expect(report!.omitted[0]!.bytes).toBeGreaterThan(150_000);
    });
  }
});

/**
 * A receiver that answers 200 and streams `total` bytes of body (`json` opens it as a JSON
 * object, so only its end is missing), as fast as the client reads. `written` counts what was
 * handed to the socket, `ended` whether the whole body went out before the client hung up.
 */
async function streamingReceiver(total: number, json = false) {
  const seen = { written: 0, ended: false, closed: false };
  const chunk = Buffer.alloc(64 * 1024, 'a');
  // A JSON object that never ends: `{"x":"aaa…`.
  const first = json ? Buffer.concat([Buffer.from('{"x":"'), chunk]) : chunk;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => (seen.closed = true));
      const pump = () => {
        while (!res.destroyed && seen.written < total) {
          const next = seen.written === 0 ? first : chunk;
          seen.written += next.length;
          if (!res.write(next)) return void res.once('drain', pump);
        }
        if (!res.destroyed) {
          seen.ended = true;
          res.end();
        }
      };
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe("HTTP sinks: a receiver's answer is read up to a bound", () => {
  const MiB = 1024 * 1024;
  for (const kind of ['webhook', 'splunk-hec'] as const) {
    it(`${kind}: a 200 with a 100 MiB body is a delivery; the node stops reading it early and hangs up`, async () => {
      const rx = await streamingReceiver(100 * MiB);
      const store = await storeWith(events(3));
      const url = `${rx.origin}/in`;
      const sink =
        kind === 'webhook'
          ? createWebhookSink({ name: 'siem', url, headers: {}, timeoutMs: 10_000 })
          : createHecSink({ url, token: 'hec-token', sourcetype: 'mandate:audit', timeoutMs: 10_000 });
      await expect(sink.deliver(await store.readAudit(0, 10))).resolves.toBeDefined();
      await until(() => rx.seen.closed, 'the connection closed');
      // The node hung up long before the end (without the bound it read all 100 MiB): what the
      // receiver got into the two kernels' socket buffers is all it wrote.
      expect(rx.seen.ended).toBe(false);
      expect(rx.seen.written).toBeLessThan(32 * MiB);
    });
  }

  it('otlp: a 200 whose answer is cut short fails the batch: a dropped-records partialSuccess may be past the cut', async () => {
    const rx = await streamingReceiver(100 * MiB, true);
    const store = await storeWith(events(3));
    const sink = createOtlpSink({
      url: `${rx.origin}/v1/logs`,
      headers: {},
      serviceName: 'mandate',
      timeoutMs: 10_000,
    });
    await expect(sink.deliver(await store.readAudit(0, 10))).rejects.toThrow(
      /receiver answered 200 with a body over 65536 bytes: cannot tell whether it dropped records/,
    );
    await until(() => rx.seen.closed, 'the connection closed');
    expect(rx.seen.ended).toBe(false);
    expect(rx.seen.written).toBeLessThan(32 * MiB);
  });
});

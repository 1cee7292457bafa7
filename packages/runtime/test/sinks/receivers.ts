// Real receivers for the audit sink tests: HTTP receivers that speak the webhook, Splunk HEC and
// OTLP/HTTP protocols, rsyslog from Debian's packages, and a private NATS server with JetStream
// (its own port and store dir: the machine's shared server is never stopped).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until it holds; fails naming `what` after `tries` polls. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  tries = 500,
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Resolves once something accepts TCP connections on `port` (tries for 10 s). */
async function listening(port: number, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${what} did not start listening`);
}

/** A server process that can be stopped (SIGTERM, waited for) and started again on the same port. */
function restartable(spawnIt: () => ChildProcess, port: number, what: string) {
  let child: ChildProcess | null = null;
  return {
    async start() {
      child = spawnIt();
      await listening(port, what);
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      await exited;
    },
  };
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** What a receiver got: the audit seq of each record, in arrival order (duplicates kept). */
export interface Received {
  seqs: number[];
  hashes: Map<number, string>;
}

export type HttpKind = 'webhook' | 'hec' | 'otlp';

/** Parses one request body of `kind` into records, checking the protocol's shape on the way. */
function parseBody(
  kind: HttpKind,
  body: string,
  headers: Record<string, string | string[] | undefined>,
  secret?: string,
) {
  const out: { seq: number; hash: string }[] = [];
  if (kind === 'webhook') {
    if (secret) {
      const ts = String(headers['x-mandate-timestamp']);
      const want = `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`;
      if (headers['x-mandate-signature'] !== want) throw new Error('bad signature');
    }
    for (const r of (JSON.parse(body) as { records: { seq: number; hash: string }[] }).records) out.push(r);
  } else if (kind === 'hec') {
    if (headers.authorization !== 'Splunk hec-token') throw new Error('bad HEC token');
    // HEC takes concatenated JSON objects; these are newline separated.
    for (const line of body.split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as {
        time: number;
        sourcetype: string;
        event: { seq: number; hash: string };
      };
      if (typeof e.time !== 'number' || e.sourcetype !== 'mandate:audit') throw new Error('bad HEC event');
      out.push(e.event);
    }
  } else {
    const doc = JSON.parse(body) as {
      resourceLogs: {
        scopeLogs: { logRecords: { body: { stringValue: string }; attributes: { key: string }[] }[] }[];
      }[];
    };
    for (const rl of doc.resourceLogs)
      for (const sl of rl.scopeLogs)
        for (const lr of sl.logRecords) {
          if (!lr.attributes.some((a) => a.key === 'mandate.audit.seq')) throw new Error('no seq attribute');
          out.push(JSON.parse(lr.body.stringValue) as { seq: number; hash: string });
        }
  }
  return out;
}

/** An HTTP receiver on a fixed port that can go down (`stop`) and come back (`start`). */
export interface HttpReceiver {
  url: string;
  received: Received;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function httpReceiver(
  kind: HttpKind,
  opts: { secret?: string; failEvery?: number } = {},
): Promise<HttpReceiver> {
  const port = await freePort();
  const received: Received = { seqs: [], hashes: new Map() };
  let server: Server | null = null;
  let n = 0;
  const path = kind === 'hec' ? '/services/collector/event' : kind === 'otlp' ? '/v1/logs' : '/hook';
  const start = async () => {
    const s = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        try {
          if (req.url !== path || req.method !== 'POST')
            throw new Error(`unexpected ${req.method} ${req.url}`);
          // A receiver that fails now and then: the batch must come again, never be skipped.
          if (opts.failEvery && ++n % opts.failEvery === 0) {
            res.writeHead(503).end('busy');
            return;
          }
          for (const r of parseBody(kind, body, req.headers, opts.secret)) {
            received.seqs.push(r.seq);
            received.hashes.set(r.seq, r.hash);
          }
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(kind === 'hec' ? '{"text":"Success","code":0}' : '{}');
        } catch (err) {
          res.writeHead(400).end((err as Error).message);
        }
      });
    });
    await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
    server = s;
  };
  await start();
  return {
    url: `http://127.0.0.1:${port}${kind === 'webhook' ? path : ''}`,
    received,
    start,
    async stop() {
      const s = server;
      server = null;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

/** rsyslogd from Debian's packages, or null when it is not installed (CI installs it). */
export function rsyslogd(): string | null {
  for (const p of ['/usr/sbin/rsyslogd', '/sbin/rsyslogd']) if (existsSync(p)) return p;
  return null;
}

/** A private rsyslogd listening on TCP, writing each message's structured data and text to a file. */
export interface Rsyslog {
  /** Plain TCP (octet-counting framing). */
  port: number;
  /** RELP. */
  relpPort: number;
  received(): Received;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRsyslog(dir: string): Promise<Rsyslog> {
  const bin = rsyslogd();
  if (!bin) throw new Error('rsyslogd is not installed (apt-get install rsyslog rsyslog-relp; .ci/run does)');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const relpPort = await freePort();
  const out = join(dir, 'received.log');
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(
    conf,
    [
      `global(workDirectory="${dir}")`,
      'module(load="imtcp")',
      `input(type="imtcp" port="${port}" address="127.0.0.1")`,
      'module(load="imrelp")',
      `input(type="imrelp" port="${relpPort}" address="127.0.0.1")`,
      'template(name="raw" type="string" string="%structured-data% %msg%\\n")',
      `action(type="omfile" file="${out}" template="raw")`,
      '',
    ].join('\n'),
  );
  const check = spawnSync(bin, ['-N1', '-f', conf], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`rsyslog config check failed: ${check.stderr}`);
  const proc = restartable(
    () => spawn(bin, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: 'ignore' }),
    port,
    'rsyslogd',
  );
  await proc.start();
  return {
    port,
    relpPort,
    ...proc,
    received() {
      const received: Received = { seqs: [], hashes: new Map() };
      if (!existsSync(out)) return received;
      for (const line of readFileSync(out, 'utf8').split('\n')) {
        const m = /\[mandate@32473 seq="(\d+)" hash="([0-9a-f]{64})"\] CEF:0\|Mandate\|/.exec(line);
        if (!m) continue;
        received.seqs.push(Number(m[1]));
        received.hashes.set(Number(m[1]), m[2]!);
      }
      return received;
    },
  };
}

/** A private nats-server with JetStream on its own port and store dir. */
export interface PrivateNats {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Every message of the stream, in stream order, as the audit seq/hash it carries. */
  received(stream: string): Promise<Received>;
}

export async function startNats(dir: string): Promise<PrivateNats> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const proc = restartable(
    () =>
      spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], {
        stdio: 'ignore',
      }),
    port,
    'nats-server',
  );
  await proc.start();
  const url = `nats://127.0.0.1:${port}`;
  return {
    url,
    ...proc,
    async received(stream) {
      const { connect } = await import('nats');
      const nc = await connect({ servers: url });
      try {
        const jsm = await nc.jetstreamManager();
        const info = await jsm.streams.info(stream);
        const received: Received = { seqs: [], hashes: new Map() };
        for (let i = info.state.first_seq; i <= info.state.last_seq; i++) {
          const m = await jsm.streams.getMessage(stream, { seq: i });
          const r = JSON.parse(new TextDecoder().decode(m.data)) as { seq: number; hash: string };
          received.seqs.push(r.seq);
          received.hashes.set(r.seq, r.hash);
        }
        return received;
      } finally {
        await nc.close();
      }
    },
  };
}

import { hmacSha256Hex } from '../kernel/index.js';
import {
  recordJson,
  STAND_IN_FIELD_MAX,
  eventFields,
  standInJson,
  type DeliveryReport,
  type OmittedRecord,
  type SinkRecord,
  type SinkTransport,
} from './port.js';

/**
 * Default `maxRequestBytes`: 1 MiB, nginx's default `client_max_body_size`, the cap most often put
 * in front of a receiver.
 */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;

/** What a receiver refused of a request that is not a failure to retry as it is. */
type Refusal =
  /** 413: the body is over the receiver's cap. */
  | { kind: 'too_large' }
  /** OTLP partial success: the receiver took the request but dropped `count` of its records. */
  | { kind: 'rejected'; count: number; message: string };

interface Answer {
  refusal: Refusal | null;
  /** Something the receiver said about an accepted request (an OTLP partial success rejecting nothing). */
  warning: string | null;
}

const ACCEPTED: Answer = { refusal: null, warning: null };

/**
 * The most of a receiver's answer read. It only goes into error messages (200 characters of it) and
 * OTLP's `partialSuccess`, a few hundred bytes: a receiver answering a 200 with an endless body
 * would otherwise have the node buffer all of it (hundreds of MiB seen) until the timeout.
 */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * The start of `res`'s body, at most {@link MAX_ANSWER_BYTES}; past that the body is cancelled,
 * which closes the connection (it cannot be reused with an answer left unread). `cut` says the
 * answer went on beyond what was read.
 */
async function readAnswer(res: Response): Promise<{ text: string; cut: boolean }> {
  if (!res.body) return { text: '', cut: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let cut = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > MAX_ANSWER_BYTES) {
        chunks.push(value.subarray(0, MAX_ANSWER_BYTES - size));
        cut = true;
        await reader.cancel().catch(() => undefined);
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // An answer that breaks off (the timeout, a reset) says nothing more than its status.
    return { text: '', cut: false };
  }
  return { text: Buffer.concat(chunks).toString('utf8'), cut };
}

/**
 * POSTs `body`. A 2xx is an answer (the start of its text for the caller to read, and whether the
 * text went on beyond it), a 413 a {@link Refusal}; anything else within the timeout — a redirect
 * included — throws: the batch is sent again.
 */
async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<{ status: number; tooLarge: boolean; text: string; cut: boolean }> {
  // SECURITY: fail closed — redirects are never followed. A 302/303 followed as a GET would count
  // a batch delivered that never arrived, and a 307/308 would re-post it, signature or token
  // included, to whatever host `Location` names.
  const res = await fetch(url, {
    method: 'POST',
    body,
    headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  // Read so the connection can be reused, but never more than MAX_ANSWER_BYTES of it.
  const { text, cut } = await readAnswer(res);
  if (res.status >= 300 && res.status <= 399)
    throw new Error(
      `receiver answered ${res.status}, a redirect${redirectTarget(url, res.headers.get('location'))}; redirects are not followed: configure the URL it points to`,
    );
  if (res.status === 413) return { status: res.status, tooLarge: true, text, cut };
  if (res.status < 200 || res.status > 299)
    throw new Error(`receiver answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
  return { status: res.status, tooLarge: false, text, cut };
}

/** ` to <origin>` of a redirect (never its path or query, which may carry tokens), or nothing. */
function redirectTarget(url: string, location: string | null): string {
  if (!location) return '';
  try {
    return ` to ${new URL(location, url).origin}`;
  } catch {
    return '';
  }
}

const bytesOf = (s: string) => Buffer.byteLength(s);

/** How one HTTP sink writes records into request bodies: `prefix + parts.join(sep) + suffix`. */
interface HttpFormat {
  prefix: string;
  sep: string;
  suffix: string;
  /** One record's part of a body. */
  part(r: SinkRecord): string;
  /** The part of a stand-in for a record that cannot be sent in full. */
  standIn(r: SinkRecord, o: OmittedRecord): string;
  /** Sends one body; throws on a failure to retry (the whole batch is offered again). */
  send(body: string): Promise<Answer>;
}

interface Item {
  r: SinkRecord;
  part: string;
  bytes: number;
  standIn: boolean;
}

/**
 * Delivery in requests of at most `maxRequestBytes`, so no receiver cap stops a sink for good:
 * - the batch is cut into requests under the limit (in chain order, one after another);
 * - a record that alone would exceed it is sent as a stand-in (`omitted.reason: "too_large"`);
 * - a request answered 413 (a cap below ours) is split in halves down to one record, and a record
 *   answered 413 alone is sent as a stand-in; later batches are cut below the size that got the
 *   413 (only cut: whether a record is too large is still decided by the limit or a 413 of it alone);
 * - a request the receiver took but dropped records of (OTLP partial success) is split the same way,
 *   and a record dropped alone is sent as a stand-in (`omitted.reason: "rejected"`).
 * A stand-in refused too fails the batch: then the receiver takes nothing and the lag says so.
 */
function sizedDelivery(
  f: HttpFormat,
  maxRequestBytes: number,
): (batch: readonly SinkRecord[]) => Promise<DeliveryReport> {
  const overhead = bytesOf(f.prefix) + bytesOf(f.suffix);
  const sepBytes = bytesOf(f.sep);
  // Lowered by a 413: the size requests are cut to. It never decides what is too large.
  let cutAt = maxRequestBytes;

  return async (batch) => {
    const report: DeliveryReport = { omitted: [], warnings: [] };
    const omit = (r: SinkRecord, o: Omit<OmittedRecord, 'seq' | 'hash'>): Item => {
      const full: OmittedRecord = { seq: r.seq, hash: r.hash, ...o };
      report.omitted.push(full);
      const part = f.standIn(r, full);
      return { r, part, bytes: bytesOf(part), standIn: true };
    };
    const items = batch.map((r): Item => {
      const part = f.part(r);
      const bytes = bytesOf(part);
      return overhead + bytes > maxRequestBytes
        ? omit(r, { reason: 'too_large', bytes: overhead + bytes, limit: maxRequestBytes, message: null })
        : { r, part, bytes, standIn: false };
    });

    const send = async (chunk: Item[]): Promise<void> => {
      const body = f.prefix + chunk.map((i) => i.part).join(f.sep) + f.suffix;
      const answer = await f.send(body);
      if (answer.warning) report.warnings.push(answer.warning);
      const refusal = answer.refusal;
      if (!refusal) return;
      const size = bytesOf(body);
      if (refusal.kind === 'too_large') cutAt = Math.min(cutAt, size - 1);
      if (chunk.length > 1) {
        const half = Math.ceil(chunk.length / 2);
        await send(chunk.slice(0, half));
        await send(chunk.slice(half));
        return;
      }
      const item = chunk[0]!;
      const what =
        refusal.kind === 'too_large'
          ? `answered 413 (${size} bytes)`
          : `rejected it (partial success${refusal.message ? `: ${refusal.message.slice(0, 200)}` : ''})`;
      if (item.standIn) throw new Error(`receiver refused the stand-in of record #${item.r.seq}: it ${what}`);
      await send([
        omit(item.r, {
          reason: refusal.kind,
          bytes: size,
          limit: null,
          message: refusal.kind === 'rejected' ? refusal.message || null : null,
        }),
      ]);
    };

    // Cut in chain order, each request under the limit, at least one record each.
    let chunk: Item[] = [];
    let size = overhead;
    for (const item of items) {
      const grown = size + (chunk.length > 0 ? sepBytes : 0) + item.bytes;
      if (chunk.length > 0 && grown > cutAt) {
        await send(chunk);
        chunk = [];
        size = overhead;
      }
      size += (chunk.length > 0 ? sepBytes : 0) + item.bytes;
      chunk.push(item);
    }
    if (chunk.length > 0) await send(chunk);
    return report;
  };
}

/** A 2xx is taken whole; a 413 is a cap to split under. */
const plainAnswer = (res: { tooLarge: boolean }): Answer =>
  res.tooLarge ? { refusal: { kind: 'too_large' }, warning: null } : ACCEPTED;

export interface WebhookSinkOptions {
  name: string;
  url: string;
  /** HMAC-SHA256 key: `x-mandate-signature: sha256=<hex>` over `<timestamp>.<body>`. */
  secret?: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Largest request body sent; default {@link DEFAULT_MAX_REQUEST_BYTES}. */
  maxRequestBytes?: number;
}

/**
 * An HTTPS webhook receiving batches: `{"sink","records":[{seq,prevHash,hash,event}…]}`, signed
 * with HMAC-SHA256 over `<x-mandate-timestamp>.<body>` when a secret is set, so the receiver can
 * check origin and freshness.
 */
export function createWebhookSink(o: WebhookSinkOptions): SinkTransport {
  const deliver = sizedDelivery(
    {
      prefix: `{"sink":${JSON.stringify(o.name)},"records":[`,
      sep: ',',
      suffix: ']}',
      part: recordJson,
      standIn: standInJson,
      async send(body) {
        const ts = String(Math.floor(Date.now() / 1000));
        const headers: Record<string, string> = {
          ...o.headers,
          'content-type': 'application/json',
          'x-mandate-timestamp': ts,
        };
        if (o.secret) headers['x-mandate-signature'] = `sha256=${hmacSha256Hex(o.secret, `${ts}.${body}`)}`;
        return plainAnswer(await post(o.url, body, headers, o.timeoutMs));
      },
    },
    o.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
  );
  return { deliver, async close() {} };
}

export interface HecSinkOptions {
  /** Base URL of the collector, e.g. `https://splunk:8088`; events go to `<its path>/services/collector/event`. */
  url: string;
  token: string;
  index?: string;
  sourcetype: string;
  timeoutMs: number;
  /** Largest request body sent; default {@link DEFAULT_MAX_REQUEST_BYTES}. */
  maxRequestBytes?: number;
}

/**
 * The HEC event endpoint under `base`, keeping its path (a proxy's prefix such as
 * `https://gw/splunk` gives `https://gw/splunk/services/collector/event`) and its query; a URL
 * already naming the endpoint (or `/services/collector`) is used as it is.
 */
export function hecEndpoint(base: string): string {
  const u = new URL(base);
  const path = u.pathname.replace(/\/+$/, '');
  if (path.endsWith('/services/collector/event')) u.pathname = path;
  else if (path.endsWith('/services/collector')) u.pathname = `${path}/event`;
  else u.pathname = `${path}/services/collector/event`;
  return u.toString();
}

/** Splunk HTTP Event Collector: one HEC event per record, batched in one request. */
export function createHecSink(o: HecSinkOptions): SinkTransport {
  const endpoint = hecEndpoint(o.url);
  const hecEvent = (r: SinkRecord, event: string) => {
    const time = Date.parse((JSON.parse(r.eventText) as { time: string }).time) / 1000;
    return `{"time":${Number.isFinite(time) ? time : 0},"source":"mandate","sourcetype":${JSON.stringify(o.sourcetype)}${o.index ? `,"index":${JSON.stringify(o.index)}` : ''},"event":${event}}`;
  };
  const deliver = sizedDelivery(
    {
      prefix: '',
      sep: '\n',
      suffix: '',
      part: (r) => hecEvent(r, recordJson(r)),
      standIn: (r, om) => hecEvent(r, standInJson(r, om)),
      async send(body) {
        return plainAnswer(
          await post(
            endpoint,
            body,
            { authorization: `Splunk ${o.token}`, 'content-type': 'application/json' },
            o.timeoutMs,
          ),
        );
      },
    },
    o.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
  );
  return { deliver, async close() {} };
}

export interface OtlpSinkOptions {
  /** OTLP/HTTP logs endpoint, e.g. `http://collector:4318/v1/logs`. */
  url: string;
  headers: Record<string, string>;
  serviceName: string;
  timeoutMs: number;
  /** Largest request body sent; default {@link DEFAULT_MAX_REQUEST_BYTES}. */
  maxRequestBytes?: number;
}

/**
 * What an OTLP/HTTP JSON answer says beyond its status: `partialSuccess.rejectedLogRecords` (an
 * int64, so a number or a decimal string in JSON) and `partialSuccess.errorMessage`.
 */
export function otlpAnswer(text: string): Answer {
  let doc: unknown;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    // The status is the answer; a body that is not JSON (a proxy's) adds nothing to it.
    return ACCEPTED;
  }
  const ps = (doc as { partialSuccess?: { rejectedLogRecords?: unknown; errorMessage?: unknown } } | null)
    ?.partialSuccess;
  if (!ps || typeof ps !== 'object') return ACCEPTED;
  const rejected = Number(ps.rejectedLogRecords ?? 0);
  const message = typeof ps.errorMessage === 'string' ? ps.errorMessage : '';
  // A count we cannot read is taken as "some": a record silently dropped is what must not happen.
  if (!Number.isFinite(rejected) || rejected > 0)
    return {
      refusal: { kind: 'rejected', count: Number.isFinite(rejected) ? rejected : 1, message },
      warning: null,
    };
  return { refusal: null, warning: message ? `receiver warned: ${message.slice(0, 200)}` : null };
}

/**
 * OpenTelemetry logs over OTLP/HTTP (JSON encoding): one log record per audit record.
 *
 * A 200 carrying a partial success that rejected records is not a delivery of them. The OTLP spec
 * tells a telemetry exporter to drop such data rather than retry it, which suits metrics and traces;
 * for an audit trail a silent hole in the SIEM's copy is the one outcome that must not happen, and a
 * sink stuck on one record is the next worst. So the request is split down to the records the
 * collector refuses alone, each of which goes as a stand-in the SOC can see, count and fetch from
 * the audit API; a collector that refuses even the stand-in fails the batch (retried, lag grows).
 */
export function createOtlpSink(o: OtlpSinkOptions): SinkTransport {
  const attr = (key: string, v: string | number | boolean | null | undefined) =>
    v === null || v === undefined
      ? []
      : [
          {
            key,
            value:
              typeof v === 'number'
                ? { intValue: String(v) }
                : typeof v === 'boolean'
                  ? { boolValue: v }
                  : { stringValue: v },
          },
        ];
  const logRecord = (r: SinkRecord, body: string, omitted: OmittedRecord | null) => {
    const e = omitted ? eventFields(r, STAND_IN_FIELD_MAX) : eventFields(r);
    const ms = Date.parse(e.time ?? '');
    const nanos = `${BigInt(Number.isFinite(ms) ? ms : 0) * 1_000_000n}`;
    const warn = e.effect === 'deny' || omitted !== null;
    return JSON.stringify({
      timeUnixNano: nanos,
      observedTimeUnixNano: nanos,
      severityText: warn ? 'WARN' : 'INFO',
      severityNumber: warn ? 13 : 9,
      body: { stringValue: body },
      attributes: [
        ...attr('mandate.audit.seq', r.seq),
        ...attr('mandate.audit.hash', r.hash),
        ...attr('mandate.event.type', e.type),
        ...attr('mandate.agent', e.agent),
        ...attr('mandate.user', e.user),
        ...attr('mandate.action', e.action),
        ...attr('mandate.effect', e.effect),
        ...attr('mandate.decision_id', e.decisionId),
        ...attr('mandate.audit.omitted', omitted?.reason),
      ],
    });
  };
  const prefix = `{"resourceLogs":[{"resource":{"attributes":${JSON.stringify(attr('service.name', o.serviceName))}},"scopeLogs":[{"scope":{"name":"mandate.audit"},"logRecords":[`;
  const deliver = sizedDelivery(
    {
      prefix,
      sep: ',',
      suffix: ']}]}]}',
      part: (r) => logRecord(r, recordJson(r), null),
      standIn: (r, om) => logRecord(r, standInJson(r, om), om),
      async send(body) {
        const res = await post(
          o.url,
          body,
          { ...o.headers, 'content-type': 'application/json' },
          o.timeoutMs,
        );
        if (res.tooLarge) return plainAnswer(res);
        // SECURITY: fail closed — an answer cut short may hide a partialSuccess that dropped
        // records, and taking it as a delivery would leave a silent hole in the SIEM's copy. No
        // collector answers that much; the batch is retried and the lag says so.
        if (res.cut)
          throw new Error(
            `receiver answered ${res.status} with a body over ${MAX_ANSWER_BYTES} bytes: cannot tell whether it dropped records (partialSuccess)`,
          );
        return otlpAnswer(res.text);
      },
    },
    o.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
  );
  return { deliver, async close() {} };
}

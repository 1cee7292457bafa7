import { hmacSha256Hex } from '../kernel/index.js';
import { recordJson, type SinkRecord, type SinkTransport } from './port.js';

/** POSTs `body`; anything but a 2xx within the timeout is a failed delivery. */
async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  const res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(timeoutMs) });
  // Drain the body so the connection can be reused.
  const text = await res.text().catch(() => '');
  if (res.status < 200 || res.status > 299)
    throw new Error(`receiver answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

export interface WebhookSinkOptions {
  name: string;
  url: string;
  /** HMAC-SHA256 key: `x-mandate-signature: sha256=<hex>` over `<timestamp>.<body>`. */
  secret?: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/**
 * An HTTPS webhook receiving batches: `{"sink","records":[{seq,prevHash,hash,event}…]}`, signed
 * with HMAC-SHA256 over `<x-mandate-timestamp>.<body>` when a secret is set, so the receiver can
 * check origin and freshness.
 */
export function createWebhookSink(o: WebhookSinkOptions): SinkTransport {
  return {
    async deliver(batch) {
      const body = `{"sink":${JSON.stringify(o.name)},"records":[${batch.map(recordJson).join(',')}]}`;
      const ts = String(Math.floor(Date.now() / 1000));
      const headers: Record<string, string> = {
        ...o.headers,
        'content-type': 'application/json',
        'x-mandate-timestamp': ts,
      };
      if (o.secret) headers['x-mandate-signature'] = `sha256=${hmacSha256Hex(o.secret, `${ts}.${body}`)}`;
      await post(o.url, body, headers, o.timeoutMs);
    },
    async close() {},
  };
}

export interface HecSinkOptions {
  /** Base URL of the collector, e.g. `https://splunk:8088`; events go to `/services/collector/event`. */
  url: string;
  token: string;
  index?: string;
  sourcetype: string;
  timeoutMs: number;
}

/** Splunk HTTP Event Collector: one HEC event per record, batched in one request. */
export function createHecSink(o: HecSinkOptions): SinkTransport {
  const endpoint = new URL('/services/collector/event', o.url).toString();
  return {
    async deliver(batch) {
      const body = batch
        .map((r: SinkRecord) => {
          const time = Date.parse((JSON.parse(r.eventText) as { time: string }).time) / 1000;
          return `{"time":${time},"source":"mandate","sourcetype":${JSON.stringify(o.sourcetype)}${o.index ? `,"index":${JSON.stringify(o.index)}` : ''},"event":${recordJson(r)}}`;
        })
        .join('\n');
      await post(
        endpoint,
        body,
        { authorization: `Splunk ${o.token}`, 'content-type': 'application/json' },
        o.timeoutMs,
      );
    },
    async close() {},
  };
}

export interface OtlpSinkOptions {
  /** OTLP/HTTP logs endpoint, e.g. `http://collector:4318/v1/logs`. */
  url: string;
  headers: Record<string, string>;
  serviceName: string;
  timeoutMs: number;
}

/** OpenTelemetry logs over OTLP/HTTP (JSON encoding): one log record per audit record. */
export function createOtlpSink(o: OtlpSinkOptions): SinkTransport {
  const attr = (key: string, v: string | number | null | undefined) =>
    v === null || v === undefined
      ? []
      : [{ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } }];
  return {
    async deliver(batch) {
      const logRecords = batch.map((r) => {
        const e = JSON.parse(r.eventText) as Record<string, unknown> & { time: string };
        const nanos = `${BigInt(Date.parse(e.time)) * 1_000_000n}`;
        return {
          timeUnixNano: nanos,
          observedTimeUnixNano: nanos,
          severityText: e.effect === 'deny' ? 'WARN' : 'INFO',
          severityNumber: e.effect === 'deny' ? 13 : 9,
          body: { stringValue: recordJson(r) },
          attributes: [
            ...attr('mandate.audit.seq', r.seq),
            ...attr('mandate.audit.hash', r.hash),
            ...attr('mandate.event.type', e.type as string),
            ...attr('mandate.agent', e.agent as string | undefined),
            ...attr('mandate.user', e.user as string | undefined),
            ...attr('mandate.action', e.action as string | undefined),
            ...attr('mandate.effect', e.effect as string | undefined),
            ...attr('mandate.decision_id', e.decisionId as string | undefined),
          ],
        };
      });
      const body = JSON.stringify({
        resourceLogs: [
          {
            resource: { attributes: attr('service.name', o.serviceName) },
            scopeLogs: [{ scope: { name: 'mandate.audit' }, logRecords }],
          },
        ],
      });
      await post(o.url, body, { ...o.headers, 'content-type': 'application/json' }, o.timeoutMs);
    },
    async close() {},
  };
}

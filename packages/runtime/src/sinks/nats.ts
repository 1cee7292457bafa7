import {
  recordJson,
  standInJson,
  type DeliveryReport,
  type OmittedRecord,
  type SinkTransport,
} from './port.js';

export interface NatsSinkOptions {
  /** `nats://host:port`, comma-separated for a cluster. */
  servers: string;
  subject: string;
  /** Created (subjects: [subject]) when it does not exist. */
  stream: string;
  timeoutMs: number;
}

type NatsModule = typeof import('nats');

/** Room kept under the size limits for the message's headers (`Nats-Msg-Id: <seq>:<hash>`, ~100 bytes). */
const HEADER_ROOM = 256;

/** JetStream's error code for a message over the stream's `max_msg_size`. */
const JS_MESSAGE_TOO_LARGE = 10054;

/**
 * NATS JetStream: each record published with `Nats-Msg-Id: <seq>:<hash>`, so a resend after a
 * crash within the stream's duplicate window is not stored twice (receivers also have `seq`).
 * A publish counts only once JetStream acknowledged it (stored).
 *
 * A record larger than the server takes (its `max_payload`, 1 MiB by default, or the stream's
 * `max_msg_size`) is published as a stand-in (docs/streaming.md): the client would refuse it
 * forever, and every later record would stay off the stream.
 */
export function createNatsSink(o: NatsSinkOptions): SinkTransport {
  let conn: Promise<{
    nc: import('nats').NatsConnection;
    js: import('nats').JetStreamClient;
    streamMax: number;
  }> | null = null;
  const connect = async () => {
    const nats: NatsModule = await import('nats');
    const nc = await nats.connect({
      servers: o.servers.split(','),
      timeout: o.timeoutMs,
      maxReconnectAttempts: -1,
    });
    const jsm = await nc.jetstreamManager({ timeout: o.timeoutMs });
    let info;
    try {
      info = await jsm.streams.info(o.stream);
    } catch {
      info = await jsm.streams.add({ name: o.stream, subjects: [o.subject] });
    }
    // -1 (the default): no limit of the stream's own.
    const streamMax = info.config.max_msg_size > 0 ? info.config.max_msg_size : Infinity;
    return { nc, js: nc.jetstream({ timeout: o.timeoutMs }), streamMax };
  };
  return {
    async deliver(batch) {
      conn ??= connect();
      let c;
      try {
        c = await conn;
      } catch (err) {
        conn = null;
        throw err;
      }
      const report: DeliveryReport = { omitted: [], warnings: [] };
      const enc = new TextEncoder();
      // Published one after another and each acknowledged: the order on the stream is the chain's.
      for (const r of batch) {
        // The server's limit is read each time: a reconnect may have landed on another server.
        const limit = Math.min(c.nc.info?.max_payload ?? Infinity, c.streamMax) - HEADER_ROOM;
        const data = enc.encode(recordJson(r));
        const msgID = `${r.seq}:${r.hash}`;
        const standIn = async (omitted: OmittedRecord) => {
          report.omitted.push(omitted);
          await c.js.publish(o.subject, enc.encode(standInJson(r, omitted)), { msgID });
        };
        if (data.length > limit) {
          await standIn({
            seq: r.seq,
            hash: r.hash,
            reason: 'too_large',
            bytes: data.length,
            limit,
            message: null,
          });
          continue;
        }
        try {
          await c.js.publish(o.subject, data, { msgID });
        } catch (err) {
          // The stream's limit was lowered since we connected: the same stand-in.
          const e = err as { api_error?: { err_code?: number; description?: string } };
          if (e.api_error?.err_code !== JS_MESSAGE_TOO_LARGE) throw err;
          await standIn({
            seq: r.seq,
            hash: r.hash,
            reason: 'too_large',
            bytes: data.length,
            limit: null,
            message: e.api_error.description ?? null,
          });
        }
      }
      return report;
    },
    async close() {
      const c = await conn?.catch(() => null);
      conn = null;
      if (!c) return;
      // A drain flushes through the server: with the server down it waits for a reconnect that may
      // never come, and the client (maxReconnectAttempts: -1) keeps redialling, which keeps the
      // process alive after SIGTERM. So the drain gets `timeoutMs`, and then the connection is
      // closed. Nothing is lost by it: a record is acknowledged only once JetStream stored it, so
      // what was not stays behind the cursor and is published after the restart.
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        c.nc.drain().then(
          () => true,
          () => false,
        ),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), o.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (!drained) await c.nc.close().catch(() => undefined);
    },
  };
}

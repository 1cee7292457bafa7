import { recordJson, type SinkTransport } from './port.js';

export interface NatsSinkOptions {
  /** `nats://host:port`, comma-separated for a cluster. */
  servers: string;
  subject: string;
  /** Created (subjects: [subject]) when it does not exist. */
  stream: string;
  timeoutMs: number;
}

type NatsModule = typeof import('nats');

/**
 * NATS JetStream: each record published with `Nats-Msg-Id: <seq>:<hash>`, so a resend after a
 * crash within the stream's duplicate window is not stored twice (receivers also have `seq`).
 * A publish counts only once JetStream acknowledged it (stored).
 */
export function createNatsSink(o: NatsSinkOptions): SinkTransport {
  let conn: Promise<{ nc: import('nats').NatsConnection; js: import('nats').JetStreamClient }> | null = null;
  const connect = async () => {
    const nats: NatsModule = await import('nats');
    const nc = await nats.connect({
      servers: o.servers.split(','),
      timeout: o.timeoutMs,
      maxReconnectAttempts: -1,
    });
    const jsm = await nc.jetstreamManager({ timeout: o.timeoutMs });
    try {
      await jsm.streams.info(o.stream);
    } catch {
      await jsm.streams.add({ name: o.stream, subjects: [o.subject] });
    }
    return { nc, js: nc.jetstream({ timeout: o.timeoutMs }) };
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
      const enc = new TextEncoder();
      // Published one after another and each acknowledged: the order on the stream is the chain's.
      for (const r of batch)
        await c.js.publish(o.subject, enc.encode(recordJson(r)), { msgID: `${r.seq}:${r.hash}` });
    },
    async close() {
      const c = await conn?.catch(() => null);
      conn = null;
      await c?.nc.drain().catch(() => undefined);
    },
  };
}

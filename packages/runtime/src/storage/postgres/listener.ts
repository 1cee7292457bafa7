import pg from 'pg';
import type { Logger } from '../../kernel/index.js';

/** Options of {@link watchActivations}. */
export interface ListenerOptions {
  /** How to open each listening connection (a dedicated client, outside the pool). */
  client: pg.ClientConfig;
  channel: string;
  log: Logger;
  /** The active version now: read after a reconnection, since what was sent meanwhile was not heard. */
  activeVersion: () => Promise<string | null>;
  /** First pause before reconnecting; doubles up to `retryMaxMs`. Defaults 100 ms and 5 s. */
  retryFirstMs?: number;
  retryMaxMs?: number;
}

/**
 * LISTENs on the activation channel and hands each payload to `onActivated`. When the connection
 * is lost (server restart, `pg_terminate_backend`, network) it reconnects with backoff and LISTENs
 * again, then reports the active version once to catch up; the caller's poll stays the backstop.
 * The first connection's failure rejects (the caller falls back to polling); later ones only retry.
 * Resolves to a stop function.
 */
export async function watchActivations(
  opts: ListenerOptions,
  onActivated: (version: string) => void,
): Promise<() => Promise<void>> {
  const { channel, log } = opts;
  const first = opts.retryFirstMs ?? 100;
  const max = opts.retryMaxMs ?? 5000;
  let stopped = false;
  let current: pg.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  let pause = first;

  const deliver = (version: string) => {
    try {
      onActivated(version);
    } catch (err) {
      log.warn('policy activation handler failed', { error: (err as Error).message });
    }
  };

  const open = async (): Promise<pg.Client> => {
    const client = new pg.Client(opts.client);
    let dead = false;
    const lost = (why: string) => {
      if (dead) return;
      dead = true;
      if (client !== current) return;
      current = null;
      log.warn('postgres policy listener lost; reconnecting', { channel, error: why });
      client.end().catch(() => undefined);
      schedule();
    };
    // Without an 'error' listener a dropped connection would be an unhandled event: a crash.
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('connection ended'));
    client.on('notification', (n) => {
      if (n.channel === channel && n.payload) deliver(n.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
    } catch (err) {
      dead = true;
      await client.end().catch(() => undefined);
      throw err;
    }
    if (dead) throw new Error('Connection terminated while starting to listen');
    return client;
  };

  const reconnect = async () => {
    if (stopped) return;
    let client: pg.Client;
    try {
      client = await open();
    } catch (err) {
      log.debug('postgres policy listener cannot reconnect yet', { channel, error: (err as Error).message });
      schedule();
      return;
    }
    if (stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    current = client;
    pause = first;
    log.info('postgres policy listener reconnected', { channel });
    try {
      const version = await opts.activeVersion();
      if (version !== null) deliver(version);
    } catch {
      // The poll catches up instead.
    }
  };

  function schedule(): void {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = null;
      void reconnect();
    }, pause);
    timer.unref();
    pause = Math.min(pause * 2, max);
  }

  current = await open();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = null;
    const c = current;
    current = null;
    await c?.end().catch(() => undefined);
  };
}

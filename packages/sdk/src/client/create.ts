import { createEmbeddedClient, type EmbeddedOptions } from './embedded.js';
import { createRemoteClient } from './remote.js';
import type { MandateClient } from './types.js';

/** The address `npm start` (and `mandate serve` with the example config) listens on. */
export const DEFAULT_URL = 'http://127.0.0.1:8787';

/** Options of {@link createClient}: the same for both modes, but for `url` (remote) and `embedded`. */
export interface ClientOptions {
  /** The credential: an API key (remote: sent as a bearer; embedded: checked against the in-process store). */
  apiKey: string;
  /** Remote mode: the server's base URL; default `http://127.0.0.1:8787`. */
  url?: string;
  /**
   * Embedded mode: run the decision path in this process (`@mandate/runtime` is loaded on demand)
   * with this config. Switching between remote and embedded is this one option.
   */
  embedded?: EmbeddedOptions;
  /** Remote mode: default time limit of one call, retries included; default 10 s. */
  timeoutMs?: number;
  /** Remote mode: retries of calls that are safe to repeat; default 2. */
  retries?: number;
  /** Remote mode: the `fetch` to use; default the global one. */
  fetch?: typeof fetch;
}

/**
 * A typed client for the v1 API. Remote by default; `embedded: { configFile }` runs the same
 * decision path, store and audit chain in this process instead.
 */
export function createClient(options: ClientOptions): MandateClient {
  if (options.embedded) return createEmbeddedClient(options.embedded, options.apiKey);
  return createRemoteClient({
    url: options.url ?? DEFAULT_URL,
    apiKey: options.apiKey,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

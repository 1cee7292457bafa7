import { hmacSha256Hex, type Clock, type Logger } from '../kernel/index.js';
import { approvalDisplay, type ApprovalDisplay } from '../approvals/index.js';
import type { ApprovalRecord } from '../storage/port.js';

export interface WebhookOptions {
  url: string;
  /** HMAC-SHA256 key; receivers check `x-mandate-signature: sha256=<hex of HMAC(timestamp + "." + body)>`. */
  secret: string;
  maxAttempts: number;
  /** First retry delay; doubles each attempt. */
  backoffMs: number;
  timeoutMs: number;
}

/** A notifier that delivers JSON events to one webhook, signed, retried with backoff, in the background. */
export interface WebhookNotifier {
  send(type: string, payload: unknown): void;
  /** Waits for deliveries in flight (tests, shutdown). */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export function createWebhookNotifier(
  options: WebhookOptions,
  deps: { clock: Clock; logger: Logger },
): WebhookNotifier {
  const inFlight = new Set<Promise<void>>();
  let closed = false;

  const deliver = async (type: string, payload: unknown): Promise<void> => {
    const body = JSON.stringify({ type, time: new Date(deps.clock.now()).toISOString(), data: payload });
    for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
      const timestamp = String(Math.floor(deps.clock.now() / 1000));
      try {
        // SECURITY: fail closed — redirects are never followed: a 302 followed as a GET would count an
        // event delivered that never arrived, and a 307/308 would re-post it, signed, to whatever
        // host `Location` names. Only a 2xx from the configured URL is a delivery.
        const res = await fetch(options.url, {
          method: 'POST',
          redirect: 'manual',
          headers: {
            'content-type': 'application/json',
            'x-mandate-event': type,
            'x-mandate-timestamp': timestamp,
            'x-mandate-signature': `sha256=${hmacSha256Hex(options.secret, `${timestamp}.${body}`)}`,
          },
          body,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        // Drain the body so the connection can be reused.
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        if (res.status >= 300 && res.status <= 399)
          deps.logger.warn(
            'webhook answered a redirect; redirects are not followed: configure the URL it points to',
            {
              type,
              status: res.status,
              ...redirectOrigin(options.url, res.headers.get('location')),
              attempt,
            },
          );
        else deps.logger.warn('webhook answered with an error', { type, status: res.status, attempt });
      } catch (err) {
        deps.logger.warn('webhook delivery failed', {
          type,
          attempt,
          // An error may quote the URL: never its userinfo.
          error: (err as Error).message.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, '$1***@'),
        });
      }
      if (closed || attempt === options.maxAttempts) break;
      await new Promise((r) => setTimeout(r, options.backoffMs * 2 ** (attempt - 1)));
    }
    deps.logger.error('webhook gave up', { type, attempts: options.maxAttempts });
  };

  return {
    send(type, payload) {
      if (closed) return;
      const p = deliver(type, payload).finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    async drain() {
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },
    async close() {
      closed = true;
      await this.drain();
    },
  };
}

/** `{ location: <origin> }` of a redirect (never its path or query, which may carry tokens), or `{}`. */
function redirectOrigin(url: string, location: string | null): { location?: string } {
  if (!location) return {};
  try {
    return { location: new URL(location, url).origin };
  } catch {
    return {};
  }
}

/**
 * The `data` of an `approval.*` webhook: the approval as stored (raw values, for machines) and
 * beside it `display`, what a person may be shown — every agent-shaped field escaped and flagged
 * (`display.hidden` lists the kinds of hidden characters found; empty when none). A receiver that
 * shows an approval to a person (chat, e-mail, ticket) must show `display`, never the raw values.
 */
export function approvalWebhookPayload(a: ApprovalRecord): ApprovalRecord & { display: ApprovalDisplay } {
  return { ...a, display: approvalDisplay(a) };
}

import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface DirectCallOptions {
  signal?: AbortSignal;
  timeoutMs: number;
  /** Receives the upstream's progress notifications for this call (without its progress token). */
  onprogress?: (progress: Record<string, unknown>) => void;
}

/** Sends requests on an upstream transport without going through the SDK `Client`'s request machinery. */
export interface DirectCalls {
  call(
    method: string,
    params: Record<string, unknown>,
    options: DirectCallOptions,
  ): Promise<Record<string, unknown>>;
  /** Rejects every call in flight (the connection closed). */
  failAll(reason: string): void;
  /** Starts taking answers off the transport; call once, after `client.connect(transport)`. */
  attach(): void;
}

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(err: unknown): void;
  onprogress?: (progress: Record<string, unknown>) => void;
}

/**
 * The gateway's hot path to an upstream: `tools/call` is sent straight on the transport and its
 * answer taken off it before the SDK `Client` sees it (ADR 0009). The `Client` stays connected on
 * the same transport for everything else (initialize, lists, the upstream's own sampling and
 * elicitation requests, notifications), so only this request skips the SDK's per-request schema
 * parsing, timers and handler maps. Ids are strings with a prefix the SDK never uses (it numbers
 * its requests), so the two cannot collide.
 *
 * `attach()` must run after `client.connect(transport)`, which installs the `Client`'s handler.
 */
export function createDirectCalls(transport: Transport): DirectCalls {
  const pending = new Map<string, Pending>();
  let seq = 0;
  /** The `Client`'s own handler: everything that is not an answer to one of our calls goes on to it. */
  let base: Transport['onmessage'];
  const onmessage: NonNullable<Transport['onmessage']> = (message, extra) => {
    const m = message as Record<string, unknown>;
    if (!('method' in m) && typeof m.id === 'string') {
      const p = pending.get(m.id);
      if (p) {
        pending.delete(m.id);
        const error = m.error as { code?: unknown; message?: unknown; data?: unknown } | undefined;
        if (error) {
          p.reject(
            new McpError(
              typeof error.code === 'number' ? error.code : ErrorCode.InternalError,
              typeof error.message === 'string' ? error.message : 'upstream error',
              error.data,
            ),
          );
        } else if (m.result && typeof m.result === 'object' && !Array.isArray(m.result)) {
          p.resolve(m.result as Record<string, unknown>);
        } else {
          p.reject(new McpError(ErrorCode.InternalError, 'upstream sent a response without a result'));
        }
        return;
      }
    }
    if (m.method === 'notifications/progress') {
      const params = (m.params ?? {}) as Record<string, unknown>;
      const token = params.progressToken;
      const p = typeof token === 'string' ? pending.get(token) : undefined;
      if (p) {
        const { progressToken: _token, ...progress } = params;
        p.onprogress?.(progress);
        return;
      }
    }
    base?.(message, extra);
  };

  return {
    attach() {
      base = transport.onmessage;
      transport.onmessage = onmessage;
    },
    call(method, params, options) {
      const id = `mandate-${++seq}`;
      return new Promise<Record<string, unknown>>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const cancel = (reason: string) => {
          if (!pending.delete(id)) return;
          // Tell the upstream to stop; its late answer, if any, is dropped.
          transport
            .send({
              jsonrpc: '2.0',
              method: 'notifications/cancelled',
              params: { requestId: id, reason },
            } as JSONRPCMessage)
            .catch(() => undefined);
        };
        const onAbort = () => {
          done();
          cancel(String(options.signal?.reason ?? 'cancelled'));
          reject(options.signal?.reason ?? new McpError(ErrorCode.ConnectionClosed, 'cancelled'));
        };
        const done = () => {
          if (timer) clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
        };
        if (options.signal?.aborted) return onAbort();
        pending.set(id, {
          resolve: (r) => {
            done();
            resolve(r);
          },
          reject: (e) => {
            done();
            reject(e);
          },
          ...(options.onprogress ? { onprogress: options.onprogress } : {}),
        });
        options.signal?.addEventListener('abort', onAbort, { once: true });
        timer = setTimeout(() => {
          done();
          cancel(`timed out after ${options.timeoutMs} ms`);
          reject(new McpError(ErrorCode.RequestTimeout, 'Request timed out', { timeout: options.timeoutMs }));
        }, options.timeoutMs);
        const message: Record<string, unknown> = { jsonrpc: '2.0', id, method, params };
        if (options.onprogress)
          message.params = { ...params, _meta: { ...((params._meta as object) ?? {}), progressToken: id } };
        transport.send(message as JSONRPCMessage).catch((err: unknown) => {
          if (!pending.delete(id)) return;
          done();
          reject(err);
        });
      });
    },
    failAll(reason) {
      const all = [...pending.values()];
      pending.clear();
      for (const p of all) p.reject(new McpError(ErrorCode.ConnectionClosed, reason));
    },
  };
}

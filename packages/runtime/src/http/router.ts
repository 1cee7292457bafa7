import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { MandateError } from '../kernel/index.js';
import type { Caller } from '../decisions/index.js';

/** What a route handler sees of one request. */
export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  requestId: string;
  caller(): Promise<Caller>;
  /**
   * Checks the request's credential again, with no side effect (no session rotation): a long-lived
   * answer (a stream) ends when it was revoked or expired meanwhile.
   */
  reauthenticate(): Promise<void>;
  /** The body parsed as JSON, the one strict way (http/body.ts). */
  body(): Promise<unknown>;
  /**
   * For a caller whose API key this node served lately (`recentlyKnownKey`), waits until the whole
   * body has arrived, without parsing it or failing: `body()` then reads those bytes and reports
   * what was wrong with them. For anyone else it returns at once: they are authenticated first.
   */
  received(): Promise<void>;
}

/**
 * A handler answers with a JSON value, a string (text/plain), {@link NO_CONTENT}, or {@link STREAMED}
 * once it wrote the answer itself.
 */
export type Handler = (ctx: Ctx) => Promise<unknown>;

export interface Route {
  method: string;
  /** The path as registered (`/v1/approvals/:id`): what refusal records name, never the raw URL. */
  path: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

/** Registers one route; `:name` segments become `ctx.params.name`. */
export type RouteAdder = (method: string, path: string, handler: Handler) => void;

/** Returned by a handler that streamed its own answer. */
export const STREAMED = Symbol('streamed');

/** Returned by a handler whose answer is 204 with no body. */
export const NO_CONTENT = Symbol('no content');

/** A route table in registration order. */
export function createRouteTable(): { routes: Route[]; route: RouteAdder } {
  const routes: Route[] = [];
  const route: RouteAdder = (method, path, handler) => {
    const keys: string[] = [];
    const pattern = new RegExp(
      '^' +
        path.replace(/:(\w+)/g, (_, k: string) => {
          keys.push(k);
          return '([^/]+)';
        }) +
        '$',
    );
    routes.push({ method, path, pattern, keys, handler });
  };
  return { routes, route };
}

export function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const first = r.error.issues[0];
    const path = first?.path.length ? first.path.join('.') : '(body)';
    throw new MandateError('bad_request', `${path}: ${first?.message ?? 'invalid'}`, {
      details: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return r.data;
}

/** `?limit=`: a whole number clamped to 1..max; anything else is a 400, never NaN handed to a store. */
export function queryLimit(q: URLSearchParams, fallback: number, max: number): number {
  const raw = q.get('limit');
  if (raw === null) return fallback;
  if (!/^\d{1,9}$/.test(raw)) throw new MandateError('bad_request', 'limit must be a positive whole number');
  return Math.min(Math.max(Number(raw), 1), max);
}

import { expect } from 'vitest';
import type { HttpResult, Json } from '../fixtures/http.js';

/** A browser's view of a dashboard session: its cookie (as sent back) and its CSRF token. */
export interface BrowserSession {
  cookie: string;
  csrfToken: string;
}

/** The `mandate_session=<id>` pair of a Set-Cookie answer, or null. */
export function sessionCookieOf(res: { headers: Headers }): string | null {
  for (const c of res.headers.getSetCookie()) {
    const m = /^mandate_session=([^;]*)/.exec(c);
    if (m) return `mandate_session=${m[1]}`;
  }
  return null;
}

export interface BrowserRequest {
  json?: unknown;
  /** Send the session's CSRF token (default true for state-changing methods). */
  csrf?: boolean | string;
  headers?: Record<string, string>;
}

/** One request as the dashboard makes it: the cookie, no Authorization, JSON in and out. */
export async function browserRequest(
  baseUrl: string,
  session: BrowserSession | null,
  method: string,
  path: string,
  opts: BrowserRequest = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...opts.headers };
  if (session) headers.cookie = session.cookie;
  const csrf = opts.csrf ?? (method !== 'GET' && method !== 'HEAD');
  if (session && csrf) headers['x-csrf-token'] = typeof csrf === 'string' ? csrf : session.csrfToken;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers,
    redirect: 'manual',
    ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : {}),
  });
  const text = await res.text();
  let body: Json;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

/** Signs in with an API key the way the dashboard does; fails the test unless it is a 201 with a cookie. */
export async function signIn(baseUrl: string, apiKey: string): Promise<BrowserSession & { body: Json }> {
  const res = await browserRequest(baseUrl, null, 'POST', '/v1/sessions', { json: { apiKey } });
  expect(res.status, res.text).toBe(201);
  const cookie = sessionCookieOf(res);
  expect(cookie).not.toBeNull();
  return { cookie: cookie!, csrfToken: res.body.csrfToken, body: res.body };
}

/** One server-sent event as received. */
export interface SseEvent {
  id: string | null;
  event: string | null;
  data: Json;
}

/** An open `text/event-stream` answer, parsed as it arrives. */
export interface SseStream {
  status: number;
  headers: Headers;
  events: SseEvent[];
  comments: string[];
  /** Resolves with the first event (already received or not) that matches, or rejects after `ms`. */
  next(match: (e: SseEvent) => boolean, ms?: number): Promise<SseEvent>;
  /** True once the server ended the stream. */
  ended(): boolean;
  close(): void;
}

/** Opens an SSE stream with fetch and parses events in the background. */
export async function openStream(url: string, headers: Record<string, string>): Promise<SseStream> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let done = false;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of waiters) w();
  };
  if (res.ok && res.body) {
    void (async () => {
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      try {
        for (;;) {
          const { value, done: d } = await reader.read();
          if (d) break;
          buf += value;
          let cut;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const e: SseEvent = { id: null, event: null, data: undefined };
            let isEvent = false;
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) comments.push(line.slice(1).trim());
              else if (line.startsWith('id: ')) e.id = line.slice(4);
              else if (line.startsWith('event: ')) {
                e.event = line.slice(7);
                isEvent = true;
              } else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6));
            }
            if (isEvent) events.push(e);
            notify();
          }
        }
      } catch {
        // aborted by close()
      } finally {
        done = true;
        notify();
      }
    })();
  } else {
    done = true;
  }
  return {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    ended: () => done,
    next(match, ms = 2000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const e = events.find(match);
          if (e) {
            cleanup();
            resolve(e);
          } else if (done) {
            cleanup();
            reject(new Error('stream ended'));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching event within ${ms} ms`));
        }, ms);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () => ac.abort(),
  };
}

import { MandateApiError, type SdkErrorCode } from '../errors.js';
import type {
  Approval,
  AuditPage,
  AuditVerifyResult,
  DecisionAnswer,
  DecisionRecord,
  EntitiesDocument,
  Grant,
  OutcomeRecorded,
  PolicySource,
  PolicyValidation,
  PolicyVersion,
  Tool,
} from '../wire.js';
import { hasDuplicateKeys } from '../guard/json.js';
import { decisionBody, requireDecidedArgs } from './request.js';
import { createTracker } from './tracker.js';
import type { CallOptions, MandateClient } from './types.js';

/** Options of a client that talks to a `mandate serve` over HTTP. */
export interface RemoteClientOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** The bearer credential: an API key (or a JWT where the server verifies them). */
  apiKey: string;
  /** Default time limit of one call, retries included; default 10 s. */
  timeoutMs?: number;
  /**
   * How many times a call that is safe to repeat is retried when the server is busy or unreachable
   * (429, 503, network errors); default 2. A decision is safe to repeat because it carries an
   * `Idempotency-Key`: the server records it once. Votes and grants are never retried.
   */
  retries?: number;
  /** The `fetch` to use (tests, proxies); default the global one. */
  fetch?: typeof fetch;
}

interface Req {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON text of the body. */
  body?: string;
  headers?: Record<string, string>;
  /** Safe to repeat: a read, or a write the server de-duplicates. */
  retry: boolean;
  /**
   * The answer decides whether a tool runs (a decision, the state of its approval): taken only in
   * the one form Mandate sends it ({@link gatingAnswer}).
   */
  gates?: boolean;
  options?: CallOptions | undefined;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const LONG_POLL_SLICE_MS = 30_000;

/** A client for a remote Mandate: plain `fetch`, no dependencies. */
export function createRemoteClient(opts: RemoteClientOptions, shared = createTracker()): MandateClient {
  const base = new URL(opts.url.endsWith('/') ? opts.url : `${opts.url}/`);
  const doFetch = opts.fetch ?? globalThis.fetch;
  const defaultTimeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxRetries = Math.max(0, opts.retries ?? 2);

  async function request<T>(req: Req): Promise<T> {
    const url = new URL(req.path.replace(/^\//, ''), base);
    for (const [k, v] of Object.entries(req.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const timeoutMs = req.options?.timeoutMs ?? defaultTimeout;
    const deadline = performance.now() + timeoutMs;
    const userSignal = req.options?.signal;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = userSignal ? AbortSignal.any([userSignal, timeout]) : timeout;
    const headers: Record<string, string> = {
      authorization: `Bearer ${opts.apiKey}`,
      accept: 'application/json',
      ...req.headers,
    };
    if (req.body !== undefined) headers['content-type'] = 'application/json';

    for (let attempt = 0; ; attempt++) {
      let err: MandateApiError;
      let retryAfterMs = 0;
      try {
        const res = await doFetch(url, {
          method: req.method,
          headers,
          signal,
          // SECURITY: no redirect is followed. An answer from wherever a redirect points (fetch drops
          // the Authorization header on the way) is not Mandate's, and a decision must not be.
          redirect: 'manual',
          ...(req.body !== undefined ? { body: req.body } : {}),
        });
        if (res.status >= 300 && res.status < 400) {
          await res.body?.cancel();
          throw new MandateApiError(
            'invalid_response',
            `Mandate at ${base.origin} answered a redirect (HTTP ${res.status}${res.headers.get('location') ? ` to ${res.headers.get('location')}` : ''}); the SDK follows none: set url to the server's own address`,
            { status: res.status },
          );
        }
        const text = await res.text();
        if (req.gates && res.ok) return gatingAnswer<T>(text, res.status, res.headers.get('content-type'));
        if (res.ok) return parseJson<T>(text, res.status);
        err = errorFromAnswer(text, res.status);
        retryAfterMs = retryAfter(res.headers.get('retry-after'));
      } catch (cause) {
        if (userSignal?.aborted) throw new MandateApiError('aborted', 'the call was cancelled', { cause });
        if (timeout.aborted)
          throw new MandateApiError('timeout', `no answer within ${timeoutMs} ms`, { cause });
        if (cause instanceof MandateApiError) throw cause;
        err = new MandateApiError('network_error', `cannot reach Mandate at ${base.origin}`, { cause });
      }
      // SECURITY: only calls that are safe to repeat are retried; a decision carries its idempotency key.
      const backoff = Math.max(retryAfterMs, 100 * 2 ** attempt * (0.5 + Math.random()));
      if (!req.retry || !err.retryable || attempt >= maxRetries || performance.now() + backoff >= deadline)
        throw err;
      await sleep(backoff, signal).catch((cause: unknown) => {
        throw userSignal?.aborted
          ? new MandateApiError('aborted', 'the call was cancelled', { cause })
          : new MandateApiError('timeout', `no answer within ${timeoutMs} ms`, { cause });
      });
    }
  }

  const get = <T>(path: string, options: CallOptions | undefined, query?: Req['query']) =>
    request<T>({ method: 'GET', path, retry: true, options, ...(query ? { query } : {}) });
  const send = <T>(
    method: Req['method'],
    path: string,
    body: unknown,
    options: CallOptions | undefined,
    retry = false,
  ) =>
    request<T>({
      method,
      path,
      retry,
      options,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const id = encodeURIComponent;

  const client: MandateClient = {
    mode: 'remote',
    async decide(input, options) {
      const body = decisionBody(input);
      const key = options?.idempotencyKey ?? globalThis.crypto.randomUUID();
      const answer = await request<DecisionAnswer>({
        method: 'POST',
        path: '/v1/decisions',
        body,
        headers: { 'idempotency-key': key },
        retry: true,
        gates: true,
        options,
      });
      return requireDecidedArgs(answer);
    },
    getDecision: (decisionId, options) => get<DecisionRecord>(`/v1/decisions/${id(decisionId)}`, options),
    // The server records an outcome once (409 on a repeat), so retrying a lost answer is safe.
    reportOutcome: (decisionId, report, options) =>
      send<OutcomeRecorded>('POST', `/v1/decisions/${id(decisionId)}/outcome`, report, options, true),

    approvals: {
      list: async (filter, options) =>
        (await get<{ items: Approval[] }>('/v1/approvals', options, { ...filter })).items,
      // An approval's state decides whether the guard asks again (and may run the tool) or waits.
      get: (approvalId, options) =>
        request<Approval>({
          method: 'GET',
          path: `/v1/approvals/${id(approvalId)}`,
          retry: true,
          gates: true,
          options,
        }),
      async wait(approvalId, options) {
        const total = options?.timeoutMs ?? 60_000;
        const until = performance.now() + total;
        for (;;) {
          const left = Math.max(0, Math.round(until - performance.now()));
          const slice = Math.min(left, LONG_POLL_SLICE_MS);
          const a = await request<Approval>({
            method: 'GET',
            path: `/v1/approvals/${id(approvalId)}`,
            ...(slice > 0 ? { query: { wait: `${slice}ms` } } : {}),
            retry: true,
            gates: true,
            options: {
              ...(options?.signal ? { signal: options.signal } : {}),
              timeoutMs: slice + defaultTimeout,
            },
          });
          if (a.status !== 'pending' || performance.now() >= until) return a;
        }
      },
      approve: (approvalId, vote, options) =>
        send<Approval>('POST', `/v1/approvals/${id(approvalId)}/approve`, vote ?? {}, options),
      deny: (approvalId, vote, options) =>
        send<Approval>('POST', `/v1/approvals/${id(approvalId)}/deny`, vote ?? {}, options),
    },

    grants: {
      create: (grant, options) => send<Grant>('POST', '/v1/grants', grant, options),
      list: async (filter, options) =>
        (await get<{ items: Grant[] }>('/v1/grants', options, { ...filter })).items,
      revoke: (grantId, options) =>
        send<{ revoked: string[] }>('DELETE', `/v1/grants/${id(grantId)}`, undefined, options),
    },

    audit: {
      query: (filter, options) => get<AuditPage>('/v1/audit', options, { ...filter }),
      verify: (options) => get<AuditVerifyResult>('/v1/audit/verify', options),
    },

    policies: {
      get: (options) => get<PolicySource & { version: string }>('/v1/policies', options),
      // Activating the same content again changes nothing, so a retry is safe.
      put: (source, options) =>
        send<{ version: string; changed: boolean }>('PUT', '/v1/policies', source, options, true),
      validate: (source, options) =>
        send<PolicyValidation>('POST', '/v1/policies/validate', source, options, true),
      versions: async (options) =>
        (await get<{ items: PolicyVersion[] }>('/v1/policies/versions', options)).items,
    },

    entities: {
      get: (options) => get<EntitiesDocument>('/v1/entities', options),
      // An upsert of the same document is the same state, so a retry is safe.
      put: (update, options) =>
        send<{ agents: number; users: number; resources: number }>(
          'PUT',
          '/v1/entities',
          update,
          options,
          true,
        ),
    },

    tools: {
      list: async (options) => (await get<{ items: Tool[] }>('/v1/tools', options)).items,
    },

    withApiKey: (apiKey) => createRemoteClient({ ...opts, apiKey }, shared),
    track: shared.track,
    close: shared.drain,
  };
  return client;
}

function parseJson<T>(text: string, status: number): T {
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new MandateApiError('invalid_response', `the answer (HTTP ${status}) is not JSON`, {
      status,
      cause,
    });
  }
}

/**
 * SECURITY: fail closed — an answer that decides whether a tool runs is taken only as Mandate sends
 * it: exactly 200, `application/json`, and no key named twice in any object. A 201/202 from a proxy
 * or a stub, a text/plain page that happens to parse, or `{"effect":"deny","effect":"allow"}` (which
 * `JSON.parse` reads as its last key: allow) is not Mandate's answer, and runs nothing.
 */
function gatingAnswer<T>(text: string, status: number, contentType: string | null): T {
  if (status !== 200)
    throw new MandateApiError(
      'invalid_response',
      `the answer is HTTP ${status}; Mandate answers this call with 200`,
      { status },
    );
  if (!isJsonType(contentType))
    throw new MandateApiError(
      'invalid_response',
      `the answer is ${contentType ? `of type ${contentType}` : 'untyped'}; Mandate answers application/json`,
      { status },
    );
  const parsed = parseJson<T>(text, status);
  if (hasDuplicateKeys(text))
    throw new MandateApiError('invalid_response', 'the answer names a key twice in one object', { status });
  return parsed;
}

/** `application/json`, with parameters or not (`; charset=utf-8`); no other JSON-ish type. */
function isJsonType(contentType: string | null): boolean {
  return contentType !== null && /^application\/json[ \t]*(;|$)/i.test(contentType.trim());
}

/** The error of a non-2xx answer: the server's code when it sent the one error shape, else `invalid_response`. */
function errorFromAnswer(text: string, status: number): MandateApiError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const e = (
    body as { error?: { code?: unknown; message?: unknown; requestId?: unknown; details?: unknown } }
  )?.error;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') {
    return new MandateApiError(e.code as SdkErrorCode, e.message, {
      status,
      ...(typeof e.requestId === 'string' ? { requestId: e.requestId } : {}),
      ...(e.details !== undefined ? { details: e.details } : {}),
    });
  }
  // A proxy's 502/503 page: retryable like the server's own 503, but not a Mandate answer.
  const code: SdkErrorCode =
    status === 429 ? 'rate_limited' : status >= 500 ? 'overloaded' : 'invalid_response';
  return new MandateApiError(code, `HTTP ${status} without a Mandate error body`, { status });
}

function retryAfter(header: string | null): number {
  if (!header || !/^\d{1,4}$/.test(header)) return 0;
  return Number(header) * 1000;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

import { randomBytes } from 'node:crypto';
import { MandateError, sha256Hex, type Clock } from '../kernel/index.js';
import { apiKeyDead, apiKeyHash, type KeyUsage } from '../keys/index.js';
import type { Caller } from '../decisions/index.js';
import type { Role, Store, UiSessionRecord } from '../storage/port.js';

/** Lifetimes of dashboard sessions (config `dashboard`). */
export interface SessionOptions {
  /** Idle lifetime of one session id; a rotation is due at half of it. */
  ttlSeconds: number;
  /** Absolute lifetime of a sign-in, across rotations. */
  maxSeconds: number;
  /** How long a rotated id keeps working (requests already in flight with it). */
  graceSeconds: number;
}

export interface SessionServiceDeps {
  store: Store;
  clock: Clock;
  /** Where uses of the key behind a session are reported (coalesced last-used). */
  usage?: KeyUsage;
  /**
   * Records a sign-in refused for a valid key (an agent key at the dashboard): the HTTP layer knows
   * no caller for it, since the key came in the body. Never throws.
   */
  refused?: (r: { code: 'forbidden'; reason: string; caller: Caller }) => Promise<void>;
}

/** Who a session speaks for: an API key's role and subject, or an OpenID Connect identity. */
export interface SessionPrincipal {
  keyId: string;
  role: Exclude<Role, 'agent'>;
  subject: string | null;
}

/** A session just made: `id` goes in the cookie and nowhere else (the store holds its hash). */
export interface OpenedSession {
  id: string;
  session: UiSessionRecord;
  /** The cookie's Max-Age: seconds until this id expires. */
  maxAgeSeconds: number;
}

/** A request's session: the caller it authenticates, and a successor id when a rotation was due. */
export interface ResolvedSession {
  caller: Caller;
  session: UiSessionRecord;
  rotated: OpenedSession | null;
}

export interface SessionService {
  /** Exchanges an API key of role user, approver or admin for a session; 401 bad key, 403 agent key. */
  signIn(secret: string): Promise<OpenedSession>;
  /** Opens a session for an identity already verified elsewhere (OpenID Connect). */
  open(principal: SessionPrincipal): Promise<OpenedSession>;
  /** The session of a cookie value; 401 when unknown, expired, replaced past its grace, or its key is dead. */
  resolve(id: string): Promise<ResolvedSession>;
  /** Like {@link resolve} but never rotates: for a long-lived request (a stream) checking it is still signed in. */
  check(id: string): Promise<void>;
  /** Ends the sign-in the id belongs to (every rotation of it); unknown ids are ignored. */
  logout(id: string): Promise<void>;
}

/** Prefix of the key id of sessions opened through OpenID Connect (no API key behind them). */
export const OIDC_KEY_PREFIX = 'oidc:';

const sessionHash = (id: string) => sha256Hex('mandate.session.v1\0' + id);
const token = () => randomBytes(32).toString('base64url');
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** Dashboard sessions (ADR 0022): short-lived, rotated, in the shared store, dead with their key. */
export function createSessionService(deps: SessionServiceDeps, options: SessionOptions): SessionService {
  const { store, clock } = deps;
  const iso = (ms: number) => new Date(ms).toISOString();
  const dead = () => new MandateError('unauthenticated', 'no valid dashboard session; sign in again');

  /** A new id for the sign-in `base` continues (or a new sign-in), issued now. */
  function issue(base: Omit<UiSessionRecord, 'idHash' | 'issuedAt' | 'expiresAt' | 'replacedUntil'>) {
    const now = clock.now();
    const id = token();
    const expires = Math.min(now + options.ttlSeconds * 1000, Date.parse(base.maxExpiresAt));
    const session: UiSessionRecord = {
      ...base,
      idHash: sessionHash(id),
      issuedAt: iso(now),
      expiresAt: iso(expires),
      replacedUntil: null,
    };
    return { id, session, maxAgeSeconds: Math.max(0, Math.floor((expires - now) / 1000)) };
  }

  async function open(principal: SessionPrincipal): Promise<OpenedSession> {
    const now = clock.now();
    // Dead sessions go when new ones come: the table stays the size of the live ones.
    await store.purgeUiSessions(iso(now));
    const opened = issue({
      ...principal,
      family: token(),
      csrfToken: token(),
      maxExpiresAt: iso(now + options.maxSeconds * 1000),
    });
    await store.createUiSession(opened.session);
    return opened;
  }

  return {
    async signIn(secret) {
      if (typeof secret !== 'string' || secret.length === 0 || secret.length > 512)
        throw new MandateError('unauthenticated', 'invalid API key');
      const key = await store.findApiKeyByHash(apiKeyHash(secret));
      // SECURITY: fail closed — unknown, revoked and expired keys get the same 401.
      if (!key || apiKeyDead(key, clock.now())) throw new MandateError('unauthenticated', 'invalid API key');
      // SECURITY: an agent never holds a browser session; agents call the API with their key.
      if (key.role === 'agent') {
        const reason = 'agent keys cannot sign in to the dashboard; use a user, approver or admin key';
        // An agent's key tried at the dashboard is what the refusal records are for (ADR 0018).
        await deps.refused?.({
          code: 'forbidden',
          reason,
          caller: { role: key.role, subject: key.subject, keyId: key.id },
        });
        throw new MandateError('forbidden', reason);
      }
      deps.usage?.used(key.id);
      return open({ keyId: key.id, role: key.role, subject: key.subject });
    },

    open,

    async resolve(id) {
      const session = await live(id);
      const now = clock.now();
      let rotated: OpenedSession | null = null;
      if (
        session.replacedUntil === null &&
        now - Date.parse(session.issuedAt) > (options.ttlSeconds * 1000) / 2
      ) {
        const { idHash: _h, issuedAt: _i, expiresAt: _e, replacedUntil: _r, ...base } = session;
        const next = issue(base);
        // Another request may have rotated it a moment ago: that one's cookie wins, this id lives out its grace.
        if (await store.rotateUiSession(session.idHash, iso(now + options.graceSeconds * 1000), next.session))
          rotated = next;
      }
      return {
        caller: { role: session.role, subject: session.subject, keyId: session.keyId, viaSession: true },
        session,
        rotated,
      };
    },

    async check(id) {
      await live(id);
    },

    async logout(id) {
      if (!SESSION_ID.test(id)) return;
      const session = await store.getUiSession(sessionHash(id));
      if (session) await store.deleteUiSessionFamily(session.family);
    },
  };

  /** The session of an id if it is alive now and its key too; 401 otherwise. */
  async function live(id: string): Promise<UiSessionRecord> {
    if (!SESSION_ID.test(id)) throw dead();
    const session = await store.getUiSession(sessionHash(id));
    const now = clock.now();
    // SECURITY: fail closed — expiries that do not parse are expired.
    const before = (t: string | null) => t !== null && !(Date.parse(t) > now);
    if (
      !session ||
      before(session.expiresAt) ||
      before(session.maxExpiresAt) ||
      before(session.replacedUntil)
    )
      throw dead();
    if (!session.keyId.startsWith(OIDC_KEY_PREFIX)) {
      // SECURITY: the key behind the session is read on every request, like a bearer key: a
      // revocation or an expiry ends its sessions on every node at the next request.
      const key = await store.getApiKey(session.keyId);
      if (!key || apiKeyDead(key, now) || key.role === 'agent') {
        await store.deleteUiSessionFamily(session.family);
        throw dead();
      }
      deps.usage?.used(key.id);
    }
    return session;
  }
}

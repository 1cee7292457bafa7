import type {
  Agent,
  ApprovalStatus,
  AuditCheckpoint,
  AuditEvent,
  EntitiesDocument,
  Resource,
  Tool,
  User,
} from '@mandate/protocol';
import { MandateError } from '../kernel/index.js';

/** Who a credential speaks for. */
export type Role = 'agent' | 'user' | 'approver' | 'admin';

export interface ApiKeyRecord {
  id: string;
  /** sha256 hex of the secret; the secret itself is never stored. */
  hash: string;
  role: Role;
  /** The agent id (role agent) or user id (roles user, approver) the key authenticates as. */
  subject: string | null;
  name: string;
  createdAt: string;
  revokedAt: string | null;
  /** After this time the key is refused (401), like a revoked one; null: no expiry. */
  expiresAt: string | null;
  /** When the key last authenticated a request, coalesced (at most one write a minute per key and node). */
  lastUsedAt: string | null;
  /** Where it was made: `config` keys are revoked at start once the config no longer lists them. */
  origin: ApiKeyOrigin;
}

/** Where an API key came from. */
export type ApiKeyOrigin = 'config' | 'cli' | 'api';

/** A policy set as stored: the `*.cedar` files by name plus the Cedar schema text. */
export interface StoredPolicySet {
  /** `sha256:<hex>` over the canonical set (see policy/version.ts). */
  version: string;
  policies: Record<string, string>;
  schema: string;
  createdAt: string;
  /** Free-form origin, e.g. the directory it was loaded from. */
  source: string;
}

/** The candidate policy set evaluated beside the active one (issue 14 §1). */
export interface ShadowPolicyRef {
  version: string;
  setAt: string;
}

export interface PolicySetSummary {
  version: string;
  createdAt: string;
  source: string;
  active: boolean;
  activatedAt: string | null;
}

export interface ApprovalVote {
  approver: string;
  verdict: 'approve' | 'deny';
  comment: string | null;
  at: string;
  /** base64 Ed25519 signature of the call hash by the approver's registered key, when given. */
  signature: string | null;
}

/** A pending human sign-off bound to one exact call. */
export interface ApprovalRecord {
  id: string;
  /** sha256 over canonical {agent, user, action, args, resource, policyVersion}. */
  callHash: string;
  decisionId: string;
  agent: string;
  user: string | null;
  action: string;
  resource: string | null;
  policyVersion: string;
  role: string;
  quorum: number;
  /** Rendered from the real args by the runtime, never from the agent's narration. */
  summary: string;
  /** Redacted args, for the approver's screen. */
  args: Record<string, unknown>;
  status: ApprovalStatus;
  requestedAt: string;
  expiresAt: string;
  votes: ApprovalVote[];
  resolvedAt: string | null;
  consumedAt: string | null;
  consumedBy: string | null;
  /**
   * The pinned definition hash of the MCP upstream tool behind the action when the approval was
   * requested (also covered by `callHash`); null for an action that is no upstream tool.
   */
  toolHash: string | null;
  /**
   * The policy whose `@approval` asked for this approval, with its `@reason` (null when it has
   * none) — of several that applied (one role), the one whose quorum it carries, the highest; null
   * for approvals requested before migration 062.
   */
  policy: { id: string; reason: string | null } | null;
  /**
   * Shown, never stored (set when the approval is read): the approvers of a pending or approved
   * approval whose approving vote no longer counts — no longer active, or no longer holding the
   * role it is routed to. An approved one whose remaining votes fall short of the quorum is
   * refused `approval_voided` when used.
   */
  lapsedVotes?: string[];
}

export interface ApprovalFilter {
  status?: ApprovalStatus;
  roles?: string[];
  agent?: string;
  /** Only approvals of calls made on this user's behalf. */
  user?: string;
  /** Cursor: only approvals older (requested before, in store order) than the approval with this id. */
  before?: string;
  limit?: number;
}

/** A limit on one arg of the granted calls, e.g. `{ arg: "amount", op: "<=", value: 200 }`. */
export interface GrantLimit {
  /** The action (or `namespace.*`) the limit applies to; absent means every granted action. */
  action?: string;
  arg: string;
  op: '<=' | '<' | '>=' | '>' | '==' | '!=';
  value: number | string | boolean;
}

/** A user's delegation to an agent. */
export interface GrantRecord {
  id: string;
  user: string;
  agent: string;
  /** Action names or `namespace.*`. */
  actions: string[];
  /** Resource ids (`Type::id`) the grant is narrowed to; empty means any. */
  resources: string[];
  /** Resource attribute constraints, e.g. `{ tenant: "$user.tenant" }`. */
  resourceAttributes: Record<string, string>;
  limits: GrantLimit[];
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  /** The grant this one was attenuated from (sub-agent delegation), or null for a user's own grant. */
  parentId: string | null;
  /** Who created it: `user:<id>` or `admin:<keyId>`. */
  createdBy: string;
}

export interface GrantFilter {
  user?: string;
  agent?: string;
  includeRevoked?: boolean;
}

/** A pinned MCP tool definition (rug-pull and poisoning defence): hash of description + schema + annotations. */
export interface ToolPin {
  /** Upstream server name from config. */
  server: string;
  /** The tool's name on the upstream. */
  tool: string;
  /** `sha256:<hex>` of the canonical definition. */
  hash: string;
  /** The full definition as last seen (name, description, inputSchema, annotations …). */
  definition: Record<string, unknown>;
  /** approved: visible and callable; quarantined: hidden and denied until an admin approves this hash. */
  status: 'approved' | 'quarantined';
  firstSeenAt: string;
  updatedAt: string;
  /** `admin:<keyId>`, `tofu` (trust on first use) or null while quarantined. */
  approvedBy: string | null;
  /**
   * The hash and definition last approved (by an admin or on first use), kept while a changed
   * definition is quarantined so the change can be reviewed; null when none was ever approved.
   */
  approvedHash: string | null;
  approvedDefinition: Record<string, unknown> | null;
}

/**
 * A claimed idempotency key (decisions/idempotency.ts): the first request with this key in this
 * scope owns it; its answer is stored and replayed to retries of the same request until it expires.
 */
export interface IdempotencyRecord {
  /** Who may replay it: the caller's key id, prefixed by what it guards (e.g. `decision:key_x`). */
  scope: string;
  key: string;
  /** sha256 of the canonical request: a different request under the same key is refused. */
  fingerprint: string;
  /** The JSON text of the answer; null while the owner is still deciding. */
  response: string | null;
  createdAt: string;
  expiresAt: string;
}

/**
 * One step on a usage counter (usage/, ADR 0024): add `delta` to the counter of `name` for this
 * agent and user ('' when the counter is not kept per that) in the window starting at `windowStart`.
 */
export interface UsageCharge {
  name: string;
  agent: string;
  user: string;
  windowStart: string;
  windowEnd: string;
  delta: number;
}

/** A usage counter as stored: its value in one window. */
export interface UsageCounterRecord {
  name: string;
  agent: string;
  user: string;
  windowStart: string;
  windowEnd: string;
  value: number;
}

export interface UsageFilter {
  name?: string;
  agent?: string;
  user?: string;
  /** Only windows that end after this instant (ISO): the current ones. */
  activeAt?: string;
  limit?: number;
}

/**
 * Personal data a deployment keeps beside the audit chain, never in it (`audit.personal`, docs/audit.md
 * "Erasure"): keyed by the decision it belongs to, grouped by the pseudonymous id of its subject.
 */
export interface PersonalDataRecord {
  /** The decision id the hashed record names it by. */
  ref: string;
  /** `psn_…`, the keyed digest of the user id. */
  subject: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/**
 * How far one audit sink has delivered: the last sequence number its receiver acknowledged, and
 * that record's hash. The hash is what tells the reader the chain was rewritten at or below `seq`
 * (a tail deleted, a backup restored): the next record must link to it (docs/streaming.md
 * "Cursors and a rewritten chain"). Null for a cursor saved before migration 097 until its next
 * advance.
 */
export interface SinkCursor {
  sink: string;
  seq: number;
  hash: string | null;
  updatedAt: string;
}

/**
 * A dashboard session (`/v1/sessions`, ADR 0022). Stored by the hash of its id only: the id is the
 * cookie's value and never leaves the browser and the answer that set it.
 */
export interface UiSessionRecord {
  /** sha256 hex of the session id. */
  idHash: string;
  /** Every rotation of one sign-in shares it: a logout ends them all. */
  family: string;
  /** The API key it was opened with (checked on every request), or `oidc:<issuer>:<sub>`. */
  keyId: string;
  role: Role;
  subject: string | null;
  /** What state-changing requests must echo in `x-csrf-token`; the same across rotations. */
  csrfToken: string;
  /** When this id was issued: a rotation is due at half the idle TTL. */
  issuedAt: string;
  /** Idle expiry of this id. */
  expiresAt: string;
  /** Absolute expiry of the sign-in, carried over by rotations. */
  maxExpiresAt: string;
  /** Set once rotated: this id keeps working until then (requests already in flight), then dies. */
  replacedUntil: string | null;
}

/** The chain head: seq 0 and the genesis hash when the log is empty. */
export interface AuditHead {
  seq: number;
  hash: string;
}

/** A record as stored: the exact hashed text plus the columns kept for querying (checked by verify). */
export interface StoredAuditRecord {
  seq: number;
  prevHash: string;
  hash: string;
  /** Canonical JSON text of the AuditEvent, exactly as hashed. */
  eventText: string;
  columns: {
    type: string;
    time: string;
    agent: string | null;
    user: string | null;
    action: string | null;
    effect: string | null;
    decisionId: string | null;
  };
  /**
   * The writer's seal, on the last record of each batch it appended (absent on the others, and on
   * records written before seals existed): `<firstSeq>:<hmac>`, ADR 0038. Not part of the hash.
   */
  seal?: string;
}

export interface AuditFilter {
  agent?: string;
  user?: string;
  action?: string;
  effect?: string;
  type?: string;
  decisionId?: string;
  /** ISO times, inclusive. */
  from?: string;
  to?: string;
  /** Cursor: only records with seq greater than this. */
  afterSeq?: number;
  /** Cursor for newest-first pages: only records with seq less than this. */
  beforeSeq?: number;
  /** `desc`: newest first (the last `limit` records); ascending by seq otherwise. */
  order?: 'asc' | 'desc';
  limit: number;
}

/**
 * Which signed checkpoints `listCheckpoints` returns: those whose seq is within the bounds
 * (inclusive) and, when given, signed with `keyId`, in the order they were written (`desc`: newest first), at most `limit`.
 */
export interface CheckpointRange {
  fromSeq?: number;
  toSeq?: number;
  /** Only those signed with this key (a node's own, ADR 0035). */
  keyId?: string;
  order?: 'asc' | 'desc';
  limit?: number;
}

/** Turns events into chained records given the head; called by the store inside its write transaction. */
export type AuditSealer = (head: AuditHead, events: readonly AuditEvent[]) => StoredAuditRecord[];

/**
 * Why a driver answered `store_unavailable`, carried in the error's `details.reason` (and in
 * `/readyz`): `locked` — another process held the write lock past the driver's wait budget;
 * `full` — no room for the write (disk full, SQLite's page cap, PostgreSQL `disk_full`);
 * `closed` — the store was closed; `unreachable` — anything else (connection lost or refused,
 * file unreadable).
 */
export type StoreUnavailableReason = 'locked' | 'full' | 'closed' | 'unreachable' | 'corrupt';

/** What {@link Store.walCheckpointStats} reports. */
export interface WalCheckpointStats {
  /** Checkpoints the worker completed. */
  checkpoints: number;
  /** Of those, the ones that restarted the WAL (so it is written from its start again). */
  restarts: number;
  /** WAL frames after the last checkpoint, as SQLite reported them. */
  walFrames: number;
  /** True once the worker failed and SQLite checkpoints inside its commits again. */
  fellBack: boolean;
}

/**
 * The one storage port. Every driver (memory, SQLite, PostgreSQL) passes `storage/contract`.
 * Methods are async so that network drivers fit; a driver fails with `MandateError('store_unavailable')`
 * (its `details.reason` a {@link StoreUnavailableReason}) when its database cannot be reached, is
 * locked past the driver's wait or is full — never with a driver-specific error, and never by
 * blocking the event loop while it waits. A failed write wrote nothing, except that a commit whose
 * answer was lost with the connection may have landed: callers treat the failure as "not known to
 * be written" (an audit append that failed rejects its decision).
 */
/** What one read of the cache epoch finds: the counter, and the active policy set's version. */
export interface CacheEpoch {
  n: number;
  policyVersion: string | null;
}

export interface Store {
  readonly kind: 'memory' | 'sqlite' | 'postgres';
  /** Apply pending forward-only migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /**
   * Resolves when the store can serve reads and writes now; rejects with `store_unavailable` and a
   * reason otherwise (SQLite: also when another process holds the write lock or the file is full).
   * Bounded: it answers within a fraction of a second and never blocks the event loop.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * The cache epoch (ADR 0026): `n` changes, in the writer's own transaction, whenever a row of
   * agents, users, resources, grants or API keys changes — by any node or by hand. A value read
   * after the epoch was read is current at least as of that epoch. `policyVersion` is the active
   * policy set's version as of the same read (as {@link Store.getActivePolicyVersion}): the hot
   * path's check that no other node has activated another set (DESIGN.md, Storage).
   */
  cacheEpoch(): Promise<CacheEpoch>;
  /**
   * The deployment's secret named `name`, shared by every node on this store: the value stored
   * under it, after storing `candidate` if there was none (the first node to ask wins, at once on
   * every node). Never in the audit trail or any API answer. Today: `approval-binding`, the key of
   * the exact-call hash an approval is bound to.
   */
  ensureSecret(name: string, candidate: string): Promise<string>;

  getAgent(id: string): Promise<Agent | null>;
  getUser(id: string): Promise<User | null>;
  getResource(type: string, id: string): Promise<Resource | null>;
  /**
   * Upserts every entity in the document, in one transaction. `check`, when given, is called in
   * that transaction, before anything is written, with the agent and user ids stored then (no
   * other writer of entities in between); what it throws aborts the write and is the rejection.
   */
  putEntities(doc: EntitiesDocument, check?: StoredIdsCheck): Promise<void>;
  /**
   * Sets one agent's status and nothing else, in one statement; returns the agent as it now
   * stands, or null when there is none. SECURITY: suspend and resume read the agent and wrote the
   * whole record back, so a role removed between the two came back with a resume (a probe).
   */
  setAgentStatus(id: string, status: Agent['status']): Promise<Agent | null>;
  /**
   * Inserts, in one transaction, the entities of the document the store does not hold yet (by id;
   * resources by type and id) and leaves every existing one as it is. Returns those inserted.
   * Seeding from a file uses it: the store stays the source of truth for what it holds.
   */
  insertMissingEntities(doc: EntitiesDocument): Promise<EntitiesDocument>;
  listEntities(): Promise<EntitiesDocument>;

  /** Replaces the tool registry, in one transaction. */
  putTools(tools: Tool[]): Promise<void>;
  listTools(): Promise<Tool[]>;

  /** Idempotent by version. */
  savePolicySet(set: StoredPolicySet): Promise<void>;
  /**
   * Points `active` at a saved version, atomically. Resolves true when it did, false — writing
   * nothing — when that version already is the active one (two nodes activating the same set at
   * once: one activation). Throws not_found for an unknown version. With `expected` (the version
   * the caller checked was active; null: none), another active version is `conflict`, decided
   * inside the same atomic step: two nodes that both checked the same active version cannot both
   * replace it (the second would silently undo the first).
   */
  activatePolicySet(version: string, at: string, expected?: string | null): Promise<boolean>;
  getActivePolicySet(): Promise<StoredPolicySet | null>;
  /** Just the active version: cheap enough to poll so every node notices an activation elsewhere. */
  getActivePolicyVersion(): Promise<string | null>;
  /**
   * Optional push: calls `onActivated` when any node activates a policy set (PostgreSQL
   * LISTEN/NOTIFY). Best effort — callers keep polling `getActivePolicyVersion` as the backstop.
   * Resolves to an unsubscribe function.
   */
  watchPolicyActivations?(onActivated: (version: string) => void): Promise<() => Promise<void>>;
  /**
   * SQLite only: the counters of the worker thread that checkpoints the WAL (docs/adr/0031), or
   * null when SQLite checkpoints inside its commits (no WAL file, or `checkpoints: 'inline'`).
   */
  walCheckpointStats?(): WalCheckpointStats | null;
  getPolicySet(version: string): Promise<StoredPolicySet | null>;
  /** Newest first. */
  listPolicySets(): Promise<PolicySetSummary[]>;
  /**
   * Points the shadow at a saved version (or clears it with null), atomically; every node
   * evaluates live decisions against it too (PostgreSQL notifies the activation listeners).
   * Throws not_found for an unknown version.
   */
  setShadowPolicy(version: string | null, at: string): Promise<void>;
  /** The shadow version and when it was set, or null: cheap enough to poll. */
  getShadowPolicy(): Promise<ShadowPolicyRef | null>;

  putApiKey(key: ApiKeyRecord): Promise<void>;
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  /** Oldest first. */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  /** Sets `revokedAt` if the key is not revoked yet; false when it was already revoked or is unknown. */
  revokeApiKey(id: string, at: string): Promise<boolean>;
  /** Moves `lastUsedAt` forward to `at` (never back); touches nothing else. */
  touchApiKey(id: string, at: string): Promise<void>;

  /**
   * Stores an approval. With `cap` (a new request), SECURITY: only while the agent has fewer than
   * `cap.perAgentUser` pending approvals for the approval's user and fewer than `cap.perAgent` in
   * all, counted as {@link countPendingApprovals} counts them at the approval's `requestedAt` —
   * counted and inserted atomically, on every node (else {@link approvalBacklog}, 429): checked
   * first and inserted after, 60 concurrent calls with a bound of 20 left 54 pending (a probe).
   * Without `cap` it is stored as given (copies of a store, tests).
   *
   * With `cap`, also SECURITY: when the agent already has a pending approval with the same
   * `callHash`, not expired at the approval's `requestedAt`, that one is returned and nothing is
   * stored — looked up in the same atomic step, so identical calls on several nodes at once open
   * one request to a human, not one each. Otherwise returns `approval` as stored.
   */
  createApproval(approval: ApprovalRecord, cap?: PendingCap): Promise<ApprovalRecord>;
  getApproval(id: string): Promise<ApprovalRecord | null>;
  /** Newest first. */
  listApprovals(filter: ApprovalFilter): Promise<ApprovalRecord[]>;
  /**
   * Pending approvals of `agent` that have not expired at `now` (`expiresAt > now`); with `user`,
   * only those of the agent acting for that user (null: acting for no user). An approval past its
   * expiry keeps status `pending` until it is next read: counted, it refused every new call of the
   * agent for its users until someone listed the approvals (a probe).
   */
  countPendingApprovals(q: { agent: string; user?: string | null; now: string }): Promise<number>;
  /**
   * Compare-and-set: writes `next` only if the stored status is still `expectedStatus` and the stored
   * vote count is still `expectedVotes`. Returns false when another writer got there first. This is
   * what makes consuming an approval single-use under concurrency.
   */
  updateApproval(
    next: ApprovalRecord,
    expectedStatus: ApprovalStatus,
    expectedVotes: number,
  ): Promise<boolean>;

  /**
   * Stores a grant. SECURITY: a live grant under a parent is stored only if no grant up its chain
   * is revoked, atomically with the insert — a revocation of its parent commits either before it
   * (refused: {@link grantChainRevoked}) or after it (and revokes it too). A revoked grant is
   * stored as given (copies of a store), and so is one whose parent is not in the store.
   */
  createGrant(grant: GrantRecord): Promise<void>;
  getGrant(id: string): Promise<GrantRecord | null>;
  /** Newest first. */
  listGrants(filter: GrantFilter): Promise<GrantRecord[]>;
  /** Revokes the grant and every grant attenuated from it (transitively). Returns the ids revoked. */
  revokeGrant(id: string, at: string): Promise<string[]>;

  /** Inserts or replaces the pin of (server, tool). */
  putToolPin(pin: ToolPin): Promise<void>;
  getToolPin(server: string, tool: string): Promise<ToolPin | null>;
  /** Sorted by server then tool. */
  listToolPins(server?: string): Promise<ToolPin[]>;

  /**
   * Claims `(scope, key)` atomically, also against other nodes: inserts `claim` (response null)
   * unless a record that has not expired at `now` exists, which is returned instead; null means
   * the caller owns the key now. An expired record is replaced, and so is one still in progress
   * (response null) created at or before `abandonedBefore`: its request never finished (the node
   * that claimed it stopped mid-request).
   */
  claimIdempotencyKey(
    claim: IdempotencyRecord,
    now: string,
    abandonedBefore: string,
  ): Promise<IdempotencyRecord | null>;
  /** Stores the answer of an owned claim (the one with this fingerprint and no answer yet). */
  completeIdempotencyKey(scope: string, key: string, fingerprint: string, response: string): Promise<void>;
  /** Drops an owned claim that got no answer (its request failed before anything was recorded). */
  releaseIdempotencyKey(scope: string, key: string, fingerprint: string): Promise<void>;
  /** Deletes the records expired at `now`; returns how many. */
  purgeIdempotencyKeys(now: string): Promise<number>;

  /**
   * Adds every charge to its counter (created at 0) in one atomic step, all or none, across
   * processes and nodes; returns each counter's value before its charge, in the order given.
   */
  chargeUsage(charges: readonly UsageCharge[]): Promise<number[]>;
  /** Counters by name, agent and user, newest window first. */
  listUsage(filter: UsageFilter): Promise<UsageCounterRecord[]>;

  /** Keeps one record of personal data (replaces one with the same ref). */
  putPersonalData(record: PersonalDataRecord): Promise<void>;
  /** The records of these refs that exist (an erased one is absent). */
  getPersonalData(refs: readonly string[]): Promise<PersonalDataRecord[]>;
  /** Deletes every record of this subject; returns how many. */
  erasePersonalData(subject: string): Promise<number>;

  /**
   * Appends events as one batch in one durable transaction, serialised against every other writer
   * (also on other nodes): the sealer is called with the head read inside the transaction.
   */
  appendAudit(events: readonly AuditEvent[], seal: AuditSealer): Promise<StoredAuditRecord[]>;
  auditHead(): Promise<AuditHead>;
  /** Records in seq order starting after `afterSeq`, for verify and export. */
  readAudit(afterSeq: number, limit: number): Promise<StoredAuditRecord[]>;
  /** Filtered query in seq order. */
  queryAudit(filter: AuditFilter): Promise<StoredAuditRecord[]>;
  appendCheckpoint(cp: AuditCheckpoint): Promise<void>;
  /** Signed checkpoints in the order written; all of them without a range. */
  listCheckpoints(range?: CheckpointRange): Promise<AuditCheckpoint[]>;

  /** The delivery cursor of one audit sink, or null before its first acknowledged batch. */
  getSinkCursor(sink: string): Promise<SinkCursor | null>;
  /**
   * Moves a sink's cursor forward to `seq`, the hash of that record with it (never back: a lower
   * or equal seq leaves the cursor as it is, hash included).
   */
  advanceSinkCursor(sink: string, seq: number, at: string, hash?: string | null): Promise<void>;
  /**
   * Compare-and-set move of a sink's cursor to `to`, back as well as forward: only when the stored
   * cursor still is `expected` (seq and hash, a null hash matching a null one). False when it is
   * not, or there is no cursor: another node moved it since the caller read it. For a reader that
   * found the chain rewritten at or below its cursor (sinks/runner.ts).
   */
  rewindSinkCursor(
    sink: string,
    to: { seq: number; hash: string },
    at: string,
    expected: { seq: number; hash: string | null },
  ): Promise<boolean>;
  /** Every sink cursor, sorted by sink name. */
  listSinkCursors(): Promise<SinkCursor[]>;

  createUiSession(session: UiSessionRecord): Promise<void>;
  getUiSession(idHash: string): Promise<UiSessionRecord | null>;
  /**
   * Compare-and-set rotation: marks `idHash` replaced (alive until `replacedUntil`) and inserts
   * `next`, in one transaction, only if `idHash` exists and was not replaced yet; false otherwise
   * (another request rotated it first).
   */
  rotateUiSession(idHash: string, replacedUntil: string, next: UiSessionRecord): Promise<boolean>;
  /** Ends every session of a sign-in (logout); returns how many ids were deleted. */
  deleteUiSessionFamily(family: string): Promise<number>;
  /** Deletes the sessions dead at `now` (idle or absolute expiry, or replaced past the grace); returns how many. */
  purgeUiSessions(now: string): Promise<number>;
}

/** The bounds on an agent's pending approvals (`approvals.maxPendingPerAgentUser`, `…PerAgent`). */
export interface PendingCap {
  /** Pending approvals one agent may have for one user (or for no user). */
  perAgentUser: number;
  /** Pending approvals one agent may have in all. */
  perAgent: number;
}

/**
 * The refusal of `createApproval` past a {@link PendingCap} bound (`approval_backlog`, 429); the
 * per-user bound is checked first, so one user's backlog is named as theirs.
 */
export function approvalBacklog(
  a: ApprovalRecord,
  bound: 'perAgentUser' | 'perAgent',
  cap: PendingCap,
): MandateError {
  return new MandateError(
    'approval_backlog',
    bound === 'perAgentUser'
      ? `agent ${a.agent} already has ${cap.perAgentUser} approvals waiting for user ${a.user}; wait for them to be resolved`
      : `agent ${a.agent} already has ${cap.perAgent} approvals waiting; wait for them to be resolved`,
  );
}

/** Which bound of `cap` an approval for (agent, user) would pass, given the pending counts now; null: none. */
export function pendingBoundReached(
  cap: PendingCap,
  forUser: number,
  forAgent: number,
): 'perAgentUser' | 'perAgent' | null {
  if (forUser >= cap.perAgentUser) return 'perAgentUser';
  if (forAgent >= cap.perAgent) return 'perAgent';
  return null;
}

/** The refusal of `createGrant` for a live grant whose chain holds a revoked grant (`grant_revoked`, 403). */
export function grantChainRevoked(grant: GrantRecord, revokedId: string): MandateError {
  return new MandateError(
    'grant_revoked',
    revokedId === grant.parentId
      ? `parent grant ${revokedId} was revoked: nothing is passed on from it`
      : `grant ${revokedId} up the chain of parent grant ${grant.parentId} was revoked: nothing is passed on from it`,
  );
}

export const GENESIS_HASH = '0'.repeat(64);

/** The audit trail's part of the store (records, signed checkpoints, sink cursors), as the SQL drivers split it. */
export type AuditMethods = Pick<
  Store,
  | 'getSinkCursor'
  | 'advanceSinkCursor'
  | 'rewindSinkCursor'
  | 'listSinkCursors'
  | 'appendAudit'
  | 'auditHead'
  | 'readAudit'
  | 'queryAudit'
  | 'appendCheckpoint'
  | 'listCheckpoints'
>;

/** A check of a document against the agent and user ids stored (Store.putEntities). */
export type StoredIdsCheck = (stored: { agents: readonly string[]; users: readonly string[] }) => void;

/** The entities part of the store (agents, users, resources), as the SQL drivers split it. */
export type EntityMethods = Pick<
  Store,
  | 'getAgent'
  | 'getUser'
  | 'getResource'
  | 'putEntities'
  | 'setAgentStatus'
  | 'insertMissingEntities'
  | 'listEntities'
>;

/** The consent part of the store (approvals and grants), as the SQL drivers split it. */
export type ConsentMethods = Pick<
  Store,
  | 'createApproval'
  | 'getApproval'
  | 'listApprovals'
  | 'countPendingApprovals'
  | 'updateApproval'
  | 'createGrant'
  | 'getGrant'
  | 'listGrants'
  | 'revokeGrant'
>;

/** What {@link Store.activatePolicySet} throws when the active version is not the one expected. */
export function activationConflict(active: string | null, expected: string | null): MandateError {
  return new MandateError(
    'conflict',
    `the active policy set is ${String(active)}, not ${String(expected)}: another activation came first; nothing was activated`,
    { details: { activeVersion: active, expectedVersion: expected } },
  );
}

import type {
  Agent,
  AuditCheckpoint,
  AuditEvent,
  EntitiesDocument,
  Resource,
  Tool,
  User,
} from '@mandate/protocol';
import { MandateError } from '../../kernel/index.js';
import {
  GENESIS_HASH,
  approvalBacklog,
  grantChainRevoked,
  pendingBoundReached,
  type ApiKeyRecord,
  activationConflict,
  type ApprovalFilter,
  type ApprovalRecord,
  type AuditFilter,
  type AuditHead,
  type AuditSealer,
  type GrantFilter,
  type GrantRecord,
  type PolicySetSummary,
  type Store,
  type StoredAuditRecord,
  type StoredPolicySet,
  type ShadowPolicyRef,
  type SinkCursor,
  type ToolPin,
} from '../port.js';
import { checkpointsInRange, matchesAuditFilter } from '../audit-filter.js';
import { createMemoryIdempotency } from './idempotency.js';
import { createMemoryUiSessions } from './ui-sessions.js';
import { createMemoryUsage } from './usage.js';
import { createMemoryPersonal } from './personal.js';
import { storeUnavailable } from '../unavailable.js';

const clone = <T>(v: T): T => structuredClone(v);

/** The in-memory driver: the reference implementation of the port, for tests and `--store memory`. */
export function createMemoryStore(): Store {
  const agents = new Map<string, Agent>();
  const users = new Map<string, User>();
  const resources = new Map<string, Resource>();
  let tools: Tool[] = [];
  const policySets = new Map<string, StoredPolicySet>();
  const activations: { version: string; at: string }[] = [];
  let shadow: ShadowPolicyRef | null = null;
  const keys = new Map<string, ApiKeyRecord>();
  const approvals = new Map<string, ApprovalRecord>();
  const grants = new Map<string, GrantRecord>();
  const pins = new Map<string, ToolPin>();
  const sinkCursors = new Map<string, SinkCursor>();
  const audit: StoredAuditRecord[] = [];
  const checkpoints: AuditCheckpoint[] = [];
  let closed = false;
  /** Moves on every change to a cached table (ADR 0026), as the SQL drivers' triggers do. */
  let epoch = 0;
  let auditTail: Promise<unknown> = Promise.resolve();

  const open = () => {
    if (closed) throw storeUnavailable('closed', 'store is closed');
  };
  const activeVersion = () => activations.at(-1)?.version ?? null;
  const secrets = new Map<string, string>();
  /** Pending approvals of `agent` (for `user`, when given) not expired at `now` (ISO strings compare as times). */
  const countPending = (agent: string, now: string, user?: string | null) => {
    let n = 0;
    for (const a of approvals.values())
      if (
        a.agent === agent &&
        a.status === 'pending' &&
        a.expiresAt > now &&
        (user === undefined || a.user === user)
      )
        n++;
    return n;
  };

  return {
    kind: 'memory',
    async migrate() {
      open();
      return [];
    },
    async ping() {
      open();
    },
    async cacheEpoch() {
      open();
      return { n: epoch, policyVersion: activeVersion() };
    },
    async ensureSecret(name, candidate) {
      open();
      if (!secrets.has(name)) secrets.set(name, candidate);
      return secrets.get(name)!;
    },
    async close() {
      closed = true;
    },

    async getAgent(id) {
      open();
      const a = agents.get(id);
      return a ? clone(a) : null;
    },
    async getUser(id) {
      open();
      const u = users.get(id);
      return u ? clone(u) : null;
    },
    async getResource(type, id) {
      open();
      const r = resources.get(`${type}::${id}`);
      return r ? clone(r) : null;
    },
    async putEntities(doc: EntitiesDocument, check) {
      open();
      check?.({ agents: [...agents.keys()], users: [...users.keys()] });
      epoch++;
      for (const a of doc.agents) agents.set(a.id, clone(a));
      for (const u of doc.users) users.set(u.id, clone(u));
      for (const r of doc.resources) resources.set(`${r.type}::${r.id}`, clone(r));
    },
    async setAgentStatus(id, status) {
      open();
      const a = agents.get(id);
      if (!a) return null;
      epoch++;
      a.status = status;
      return clone(a);
    },
    async insertMissingEntities(doc: EntitiesDocument) {
      open();
      epoch++;
      const inserted: EntitiesDocument = { agents: [], users: [], resources: [] };
      for (const a of doc.agents)
        if (!agents.has(a.id)) {
          agents.set(a.id, clone(a));
          inserted.agents.push(clone(a));
        }
      for (const u of doc.users)
        if (!users.has(u.id)) {
          users.set(u.id, clone(u));
          inserted.users.push(clone(u));
        }
      for (const r of doc.resources)
        if (!resources.has(`${r.type}::${r.id}`)) {
          resources.set(`${r.type}::${r.id}`, clone(r));
          inserted.resources.push(clone(r));
        }
      return inserted;
    },
    async listEntities() {
      open();
      return clone({
        agents: [...agents.values()],
        users: [...users.values()],
        resources: [...resources.values()],
      });
    },

    async putTools(next) {
      open();
      tools = clone(next);
    },
    async listTools() {
      open();
      return clone(tools);
    },

    async savePolicySet(set) {
      open();
      if (!policySets.has(set.version)) policySets.set(set.version, clone(set));
    },
    async activatePolicySet(version, at, expected) {
      open();
      if (!policySets.has(version)) throw new MandateError('not_found', `no policy set ${version}`);
      const current = activeVersion();
      if (current === version) return false;
      if (expected !== undefined && current !== expected) throw activationConflict(current, expected);
      activations.push({ version, at });
      return true;
    },
    async getActivePolicyVersion() {
      open();
      return activeVersion();
    },
    async getActivePolicySet() {
      open();
      const v = activeVersion();
      return v ? clone(policySets.get(v)!) : null;
    },
    async getPolicySet(version) {
      open();
      const s = policySets.get(version);
      return s ? clone(s) : null;
    },
    async setShadowPolicy(version, at) {
      open();
      if (version !== null && !policySets.has(version))
        throw new MandateError('not_found', `no policy set ${version}`);
      shadow = version === null ? null : { version, setAt: at };
    },
    async getShadowPolicy() {
      open();
      return shadow ? { ...shadow } : null;
    },
    async listPolicySets() {
      open();
      const active = activeVersion();
      const out: PolicySetSummary[] = [...policySets.values()].map((s) => ({
        version: s.version,
        createdAt: s.createdAt,
        source: s.source,
        active: s.version === active,
        activatedAt: activations.filter((a) => a.version === s.version).at(-1)?.at ?? null,
      }));
      return out.reverse();
    },

    async putApiKey(key) {
      open();
      epoch++;
      keys.set(key.id, clone(key));
    },
    async findApiKeyByHash(hash) {
      open();
      for (const k of keys.values()) if (k.hash === hash) return clone(k);
      return null;
    },
    async listApiKeys() {
      open();
      return clone([...keys.values()]);
    },
    async getApiKey(id) {
      open();
      const k = keys.get(id);
      return k ? clone(k) : null;
    },
    async revokeApiKey(id, at) {
      open();
      epoch++;
      const k = keys.get(id);
      if (!k || k.revokedAt !== null) return false;
      k.revokedAt = at;
      return true;
    },
    async touchApiKey(id, at) {
      open();
      // A key's last use is not a change the read cache must see (migration 091).
      const k = keys.get(id);
      if (k && (k.lastUsedAt === null || k.lastUsedAt < at)) k.lastUsedAt = at;
    },

    async createApproval(a, cap) {
      open();
      if (approvals.has(a.id)) throw new MandateError('conflict', `approval ${a.id} exists`);
      // One process, no await between the count and the insert: no other request comes in between.
      if (cap) {
        const same = [...approvals.values()].find(
          (x) =>
            x.agent === a.agent &&
            x.callHash === a.callHash &&
            x.status === 'pending' &&
            x.expiresAt > a.requestedAt,
        );
        if (same) return clone(same);
        const bound = pendingBoundReached(
          cap,
          countPending(a.agent, a.requestedAt, a.user),
          countPending(a.agent, a.requestedAt),
        );
        if (bound) throw approvalBacklog(a, bound, cap);
      }
      approvals.set(a.id, clone(a));
      return clone(a);
    },
    async getApproval(id) {
      open();
      const a = approvals.get(id);
      return a ? clone(a) : null;
    },
    async listApprovals(filter: ApprovalFilter) {
      open();
      const all = [...approvals.values()];
      // An unknown cursor matches nothing rather than restarting from the newest.
      const end =
        filter.before === undefined
          ? all.length
          : Math.max(
              0,
              all.findIndex((a) => a.id === filter.before),
            );
      const out = all
        .slice(0, end)
        .filter(
          (a) =>
            (!filter.status || a.status === filter.status) &&
            (!filter.roles || filter.roles.includes(a.role)) &&
            (!filter.agent || a.agent === filter.agent) &&
            (!filter.user || a.user === filter.user),
        )
        .reverse();
      return clone(out.slice(0, filter.limit ?? 100));
    },
    async countPendingApprovals({ agent, user, now }) {
      open();
      return countPending(agent, now, user);
    },
    async updateApproval(next, expectedStatus, expectedVotes) {
      open();
      const cur = approvals.get(next.id);
      if (!cur || cur.status !== expectedStatus || cur.votes.length !== expectedVotes) return false;
      approvals.set(next.id, clone(next));
      return true;
    },

    async createGrant(g) {
      open();
      epoch++;
      if (grants.has(g.id)) throw new MandateError('conflict', `grant ${g.id} exists`);
      // One process, no await between the check and the insert: nothing revokes in between.
      if (g.revokedAt === null) {
        const seen = new Set<string>();
        for (let up = g.parentId ? grants.get(g.parentId) : undefined; up && !seen.has(up.id);) {
          if (up.revokedAt !== null) throw grantChainRevoked(g, up.id);
          seen.add(up.id);
          up = up.parentId ? grants.get(up.parentId) : undefined;
        }
      }
      grants.set(g.id, clone(g));
    },
    async getGrant(id) {
      open();
      const g = grants.get(id);
      return g ? clone(g) : null;
    },
    async listGrants(filter: GrantFilter) {
      open();
      return clone(
        [...grants.values()]
          .filter(
            (g) =>
              (!filter.user || g.user === filter.user) &&
              (!filter.agent || g.agent === filter.agent) &&
              (filter.includeRevoked || g.revokedAt === null),
          )
          .reverse(),
      );
    },
    async revokeGrant(id, at) {
      open();
      epoch++;
      if (!grants.has(id)) throw new MandateError('not_found', `no grant ${id}`);
      const revoked: string[] = [];
      const queue = [id];
      while (queue.length) {
        const gid = queue.shift()!;
        const g = grants.get(gid)!;
        if (g.revokedAt === null) {
          g.revokedAt = at;
          revoked.push(gid);
        }
        for (const child of grants.values()) if (child.parentId === gid) queue.push(child.id);
      }
      return revoked;
    },

    async putToolPin(pin) {
      open();
      pins.set(`${pin.server}\0${pin.tool}`, clone(pin));
    },
    async getToolPin(server, tool) {
      open();
      const p = pins.get(`${server}\0${tool}`);
      return p ? clone(p) : null;
    },
    async listToolPins(server) {
      open();
      return clone(
        [...pins.values()]
          .filter((p) => server === undefined || p.server === server)
          .sort((a, b) =>
            a.server === b.server ? (a.tool < b.tool ? -1 : 1) : a.server < b.server ? -1 : 1,
          ),
      );
    },

    ...createMemoryIdempotency(open),
    ...createMemoryUiSessions(open),
    ...createMemoryUsage(open),
    ...createMemoryPersonal(open),

    async getSinkCursor(sink) {
      open();
      const c = sinkCursors.get(sink);
      return c ? { ...c } : null;
    },
    async advanceSinkCursor(sink, seq, at, hash = null) {
      open();
      const c = sinkCursors.get(sink);
      if (!c || seq > c.seq) sinkCursors.set(sink, { sink, seq, hash, updatedAt: at });
    },
    async rewindSinkCursor(sink, to, at, expected) {
      open();
      const c = sinkCursors.get(sink);
      if (!c || c.seq !== expected.seq || c.hash !== expected.hash) return false;
      sinkCursors.set(sink, { sink, seq: to.seq, hash: to.hash, updatedAt: at });
      return true;
    },
    async listSinkCursors() {
      open();
      return [...sinkCursors.values()].sort((a, b) => (a.sink < b.sink ? -1 : 1)).map((c) => ({ ...c }));
    },

    appendAudit(events: readonly AuditEvent[], seal: AuditSealer) {
      // Serialise appends like a database transaction would.
      const run = auditTail.then(() => {
        open();
        const last = audit.at(-1);
        const head: AuditHead = last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
        const records = seal(head, events);
        audit.push(...records.map(clone));
        return records;
      });
      auditTail = run.catch(() => undefined);
      return run;
    },
    async auditHead() {
      open();
      const last = audit.at(-1);
      return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
    },
    async readAudit(afterSeq, limit) {
      open();
      return clone(audit.filter((r) => r.seq > afterSeq).slice(0, limit));
    },
    async queryAudit(filter: AuditFilter) {
      open();
      // Records are numbered from 1, as the SQL drivers read them.
      const found = audit.filter((r) => r.seq >= 1 && matchesAuditFilter(r, filter));
      if (filter.order === 'desc') found.reverse();
      return clone(found.slice(0, filter.limit));
    },
    async appendCheckpoint(cp) {
      open();
      checkpoints.push(clone(cp));
    },
    async listCheckpoints(range = {}) {
      open();
      return clone(checkpointsInRange(checkpoints, range));
    },
  };
}

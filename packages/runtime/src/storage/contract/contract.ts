import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Agent, AuditCheckpoint, AuditEvent, Resource, Tool, User } from '@mandate/protocol';
import {
  GENESIS_HASH,
  type ApprovalRecord,
  type AuditHead,
  type AuditSealer,
  type GrantRecord,
  type Store,
  type StoredAuditRecord,
  type StoredPolicySet,
  type ToolPin,
} from '../port.js';
import { describeIdempotencyContract } from './idempotency.js';
import { apiKey, describeApiKeyContract } from './keys.js';
import { describeUiSessionContract, uiSession } from './ui-sessions.js';
import { describeUsageContract, usageCharge } from './usage.js';
import { describePersonalContract } from './personal.js';
import { MandateError } from '../../kernel/index.js';
import { unavailableReason } from '../unavailable.js';

/*
 * The one storage contract (STYLE.md: "one port, one contract suite"). Every driver runs it via
 * test/storage/contract.test.ts. When a driver bug is found, add the case here so all drivers
 * are held to it. The memory driver is the reference: a case it fails is a bug in the case or
 * in the port, not something to special-case per driver.
 */

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** A minimal sealer: hash = sha256(prevHash ‖ eventText), columns copied from the event. */
export const testSealer: AuditSealer = (head, events) => {
  let { seq, hash } = head;
  return events.map((e): StoredAuditRecord => {
    const eventText = JSON.stringify(e);
    const next = sha256(hash + eventText);
    const r: StoredAuditRecord = {
      seq: seq + 1,
      prevHash: hash,
      hash: next,
      eventText,
      columns: {
        type: e.type,
        time: e.time,
        agent: e.agent ?? null,
        user: e.user ?? null,
        action: e.action ?? null,
        effect: e.effect ?? null,
        decisionId: e.decisionId ?? null,
      },
    };
    seq = r.seq;
    hash = next;
    return r;
  });
};

/** Checks records form one gapless chain from `from` (used by driver-specific tests too). */
export function expectChain(
  records: readonly StoredAuditRecord[],
  from: AuditHead = { seq: 0, hash: GENESIS_HASH },
): void {
  let { seq, hash } = from;
  for (const r of records) {
    expect(r.seq).toBe(seq + 1);
    expect(r.prevHash).toBe(hash);
    expect(r.hash).toBe(sha256(r.prevHash + r.eventText));
    seq = r.seq;
    hash = r.hash;
  }
}

/** An audit event; `n` keeps texts distinct. */
export function auditEvent(n: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    type: 'decision',
    time: `2025-01-01T00:00:${String(n % 60).padStart(2, '0')}.000Z`,
    nodeId: 'node-1',
    decisionId: `dec_${n}`,
    agent: 'agent-a',
    user: 'user-1',
    action: 'payments.refund',
    effect: 'allow',
    data: { n },
    ...over,
  };
}

const agentA: Agent = {
  id: 'agent-a',
  roles: ['support'],
  owner: 'team-x',
  status: 'active',
  attributes: { tier: 2, tags: ['x'] },
  parent: 'agent-root',
};
const agentB: Agent = { id: 'agent-b', roles: [], status: 'suspended', attributes: {} };
const user1: User = {
  id: 'user-1',
  roles: ['customer'],
  status: 'active',
  attributes: { tenant: 't1', nested: { deep: [1, null, 'z'] } },
};
const resC: Resource = { type: 'Customer', id: 'c-1', attributes: { tenant: 't1' }, tags: ['vip'] };
const resO: Resource = { type: 'Order', id: 'c-1', attributes: {}, tags: [] };

const tool = (action: string, over: Partial<Tool> = {}): Tool => ({
  action,
  description: `does ${action}`,
  inputSchema: { type: 'object', properties: { amount: { type: 'number' } } },
  risk: 'medium',
  redact: [],
  ...over,
});

const policySet = (version: string, source = 'dir-a'): StoredPolicySet => ({
  version,
  policies: {
    'main.cedar': `permit(principal, action, resource); // ${version}`,
    'extra.cedar': 'forbid(principal, action, resource) when { false };',
  },
  schema: 'entity Agent;',
  createdAt: '2025-01-01T00:00:00.000Z',
  source,
});

/** An approval record for store tests: pending, quorum 2; `over` replaces any field. */
export const approval = (id: string, over: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  id,
  callHash: sha256(`call-${id}`),
  decisionId: `dec_${id}`,
  agent: 'agent-a',
  user: 'user-1',
  action: 'payments.refund',
  resource: 'Customer::c-1',
  policyVersion: 'sha256:abc',
  role: 'finance',
  quorum: 2,
  summary: 'Refund 120 to c-1',
  args: { amount: 120, customerId: 'c-1', note: { z: 1, a: [true, null] } },
  status: 'pending',
  requestedAt: '2025-01-01T00:00:00.000Z',
  expiresAt: '2025-01-01T01:00:00.000Z',
  votes: [],
  resolvedAt: null,
  consumedAt: null,
  consumedBy: null,
  toolHash: null,
  policy: null,
  ...over,
});

const grant = (id: string, over: Partial<GrantRecord> = {}): GrantRecord => ({
  id,
  user: 'user-1',
  agent: 'agent-a',
  actions: ['payments.*'],
  resources: ['Customer::c-1'],
  resourceAttributes: { tenant: '$user.tenant' },
  limits: [
    { arg: 'amount', op: '<=', value: 200 },
    { action: 'payments.refund', arg: 'currency', op: '==', value: 'EUR' },
  ],
  createdAt: '2025-01-01T00:00:00.000Z',
  expiresAt: '2025-02-01T00:00:00.000Z',
  revokedAt: null,
  parentId: null,
  createdBy: 'user:user-1',
  ...over,
});

const checkpoint = (seq: number, hash: string): AuditCheckpoint => ({
  seq,
  hash,
  time: '2025-01-01T00:10:00.000Z',
  keyId: 'k1',
  signature: Buffer.from(`sig-${seq}`).toString('base64'),
});

/** Asserts that `p` rejects with a MandateError-like `code`. */
async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code });
}

/** How a port method touches the database: what a fault test expects of it. */
export type StoreCallKind = 'read' | 'write' | 'ping' | 'listen';

/**
 * One call of every port method (with throwaway arguments), typed so that a method added to the
 * port without an entry here does not compile. For fault tests: after close, while the server is
 * away, while another process holds the lock.
 */
export function everyStoreCall(
  store: Store,
): { name: string; kind: StoreCallKind; call: () => Promise<unknown> }[] {
  const t = '2025-01-01T00:00:00.000Z';
  // walCheckpointStats reads counters in memory, never the database.
  const calls: Record<
    Exclude<keyof Store, 'kind' | 'close' | 'walCheckpointStats'>,
    [StoreCallKind, () => Promise<unknown>]
  > = {
    migrate: ['write', () => store.migrate()],
    ping: ['ping', () => store.ping()],
    cacheEpoch: ['read', () => store.cacheEpoch()],
    ensureSecret: ['write', () => store.ensureSecret('contract', 'candidate')],
    getAgent: ['read', () => store.getAgent('agent-a')],
    getUser: ['read', () => store.getUser('user-1')],
    getResource: ['read', () => store.getResource('Customer', 'c-1')],
    putEntities: ['write', () => store.putEntities({ agents: [agentA], users: [], resources: [] })],
    setAgentStatus: ['write', () => store.setAgentStatus('agent-a', 'suspended')],
    insertMissingEntities: [
      'write',
      () => store.insertMissingEntities({ agents: [agentA], users: [], resources: [] }),
    ],
    listEntities: ['read', () => store.listEntities()],
    putTools: ['write', () => store.putTools([tool('a.b')])],
    listTools: ['read', () => store.listTools()],
    savePolicySet: ['write', () => store.savePolicySet(policySet('v-fault'))],
    activatePolicySet: ['write', () => store.activatePolicySet('v-fault', t)],
    getActivePolicySet: ['read', () => store.getActivePolicySet()],
    getActivePolicyVersion: ['read', () => store.getActivePolicyVersion()],
    setShadowPolicy: ['write', () => store.setShadowPolicy(null, t)],
    getShadowPolicy: ['read', () => store.getShadowPolicy()],
    watchPolicyActivations: [
      'listen',
      () =>
        store.watchPolicyActivations
          ? store.watchPolicyActivations(() => undefined).then((stop) => stop())
          : Promise.resolve(),
    ],
    getPolicySet: ['read', () => store.getPolicySet('v-fault')],
    listPolicySets: ['read', () => store.listPolicySets()],
    putApiKey: ['write', () => store.putApiKey(apiKey('k-fault'))],
    findApiKeyByHash: ['read', () => store.findApiKeyByHash(apiKey('k-fault').hash)],
    listApiKeys: ['read', () => store.listApiKeys()],
    getApiKey: ['read', () => store.getApiKey('k-fault')],
    revokeApiKey: ['write', () => store.revokeApiKey('k-fault', t)],
    touchApiKey: ['write', () => store.touchApiKey('k-fault', t)],
    createApproval: ['write', () => store.createApproval(approval('ap-fault'))],
    getApproval: ['read', () => store.getApproval('ap-fault')],
    listApprovals: ['read', () => store.listApprovals({})],
    countPendingApprovals: ['read', () => store.countPendingApprovals({ agent: 'agent-a', now: t })],
    updateApproval: ['write', () => store.updateApproval(approval('ap-fault'), 'pending', 0)],
    createGrant: ['write', () => store.createGrant(grant('g-fault'))],
    getGrant: ['read', () => store.getGrant('g-fault')],
    listGrants: ['read', () => store.listGrants({})],
    revokeGrant: ['write', () => store.revokeGrant('g-fault', t)],
    claimIdempotencyKey: [
      'write',
      () =>
        store.claimIdempotencyKey(
          { scope: 'decision:k', key: 'i', fingerprint: 'f', response: null, createdAt: t, expiresAt: t },
          t,
          t,
        ),
    ],
    completeIdempotencyKey: ['write', () => store.completeIdempotencyKey('decision:k', 'i', 'f', '{}')],
    releaseIdempotencyKey: ['write', () => store.releaseIdempotencyKey('decision:k', 'i', 'f')],
    purgeIdempotencyKeys: ['write', () => store.purgeIdempotencyKeys(t)],
    putToolPin: [
      'write',
      () =>
        store.putToolPin({
          server: 's',
          tool: 't',
          hash: 'sha256:x',
          definition: {},
          status: 'approved',
          firstSeenAt: t,
          updatedAt: t,
          approvedBy: 'tofu',
          approvedHash: 'sha256:x',
          approvedDefinition: {},
        }),
    ],
    getToolPin: ['read', () => store.getToolPin('s', 't')],
    listToolPins: ['read', () => store.listToolPins()],
    appendAudit: ['write', () => store.appendAudit([auditEvent(1)], testSealer)],
    auditHead: ['read', () => store.auditHead()],
    readAudit: ['read', () => store.readAudit(0, 10)],
    queryAudit: ['read', () => store.queryAudit({ limit: 10 })],
    appendCheckpoint: ['write', () => store.appendCheckpoint(checkpoint(1, GENESIS_HASH))],
    listCheckpoints: ['read', () => store.listCheckpoints()],
    getSinkCursor: ['read', () => store.getSinkCursor('siem')],
    advanceSinkCursor: ['write', () => store.advanceSinkCursor('siem', 1, t)],
    rewindSinkCursor: [
      'write',
      () => store.rewindSinkCursor('siem', { seq: 0, hash: GENESIS_HASH }, t, { seq: 1, hash: null }),
    ],
    listSinkCursors: ['read', () => store.listSinkCursors()],
    createUiSession: ['write', () => store.createUiSession(uiSession('s-fault'))],
    getUiSession: ['read', () => store.getUiSession('s-fault')],
    rotateUiSession: ['write', () => store.rotateUiSession('s-fault', t, uiSession('s-fault-2'))],
    deleteUiSessionFamily: ['write', () => store.deleteUiSessionFamily('fam-1')],
    purgeUiSessions: ['write', () => store.purgeUiSessions(t)],
    chargeUsage: ['write', () => store.chargeUsage([usageCharge('n', 1)])],
    listUsage: ['read', () => store.listUsage({})],
    putPersonalData: [
      'write',
      () => store.putPersonalData({ ref: 'dec_x', subject: 'psn_x', data: {}, createdAt: t }),
    ],
    getPersonalData: ['read', () => store.getPersonalData(['dec_x'])],
    erasePersonalData: ['write', () => store.erasePersonalData('psn_x')],
  };
  return Object.entries(calls)
    .filter(([name]) => name !== 'watchPolicyActivations' || store.watchPolicyActivations)
    .map(([name, [kind, call]]) => ({ name, kind, call }));
}

/**
 * Declares the storage contract for one driver. `factory` must return a fresh, empty, unmigrated
 * store on every call; the suite migrates it before each case and closes it after.
 */
export function describeStoreContract(name: string, factory: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await factory();
      await store.migrate();
    });
    afterEach(async () => {
      await store.close();
    });

    describeIdempotencyContract(() => store);
    describeUiSessionContract(() => store);
    describeUsageContract(() => store);
    describePersonalContract(() => store);

    describe('lifecycle', () => {
      it('migrate is idempotent and ping answers', async () => {
        expect(await store.migrate()).toEqual([]);
        expect(await store.migrate()).toEqual([]);
        await expect(store.ping()).resolves.toBeUndefined();
      });

      it('every call after close rejects with store_unavailable (reason closed); close is idempotent', async () => {
        await store.close();
        // Every method of the port, so a new one cannot forget the check.
        for (const { name, call } of everyStoreCall(store)) {
          const err = await call().then(
            () => new Error(`${name} resolved on a closed store`),
            (e: unknown) => e,
          );
          expect({ name, code: (err as MandateError).code }).toEqual({ name, code: 'store_unavailable' });
          expect({ name, reason: unavailableReason(err) }).toEqual({ name, reason: 'closed' });
        }
        await expect(store.close()).resolves.toBeUndefined();
      });
    });

    it('keeps the first candidate of a secret: later ones get the stored value', async () => {
      expect(await store.ensureSecret('approval-binding', 'first')).toBe('first');
      expect(await store.ensureSecret('approval-binding', 'second')).toBe('first');
      expect(await store.ensureSecret('other', 'third')).toBe('third');
    });

    describe('cache epoch (ADR 0026)', () => {
      it('moves with every change to a cached table and stays put otherwise', async () => {
        let last = (await store.cacheEpoch()).n;
        expect(Number.isInteger(last)).toBe(true);
        const moves = async (what: string, change: () => Promise<unknown>) => {
          await change();
          const now = (await store.cacheEpoch()).n;
          expect({ what, moved: now !== last }).toEqual({ what, moved: true });
          last = now;
        };
        const stays = async (what: string, change: () => Promise<unknown>) => {
          await change();
          expect({ what, epoch: (await store.cacheEpoch()).n }).toEqual({ what, epoch: last });
        };
        await moves('putEntities', () =>
          store.putEntities({ agents: [agentA], users: [user1], resources: [resC] }),
        );
        await moves('putEntities (agent suspended)', () =>
          store.putEntities({ agents: [{ ...agentA, status: 'suspended' }], users: [], resources: [] }),
        );
        await moves('putEntities (user only)', () =>
          store.putEntities({ agents: [], users: [{ ...user1, roles: ['x'] }], resources: [] }),
        );
        await moves('putEntities (resource only)', () =>
          store.putEntities({ agents: [], users: [], resources: [{ ...resC, tags: [] }] }),
        );
        await moves('insertMissingEntities', () =>
          store.insertMissingEntities({ agents: [agentB], users: [], resources: [] }),
        );
        await moves('putApiKey', () => store.putApiKey(apiKey('k-epoch')));
        // A key's last use is not a change the cache must see: it would empty it every minute.
        await stays('touchApiKey', () => store.touchApiKey('k-epoch', '2025-01-02T00:00:00.000Z'));
        await moves('revokeApiKey', () => store.revokeApiKey('k-epoch', '2025-01-02T00:00:00.000Z'));
        await moves('createGrant', () => store.createGrant(grant('g-epoch')));
        await moves('revokeGrant', () => store.revokeGrant('g-epoch', '2025-01-02T00:00:00.000Z'));
        await stays('appendAudit', () => store.appendAudit([auditEvent(1)], testSealer));
        await stays('reads', async () => {
          await store.getAgent('agent-a');
          await store.listGrants({ user: 'user-1' });
        });
      });

      it('is read with the active policy version, as getActivePolicyVersion answers it', async () => {
        // The hot path's version check (DESIGN.md, Storage): every node reads it with the epoch.
        expect((await store.cacheEpoch()).policyVersion).toBeNull();
        for (const v of ['sha256:p1', 'sha256:p2']) await store.savePolicySet(policySet(v));
        const seen: (string | null)[] = [];
        for (const v of ['sha256:p1', 'sha256:p2', 'sha256:p1']) {
          await store.activatePolicySet(v, '2025-01-01T00:00:00.000Z');
          const e = await store.cacheEpoch();
          expect(e.policyVersion).toBe(await store.getActivePolicyVersion());
          seen.push(e.policyVersion);
        }
        // The newest activation, an earlier version activated again included.
        expect(seen).toEqual(['sha256:p1', 'sha256:p2', 'sha256:p1']);
      });
    });

    describe('entities', () => {
      it('round-trips agents, users and resources exactly, optional fields absent when absent', async () => {
        await store.putEntities({ agents: [agentA, agentB], users: [user1], resources: [resC, resO] });
        expect(await store.getAgent('agent-a')).toStrictEqual(agentA);
        const b = await store.getAgent('agent-b');
        expect(b).toStrictEqual(agentB);
        expect(b && 'owner' in b).toBe(false);
        expect(b && 'parent' in b).toBe(false);
        expect(await store.getUser('user-1')).toStrictEqual(user1);
        expect(await store.getResource('Customer', 'c-1')).toStrictEqual(resC);
        expect(await store.getResource('Order', 'c-1')).toStrictEqual(resO);
        expect(await store.listEntities()).toStrictEqual({
          agents: [agentA, agentB],
          users: [user1],
          resources: [resC, resO],
        });
      });

      it('returns null for unknown ids, including a known id under another type', async () => {
        expect(await store.getAgent('nope')).toBeNull();
        expect(await store.getUser('nope')).toBeNull();
        await store.putEntities({ agents: [], users: [], resources: [resC] });
        expect(await store.getResource('Invoice', 'c-1')).toBeNull();
        expect(await store.listEntities()).toStrictEqual({ agents: [], users: [], resources: [resC] });
      });

      it('upserts: a second put replaces fields (dropping removed optionals) and keeps listing order', async () => {
        await store.putEntities({ agents: [agentA, agentB], users: [user1], resources: [resC] });
        const a2: Agent = { id: 'agent-a', roles: ['other'], status: 'suspended', attributes: { v: 2 } };
        const u2: User = { ...user1, status: 'suspended' };
        const c2: Resource = { ...resC, tags: [] };
        await store.putEntities({ agents: [a2], users: [u2], resources: [c2] });
        expect(await store.getAgent('agent-a')).toStrictEqual(a2);
        expect(await store.getUser('user-1')).toStrictEqual(u2);
        expect(await store.getResource('Customer', 'c-1')).toStrictEqual(c2);
        expect((await store.listEntities()).agents.map((a) => a.id)).toEqual(['agent-a', 'agent-b']);
      });

      it('putEntities runs its check on the stored ids first; what it throws aborts the write', async () => {
        await store.putEntities({ agents: [agentA], users: [user1], resources: [] });
        const seen: { agents: readonly string[]; users: readonly string[] }[] = [];
        const refused = new MandateError('invalid_entity', 'refused by the check');
        await expect(
          store.putEntities({ agents: [agentB], users: [], resources: [resC] }, (stored) => {
            seen.push(stored);
            throw refused;
          }),
        ).rejects.toBe(refused);
        expect(seen).toEqual([{ agents: ['agent-a'], users: ['user-1'] }]);
        expect(await store.getAgent('agent-b')).toBeNull();
        expect(await store.getResource('Customer', 'c-1')).toBeNull();
        await store.putEntities({ agents: [agentB], users: [], resources: [] }, () => undefined);
        expect(await store.getAgent('agent-b')).toStrictEqual(agentB);
      });

      it('setAgentStatus changes the status alone: a role removed meanwhile stays removed', async () => {
        await store.putEntities({ agents: [agentA], users: [], resources: [] });
        const stripped: Agent = { ...agentA, roles: [], attributes: { v: 3 } };
        await store.putEntities({ agents: [stripped], users: [], resources: [] });
        const suspended = await store.setAgentStatus('agent-a', 'suspended');
        expect(suspended).toStrictEqual({ ...stripped, status: 'suspended' });
        expect(await store.getAgent('agent-a')).toStrictEqual({ ...stripped, status: 'suspended' });
        expect(await store.setAgentStatus('agent-a', 'active')).toStrictEqual(stripped);
        expect(await store.setAgentStatus('nope', 'active')).toBeNull();
        expect(await store.getAgent('nope')).toBeNull();
      });
    });

    describe('entities: insertMissingEntities', () => {
      it('inserts only what is missing, returns exactly that, and never overwrites a stored entity', async () => {
        const suspended: Agent = { ...agentA, status: 'suspended' };
        await store.putEntities({ agents: [suspended], users: [], resources: [resC] });
        const inserted = await store.insertMissingEntities({
          agents: [agentA, agentB],
          users: [user1],
          resources: [{ ...resC, tags: ['changed'] }, resO],
        });
        expect(inserted).toStrictEqual({ agents: [agentB], users: [user1], resources: [resO] });
        expect(await store.getAgent('agent-a')).toStrictEqual(suspended);
        expect(await store.getResource('Customer', 'c-1')).toStrictEqual(resC);
        expect(await store.getAgent('agent-b')).toStrictEqual(agentB);
        expect(
          await store.insertMissingEntities({ agents: [agentB], users: [user1], resources: [resO] }),
        ).toStrictEqual({ agents: [], users: [], resources: [] });
      });

      it('concurrent inserts of one entity insert it once', async () => {
        const results = await Promise.all(
          Array.from({ length: 6 }, () =>
            store.insertMissingEntities({ agents: [agentB], users: [], resources: [] }),
          ),
        );
        expect(results.filter((r) => r.agents.length === 1)).toHaveLength(1);
        expect((await store.listEntities()).agents).toStrictEqual([agentB]);
      });
    });

    describe('tools', () => {
      it('replaces the registry as a whole and keeps order and optional fields', async () => {
        expect(await store.listTools()).toEqual([]);
        const t1 = tool('payments.refund', {
          resource: 'Customer::args.customerId',
          summary: 'Refund {amount}',
          risk: 'high',
          redact: ['card'],
        });
        const t2 = tool('crm.lookup');
        await store.putTools([t1, t2]);
        const listed = await store.listTools();
        expect(listed).toStrictEqual([t1, t2]);
        expect('resource' in listed[1]!).toBe(false);
        await store.putTools([t2]);
        expect(await store.listTools()).toStrictEqual([t2]);
        await store.putTools([]);
        expect(await store.listTools()).toEqual([]);
      });

      it('concurrent replacements never conflict: the registry ends as one of the sets, whole', async () => {
        // Nodes starting together all replace the registry at once (issue 9).
        const sets = Array.from({ length: 8 }, (_, i) =>
          Array.from({ length: 3 + i }, (_, j) => tool(`set${i}.tool${j}`)),
        );
        for (let round = 0; round < 3; round++) {
          await Promise.all(sets.map((set) => store.putTools(set)));
          const listed = await store.listTools();
          expect(sets.some((set) => JSON.stringify(set) === JSON.stringify(listed))).toBe(true);
        }
      });
    });

    describe('tool pins', () => {
      const pin = (server: string, tool: string, over: Partial<ToolPin> = {}): ToolPin => ({
        server,
        tool,
        hash: 'sha256:' + 'a'.repeat(64),
        definition: {
          name: tool,
          description: 'reads a file',
          inputSchema: { type: 'object' },
          annotations: { readOnlyHint: true },
        },
        status: 'quarantined',
        firstSeenAt: '2026-01-05T10:00:00.000Z',
        updatedAt: '2026-01-05T10:00:00.000Z',
        approvedBy: null,
        approvedHash: null,
        approvedDefinition: null,
        ...over,
      });

      it('round-trips pins, replaces by (server, tool) and lists sorted, optionally by server', async () => {
        expect(await store.getToolPin('files', 'read')).toBeNull();
        const a = pin('files', 'read');
        const b = pin('files', 'Write');
        const c = pin('crm', 'lookup', { status: 'approved', approvedBy: 'tofu' });
        await store.putToolPin(a);
        await store.putToolPin(b);
        await store.putToolPin(c);
        expect(await store.getToolPin('files', 'read')).toStrictEqual(a);
        expect(await store.getToolPin('crm', 'lookup')).toStrictEqual(c);
        expect((await store.listToolPins()).map((p) => `${p.server}.${p.tool}`)).toEqual([
          'crm.lookup',
          'files.Write',
          'files.read',
        ]);
        expect((await store.listToolPins('files')).map((p) => p.tool)).toEqual(['Write', 'read']);
        const a2 = pin('files', 'read', {
          hash: 'sha256:' + 'b'.repeat(64),
          status: 'approved',
          approvedBy: 'admin:key_1',
          approvedHash: 'sha256:' + 'b'.repeat(64),
          approvedDefinition: { name: 'read', description: 'reads a file, "quoted" ü' },
          updatedAt: '2026-01-06T10:00:00.000Z',
        });
        await store.putToolPin(a2);
        expect(await store.getToolPin('files', 'read')).toStrictEqual(a2);
        expect(await store.listToolPins()).toHaveLength(3);
      });
    });

    describe('policy sets', () => {
      it('saves idempotently by version (the first save wins)', async () => {
        await store.savePolicySet(policySet('sha256:v1', 'first'));
        await store.savePolicySet(policySet('sha256:v1', 'second'));
        expect(await store.getPolicySet('sha256:v1')).toStrictEqual(policySet('sha256:v1', 'first'));
        expect(await store.listPolicySets()).toHaveLength(1);
        expect(await store.getPolicySet('sha256:none')).toBeNull();
      });

      it('activates over the expected version only: of two racing activations from one version, one wins', async () => {
        // A probe, two PostgreSQL nodes: both checked the same active version, both activated, and
        // the second silently undid the first (an emergency forbid). Checked in the atomic step now.
        for (const v of ['sha256:e0', 'sha256:ea', 'sha256:eb']) await store.savePolicySet(policySet(v));
        expect(await store.activatePolicySet('sha256:e0', '2025-01-01T00:00:00.000Z', null)).toBe(true);
        const raced = await Promise.allSettled([
          store.activatePolicySet('sha256:ea', '2025-01-01T00:01:00.000Z', 'sha256:e0'),
          store.activatePolicySet('sha256:eb', '2025-01-01T00:01:00.000Z', 'sha256:e0'),
        ]);
        expect(raced.filter((r) => r.status === 'fulfilled' && r.value === true)).toHaveLength(1);
        const lost = raced.find((r) => r.status === 'rejected');
        expect((lost as PromiseRejectedResult | undefined)?.reason).toMatchObject({ code: 'conflict' });
        const winner = raced[0]!.status === 'fulfilled' ? 'sha256:ea' : 'sha256:eb';
        expect(await store.getActivePolicyVersion()).toBe(winner);
        // Expecting no active set while one is active: conflict too; the same set again: false.
        await expectCode(store.activatePolicySet('sha256:e0', '2025-01-01T00:02:00.000Z', null), 'conflict');
        expect(await store.activatePolicySet(winner, '2025-01-01T00:02:00.000Z', 'sha256:e0')).toBe(false);
      });

      it('activates saved versions, keeps history newest first, and refuses unknown versions', async () => {
        expect(await store.getActivePolicySet()).toBeNull();
        expect(await store.getActivePolicyVersion()).toBeNull();
        await expectCode(store.activatePolicySet('sha256:missing', '2025-01-01T00:00:00.000Z'), 'not_found');
        expect(await store.getActivePolicySet()).toBeNull();

        await store.savePolicySet(policySet('sha256:v1'));
        expect(await store.activatePolicySet('sha256:v1', '2025-01-01T00:01:00.000Z')).toBe(true);
        // The active version again: nothing written (two nodes activating one set record it once).
        expect(await store.activatePolicySet('sha256:v1', '2025-01-01T00:01:30.000Z')).toBe(false);
        expect((await store.listPolicySets())[0]?.activatedAt).toBe('2025-01-01T00:01:00.000Z');
        await store.savePolicySet(policySet('sha256:v2', 'dir-b'));
        expect(await store.getActivePolicySet()).toStrictEqual(policySet('sha256:v1'));
        expect(await store.getActivePolicyVersion()).toBe('sha256:v1');
        await store.activatePolicySet('sha256:v2', '2025-01-01T00:02:00.000Z');
        expect(await store.getActivePolicySet()).toStrictEqual(policySet('sha256:v2', 'dir-b'));
        expect(await store.getActivePolicyVersion()).toBe('sha256:v2');
        expect(await store.listPolicySets()).toStrictEqual([
          {
            version: 'sha256:v2',
            createdAt: '2025-01-01T00:00:00.000Z',
            source: 'dir-b',
            active: true,
            activatedAt: '2025-01-01T00:02:00.000Z',
          },
          {
            version: 'sha256:v1',
            createdAt: '2025-01-01T00:00:00.000Z',
            source: 'dir-a',
            active: false,
            activatedAt: '2025-01-01T00:01:00.000Z',
          },
        ]);

        // Rollback: re-activating an older version makes it active again with its latest activation time.
        expect(await store.activatePolicySet('sha256:v1', '2025-01-01T00:03:00.000Z')).toBe(true);
        expect((await store.getActivePolicySet())?.version).toBe('sha256:v1');
        const list = await store.listPolicySets();
        expect(list.map((s) => [s.version, s.active, s.activatedAt])).toEqual([
          ['sha256:v2', false, '2025-01-01T00:02:00.000Z'],
          ['sha256:v1', true, '2025-01-01T00:03:00.000Z'],
        ]);
      });

      it('sets, replaces and clears the shadow set; refuses unknown versions', async () => {
        expect(await store.getShadowPolicy()).toBeNull();
        await expectCode(store.setShadowPolicy('sha256:missing', '2025-01-01T00:00:00.000Z'), 'not_found');
        expect(await store.getShadowPolicy()).toBeNull();
        await store.savePolicySet(policySet('sha256:v1'));
        await store.savePolicySet(policySet('sha256:v2', 'dir-b'));
        await store.setShadowPolicy('sha256:v1', '2025-01-01T00:01:00.000Z');
        expect(await store.getShadowPolicy()).toStrictEqual({
          version: 'sha256:v1',
          setAt: '2025-01-01T00:01:00.000Z',
        });
        await store.setShadowPolicy('sha256:v2', '2025-01-01T00:02:00.000Z');
        expect(await store.getShadowPolicy()).toStrictEqual({
          version: 'sha256:v2',
          setAt: '2025-01-01T00:02:00.000Z',
        });
        // The shadow is not the active set, and never changes it.
        expect(await store.getActivePolicyVersion()).toBeNull();
        await store.setShadowPolicy(null, '2025-01-01T00:03:00.000Z');
        expect(await store.getShadowPolicy()).toBeNull();
        await store.setShadowPolicy('sha256:v1', '2025-01-01T00:04:00.000Z');
        expect((await store.getShadowPolicy())?.version).toBe('sha256:v1');
      });

      it('lists a never-activated set with activatedAt null', async () => {
        await store.savePolicySet(policySet('sha256:v1'));
        expect(await store.listPolicySets()).toStrictEqual([
          {
            version: 'sha256:v1',
            createdAt: '2025-01-01T00:00:00.000Z',
            source: 'dir-a',
            active: false,
            activatedAt: null,
          },
        ]);
      });
    });

    describeApiKeyContract(() => store);

    describe('approvals', () => {
      /** Half-way through the fixtures' hour: `approval()` expires at 01:00. */
      const halfway = '2025-01-01T00:30:00.000Z';
      const pending = (agent: string, user?: string | null) =>
        store.countPendingApprovals(
          user === undefined ? { agent, now: halfway } : { agent, user, now: halfway },
        );

      it('creates and gets approvals exactly; a duplicate id is a conflict', async () => {
        const a = approval('ap1', { user: null, resource: null });
        await store.createApproval(a);
        expect(await store.getApproval('ap1')).toStrictEqual(a);
        expect(await store.getApproval('nope')).toBeNull();
        await expectCode(store.createApproval(approval('ap1')), 'conflict');
        // The message names what collided, so an operator can act on it (issue 9).
        await expect(store.createApproval(approval('ap1'))).rejects.toThrow(/approval/i);
        expect(await store.getApproval('ap1')).toStrictEqual(a);
      });

      it('keeps the pinned tool definition hash an approval is bound to', async () => {
        const a = approval('ap-pin', { toolHash: sha256('definition') });
        await store.createApproval(a);
        expect(await store.getApproval('ap-pin')).toStrictEqual(a);
        const approved: ApprovalRecord = { ...a, status: 'approved', resolvedAt: '2025-01-01T00:05:00.000Z' };
        expect(await store.updateApproval(approved, 'pending', 0)).toBe(true);
        expect(await store.getApproval('ap-pin')).toStrictEqual(approved);
      });

      it('lists newest first with status, roles, agent and limit filters; counts pending per agent', async () => {
        await store.createApproval(approval('ap1'));
        await store.createApproval(approval('ap2', { role: 'legal', agent: 'agent-b' }));
        await store.createApproval(approval('ap3', { status: 'approved' }));
        await store.createApproval(approval('ap4', { role: 'ops' }));
        const ids = async (f: Parameters<Store['listApprovals']>[0]) =>
          (await store.listApprovals(f)).map((a) => a.id);
        expect(await ids({})).toEqual(['ap4', 'ap3', 'ap2', 'ap1']);
        expect(await ids({ status: 'pending' })).toEqual(['ap4', 'ap2', 'ap1']);
        expect(await ids({ status: 'approved' })).toEqual(['ap3']);
        expect(await ids({ roles: ['finance', 'legal'] })).toEqual(['ap3', 'ap2', 'ap1']);
        expect(await ids({ roles: [] })).toEqual([]);
        expect(await ids({ agent: 'agent-b' })).toEqual(['ap2']);
        expect(await ids({ status: 'pending', roles: ['finance'], agent: 'agent-a' })).toEqual(['ap1']);
        expect(await ids({ limit: 2 })).toEqual(['ap4', 'ap3']);
        // The filter runs before the limit, and the cursor pages on from an id (issue 9 §4).
        expect(await ids({ status: 'pending', limit: 2 })).toEqual(['ap4', 'ap2']);
        expect(await ids({ status: 'pending', limit: 2, before: 'ap2' })).toEqual(['ap1']);
        expect(await ids({ before: 'ap1' })).toEqual([]);
        expect(await ids({ before: 'nope' })).toEqual([]);
        expect((await store.listApprovals({ agent: 'agent-b' }))[0]).toStrictEqual(
          approval('ap2', { role: 'legal', agent: 'agent-b' }),
        );
        expect(await pending('agent-a')).toBe(2);
        expect(await pending('agent-b')).toBe(1);
        await store.createApproval(approval('ap5', { user: 'bob' }));
        expect(await ids({ user: 'bob' })).toEqual(['ap5']);
        expect(await pending('agent-z')).toBe(0);
        // Per agent and user (approvals.maxPendingPerAgentUser).
        expect(await pending('agent-a')).toBe(3);
        expect(await pending('agent-a', 'user-1')).toBe(2);
        expect(await pending('agent-a', 'bob')).toBe(1);
        expect(await pending('agent-b', 'bob')).toBe(0);
        expect(await pending('agent-a', null)).toBe(0);
        await store.createApproval(approval('ap6', { user: null }));
        expect(await pending('agent-a', null)).toBe(1);
        expect(await pending('agent-a')).toBe(4);
      });

      it('counts only pending approvals that have not expired at the time given', async () => {
        // Found by a probe: an expired approval keeps status `pending` until it is read, and counted,
        // it refused the agent's new calls for every user until someone listed the approvals.
        await store.createApproval(approval('ap1', { expiresAt: '2025-01-01T00:10:00.000Z' }));
        await store.createApproval(approval('ap2', { expiresAt: '2025-01-01T00:30:00.000Z' }));
        await store.createApproval(approval('ap3', { user: 'bob', expiresAt: '2025-01-01T00:20:00.000Z' }));
        await store.createApproval(approval('ap4'));
        const at = (now: string, user?: string) =>
          store.countPendingApprovals(
            user === undefined ? { agent: 'agent-a', now } : { agent: 'agent-a', user, now },
          );
        expect(await at('2025-01-01T00:05:00.000Z')).toBe(4);
        expect(await at('2025-01-01T00:10:00.000Z')).toBe(3);
        expect(await at('2025-01-01T00:10:00.000Z', 'user-1')).toBe(2);
        expect(await at('2025-01-01T00:20:00.000Z', 'bob')).toBe(0);
        // Expiring at `now` is expired (`expiresAt > now` counts).
        expect(await at(halfway)).toBe(1);
        expect(await at(halfway, 'user-1')).toBe(1);
        expect(await at('2025-01-01T01:00:00.000Z')).toBe(0);
        expect((await store.getApproval('ap1'))?.status).toBe('pending');
      });

      it('creates an approval under a cap only while the agent has fewer pending (per user first, then in all)', async () => {
        const cap = { perAgentUser: 2, perAgent: 3 };
        const at = (id: string, over: Partial<ApprovalRecord> = {}) =>
          approval(id, { requestedAt: halfway, ...over });
        await store.createApproval(at('ap1'), cap);
        await store.createApproval(at('ap2'), cap);
        // A third for user-1 passes the per-user bound; the agent's other users are not refused.
        const third = store.createApproval(at('ap3'), cap);
        await expectCode(third, 'approval_backlog');
        await expect(store.createApproval(at('ap3'), cap)).rejects.toThrow(/waiting for user user-1/);
        expect(await store.getApproval('ap3')).toBeNull();
        await store.createApproval(at('ap4', { user: 'bob' }), cap);
        // Now the agent has 3 in all: no one else's either, and another agent's are its own.
        await expect(store.createApproval(at('ap5', { user: 'carol' }), cap)).rejects.toThrow(
          /agent agent-a already has 3 approvals waiting;/,
        );
        expect(await store.getApproval('ap5')).toBeNull();
        await store.createApproval(at('ap6', { agent: 'agent-b' }), cap);
        // Without a cap an approval is stored as given (copies of a store).
        await store.createApproval(at('ap7'));
        expect(await pending('agent-a')).toBe(4);
      });

      it('a cap does not count approvals past their expiry, nor approvals no longer pending', async () => {
        const cap = { perAgentUser: 1, perAgent: 1 };
        await store.createApproval(approval('ap1', { expiresAt: '2025-01-01T00:10:00.000Z' }));
        await store.createApproval(approval('ap2', { status: 'denied' }));
        // ap1 has not expired at 00:09; it has at 00:10.
        await expectCode(
          store.createApproval(approval('ap3', { requestedAt: '2025-01-01T00:09:00.000Z' }), cap),
          'approval_backlog',
        );
        await store.createApproval(approval('ap3', { requestedAt: '2025-01-01T00:10:00.000Z' }), cap);
        expect((await store.getApproval('ap3'))?.status).toBe('pending');
      });

      it('counts and inserts atomically: of many concurrent requests under a cap, only the cap is created', async () => {
        // Found by a probe: 60 concurrent approval-required calls with a bound of 20 left 54 pending.
        const cap = { perAgentUser: 5, perAgent: 5 };
        const results = await Promise.allSettled(
          Array.from({ length: 30 }, (_, i) =>
            store.createApproval(approval(`ap${i}`, { requestedAt: halfway }), cap),
          ),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
        for (const r of results)
          if (r.status === 'rejected') expect((r.reason as MandateError).code).toBe('approval_backlog');
        expect(await pending('agent-a')).toBe(5);
      });

      it('under a cap, the same call pending already is answered, not stored again — also racing', async () => {
        // Identical calls at once on several nodes each opened a request to a human (a review).
        const cap = { perAgentUser: 5, perAgent: 5 };
        const same = (id: string, over: Partial<ApprovalRecord> = {}) =>
          approval(id, { requestedAt: halfway, callHash: sha256('the-call'), ...over });
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => store.createApproval(same(`ap${i}`), cap)),
        );
        const ids = new Set(results.map((r) => r.id));
        expect(ids.size).toBe(1);
        expect(await pending('agent-a')).toBe(1);
        const [kept] = [...ids];
        expect(results[0]).toStrictEqual(await store.getApproval(kept!));
        // Another call, another agent, an expired one or one no longer pending: stored as given.
        expect((await store.createApproval(same('ap-other', { callHash: sha256('another') }), cap)).id).toBe(
          'ap-other',
        );
        expect((await store.createApproval(same('ap-b', { agent: 'agent-b' }), cap)).id).toBe('ap-b');
        const late = same('ap-late', { requestedAt: '2025-01-01T01:00:00.000Z' });
        expect((await store.createApproval(late, cap)).id).toBe('ap-late');
        // Without a cap (copies of a store) it is stored as given.
        expect((await store.createApproval(same('ap-copy'))).id).toBe('ap-copy');
      });

      it('updateApproval is a compare-and-set on status and vote count', async () => {
        const a = approval('ap1');
        await store.createApproval(a);
        const vote = {
          approver: 'alice',
          verdict: 'approve' as const,
          comment: null,
          at: '2025-01-01T00:05:00.000Z',
          signature: null,
        };
        const voted: ApprovalRecord = { ...a, votes: [vote] };

        expect(await store.updateApproval(voted, 'approved', 0)).toBe(false);
        expect(await store.updateApproval(voted, 'pending', 1)).toBe(false);
        expect(await store.getApproval('ap1')).toStrictEqual(a);
        expect(await store.updateApproval(approval('nope'), 'pending', 0)).toBe(false);

        expect(await store.updateApproval(voted, 'pending', 0)).toBe(true);
        expect(await store.getApproval('ap1')).toStrictEqual(voted);
        // The same transition again is stale now.
        expect(await store.updateApproval(voted, 'pending', 0)).toBe(false);

        const approved: ApprovalRecord = {
          ...voted,
          status: 'approved',
          votes: [...voted.votes, { ...vote, approver: 'bob', comment: 'ok', signature: 'c2ln' }],
          resolvedAt: '2025-01-01T00:06:00.000Z',
        };
        expect(await store.updateApproval(approved, 'pending', 1)).toBe(true);
        expect(await store.getApproval('ap1')).toStrictEqual(approved);
        expect(await pending('agent-a')).toBe(0);
      });

      it('exactly one of many concurrent updates from the same expected state wins', async () => {
        const a = approval('ap1', { status: 'approved', quorum: 1 });
        await store.createApproval(a);
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            store.updateApproval(
              { ...a, status: 'consumed', consumedAt: '2025-01-01T00:07:00.000Z', consumedBy: `dec_${i}` },
              'approved',
              0,
            ),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        const stored = await store.getApproval('ap1');
        expect(stored?.status).toBe('consumed');
        expect(stored?.consumedBy).toBe(`dec_${winner}`);
      });
    });

    describe('grants', () => {
      it('creates and gets grants exactly; a duplicate id is a conflict', async () => {
        const g = grant('g1', {
          limits: [
            { arg: 'currency', op: '==', value: 'EUR' },
            { arg: 'dry', op: '!=', value: true },
          ],
        });
        await store.createGrant(g);
        expect(await store.getGrant('g1')).toStrictEqual(g);
        expect(await store.getGrant('nope')).toBeNull();
        await expectCode(store.createGrant(grant('g1')), 'conflict');
        await expect(store.createGrant(grant('g1'))).rejects.toThrow(/grant/i);
      });

      it('lists newest first with user, agent and includeRevoked filters', async () => {
        await store.createGrant(grant('g1'));
        await store.createGrant(grant('g2', { agent: 'agent-b' }));
        await store.createGrant(grant('g3', { user: 'user-2', revokedAt: '2025-01-03T00:00:00.000Z' }));
        await store.createGrant(grant('g4', { user: 'user-2' }));
        const ids = async (f: Parameters<Store['listGrants']>[0]) =>
          (await store.listGrants(f)).map((g) => g.id);
        expect(await ids({})).toEqual(['g4', 'g2', 'g1']);
        expect(await ids({ includeRevoked: true })).toEqual(['g4', 'g3', 'g2', 'g1']);
        expect(await ids({ user: 'user-2' })).toEqual(['g4']);
        expect(await ids({ user: 'user-2', includeRevoked: true })).toEqual(['g4', 'g3']);
        expect(await ids({ agent: 'agent-b' })).toEqual(['g2']);
        expect(await ids({ user: 'user-1', agent: 'agent-a' })).toEqual(['g1']);
        expect(await store.listGrants({ agent: 'agent-b' })).toStrictEqual([
          grant('g2', { agent: 'agent-b' }),
        ]);
      });

      it('revokes a grant and everything attenuated from it, transitively, and only once', async () => {
        await store.createGrant(grant('root'));
        await store.createGrant(
          grant('child', { agent: 'agent-b', parentId: 'root', createdBy: 'user:user-1' }),
        );
        await store.createGrant(grant('grandchild', { agent: 'agent-c', parentId: 'child' }));
        await store.createGrant(grant('sibling-child', { agent: 'agent-d', parentId: 'root' }));
        await store.createGrant(grant('other'));

        const at = '2025-01-05T00:00:00.000Z';
        expect(await store.revokeGrant('child', at)).toEqual(['child', 'grandchild']);
        expect((await store.getGrant('root'))?.revokedAt).toBeNull();
        const revoked = await store.revokeGrant('root', '2025-01-06T00:00:00.000Z');
        expect(revoked).toEqual(['root', 'sibling-child']);
        // An earlier revocation keeps its time.
        expect((await store.getGrant('grandchild'))?.revokedAt).toBe(at);
        expect((await store.getGrant('sibling-child'))?.revokedAt).toBe('2025-01-06T00:00:00.000Z');
        expect((await store.listGrants({})).map((g) => g.id)).toEqual(['other']);
        expect(await store.revokeGrant('root', '2025-01-07T00:00:00.000Z')).toEqual([]);
      });

      it('stores a live grant only while nothing up its chain is revoked; a revoked one as given', async () => {
        await store.createGrant(grant('root'));
        await store.createGrant(grant('child', { agent: 'agent-b', parentId: 'root' }));
        await store.revokeGrant('root', '2025-01-05T00:00:00.000Z');
        await expectCode(
          store.createGrant(grant('late', { agent: 'agent-c', parentId: 'root' })),
          'grant_revoked',
        );
        await expectCode(
          store.createGrant(grant('later', { agent: 'agent-c', parentId: 'child' })),
          'grant_revoked',
        );
        expect(await store.getGrant('late')).toBeNull();
        expect(await store.getGrant('later')).toBeNull();
        // A copy of a revoked sub-grant (a throw-away store for policy tests) is stored as given.
        const copy = grant('copy', {
          agent: 'agent-c',
          parentId: 'root',
          revokedAt: '2025-01-05T00:00:00.000Z',
        });
        await store.createGrant(copy);
        expect(await store.getGrant('copy')).toStrictEqual(copy);
        // The whole chain counts, not the parent alone: a revoked grant two hops up refuses it too.
        await store.createGrant(grant('mid', { agent: 'agent-b', parentId: 'top' }));
        await store.createGrant(grant('top', { revokedAt: '2025-01-05T00:00:00.000Z' }));
        await expect(
          store.createGrant(grant('leaf', { agent: 'agent-c', parentId: 'mid' })),
        ).rejects.toMatchObject({ code: 'grant_revoked', message: expect.stringContaining('top') });
      });

      it('a sub-grant racing the revocation of its parent is refused, or revoked with it', async () => {
        // A probe: six sub-grants created on two nodes while the parent was revoked; five stayed live.
        for (let round = 0; round < 8; round++) {
          const parent = `p${round}`;
          await store.createGrant(grant(parent));
          await store.createGrant(grant(`${parent}-c`, { agent: 'agent-b', parentId: parent }));
          const create = (i: number) =>
            store.createGrant(grant(`${parent}-s${i}`, { agent: 'agent-c', parentId: `${parent}-c` }));
          const before = [0, 1, 2].map(create);
          const revoking = store.revokeGrant(parent, '2025-01-05T00:00:00.000Z');
          const after = [3, 4, 5].map(create);
          const created = await Promise.allSettled([...before, ...after]);
          const revoked = await revoking;
          for (const [i, r] of created.entries()) {
            const id = `${parent}-s${i}`;
            if (r.status === 'rejected') {
              expect(r.reason).toMatchObject({ code: 'grant_revoked' });
              expect(await store.getGrant(id)).toBeNull();
            } else {
              expect(revoked).toContain(id);
              expect((await store.getGrant(id))?.revokedAt).toBe('2025-01-05T00:00:00.000Z');
            }
          }
          expect((await store.listGrants({ user: 'user-1' })).map((g) => g.id)).not.toContain(parent);
          expect((await store.listGrants({})).filter((g) => g.id.startsWith(`${parent}-`))).toEqual([]);
        }
      });

      it('revoking an unknown grant is not_found', async () => {
        await expectCode(store.revokeGrant('nope', '2025-01-05T00:00:00.000Z'), 'not_found');
      });
    });

    describe('audit', () => {
      it('starts at seq 0 with the genesis hash and hands the sealer the head', async () => {
        expect(await store.auditHead()).toEqual({ seq: 0, hash: GENESIS_HASH });
        const heads: AuditHead[] = [];
        const spy: AuditSealer = (head, events) => {
          heads.push(head);
          return testSealer(head, events);
        };
        const first = await store.appendAudit([auditEvent(1), auditEvent(2)], spy);
        const second = await store.appendAudit([auditEvent(3)], spy);
        expect(heads).toEqual([
          { seq: 0, hash: GENESIS_HASH },
          { seq: 2, hash: first[1]!.hash },
        ]);
        expect(second[0]!.seq).toBe(3);
        expect(await store.auditHead()).toEqual({ seq: 3, hash: second[0]!.hash });
        expectChain(await store.readAudit(0, 100));
      });

      it("stores a batch's seal on the record the sealer put it on, and none on the others (ADR 0038)", async () => {
        const records = await store.appendAudit(
          [auditEvent(1), auditEvent(2), auditEvent(3)],
          (head, events) =>
            testSealer(head, events).map((rec, i) =>
              i === 2 ? { ...rec, seal: `1:${'ab'.repeat(32)}` } : rec,
            ),
        );
        const stored = await store.readAudit(0, 10);
        expect(stored).toStrictEqual(records);
        expect(stored.map((r) => r.seal)).toEqual([undefined, undefined, `1:${'ab'.repeat(32)}`]);
        expect(stored.map((r) => Object.hasOwn(r, 'seal'))).toEqual([false, false, true]);
      });

      it('stores event text byte-exact and columns as given, nulls included', async () => {
        const odd: AuditEvent = {
          type: 'policy.activated',
          time: '2025-01-01T00:00:00.000Z',
          nodeId: 'n',
          data: { z: 1, a: 'é ☃ 𝄞 \u2028 "q" \\ \n', big: 9007199254740991, frac: 0.1 },
        };
        const [r] = await store.appendAudit([odd], (head, events) =>
          testSealer(head, events).map((rec) => ({ ...rec, eventText: `{ "spaced" :  ${rec.eventText} }` })),
        );
        const [stored] = await store.readAudit(0, 1);
        expect(stored).toStrictEqual(r);
        expect(stored!.eventText).toBe(r!.eventText);
        expect(stored!.columns).toStrictEqual({
          type: 'policy.activated',
          time: '2025-01-01T00:00:00.000Z',
          agent: null,
          user: null,
          action: null,
          effect: null,
          decisionId: null,
        });
      });

      it('serialises concurrent appends into one gapless chain, each batch contiguous', async () => {
        const batches = await Promise.all(
          Array.from({ length: 12 }, (_, b) =>
            store.appendAudit(
              [auditEvent(b * 10), auditEvent(b * 10 + 1), auditEvent(b * 10 + 2)],
              testSealer,
            ),
          ),
        );
        const all = await store.readAudit(0, 1000);
        expect(all).toHaveLength(36);
        expectChain(all);
        for (const batch of batches) {
          expect(batch[1]!.seq).toBe(batch[0]!.seq + 1);
          expect(batch[2]!.seq).toBe(batch[0]!.seq + 2);
          expect(all[batch[0]!.seq - 1]).toStrictEqual(batch[0]);
        }
        expect(await store.auditHead()).toEqual({ seq: 36, hash: all[35]!.hash });
      });

      it('an append whose sealer throws writes nothing and the chain continues', async () => {
        await store.appendAudit([auditEvent(1)], testSealer);
        await expect(
          store.appendAudit([auditEvent(2)], () => {
            throw new Error('sealer failed');
          }),
        ).rejects.toThrow('sealer failed');
        const [r] = await store.appendAudit([auditEvent(3)], testSealer);
        expect(r!.seq).toBe(2);
        expectChain(await store.readAudit(0, 10));
      });

      it('pages with readAudit(afterSeq, limit)', async () => {
        await store.appendAudit(
          Array.from({ length: 7 }, (_, i) => auditEvent(i)),
          testSealer,
        );
        expect((await store.readAudit(0, 3)).map((r) => r.seq)).toEqual([1, 2, 3]);
        expect((await store.readAudit(3, 3)).map((r) => r.seq)).toEqual([4, 5, 6]);
        expect((await store.readAudit(6, 3)).map((r) => r.seq)).toEqual([7]);
        expect(await store.readAudit(7, 3)).toEqual([]);
        expect(await store.readAudit(0, 0)).toEqual([]);
      });

      it('queries by each filter, inclusive time range, afterSeq cursor and limit, in seq order', async () => {
        await store.appendAudit(
          [
            auditEvent(1, {
              time: '2025-01-01T00:00:01.000Z',
              agent: 'agent-a',
              user: 'user-1',
              action: 'a.x',
              effect: 'allow',
              decisionId: 'd1',
            }),
            auditEvent(2, {
              time: '2025-01-01T00:00:02.000Z',
              agent: 'agent-b',
              user: 'user-2',
              action: 'a.y',
              effect: 'deny',
              decisionId: 'd2',
            }),
            auditEvent(3, {
              time: '2025-01-01T00:00:03.000Z',
              agent: 'agent-a',
              user: 'user-2',
              action: 'a.x',
              effect: 'approval_required',
              decisionId: 'd3',
            }),
            {
              type: 'approval.approved',
              time: '2025-01-01T00:00:04.000Z',
              nodeId: 'n',
              decisionId: 'd3',
              data: {},
            },
            auditEvent(5, {
              time: '2025-01-01T00:00:05.000Z',
              agent: 'agent-a',
              user: 'user-1',
              action: 'a.y',
              effect: 'allow',
              decisionId: 'd5',
            }),
          ],
          testSealer,
        );
        const seqs = async (f: Omit<Parameters<Store['queryAudit']>[0], 'limit'> & { limit?: number }) =>
          (await store.queryAudit({ limit: 100, ...f })).map((r) => r.seq);
        expect(await seqs({})).toEqual([1, 2, 3, 4, 5]);
        expect(await seqs({ agent: 'agent-a' })).toEqual([1, 3, 5]);
        expect(await seqs({ user: 'user-2' })).toEqual([2, 3]);
        expect(await seqs({ action: 'a.y' })).toEqual([2, 5]);
        expect(await seqs({ effect: 'allow' })).toEqual([1, 5]);
        expect(await seqs({ effect: 'approval_required' })).toEqual([3]);
        expect(await seqs({ type: 'approval.approved' })).toEqual([4]);
        expect(await seqs({ type: 'decision' })).toEqual([1, 2, 3, 5]);
        expect(await seqs({ decisionId: 'd3' })).toEqual([3, 4]);
        expect(await seqs({ from: '2025-01-01T00:00:02.000Z', to: '2025-01-01T00:00:04.000Z' })).toEqual([
          2, 3, 4,
        ]);
        expect(await seqs({ from: '2025-01-01T00:00:05.000Z' })).toEqual([5]);
        expect(await seqs({ to: '2025-01-01T00:00:01.000Z' })).toEqual([1]);
        expect(await seqs({ agent: 'agent-a', effect: 'allow', user: 'user-1', action: 'a.y' })).toEqual([5]);
        expect(await seqs({ agent: 'agent-zzz' })).toEqual([]);
        expect(await seqs({ afterSeq: 2 })).toEqual([3, 4, 5]);
        expect(await seqs({ agent: 'agent-a', limit: 2 })).toEqual([1, 3]);
        expect(await seqs({ agent: 'agent-a', afterSeq: 3, limit: 2 })).toEqual([5]);
        expect(await seqs({ limit: 0 })).toEqual([]);
        // Newest-first pages: order desc with a beforeSeq cursor.
        expect(await seqs({ order: 'desc', limit: 2 })).toEqual([5, 4]);
        expect(await seqs({ order: 'desc', beforeSeq: 4, limit: 2 })).toEqual([3, 2]);
        expect(await seqs({ type: 'decision', order: 'desc', beforeSeq: 5 })).toEqual([3, 2, 1]);
        expect(await seqs({ afterSeq: 1, beforeSeq: 4 })).toEqual([2, 3]);
        const all = await store.readAudit(0, 100);
        expect(await store.queryAudit({ decisionId: 'd2', limit: 10 })).toStrictEqual([all[1]]);
      });

      it('appends and lists checkpoints in order, repeated seq allowed', async () => {
        const [r] = await store.appendAudit([auditEvent(1)], testSealer);
        expect(await store.listCheckpoints()).toEqual([]);
        const c1 = checkpoint(1, r!.hash);
        const c2 = { ...checkpoint(1, r!.hash), time: '2025-01-01T00:20:00.000Z' };
        await store.appendCheckpoint(c1);
        await store.appendCheckpoint(c2);
        expect(await store.listCheckpoints()).toStrictEqual([c1, c2]);
      });

      it('lists the checkpoints of a seq range, newest first, at most a limit', async () => {
        const records = await store.appendAudit(
          [1, 2, 3, 4].map((n) => auditEvent(n)),
          testSealer,
        );
        const cps = records.map((r) => checkpoint(r.seq, r.hash));
        // Written out of seq order: the order written is what is listed.
        for (const i of [0, 2, 1, 3]) await store.appendCheckpoint(cps[i]!);
        const seqs = async (r: Parameters<Store['listCheckpoints']>[0]) =>
          (await store.listCheckpoints(r)).map((cp) => cp.seq);
        expect(await seqs({})).toEqual([1, 3, 2, 4]);
        expect(await seqs({ fromSeq: 2 })).toEqual([3, 2, 4]);
        expect(await seqs({ toSeq: 2 })).toEqual([1, 2]);
        expect(await seqs({ fromSeq: 2, toSeq: 3 })).toEqual([3, 2]);
        expect(await seqs({ order: 'desc', limit: 1 })).toEqual([4]);
        expect(await seqs({ order: 'desc', toSeq: 3 })).toEqual([2, 3, 1]);
        expect(await seqs({ fromSeq: 5 })).toEqual([]);
        expect(await seqs({ limit: 0 })).toEqual([]);
        expect(await store.listCheckpoints({ order: 'desc', limit: 1 })).toStrictEqual([cps[3]]);
      });

      it('lists the newest checkpoint of one key among other keys’ (a node’s own, ADR 0035)', async () => {
        const [r1, r2, r3] = await store.appendAudit(
          [1, 2, 3].map((n) => auditEvent(n)),
          testSealer,
        );
        const mine = (r: StoredAuditRecord) => checkpoint(r.seq, r.hash);
        const theirs = (r: StoredAuditRecord) => ({ ...checkpoint(r.seq, r.hash), keyId: 'k2' });
        for (const cp of [mine(r1!), theirs(r1!), mine(r2!), theirs(r2!), theirs(r3!)]) {
          await store.appendCheckpoint(cp);
        }
        expect(await store.listCheckpoints({ keyId: 'k1', order: 'desc', limit: 1 })).toStrictEqual([
          mine(r2!),
        ]);
        expect((await store.listCheckpoints({ keyId: 'k2' })).map((cp) => cp.seq)).toEqual([1, 2, 3]);
        expect(await store.listCheckpoints({ keyId: 'k3' })).toEqual([]);
      });

      it('sink cursors start absent, move forward only and list sorted by sink', async () => {
        expect(await store.getSinkCursor('siem')).toBeNull();
        expect(await store.listSinkCursors()).toEqual([]);
        await store.advanceSinkCursor('siem', 5, '2025-01-01T00:00:00.000Z');
        await store.advanceSinkCursor('archive', 2, '2025-01-01T00:00:01.000Z');
        // A late acknowledgement of an older batch never moves a cursor back.
        await store.advanceSinkCursor('siem', 3, '2025-01-01T00:00:02.000Z');
        expect(await store.getSinkCursor('siem')).toStrictEqual({
          sink: 'siem',
          seq: 5,
          hash: null,
          updatedAt: '2025-01-01T00:00:00.000Z',
        });
        await store.advanceSinkCursor('siem', 9, '2025-01-01T00:00:03.000Z');
        expect(await store.listSinkCursors()).toStrictEqual([
          { sink: 'archive', seq: 2, hash: null, updatedAt: '2025-01-01T00:00:01.000Z' },
          { sink: 'siem', seq: 9, hash: null, updatedAt: '2025-01-01T00:00:03.000Z' },
        ]);
      });

      it('a sink cursor keeps the hash of its record; a cursor without one (before 097) gets it on its next advance', async () => {
        const h = (n: number) => String(n).repeat(64).slice(0, 64);
        await store.advanceSinkCursor('siem', 4, '2025-01-01T00:00:00.000Z');
        expect((await store.getSinkCursor('siem'))?.hash).toBeNull();
        await store.advanceSinkCursor('siem', 7, '2025-01-01T00:00:01.000Z', h(7));
        expect(await store.getSinkCursor('siem')).toStrictEqual({
          sink: 'siem',
          seq: 7,
          hash: h(7),
          updatedAt: '2025-01-01T00:00:01.000Z',
        });
        // A late acknowledgement of an older batch moves neither the seq nor the hash.
        await store.advanceSinkCursor('siem', 6, '2025-01-01T00:00:02.000Z', h(6));
        await store.advanceSinkCursor('siem', 7, '2025-01-01T00:00:02.000Z', h(1));
        expect(await store.getSinkCursor('siem')).toMatchObject({ seq: 7, hash: h(7) });
        expect(await store.listSinkCursors()).toStrictEqual([
          { sink: 'siem', seq: 7, hash: h(7), updatedAt: '2025-01-01T00:00:01.000Z' },
        ]);
      });

      it('rewindSinkCursor moves a cursor back only while it still is what the caller expects (compare-and-set)', async () => {
        const h = (n: number) => String(n).repeat(64).slice(0, 64);
        const at = '2025-01-01T00:00:05.000Z';
        // No cursor: nothing to rewind.
        expect(
          await store.rewindSinkCursor('siem', { seq: 0, hash: GENESIS_HASH }, at, { seq: 0, hash: null }),
        ).toBe(false);
        expect(await store.getSinkCursor('siem')).toBeNull();
        await store.advanceSinkCursor('siem', 9, '2025-01-01T00:00:00.000Z', h(9));
        // Another node moved it (seq or hash differ): refused, the cursor stays.
        expect(await store.rewindSinkCursor('siem', { seq: 3, hash: h(3) }, at, { seq: 8, hash: h(9) })).toBe(
          false,
        );
        expect(await store.rewindSinkCursor('siem', { seq: 3, hash: h(3) }, at, { seq: 9, hash: h(8) })).toBe(
          false,
        );
        expect(await store.rewindSinkCursor('siem', { seq: 3, hash: h(3) }, at, { seq: 9, hash: null })).toBe(
          false,
        );
        expect(await store.getSinkCursor('siem')).toMatchObject({ seq: 9, hash: h(9) });
        expect(await store.rewindSinkCursor('siem', { seq: 3, hash: h(3) }, at, { seq: 9, hash: h(9) })).toBe(
          true,
        );
        expect(await store.getSinkCursor('siem')).toStrictEqual({
          sink: 'siem',
          seq: 3,
          hash: h(3),
          updatedAt: at,
        });
        // Only once: the same expectation no longer holds.
        expect(await store.rewindSinkCursor('siem', { seq: 1, hash: h(1) }, at, { seq: 9, hash: h(9) })).toBe(
          false,
        );
        // Forward from the rewound point as before.
        await store.advanceSinkCursor('siem', 5, '2025-01-01T00:00:06.000Z', h(5));
        expect(await store.getSinkCursor('siem')).toMatchObject({ seq: 5, hash: h(5) });
        // A cursor saved without a hash is matched by a null expectation, to the genesis too.
        await store.advanceSinkCursor('legacy', 4, '2025-01-01T00:00:00.000Z');
        expect(
          await store.rewindSinkCursor('legacy', { seq: 0, hash: GENESIS_HASH }, at, { seq: 4, hash: null }),
        ).toBe(true);
        expect(await store.getSinkCursor('legacy')).toMatchObject({ seq: 0, hash: GENESIS_HASH });
        // Other sinks are untouched.
        expect((await store.listSinkCursors()).map((c) => [c.sink, c.seq])).toEqual([
          ['legacy', 0],
          ['siem', 5],
        ]);
      });
    });
  });
}

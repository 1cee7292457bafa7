import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyDir } from '../../src/policy/index.js';
import { createPostgresStore } from '../../src/storage/postgres/index.js';
import { POSTGRES_URL } from '../storage/helpers.js';
import { closeNodesAfterEach, node, postgresNodes, root, sqliteNodes } from './nodes.js';

closeNodesAfterEach();

const refund = {
  agent: 'support-bot',
  onBehalfOf: 'alice',
  action: 'payments.refund',
  args: { customerId: 'c-42', amount: 120 },
};
const admin = { role: 'admin' as const, subject: null, keyId: 'test' };

describe('two nodes on one SQLite file', () => {
  it('a policy set activated on one node holds the next decision of the other; a revocation too', async () => {
    const { nodes, dir } = await sqliteNodes(2);
    const [a, b] = [nodes[0]!, nodes[1]!];
    expect((await b.decisions.decide(refund, admin)).decision.effect).toBe('allow');

    // Node A activates a set whose refund-small permit is gone.
    const source = await loadPolicyDir(join(root, 'examples/fintech-support/policies'));
    const agents = source.policies['agents.cedar']!;
    const without = agents.replace(/@id\("refund-small"\)[\s\S]*?<= 500\s*\n};\n/, '');
    expect(without).not.toContain('refund-small');
    const { version } = await a.policies.activate(
      { ...source, policies: { ...source.policies, 'agents.cedar': without } },
      'test',
    );
    expect(a.policies.active()?.version).toBe(version);

    // B's very next decision, well within its 1 s poll: the version read with the cache epoch tells
    // B that another set is active, and the decision waits for it (it allowed on the last set, for
    // up to a second, when only the poll told B).
    expect(b.policies.active()?.version).not.toBe(version);
    const next = (await b.decisions.decide(refund, admin)).decision;
    expect(next.effect).toBe('deny');
    expect(next.policyVersion).toBe(version);
    expect(b.policies.active()?.version).toBe(version);

    // Revocation on node A is seen by node B's very next decision (no cache in between).
    const [grant] = await a.grants.list({ user: 'alice', agent: 'support-bot' });
    await a.grants.revoke(grant!.id, 'test');
    const read = { ...refund, action: 'crm.read_customer', args: { customerId: 'c-42' } };
    const d = (await b.decisions.decide(read, admin)).decision;
    expect(d.effect).toBe('deny');
    expect(d.errors.map((e) => e.code)).toContain('grant_revoked');
    // Both nodes wrote into one chain that verifies.
    const { verifyAudit } = await import('../../src/audit/index.js');
    const pub = readFileSync(join(dir, 'keys', 'audit-signing.pub.pem'), 'utf8');
    const { keyIdOf } = await import('../../src/audit/index.js');
    expect((await verifyAudit(a.store, { publicKeys: { [keyIdOf(pub)]: pub } })).ok).toBe(true);
  });
});

describe.skipIf(!POSTGRES_URL)('two nodes on one PostgreSQL schema', () => {
  it('an activation reaches the other node by LISTEN/NOTIFY, well before the 1 s poll', async () => {
    const { nodes } = await postgresNodes(2);
    const [a, b] = [nodes[0]!, nodes[1]!];
    expect(b.policies.active()?.version).toBe(a.policies.active()?.version);
    const source = await loadPolicyDir(join(root, 'examples/fintech-support/policies'));
    const extra = '@id("notify-probe") forbid (principal, action, resource) when { false };\n';
    const t0 = Date.now();
    const { version } = await a.policies.activate(
      { ...source, policies: { ...source.policies, 'probe.cedar': extra } },
      'test',
    );
    while (b.policies.active()?.version !== version && Date.now() - t0 < 5000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(b.policies.active()?.version).toBe(version);
    // The push itself, seen from the store: B's listener hears A's activation.
    const heard: string[] = [];
    const unwatch = await b.store.watchPolicyActivations!((v) => heard.push(v));
    try {
      const next = await a.policies.activate(
        { ...source, policies: { ...source.policies, 'probe.cedar': extra.replace('false', '1 == 2') } },
        'test',
      );
      const until = Date.now() + 3000;
      while (!heard.includes(next.version) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      expect(heard).toContain(next.version);
    } finally {
      await unwatch();
    }
  });

  it('a node that hears no notification still holds its next decision for a set activated elsewhere', async () => {
    // DESIGN.md (Storage): "a version check on the hot path so a missed notification cannot leave
    // a node stale". B listens for nothing here (a dropped LISTEN connection, a lost NOTIFY).
    const { nodes, schema, dir } = await postgresNodes(1);
    const a = nodes[0]!;
    const deaf = createPostgresStore(POSTGRES_URL!, { schema });
    const b = await node('memory', join(dir, 'keys'), {
      ...deaf,
      watchPolicyActivations: undefined,
    });
    expect((await b.decisions.decide(refund, admin)).decision.effect).toBe('allow');
    const source = await loadPolicyDir(join(root, 'examples/fintech-support/policies'));
    const forbid = '@id("emergency") forbid (principal, action == Action::"payments.refund", resource);\n';
    const { version } = await a.policies.activate(
      { ...source, policies: { ...source.policies, 'zz-emergency.cedar': forbid } },
      'test',
    );
    const next = (await b.decisions.decide(refund, admin)).decision;
    expect(next.effect).toBe('deny');
    expect(next.policyVersion).toBe(version);
    expect(next.reasons.map((r) => r.policyId)).toContain('emergency');
  });
});

if (!POSTGRES_URL)
  console.warn('MANDATE_TEST_POSTGRES_URL is not set: the PostgreSQL two-node test is skipped');

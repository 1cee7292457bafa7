import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTestMandate,
  disposeAll,
  durableStoreKinds,
  exampleEntities,
  examplePolicySource,
  tempDir,
  type TestMandate,
  type TestMandateOptions,
} from '../fixtures/mandate.js';
import { KEYS, client, codes, ok200, refund, type Json } from '../fixtures/http.js';
import { createJsonLogger, type Logger } from '../../src/kernel/index.js';

/*
 * Issue 8 §2: a restart must not undo a revocation, a suspension or a policy set activated through
 * the API (ADR 0015, the store is the source of truth); `--reseed` re-applies the config, audited.
 */

afterAll(disposeAll);

const TIGHTENED_POLICY = `@id("refund-cap-100")
@reason("refunds over 100 are frozen during the incident")
forbid (principal, action == Action::"payments.refund", resource)
when { context.args.amount > 100 };
`;

/** The example set plus one forbid. */
function tightenedSource() {
  const s = examplePolicySource();
  return { ...s, policies: { ...s.policies, 'incident.cedar': TIGHTENED_POLICY } };
}

const hrCreate = {
  agent: 'hr-bot',
  onBehalfOf: 'carol',
  action: 'hr.create_account',
  args: { employeeId: 'e-1001' },
};
const hrBot = (status: 'active' | 'suspended') => ({
  ...exampleEntities().agents.find((a) => a.id === 'hr-bot')!,
  status,
});

/** Counts of the given event types in the whole trail. */
async function countEvents(t: TestMandate, ...types: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const type of types) out[type] = (await t.m.store.queryAudit({ type, limit: 10_000 })).length;
  return out;
}

/** The seeded alice→support-bot grant as the API lists it (revoked ones included). */
async function supportGrants(t: TestMandate): Promise<Json[]> {
  const list = ok200(await client(t.url).get('/v1/grants?user=alice&includeRevoked=true', KEYS.admin));
  return (list.items as Json[]).filter((g) => g.agent === 'support-bot');
}

/** A log sink keeping parsed lines. */
function capture(): { logger: Logger; lines: Json[] } {
  const lines: Json[] = [];
  return { lines, logger: createJsonLogger('info', (l) => lines.push(JSON.parse(l))) };
}

for (const kind of durableStoreKinds()) {
  describe(`a restart keeps the store's state (${kind})`, () => {
    it('a revoked grant, a suspended agent and an API-activated forbid survive restarts; --reseed re-applies the config, audited', async () => {
      const first = await createTestMandate({ store: kind });
      let api = client(first.url);
      expect(ok200(await api.decide(KEYS.supportBot, refund(50))).effect).toBe('allow');

      // Revoke alice's grant to support-bot, suspend hr-bot, activate a tightened set.
      const [grant] = await supportGrants(first);
      ok200(await api.del(`/v1/grants/${grant.id}`, KEYS.admin));
      ok200(await api.put('/v1/entities', KEYS.admin, { agents: [hrBot('suspended')] }));
      const tightened = ok200(await api.put('/v1/policies', KEYS.admin, tightenedSource()));
      expect(tightened.changed).toBe(true);

      const expectStateHeld = async (t: TestMandate) => {
        const c = client(t.url);
        const refundDenied = ok200(await c.decide(KEYS.supportBot, refund(50)));
        expect(refundDenied.effect).toBe('deny');
        expect(codes(refundDenied)).toContain('grant_revoked');
        const hr = ok200(await c.decide(KEYS.hrBot, hrCreate));
        expect(codes(hr)).toEqual(['agent_suspended']);
        expect(t.m.policies.active()?.version).toBe(tightened.version);
        expect((await supportGrants(t)).every((g) => g.revokedAt !== null)).toBe(true);
      };
      await expectStateHeld(first);
      const before = await countEvents(
        first,
        'entities.updated',
        'policy.activated',
        'grant.created',
        'seed.applied',
      );
      await first.close();

      // Two restarts with the same config: everything holds and nothing is recorded.
      for (let i = 0; i < 2; i++) {
        const again = await createTestMandate({ reuse: first });
        await expectStateHeld(again);
        expect(
          await countEvents(again, 'entities.updated', 'policy.activated', 'grant.created', 'seed.applied'),
        ).toEqual(before);
        await again.close();
      }

      // The operator asks for the config explicitly.
      const reseeded = await createTestMandate({ reuse: first, reseed: true });
      api = client(reseeded.url);
      expect(ok200(await api.decide(KEYS.supportBot, refund(50))).effect).toBe('allow');
      expect(ok200(await api.decide(KEYS.hrBot, hrCreate)).effect).toBe('approval_required');
      expect(reseeded.m.policies.active()?.version).not.toBe(tightened.version);
      const live = (await supportGrants(reseeded)).filter((g) => g.revokedAt === null);
      expect(live).toHaveLength(1);
      const events = (await reseeded.m.store.queryAudit({ type: 'seed.applied', limit: 10 })).map(
        (r) => JSON.parse(r.eventText) as Json,
      );
      // The first start filled the empty store; the reseed is the second and last.
      expect(events.map((e) => e.data.mode)).toEqual(['fill', 'reseed']);
      const event = events[1];
      expect(event.data).toMatchObject({
        mode: 'reseed',
        entities: { agents: ['hr-bot'], users: [], resources: [] },
        grants: [live[0].id],
        policy: { previous: tightened.version },
      });
      await reseeded.close();
    }, 60_000);
  });
}

describe('seeding fills what the store lacks and never overwrites', () => {
  it('a restart adds a new entity from the file, leaves a changed one as stored and logs the difference', async () => {
    const first = await createTestMandate({ store: 'sqlite', listen: false });
    await first.close();
    const log = capture();
    const again = await createTestMandate({
      reuse: first,
      listen: false,
      logger: log.logger,
      entities: (doc) => {
        doc.agents.push({ id: 'new-bot', roles: ['support'], status: 'active', attributes: {} });
        doc.agents.find((a) => a.id === 'support-bot')!.roles = ['changed'];
      },
    });
    expect(await again.m.store.getAgent('new-bot')).not.toBeNull();
    expect((await again.m.store.getAgent('support-bot'))?.roles).not.toEqual(['changed']);
    const updated = (await again.m.store.queryAudit({ type: 'entities.updated', limit: 100 })).map(
      (r) => (JSON.parse(r.eventText) as Json).data,
    );
    expect(updated.at(-1).agents).toEqual([{ id: 'new-bot', status: 'active' }]);
    const warn = log.lines.find((l) => /entities file differs/.test(l.msg));
    expect(warn).toMatchObject({ level: 'warn', agents: ['support-bot'] });
  });

  it('a fresh store is filled once: one event of each kind, and no seed grant is created twice', async () => {
    const t = await createTestMandate({ store: 'sqlite', listen: false });
    expect(await countEvents(t, 'entities.updated', 'policy.activated', 'seed.applied')).toEqual({
      'entities.updated': 1,
      'policy.activated': 1,
      'seed.applied': 1,
    });
    const grants = await t.m.store.listGrants({ includeRevoked: true });
    expect(grants.map((g) => g.id).every((id) => id.startsWith('grt_seed_'))).toBe(true);
    expect(new Set(grants.map((g) => g.id)).size).toBe(grants.length);
  });
});

describe('a start while the policy directory is invalid (issue 9 §2)', () => {
  function invalidDir(): string {
    const dir = join(tempDir(), 'broken-policies');
    mkdirSync(dir);
    const s = examplePolicySource();
    for (const [f, text] of Object.entries(s.policies)) writeFileSync(join(dir, f), text);
    writeFileSync(join(dir, 'schema.cedarschema'), s.schema);
    writeFileSync(join(dir, 'broken.cedar'), 'permit (principal, action, resource) when { nope(');
    return dir;
  }
  const withDir =
    (dir: string): TestMandateOptions['config'] =>
    (raw) => {
      raw.policies.dir = dir;
    };

  it('serves the set the store holds, logging why the directory was not applied', async () => {
    const first = await createTestMandate({ store: 'sqlite' });
    const version = first.m.policies.active()!.version;
    await first.close();
    const log = capture();
    const again = await createTestMandate({
      reuse: first,
      logger: log.logger,
      config: withDir(invalidDir()),
    });
    expect(again.m.policies.active()?.version).toBe(version);
    expect(ok200(await client(again.url).get('/readyz')).ready).toBe(true);
    expect(ok200(await client(again.url).decide(KEYS.supportBot, refund(50))).effect).toBe('allow');
    const line = log.lines.find((l) => /policy directory is invalid/.test(l.msg));
    expect(line).toMatchObject({ level: 'error', active: version });
    expect(line.problems.length).toBeGreaterThan(0);
  });

  it('serves the stored set when the directory cannot be read at all', async () => {
    const first = await createTestMandate({ store: 'sqlite', listen: false });
    const version = first.m.policies.active()!.version;
    await first.close();
    const log = capture();
    const again = await createTestMandate({
      reuse: first,
      listen: false,
      logger: log.logger,
      config: withDir(join(tempDir(), 'missing')),
    });
    expect(again.m.policies.active()?.version).toBe(version);
    expect(log.lines.some((l) => l.level === 'error' && /cannot be read/.test(l.msg))).toBe(true);
  });

  it('refuses to start on an empty store: there is no last good set to serve', async () => {
    await expect(
      createTestMandate({ store: 'sqlite', listen: false, config: withDir(invalidDir()) }),
    ).rejects.toMatchObject({ code: 'policy_invalid' });
  });

  it('a differing valid directory is not applied; the log says how to apply it', async () => {
    const first = await createTestMandate({ store: 'sqlite' });
    ok200(await client(first.url).put('/v1/policies', KEYS.admin, tightenedSource()));
    const tightened = first.m.policies.active()!.version;
    await first.close();
    const log = capture();
    const again = await createTestMandate({ reuse: first, listen: false, logger: log.logger });
    expect(again.m.policies.active()?.version).toBe(tightened);
    const line = log.lines.find((l) => /differs from the store's active set/.test(l.msg));
    expect(line).toMatchObject({ level: 'warn', active: tightened });
    expect(line.msg).toMatch(/mandate policy activate/);
  });
});

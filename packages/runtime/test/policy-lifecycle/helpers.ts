import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '@mandate/protocol';
import type { Store } from '../../src/storage/port.js';
import { examplePolicySource } from '../fixtures/mandate.js';

/** The example set with the refund-small permit's threshold changed (500 in the example). */
export function refundThreshold(limit: number): { policies: Record<string, string>; schema: string } {
  const source = examplePolicySource();
  const agents = source.policies['agents.cedar']!;
  const changed = agents
    .replace('context.args.amount <= 500', `context.args.amount <= ${limit}`)
    .replace('context.args.amount > 500', `context.args.amount > ${limit}`);
  if (changed === agents && limit !== 500) throw new Error('the example refund thresholds moved');
  return { ...source, policies: { ...source.policies, 'agents.cedar': changed } };
}

/** The example set plus a policy that forbids every refund. */
export function forbidRefunds(): { policies: Record<string, string>; schema: string } {
  const source = examplePolicySource();
  return {
    ...source,
    policies: {
      ...source.policies,
      'no-refunds.cedar':
        '@id("no-refunds")\n@reason("refunds are frozen")\nforbid (principal, action == Action::"payments.refund", resource);\n',
    },
  };
}

/** The example set with the large refunds' approval removed: they are allowed without a human. */
export function dropRefundApproval(): { policies: Record<string, string>; schema: string } {
  const source = examplePolicySource();
  const agents = source.policies['agents.cedar']!;
  const changed = agents.replace('@approval("finance-manager")\n', '');
  if (changed === agents) throw new Error('the example refund approval moved');
  return { ...source, policies: { ...source.policies, 'agents.cedar': changed } };
}

/** Every audit event of one type, oldest first. */
export async function eventsOfType(store: Store, type: string): Promise<AuditEvent[]> {
  const rows = await store.queryAudit({ type, limit: 10_000 });
  return rows.map((r) => JSON.parse(r.eventText) as AuditEvent);
}

/** Writes a policy set as a directory the CLI reads (`*.cedar` and `schema.cedarschema`). */
export function writePolicyDir(source: { policies: Record<string, string>; schema: string }): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'mandate-policies-')), 'p');
  mkdirSync(dir);
  for (const [f, text] of Object.entries(source.policies)) writeFileSync(join(dir, f), text);
  writeFileSync(join(dir, 'schema.cedarschema'), source.schema);
  return dir;
}

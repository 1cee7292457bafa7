import type { Effect } from '@mandate/protocol';
import type { PolicyOutcome } from './policy-inputs.js';

/** One decision another policy set answers otherwise. */
export interface Flip {
  decisionId: string;
  action: string;
  /** What the set in force answered (recorded, or live). */
  before: PolicyOutcome;
  /** What the candidate (shadow, replayed) set answers. */
  after: PolicyOutcome;
}

/** Flips of one kind: the same action, the same two effects, the same determining policies. */
export interface FlipGroup {
  action: string;
  from: Effect;
  to: Effect;
  /** The determining policies before and after. */
  fromPolicies: string[];
  toPolicies: string[];
  count: number;
  /** Up to {@link EXAMPLES} decision ids, oldest first. */
  examples: string[];
}

export const EXAMPLES = 3;

/** Groups flips by action, effects and determining policies; the largest groups first. */
export function groupFlips(flips: Iterable<Flip>): FlipGroup[] {
  const groups = new Map<string, FlipGroup>();
  for (const f of flips) {
    const key = JSON.stringify([
      f.action,
      f.before.effect,
      f.after.effect,
      f.before.policies,
      f.after.policies,
    ]);
    let g = groups.get(key);
    if (!g) {
      g = {
        action: f.action,
        from: f.before.effect,
        to: f.after.effect,
        fromPolicies: f.before.policies,
        toPolicies: f.after.policies,
        count: 0,
        examples: [],
      };
      groups.set(key, g);
    }
    g.count++;
    if (g.examples.length < EXAMPLES) g.examples.push(f.decisionId);
  }
  return [...groups.values()].sort(
    (a, b) => b.count - a.count || a.action.localeCompare(b.action) || a.from.localeCompare(b.from),
  );
}

/** One line per group, as the CLI prints it. */
export function describeGroup(g: FlipGroup): string {
  return (
    `${g.action}: ${g.from} -> ${g.to} x${g.count} ` +
    `(${g.fromPolicies.join(',') || '-'} -> ${g.toPolicies.join(',') || '-'}) e.g. ${g.examples.join(', ')}`
  );
}

import type { Effect } from '@mandate/protocol';
import { holdToEvents, reportOnce, type TamperReport } from '../audit/columns.js';
import { MandateError } from '../kernel/index.js';
import type { CompiledPolicySet } from '../policy/port.js';
import type { Store } from '../storage/port.js';
import { EXAMPLES, groupFlips, type Flip, type FlipGroup } from './flips.js';
import { readRecordedInputs } from './policy-inputs.js';
import { decideRetyped } from './retype.js';

/** At most this many decision events are replayed in one run (the report says when it stopped). */
export const REPLAY_MAX_DECISIONS = 200_000;

/**
 * Which changes fail a replay: `allow-to-deny` — something allowed (directly or after an approval)
 * would be denied; `deny-to-allow` — something denied would be allowed (directly or after an
 * approval); `looser` — anything would need less than it did: a deny would be allowed or asked
 * for, or a call that needed a human's approval would be allowed without one (the approval
 * removed: what a CI gate most needs to catch, and `deny-to-allow` does not); `any` — any change
 * of effect.
 */
export const FAIL_ON = ['allow-to-deny', 'deny-to-allow', 'looser', 'any'] as const;
export type FailOn = (typeof FAIL_ON)[number];

/** Why a recorded decision cannot be decided again faithfully. */
export type UnreplayableReason =
  /** Recorded before decision events carried their policy inputs. */
  | 'not_recorded'
  /** A value the policies saw was redacted on the record (args, intent, entity attributes). */
  | 'redacted'
  /** The candidate reads an entity attribute the record left off (no policy in force read it). */
  | 'attributes_not_recorded';

export interface ReplayReport {
  candidateVersion: string;
  from: string;
  to: string;
  /** Decision events read in the window. */
  decisions: number;
  /** Decided again against the candidate. */
  replayed: number;
  unchanged: number;
  /** Decided before any policy was asked (unknown agent, grant refused …): the same under every set. */
  beforePolicies: number;
  unreplayable: { count: number; byReason: Record<UnreplayableReason, number>; examples: string[] };
  /** Changed decisions by `from->to` (e.g. `allow->deny`). */
  changes: Record<string, number>;
  groups: FlipGroup[];
  /** True when the window held more decisions than one replay reads. */
  truncated: boolean;
}

/**
 * Re-decides the recorded decisions of a time window against a candidate set, from the inputs each
 * decision event recorded (`data.policyInputs`: entities, context with args as typed, time and
 * grant, exactly as the engine saw them), and compares the policy-level outcomes (ADR 0025). The
 * args are typed again by the candidate's schema (retype.ts); args its schema refuses are a deny
 * naming `mandate.invalid_args` (the call would not run), never `unchanged`.
 */
export async function replayDecisions(
  store: Store,
  candidate: CompiledPolicySet,
  opts: {
    from: string;
    to: string;
    maxDecisions?: number;
    /** Where a record found through an edited query column is reported (it is left out). */
    tampered?: TamperReport;
  },
): Promise<ReplayReport> {
  if (opts.from > opts.to) throw new MandateError('bad_request', '--from must not be after --to');
  const max = opts.maxDecisions ?? REPLAY_MAX_DECISIONS;
  const report: ReplayReport = {
    candidateVersion: candidate.version,
    from: opts.from,
    to: opts.to,
    decisions: 0,
    replayed: 0,
    unchanged: 0,
    beforePolicies: 0,
    unreplayable: {
      count: 0,
      byReason: { not_recorded: 0, redacted: 0, attributes_not_recorded: 0 },
      examples: [],
    },
    changes: {},
    groups: [],
    truncated: false,
  };
  const flips: Flip[] = [];
  const unreplayable = (reason: UnreplayableReason, decisionId: string) => {
    report.unreplayable.count++;
    report.unreplayable.byReason[reason]++;
    if (report.unreplayable.examples.length < EXAMPLES) report.unreplayable.examples.push(decisionId);
  };
  // SECURITY: the window and the type are query columns, which a DB admin can edit without
  // breaking a hash; each record is held to its hashed event (a mismatch is left out and reported).
  const tampered = reportOnce(opts.tampered);
  let afterSeq: number | undefined;
  for (;;) {
    const page = await store.queryAudit({
      type: 'decision',
      from: opts.from,
      to: opts.to,
      ...(afterSeq !== undefined ? { afterSeq } : {}),
      limit: 500,
    });
    for (const { event: ev } of await holdToEvents(page, tampered)) {
      if (report.decisions >= max) {
        report.truncated = true;
        break;
      }
      report.decisions++;
      const id = ev.decisionId ?? '';
      const raw = ev.data.policyInputs;
      if (raw === null) {
        report.beforePolicies++;
        continue;
      }
      const inputs = readRecordedInputs(raw);
      if (!inputs) {
        unreplayable('not_recorded', id);
        continue;
      }
      if (inputs.redacted.length > 0) {
        unreplayable('redacted', id);
        continue;
      }
      if (inputs.omitted.some((name) => candidate.attributeNames.has(name))) {
        unreplayable('attributes_not_recorded', id);
        continue;
      }
      const action = ev.action ?? '';
      // SECURITY: the args as the candidate's schema types them, not as the active one did: a
      // candidate that retypes an arg (`decimal` → `Long`) and loosens a cap must not pass the gate
      // as `unchanged` on comparisons that cannot hold between the two types.
      const after = decideRetyped(candidate, action, inputs);
      report.replayed++;
      if (after.effect === inputs.outcome.effect) {
        report.unchanged++;
        continue;
      }
      const key = `${inputs.outcome.effect}->${after.effect}`;
      report.changes[key] = (report.changes[key] ?? 0) + 1;
      flips.push({ decisionId: id, action, before: inputs.outcome, after });
    }
    if (report.truncated || page.length < 500) break;
    afterSeq = page[page.length - 1]!.seq;
  }
  report.groups = groupFlips(flips);
  return report;
}

/** How much a call needs to run: nothing, a human's approval, or it never runs. */
const STRICTNESS: Record<Effect, number> = { allow: 0, approval_required: 1, deny: 2 };

/** Does the report hold a change of the kind `failOn` forbids? */
export function replayFails(report: ReplayReport, failOn: FailOn | undefined): boolean {
  if (!failOn) return false;
  return report.groups.some((g) => changeFails(g.from, g.to, failOn));
}

function changeFails(from: Effect, to: Effect, failOn: FailOn): boolean {
  if (failOn === 'any') return from !== to;
  if (failOn === 'allow-to-deny') return from !== 'deny' && to === 'deny';
  if (failOn === 'looser') return STRICTNESS[to] < STRICTNESS[from];
  return from === 'deny' && to !== 'deny';
}

/** The report as the CLI prints it. */
export function describeReplay(report: ReplayReport): string[] {
  const u = report.unreplayable;
  const lines = [
    `replayed ${report.replayed} of ${report.decisions} decision(s) from ${report.from} to ${report.to} against ${report.candidateVersion}`,
    `  unchanged ${report.unchanged}, decided before any policy ${report.beforePolicies}, unreplayable ${u.count}` +
      (u.count > 0
        ? ` (redacted inputs ${u.byReason.redacted}, attributes not recorded ${u.byReason.attributes_not_recorded}, recorded before inputs were ${u.byReason.not_recorded}; e.g. ${u.examples.join(', ')})`
        : ''),
  ];
  for (const [k, n] of Object.entries(report.changes).sort())
    lines.push(`  ${k.replace('->', ' -> ')}: ${n}`);
  if (report.truncated) lines.push(`  stopped after ${report.decisions} decisions: narrow --from/--to`);
  return lines;
}

import type { Effect } from '@mandate/protocol';
import { MandateError, type Logger } from '../kernel/index.js';
import type { Store, UsageCharge } from '../storage/port.js';
import type { UsageCounterConfig } from '../config/usage-schema.js';
import { recordedCharge, type RecordedUsageReader } from './recheck.js';

/** One allowed-or-not call, as the usage counters see it. */
export interface UsageCall {
  action: string;
  agent: string;
  user: string | null;
  args: Record<string, unknown>;
  now: number;
  /** A dry run reads the counters and charges nothing. */
  dryRun: boolean;
  /**
   * A dry run that checks whether a recorded allow still holds: what that allow's record says it
   * charged, which the counters already hold and this reading leaves out (recheck.ts).
   */
  recorded?: RecordedUsageReader;
}

/** What a decision event records of one counter: the values the policies were given. */
export interface UsageReading {
  value: number;
  after: number;
  windowStart: string;
}

/**
 * Counters reserved for one call (reserve-then-decide, ADR 0024): the charge is already added;
 * `settle` keeps it for an allow and gives it back otherwise.
 */
export interface UsageReservation {
  /** `context.usage`: `<name>` before this call, `<name>After` including it. */
  context: Record<string, number>;
  /** The decision event's `usage`, by counter name. */
  readings: Record<string, UsageReading>;
  /** The arg paths the counters sum (a reading minus the one before it is that arg's value). */
  sums: readonly string[];
  /** Keeps the charge when the decision is allow (and not a dry run); gives it back otherwise. */
  settle(effect: Effect): Promise<void>;
}

export interface UsageMeter {
  /** Reserves the call's charge on every counter of its action; null when none counts it. */
  reserve(call: UsageCall): Promise<UsageReservation | null>;
}

const UNIT_MS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };

/** Window length in ms of `30s`, `1m`, `1h`, `1d`. */
export function windowMs(window: string): number {
  return Number(window.slice(0, -1)) * UNIT_MS[window.slice(-1)]!;
}

/** The fixed window holding `now`: windows are aligned to the Unix epoch (a `1d` window is a UTC day). */
export function windowOf(now: number, window: string): { start: string; end: string } {
  const ms = windowMs(window);
  const start = Math.floor(now / ms) * ms;
  return { start: new Date(start).toISOString(), end: new Date(start + ms).toISOString() };
}

function argAt(args: Record<string, unknown>, path: string): unknown {
  let v: unknown = args;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function chargeOf(c: UsageCounterConfig, args: Record<string, unknown>): number {
  if (c.sum === undefined) return 1;
  const v = argAt(args, c.sum);
  // SECURITY: fail closed — a budget whose amount cannot be read exactly denies the call.
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new MandateError(
      'usage_invalid',
      `usage counter ${c.name} sums args.${c.sum}, which is not a non-negative integer in this call`,
    );
  }
  return v;
}

/** The usage counters of a deployment, charged in the store (shared by every node on it). */
export function createUsageMeter(deps: {
  store: Pick<Store, 'chargeUsage'>;
  counters: readonly UsageCounterConfig[];
  logger: Logger;
}): UsageMeter {
  const byAction = new Map<string, UsageCounterConfig[]>();
  for (const c of deps.counters) byAction.set(c.action, [...(byAction.get(c.action) ?? []), c]);

  return {
    async reserve(call) {
      const counters = byAction.get(call.action);
      if (!counters) return null;
      // Only a dry run can be the check of a recorded allow: a real call is charged in full.
      const recheck = call.dryRun ? call.recorded : undefined;
      const amounts = counters.map((c) => chargeOf(c, call.args));
      const charges: UsageCharge[] = counters.map((c, i) => {
        const w = windowOf(call.now, c.window);
        return {
          name: c.name,
          agent: c.per === 'user' ? '' : call.agent,
          user: c.per === 'agent' ? '' : (call.user ?? ''),
          windowStart: w.start,
          windowEnd: w.end,
          // A dry run reads (adds 0): it must not crowd out real calls, even for a moment.
          delta: call.dryRun ? 0 : amounts[i]!,
        };
      });
      // SECURITY: reserve-then-decide — the charge is added before the policies run, so two racing
      // calls each see the other's charge and cannot both slip under a budget (ADR 0024).
      const before = await deps.store.chargeUsage(charges);
      // A recorded allow re-checked for its replay: the counters already hold its own charge.
      const recorded = recheck ? await recheck() : undefined;
      const context: Record<string, number> = {};
      const readings: Record<string, UsageReading> = {};
      counters.forEach((c, i) => {
        const own = recordedCharge(recorded, c.name, charges[i]!.windowStart, amounts[i]!);
        const value = Math.max(0, before[i]! - own);
        const after = value + amounts[i]!;
        context[c.name] = value;
        context[`${c.name}After`] = after;
        readings[c.name] = { value, after, windowStart: charges[i]!.windowStart };
      });
      let settled = false;
      return {
        context,
        readings,
        sums: counters.flatMap((c) => (c.sum === undefined ? [] : [c.sum])),
        async settle(effect) {
          if (settled) return;
          settled = true;
          if (call.dryRun || effect === 'allow') return;
          // A deny or approval_required charges nothing: the reservation is given back.
          const back = charges.filter((c) => c.delta !== 0).map((c) => ({ ...c, delta: -c.delta }));
          if (back.length === 0) return;
          try {
            await deps.store.chargeUsage(back);
          } catch (err) {
            // Fails safe: the counter over-counts (never under) until its window ends.
            deps.logger.error('usage reservation not given back; the counter over-counts', {
              counters: back.map((c) => c.name),
              error: (err as Error).message,
            });
          }
        },
      };
    },
  };
}

import type { AuditEvent } from '@mandate/protocol';
import type { Logger } from '../kernel/index.js';
import type { CompiledPolicySet } from '../policy/port.js';
import type { ShadowSet } from '../policy/shadow-set.js';
import { decideRetyped } from './retype.js';
import type { DecisionSeen } from './service.js';

export interface ShadowEvaluatorDeps {
  /** The shadow set now, or null (then nothing is queued). */
  shadow: () => CompiledPolicySet | null;
  /** Appends a non-decision event (`policy.shadow_divergence`). */
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  logger: Logger;
  /** At most this many decisions wait for shadow evaluation; more are dropped and counted. */
  maxQueue: number;
  /** Decisions evaluated per turn of the event loop (default 32). */
  batch?: number;
}

export interface ShadowStats {
  queued: number;
  evaluated: number;
  diverged: number;
  dropped: number;
  failed: number;
}

/**
 * Re-decides live decisions against the shadow set, off the answer's path (issue 14 §1): `observe`
 * only pushes onto a bounded queue (O(1), never awaits, never throws), a worker drains it a batch
 * per event-loop turn. Where the shadow's policy-level outcome differs from the active set's, a
 * `policy.shadow_divergence` event records both; counters feed `/metrics`. Overload drops (and
 * counts) shadow work, never delays an answer.
 */
export interface ShadowEvaluator {
  observe(seen: DecisionSeen): void;
  stats(): ShadowStats;
  /** Divergences seen by this node, by the shadow's determining policy and the two effects (`/metrics`). */
  divergences(): { policy: string; from: string; to: string; count: number }[];
  /** Resolves once the queue is empty (tests, shutdown). */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** Shadow mode of a node: the shadow set and the evaluator that compares live decisions with it. */
export interface ShadowMode {
  set: ShadowSet;
  evaluator: ShadowEvaluator;
}

/** Decisions waiting for shadow evaluation beyond this are dropped (and counted), never awaited. */
export const SHADOW_MAX_QUEUE = 10_000;

interface Job {
  seen: DecisionSeen;
  set: CompiledPolicySet;
}

export function createShadowEvaluator(deps: ShadowEvaluatorDeps): ShadowEvaluator {
  const queue: Job[] = [];
  const batch = deps.batch ?? 32;
  const stats = { evaluated: 0, diverged: 0, dropped: 0, failed: 0 };
  /** `policy\0from\0to` → count. */
  const divergences = new Map<string, number>();
  let running: Promise<void> | null = null;
  let closed = false;

  const evaluate = (job: Job): Promise<unknown> | null => {
    const { seen, set } = job;
    // SECURITY: the live args are typed by the active schema; the shadow judges them as its own
    // schema types them (retype.ts), or a retyped arg's comparisons silently never hold.
    const shadow = decideRetyped(set, seen.action, seen.inputs);
    stats.evaluated++;
    const live = seen.outcome;
    if (shadow.effect === live.effect) return null;
    stats.diverged++;
    for (const policy of differingPolicies(live.policies, shadow.policies)) {
      const key = `${policy}\u0000${live.effect}\u0000${shadow.effect}`;
      divergences.set(key, (divergences.get(key) ?? 0) + 1);
    }
    return deps.record({
      type: 'policy.shadow_divergence',
      decisionId: seen.decisionId,
      agent: seen.inputs.agent,
      ...(seen.inputs.user !== null ? { user: seen.inputs.user } : {}),
      action: seen.action,
      data: {
        activeVersion: seen.policyVersion,
        shadowVersion: set.version,
        active: live,
        shadow,
      },
    });
  };

  const work = async (): Promise<void> => {
    while (queue.length > 0) {
      // One batch per turn of the event loop: answers waiting for I/O go first.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const records: Promise<unknown>[] = [];
      for (const job of queue.splice(0, batch)) {
        try {
          const r = evaluate(job);
          if (r) records.push(r);
        } catch (err) {
          stats.failed++;
          deps.logger.warn('shadow evaluation failed', {
            decisionId: job.seen.decisionId,
            error: (err as Error).message,
          });
        }
      }
      for (const r of await Promise.allSettled(records)) {
        if (r.status === 'rejected') {
          stats.failed++;
          deps.logger.warn('shadow divergence not recorded', { error: (r.reason as Error).message });
        }
      }
    }
  };

  const start = () => {
    running ??= work().finally(() => {
      running = null;
      if (queue.length > 0 && !closed) start();
    });
  };

  return {
    observe(seen) {
      const set = deps.shadow();
      if (!set || closed) return;
      if (queue.length >= deps.maxQueue) {
        stats.dropped++;
        return;
      }
      queue.push({ seen, set });
      start();
    },
    stats: () => ({ queued: queue.length, ...stats }),
    divergences: () =>
      [...divergences.entries()]
        .sort((a, b) => (a[0] < b[0] ? -1 : 1))
        .map(([key, count]) => {
          const [policy, from, to] = key.split('\u0000') as [string, string, string];
          return { policy, from, to, count };
        }),
    async drain() {
      while (running) await running;
    },
    async close() {
      closed = true;
      queue.length = 0;
      while (running) await running;
    },
  };
}

/**
 * The policies a divergence is counted under: those determining one outcome but not the other
 * (the permit that stopped applying, the forbid that started); the shadow's when both name the same.
 */
function differingPolicies(active: readonly string[], shadow: readonly string[]): string[] {
  const a = new Set(active);
  const s = new Set(shadow);
  const diff = [...active.filter((p) => !s.has(p)), ...shadow.filter((p) => !a.has(p))];
  return diff.length > 0 ? diff.sort() : [...shadow];
}

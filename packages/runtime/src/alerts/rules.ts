import type { AuditEvent } from '@mandate/protocol';
import type { AlertRule } from '../config/alerts-schema.js';

/** An alert a rule raised for one audit record. */
export interface RaisedAlert {
  rule: string;
  ruleType: AlertRule['type'];
  /** The agent it is about, or null for the whole node. */
  agent: string | null;
  reason: string;
  /** The record that tipped it. */
  triggerSeq: number;
  count?: number;
}

/** Event types whose presence means the node found its own chain broken. */
export const VERIFICATION_FAILED_TYPES = new Set(['audit.verify_failed']);

const errorCodes = (e: AuditEvent): string[] =>
  Array.isArray(e.data?.errors) ? (e.data.errors as { code?: unknown }[]).map((x) => String(x.code)) : [];

/** Counts per agent in fixed windows of event time; the last `keep` windows are kept. */
class Windows {
  private readonly counts = new Map<string, Map<number, number>>();
  constructor(
    private readonly windowMs: number,
    private readonly keep: number,
  ) {}
  add(agent: string, timeMs: number): { current: number; baseline: number } {
    const idx = Math.floor(timeMs / this.windowMs);
    let m = this.counts.get(agent);
    if (!m) this.counts.set(agent, (m = new Map()));
    const current = (m.get(idx) ?? 0) + 1;
    m.set(idx, current);
    let sum = 0;
    for (let i = 1; i <= this.keep; i++) sum += m.get(idx - i) ?? 0;
    for (const k of m.keys()) if (k < idx - this.keep) m.delete(k);
    return { current, baseline: sum / this.keep };
  }
}

/**
 * The rules as one pure function of the audit stream, in chain order: what each record raises.
 * Windows and cooldowns use the events' own times, so a replay of the same records raises the same
 * alerts: a condition that holds raises once, then again only after the rule's cooldown for that
 * subject (an ongoing flood is re-raised, not raised per record). Mutes are applied by the caller.
 */
export function createRuleEngine(rules: readonly AlertRule[]) {
  const windows = new Map<string, Windows>();
  const lastRaised = new Map<string, number>();
  for (const r of rules) {
    if (r.type === 'deny_spike') windows.set(r.name, new Windows(r.windowSeconds * 1000, r.baselineWindows));
    if (r.type === 'approval_flood') windows.set(r.name, new Windows(r.windowSeconds * 1000, 0));
  }
  return {
    observe(seq: number, e: AuditEvent): RaisedAlert[] {
      const out: RaisedAlert[] = [];
      const t = Date.parse(e.time);
      const agent = e.agent ?? null;
      const raise = (r: AlertRule, who: string | null, reason: string, count?: number) => {
        const key = `${r.name}\0${who ?? '*'}`;
        const last = lastRaised.get(key);
        if (last !== undefined && t - last < r.cooldownSeconds * 1000) return;
        lastRaised.set(key, t);
        out.push({
          rule: r.name,
          ruleType: r.type,
          agent: who,
          reason,
          triggerSeq: seq,
          ...(count ? { count } : {}),
        });
      };
      for (const r of rules) {
        switch (r.type) {
          case 'deny_spike': {
            if (e.type !== 'decision' || e.effect !== 'deny' || !agent) break;
            const { current, baseline } = windows.get(r.name)!.add(agent, t);
            const line = Math.max(r.minDenies, Math.ceil(r.factor * baseline));
            if (current >= line)
              raise(
                r,
                agent,
                `${current} denies in ${r.windowSeconds} s for agent ${agent} (baseline ${baseline.toFixed(1)} per window)`,
                current,
              );
            break;
          }
          case 'policy_error':
            if (e.type === 'decision' && errorCodes(e).includes('policy_error'))
              raise(
                r,
                agent,
                `a policy failed to evaluate for ${e.action ?? 'a call'} by agent ${agent ?? '?'}`,
              );
            break;
          case 'approval_flood': {
            // A dry run (`mandate check` without --request) asks nobody: it is not a request.
            const requested =
              e.type === 'decision' && e.effect === 'approval_required' && e.data.dryRun !== true;
            if (!requested || !agent) break;
            const { current } = windows.get(r.name)!.add(agent, t);
            if (current > r.max)
              raise(
                r,
                agent,
                `more than ${r.max} approval requests in ${r.windowSeconds} s from agent ${agent}`,
                current,
              );
            break;
          }
          case 'tool_quarantined':
            if (e.type === 'tool.quarantined')
              raise(
                r,
                null,
                `an MCP tool definition changed and was quarantined: ${String(e.action ?? `${String(e.data?.server ?? '')}.${String(e.data?.tool ?? '')}`)} (upstream ${String(e.data?.server ?? '')})`,
              );
            break;
          case 'audit_verification_failed':
            if (VERIFICATION_FAILED_TYPES.has(e.type))
              raise(r, null, 'the node found its audit chain does not verify');
            break;
          case 'suspended_agent_calling':
            if (e.type === 'decision' && errorCodes(e).includes('agent_suspended'))
              raise(r, agent, `suspended agent ${agent ?? '?'} is still calling (${e.action ?? ''})`);
            break;
        }
      }
      return out;
    },
  };
}

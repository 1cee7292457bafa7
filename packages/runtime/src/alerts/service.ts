import type { AuditEvent } from '@mandate/protocol';
import {
  MandateError,
  createPacer,
  hmacSha256Hex,
  newId,
  sleepUnlessAborted,
  type Clock,
  type Logger,
} from '../kernel/index.js';
import type { Store } from '../storage/port.js';
import { holdToEvents, type TamperReport } from '../audit/columns.js';
import { redactText } from '../audit/redact.js';
import type { AlertsConfig } from '../config/alerts-schema.js';
import { createRuleEngine, type RaisedAlert } from './rules.js';
import {
  batchBreak,
  headBreak,
  pushMark,
  rewindReader,
  startingPoint,
  type ChainPoint,
} from '../sinks/continuity.js';

/** The evaluator's cursor in `sink_cursors`; `~` keeps it apart from any sink name. */
const CURSOR = '~alerts';

export interface Mute {
  rule: string;
  /** The agent the mute covers, or `*` for every subject of the rule. */
  agent: string;
  reason: string;
  by: string;
  at: string;
  /** ISO time the mute ends, or null until unmuted. */
  until: string | null;
}

export interface AlertView {
  alertId: string;
  rule: string;
  ruleType: string;
  agent: string | null;
  reason: string;
  count: number | null;
  triggerSeq: number;
  time: string;
  seq: number;
  acknowledged: { by: string; at: string; comment: string | null } | null;
}

export interface AlertingDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  config: AlertsConfig;
  pollMs: number;
  /** Where a record found through an edited query column is reported (the node's `auditTampered`). */
  tampered?: TamperReport;
}

export interface Alerting {
  list(opts: { status?: 'open' | 'acknowledged'; limit: number; after: number }): Promise<{
    items: AlertView[];
    nextCursor: string | null;
  }>;
  acknowledge(alertId: string, by: string, comment: string | null): Promise<AlertView>;
  mute(m: Omit<Mute, 'at' | 'by'>, by: string): Promise<Mute>;
  unmute(rule: string, agent: string, by: string): Promise<void>;
  mutes(): Promise<Mute[]>;
  /** Starts the evaluator loop (the serving node). */
  start(): void;
  close(): Promise<void>;
}

const muteKey = (rule: string, agent: string) => `${rule}\0${agent}`;

/** Active mutes as the chain records them (`alert.muted` / `alert.unmuted`, in order). */
async function loadMutes(store: Store, tampered?: TamperReport): Promise<Map<string, Mute>> {
  const out = new Map<string, Mute>();
  const rows = [
    ...(await store.queryAudit({ type: 'alert.muted', limit: 100_000 })),
    ...(await store.queryAudit({ type: 'alert.unmuted', limit: 100_000 })),
  ].sort((a, b) => a.seq - b.seq);
  for (const { event } of await holdToEvents(rows, tampered)) applyMuteEvent(out, event);
  return out;
}

function applyMuteEvent(mutes: Map<string, Mute>, e: AuditEvent): void {
  const d = e.data as Record<string, string | null>;
  const key = muteKey(String(d.rule), String(d.agent));
  if (e.type === 'alert.muted')
    mutes.set(key, {
      rule: String(d.rule),
      agent: String(d.agent),
      reason: String(d.reason),
      by: String(d.by),
      at: e.time,
      until: d.until ?? null,
    });
  else if (e.type === 'alert.unmuted') mutes.delete(key);
}

/**
 * Alert rules over the audit stream (docs/alerts.md). The evaluator reads the chain from its own
 * durable cursor, like a sink; an alert is an `alert.fired` audit event (so it reaches every sink)
 * and, when configured, a webhook post in JSON or a Slack-compatible `{"text"}`. Acknowledging and
 * muting are audit events too: the chain is the one record of who silenced what, and why.
 */
export function createAlerting(d: AlertingDeps): Alerting {
  // SECURITY: alerts, acknowledgements and mutes are found by their `type` column, which a DB admin
  // can edit without breaking a hash; each is held to its hashed event (ADR 0014's lookups).
  const tampered = d.tampered;
  const stop = new AbortController();
  let loop: Promise<void> | null = null;
  const rules = d.config.rules;

  const isMuted = (mutes: Map<string, Mute>, a: RaisedAlert, at: string) => {
    for (const m of [mutes.get(muteKey(a.rule, a.agent ?? '*')), mutes.get(muteKey(a.rule, '*'))])
      if (m && (m.until === null || m.until > at)) return true;
    return false;
  };

  async function notify(alert: Record<string, unknown>): Promise<void> {
    const w = d.config.webhook;
    if (!w) return;
    const body =
      w.format === 'slack'
        ? JSON.stringify({
            text: `:rotating_light: Mandate alert *${String(alert.rule)}*: ${String(alert.reason)} (alert ${String(alert.alertId)})`,
          })
        : JSON.stringify(alert);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (w.secret && w.format === 'json')
      headers['x-mandate-signature'] = `sha256=${hmacSha256Hex(w.secret, body)}`;
    try {
      // SECURITY: a redirect is not followed (as for sinks and the other webhooks): a 307 re-posted
      // the signed alert to wherever Location said, a 302 answered by a GET counted as sent.
      const res = await fetch(w.url, {
        method: 'POST',
        body,
        headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(w.timeoutMs),
      });
      await res.text();
      if (res.status >= 300 && res.status <= 399)
        throw new Error(
          `answered ${res.status}, a redirect; redirects are not followed: configure the URL it points to`,
        );
      if (!res.ok) throw new Error(`answered ${res.status}`);
    } catch (err) {
      // The audit event is the durable alert (and reaches the sinks); the webhook is a courtesy.
      d.logger.warn('alert webhook failed', { alertId: alert.alertId, error: (err as Error).message });
    }
  }

  async function run(): Promise<void> {
    // The evaluator polls every pollMs for the node's lifetime: its sleeps must not pile listeners on `stop`.
    const sleep = (ms: number) => sleepUnlessAborted(ms, stop.signal);
    const engine = createRuleEngine(rules);
    let mutes = new Map<string, Mute>();
    // Where the evaluator stands (seq and hash, like a sink's cursor: docs/streaming.md), the batch
    // ends it evaluated (where a rewind can go), and when it read its last batch.
    let at: ChainPoint = { seq: 0, hash: null };
    const marks: { seq: number; hash: string }[] = [];
    let readAt = new Date(d.clock.now()).toISOString();
    /**
     * After a rewind: records up to `upTo` that were on the chain when the evaluator last read it
     * (their time before `before`) were evaluated already and are not raised again; the records
     * written at re-used seqs since the rewrite (a tamper finding among them) are.
     */
    let replay = null as { upTo: number; before: string } | null;
    for (;;) {
      if (stop.signal.aborted) return;
      try {
        mutes = await loadMutes(d.store, tampered);
        const stored = await d.store.getSinkCursor(CURSOR);
        if (stored) {
          at = startingPoint(stored.seq, stored.hash);
          readAt = stored.updatedAt;
        } else {
          const head = await d.store.auditHead();
          at = { seq: head.seq, hash: head.hash };
        }
        break;
      } catch (err) {
        d.logger.warn('alert evaluator cannot start yet', { error: (err as Error).message });
        await sleep(1000);
      }
    }
    // A first start evaluates from now on, not the whole history.
    await d.store.advanceSinkCursor(CURSOR, at.seq, readAt, at.hash).catch(() => undefined);
    /** The chain was rewritten at or below the cursor: evaluate again from a record still unchanged. */
    const rewind = async (why: string) => {
      const r = await rewindReader(d.store, CURSOR, at, marks, readAt);
      // Another node's evaluator moved it: go on from there, checked like any other point.
      if ('followed' in r) {
        at = r.followed;
        return;
      }
      const { to, head } = r;
      replay = { upTo: Math.max(replay?.upTo ?? 0, at.seq), before: readAt };
      d.logger.error('alert evaluator found the chain rewritten at or before its cursor; evaluating again', {
        cursor: at.seq,
        head: head.seq,
        found: why,
        from: to.seq + 1,
        basis: to.basis,
      });
      at = { seq: to.seq, hash: to.hash };
    };
    while (!stop.signal.aborted) {
      let batch;
      try {
        const reading = new Date(d.clock.now()).toISOString();
        batch = await d.store.readAudit(at.seq, 500);
        // An idle poll reads the head too: a chain cut below the cursor shows only there.
        const broken =
          batch.length === 0
            ? headBreak(at, await d.store.auditHead())
            : await batchBreak(d.store, at, batch);
        if (broken !== null) {
          await rewind(broken);
          continue;
        }
        if (batch.length > 0) readAt = reading;
      } catch (err) {
        d.logger.warn('alert evaluator cannot read the trail', { error: (err as Error).message });
        await sleep(1000);
        continue;
      }
      if (batch.length === 0) {
        await sleep(d.pollMs);
        continue;
      }
      // PERF: a backlog is worked through beside the node's decisions, in slices (kernel/pace.ts).
      const pacer = createPacer();
      for (const rec of batch) {
        if (pacer.due()) await pacer.yield();
        const e = JSON.parse(rec.eventText) as AuditEvent;
        if (e.type.startsWith('alert.')) {
          applyMuteEvent(mutes, e);
          continue;
        }
        // Evaluated before the rewrite (on the chain when the evaluator read it): not raised twice.
        if (replay && rec.seq <= replay.upTo && e.time < replay.before) continue;
        for (const a of engine.observe(rec.seq, e)) {
          if (isMuted(mutes, a, e.time)) continue;
          const alert = { alertId: newId('alr', d.clock.now()), ...a };
          try {
            await d.record({
              type: 'alert.fired',
              ...(a.agent ? { agent: a.agent } : {}),
              data: { ...alert },
            });
          } catch (err) {
            d.logger.error('alert not recorded', { rule: a.rule, error: (err as Error).message });
          }
          void notify({ ...alert, time: e.time });
        }
      }
      const last = batch[batch.length - 1]!;
      at = { seq: last.seq, hash: last.hash };
      pushMark(marks, { seq: last.seq, hash: last.hash });
      if (replay && last.seq >= replay.upTo) replay = null;
      // Its time is when this batch was read: after a restart on a rewritten chain, records older
      // than that were evaluated already (`replay`).
      await d.store
        .advanceSinkCursor(CURSOR, at.seq, readAt, at.hash)
        .catch((err: Error) => d.logger.warn('alert cursor not saved', { error: err.message }));
    }
  }

  async function acks(): Promise<Map<string, AlertView['acknowledged']>> {
    const out = new Map<string, AlertView['acknowledged']>();
    const rows = await d.store.queryAudit({ type: 'alert.acknowledged', limit: 100_000 });
    for (const { event: e } of await holdToEvents(rows, tampered)) {
      const x = e.data as { alertId: string; by: string; comment?: string | null };
      if (!out.has(x.alertId)) out.set(x.alertId, { by: x.by, at: e.time, comment: x.comment ?? null });
    }
    return out;
  }

  const view = (seq: number, e: AuditEvent, ack: AlertView['acknowledged']): AlertView => {
    const x = e.data as Record<string, unknown>;
    return {
      alertId: String(x.alertId),
      rule: String(x.rule),
      ruleType: String(x.ruleType),
      agent: (x.agent as string | null) ?? null,
      reason: String(x.reason),
      count: typeof x.count === 'number' ? x.count : null,
      triggerSeq: Number(x.triggerSeq),
      time: e.time,
      seq,
      acknowledged: ack ?? null,
    };
  };

  async function find(alertId: string): Promise<{ seq: number; e: AuditEvent } | null> {
    let after = 0;
    for (;;) {
      const rows = await d.store.queryAudit({ type: 'alert.fired', afterSeq: after, limit: 1000 });
      for (const { rec, event: e } of await holdToEvents(rows, tampered)) {
        if ((e.data as { alertId?: string }).alertId === alertId) return { seq: rec.seq, e };
      }
      if (rows.length < 1000) return null;
      after = rows[rows.length - 1]!.seq;
    }
  }

  return {
    async list({ status, limit, after }) {
      const ackMap = await acks();
      const items: AlertView[] = [];
      let next = after;
      for (;;) {
        const rows = await d.store.queryAudit({ type: 'alert.fired', afterSeq: next, limit: 500 });
        for (const { rec: r, event: e } of await holdToEvents(rows, tampered)) {
          next = r.seq;
          const v = view(r.seq, e, ackMap.get(String(e.data.alertId)) ?? null);
          if (status === 'open' && v.acknowledged) continue;
          if (status === 'acknowledged' && !v.acknowledged) continue;
          items.push(v);
          if (items.length === limit) return { items, nextCursor: String(r.seq) };
        }
        if (rows.length < 500) return { items, nextCursor: null };
        next = rows[rows.length - 1]!.seq; // past records left out too
      }
    },
    async acknowledge(alertId, by, comment) {
      const found = await find(alertId);
      if (!found) throw new MandateError('not_found', `no alert ${alertId}`);
      const prior = (await acks()).get(alertId);
      if (prior)
        throw new MandateError('conflict', `alert ${alertId} was acknowledged by ${prior.by} at ${prior.at}`);
      // SECURITY: free text on the hashed, unerasable record: secret shapes redacted, as an
      // approver's comment and an agent's intent are.
      const note = comment === null ? null : redactText(comment);
      await d.record({ type: 'alert.acknowledged', data: { alertId, by, comment: note } });
      return view(found.seq, found.e, { by, at: new Date(d.clock.now()).toISOString(), comment: note });
    },
    async mute(m, by) {
      if (!rules.some((r) => r.name === m.rule))
        throw new MandateError('not_found', `no alert rule ${m.rule}`);
      const at = new Date(d.clock.now()).toISOString();
      if (m.until !== null && m.until <= at)
        throw new MandateError('bad_request', 'until must be in the future');
      await d.record({
        type: 'alert.muted',
        ...(m.agent !== '*' ? { agent: m.agent } : {}),
        data: { rule: m.rule, agent: m.agent, reason: m.reason, until: m.until, by },
      });
      return { ...m, by, at };
    },
    async unmute(rule, agent, by) {
      const active = await loadMutes(d.store, tampered);
      if (!active.has(muteKey(rule, agent)))
        throw new MandateError('not_found', `rule ${rule} is not muted for ${agent}`);
      await d.record({
        type: 'alert.unmuted',
        ...(agent !== '*' ? { agent } : {}),
        data: { rule, agent, by },
      });
    },
    async mutes() {
      const now = new Date(d.clock.now()).toISOString();
      return [...(await loadMutes(d.store, tampered)).values()].filter(
        (m) => m.until === null || m.until > now,
      );
    },
    start() {
      if (rules.length > 0 && !loop)
        loop = run().catch((err: unknown) =>
          d.logger.error('alert evaluator stopped', { error: (err as Error).message }),
        );
    },
    async close() {
      stop.abort();
      await loop;
    },
  };
}

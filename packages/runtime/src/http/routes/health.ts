import { type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';
import type { SinkStatus } from '../../sinks/index.js';
import type { ShadowMode } from '../../decisions/shadow.js';
import { renderCounter } from '../metrics.js';
import { unavailableReason, type StoreUnavailableReason } from '../../storage/index.js';
import type { ReadCachedStore } from '../../storage/read-cache.js';

/** `/healthz`, `/readyz` and `/metrics`. */
export function registerHealthRoutes(route: RouteAdder, deps: HttpDeps): void {
  route('GET', '/healthz', async () => ({ status: 'ok' }));
  route('GET', '/readyz', async (ctx) => {
    const active = deps.policies.active();
    // Why the store cannot serve (locked, full, closed, unreachable), or null when it can.
    let storeReason: StoreUnavailableReason | null = null;
    try {
      await deps.store.ping();
    } catch (err) {
      storeReason = unavailableReason(err) ?? 'unreachable';
    }
    const storeOk = storeReason === null;
    // A loaded set is not enough: the engine evaluating it must still answer (issue 8 §6).
    const engine = deps.policies.health();
    const ready = active !== null && storeOk && engine.ok;
    if (!ready) ctx.res.statusCode = 503;
    // Tampering found in the chain is shown, not made a reason to stop answering: decisions keep
    // their records, and the operator needs the node up to look.
    const integrity = deps.auditIntegrity?.();
    return {
      ready,
      policyVersion: active?.version ?? null,
      store: storeOk ? 'ok' : 'unavailable',
      ...(storeOk ? {} : { storeReason }),
      engine: engine.ok ? 'ok' : 'broken',
      ...(engine.ok ? {} : { engineReason: engine.reason }),
      ...(integrity
        ? {
            audit: integrity.ok ? 'ok' : 'tampered',
            auditVerifiedSeq: integrity.verifiedSeq,
            ...(integrity.failure ? { auditProblem: integrity.failure } : {}),
          }
        : {}),
    };
  });
  route('GET', '/metrics', async (ctx) => {
    const s = deps.auditStats();
    const integrity = deps.auditIntegrity?.();
    const cache = (deps.store as Partial<ReadCachedStore>).readCacheStats?.();
    const wal = deps.store.walCheckpointStats?.() ?? null;
    const text = deps.metrics.render({
      mandate_audit_queue_events: { help: 'Audit events waiting for their group commit.', value: s.queued },
      mandate_audit_lag_seconds: {
        help: 'Age of the oldest audit event not yet committed.',
        value: s.oldestQueuedMs / 1000,
      },
      mandate_audit_events_appended_total: {
        help: 'Audit events committed by this node.',
        value: s.appended,
      },
      ...(s.checkpoints !== undefined
        ? {
            mandate_audit_checkpoints_written_total: {
              help: 'Signed checkpoints written by this node.',
              value: s.checkpoints,
            },
          }
        : {}),
      ...(s.mirrorFailures !== undefined
        ? {
            mandate_audit_checkpoint_mirror_failures_total: {
              help: 'Checkpoint copies a mirror (file, webhook) failed to take.',
              value: s.mirrorFailures,
            },
          }
        : {}),
      ...(integrity
        ? {
            mandate_audit_chain_ok: {
              help: '1 while the continuous check of the chain found nothing wrong, 0 once it found tampering.',
              value: integrity.ok ? 1 : 0,
            },
            mandate_audit_chain_verified_seq: {
              help: 'The last record the continuous check verified.',
              value: integrity.verifiedSeq,
            },
            ...(integrity.unverified === null
              ? {}
              : {
                  mandate_audit_chain_unverified_records: {
                    help: 'Records past the last one the continuous check verified, when it last ran (grows when the node appends more than a check covers).',
                    value: integrity.unverified,
                  },
                }),
            mandate_audit_chain_history_unverified_records: {
              help: 'Records before the checkpoint the continuous check started from (ADR 0035) that it has not verified yet; 0 once it has.',
              value: integrity.anchorSeq - integrity.historySeq,
            },
          }
        : {}),
      ...(cache
        ? {
            mandate_read_cache_hits_total: {
              help: 'Key, entity and grant reads served from memory after checking the cache epoch (ADR 0026).',
              value: cache.hits,
            },
            mandate_read_cache_misses_total: {
              help: 'Key, entity and grant reads that went to the store.',
              value: cache.misses,
            },
            mandate_read_cache_epoch_reads_total: {
              help: 'Cache epoch reads sent to the store (concurrent calls share one).',
              value: cache.epochReads,
            },
          }
        : {}),
      ...(wal
        ? {
            mandate_sqlite_wal_checkpoints_total: {
              help: 'WAL checkpoints the SQLite checkpoint worker completed (ADR 0031).',
              value: wal.checkpoints,
            },
            mandate_sqlite_wal_restarts_total: {
              help: 'Of those, the ones that restarted the WAL so it stays bounded.',
              value: wal.restarts,
            },
            mandate_sqlite_wal_frames: {
              help: 'WAL frames after the last checkpoint.',
              value: wal.walFrames,
            },
            mandate_sqlite_wal_checkpoint_worker_ok: {
              help: '1 while the worker checkpoints; 0 once it failed and SQLite checkpoints inside its commits again.',
              value: wal.fellBack ? 0 : 1,
            },
          }
        : {}),
      mandate_policy_divergences: {
        help: 'Compiled-engine answers that cedar-wasm, re-asked in production verification, answered otherwise.',
        value: deps.engine.divergences?.() ?? 0,
      },
      mandate_policy_loaded: {
        help: '1 when a policy set is active.',
        value: deps.policies.active() ? 1 : 0,
      },
      mandate_policy_engine_ok: {
        help: '1 while the policy engine answers its canary evaluation.',
        value: deps.policies.health().ok ? 1 : 0,
      },
    });
    ctx.res.setHeader('content-type', 'text/plain; version=0.0.4');
    return text + sinkMetrics(deps.sinks?.() ?? []) + (deps.shadow ? shadowMetrics(deps.shadow) : '');
  });
}

/** Per-sink series: how far behind the chain head each receiver is, and how it is doing. */
function sinkMetrics(sinks: SinkStatus[]): string {
  if (sinks.length === 0) return '';
  const out: string[] = [];
  const series = (name: string, help: string, type: string, value: (s: SinkStatus) => number) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const s of sinks) out.push(`${name}{sink="${s.name}",type="${s.type}"} ${value(s)}`);
  };
  series(
    'mandate_audit_sink_lag_records',
    'Audit records not yet acknowledged by the sink.',
    'gauge',
    (s) => s.lag,
  );
  series('mandate_audit_sink_cursor', 'Last audit seq the sink acknowledged.', 'gauge', (s) => s.cursor);
  series(
    'mandate_audit_sink_delivered_total',
    'Audit records delivered by this node.',
    'counter',
    (s) => s.delivered,
  );
  series(
    'mandate_audit_sink_omitted_total',
    'Audit records delivered as a stand-in (too large for the sink, or refused by the receiver).',
    'counter',
    (s) => s.omitted,
  );
  series(
    'mandate_audit_sink_rewinds_total',
    'Times the sink found the audit chain rewritten at or below its cursor and delivered again.',
    'counter',
    (s) => s.rewinds,
  );
  series(
    'mandate_audit_sink_failures',
    'Failed deliveries since the last success.',
    'gauge',
    (s) => s.failures,
  );
  return out.join('\n') + '\n';
}

/** Shadow mode: divergences by the shadow's determining policy and the two effects, work done and dropped. */
function shadowMetrics(shadow: ShadowMode): string {
  const stats = shadow.evaluator.stats();
  return [
    renderCounter(
      'mandate_shadow_divergences_total',
      'Live decisions the shadow policy set decides otherwise, by its determining policy and the effects.',
      shadow.evaluator.divergences().map((d) => [{ policy: d.policy, from: d.from, to: d.to }, d.count]),
    ),
    renderCounter('mandate_shadow_evaluations_total', 'Live decisions evaluated against the shadow set.', [
      [{}, stats.evaluated],
    ]),
    renderCounter(
      'mandate_shadow_dropped_total',
      'Live decisions not evaluated against the shadow set because its queue was full.',
      [[{}, stats.dropped]],
    ),
  ].join('');
}

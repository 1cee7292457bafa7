import { type RouteAdder } from '../router.js';
import type { HttpDeps } from '../deps.js';
import { unavailableReason, type StoreUnavailableReason } from '../../storage/index.js';

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
    return {
      ready,
      policyVersion: active?.version ?? null,
      store: storeOk ? 'ok' : 'unavailable',
      ...(storeOk ? {} : { storeReason }),
      engine: engine.ok ? 'ok' : 'broken',
      ...(engine.ok ? {} : { engineReason: engine.reason }),
    };
  });
  route('GET', '/metrics', async (ctx) => {
    const s = deps.auditStats();
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
    return text;
  });
}

import { singleFlight } from '../kernel/index.js';
import type { ShadowPolicyRef } from '../storage/port.js';
import type { CompiledPolicySet, PolicySetSource } from './port.js';
import { savePolicySource, type PolicyServiceDeps } from './service.js';
import { createSetSlot } from './retiring.js';

/** The same collaborators as the active set's service. */
export type ShadowSetDeps = PolicyServiceDeps;

/**
 * The candidate set evaluated beside the active one (issue 14 §1). Stored in the shared store, so
 * every node loads the same one: on the activation notification (PostgreSQL) or the poll.
 */
export interface ShadowSet {
  /** The compiled shadow set, or null when none is set. Hot path: no I/O. */
  current(): CompiledPolicySet | null;
  /** Loads the store's shadow when it differs from ours (at start, on notification, on the poll). */
  refresh(): Promise<boolean>;
  /** Validates, saves and sets the shadow (throws `policy_invalid` for an invalid set; nothing changes). */
  activate(source: PolicySetSource, origin: string): Promise<{ version: string; changed: boolean }>;
  /** Clears the shadow; false when none was set. */
  clear(origin: string): Promise<{ cleared: boolean; version: string | null }>;
  /** The store's shadow reference (version, when set). */
  stored(): Promise<ShadowPolicyRef | null>;
  close(): void;
}

export function createShadowSet(deps: ShadowSetDeps): ShadowSet {
  // Shadow evaluations queued with the old set may still run: it is freed only after they are done.
  const slot = createSetSlot();

  const load = async (): Promise<boolean> => {
    const ref = await deps.store.getShadowPolicy();
    const current = slot.current();
    if (ref === null) {
      if (current === null) return false;
      slot.swap(null);
      deps.logger.info('shadow policy set cleared');
      return true;
    }
    // A set compiled into an engine instance replaced since (a healed wasm trap) is compiled again.
    if (ref.version === current?.version && current.usable()) return false;
    const stored = await deps.store.getPolicySet(ref.version);
    if (!stored) return false;
    try {
      const compiled = await slot.compiledUnlessSwapped(() =>
        deps.engine.compileAsync({ policies: stored.policies, schema: stored.schema }),
      );
      if (!compiled) return false;
      slot.swap(compiled);
      deps.logger.info('shadow policy set loaded', { version: ref.version });
      return true;
    } catch (err) {
      deps.logger.error('stored shadow policy set does not compile; shadow evaluation paused', {
        version: ref.version,
        error: (err as Error).message,
      });
      slot.swap(null);
      return false;
    }
  };
  const refresh = singleFlight(load);

  return {
    current: slot.current,

    refresh,

    async activate(source, origin) {
      const compiled = await deps.engine.compileAsync(source);
      const before = await deps.store.getShadowPolicy();
      if (before?.version === compiled.version) {
        if (compiled.version === slot.current()?.version) compiled.dispose();
        else slot.swap(compiled);
        return { version: compiled.version, changed: false };
      }
      const at = await savePolicySource(deps, compiled.version, source, origin);
      await deps.store.setShadowPolicy(compiled.version, at);
      slot.swap(compiled);
      await deps.audit({
        type: 'policy.shadow_activated',
        data: {
          version: compiled.version,
          previous: before?.version ?? null,
          source: origin,
          policies: compiled.policies.map((p) => p.id),
        },
      });
      deps.logger.info('shadow policy set activated', { version: compiled.version, source: origin });
      return { version: compiled.version, changed: true };
    },

    async clear(origin) {
      const before = await deps.store.getShadowPolicy();
      if (!before) {
        slot.swap(null);
        return { cleared: false, version: null };
      }
      await deps.store.setShadowPolicy(null, new Date(deps.clock.now()).toISOString());
      slot.swap(null);
      await deps.audit({ type: 'policy.shadow_cleared', data: { version: before.version, source: origin } });
      return { cleared: true, version: before.version };
    },

    stored: () => deps.store.getShadowPolicy(),

    close: slot.close,
  };
}

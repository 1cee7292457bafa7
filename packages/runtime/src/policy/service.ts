import type { AuditEvent } from '@mandate/protocol';
import {
  MandateError,
  isMandateError,
  latestFlight,
  singleFlight,
  type Clock,
  type Logger,
} from '../kernel/index.js';
import type { PolicySetSummary, Store, StoredPolicySet } from '../storage/port.js';
import type { CompiledPolicySet, EngineHealth, PolicyEngine, PolicySetSource } from './port.js';
import { createSetSlot } from './retiring.js';

export interface PolicyServiceDeps {
  engine: PolicyEngine;
  store: Store;
  clock: Clock;
  logger: Logger;
  audit: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
}

/** Holds the active compiled set and switches it atomically. */
export interface PolicyService {
  /** The active set, or null before one is loaded (then `/readyz` is not ready). Hot path: no I/O. */
  active(): CompiledPolicySet | null;
  /** Loads the store's active set (at start, and when another node activated one). */
  refresh(): Promise<boolean>;
  /**
   * Validates the whole set, saves and activates it, then swaps it in with one assignment.
   * An invalid set throws `policy_invalid` and changes nothing (P4: never half-loaded). Text from
   * outside the operator's files must have passed {@link PolicyEngine.screen} first.
   * With `baseVersion` (the version the caller edited from), a different active set is `conflict`
   * and nothing is activated: an edit of a stale copy never silently reverts a newer set.
   */
  activate(
    source: PolicySetSource,
    origin: string,
    options?: { baseVersion?: string },
  ): Promise<{ version: string; changed: boolean }>;
  /**
   * Checks the live engine with a canary; a broken one (a wasm trap can leave it so) is replaced by
   * a fresh instance and the active set compiled into it again. Returns the health found.
   */
  heal(): Promise<EngineHealth>;
  /** The live engine's canary, and whether the active set is still usable in it (for `/readyz`). */
  health(): EngineHealth;
  /**
   * When (`performance.now()`, ms) a check of the store's active version that this node's set
   * passed last began: the set was the store's then, or the node knowingly kept its last good set
   * (a stored set that does not compile, P4). 0 before the first. A node that cannot reach the
   * store stops confirming, and the decision path stops deciding past `policies.maxStaleMs`.
   */
  confirmedAt(): number;
  /**
   * Reports a version the store has made active, as a notification names it (LISTEN/NOTIFY), so
   * that {@link PolicyService.whenCurrent} holds decisions from that moment, before any read of
   * the store. The caller starts a {@link PolicyService.refresh} right after: it is what loads it.
   */
  noteActive(version: string): void;
  /**
   * Reports what a read of the store that began at `began` (`performance.now()`) found active: the
   * hot path's version check, read with the cache epoch on every node (DESIGN.md, Storage). A
   * version not this node's holds decisions from now on, as {@link PolicyService.noteActive}; this
   * node's own confirms its set as of `began`. Returns whether the node is behind: the caller then
   * starts a {@link PolicyService.refresh}, which loads the set.
   */
  observed(version: string | null, began: number): boolean;
  /**
   * `true` (at once, no await) unless this node knows that the store's active set is not the one it
   * decides on and is loading that one; then a promise of whether the new set was installed (or
   * knowingly not: a stored set that does not compile, P4) within `maxWaitMs` of the node learning
   * of it — false once that bound has passed.
   */
  whenCurrent(maxWaitMs: number): true | Promise<boolean>;
  versions(): Promise<PolicySetSummary[]>;
  get(version: string): Promise<StoredPolicySet | null>;
  close(): void;
}

export function createPolicyService(deps: PolicyServiceDeps): PolicyService {
  // Decisions in flight may still hold a replaced set; it is freed only after they are long done.
  const slot = createSetSlot();
  /** The text of the current set, to compile it again into a fresh engine instance without I/O. */
  let currentSource: PolicySetSource | null = null;
  /**
   * The store's active version as this node last learned it (a read of the store, a notification,
   * its own activation), with when (`performance.now()`) the read that found it began: a read that
   * began earlier and answers later may predate it, and is not taken over it.
   */
  let storeActive: { version: string | null; at: number } = { version: null, at: -Infinity };
  /**
   * The store's active version this node knowingly does not install: Cedar refused it (P4). Only
   * while it is the store's active one and not installed: cleared at every swap and whenever the
   * store's active version learned changes, so that the same version activated again later is
   * waited for again.
   */
  let keptOver: string | null = null;
  /** Since when this node knows its set is not the store's active one; null while it is. */
  let behindSince: number | null = null;
  /** Decisions waiting for the store's active set to be installed; woken at every change. */
  const waiting = new Set<() => void>();

  const behind = (): boolean => {
    const { version } = storeActive;
    return version !== null && version !== slot.current()?.version && version !== keptOver;
  };
  /** Re-reads the state after any change of it, and wakes the decisions that wait on it. */
  const settle = () => {
    if (!behind()) behindSince = null;
    else behindSince ??= performance.now();
    for (const wake of [...waiting]) wake();
  };
  /** What a read of the store that began at `at` found active (or a notification named). */
  const learn = (version: string | null, at: number) => {
    if (at < storeActive.at) return;
    // SECURITY: a refusal of one activation of a version is not one of the next (X, Y, X again):
    // kept, it let decisions go on the last set while that version was loaded once more.
    if (version !== storeActive.version) keptOver = null;
    storeActive = { version, at };
    settle();
  };
  const swap = (next: CompiledPolicySet, source: PolicySetSource) => {
    slot.swap(next);
    currentSource = source;
    keptOver = null;
    settle();
  };

  let confirmed = 0;
  /** The check that began at `began` found this node's set to be the one to serve. */
  const confirm = (began: number) => {
    if (began > confirmed) confirmed = began;
  };

  /** Loads the store's active set when it differs from ours. */
  const loadActive = async (): Promise<boolean> => {
    const began = performance.now();
    const version = await deps.store.getActivePolicyVersion();
    // SECURITY: from here, a version not ours holds every decision until it is installed
    // (whenCurrent): deciding on with the last set while the new one compiles allowed, for seconds
    // after the activation was answered, what the new set forbids.
    learn(version, began);
    if (version === null || version === slot.current()?.version) {
      confirm(began);
      return false;
    }
    const read = performance.now();
    const stored = await deps.store.getActivePolicySet();
    if (stored) learn(stored.version, read);
    if (!stored || stored.version === slot.current()?.version) {
      if (stored) confirm(began);
      return false;
    }
    const source = { policies: stored.policies, schema: stored.schema };
    let compiled: CompiledPolicySet | null;
    try {
      // PERF: a large set is read off the event loop; the event loop goes on serving everything
      // else, and decisions wait for this set (whenCurrent) instead of being answered on the last.
      // SECURITY: dropped if an activation on this node swapped a (maybe newer) set in meanwhile.
      compiled = await slot.compiledUnlessSwapped(() => deps.engine.compileAsync(source));
    } catch (err) {
      // SECURITY: fail closed — only Cedar's own refusal of the text or schema is a set that does
      // not compile. An engine that could not read it (its reader process killed, out of memory,
      // timed out, not started) says nothing of the set: decisions go on waiting for it, within
      // `policies.maxStaleMs`, and the next poll or notification loads it again. Read as 'does not
      // compile', it let a node decide on the replaced set while another enforced an emergency forbid.
      if (!isMandateError(err) || err.code !== 'policy_invalid') {
        deps.logger.error(
          'cannot load the stored active policy set (the engine failed, not the set); decisions wait for it and it is loaded again at the next refresh',
          { version: stored.version, error: (err as Error).message },
        );
        return false;
      }
      // P4: a stored set that no longer compiles keeps the last good one in place; decisions
      // waiting for it go on with that one.
      keptOver = stored.version;
      settle();
      confirm(began);
      deps.logger.error('stored active policy set does not compile; keeping the last good set', {
        version: stored.version,
        error: (err as Error).message,
      });
      return false;
    }
    if (!compiled) return false;
    // SECURITY: a set activated elsewhere while this one compiled (an emergency forbid right after
    // a large set) supersedes it: installing the stale one would decide on it until the next
    // load. Dropped, and the newer one loaded now. A check that fails is not a set that does not
    // compile (P4): the decisions waiting for this set go on waiting, within their bound.
    const checked = performance.now();
    let now: string | null;
    try {
      now = await deps.store.getActivePolicyVersion();
    } catch (err) {
      compiled.dispose();
      throw err;
    }
    learn(now, checked);
    if (now !== stored.version) {
      compiled.dispose();
      deps.logger.info('policy set superseded while it compiled; loading the newer one', {
        version: stored.version,
        active: now,
      });
      return loadActive();
    }
    swap(compiled, source);
    confirm(began);
    deps.logger.info('policy set loaded', {
      version: stored.version,
      policies: compiled.policies.length,
    });
    return true;
  };
  // The poll and a notification can ask at once: one load at a time, so a set is compiled once; a
  // notification during a load gets one more load after it (it may name a newer set).
  const refresh = latestFlight(loadActive);

  let closed = false;
  const whenCurrent = (maxWaitMs: number): true | Promise<boolean> => {
    if (!behind()) return true;
    return (async () => {
      while (behind()) {
        if (closed) return false;
        const left = (behindSince ?? performance.now()) + maxWaitMs - performance.now();
        if (left <= 0) return false;
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            waiting.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, left);
          waiting.add(wake);
        });
      }
      return true;
    })();
  };

  const health = (): EngineHealth => {
    const engine = deps.engine.health();
    if (!engine.ok) return engine;
    const current = slot.current();
    if (current && !current.usable())
      return { ok: false, reason: 'the active policy set is being compiled again into a fresh engine' };
    return engine;
  };

  const healEngine = async (): Promise<EngineHealth> => {
    const found = health();
    if (found.ok) return found;
    if (!deps.engine.health().ok) {
      deps.logger.error('policy engine is broken; starting a fresh instance', { reason: found.reason });
      deps.engine.reinstantiate();
    }
    // Every set compiled before lived in the old instance: the active one is compiled again.
    const current = slot.current();
    if (current && currentSource) {
      try {
        const version = current.version;
        swap(deps.engine.compile(currentSource), currentSource);
        deps.logger.info('policy engine recovered', { version });
      } catch (err) {
        deps.logger.error('policy engine could not compile the active set again', {
          error: (err as Error).message,
        });
      }
    }
    return found;
  };
  const heal = singleFlight(healEngine);

  /**
   * SECURITY: activations on this node run one at a time, in the order they were asked for. A large
   * set compiles for seconds off the event loop (ADR 0034): a small set activated meanwhile was
   * applied first and then silently replaced by the slower, earlier one — an emergency rollback to a
   * strict set undone a second later.
   */
  let activations: Promise<unknown> = Promise.resolve();
  const activateInTurn = (
    source: PolicySetSource,
    origin: string,
    options: { baseVersion?: string } = {},
  ) => {
    const turn = activations.then(() =>
      activateNow(source, origin, options.baseVersion).finally(() => {
        // An activation's checks that found another set active (a conflict, a set that did not
        // compile) hold decisions too: that set is loaded now, not at the next poll.
        if (behind())
          refresh().catch((err: Error) => deps.logger.warn('policy refresh failed', { error: err.message }));
      }),
    );
    activations = turn.catch(() => undefined);
    return turn;
  };

  async function activateNow(source: PolicySetSource, origin: string, base: string | undefined) {
    const began = performance.now();
    const seen = await deps.store.getActivePolicyVersion();
    learn(seen, began);
    const compiled = await deps.engine.compileAsync(source);
    const checked = performance.now();
    const now = await deps.store.getActivePolicyVersion();
    learn(now, checked);
    // Record only real changes: a set the store already has active (an unchanged policy
    // directory at start, the same set activated on another node) is loaded, not re-activated.
    if (now === compiled.version) {
      if (compiled.version === slot.current()?.version) compiled.dispose();
      else swap(compiled, source);
      confirm(began);
      return { version: compiled.version, changed: false };
    }
    // SECURITY: fail closed — the caller edited another set than the active one (a page loaded
    // before someone else's activation): activating it would silently undo that activation.
    if (base !== undefined && now !== base) {
      compiled.dispose();
      throw new MandateError(
        'conflict',
        `the active policy set is ${String(now)}, not ${base} that this one was edited from; nothing was activated: load the active set, apply your changes to it and send it again with baseVersion ${String(now)}`,
        { details: { activeVersion: now, baseVersion: base } },
      );
    }
    // Another node activated a set while this one compiled: activating now would replace a newer
    // decision with an older request. Refused; the admin looks and sends it again.
    if (now !== seen) {
      compiled.dispose();
      throw new MandateError(
        'conflict',
        `policy set ${String(now)} was activated while this one (${compiled.version}) was compiled; nothing was activated: check the active set and send it again`,
      );
    }
    // The store activates it only if `now` is still the active version, checked in the same atomic
    // step: another node passing the same checks at the same moment gets conflict, not a silent undo.
    const done = await commit(compiled, source, origin, now);
    confirm(began);
    return done;
  }

  /** Saves and activates a compiled set, swaps it in and records it. */
  async function commit(
    compiled: CompiledPolicySet,
    source: PolicySetSource,
    origin: string,
    expected?: string | null,
  ) {
    const at = await savePolicySource(deps, compiled.version, source, origin);
    // The version it replaces: the one the store checked was active, when it checked one.
    const previous = expected !== undefined ? expected : (slot.current()?.version ?? null);
    let activated: boolean;
    try {
      activated = await deps.store.activatePolicySet(compiled.version, at, expected);
    } catch (err) {
      compiled.dispose();
      throw err;
    }
    // Active in the store from this answer on (either way below): reads that began before it may
    // still name the version it replaced.
    learn(compiled.version, performance.now());
    if (!activated) {
      // Another node activated this very set meanwhile (nodes starting together on an empty
      // store): it is active and on the record once; this node only loads it.
      if (compiled.version === slot.current()?.version) compiled.dispose();
      else swap(compiled, source);
      return { version: compiled.version, changed: false };
    }
    swap(compiled, source);
    await deps.audit({
      type: 'policy.activated',
      data: {
        version: compiled.version,
        previous,
        source: origin,
        policies: compiled.policies.map((p) => p.id),
      },
    });
    deps.logger.info('policy set activated', { version: compiled.version, previous, source: origin });
    return { version: compiled.version, changed: true };
  }

  return {
    active: slot.current,

    refresh,

    activate: activateInTurn,

    health,

    confirmedAt: () => confirmed,

    noteActive: (version) => learn(version, performance.now()),

    observed(version, began) {
      learn(version, began);
      if (behind()) return true;
      // Only a read that is the newest known confirms: an older one was not taken over it.
      if (storeActive.at === began) confirm(began);
      return false;
    },

    whenCurrent,

    heal,

    versions: () => deps.store.listPolicySets(),

    async get(version) {
      const s = await deps.store.getPolicySet(version);
      if (!s) throw new MandateError('not_found', `no policy set ${version}`);
      return s;
    },

    close() {
      closed = true;
      slot.close();
      for (const wake of [...waiting]) wake();
    },
  };
}

/** Saves a set's text under its version (idempotent) and returns the time it used, as ISO. */
export async function savePolicySource(
  deps: Pick<PolicyServiceDeps, 'store' | 'clock'>,
  version: string,
  source: PolicySetSource,
  origin: string,
): Promise<string> {
  const at = new Date(deps.clock.now()).toISOString();
  await deps.store.savePolicySet({
    version,
    policies: source.policies,
    schema: source.schema,
    createdAt: at,
    source: origin,
  });
  return at;
}

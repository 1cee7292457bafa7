/**
 * Indexing policies by action and principal type, so an evaluation hands the engine only the
 * policies whose scope can match the request (DESIGN.md, "Performance budget"). Engine-independent:
 * the Cedar adapter extracts each policy's scope, this module decides membership.
 *
 * The one invariant: a slice may hold policies that cannot match (that only costs time), it must
 * never miss one that can (that would change decisions). Anything not understood is kept in every
 * slice.
 */

/** One action a policy's action constraint names. */
export interface ScopedAction {
  id: string;
  /** `in`: the action itself and every action that is (transitively) a member of it. `==`: only itself. */
  descendants: boolean;
}

/** What slicing knows of a policy's scope. */
export interface PolicyScope {
  /** `undefined`: the policy can match any action. */
  actions?: readonly ScopedAction[];
  /** `undefined`: the policy can match any principal type (`principal`, `principal in …`). */
  principalType?: string;
}

/** A pure index over a compiled set's policy scopes. */
export interface SliceIndex {
  /**
   * A cache key for the slice of (action, principalType). Principal types no policy names share one
   * key, so callers cannot grow a slice cache without bound by inventing types.
   */
  key(action: string, principalType: string): string;
  /** Indexes (ascending) of the policies whose scope can match the request. */
  select(action: string, principalType: string): number[];
}

/**
 * For each declared action, the set of itself and all its transitive groups (`memberOf`).
 * Cycles (which a schema should not have) terminate thanks to the visited set.
 */
export function actionAncestors(
  memberOf: ReadonlyMap<string, readonly string[]>,
): Map<string, ReadonlySet<string>> {
  const out = new Map<string, ReadonlySet<string>>();
  for (const action of memberOf.keys()) {
    const seen = new Set<string>([action]);
    const queue = [action];
    while (queue.length > 0) {
      const next = queue.pop()!;
      for (const parent of memberOf.get(next) ?? []) {
        if (!seen.has(parent)) {
          seen.add(parent);
          queue.push(parent);
        }
      }
    }
    out.set(action, seen);
  }
  return out;
}

/** Builds the index; `ancestors` comes from {@link actionAncestors}. */
export function createSliceIndex(
  scopes: readonly PolicyScope[],
  ancestors: ReadonlyMap<string, ReadonlySet<string>>,
): SliceIndex {
  const namedTypes = new Set<string>();
  for (const scope of scopes) if (scope.principalType !== undefined) namedTypes.add(scope.principalType);

  const actionMatches = (scope: PolicyScope, action: string): boolean => {
    if (scope.actions === undefined) return true;
    const mine = ancestors.get(action) ?? new Set([action]);
    return scope.actions.some((a) => (a.descendants ? mine.has(a.id) : a.id === action));
  };

  return {
    key(action, principalType) {
      return action + '\u0000' + (namedTypes.has(principalType) ? principalType : '\u0000');
    },
    select(action, principalType) {
      const picked: number[] = [];
      scopes.forEach((scope, i) => {
        const typeOk = scope.principalType === undefined || scope.principalType === principalType;
        if (typeOk && actionMatches(scope, action)) picked.push(i);
      });
      return picked;
    },
  };
}

import type { Logger } from '../kernel/index.js';
import type { CompiledPolicySet } from '../policy/port.js';
import type { UsageCounterConfig } from '../config/usage-schema.js';

/**
 * Warns, at start, of each usage counter whose action the active policy schema does not declare.
 * A counter matches its action exactly; one naming a mistyped action never counts anything, so a
 * forbid written `when { context has usage && context.usage.xAfter > N }` would never fire (a
 * probe's note). Not refused: the set in force can change at run time, and the documented
 * fail-closed form (`unless { context has usage && … }`) denies such calls anyway.
 */
export function warnUncountedActions(
  counters: readonly UsageCounterConfig[],
  set: CompiledPolicySet | null,
  logger: Logger,
): void {
  if (set === null) return;
  const declared = new Set(set.actions);
  for (const c of counters) {
    if (declared.has(c.action)) continue;
    logger.warn('usage counter names an action the policy schema does not declare: it will count nothing', {
      counter: c.name,
      action: c.action,
    });
  }
}

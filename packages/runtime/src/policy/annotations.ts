import type { PolicyProblem } from './port.js';

/** What Mandate reads from one policy's annotations (engine-independent). */
export interface PolicyMeta {
  approval?: { role: string; quorum: number };
  reason?: string;
}

/** The largest `@quorum` accepted: beyond this an approval could never realistically be gathered. */
export const MAX_QUORUM = 10;

const QUORUM = /^(?:[1-9]|10)$/;

/** The reserved role of the user's own confirmation (approvals/service.ts `SELF_CONFIRMATION`). */
const SELF = 'self';

/** The annotations Mandate gives meaning to; Cedar allows any others, and they are left alone. */
const MANDATE_ANNOTATIONS = ['approval', 'quorum', 'reason', 'id'] as const;

/**
 * The namespace of the policy ids Mandate itself names in reasons (`mandate.default_deny`,
 * `mandate.undeclared_action`): a policy may not take one, or a reason would read as Mandate's own.
 */
const RESERVED_ID_PREFIX = 'mandate.';

/**
 * The Mandate annotation an annotation of another name was most likely meant to be, or undefined.
 * SECURITY: a misspelt `@approval` (`@Approval`, `@aproval`, `@requires_approval`) is an ordinary
 * custom annotation to Cedar, so its permit allowed outright; a misspelt `@quorum` dropped to a
 * quorum of one (a probe). A near miss is refused, not guessed at: the same name in another case;
 * for `approval`, `quorum` and `reason`, within two edits (a letter added, dropped, changed, or two
 * swapped) or contained in the name; for `id`, only another case (two edits reach it from any
 * name of up to four letters). An annotation of the user's own that trips this is renamed.
 */
function lookalikeOf(name: string): string | undefined {
  if ((MANDATE_ANNOTATIONS as readonly string[]).includes(name)) return undefined;
  const lower = name.toLowerCase();
  return MANDATE_ANNOTATIONS.find(
    (m) => lower === m || (m !== 'id' && (lower.includes(m) || editDistanceAtMost2(lower, m))),
  );
}

/** Optimal string alignment distance (adjacent swaps count one) of a and b, no more than 2. */
function editDistanceAtMost2(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  // Rows of the distance table: two back (for swaps), the previous and the current.
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, before[j - 2]! + 1);
      current.push(d);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]! <= 2;
}

/**
 * Checks the annotations Mandate gives meaning to (`@approval`, `@quorum`, `@reason`, `@id`) and
 * extracts them. Problems are returned, not thrown, so a whole set can be reported at once.
 */
export function readPolicyMeta(
  effect: 'permit' | 'forbid',
  annotations: Record<string, string>,
  where: { file: string; policyId: string },
): { meta: PolicyMeta; problems: PolicyProblem[] } {
  const problems: PolicyProblem[] = [];
  const problem = (message: string): void => {
    problems.push({ file: where.file, policyId: where.policyId, message });
  };
  const meta: PolicyMeta = {};

  for (const name of Object.keys(annotations)) {
    const meant = lookalikeOf(name);
    if (meant !== undefined)
      problem(
        `@${name} is not a Mandate annotation but looks like @${meant} (annotation names are exact and case-sensitive): write @${meant}, or rename your own annotation`,
      );
  }

  const id = annotations['id'];
  if (id !== undefined && id.trim() === '') problem('@id must not be empty');
  if (id !== undefined && id.toLowerCase().startsWith(RESERVED_ID_PREFIX))
    problem(`@id("${id}") is in the namespace ${RESERVED_ID_PREFIX} Mandate reserves for its own reasons`);

  const role = annotations['approval'];
  const quorumText = annotations['quorum'];
  if (role !== undefined) {
    // SECURITY: an @approval on a forbid would read as "forbid unless approved", which the
    // semantics do not offer: a forbid always denies. Reject it rather than let it mislead.
    if (effect !== 'permit') problem('@approval is only allowed on permit policies');
    if (role.trim() === '') problem('@approval needs a non-empty role, e.g. @approval("finance_manager")');
    // SECURITY: `self` is matched exactly; "Self" or "self " would be an ordinary role that some
    // approver could hold, not the user's own confirmation the author meant.
    else if (role !== SELF && role.trim().toLowerCase() === SELF)
      problem(`@approval("${role}") is not the reserved role: write @approval("${SELF}") exactly`);
  }
  let quorum = 1;
  if (quorumText !== undefined) {
    if (role === undefined) problem('@quorum is only allowed alongside @approval');
    if (!QUORUM.test(quorumText))
      problem(`@quorum must be an integer from 1 to ${MAX_QUORUM}, got "${quorumText}"`);
    else quorum = Number(quorumText);
    // The reserved role "self" (approvals/service.ts): one person, the user acted for, confirms;
    // a quorum above one could never be met (a probe had it accepted, its calls pending for ever).
    if (role === SELF && quorum > 1)
      problem('@quorum above 1 cannot be met by @approval("self"): one user confirms');
  }
  if (role !== undefined && role.trim() !== '') meta.approval = { role, quorum };

  const reason = annotations['reason'];
  if (reason !== undefined) meta.reason = reason;
  return { meta, problems };
}

import type { PolicyProblem } from './port.js';

/** What Mandate reads from one policy's annotations (engine-independent). */
export interface PolicyMeta {
  approval?: { role: string; quorum: number };
  reason?: string;
}

/** The largest `@quorum` accepted: beyond this an approval could never realistically be gathered. */
export const MAX_QUORUM = 10;

const QUORUM = /^(?:[1-9]|10)$/;

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

  if ('id' in annotations && annotations['id']!.trim() === '') problem('@id must not be empty');

  const role = annotations['approval'];
  const quorumText = annotations['quorum'];
  if (role !== undefined) {
    // SECURITY: an @approval on a forbid would read as "forbid unless approved", which the
    // semantics do not offer: a forbid always denies. Reject it rather than let it mislead.
    if (effect !== 'permit') problem('@approval is only allowed on permit policies');
    if (role.trim() === '') problem('@approval needs a non-empty role, e.g. @approval("finance_manager")');
  }
  let quorum = 1;
  if (quorumText !== undefined) {
    if (role === undefined) problem('@quorum is only allowed alongside @approval');
    if (!QUORUM.test(quorumText))
      problem(`@quorum must be an integer from 1 to ${MAX_QUORUM}, got "${quorumText}"`);
    else quorum = Number(quorumText);
    // The reserved role "self" (approvals/service.ts): one person, the user acted for, confirms;
    // a quorum above one could never be met (a probe had it accepted, its calls pending for ever).
    if (role === 'self' && quorum > 1)
      problem('@quorum above 1 cannot be met by @approval("self"): one user confirms');
  }
  if (role !== undefined && role.trim() !== '') meta.approval = { role, quorum };

  const reason = annotations['reason'];
  if (reason !== undefined) meta.reason = reason;
  return { meta, problems };
}

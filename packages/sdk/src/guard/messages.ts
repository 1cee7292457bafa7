import type { DecisionAnswer } from '../wire.js';

/*
 * What the model reads when a call did not run. Plain sentences: the model should understand that
 * nothing happened, why, and what (if anything) will happen next — and never that it may retry
 * its way around a refusal.
 */

/** "Mandate refused payments.refund (decision dec_…): <why>. The tool did not run." */
export function refusalMessage(action: string, d: DecisionAnswer): string {
  const why = [
    ...d.reasons.map((r) => r.reason ?? r.policyId),
    ...d.errors.map((e) => `${e.code}: ${e.message}`),
  ];
  const because = why.length > 0 ? why.join('; ') : 'no policy permits it';
  return `Mandate refused ${action} (decision ${d.decisionId}): ${because}. The tool did not run.`;
}

/** "payments.refund needs approval apr_… by a finance-manager. The tool has not run; …" */
export function pendingMessage(action: string, d: DecisionAnswer): string {
  const a = d.approval;
  const by = a?.role ? ` by a ${a.role}` : '';
  const until = a?.expiresAt ? ` (until ${a.expiresAt})` : '';
  return (
    `${action} needs a human approval${by}: approval ${a?.id ?? '?'}${until}, decision ${d.decisionId}. ` +
    'The tool has not run. It runs only once the approval is given and this exact call is resumed.'
  );
}

import { MandateApiError } from '../errors.js';
import type { Decision, DecisionAnswer } from '../wire.js';
import type { DecideInput } from './types.js';

/**
 * The JSON text of a decision request. With `argsJson`, the model's own text is placed in the body
 * as is — after checking it is exactly one JSON object, so it cannot break out of its place — and
 * the server's strict parser sees it: duplicate keys are refused there, never collapsed here.
 */
export function decisionBody(input: DecideInput): string {
  const { argsJson, ...request } = input;
  if (argsJson === undefined) return JSON.stringify(request);
  if (request.args !== undefined) {
    throw new MandateApiError('bad_request', 'give args or argsJson, not both');
  }
  const trimmed = argsJson.trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch (cause) {
    throw new MandateApiError('invalid_json', 'the tool call arguments are not valid JSON', { cause });
  }
  // SECURITY: a single JSON object and nothing else: the text is spliced into the body below.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !trimmed.startsWith('{')) {
    throw new MandateApiError('bad_request', 'the tool call arguments must be a JSON object');
  }
  const head = JSON.stringify(request);
  return `${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"args":${trimmed}}`;
}

/**
 * SECURITY: fail closed — the tool runs with the args the server decided on. A server too old to
 * send them back gets no allow through the SDK.
 */
export function requireDecidedArgs(answer: Decision): DecisionAnswer {
  if (answer === null || typeof answer !== 'object' || typeof answer.decisionId !== 'string') {
    throw new MandateApiError('invalid_response', 'the answer is not a decision');
  }
  // A decision the SDK can act on and explain: one of the three effects, reasons and errors as lists.
  if (
    (answer.effect !== 'allow' && answer.effect !== 'deny' && answer.effect !== 'approval_required') ||
    !Array.isArray(answer.reasons) ||
    !Array.isArray(answer.errors)
  ) {
    throw new MandateApiError(
      'invalid_response',
      `decision ${answer.decisionId} is not a decision this SDK knows (effect, reasons, errors)`,
    );
  }
  // SECURITY: fail closed — the server denies whenever deciding met an error (Cedar skips an
  // erroring policy, which may be the forbid that would have held): an allow listing errors is not
  // one it sends, and runs nothing.
  if (answer.effect === 'allow' && answer.errors.length > 0) {
    throw new MandateApiError(
      'invalid_response',
      `decision ${answer.decisionId} is an allow that lists errors; Mandate denies when deciding fails`,
    );
  }
  if (!answer.args || typeof answer.args !== 'object' || Array.isArray(answer.args)) {
    throw new MandateApiError(
      'invalid_response',
      `decision ${answer.decisionId} came without the decided args; this server is older than the SDK`,
    );
  }
  return answer as DecisionAnswer;
}

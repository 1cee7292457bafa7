import {
  createGuard,
  type CallContext,
  type GuardOptions,
  type GuardResult,
  type ToolBody,
} from './guard.js';

/** A tool body wrapped by {@link guardTool}: call it like the body; it answers with a {@link GuardResult}. */
export interface GuardedTool<A extends Record<string, unknown>, R> {
  (args: A, ctx?: CallContext): Promise<GuardResult<R>>;
  /** The Mandate action this tool is decided as. */
  readonly action: string;
  /** Resumes a pending call of this tool from its token (after a restart too): the server re-checks it. */
  resume(token: string, ctx?: Omit<CallContext, 'argsJson'>): Promise<GuardResult<R>>;
}

/**
 * Guards one tool: decide → on `allow` run `body` with exactly the decided args and report the
 * outcome → on `deny` return a readable refusal and never run it → on `approval_required` wait
 * (bounded, cancellable) and re-submit with the approval id, or return a pending result to resume.
 */
export function guardTool<A extends Record<string, unknown>, R>(
  body: ToolBody<A, R>,
  options: GuardOptions & { action: string },
): GuardedTool<A, R> {
  const guard = createGuard(options);
  const run = body as unknown as ToolBody<Record<string, unknown>, R>;
  const guarded = (args: A, ctx?: CallContext) => guard.call(options.action, args, run, ctx);
  return Object.assign(guarded, {
    action: options.action,
    resume: (token: string, ctx?: Omit<CallContext, 'argsJson'>) =>
      guard.resume(token, options.action, run, ctx),
  });
}

/** Guards a whole tool set in one call: `{ 'payments.refund': body, … }` → the same keys, guarded. */
export function guardTools<T extends Record<string, ToolBody<never, unknown>>>(
  bodies: T,
  options: GuardOptions,
): {
  [K in keyof T]: T[K] extends ToolBody<infer A, infer R>
    ? GuardedTool<A & Record<string, unknown>, R>
    : never;
} {
  const out: Record<string, unknown> = {};
  for (const [action, body] of Object.entries(bodies)) {
    out[action] = guardTool(body as ToolBody<Record<string, unknown>, unknown>, { ...options, action });
  }
  return out as never;
}

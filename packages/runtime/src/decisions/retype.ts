import { isMandateError } from '../kernel/index.js';
import type { CompiledPolicySet } from '../policy/port.js';
import { decideInputs, type PolicyInputs, type PolicyOutcome } from './policy-inputs.js';
import { argsForPolicy } from './typed-args.js';

/**
 * The determining "policy" when the other set's schema refuses the args (400 `invalid_args` on the
 * decision path): the call would not run under that set, so it is reported as a deny, not dropped.
 */
export const ARGS_REFUSED_ID = 'mandate.invalid_args';

/**
 * The inputs a decision handed the set in force, with the args typed again by what `set`'s schema
 * declares for the action — as the decision path would type them had `set` been in force: the
 * recorded `context.args` are the args typed by the schema in force then (`37` as `decimal("37.0")`,
 * ADR 0036), and a candidate that retypes an arg (`rows: decimal` → `rows: Long`) must be judged
 * on the args as it would see them. Otherwise every comparison of the retyped arg is between values
 * of different types — false without an error — and a forbid of the candidate silently never fires.
 *
 * The typed form is turned back into the JSON the caller sent (a `decimal` is the number it was
 * made from, an `ipaddr`/`datetime`/`duration` its text: args can carry no Cedar escapes of their
 * own, so every `__extn` in them was made by typing), then typed by `set`'s schema. The same
 * object comes back when the args hold nothing typed and `set` types nothing in them. `refused` is
 * the reason `set`'s schema refuses the args (it names the arg, never its value).
 */
export function retypeInputs(
  set: CompiledPolicySet,
  action: string,
  inputs: PolicyInputs,
): { inputs: PolicyInputs } | { refused: string } {
  const typed = inputs.context.args;
  if (!isRecord(typed)) return { inputs };
  const r = retypeArgs(set, action, typed);
  if ('refused' in r) return r;
  if (r.args === typed) return { inputs };
  return { inputs: { ...inputs, context: { ...inputs.context, args: r.args } } };
}

/**
 * Args typed by one schema (`context.args` as the engine was handed them), typed again by what
 * `set`'s schema declares for the action ({@link retypeInputs}); `refused` when its schema refuses them.
 */
export function retypeArgs(
  set: Pick<CompiledPolicySet, 'argsType'>,
  action: string,
  typed: Record<string, unknown>,
): { args: Record<string, unknown> } | { refused: string } {
  try {
    return { args: argsForPolicy(untyped(typed) as Record<string, unknown>, set.argsType(action)) };
  } catch (err) {
    if (isMandateError(err) && err.code === 'invalid_args') return { refused: err.message };
    throw err;
  }
}

/**
 * The outcome `set` gives the inputs, their args typed by its own schema ({@link retypeInputs});
 * a deny naming {@link ARGS_REFUSED_ID} when its schema refuses them.
 */
export function decideRetyped(set: CompiledPolicySet, action: string, inputs: PolicyInputs): PolicyOutcome {
  const r = retypeInputs(set, action, inputs);
  if ('refused' in r) return { effect: 'deny', policies: [ARGS_REFUSED_ID] };
  return decideInputs(set, action, r.inputs);
}

/** The JSON value a typed arg was made from; the same object when nothing in it was typed. */
function untyped(value: unknown): unknown {
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((el, i) => {
      const next = untyped(el);
      if (next !== el) (out ??= [...value])[i] = next;
    });
    return out ?? value;
  }
  if (!isRecord(value)) return value;
  const extn = value.__extn;
  if (isRecord(extn) && typeof extn.arg === 'string' && Object.keys(value).length === 1)
    return extn.fn === 'decimal' ? Number(extn.arg) : extn.arg;
  let out: Record<string, unknown> | undefined;
  for (const [key, el] of Object.entries(value)) {
    const next = untyped(el);
    // Spread and a computed key both define own properties: a `__proto__` key stays data.
    if (next !== el) out = { ...(out ?? value), [key]: next };
  }
  return out ?? value;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

import type { PolicyInputs } from './policy-inputs.js';

/** Shorter strings are left in an error text: replacing them would hit ordinary words. */
const MIN_SCRUBBED = 3;

/**
 * An engine's error text with the request's values taken out. SECURITY: Cedar's evaluation errors
 * quote the value they failed on (`invalid IP address: <the arg>`), and the decision's `errors`
 * are hashed into the chain — a redacted arg, a kept-aside one (erasable personal data) or a
 * secret in an entity attribute came back on the record through its error (a probe). Every string
 * of the context and of the entities' attributes that the text contains becomes `[VALUE]`; the
 * error's kind and the policy stay, which is what an operator needs to fix the policy.
 */
export function scrubEngineError(message: string, inputs: PolicyInputs): string {
  const values = new Set<string>();
  const collect = (v: unknown, depth: number): void => {
    if (depth > 64) return;
    if (typeof v === 'string') {
      if (v.length >= MIN_SCRUBBED) values.add(v);
    } else if (Array.isArray(v)) for (const x of v) collect(x, depth + 1);
    else if (v !== null && typeof v === 'object')
      for (const x of Object.values(v as Record<string, unknown>)) collect(x, depth + 1);
  };
  collect(inputs.context, 0);
  for (const e of inputs.entities) collect(e.attrs, 0);
  let out = message;
  // Longest first, so that a value containing another is taken out whole.
  for (const v of [...values].sort((a, b) => b.length - a.length))
    if (out.includes(v)) out = out.split(v).join('[VALUE]');
  return out;
}

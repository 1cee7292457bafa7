/**
 * The redactions of one call, each computed at most once: the args' redacted copy serves the
 * approval request (if any), the audit event and (when the policies saw the args unconverted) the
 * recorded policy inputs with the paths it replaced; the intent's serves the event and the inputs.
 */
import type { Tool } from '@mandate/protocol';
import { redactText } from '../audit/redact.js';
import { comparingRedaction, type InputsRedaction } from './policy-inputs.js';
import type { DecisionServiceDeps } from './types.js';

export interface CallRedaction {
  /** The redacted copy of the call's args. */
  args(): Record<string, unknown>;
  /** A text redacted (the call's own intent computed once). */
  text(text: string): string;
  /** How the recorded policy inputs are redacted, reusing the args' copy where it can. */
  inputs: InputsRedaction;
}

export function callRedaction(
  redact: DecisionServiceDeps['redact'],
  args: Record<string, unknown>,
  paths: Tool['redact'] | undefined,
  intent: string | null | undefined,
): CallRedaction {
  let argsRedaction: { copy: Record<string, unknown>; changed: string[] | null } | undefined;
  function redactArgs(): { copy: Record<string, unknown>; changed: string[] | null } {
    if (redact.tracking) {
      const changed: string[] = [];
      try {
        return { copy: redact.tracking(args, paths, 'context.args', changed), changed };
      } catch {
        // Args the comparison cannot serialise: the copy as ever, and the recorded inputs fail
        // (audit_unavailable) where they always did.
      }
    }
    return { copy: redact(args, paths), changed: null };
  }
  let intentRedacted: string | undefined;
  const text = (t: string) => (t === intent ? (intentRedacted ??= redactText(t)) : redactText(t));
  return {
    args: () => (argsRedaction ??= redactArgs()).copy,
    text,
    inputs: {
      record(value, path, changed) {
        if (value === args && path === 'context.args') {
          const known = (argsRedaction ??= redactArgs());
          if (known.changed) {
            changed.push(...known.changed);
            return known.copy;
          }
        }
        if (redact.tracking) return redact.tracking(value, paths, path, changed);
        return comparingRedaction((v) => redact(v, paths)).record(value, path, changed);
      },
      text,
    },
  };
}

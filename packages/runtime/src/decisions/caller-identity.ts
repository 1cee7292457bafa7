import type { Caller } from './types.js';

/**
 * SECURITY: who a caller is, as one string: its credential's key id, role, subject and the user it
 * acts for. A JWT's key id names its role and bound user too (`jwt:<role>:<iss>:<sub>[:<user>]`),
 * but a credential's key id alone is not trusted to: what is bound to a caller — an
 * Idempotency-Key's stored answer, an MCP session — is bound to this whole identity.
 */
/**
 * Whether a record of `agent` acting for `user` (null: for no user) is the caller's own as an agent:
 * its agent, and — for a credential that names the user it acts for — that user's.
 */
export function agentOwns(
  caller: Caller,
  agent: string | undefined,
  user: string | null | undefined,
): boolean {
  if (caller.role !== 'agent' || agent !== caller.subject) return false;
  return caller.onBehalfOf === undefined || (user ?? null) === caller.onBehalfOf;
}

export function callerIdentity(caller: Caller): string {
  return JSON.stringify([caller.keyId, caller.role, caller.subject, caller.onBehalfOf ?? null]);
}

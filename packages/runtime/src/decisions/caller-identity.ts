import type { Caller } from './types.js';

/**
 * SECURITY: who a caller is, as one string: its credential's key id, role, subject and the user it
 * acts for. A key id alone is not enough: two JWTs with one `iss` and `sub` share it (`jwt:<iss>:<sub>`)
 * while another role or `mandate_on_behalf_of` claim makes them another caller. What is bound to
 * a caller — an Idempotency-Key's stored answer, an MCP session — is bound to this.
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

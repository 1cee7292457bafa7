import type { Caller } from './types.js';

/**
 * SECURITY: who a caller is, as one string: its credential's key id, role, subject and the user it
 * acts for. A key id alone is not enough: two JWTs with one `iss` and `sub` share it (`jwt:<iss>:<sub>`)
 * while another role or `mandate_on_behalf_of` claim makes them another caller. What is bound to
 * a caller — an Idempotency-Key's stored answer, an MCP session — is bound to this.
 */
export function callerIdentity(caller: Caller): string {
  return JSON.stringify([caller.keyId, caller.role, caller.subject, caller.onBehalfOf ?? null]);
}

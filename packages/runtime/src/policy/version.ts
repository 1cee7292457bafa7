import { canonicalize, sha256Hex } from '../kernel/index.js';
import type { PolicySetSource } from './port.js';

/**
 * The content version of a policy set: `sha256:` + hex SHA-256 of the RFC 8785 canonical JSON of
 * `{ policies, schema }`. Canonical JSON sorts the file map's keys, so the order files were read
 * in never changes the version, while any byte of policy or schema text does. Stores key policy
 * sets by it and approvals bind to it, so it must not depend on the engine that compiles the set.
 */
export function policySetVersion(source: PolicySetSource): string {
  return 'sha256:' + sha256Hex(canonicalize({ policies: source.policies, schema: source.schema }));
}

import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import * as protocol from '@mandate/protocol';
import type * as P from '@mandate/protocol';
import * as runtime from '@mandate/runtime';
import type {
  ApprovalRecord,
  GrantLimit as RtGrantLimit,
  GrantRecord,
  OutcomeRecorded as RtOutcome,
} from '@mandate/runtime';
import type * as S from '../src/wire.js';
import type { EmbeddedRuntimeModule } from '../src/client/embedded.js';

/*
 * The SDK ships its own copy of the wire types so that installing it pulls in no schema library
 * (ADR 0019). These checks make any drift from `@mandate/protocol` (and from the runtime's public
 * entry, which embedded mode loads) a typecheck failure in CI.
 */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <T extends true>(): T => true as T;

same<Equal<S.ErrorCode, P.ErrorCode>>();
same<Equal<S.Effect, P.Effect>>();
same<Equal<S.ApprovalStatus, P.ApprovalStatus>>();
same<Equal<S.DecisionReason, P.DecisionReason>>();
same<Equal<S.DecisionError, P.DecisionError>>();
same<Equal<S.ApprovalRef, P.ApprovalRef>>();
same<Equal<S.Decision, P.Decision>>();
same<Equal<S.DecisionRequest, z.input<typeof protocol.DecisionRequestSchema>>>();
same<Equal<S.DecisionOutcomeReport, P.DecisionOutcomeReport>>();
same<Equal<S.AuditEventType, P.AuditEventType>>();
same<Equal<S.AuditEvent, P.AuditEvent>>();
same<Equal<S.AuditRecord, P.AuditRecord>>();
same<Equal<S.AuditPage, P.AuditPage>>();
same<Equal<S.AuditVerifyResult, P.AuditVerifyResult>>();
same<Equal<S.Tool, P.Tool>>();
same<Equal<S.Agent, P.Agent>>();
same<Equal<S.User, P.User>>();
same<Equal<S.Resource, P.Resource>>();
same<Equal<S.EntitiesDocument, P.EntitiesDocument>>();
same<Equal<S.Approval, ApprovalRecord>>();
same<Equal<S.Grant, GrantRecord>>();
same<Equal<S.GrantLimit, RtGrantLimit>>();
same<Equal<S.OutcomeRecorded, RtOutcome>>();
// Embedded mode's view of the runtime module is what the runtime's public entry exports.
const _runtimeFits: EmbeddedRuntimeModule = runtime;

describe('wire types', () => {
  it('the SDK knows every error code of the protocol, and only those', () => {
    const sdkCodes: Record<S.ErrorCode, true> = Object.fromEntries(
      protocol.ERROR_CODES.map((c) => [c, true]),
    ) as Record<S.ErrorCode, true>;
    expect(Object.keys(sdkCodes).sort()).toEqual([...protocol.ERROR_CODES].sort());
    expect(_runtimeFits.SELF_CONFIRMATION).toBe('self');
  });
});

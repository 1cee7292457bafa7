/**
 * The decision path's public shapes: who asks (`Caller`), what the service needs (`DecisionServiceDeps`)
 * and what it answers (`DecisionOutcome`). The path itself is in service.ts and the phases it calls.
 */
import type { AuditEvent, Decision, DecisionRequest, Effect } from '@mandate/protocol';
import type { RecordedUsageReader } from '../usage/recheck.js';
import type { Clock, Logger } from '../kernel/index.js';
import type { CompiledPolicySet } from '../policy/port.js';
import type { ToolRegistry } from '../tools/index.js';
import type { ApprovalService } from '../approvals/index.js';
import type { GrantService } from '../grants/index.js';
import type { Store } from '../storage/port.js';
import type { RefusalRecorder } from '../audit/index.js';
import type { Redactor } from '../audit/redact.js';
import type { UsageMeter } from '../usage/index.js';
import type { PersonalData } from '../audit/personal.js';
import type { PolicyTime } from './time.js';
import type { PolicyInputs, PolicyOutcome } from './policy-inputs.js';

/** Who is asking, as established by the transport from a verified credential (never from the body). */
export interface Caller {
  role: 'agent' | 'user' | 'approver' | 'admin';
  /** Agent id for role agent, user id for user/approver, null for admin. */
  subject: string | null;
  keyId: string;
  /** For an agent: the user its credential says it acts for (a verified JWT claim), if any. */
  onBehalfOf?: string;
  /** Set when the credential was a dashboard session cookie (ADR 0022), not a bearer token. */
  viaSession?: true;
}

export interface DecisionServiceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  nodeId: string;
  policies: () => CompiledPolicySet | null;
  /**
   * Whether this node confirmed lately that its set is the active one (`policies.maxStaleMs`): true
   * at once when it did; else a promise of whether a check made now confirms it (the node may only
   * have been busy). When not, it decides nothing (503 `store_unavailable`). Absent: always.
   */
  policyFresh?: () => true | Promise<boolean>;
  /**
   * Reads the store's cache epoch, and the active policy version with it, in a read that began
   * after the call did (storage/read-cache.ts): first on the path, before {@link policyFresh}, so
   * a set another node activated holds this decision (DESIGN.md, Storage). Absent: no such read.
   */
  storeCurrent?: () => Promise<unknown>;
  tools: () => ToolRegistry;
  /** Durable append; resolves only once the event is committed. */
  audit: (event: AuditEvent) => Promise<unknown>;
  approvals: ApprovalService;
  grants: GrantService;
  /** The args redactor; with `tracking` (createRedactor's) the recorded inputs reuse the args copy. */
  redact: ((args: Record<string, unknown>, extraPaths?: string[]) => Record<string, unknown>) &
    Partial<Pick<Redactor, 'tracking'>>;
  digest: (args: Record<string, unknown>) => string;
  time: (nowMs: number) => PolicyTime;
  /** Observes every decision (metrics). */
  observe?: (effect: Effect, latencyMs: number) => void;
  /** Per-key and per-agent rate limits, checked before any policy work; throws `rate_limited`. */
  rateLimit?: (caller: Caller, agent: string) => void;
  /** Where refused requests (wrong agent, invalid args) go on the record, each under a decision id. */
  refusals?: Pick<RefusalRecorder, 'refused'>;
  /**
   * Hands every decision the policies saw to the shadow set, after it is recorded. Must only
   * enqueue (never block, never throw into the answer): see decisions/shadow.ts.
   */
  shadow?: (seen: DecisionSeen) => void;
  /** Usage counters (budgets and rates), reserved before the policies run, kept only on allow. */
  usage?: UsageMeter;
  /** Personal fields kept beside the chain, erasable (`audit.personal`); absent: none kept. */
  personal?: Pick<PersonalData, 'keep' | 'fields'>;
}

/** A decision that reached the policy engine, as the shadow set re-decides it. */
export interface DecisionSeen {
  decisionId: string;
  action: string;
  policyVersion: string;
  inputs: PolicyInputs;
  outcome: PolicyOutcome;
}

/** The outcome of `decide`, plus what the gateway and SDK need to run exactly what was decided. */
export interface DecisionOutcome {
  decision: Decision;
  /**
   * The args that were decided on (parsed once, validated), their keys in the call hash's order at
   * every depth (args-keys.ts): the gateway forwards exactly these, the v1 answer carries them, the
   * SDK runs them.
   */
  args: Record<string, unknown>;
  /** A dry run that ended in approval_required: who would have been asked. */
  wouldRequest?: { role: string; quorum: number };
}

/** What a door knows about the call beyond the request itself, and binds an approval to. */
export interface DecideOptions {
  /**
   * The resource the caller says the call is about (the AuthZEN door's `resource`). Unless it is
   * exactly the resource the tool registry derives from the args (`Tool::<action>` when the tool
   * declares none), the call is denied with `resource_mismatch` — recorded like any decision.
   */
  expectResource?: { type: string; id: string };
  /**
   * The pinned definition hash of the MCP upstream tool that will run the call (the gateway):
   * an approval asked for under one definition is refused under another (ADR 0017).
   */
  toolHash?: string | null;
  /**
   * The MCP upstream server the gateway will forward the call to (recorded as `data.upstream`):
   * the record says where it ran, and the gateway records its outcome itself, so the agent's own
   * report for it is refused.
   */
  upstream?: string;
  /**
   * The door knows the call cannot run whatever the policies say (the gateway: the upstream tool is
   * quarantined, or no upstream offers it). The call is prepared and recorded as a `deny` with this
   * error — so the record says what happened — and nothing is evaluated: no approval is requested
   * or consumed.
   */
  refuse?: { code: 'tool_quarantined' | 'unknown_action' | 'unavailable'; message: string };
  /**
   * Decide without side effects on approvals (`mandate check` by default): an approval that would
   * be needed is not requested (the outcome says which role it would go to) and none is consumed.
   * The decision is still recorded, marked `dryRun`.
   */
  dryRun?: boolean;
  /**
   * Whether an answer given before would still be given: decided as a dry run and NOT recorded —
   * its answer is never served (an Idempotency-Key replay serves the recorded answer, or, when this
   * says no, decides afresh and records that). Rate limits and the policy freshness bound apply.
   */
  checkOnly?: true;
  /**
   * With `checkOnly`, for the check of a recorded allow (retry-replay.ts): what that allow's
   * record says it charged the usage counters, left out of what the check reads.
   */
  recordedUsage?: RecordedUsageReader;
}

/** The gateway's name for the same options. */
export type CallContext = DecideOptions;

/** The decision path, the same for every door. Transports call `decide`; it never returns allow without a committed audit record. */
export interface DecisionService {
  decide(request: DecisionRequest, caller: Caller, options?: DecideOptions): Promise<DecisionOutcome>;
}

/** Every top-level key the decision path may put in the Cedar context (docs/policies.md). */
export const CONTEXT_KEYS = ['args', 'time', 'intent', 'onBehalfOf', 'agent', 'grant', 'usage'] as const;

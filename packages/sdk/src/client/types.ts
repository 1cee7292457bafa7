import type {
  Approval,
  ApprovalStatus,
  AuditPage,
  AuditQuery,
  AuditVerifyResult,
  DecisionAnswer,
  DecisionOutcomeReport,
  DecisionRecord,
  DecisionRequest,
  EntitiesDocument,
  Grant,
  GrantCreate,
  OutcomeRecorded,
  PolicySource,
  PolicyValidation,
  PolicyVersion,
  Tool,
} from '../wire.js';

/** Per-call options: every call takes a timeout and an AbortSignal. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's `timeoutMs` for this call. */
  timeoutMs?: number;
}

/** Options of {@link MandateClient.decide}. */
export interface DecideOptions extends CallOptions {
  /**
   * The `Idempotency-Key` of this decision. The client makes one per call when omitted, so its own
   * retries are never recorded twice; pass one to make retries across your own code safe too.
   */
  idempotencyKey?: string;
}

/**
 * A decision request. `argsJson` is the tool call's arguments as the model produced them (JSON
 * text): the server parses them itself, so a duplicated key is refused rather than silently
 * collapsed. Give `args` or `argsJson`, not both.
 */
export type DecideInput = DecisionRequest & { argsJson?: string };

/** Options of {@link MandateClient.approvals}`.wait`. */
export interface WaitOptions {
  signal?: AbortSignal;
  /** How long to wait for the approval to leave `pending`, in total; default 60 s. */
  timeoutMs?: number;
}

/** `PUT /v1/entities` takes any subset of the document. */
export type EntitiesUpdate = Partial<EntitiesDocument>;

/** The same typed interface for a remote Mandate (HTTP) and an embedded one (in-process). */
export interface MandateClient {
  /** `remote` talks to a `mandate serve` over HTTP; `embedded` runs the decision path in this process. */
  readonly mode: 'remote' | 'embedded';

  /** `POST /v1/decisions`: allow, deny or approval_required, with the args that were decided on. */
  decide(input: DecideInput, options?: DecideOptions): Promise<DecisionAnswer>;
  /** `GET /v1/decisions/:id`. */
  getDecision(decisionId: string, options?: CallOptions): Promise<DecisionRecord>;
  /** `POST /v1/decisions/:id/outcome`: what happened when the allowed call ran (once per decision). */
  reportOutcome(
    decisionId: string,
    report: DecisionOutcomeReport,
    options?: CallOptions,
  ): Promise<OutcomeRecorded>;

  approvals: {
    list(filter?: { status?: ApprovalStatus; limit?: number }, options?: CallOptions): Promise<Approval[]>;
    get(approvalId: string, options?: CallOptions): Promise<Approval>;
    /** Long-polls until the approval leaves `pending` or `timeoutMs` passes; returns it as it is then. */
    wait(approvalId: string, options?: WaitOptions): Promise<Approval>;
    approve(
      approvalId: string,
      vote?: { comment?: string; signature?: string },
      options?: CallOptions,
    ): Promise<Approval>;
    deny(
      approvalId: string,
      vote?: { comment?: string; signature?: string },
      options?: CallOptions,
    ): Promise<Approval>;
  };

  grants: {
    create(grant: GrantCreate, options?: CallOptions): Promise<Grant>;
    list(
      filter?: { user?: string; agent?: string; includeRevoked?: boolean },
      options?: CallOptions,
    ): Promise<Grant[]>;
    revoke(grantId: string, options?: CallOptions): Promise<{ revoked: string[] }>;
  };

  audit: {
    query(filter?: AuditQuery, options?: CallOptions): Promise<AuditPage>;
    verify(options?: CallOptions): Promise<AuditVerifyResult>;
  };

  policies: {
    get(options?: CallOptions): Promise<PolicySource & { version: string }>;
    put(source: PolicySource, options?: CallOptions): Promise<{ version: string; changed: boolean }>;
    validate(source: PolicySource, options?: CallOptions): Promise<PolicyValidation>;
    versions(options?: CallOptions): Promise<PolicyVersion[]>;
  };

  entities: {
    get(options?: CallOptions): Promise<EntitiesDocument>;
    put(
      update: EntitiesUpdate,
      options?: CallOptions,
    ): Promise<{ agents: number; users: number; resources: number }>;
  };

  tools: {
    list(options?: CallOptions): Promise<Tool[]>;
  };

  /**
   * The same Mandate, another credential: an approver's key to approve, an admin's to manage.
   * Remote: another API key. Embedded: another API key of the in-process store.
   */
  withApiKey(apiKey: string): MandateClient;

  /** Keeps a background task (an outcome report) so that {@link close} waits for it; its errors are its own. */
  track(task: Promise<unknown>): void;

  /** Waits for background work (outcome reports) and, in embedded mode, shuts the runtime down. */
  close(): Promise<void>;
}

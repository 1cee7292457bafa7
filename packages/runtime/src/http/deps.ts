import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditEvent, AuditVerifyResult } from '@mandate/protocol';
import type { Clock, Logger } from '../kernel/index.js';
import type { Caller, DecisionService } from '../decisions/index.js';
import type { ApprovalService } from '../approvals/index.js';
import type { GrantService } from '../grants/index.js';
import type { PolicyEngine, PolicySetSource } from '../policy/port.js';
import type { PolicyService } from '../policy/service.js';
import type { ShadowMode } from '../decisions/shadow.js';
import type { ToolRegistry } from '../tools/index.js';
import type { AuditFilter, Store, StoredAuditRecord } from '../storage/port.js';
import type { Metrics } from './metrics.js';
import type { RefusalRecorder } from '../audit/index.js';
import type { KeyService } from '../keys/index.js';
import type { AuditFinding, AuditIntegrity, TrailRead, Vouch } from '../audit/index.js';
import type { SinkStatus } from '../sinks/index.js';
import type { Alerting } from '../alerts/index.js';
import type { SessionService } from '../sessions/index.js';
import type { OidcClient } from './oidc.js';

/** The dashboard (`/ui`) and its sessions (ADR 0022); absent when `dashboard.enabled` is false. */
export interface DashboardDeps {
  sessions: SessionService;
  /** Mark cookies Secure on plain HTTP too (TLS requests always get it). */
  secureCookies: boolean;
  /** `dashboard.publicOrigin`: the origin browsers use, checked against `Origin`. */
  publicOrigin?: string;
  /** The built dashboard's directory (`/ui` answers 503 while it holds no index.html). */
  dir: string;
  /** Open decision streams per credential. */
  maxStreamsPerKey: number;
  /** OpenID Connect sign-in, when `dashboard.oidc` is configured. */
  oidc?: OidcClient;
}
import type { PersonalData } from '../audit/personal.js';

/** What the HTTP transport needs; it translates requests into these service calls and nothing more. */
export interface HttpDeps {
  /**
   * `dashboard.publicOrigin`, whether or not the dashboard is enabled: the origin clients reach this
   * node at behind a proxy (the AuthZEN discovery document names it).
   */
  publicOrigin?: string;
  store: Store;
  clock: Clock;
  logger: Logger;
  decisions: DecisionService;
  approvals: ApprovalService;
  grants: GrantService;
  policies: PolicyService;
  /** The shadow policy set (`/v1/policies/shadow`, `/metrics`); absent: those routes answer 404. */
  shadow?: ShadowMode;
  engine: PolicyEngine;
  tools: () => ToolRegistry;
  metrics: Metrics;
  audit: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  verifyAudit: () => Promise<AuditVerifyResult>;
  exportAudit: (
    format: 'jsonl' | 'cef',
    write: (chunk: string) => void | Promise<void>,
    filter: Omit<AuditFilter, 'limit'>,
  ) => Promise<number>;
  auditStats: () => {
    queued: number;
    oldestQueuedMs: number;
    appended: number;
    checkpoints?: number;
    mirrorFailures?: number;
  };
  /** The node's continuous check of its own chain (`/readyz` detail, `/metrics`). */
  auditIntegrity?: () => AuditIntegrity;
  /** Tampering found while serving a record (the node keeps and records it as its own finding). */
  auditTampered?: (finding: AuditFinding) => Promise<void>;
  /** The args HMAC key: kept personal fields shown by query are checked against their record's digest. */
  personalKey?: Uint8Array | string;
  /** Whether the node vouches for a record it shows (linked to a hash it verified or signed). */
  auditVouch?: (rec: StoredAuditRecord) => Promise<Vouch>;
  /** Records an admin read of the trail (`audit.read`, bounded per window). */
  auditRead?: (read: TrailRead) => Promise<void>;
  runPolicyTests: (input: { cases: unknown; source?: PolicySetSource }) => Promise<unknown>;
  options: { maxBodyBytes: number; maxJsonDepth: number; maxInFlight: number };
  /** Aborted when the node shuts down: long-polls return at once and connections are not kept alive. */
  shutdown?: AbortSignal;
  /** Where refused attempts go on the record; absent: they are not recorded (tests of other concerns). */
  refusals?: RefusalRecorder;
  /** API key lifecycle (`/v1/keys`); absent: the routes answer 404. */
  keys?: KeyService;
  /** Delivery state of the audit sinks (`/metrics`, `GET /v1/audit/sinks`). */
  sinks?: () => SinkStatus[];
  /** Personal data kept beside the chain (`POST /v1/erasures`); absent: the route answers 404. */
  personal?: Pick<PersonalData, 'erase'>;
  /** Alert rules over the audit stream, when configured (`/v1/alerts`). */
  alerts?: Alerting;
  /** Resolves `Authorization` to a caller (API keys, and JWTs when configured); default: API keys only. */
  authenticate?: (header: string | undefined) => Promise<Caller>;
  /** The dashboard and its session sign-in; absent: `/ui` and `/v1/sessions` answer 404 and cookies are ignored. */
  dashboard?: DashboardDeps;
  /** The MCP gateway (src/gateway), present when upstreams are configured: serves `/mcp` and the tool pins. */
  gateway?: {
    handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void>;
    /** The pins with the action each tool maps to. */
    listPins(server?: string): Promise<unknown[]>;
    /** By the action name a pin gives. */
    approve(name: string, approvedBy: string, hash?: string): Promise<unknown>;
  };
}

import type { AuditEvent, ErrorCode, Tool } from '@mandate/protocol';
import type { Clock, Logger } from '../kernel/index.js';
import type { Caller, DecisionService } from '../decisions/index.js';
import type { ApprovalService } from '../approvals/index.js';
import type { CompiledPolicySet } from '../policy/port.js';
import type { Store } from '../storage/port.js';
import type { UpstreamConfig } from './upstreams.js';

export interface GatewayDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  decisions: DecisionService;
  approvals: ApprovalService;
  policies: () => CompiledPolicySet | null;
  /** Registry entries from the config's tools file: they override the upstream-derived entry of the same action. */
  configTools: () => readonly Tool[];
  /** Publishes the gateway's approved tools so the decision path knows them (the app merges them into the registry). */
  setGatewayTools: (tools: Tool[]) => void;
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
  /** Resolves `Authorization: Bearer …` to a caller from a verified credential. */
  authenticate: (authorization: string | undefined) => Promise<Caller>;
  /**
   * Whether the header carries a key this node served lately (http/auth.ts `recentlyKnownKey`): such
   * a POST waits for its body before it is authenticated (one cache-epoch read for the call).
   */
  knownKey?: (authorization: string | undefined) => boolean;
  /**
   * Puts a refused attempt of an authenticated caller on the record (`request.refused`, ADR 0018):
   * a key of another role, another key's session id, a body refused as it was parsed (a duplicate
   * key, an inexact number, bad UTF-8, too deep). Never throws.
   */
  refused?: (r: { code: ErrorCode; reason: string; caller: Caller }) => Promise<void>;
}

export interface GatewayOptions {
  upstreams: UpstreamConfig[];
  /** Agent id or key id → the user that agent acts for (server-side; never from the request). */
  onBehalfOf?: Record<string, string>;
  /** Timeout of a forwarded request, in ms. */
  callTimeoutMs?: number;
  /** Timeout of starting an upstream (spawn or connect, initialize), in ms; default the larger of 30 s and `callTimeoutMs`. */
  connectTimeoutMs?: number;
  /** How long a `tools/call` needing approval is held open waiting for it (0: answer at once). */
  holdForApprovalMs?: number;
  /**
   * Ask the MCP client to confirm an `@approval("self")` call (`elicitation/create`) and take its
   * answer as the user's vote. Default false: the client is the agent's own connection, so its
   * answer is the user's only where the client is a host that shows the prompt to that person and
   * the agent cannot answer it.
   */
  confirmByElicitation?: boolean;
  /** Origins accepted on `/mcp` besides loopback ones. */
  allowedOrigins?: string[];
  /** Host names accepted on `/mcp` besides loopback ones. */
  allowedHosts?: string[];
  /** Largest `/mcp` request body, in bytes. */
  maxBodyBytes?: number;
  /** Open HTTP sessions per API key; one more closes the key's least recently used session. Default 16. */
  maxSessionsPerKey?: number;
  /**
   * Open HTTP sessions in all, whatever the key; one more closes the least recently used one. Each
   * session runs its own process of every stdio upstream, so this bounds those processes. Default 32.
   */
  maxSessions?: number;
  /** An HTTP session idle this long is closed. Default 5 minutes. */
  sessionIdleMs?: number;
}

/** What every part of one gateway shares: its dependencies and its settled options. */
export interface GatewayContext {
  deps: GatewayDeps;
  options: GatewayOptions;
  logger: Logger;
  callTimeoutMs: number;
  connectTimeoutMs: number;
  holdDefault: number;
}

import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { ClientCapabilities, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { agentEntity, type Caller, type DecideOptions, type DecisionOutcome } from '../decisions/index.js';
import type { PolicyEntity } from '../policy/port.js';
import type { Catalog } from './catalog.js';
import type { GatewayContext } from './options.js';
import type { Conn } from './upstream-connection.js';

/** What the handlers of one downstream session share. */
export interface SessionScope {
  ctx: GatewayContext;
  catalog: Catalog;
  caller: Caller;
  agent: string;
  /** The user this agent acts for (from a verified credential or server config), or null. */
  onBehalfOf: string | null;
  /** What the client declared at `initialize`. */
  clientCaps: ClientCapabilities;
  /** This session's upstream connections by upstream name. */
  conns: Map<string, Conn>;
  /** The SDK server answering this client (set once the session is open). */
  server(): Server;
  /**
   * The one decision path, for this session's agent and user; `call.toolHash` is the pinned
   * definition of the upstream tool that will run the call (approvals are bound to it),
   * `call.upstream` the upstream server it goes to.
   */
  decide(
    action: string,
    args: Record<string, unknown>,
    approvalId: string | null,
    call?: Pick<DecideOptions, 'toolHash' | 'refuse' | 'upstream'>,
    /** `wait`: decided again after waiting (for an approval): the credential is checked again. */
    after?: 'request' | 'wait',
  ): Promise<DecisionOutcome>;
  /** Sends a request upstream through the SDK client, tracked for related notifications. */
  forward(
    conn: Conn,
    method: string,
    params: Record<string, unknown> | undefined,
    id: RequestId,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>>;
}

/**
 * The session's agent as `catalog.mayCall` judges it (its own roles and attributes), or null when it
 * is unknown or suspended: then no permit could ever let it act, and nothing is shown or completed.
 */
export async function activeAgentEntity(
  s: Pick<SessionScope, 'ctx' | 'agent'>,
): Promise<PolicyEntity | null> {
  const self = await s.ctx.deps.store.getAgent(s.agent);
  return self && self.status === 'active' ? agentEntity(self) : null;
}

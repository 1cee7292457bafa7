import type { AuditEvent } from '@mandate/protocol';
import {
  MandateError,
  canonicalize,
  createKeyedSerial,
  sha256Hex,
  type Clock,
  type Logger,
} from '../kernel/index.js';
import type { Store, ToolPin } from '../storage/port.js';

/** The parts of an upstream tool definition that are pinned: everything a model reads or a client relies on. */
export function toolDefinition(tool: Record<string, unknown>): Record<string, unknown> {
  const def: Record<string, unknown> = { name: tool.name };
  for (const k of ['title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const) {
    if (tool[k] !== undefined) def[k] = tool[k];
  }
  return def;
}

/** `sha256:` of the RFC 8785 canonical JSON of a definition. */
export function definitionHash(def: Record<string, unknown>): string {
  return 'sha256:' + sha256Hex(canonicalize(def));
}

export interface PinServiceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
}

/**
 * One upstream tool and its action: `<actionPrefix><tool>`, as decisions name it. Pin records carry
 * that action (and the server and tool in their data), so the trail names a tool one way.
 */
export interface PinnedTool {
  server: string;
  tool: string;
  action: string;
}

/** Tool pinning: first sight pins a definition; a new or changed definition is quarantined until an admin approves its hash. */
export interface PinService {
  /** The status of this exact definition (its name is `at.tool`), pinning or quarantining it on first sight or change. */
  check(at: PinnedTool, def: Record<string, unknown>, trustOnFirstUse: boolean): Promise<ToolPin['status']>;
  /** Approves the current pinned definition (optionally only if its hash is `hash`). */
  approve(at: PinnedTool, approvedBy: string, hash?: string): Promise<ToolPin>;
  list(server?: string): Promise<ToolPin[]>;
}

export function createPinService(deps: PinServiceDeps): PinService {
  const { store, clock } = deps;
  // Approved (server, tool, hash) triples are cached: the hot path of tools/list then reads no store.
  // Quarantined ones are re-read so an approval made by another process takes effect at once.
  const approved = new Map<string, string>();
  const key = (server: string, tool: string) => `${server}\u0000${tool}`;
  const iso = () => new Date(clock.now()).toISOString();

  async function checkNow(
    { server, tool: name, action }: PinnedTool,
    def: Record<string, unknown>,
    trustOnFirstUse: boolean,
  ): Promise<ToolPin['status']> {
    const hash = definitionHash(def);
    if (approved.get(key(server, name)) === hash) return 'approved';
    const pin = await store.getToolPin(server, name);
    if (pin && pin.hash === hash) {
      if (pin.status === 'approved') approved.set(key(server, name), hash);
      return pin.status;
    }
    const now = iso();
    if (!pin) {
      const status: ToolPin['status'] = trustOnFirstUse ? 'approved' : 'quarantined';
      const next: ToolPin = {
        server,
        tool: name,
        hash,
        definition: def,
        status,
        firstSeenAt: now,
        updatedAt: now,
        approvedBy: trustOnFirstUse ? 'tofu' : null,
        approvedHash: trustOnFirstUse ? hash : null,
        approvedDefinition: trustOnFirstUse ? def : null,
      };
      // SECURITY: the full definition enters the audit trail before the tool can be shown or called.
      await deps.record({
        type: 'tool.pinned',
        action,
        data: { server, tool: name, hash, status, approvedBy: next.approvedBy, definition: def },
      });
      if (status === 'quarantined') {
        await deps.record({
          type: 'tool.quarantined',
          action,
          data: { server, tool: name, hash, previousHash: null, reason: 'new' },
        });
      }
      await store.putToolPin(next);
      if (status === 'approved') approved.set(key(server, name), hash);
      deps.logger.info(status === 'approved' ? 'tool pinned (trust on first use)' : 'new tool quarantined', {
        server,
        tool: name,
        hash,
      });
      return status;
    }
    // SECURITY: a rug pull — the definition changed after it was pinned: quarantine until re-approved.
    approved.delete(key(server, name));
    await deps.record({
      type: 'tool.quarantined',
      action,
      data: { server, tool: name, hash, previousHash: pin.hash, reason: 'changed', definition: def },
    });
    // The last approved definition stays on the pin (also across several changes), for review.
    await store.putToolPin({
      ...pin,
      hash,
      definition: def,
      status: 'quarantined',
      approvedBy: null,
      updatedAt: now,
    });
    deps.logger.warn('tool definition changed; quarantined', {
      server,
      tool: name,
      hash,
      previousHash: pin.hash,
    });
    return 'quarantined';
  }

  // One check at a time per tool in this process: two sessions (or the start-up listing and a
  // session) seeing a new tool together must pin it once, with one pair of audit events.
  const checking = createKeyedSerial();

  return {
    check: (at, def, trustOnFirstUse) =>
      checking.run(key(at.server, at.tool), () => checkNow(at, def, trustOnFirstUse)),
    async approve({ server, tool, action }, approvedBy, hash) {
      const pin = await store.getToolPin(server, tool);
      if (!pin) throw new MandateError('not_found', `no pinned tool ${action} (upstream ${server})`);
      if (hash !== undefined && hash !== pin.hash) {
        throw new MandateError(
          'conflict',
          `the current definition of ${action} (upstream ${server}) has hash ${pin.hash}, not ${hash}`,
        );
      }
      const next: ToolPin = {
        ...pin,
        status: 'approved',
        approvedBy,
        approvedHash: pin.hash,
        approvedDefinition: pin.definition,
        updatedAt: iso(),
      };
      await deps.record({
        type: 'tool.approved',
        action,
        data: { server, tool, hash: pin.hash, approvedBy },
      });
      await store.putToolPin(next);
      approved.set(key(server, tool), pin.hash);
      return next;
    },

    list: (server) => store.listToolPins(server),
  };
}

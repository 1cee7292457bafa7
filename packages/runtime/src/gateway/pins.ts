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

/**
 * The largest definition (bytes of its canonical JSON) a `tool.quarantined` record carries; a larger
 * one is recorded by its hash and size, and read on its pin (`GET /v1/tools/pins`).
 */
export const QUARANTINE_RECORD_MAX_DEFINITION_BYTES = 16 * 1024;

/** Hashes of a tool's recent definitions remembered, so a flip between known ones records nothing new. */
const SEEN_HASHES = 16;

/** What a record carries of a definition: itself up to the bound, else its size and a note. */
function boundedDefinition(def: Record<string, unknown>, canonical: string): Record<string, unknown> {
  const bytes = Buffer.byteLength(canonical, 'utf8');
  if (bytes <= QUARANTINE_RECORD_MAX_DEFINITION_BYTES) return { definition: def };
  return {
    definitionBytes: bytes,
    note: `definition of ${bytes} bytes (over ${QUARANTINE_RECORD_MAX_DEFINITION_BYTES}): recorded by its hash and size; its pin holds it (GET /v1/tools/pins)`,
  };
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
  /** The definition hashes each tool was recorded with lately (this process), newest last. */
  const seen = new Map<string, string[]>();
  const sawBefore = (k: string, hash: string): boolean => seen.get(k)?.includes(hash) === true;
  const remember = (k: string, ...hashes: (string | null)[]) => {
    const list = seen.get(k) ?? [];
    for (const h of hashes) if (h !== null && !list.includes(h)) list.push(h);
    if (seen.size > 5_000 && !seen.has(k)) seen.clear();
    seen.set(k, list.slice(-SEEN_HASHES));
  };
  const iso = () => new Date(clock.now()).toISOString();

  async function checkNow(
    { server, tool: name, action }: PinnedTool,
    def: Record<string, unknown>,
    trustOnFirstUse: boolean,
  ): Promise<ToolPin['status']> {
    const canonical = canonicalize(def);
    const hash = 'sha256:' + sha256Hex(canonical);
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
    const k = key(server, name);
    // An upstream changing a definition at every listing (a probe: a 100 KB description, 100
    // list_changed in a row) wrote ~99 records each carrying it — 1.5 → 28 MB in a second. The
    // record is bounded: the definition goes in up to a bound, a larger one by its hash and size
    // (its pin holds it for review); a tool already quarantined records only its new hash, and a
    // hash it was recorded with lately nothing new. Every check still lands on the pin.
    const again = pin.status === 'quarantined';
    if (!again || !sawBefore(k, hash)) {
      const data: Record<string, unknown> = {
        server,
        tool: name,
        hash,
        previousHash: pin.hash,
        reason: 'changed',
      };
      if (again) {
        data.definitionBytes = Buffer.byteLength(canonical, 'utf8');
        data.note =
          'changed again while quarantined: only its new hash is recorded; its pin holds the definition';
      } else Object.assign(data, boundedDefinition(def, canonical));
      await deps.record({ type: 'tool.quarantined', action, data });
      remember(k, pin.approvedHash, pin.hash, hash);
    }
    // The last approved definition stays on the pin (also across several changes), for review.
    await store.putToolPin({
      ...pin,
      hash,
      definition: def,
      status: 'quarantined',
      approvedBy: null,
      updatedAt: now,
    });
    const fields = { server, tool: name, hash, previousHash: pin.hash };
    // Once per quarantine at warn: an upstream changing it at every listing must not flood the log.
    if (again) deps.logger.debug('tool definition changed again while quarantined', fields);
    else deps.logger.warn('tool definition changed; quarantined', fields);
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
      // The definition approved goes on the record (bounded like a quarantine's): a change while
      // quarantined recorded only its hash.
      await deps.record({
        type: 'tool.approved',
        action,
        data: {
          server,
          tool,
          hash: pin.hash,
          approvedBy,
          ...boundedDefinition(pin.definition, canonicalize(pin.definition)),
        },
      });
      await store.putToolPin(next);
      approved.set(key(server, tool), pin.hash);
      return next;
    },

    list: (server) => store.listToolPins(server),
  };
}

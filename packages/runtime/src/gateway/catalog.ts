import { ACTION_NAME, type Tool } from '@mandate/protocol';
import { MandateError, createKeyedSerial } from '../kernel/index.js';
import { CONTEXT_KEYS } from '../decisions/index.js';
import type { CompiledPolicySet, PolicyEntity } from '../policy/port.js';
import type { ToolPin } from '../storage/port.js';
import { inputSchemaProblem } from '../tools/registry.js';
import type { GatewayContext } from './options.js';
import { definitionHash, toolDefinition, type PinnedTool, type PinService } from './pins.js';
import { isRecord } from './results.js';
import type { UpstreamConfig } from './upstreams.js';

/** One upstream tool as the gateway knows it. */
export interface CatalogEntry {
  upstream: UpstreamConfig;
  tool: string;
  action: string;
  exposed: string;
  /** The pinned fields of the upstream's definition (pins.ts `toolDefinition`): all a client is shown. */
  def: Record<string, unknown>;
  status: ToolPin['status'];
  /** The pinned definition hash this entry was checked against. */
  hash: string;
  /**
   * Set when other upstreams claim this entry's action too (shadowing): every upstream claiming it,
   * sorted. Such an entry is quarantined whatever its pin says, and no approval lifts that.
   */
  collision?: readonly string[];
}

/**
 * Requests other than `tools/call` that reach an upstream and are decided as actions of their own,
 * `<server>.<verb>` (docs/gateway.md "Calls"), with their args.
 */
export const GOVERNED = {
  'resources/read': { verb: 'resources_read', summary: 'read the resource {uri}' },
  'resources/subscribe': { verb: 'resources_subscribe', summary: 'subscribe to the resource {uri}' },
  'resources/unsubscribe': { verb: 'resources_unsubscribe', summary: 'unsubscribe from the resource {uri}' },
  'prompts/get': { verb: 'prompts_get', summary: 'get the prompt {name}' },
} as const;
export type GovernedMethod = keyof typeof GOVERNED;

const GOVERNED_SCHEMAS: Record<GovernedMethod, Record<string, unknown>> = {
  'resources/read': uriSchema(),
  'resources/subscribe': uriSchema(),
  'resources/unsubscribe': uriSchema(),
  'prompts/get': {
    type: 'object',
    properties: {
      name: { type: 'string' },
      arguments: { type: 'object', additionalProperties: { type: 'string' } },
    },
    required: ['name'],
  },
};

function uriSchema(): Record<string, unknown> {
  return { type: 'object', properties: { uri: { type: 'string' } }, required: ['uri'] };
}

/** The action a governed request to upstream `server` is decided as. */
export function governedAction(server: string, method: GovernedMethod): string {
  return `${server}.${GOVERNED[method].verb}`;
}

/** The action a pinned tool maps to (`<actionPrefix><tool>`), or null when its upstream is not configured. */
export function pinActionIn(
  upstreams: readonly { name: string; actionPrefix?: string | undefined }[],
  pin: Pick<ToolPin, 'server' | 'tool'>,
): string | null {
  const u = upstreams.find((x) => x.name === pin.server);
  return u ? (u.actionPrefix ?? `${u.name}.`) + pin.tool : null;
}

/**
 * The configured upstreams claiming each action by their pins (`<actionPrefix><tool>`), sorted: more
 * than one is a collision. A pin claims its action until its upstream is removed from the config or
 * given another `actionPrefix` (pins are never deleted).
 */
export function claimsOf(pins: readonly { server: string; action: string | null }[]): Map<string, string[]> {
  const claims = new Map<string, string[]>();
  for (const p of pins) {
    if (p.action === null) continue;
    const servers = claims.get(p.action) ?? [];
    if (!servers.includes(p.server)) claims.set(p.action, [...servers, p.server].sort());
  }
  return claims;
}

/** Each pin with the other upstreams claiming its action (`GET /v1/tools/pins`, `mandate tools list`). */
export function withCollisions<T extends { server: string; action: string | null }>(
  pins: readonly T[],
): Array<T & { collidesWith: string[] }> {
  const claims = claimsOf(pins);
  return pins.map((p) => ({
    ...p,
    collidesWith: p.action === null ? [] : (claims.get(p.action) ?? []).filter((s) => s !== p.server),
  }));
}

/** The global catalogue of upstream tools (shared by all sessions), their pins and registry entries. */
export interface Catalog {
  /** The action of an upstream tool: `<actionPrefix><tool>`. */
  actionOf(u: UpstreamConfig, tool: string): string;
  /** Pins and catalogues one upstream's full tool list; returns its entries. */
  absorb(u: UpstreamConfig, tools: Record<string, unknown>[]): Promise<CatalogEntry[]>;
  /** Publishes the registry entries of approved tools and governed requests. */
  publish(): void;
  /** By exposed name (what clients call). */
  byExposed(name: string): CatalogEntry | undefined;
  /** The entries of one upstream as they stand now. */
  entriesOf(server: string): CatalogEntry[];
  /** Shown to clients: approved, its input schema usable, and not hidden by an exposed-name clash. */
  isVisible(e: CatalogEntry): boolean;
  /**
   * Why this entry's input schema cannot be registered (then it is not shown, and a call to it is
   * refused naming this), or null.
   */
  schemaProblem(e: Pick<CatalogEntry, 'def' | 'hash'>): string | null;
  /** Could some permit ever let this agent take this action (tools/list visibility)? */
  mayCall(policy: CompiledPolicySet | null, self: PolicyEntity | null, action: string): boolean;
  /** The action a pinned tool maps to (`<actionPrefix><tool>`), or null when its upstream is no longer configured. */
  actionOfPin(pin: Pick<ToolPin, 'server' | 'tool'>): string | null;
  /**
   * Approves an upstream tool by its action name (`<actionPrefix><tool>`, as `GET /v1/tools/pins`
   * gives it). Refused (`conflict`) for an action two upstreams claim.
   */
  approve(name: string, approvedBy: string, hash?: string): Promise<ToolPin>;
  /** Logs (once per policy version) approved tools and governed actions the active schema does not declare. */
  reportUndeclared(): void;
  /** The approved upstream tools whose actions the policy's schema does not declare. */
  undeclared(policy: CompiledPolicySet | null): string[];
}

export function createCatalog(ctx: GatewayContext, pins: PinService): Catalog {
  const { deps, options, logger } = ctx;
  /** By upstream and action: two upstreams claiming one action are both here (and both quarantined). */
  const catalog = new Map<string, CatalogEntry>();
  const entryKey = (e: Pick<CatalogEntry, 'upstream' | 'action'>) => `${e.upstream.name}\u0000${e.action}`;
  /** The upstreams claiming each action: the pins in the store at the first listing, then every listing. */
  const claims = new Map<string, Set<string>>();
  let claimsLoaded: Promise<void> | undefined;
  const exposedIndex = new Map<string, CatalogEntry>();
  const permitCache = new Map<string, boolean>();
  const reported = new Set<string>();
  let published = '';
  /** The registry entries that could not be published (by their JSON), logged once. */
  let failedToPublish = '';
  /** Input-schema problems by definition hash (null: it compiles); compiled once per definition. */
  const schemaProblems = new Map<string, string | null>();
  /** Warnings given once: unusable schemas (by upstream, tool and hash), exposed-name clashes. */
  const warnedOnce = new Set<string>();
  const warnOnce = (key: string, msg: string, fields: Record<string, unknown>) => {
    if (warnedOnce.has(key)) return;
    if (warnedOnce.size > 10_000) warnedOnce.clear();
    warnedOnce.add(key);
    logger.warn(msg, fields);
  };
  const reserved = new Set(
    options.upstreams.flatMap((u) =>
      (Object.keys(GOVERNED) as GovernedMethod[]).map((m) => governedAction(u.name, m)),
    ),
  );

  const actionOf = (u: UpstreamConfig, tool: string) => (u.actionPrefix ?? `${u.name}.`) + tool;
  const actionOfPin = (pin: Pick<ToolPin, 'server' | 'tool'>) => pinActionIn(options.upstreams, pin);
  const exposedOf = (u: UpstreamConfig, tool: string) => (u.exposeBareNames ? tool : actionOf(u, tool));

  function claim(action: string, server: string): void {
    const servers = claims.get(action) ?? new Set<string>();
    if (servers.has(server)) return;
    servers.add(server);
    claims.set(action, servers);
    if (servers.size > 1)
      logger.warn('two upstreams claim the same action; it is quarantined on both', {
        action,
        servers: [...servers].sort(),
      });
  }

  /**
   * SECURITY: the pins stored before this process listed anything claim their actions too: an
   * upstream first listed here cannot take an action another upstream pinned (and is not listed yet).
   */
  function loadClaims(): Promise<void> {
    claimsLoaded ??= pins.list().then(
      (all) => {
        for (const p of all) {
          const action = actionOfPin(p);
          if (action !== null) claim(action, p.server);
        }
      },
      (err: unknown) => {
        claimsLoaded = undefined;
        throw err;
      },
    );
    return claimsLoaded;
  }

  /** The upstreams claiming an action, sorted, when more than one does. */
  function collisionOf(action: string): string[] | undefined {
    const servers = claims.get(action);
    return servers && servers.size > 1 ? [...servers].sort() : undefined;
  }

  /** Listings of one upstream never interleave. */
  const absorbing = createKeyedSerial();

  async function absorbNow(u: UpstreamConfig, tools: Record<string, unknown>[]): Promise<CatalogEntry[]> {
    // First every pin check (they wait on the store), then the catalogue changes all at once, so
    // nobody ever sees this upstream half-listed.
    await loadClaims();
    const entries: CatalogEntry[] = [];
    for (const raw of tools) {
      const name = typeof raw.name === 'string' ? raw.name : '';
      const action = actionOf(u, name);
      if (!ACTION_NAME.test(action)) {
        logger.warn('upstream tool hidden: its action name does not fit namespace.verb', {
          server: u.name,
          tool: name.slice(0, 100),
        });
        continue;
      }
      if (reserved.has(action)) {
        // SECURITY: a tool must not take the action of a governed request (its permits are another's).
        logger.warn('upstream tool hidden: its action is reserved for a governed request', {
          server: u.name,
          action,
        });
        continue;
      }
      const def = toolDefinition(raw);
      const status = await pins.check(
        { server: u.name, tool: name, action },
        def,
        u.trustOnFirstUse === true,
      );
      const hash = definitionHash(def);
      entries.push({ upstream: u, tool: name, action, exposed: exposedOf(u, name), def, status, hash });
    }
    for (const [k, e] of catalog) if (e.upstream.name === u.name) catalog.delete(k);
    for (const entry of entries) {
      claim(entry.action, u.name);
      catalog.set(entryKey(entry), entry);
    }
    for (const e of catalog.values()) {
      const collision = collisionOf(e.action);
      if (collision) {
        // SECURITY: shadowing — two upstreams claiming one action: neither is trusted with it, and
        // the pins (identical definitions hash alike) cannot tell which one an approval meant.
        e.collision = collision;
        e.status = 'quarantined';
      }
    }
    rebuildExposed();
    publish();
    return entries;
  }

  /**
   * SECURITY: a bare name (`exposeBareNames`) that is an action another upstream claims (by its
   * listing or its pins) is that upstream's: a probe's bare upstream listing a tool literally named
   * `good.echo` made `good.echo` answer "unknown tool" for every agent. The bare tool is left out.
   */
  function takesAnothersAction(e: CatalogEntry): string[] | null {
    if (e.exposed === e.action) return null;
    const others = [...(claims.get(e.exposed) ?? [])].filter((s) => s !== e.upstream.name);
    return others.length > 0 ? others.sort() : null;
  }

  function rebuildExposed(): void {
    exposedIndex.clear();
    const clashes = new Map<string, Set<string>>();
    for (const e of catalog.values()) {
      const owners = takesAnothersAction(e);
      if (owners) {
        warnOnce(
          `bare\0${e.upstream.name}\0${e.exposed}`,
          "upstream tool hidden: its bare name is another upstream's action",
          { name: e.exposed, server: e.upstream.name, action: e.action, owners },
        );
        continue;
      }
      const seen = exposedIndex.get(e.exposed);
      // One action several upstreams claim keeps its name (the first claimant, quarantined like
      // the others): a call is refused as quarantined, not as a tool nobody offers.
      if (seen?.collision && seen.action === e.action) continue;
      if (seen) {
        const servers = clashes.get(e.exposed) ?? new Set([seen.upstream.name]);
        clashes.set(e.exposed, servers.add(e.upstream.name));
      }
      exposedIndex.set(e.exposed, e);
    }
    for (const [name, servers] of clashes) {
      // Bare names of two upstreams (a namespaced one's own name never gets here: see above).
      const all = [...servers].sort();
      warnOnce(`clash\0${name}\0${all.join('\0')}`, 'two upstream tools share one exposed name; hidden', {
        name,
        servers: all,
      });
      exposedIndex.delete(name);
    }
  }

  function schemaProblem(e: Pick<CatalogEntry, 'def' | 'hash'>): string | null {
    let problem = schemaProblems.get(e.hash);
    if (problem === undefined) {
      problem = inputSchemaProblem(schemaForRegistry(e.def.inputSchema));
      if (schemaProblems.size > 10_000) schemaProblems.clear();
      schemaProblems.set(e.hash, problem);
    }
    return problem;
  }

  /** Registry entries for approved tools: the config's entry wins, else one derived from the upstream's inputSchema. */
  function publish(): void {
    const fromConfig = new Set(deps.configTools().map((t) => t.action));
    const tools: Tool[] = [];
    for (const e of catalog.values()) {
      // SECURITY: a quarantined tool gets no registry entry, so the decision path denies it as unknown.
      if (e.status !== 'approved' || fromConfig.has(e.action)) continue;
      // Published all the same: the registry leaves such an entry out (app/mandate.ts `derived`),
      // and a call to it is refused naming the problem instead of "no tool is registered".
      const problem = schemaProblem(e);
      if (problem !== null)
        warnOnce(
          `schema\0${e.upstream.name}\0${e.tool}\0${e.hash}`,
          'upstream tool left out: its input schema does not compile; it is not listed and its calls are refused',
          { server: e.upstream.name, action: e.action, hash: e.hash, problem },
        );
      // Own keys only: an upstream tool named `constructor` must not read Object's prototype.
      const map = e.upstream.paths;
      const paths = map && Object.hasOwn(map, e.tool) ? map[e.tool] : undefined;
      tools.push({
        action: e.action,
        description: String(e.def.description ?? '').slice(0, 4000),
        inputSchema: schemaForRegistry(e.def.inputSchema),
        risk: 'medium',
        redact: [],
        ...(paths ? { paths } : {}),
      });
    }
    for (const u of options.upstreams) {
      for (const method of Object.keys(GOVERNED) as GovernedMethod[]) {
        const action = governedAction(u.name, method);
        if (fromConfig.has(action)) continue;
        tools.push({
          action,
          description: `${method} on upstream ${u.name}`,
          inputSchema: GOVERNED_SCHEMAS[method],
          risk: 'low',
          summary: `${GOVERNED[method].summary} on ${u.name}`,
          redact: [],
        });
      }
    }
    const key = JSON.stringify(tools);
    if (key !== published) {
      // Only once registered is it published: a failure is tried again at the next listing (it
      // used to be marked published first, so the registry was never rebuilt again), and it never
      // fails a listing: every tool the registry holds keeps working meanwhile.
      try {
        deps.setGatewayTools(tools);
        published = key;
        failedToPublish = '';
      } catch (err) {
        if (failedToPublish !== key)
          logger.error('the gateway tools could not be registered; the registry keeps its previous entries', {
            error: String((err as Error)?.message ?? err).slice(0, 1000),
          });
        failedToPublish = key;
      }
    }
    reportUndeclared();
  }

  let declaredBy: { policy: CompiledPolicySet; actions: ReadonlySet<string> } | null = null;
  function undeclared(policy: CompiledPolicySet | null): string[] {
    if (!policy) return [];
    if (declaredBy?.policy !== policy) declaredBy = { policy, actions: new Set(policy.actions) };
    const declared = declaredBy.actions;
    const out: string[] = [];
    for (const e of catalog.values())
      if (e.status === 'approved' && !declared.has(e.action)) out.push(e.action);
    return out.sort();
  }

  function reportUndeclared(): void {
    const policy = deps.policies();
    if (!policy) return;
    for (const action of undeclared(policy)) {
      const key = `${policy.version}\0${action}`;
      if (reported.has(key)) continue;
      if (reported.size > 10_000) reported.clear();
      reported.add(key);
      // The tool is hidden and every call denied (unknown_action): say so where an operator looks.
      logger.warn('upstream tool not declared in the Cedar schema: hidden and denied', {
        action,
        policyVersion: policy.version,
      });
    }
  }

  /**
   * The upstream tool a name given to `approve` means: an action this node catalogues, an action a
   * pin maps to (also before its upstream was listed again since a restart: with an empty or
   * unusual `actionPrefix` the name alone does not say the upstream), else split by a configured
   * prefix or at the first dot. Whatever the name, the action checked is the tool's own.
   */
  function resolve(name: string, all: readonly ToolPin[]): PinnedTool | null {
    const entry = [...catalog.values()].find((e) => e.action === name);
    if (entry) return { server: entry.upstream.name, tool: entry.tool, action: name };
    const pinned = all.find((p) => actionOfPin(p) === name);
    if (pinned) return { server: pinned.server, tool: pinned.tool, action: name };
    for (const u of options.upstreams) {
      const prefix = u.actionPrefix ?? `${u.name}.`;
      if (name.startsWith(prefix) && name.length > prefix.length)
        return { server: u.name, tool: name.slice(prefix.length), action: name };
    }
    const dot = name.indexOf('.');
    if (dot <= 0 || dot === name.length - 1) return null;
    const server = name.slice(0, dot);
    const tool = name.slice(dot + 1);
    return { server, tool, action: actionOfPin({ server, tool }) ?? name };
  }

  return {
    actionOf,
    absorb: (u, tools) => absorbing.run(u.name, () => absorbNow(u, tools)),
    publish,
    byExposed: (name) => exposedIndex.get(name),
    entriesOf: (server) => [...catalog.values()].filter((e) => e.upstream.name === server),
    isVisible: (e) =>
      e.status === 'approved' && exposedIndex.get(e.exposed) === e && schemaProblem(e) === null,
    schemaProblem,
    mayCall(policy, self, action) {
      if (!policy || !self) return false;
      const key = `${policy.version}\0${JSON.stringify(self)}\0${action}`;
      let hit = permitCache.get(key);
      if (hit === undefined) {
        hit = policy.couldPermit(self, action, CONTEXT_KEYS);
        if (permitCache.size > 10_000) permitCache.clear();
        permitCache.set(key, hit);
      }
      return hit;
    },
    actionOfPin,
    async approve(name, approvedBy, hash) {
      const all = await pins.list();
      const at = resolve(name, all);
      if (!at) throw new MandateError('not_found', `no upstream tool ${name}`);
      // SECURITY: fail closed — an action two upstreams claim stays quarantined on both. Approving a
      // pin would hand the action to one of them, and identical definitions hash alike: nothing
      // says which upstream the admin meant (a probe's approval went to the shadowing one).
      const claimants = new Set([
        ...(claimsOf(all.map((p) => ({ server: p.server, action: actionOfPin(p) }))).get(at.action) ?? []),
        ...(claims.get(at.action) ?? []),
      ]);
      if (claimants.size > 1) {
        const servers = [...claimants].sort();
        throw new MandateError(
          'conflict',
          `${at.action} is claimed by upstreams ${servers.join(', ')}: it is quarantined on all of them and ` +
            `no approval lifts that. Give all but one of them their own actionPrefix, or remove them from ` +
            `the config, then approve the tool that is left`,
          { details: { action: at.action, servers } },
        );
      }
      const pin = await pins.approve(at, approvedBy, hash);
      const e = [...catalog.values()].find((x) => x.upstream.name === at.server && x.tool === at.tool);
      if (
        e &&
        !e.collision &&
        e.status === 'quarantined' &&
        JSON.stringify(e.def) === JSON.stringify(pin.definition)
      ) {
        e.status = 'approved';
        e.hash = pin.hash;
        publish();
      }
      return pin;
    },
    reportUndeclared,
    undeclared,
  };
}

/** Upstream schemas are JSON Schema 2020-12; the registry's validator takes them without the dialect marker. */
function schemaForRegistry(schema: unknown): Record<string, unknown> {
  if (!isRecord(schema)) return { type: 'object' };
  const { $schema: _dialect, ...rest } = schema;
  return rest;
}

import { resolve as resolvePath } from 'node:path';
import type { AuditEvent, Tool } from '@mandate/protocol';
import { ToolsDocumentSchema } from '@mandate/protocol';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  MandateError,
  NODE_PAGE_RECORDS,
  createRateLimiter,
  createJsonLogger,
  isMandateError,
  systemClock,
  type Clock,
  type Logger,
} from '../kernel/index.js';
import type { LoadedConfig } from '../config/index.js';
import type { Store } from '../storage/port.js';
import { withReadCache } from '../storage/read-cache.js';
import { createCedarEngine, type Divergence, type PolicyEngine } from '../policy/index.js';
import { createPolicyService, type PolicyService } from '../policy/service.js';
import { createShadowSet } from '../policy/shadow-set.js';
import { SHADOW_MAX_QUEUE, createShadowEvaluator, type ShadowMode } from '../decisions/shadow.js';
import { createToolRegistry, localPathFs, type ToolRegistry } from '../tools/index.js';
import { createApprovalService, recordWhatAStopLeft, type ApprovalService } from '../approvals/index.js';
import { createGrantService, type GrantService } from '../grants/index.js';
import {
  createDecisionService,
  createTimeContext,
  type Caller,
  type DecisionService,
} from '../decisions/index.js';
import {
  argsDigest,
  createAuditLog,
  createEphemeralKeys,
  createRecordSealer,
  signFindingNote,
  createRedactor,
  exportAudit,
  createRefusalRecorder,
  type AuditLog,
  type RefusalRecorder,
} from '../audit/index.js';
import { createKeyService, createKeyUsage, type KeyService } from '../keys/index.js';
import {
  createAuthenticator,
  closeUnusedConnections,
  createHttpServer,
  createJwtVerifier,
  createMetrics,
  createOidcClient,
  recentlyKnownKey,
  type Metrics,
} from '../http/index.js';
import { createGateway, type Gateway } from '../gateway/index.js';
import { openStore } from './store.js';
import { approvalWebhookPayload, createWebhookNotifier, type WebhookNotifier } from '../notify/index.js';
import { runPolicyCases } from './policy-cases.js';
import { auditWithMirror, checkpointMirrors, createEvidence, readMirror, type Evidence } from './evidence.js';
import { createSinkRunner, sinkDefinitions, type SinkRunner, type SinkStatus } from '../sinks/index.js';
import { createAlerting, type Alerting } from '../alerts/index.js';
import { recordDecisionMetric, startTracing } from '../telemetry/index.js';
import { readJsonFile, seedState } from './seed.js';
import { signingKeysFor } from './signing-keys.js';
import { createSessionService, type SessionService } from '../sessions/index.js';
import { dashboardDir } from './dashboard.js';
import { createUsageMeter } from '../usage/index.js';
import { warnUncountedActions } from './usage-check.js';
import { listenError } from './listen-error.js';
import { createPersonalData, type PersonalData } from '../audit/personal.js';

/** Everything a running Mandate node is made of; the CLI, the tests and the bench build it the same way. */
export interface Mandate {
  store: Store;
  clock: Clock;
  logger: Logger;
  nodeId: string;
  engine: PolicyEngine;
  policies: PolicyService;
  /** The shadow policy set and the evaluation of live decisions against it (issue 14 §1). */
  shadow: ShadowMode;
  tools: () => ToolRegistry;
  setTools(tools: Tool[]): Promise<void>;
  audit: AuditLog;
  /** Appends a non-decision event (stamped with time and node). */
  record(event: Omit<AuditEvent, 'time' | 'nodeId'>): Promise<unknown>;
  approvals: ApprovalService;
  grants: GrantService;
  /** API key lifecycle: create, list, revoke, rotate. */
  keys: KeyService;
  /** Refused attempts on the record (ADR 0018). */
  refusals: RefusalRecorder;
  decisions: DecisionService;
  /** The MCP gateway, when upstreams are configured. */
  gateway: Gateway | null;
  metrics: Metrics;
  publicKeys: Record<string, string>;
  /** Alert rules over the audit stream; null without rules. The evaluator runs once `listen` starts it. */
  alerts: Alerting | null;
  /** Personal data kept beside the chain, erasable per user (docs/audit.md "Erasure"). */
  personal: PersonalData;
  /** Verify with the mirror and the cadence, the continuous tail check, the record of trail reads. */
  evidence: Evidence;
  /** Delivery state of each audit sink (empty until `listen`, which starts them). */
  sinkStatus(): SinkStatus[];
  /** Starts the HTTP server (the v1 API, and the MCP gateway at /mcp when upstreams are configured). */
  listen(): Promise<{ server: Server; url: string }>;
  close(): Promise<void>;
}

export interface CreateMandateOptions {
  clock?: Clock;
  logger?: Logger;
  /** Use this store instead of opening `config.store` (tests). */
  store?: Store;
  /** Skip loading files named by the config (tools, entities, policies, apiKeys). */
  skipSeed?: boolean;
  /**
   * Apply the config's entities, grants and policy directory over what the store holds (audited as
   * `seed.applied`); default `loaded.reseed` (`MANDATE_RESEED=1`). Without it they only fill an
   * empty store (ADR 0015).
   */
  reseed?: boolean;
  /**
   * Create an audit signing key although the store already holds audit records; default
   * `loaded.newSigningKey` (`--new-signing-key`, `MANDATE_NEW_SIGNING_KEY=1`). Without it such a
   * start is refused ({@link signingKeysFor}).
   */
  newSigningKey?: boolean;
  /** How often the live policy engine is checked and, when broken, replaced (ms; default 1000, 0: never — tests). */
  engineCheckMs?: number;
}

/** The composition root: wires concrete pieces together, seeds from the config's files, and nothing else. */
export async function createMandate(
  loaded: LoadedConfig,
  options: CreateMandateOptions = {},
): Promise<Mandate> {
  const { config, nodeId } = loaded;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createJsonLogger(config.log.level);
  // The hot rows (key, agent, user, resource, grants) come from memory behind the store's cache
  // epoch, which every node reads per call (ADR 0026); each read brings the active policy version.
  let onPolicyVersion: ((version: string | null, began: number) => void) | null = null;
  const store = withReadCache(options.store ?? openStore(config.store, logger, { nodeId }), {
    onPolicyVersion: (version, began) => onPolicyVersion?.(version, began),
  });
  let audit: AuditLog | undefined;
  let evidence: Evidence | undefined;
  let policies: PolicyService | undefined;
  let policyEngine: PolicyEngine | undefined;
  let shadow: ShadowMode | undefined;
  let server: Server | undefined;
  let notifier: WebhookNotifier | null = null;
  let refusals: RefusalRecorder | undefined;
  let stopPolling: () => Promise<void> = async () => {};
  let sinks: SinkRunner | null = null;
  let stopTracing: () => Promise<void> = async () => {};
  const shutdown = new AbortController();
  try {
    await store.migrate();
    // The mirror file, read once at start: for the key rule and for the first tail check. One that
    // cannot be read is left to the tail check, which reads it again and says so.
    // The mirror file configured, or by default the key directory's (auditWithMirror).
    const auditConfig = store.kind === 'memory' ? config.audit : auditWithMirror(config);
    const mirrorFile = auditConfig.checkpointMirror?.file ?? undefined;
    const mirrorAtStart =
      mirrorFile && store.kind !== 'memory' ? await readMirror(mirrorFile, logger).catch(() => null) : null;
    const { keys, createdOver } =
      store.kind === 'memory'
        ? { keys: createEphemeralKeys(), createdOver: null }
        : await signingKeysFor(
            store,
            config.keys.dir,
            options.newSigningKey ?? loaded.newSigningKey ?? false,
            mirrorFile,
            mirrorAtStart && !('problem' in mirrorAtStart) ? mirrorAtStart.checkpoints : [],
          );
    const sealer = createRecordSealer(keys.sealKey);
    const mirrors = checkpointMirrors(auditConfig, { clock, logger });
    audit = createAuditLog({
      store,
      clock,
      logger,
      nodeId,
      signer: keys.signer,
      sealer,
      checkpointEvery: config.audit.checkpointEvery,
      checkpointIntervalMs: config.audit.checkpointIntervalMs,
      maxQueue: config.audit.maxQueue,
      mirrors,
      // SECURITY: a node signs only a chain its own check has been through: not before that check
      // (seeding at start appended and signed a chain rewritten while it was down, before the
      // first check could see it; a failed start signed it at close), never after a finding.
      // Bound late: the evidence is made just below, and its first check runs before anything else.
      mayCheckpoint: async () =>
        evidence !== undefined && evidence.tail.firstCheckDone() && evidence.tail.status().ok,
      // The chain is not what this node wrote (ADR 0035 addendum): the node's finding.
      onTampered: async (finding) => evidence?.tail.report(finding),
      checkpointFirstBatch: store.kind !== 'memory',
      verifiedHead: () =>
        (evidence?.tail.trustedHashes() ?? []).reduce<{ seq: number; hash: string } | null>(
          (best, c) => (best && best.seq >= c.seq ? best : c),
          null,
        ),
    });
    const auditLog = audit;
    const record = (event: Omit<AuditEvent, 'time' | 'nodeId'>) =>
      auditLog.append({ ...event, time: new Date(clock.now()).toISOString(), nodeId } as AuditEvent);
    const publicKeys = { [keys.signer.keyId]: keys.publicKeyPem };
    evidence = createEvidence({
      audit: auditConfig,
      store,
      clock,
      logger,
      nodeId,
      publicKeys,
      record,
      written: (seq) => auditLog.writtenHash(seq),
      sealer,
      // EVIDENCE: a signed note of each finding, in the mirror file, checked at the next start.
      noteFinding: async (rec, problem) => {
        const note = signFindingNote(keys.signer, rec, problem, new Date(clock.now()).toISOString());
        for (const m of mirrors) {
          await m.writeFinding?.(note).catch((err: unknown) => {
            logger.error('audit finding note not written to the mirror', {
              nodeId,
              mirror: m.name,
              seq: rec.seq,
              error: (err as Error).message,
            });
          });
        }
      },
      ...(mirrorAtStart ? { mirrorAtStart } : {}),
    });
    // The node's first check of its own chain, before it appends (seeding) or signs anything: a
    // chain rewritten while it was down is its finding before it could vouch for it.
    await evidence.tail
      .check()
      .catch((err: unknown) =>
        logger.warn('audit tail check failed', { nodeId, error: (err as Error).message }),
      );
    if (createdOver) {
      await record({
        type: 'audit.signing_key_created',
        data: { keyId: keys.signer.keyId, headSeq: createdOver.seq, headHash: createdOver.hash },
      });
      logger.warn('audit signing key created over an existing chain (--new-signing-key)', {
        nodeId,
        keyId: keys.signer.keyId,
        headSeq: createdOver.seq,
      });
    }
    // SECURITY: the compiled engine's answer differed from cedar-wasm's: on the record, loudly.
    const reportDivergence = (d: Divergence) => {
      logger.error('compiled policy engine diverged from cedar-wasm', { ...d });
      void record({ type: 'policy.divergence', action: d.action, data: { ...d } }).catch((err: Error) =>
        logger.error('divergence not recorded', { error: err.message }),
      );
    };
    const engine = createCedarEngine({
      memoEntries: config.policies.memoEntries,
      evaluator: config.policies.engine,
      logger,
      verifySample: config.policies.verify.sampleRatio,
      switchOnDivergence: config.policies.verify.switchOnDivergence,
      onDivergence: (d) => reportDivergence(d),
    });
    policyEngine = engine;
    policies = createPolicyService({ engine, store, clock, logger, audit: record });
    const policyService = policies;
    // SECURITY: the hot path's version check (DESIGN.md, Storage). The decision path reads the
    // cache epoch first, and the active policy version with it: a set activated on another node is
    // waited for by this node's next decision, not answered on the last one until a poll or a
    // notification (a missed or late NOTIFY, SQLite's 1 s poll) told the node.
    onPolicyVersion = (version, began) => {
      if (policyService.observed(version, began))
        policyService
          .refresh()
          .catch((err: Error) => logger.warn('policy refresh failed', { error: err.message }));
    };
    // Tools that declare `paths.resolveSymlinks` resolve them on this machine's filesystem. The
    // gateway's entries (`derived`) come from upstream definitions: one that does not compile is
    // left out, its calls refused naming why, instead of failing the registry for every tool.
    const registryOf = (tools: readonly Tool[], derived: readonly Tool[] = []) =>
      createToolRegistry(tools, { fs: localPathFs, derived });
    let registry = registryOf([]);
    // The registry is the config's tools plus the gateway's approved upstream tools (config entries win).
    let baseTools: Tool[] = [];
    let gatewayTools: Tool[] = [];
    const mergeTools = () => {
      registry = registryOf(baseTools, gatewayTools);
    };
    const setTools = async (tools: Tool[]) => {
      registryOf(tools);
      await store.putTools(tools);
      baseTools = tools;
      mergeTools();
    };

    const grants = createGrantService({ store, clock, audit: record });
    const keyService = createKeyService({ store, clock, audit: record });
    if (!options.skipSeed) {
      await seedState(
        config,
        { store, engine, policies: policyService, grants, record, logger, clock },
        { reseed: options.reseed ?? loaded.reseed ?? false },
      );
      await seed(loaded, { store, setTools, record, keys: keyService, logger });
    }
    // A checkpoint of this key over the head now, not up to checkpointIntervalMs later: a start
    // refuses a chain with history its key signed nothing of (signingKeysFor), and a node stopped
    // hard before its first checkpoint would otherwise be such a chain. EVIDENCE: and the start's
    // own records — the seeded keys (the admin's among them), entities, grants — are signed at once:
    // they stayed unsigned for up to the interval after the first batch's checkpoint, a tail a
    // database admin could delete after a crash with nothing to show for it (a probe).
    const ownNewest = async () =>
      (await store.listCheckpoints({ keyId: keys.signer.keyId, order: 'desc', limit: 1 }))[0]?.seq ?? 0;
    if (store.kind !== 'memory' && (await store.auditHead()).seq > (await ownNewest())) {
      await auditLog.checkpoint().catch((err: unknown) =>
        logger.warn('audit checkpoint of the start not written', {
          nodeId,
          error: (err as Error).message,
        }),
      );
    }
    refusals = createRefusalRecorder({ clock, logger, record });
    const refusalRecorder = refusals;
    const keyUsage = createKeyUsage({ store, clock, logger });
    baseTools = await store.listTools();
    mergeTools();
    await policyService.refresh();
    warnUncountedActions(config.usage, policyService.active(), logger);
    const shadowSet = createShadowSet({ engine, store, clock, logger, audit: record });
    const shadowMode: ShadowMode = {
      set: shadowSet,
      evaluator: createShadowEvaluator({
        shadow: () => shadowSet.current(),
        record,
        logger,
        maxQueue: SHADOW_MAX_QUEUE,
      }),
    };
    shadow = shadowMode;
    await shadowSet.refresh();

    const webhook = config.approvals.webhook
      ? createWebhookNotifier(config.approvals.webhook, { clock, logger })
      : null;
    notifier = webhook;
    const approvals = createApprovalService(
      {
        store,
        clock,
        logger,
        audit: record,
        flushAudit: () => auditLog.flush(),
        ...(webhook
          ? { notify: (kind, approval) => webhook.send(kind, approvalWebhookPayload(approval)) }
          : {}),
      },
      config.approvals,
    );
    // EVIDENCE: approval requests, votes and uses a stop left unrecorded go on the record now (recorded.ts).
    const late = await recordWhatAStopLeft(
      { store, audit: record },
      config.approvals.ttlSeconds,
      clock.now(),
    ).catch((err: unknown) => {
      logger.warn('approval records left unwritten by a stop could not be looked for', {
        error: (err as Error).message,
      });
      return { uses: 0, parts: 0 };
    });
    if (late.uses + late.parts > 0)
      logger.warn('recorded approval requests, votes and uses a stop had left unrecorded', late);
    const redactor = createRedactor({ paths: config.audit.redact });
    const metrics = createMetrics();
    const perKey = config.rateLimits.perKey
      ? createRateLimiter(config.rateLimits.perKey, () => clock.now(), 'API key')
      : null;
    const perAgent = config.rateLimits.perAgent
      ? createRateLimiter(config.rateLimits.perAgent, () => clock.now(), 'agent')
      : null;
    const personal = createPersonalData({
      store,
      clock,
      hmacKey: keys.hmacKey,
      keep: config.audit.personal.keep,
      record,
    });
    const maxStaleMs = config.policies.maxStaleMs;
    const isFresh = () => performance.now() - policyService.confirmedAt() <= maxStaleMs;
    // Stale only by the clock (an event loop held for seconds, a paused process) is checked now,
    // and the set reloaded if another node replaced it; a store that does not answer stays stale.
    const confirmedFresh = () =>
      isFresh() ||
      policyService.refresh().then(
        () => isFresh(),
        () => false,
      );
    const decisions = createDecisionService({
      store,
      clock,
      logger,
      nodeId,
      policies: () => policyService.active(),
      storeCurrent: () => store.freshEpoch(),
      // SECURITY: fail closed — once this node knows another set is active (a notification, a
      // check), no decision is answered on its last one: each waits for the new set, within
      // `policies.maxStaleMs` of the node learning of it, then is refused. Nothing pending: no await.
      policyFresh: () => {
        const current = policyService.whenCurrent(maxStaleMs);
        if (current === true) return confirmedFresh();
        return current.then((installed) => {
          if (!installed)
            throw new MandateError(
              'store_unavailable',
              `another policy set was activated and this node has not installed it within policies.maxStaleMs (${maxStaleMs} ms): it decides nothing until it has`,
            );
          return confirmedFresh();
        });
      },
      tools: () => registry,
      audit: (event) => auditLog.append(event),
      approvals,
      grants,
      redact: redactor,
      digest: (args) => argsDigest(keys.hmacKey, args),
      time: createTimeContext(config.policies.timeZone),
      ...(perKey || perAgent
        ? {
            rateLimit: (caller: Caller, agent: string) => {
              perKey?.take(caller.keyId);
              perAgent?.take(agent);
            },
          }
        : {}),
      observe: (effect, ms) => {
        metrics.observeDecision(effect, ms);
        // The same figures over OTLP when OpenTelemetry is configured (a no-op otherwise).
        recordDecisionMetric(effect, ms);
      },
      refusals: refusalRecorder,
      shadow: (seen) => shadowMode.evaluator.observe(seen),
      ...(config.usage.length > 0
        ? { usage: createUsageMeter({ store, counters: config.usage, logger }) }
        : {}),
      ...(config.audit.personal.keep.length > 0 ? { personal } : {}),
    });
    const dashboardConfig = config.dashboard;
    const sessions: SessionService | null = dashboardConfig.enabled
      ? createSessionService(
          {
            store,
            clock,
            usage: keyUsage,
            refused: (r) => refusalRecorder.refused({ ...r, route: 'POST /v1/sessions' }),
          },
          {
            ttlSeconds: dashboardConfig.sessionTtlSeconds,
            maxSeconds: dashboardConfig.sessionMaxSeconds,
            graceSeconds: 30,
          },
        )
      : null;
    const nodeEvidence = evidence;
    const jwtConfig = config.auth.jwt;
    const authenticateHeader = createAuthenticator(
      store,
      jwtConfig
        ? createJwtVerifier(
            {
              ...jwtConfig,
              ...(jwtConfig.jwksFile ? { jwksFile: resolvePath(loaded.baseDir, jwtConfig.jwksFile) } : {}),
            },
            clock,
          )
        : null,
      { clock, usage: keyUsage },
    );
    // P4/P5 across nodes: a set activated by another process or node is picked up within a second.
    const refreshPolicy = () => {
      policyService
        .refresh()
        .catch((err: Error) => logger.warn('policy refresh failed', { error: err.message }));
      shadowSet
        .refresh()
        .catch((err: Error) => logger.warn('shadow policy refresh failed', { error: err.message }));
    };
    // A live engine broken by a wasm trap is replaced within a second (issue 8 §6); /readyz says
    // not ready meanwhile.
    const policyPoll = setInterval(refreshPolicy, 1000);
    policyPoll.unref();
    const engineCheck =
      options.engineCheckMs === 0
        ? null
        : setInterval(() => {
            policyService
              .heal()
              .catch((err: Error) => logger.error('policy engine check failed', { error: err.message }));
          }, options.engineCheckMs ?? 1000);
    engineCheck?.unref();
    let unwatch: (() => Promise<void>) | null = null;
    if (store.watchPolicyActivations) {
      try {
        unwatch = await store.watchPolicyActivations((version) => {
          // Decisions wait for this set from now on, not from when the load's first read answers.
          policyService.noteActive(version);
          refreshPolicy();
        });
      } catch (err) {
        logger.warn('cannot listen for policy activations; polling only', { error: (err as Error).message });
      }
    }
    stopPolling = async () => {
      onPolicyVersion = null;
      clearInterval(policyPoll);
      if (engineCheck) clearInterval(engineCheck);
      await unwatch?.();
    };

    const gateway =
      config.gateway.upstreams.length > 0
        ? createGateway(
            {
              store,
              clock,
              logger,
              decisions,
              approvals,
              policies: () => policyService.active(),
              configTools: () => baseTools,
              setGatewayTools: (tools) => {
                gatewayTools = tools;
                mergeTools();
              },
              record,
              // Failed authentications at /mcp are counted like the API's (ADR 0018); the gateway
              // does not hand out the peer address, so they are counted under one source.
              authenticate: async (header) => {
                try {
                  return await authenticateHeader(header);
                } catch (err) {
                  if (isMandateError(err) && err.code === 'unauthenticated')
                    refusalRecorder.unauthenticated('mcp', 'MCP /mcp');
                  throw err;
                }
              },
              knownKey: (header) => recentlyKnownKey(store, header),
              refused: (r) => refusalRecorder.refused({ ...r, route: 'MCP /mcp' }),
            },
            {
              ...config.gateway,
              upstreams: config.gateway.upstreams.map((u) => ({
                ...u,
                cwd: resolvePath(loaded.baseDir, u.cwd ?? '.'),
              })),
            },
          )
        : null;

    const alerts =
      config.alerts.rules.length > 0
        ? createAlerting({
            store,
            clock,
            logger,
            record,
            config: config.alerts,
            pollMs: 250,
            tampered: (finding) => nodeEvidence.tail.report(finding),
          })
        : null;
    const mandate: Mandate = {
      store,
      clock,
      logger,
      nodeId,
      engine,
      policies: policyService,
      shadow: shadowMode,
      tools: () => registry,
      setTools,
      audit: auditLog,
      record,
      approvals,
      grants,
      keys: keyService,
      refusals: refusalRecorder,
      decisions,
      gateway,
      metrics,
      publicKeys,
      alerts,
      evidence: nodeEvidence,
      personal,
      sinkStatus: () => sinks?.status() ?? [],
      async listen() {
        stopTracing = await startTracing(config.telemetry, logger);
        server = createHttpServer({
          shutdown: shutdown.signal,
          store,
          clock,
          logger,
          decisions,
          approvals,
          grants,
          policies: policyService,
          shadow: shadowMode,
          engine,
          tools: () => registry,
          metrics,
          audit: record,
          verifyAudit: () => nodeEvidence.verify(),
          auditIntegrity: () => nodeEvidence.tail.status(),
          auditTampered: (finding) => nodeEvidence.tail.report(finding),
          personalKey: keys.hmacKey,
          auditVouch: (rec) => nodeEvidence.vouch(rec),
          auditRead: (read) => nodeEvidence.reads.note(read),
          // PERF: each page is read and formatted in one piece beside the decisions (ADR 0033).
          // A record a filtered export leaves out (its columns disagree with its event) is the node's finding.
          exportAudit: (format, write, filter) =>
            exportAudit(store, {
              format,
              write,
              filter,
              batchSize: NODE_PAGE_RECORDS,
              tampered: (finding) => nodeEvidence.tail.report(finding),
              hmacKey: keys.hmacKey,
            }),
          auditStats: () => auditLog.stats(),
          runPolicyTests: (input) =>
            runPolicyCases({
              engine,
              store,
              clock,
              source: input.source,
              cases: input.cases,
              usage: config.usage,
            }),
          options: config.server,
          authenticate: authenticateHeader,
          refusals: refusalRecorder,
          keys: keyService,
          personal,
          sinks: () => sinks?.status() ?? [],
          ...(alerts ? { alerts } : {}),
          ...(gateway ? { gateway } : {}),
          ...(dashboardConfig.publicOrigin ? { publicOrigin: dashboardConfig.publicOrigin } : {}),
          ...(sessions
            ? {
                dashboard: {
                  sessions,
                  // Browsers reach an https public origin over TLS (at a proxy): cookies are Secure.
                  secureCookies:
                    dashboardConfig.secureCookies ||
                    dashboardConfig.publicOrigin?.startsWith('https:') === true,
                  ...(dashboardConfig.publicOrigin ? { publicOrigin: dashboardConfig.publicOrigin } : {}),
                  dir: dashboardDir(loaded),
                  maxStreamsPerKey: dashboardConfig.maxStreamsPerKey,
                  ...(dashboardConfig.oidc
                    ? { oidc: createOidcClient(dashboardConfig.oidc, clock, dashboardConfig) }
                    : {}),
                },
              }
            : {}),
        });
        const s = server;
        await new Promise<void>((resolve, reject) => {
          s.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, config.server)));
          s.listen(config.server.port, config.server.host, () => resolve());
        });
        // Upstream tools are pinned and registered at start, not only when the first client lists them.
        void gateway?.discover();
        alerts?.start();
        // The serving node pushes the trail to the configured sinks, each from its stored cursor.
        if (config.sinks.length > 0 && !sinks)
          sinks = createSinkRunner({
            store,
            clock,
            logger,
            sinks: sinkDefinitions(config.sinks, logger),
            pollMs: 250,
            maxBackoffMs: 30_000,
            onRewritten: async (finding) => evidence?.tail.report(finding),
          });
        const addr = s.address() as AddressInfo;
        const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
        return { server: s, url: `http://${host}:${addr.port}` };
      },
      async close() {
        try {
          // Gateway sessions hold streams open; they end before the HTTP server can close.
          await gateway?.close();
          if (server) {
            const s = server;
            // Long-polls return, new answers close their connection, idle ones close now and
            // anything still open after a grace period is cut: SIGTERM never waits a keep-alive out.
            shutdown.abort();
            await new Promise<void>((resolve) => {
              s.close(() => resolve());
              closeUnusedConnections(s);
              const idle = setInterval(() => closeUnusedConnections(s), 100);
              const cut = setTimeout(() => s.closeAllConnections(), 5000);
              s.once('close', () => {
                clearInterval(idle);
                clearTimeout(cut);
              });
            });
          }
        } finally {
          try {
            // The last audit.read events go in before the sinks take their final batch.
            await nodeEvidence.close();
            await sinks?.close();
            await stopTracing();
            await alerts?.close();
            await stopPolling();
            await shadowMode.evaluator.close();
            shadowSet.close();
            policyService.close();
            await engine.close();
            await notifier?.close();
            await refusalRecorder.close();
            await keyUsage.flush();
            await auditLog.close();
          } finally {
            await store.close();
          }
        }
      },
    };
    return mandate;
  } catch (err) {
    await stopPolling();
    await shadow?.evaluator.close();
    shadow?.set.close();
    policies?.close();
    await refusals?.close().catch(() => undefined);
    await evidence?.close().catch(() => undefined);
    await policyEngine?.close();
    await audit?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}

/** Loads the tools and API keys the config names (entities, grants and policies: ./seed.ts). */
async function seed(
  loaded: LoadedConfig,
  deps: {
    store: Store;
    setTools: (tools: Tool[]) => Promise<void>;
    record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
    keys: KeyService;
    logger: Logger;
  },
): Promise<void> {
  const { config } = loaded;
  if (config.tools) {
    const r = ToolsDocumentSchema.safeParse(await readJsonFile(config.tools, 'tools'));
    if (!r.success)
      throw new MandateError('bad_request', `tools file ${config.tools}: ${r.error.issues[0]?.message}`);
    await deps.setTools(r.data.tools);
  }
  // Keys: the config's are synced (a key it no longer lists is revoked, audited).
  const { stillRevoked } = await deps.keys.syncConfigKeys(config.apiKeys);
  // A key removed from the file and listed again stays revoked; the banner lists it among the
  // config's keys, so say so (a probe read the banner and got 401).
  if (stillRevoked.length > 0)
    deps.logger.warn(
      'API keys listed in the config file are revoked in the store and stay revoked; give each a new secret to use it again',
      {
        keys: stillRevoked,
      },
    );
}

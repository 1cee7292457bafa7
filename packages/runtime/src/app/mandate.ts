import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { AuditEvent, Tool } from '@mandate/protocol';
import { EntitiesDocumentSchema, ToolsDocumentSchema } from '@mandate/protocol';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  MandateError,
  createJsonLogger,
  parseJsonStrict,
  systemClock,
  type Clock,
  type Logger,
} from '../kernel/index.js';
import type { LoadedConfig } from '../config/index.js';
import type { Store } from '../storage/port.js';
import {
  createCedarEngine,
  loadPolicyDir,
  type PolicyEngine,
  type PolicySetSource,
} from '../policy/index.js';
import { createPolicyService, type PolicyService } from '../policy/service.js';
import { createToolRegistry, localPathFs, type ToolRegistry } from '../tools/index.js';
import { createApprovalService, type ApprovalService } from '../approvals/index.js';
import { createGrantService, type GrantService } from '../grants/index.js';
import { createDecisionService, createTimeContext, type DecisionService } from '../decisions/index.js';
import {
  argsDigest,
  createAuditLog,
  createEphemeralKeys,
  createRedactor,
  exportAudit,
  loadOrCreateKeys,
  verifyAudit,
  type AuditLog,
} from '../audit/index.js';
import {
  apiKeyHash,
  createAuthenticator,
  createHttpServer,
  createJwtVerifier,
  createMetrics,
  type Metrics,
} from '../http/index.js';
import { createGateway, type Gateway } from '../gateway/index.js';
import { openStore } from './store.js';
import { updateEntities } from '../entities/index.js';
import { approvalWebhookPayload, createWebhookNotifier, type WebhookNotifier } from '../notify/index.js';
import { runPolicyCases } from './policy-cases.js';
import { seedGrants } from './seed-grants.js';

/** Everything a running Mandate node is made of; the CLI, the tests and the bench build it the same way. */
export interface Mandate {
  store: Store;
  clock: Clock;
  logger: Logger;
  nodeId: string;
  engine: PolicyEngine;
  policies: PolicyService;
  tools: () => ToolRegistry;
  setTools(tools: Tool[]): Promise<void>;
  audit: AuditLog;
  /** Appends a non-decision event (stamped with time and node). */
  record(event: Omit<AuditEvent, 'time' | 'nodeId'>): Promise<unknown>;
  approvals: ApprovalService;
  grants: GrantService;
  decisions: DecisionService;
  /** The MCP gateway, when upstreams are configured. */
  gateway: Gateway | null;
  metrics: Metrics;
  publicKeys: Record<string, string>;
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
}

/** The composition root: wires concrete pieces together, seeds from the config's files, and nothing else. */
export async function createMandate(
  loaded: LoadedConfig,
  options: CreateMandateOptions = {},
): Promise<Mandate> {
  const { config, nodeId } = loaded;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createJsonLogger(config.log.level);
  const store = options.store ?? openStore(config.store, logger, { nodeId });
  let audit: AuditLog | undefined;
  let policies: PolicyService | undefined;
  let server: Server | undefined;
  let notifier: WebhookNotifier | null = null;
  let stopPolling: () => Promise<void> = async () => {};
  const shutdown = new AbortController();
  try {
    await store.migrate();
    const keys = store.kind === 'memory' ? createEphemeralKeys() : await loadOrCreateKeys(config.keys.dir);
    audit = createAuditLog({
      store,
      clock,
      logger,
      nodeId,
      signer: keys.signer,
      checkpointEvery: config.audit.checkpointEvery,
      checkpointIntervalMs: config.audit.checkpointIntervalMs,
      maxQueue: config.audit.maxQueue,
    });
    const auditLog = audit;
    const record = (event: Omit<AuditEvent, 'time' | 'nodeId'>) =>
      auditLog.append({ ...event, time: new Date(clock.now()).toISOString(), nodeId } as AuditEvent);
    const engine = createCedarEngine({
      memoEntries: config.policies.memoEntries,
      evaluator: config.policies.engine,
    });
    policies = createPolicyService({ engine, store, clock, logger, audit: record });
    const policyService = policies;
    // Tools that declare `paths.resolveSymlinks` resolve them on this machine's filesystem.
    const registryOf = (tools: readonly Tool[]) => createToolRegistry(tools, { fs: localPathFs });
    let registry = registryOf([]);
    // The registry is the config's tools plus the gateway's approved upstream tools (config entries win).
    let baseTools: Tool[] = [];
    let gatewayTools: Tool[] = [];
    const mergeTools = () => {
      const own = new Set(baseTools.map((t) => t.action));
      registry = registryOf([...baseTools, ...gatewayTools.filter((t) => !own.has(t.action))]);
    };
    const setTools = async (tools: Tool[]) => {
      registryOf(tools);
      await store.putTools(tools);
      baseTools = tools;
      mergeTools();
    };

    const grants = createGrantService({ store, clock, audit: record });
    if (!options.skipSeed)
      await seed(loaded, { store, setTools, policies: policyService, record, logger, grants, clock });
    baseTools = await store.listTools();
    mergeTools();
    await policyService.refresh();

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
        ...(webhook
          ? { notify: (kind, approval) => webhook.send(kind, approvalWebhookPayload(approval)) }
          : {}),
      },
      config.approvals,
    );
    const redactor = createRedactor({ paths: config.audit.redact });
    const metrics = createMetrics();
    const decisions = createDecisionService({
      store,
      clock,
      logger,
      nodeId,
      policies: () => policyService.active(),
      tools: () => registry,
      audit: (event) => auditLog.append(event),
      approvals,
      grants,
      redact: redactor,
      digest: (args) => argsDigest(keys.hmacKey, args),
      time: createTimeContext(config.policies.timeZone),
      observe: (effect, ms) => metrics.observeDecision(effect, ms),
    });
    const publicKeys = { [keys.signer.keyId]: keys.publicKeyPem };
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
    );
    // P4/P5 across nodes: a set activated by another process or node is picked up within a second.
    const refreshPolicy = () => {
      policyService
        .refresh()
        .catch((err: Error) => logger.warn('policy refresh failed', { error: err.message }));
    };
    const policyPoll = setInterval(refreshPolicy, 1000);
    policyPoll.unref();
    let unwatch: (() => Promise<void>) | null = null;
    if (store.watchPolicyActivations) {
      try {
        unwatch = await store.watchPolicyActivations(refreshPolicy);
      } catch (err) {
        logger.warn('cannot listen for policy activations; polling only', { error: (err as Error).message });
      }
    }
    stopPolling = async () => {
      clearInterval(policyPoll);
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
              authenticate: authenticateHeader,
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

    const mandate: Mandate = {
      store,
      clock,
      logger,
      nodeId,
      engine,
      policies: policyService,
      tools: () => registry,
      setTools,
      audit: auditLog,
      record,
      approvals,
      grants,
      decisions,
      gateway,
      metrics,
      publicKeys,
      async listen() {
        server = createHttpServer({
          shutdown: shutdown.signal,
          store,
          clock,
          logger,
          decisions,
          approvals,
          grants,
          policies: policyService,
          engine,
          tools: () => registry,
          metrics,
          audit: record,
          verifyAudit: () => verifyAudit(store, { publicKeys }),
          exportAudit: (format, write, filter) => exportAudit(store, { format, write, filter }),
          auditStats: () => auditLog.stats(),
          runPolicyTests: (input) =>
            runPolicyCases({ engine, store, clock, source: input.source, cases: input.cases }),
          options: config.server,
          authenticate: authenticateHeader,
          ...(gateway ? { gateway } : {}),
        });
        const s = server;
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen(config.server.port, config.server.host, () => resolve());
        });
        // Upstream tools are pinned and registered at start, not only when the first client lists them.
        gateway?.discover();
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
              s.closeIdleConnections();
              const idle = setInterval(() => s.closeIdleConnections(), 100);
              const cut = setTimeout(() => s.closeAllConnections(), 5000);
              s.once('close', () => {
                clearInterval(idle);
                clearTimeout(cut);
              });
            });
          }
        } finally {
          try {
            await stopPolling();
            policyService.close();
            await notifier?.close();
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
    policies?.close();
    await audit?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MandateError('bad_request', `cannot read ${what} file ${path}: ${(err as Error).message}`);
  }
  try {
    return parseJsonStrict(text);
  } catch (err) {
    throw new MandateError('bad_request', `${what} file ${path}: ${(err as Error).message}`);
  }
}

/** Loads the tools, entities, API keys and policy directory the config names. */
async function seed(
  loaded: LoadedConfig,
  deps: {
    store: Store;
    setTools: (tools: Tool[]) => Promise<void>;
    policies: PolicyService;
    record: (event: Omit<AuditEvent, 'time' | 'nodeId'>) => Promise<unknown>;
    logger: Logger;
    grants: GrantService;
    clock: Clock;
  },
): Promise<void> {
  const { config } = loaded;
  if (config.tools) {
    const r = ToolsDocumentSchema.safeParse(await readJsonFile(config.tools, 'tools'));
    if (!r.success)
      throw new MandateError('bad_request', `tools file ${config.tools}: ${r.error.issues[0]?.message}`);
    await deps.setTools(r.data.tools);
  }
  if (config.entities) {
    const r = EntitiesDocumentSchema.safeParse(await readJsonFile(config.entities, 'entities'));
    if (!r.success) {
      const i = r.error.issues[0];
      throw new MandateError(
        'bad_request',
        `entities file ${config.entities}: ${i?.path.join('.')}: ${i?.message}`,
      );
    }
    await updateEntities(deps, r.data, { source: `file:${config.entities}` });
  }
  for (const k of config.apiKeys) {
    const hash = apiKeyHash(k.secret);
    if (await deps.store.findApiKeyByHash(hash)) continue;
    await deps.store.putApiKey({
      id: `key_${k.name}`,
      hash,
      role: k.role,
      subject: k.subject,
      name: k.name,
      createdAt: new Date().toISOString(),
      revokedAt: null,
    });
    await deps.record({
      type: 'key.created',
      data: { keyId: `key_${k.name}`, role: k.role, subject: k.subject, source: 'config' },
    });
  }
  await seedGrants(deps.grants, config.grants, deps.clock);
  if (config.policies.dir) {
    const source: PolicySetSource = await loadPolicyDir(config.policies.dir);
    const r = await deps.policies.activate(source, `dir:${config.policies.dir}`);
    if (r.changed)
      deps.logger.info('activated policy directory', { dir: config.policies.dir, version: r.version });
  }
}

import { z } from 'zod';
import { SinksSchema, urlHasNoCredentials } from './sinks-schema.js';
import { AlertsSchema } from './alerts-schema.js';
import { TelemetrySchema } from './telemetry-schema.js';
import { DashboardSchema } from './dashboard-schema.js';
import { UsageSchema } from './usage-schema.js';
import { ToolPathsSchema } from '@mandate/protocol';

const role = z.enum(['agent', 'user', 'approver', 'admin']);

/** The one typed configuration of `mandate serve` and the in-process CLI commands. */
/** A signed, retried webhook (approvals, checkpoint mirror): receivers check `x-mandate-signature`. */
const WebhookSchema = z.strictObject({
  // As for sinks: credentials in the URL would be printed wherever the URL is, and fetch refuses it.
  url: z
    .url({ protocol: /^https?$/ })
    .refine(urlHasNoCredentials, 'a webhook URL must not carry credentials (user:password@host)'),
  /** HMAC key for `x-mandate-signature`. */
  secret: z.string().min(16),
  maxAttempts: z.number().int().min(1).max(20).default(5),
  backoffMs: z.number().int().min(10).default(500),
  timeoutMs: z.number().int().min(100).default(5000),
});

export const ConfigSchema = z.strictObject({
  $schema: z.string().optional(),
  /** Identifies this node in audit events; defaults to `<hostname>-<pid>`. */
  nodeId: z.string().min(1).max(128).optional(),
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8787),
      /** Largest request body accepted, in bytes. */
      maxBodyBytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(1024 * 1024),
      /** Deepest JSON nesting accepted in a body. */
      maxJsonDepth: z.number().int().min(2).max(256).default(32),
      /** Requests in flight beyond which new ones get 503 overloaded. */
      maxInFlight: z.number().int().min(1).default(4096),
    })
    .prefault({}),
  /** `memory`, `sqlite:<path>` or `postgres://…`. Relative SQLite paths resolve against the config file. */
  store: z.string().default('sqlite:.mandate/mandate.db'),
  policies: z
    .strictObject({
      /** Directory of `*.cedar` files plus one `*.cedarschema`; loaded and activated at start when it differs from the active set. */
      dir: z.string().optional(),
      /** IANA time zone in which `context.time` is computed. */
      timeZone: z.string().default('UTC'),
      /**
       * Cedar answers remembered per active policy set, keyed by the exact input Cedar is given
       * (only what the matching policies can read); 0 evaluates every request. See docs/policies.md.
       */
      memoEntries: z.number().int().min(0).max(1_000_000).default(4096),
      /**
       * `cedar`: every evaluation is a cedar-wasm call. `compiled`: policies are compiled into
       * JavaScript at activation and evaluated without crossing into wasm; a policy or value it does
       * not handle exactly is evaluated by cedar-wasm. See docs/policies.md.
       */
      engine: z.enum(['cedar', 'compiled']).default('compiled'),
      /**
       * A node decides only while it confirmed, this recently, that its set is the store's active one
       * (it checks every second, and at once on a notification); past it — the store unreachable, the
       * process paused — decisions are 503 store_unavailable rather than made on a set another node
       * may have replaced. Also how long, from learning that another set is active, a node holds its
       * decisions while it installs that set (never answering them on the replaced one); past it,
       * 503 store_unavailable until it has.
       */
      maxStaleMs: z.number().int().min(2000).max(3_600_000).default(5000),
      /**
       * Verification in production of the compiled engine: this share of its answers is asked again
       * of cedar-wasm after the answer, off its path; a difference is an audit event
       * (`policy.divergence`), a metric and an error log line, and with `switchOnDivergence` the node
       * answers every later evaluation with cedar-wasm.
       */
      verify: z
        .strictObject({
          sampleRatio: z.number().min(0).max(1).default(0),
          switchOnDivergence: z.boolean().default(false),
        })
        .prefault({}),
    })
    .prefault({}),
  /** JSON file `{ "tools": [...] }`, loaded into the registry at start. */
  tools: z.string().optional(),
  /** JSON file `{ agents, users, resources }`, upserted at start. */
  entities: z.string().optional(),
  /** API keys seeded at start (hashed before storing). For demos and tests; production keys come from `mandate keys create`. */
  apiKeys: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        secret: z.string().min(8),
        role,
        subject: z.string().nullable().default(null),
      }),
    )
    .default([]),
  /** Credentials besides API keys. */
  auth: z
    .strictObject({
      /** Bearer JWTs verified against a JWKS (asymmetric algorithms only); see docs/api.md. */
      jwt: z
        .strictObject({
          issuer: z.string().min(1),
          audience: z.string().min(1),
          /** A JWKS file (relative to the config file), read once at start. Exactly one of jwksFile and jwksUrl. */
          jwksFile: z.string().optional(),
          /**
           * A JWKS URL: keys are used for 10 min, then fetched again (an outage past that refuses every
           * JWT); refetched for an unknown kid at most every 30 s; after a failed fetch, none for 5 s
           * doubling to 60 s, JWTs refused meanwhile (503).
           */
          jwksUrl: z.url().optional(),
          /** Claim holding the role: agent, user, approver or admin. */
          roleClaim: z.string().default('mandate_role'),
          /** Claim holding, for an agent, the user it acts for. */
          onBehalfOfClaim: z.string().default('mandate_on_behalf_of'),
          /** Allowed clock skew for exp, nbf and iat (an iat further in the future is refused). */
          clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
          /** When set, iat is required and a token issued longer ago than this is refused. */
          maxTokenAgeSeconds: z.number().int().min(1).max(31_536_000).optional(),
        })
        .refine((j) => !!j.jwksFile !== !!j.jwksUrl, { message: 'give exactly one of jwksFile and jwksUrl' })
        .optional(),
    })
    .prefault({}),
  /** Delegation grants seeded at start when no identical live grant exists (demos and tests). */
  grants: z
    .array(
      z.strictObject({
        user: z.string().min(1),
        agent: z.string().min(1),
        actions: z.array(z.string()).min(1),
        resources: z.array(z.string()).default([]),
        resourceAttributes: z.record(z.string(), z.string()).default({}),
        limits: z
          .array(
            z.strictObject({
              action: z.string().optional(),
              arg: z.string(),
              op: z.enum(['<=', '<', '>=', '>', '==', '!=']),
              value: z.union([z.number(), z.string(), z.boolean()]),
            }),
          )
          .default([]),
        expiresIn: z
          .string()
          .regex(/^\d+[smhdy]$/)
          .default('365d'),
      }),
    )
    .default([]),
  keys: z
    .strictObject({
      /** Where the audit signing key pair and the args HMAC key live (created on first start). */
      dir: z.string().default('.mandate/keys'),
    })
    .prefault({}),
  audit: z
    .strictObject({
      checkpointEvery: z.number().int().min(1).default(1000),
      checkpointIntervalMs: z.number().int().min(100).default(60_000),
      /** Arg paths always redacted in the audit copy (dot paths, `*` wildcard). */
      redact: z.array(z.string()).default([]),
      maxQueue: z.number().int().min(1).default(10_000),
      /**
       * Where each signed checkpoint is also written as it is made, out of the database admin's
       * reach: an append-only JSONL file (fsync'd) and/or a webhook. `audit verify --checkpoints`
       * checks the chain against the file. The file defaults to `checkpoints.jsonl` in the key
       * directory for a store that outlives the process; `null` turns it off.
       */
      checkpointMirror: z
        .strictObject({
          file: z.string().min(1).nullable().optional(),
          webhook: WebhookSchema.optional(),
        })
        .optional(),
      /**
       * Most records `audit verify` accepts with no signed checkpoint (before the first, between
       * two, after the last). Default: checkpointEvery + 1,024 (two full group commits).
       */
      maxCheckpointGap: z.number().int().min(1).optional(),
      /** How often the node verifies its own chain tail (ms); 0 turns it off. */
      verifyIntervalMs: z.number().int().min(0).default(30_000),
      /** Admin reads of the trail through the API: at most one `audit.read` event per caller, route and filter per window (ms). */
      readEventWindowMs: z.number().int().min(1000).default(60_000),
      /**
       * Personal fields kept beside the chain in an erasable table, keyed by the user's pseudonymous
       * id, never in the hashed record (docs/audit.md "Erasure"): `userDisplayName` (the user's
       * `displayName` attribute) and `args` (the redacted args copy, then left out of the record).
       */
      personal: z
        .strictObject({
          keep: z
            .array(z.enum(['userDisplayName', 'args']))
            .max(2)
            .default([]),
        })
        .prefault({}),
    })
    .prefault({}),
  approvals: z
    .strictObject({
      ttlSeconds: z.number().int().min(1).default(86_400),
      /** Pending approvals of one agent in all (every user it acts for). */
      maxPendingPerAgent: z.number().int().min(1).default(200),
      /** Pending approvals of one agent acting for one user. */
      maxPendingPerAgentUser: z.number().int().min(1).default(20),
      /** Called when an approval is created and when it is resolved (chat bots, ticketing). */
      webhook: WebhookSchema.optional(),
    })
    .prefault({}),
  /**
   * Plain rate limits on decisions, per node, checked before any policy work: over the limit a
   * caller gets 429 `rate_limited` with Retry-After (docs/configuration.md). Off unless set.
   */
  rateLimits: z
    .strictObject({
      perKey: z
        .strictObject({
          rate: z.number().positive().max(1_000_000),
          burst: z.number().int().min(1).max(1_000_000),
        })
        .optional(),
      perAgent: z
        .strictObject({
          rate: z.number().positive().max(1_000_000),
          burst: z.number().int().min(1).max(1_000_000),
        })
        .optional(),
    })
    .prefault({}),
  /** Usage counters (budgets and rates) shared by nodes, read by policies as `context.usage` (docs/policies.md). */
  usage: UsageSchema,
  /** Audit sinks (docs/streaming.md): the trail pushed to a SIEM, a log pipeline or a broker, none lost. */
  sinks: SinksSchema,
  /** Alert rules over the audit stream (docs/alerts.md). */
  alerts: AlertsSchema,
  /** OpenTelemetry traces over OTLP/HTTP (docs/observability.md); off unless `otlp` is set. */
  telemetry: TelemetrySchema,
  /** The dashboard at /ui and its sign-in (docs/configuration.md, ADR 0022). */
  dashboard: DashboardSchema,
  log: z
    .strictObject({ level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info') })
    .prefault({}),
  /** The MCP gateway (docs/gateway.md): upstream MCP servers whose tool calls are decided before they run. */
  gateway: z
    .strictObject({
      upstreams: z
        .array(
          z
            .strictObject({
              /** Tools appear as `<name>.<tool>` (the action names policies see). */
              name: z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/),
              /** Stdio upstream: a fixed executable and arguments (never built from request data). */
              command: z.string().min(1).optional(),
              args: z.array(z.string()).default([]),
              env: z.record(z.string(), z.string()).optional(),
              /** Working directory of a stdio upstream, relative to the config file. */
              cwd: z.string().optional(),
              /** Streamable HTTP upstream. */
              url: z
                .string()
                .regex(/^https?:\/\//, 'url is http(s)://…')
                .optional(),
              /** The gateway's own credentials for this upstream; the caller's token is never forwarded. */
              headers: z.record(z.string(), z.string()).optional(),
              /** Pin first definitions without review (development); changes still quarantine. */
              trustOnFirstUse: z.boolean().default(false),
              /** Action name prefix of this upstream's tools; default `<name>.`. */
              actionPrefix: z.string().max(64).optional(),
              /** Show clients the upstream's own tool and prompt names (actions stay namespaced). */
              exposeBareNames: z.boolean().default(false),
              /** Per tool (upstream name): how long a call needing approval is held open, in ms. */
              holdForApprovalMs: z.record(z.string(), z.number().int().min(0).max(600_000)).optional(),
              /** Per tool (upstream name): which args are filesystem paths (docs/policies.md "Path and URL arguments"). */
              paths: z.record(z.string(), ToolPathsSchema).optional(),
            })
            .refine((u) => !!u.command !== !!u.url, 'give exactly one of command or url'),
        )
        .default([]),
      /** Agent id (or API key id) → the user it acts for. Server-side only: never taken from a request. */
      onBehalfOf: z.record(z.string(), z.string()).default({}),
      /** A forwarded request that takes longer is cancelled upstream and fails. */
      callTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
      /** Starting an upstream (spawn or connect, then initialize) may take this long; default max(30 s, callTimeoutMs). */
      connectTimeoutMs: z.number().int().min(100).max(3_600_000).optional(),
      /** How long a tools/call needing approval is held open waiting for it; 0 answers at once. */
      holdForApprovalMs: z.number().int().min(0).max(600_000).default(0),
      /**
       * Ask the MCP client to confirm an @approval("self") call (elicitation) and take the answer as
       * the user's vote. Only where the client shows the prompt to that person and the agent cannot
       * answer it (a desktop or IDE host with the user at it); never for an autonomous agent.
       */
      confirmByElicitation: z.boolean().default(false),
      /** Origins accepted on /mcp besides loopback ones (DNS-rebinding protection). */
      allowedOrigins: z.array(z.string()).default([]),
      /** Host names accepted on /mcp besides loopback ones. */
      allowedHosts: z.array(z.string()).default([]),
      /** Open /mcp sessions per API key; opening one more closes that key's least recently used session. */
      maxSessionsPerKey: z.number().int().min(1).max(10_000).default(16),
      /**
       * Open /mcp sessions in all; opening one more closes the least recently used. Each session runs
       * its own process of every stdio upstream, so this bounds those processes.
       */
      maxSessions: z.number().int().min(1).max(10_000).default(32),
      /** A /mcp session with no request for this long is closed (its upstream connections too). */
      sessionIdleMs: z.number().int().min(1000).max(86_400_000).default(300_000),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

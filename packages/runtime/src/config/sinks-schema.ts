import { z } from 'zod';

const common = {
  /** Names the sink's durable cursor in the store: renaming a sink starts it from the beginning of the trail. */
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'a sink name is lower-case letters, digits, _ and -'),
  /** Records per delivery. */
  batchSize: z.number().int().min(1).max(10_000).default(200),
  /** A delivery taking longer fails and is retried. */
  timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
};

/** True unless `url` carries a user or password (`https://user:pw@host`). */
export function urlHasNoCredentials(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username === '' && u.password === '';
  } catch {
    // Not a URL: another check says so.
    return true;
  }
}

// SECURITY: credentials in a sink URL would be printed wherever the URL is (logs, lastError of
// `GET /v1/audit/sinks`), and fetch refuses such a URL anyway: the sink would never deliver.
const httpUrl = z
  .url({ protocol: /^https?$/ })
  .refine(
    urlHasNoCredentials,
    'a sink URL must not carry credentials (user:password@host): give them in `headers` (webhook, otlp) or `token` (splunk-hec)',
  );

/** Largest request body an HTTP sink sends (docs/streaming.md "Records a sink cannot take"). */
const maxRequestBytes = z
  .number()
  .int()
  .min(4096)
  .max(1024 * 1024 * 1024)
  .default(1024 * 1024);

/** One audit sink (docs/streaming.md): where the trail is pushed, each from its own durable cursor. */
export const SinkSchema = z.discriminatedUnion('type', [
  z.strictObject({
    ...common,
    type: z.literal('file'),
    /** JSONL file; relative paths resolve against the config file. */
    path: z.string().min(1),
    maxBytes: z
      .number()
      .int()
      .min(1024)
      .default(100 * 1024 * 1024),
    maxFiles: z.number().int().min(0).max(1000).default(5),
  }),
  z.strictObject({
    ...common,
    type: z.literal('webhook'),
    url: httpUrl,
    /** HMAC-SHA256 key for `x-mandate-signature`. */
    secret: z.string().min(16).optional(),
    headers: z.record(z.string(), z.string()).default({}),
    maxRequestBytes,
  }),
  z.strictObject({
    ...common,
    type: z.literal('splunk-hec'),
    /** Base URL of the HTTP Event Collector (`https://splunk:8088`). */
    url: httpUrl,
    token: z.string().min(1),
    index: z.string().optional(),
    sourcetype: z.string().default('mandate:audit'),
    maxRequestBytes,
  }),
  z
    .strictObject({
      ...common,
      type: z.literal('syslog'),
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535),
      tls: z.boolean().default(false),
      /** RELP (rsyslog `imrelp`, RFC-style reliable delivery): each message acknowledged by the receiver. */
      relp: z.boolean().default(false),
      /** PEM file of the CA of the receiver's certificate (TLS); default the system's CAs. */
      caFile: z.string().optional(),
      facility: z.number().int().min(0).max(23).default(13),
      appName: z
        .string()
        .regex(/^[\x21-\x7e]{1,48}$/)
        .default('mandate'),
    })
    // A CA file without TLS would be silently ignored: the operator meant the connection to be checked.
    .refine((s) => !s.caFile || s.tls, {
      message: 'caFile is used only with tls: true; set tls: true (or remove caFile)',
      path: ['caFile'],
    }),
  z.strictObject({
    ...common,
    type: z.literal('otlp'),
    /** OTLP/HTTP logs endpoint (`http://collector:4318/v1/logs`). */
    url: httpUrl,
    headers: z.record(z.string(), z.string()).default({}),
    serviceName: z.string().default('mandate'),
    maxRequestBytes,
  }),
  z.strictObject({
    ...common,
    type: z.literal('nats'),
    /** `nats://host:port`, comma-separated. */
    servers: z
      .string()
      .default('nats://127.0.0.1:4222')
      // SECURITY: the NATS client ignores credentials in a server URL (the sink would never
      // authenticate) and they would be printed wherever the URL is.
      .refine(
        (s) => s.split(',').every((u) => !u.includes('@')),
        'NATS server URLs must not carry credentials (user:password@host)',
      ),
    subject: z.string().default('mandate.audit'),
    /** JetStream stream; created for `subject` when missing. */
    stream: z.string().default('MANDATE_AUDIT'),
  }),
]);
export type SinkConfig = z.infer<typeof SinkSchema>;

export const SinksSchema = z
  .array(SinkSchema)
  .max(32)
  .default([])
  .refine((s) => new Set(s.map((x) => x.name)).size === s.length, 'sink names must be unique');

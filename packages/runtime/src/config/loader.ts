import { readFileSync, existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { hostname } from 'node:os';
import { MandateError, parseJsonStrict, protoKeyPath } from '../kernel/index.js';
import { ConfigSchema, type Config, type ConfigInput } from './schema.js';

/** Flags that override the file and the environment. */
export interface ConfigOverrides {
  configFile?: string;
  port?: number;
  host?: string;
  store?: string;
  logLevel?: Config['log']['level'];
  /** `mandate serve --reseed`. */
  reseed?: boolean;
  /** `mandate serve --new-signing-key`. */
  newSigningKey?: boolean;
}

/** A loaded config, with every relative path made absolute against the config file's folder (or cwd). */
export interface LoadedConfig {
  config: Config;
  /** The file it came from, if any. */
  file: string | null;
  /** Folder relative paths were resolved against. */
  baseDir: string;
  nodeId: string;
  /**
   * Apply the config's entities, grants and policy directory over what the store holds at start
   * (`--reseed`, or `MANDATE_RESEED=1`); otherwise they only fill what the store lacks (ADR 0015).
   * Deliberately not a config-file key: left in a file, it would undo revocations at every start.
   */
  reseed?: boolean;
  /**
   * Create an audit signing key although the store already holds audit records
   * (`--new-signing-key`, or `MANDATE_NEW_SIGNING_KEY=1`): without it such a start is refused, since
   * a new key would vouch for a chain it never checked. Not a config-file key, for the same reason
   * as `reseed`: left in a file, it would let a deleted key directory pass at every start.
   */
  newSigningKey?: boolean;
}

/**
 * Loads the configuration once: defaults < file < environment (`MANDATE_*`) < flags. Unknown keys
 * are errors. The file is `--config`, else `MANDATE_CONFIG`, else `./mandate.config.json` when present.
 */
export function loadConfig(
  overrides: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): LoadedConfig {
  let file = overrides.configFile ?? env.MANDATE_CONFIG ?? null;
  if (!file && existsSync(resolve(cwd, 'mandate.config.json'))) file = 'mandate.config.json';
  let raw: Record<string, unknown> = {};
  let baseDir = cwd;
  if (file) {
    file = resolve(cwd, file);
    baseDir = dirname(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new MandateError('bad_request', `cannot read config file ${file}: ${(err as Error).message}`);
    }
    const parsed = parseJsonStrict(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new MandateError('bad_request', `config file ${file} must hold a JSON object`);
    }
    const proto = protoKeyPath(parsed);
    if (proto)
      throw new MandateError(
        'bad_request',
        `config file ${file}: ${proto.replace(/^\$\.?/, '')}: a key named __proto__ is not allowed (it would be silently left out)`,
      );
    raw = parsed as Record<string, unknown>;
  }
  const input = structuredClone(raw) as ConfigInput & {
    server?: Record<string, unknown>;
    log?: Record<string, unknown>;
  };
  const server = (input.server ??= {}) as Record<string, unknown>;
  const log = (input.log ??= {}) as Record<string, unknown>;
  if (env.MANDATE_PORT) server.port = parsePort(env.MANDATE_PORT, 'MANDATE_PORT');
  if (env.MANDATE_HOST) server.host = env.MANDATE_HOST;
  if (env.MANDATE_STORE) input.store = env.MANDATE_STORE;
  if (env.MANDATE_LOG_LEVEL) log.level = env.MANDATE_LOG_LEVEL;
  if (overrides.port !== undefined) server.port = overrides.port;
  if (overrides.host !== undefined) server.host = overrides.host;
  if (overrides.store !== undefined) input.store = overrides.store;
  if (overrides.logLevel !== undefined) log.level = overrides.logLevel;

  const result = ConfigSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new MandateError(
      'bad_request',
      `invalid configuration${file ? ` in ${file}` : ''}: ${issues.join('; ')}`,
      {
        details: issues,
      },
    );
  }
  const config = result.data;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  if (config.store.startsWith('sqlite:')) {
    const p = config.store.slice('sqlite:'.length);
    config.store = p === ':memory:' ? config.store : `sqlite:${abs(p)}`;
  }
  if (config.policies.dir) config.policies.dir = abs(config.policies.dir);
  if (config.tools) config.tools = abs(config.tools);
  if (config.entities) config.entities = abs(config.entities);
  config.keys.dir = abs(config.keys.dir);
  const mirror = config.audit.checkpointMirror;
  if (mirror?.file) mirror.file = abs(mirror.file);
  for (const s of config.sinks) {
    if (s.type === 'file') s.path = abs(s.path);
    if (s.type === 'syslog' && s.caFile) s.caFile = abs(s.caFile);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: config.policies.timeZone });
  } catch {
    throw new MandateError(
      'bad_request',
      `invalid configuration: policies.timeZone ${config.policies.timeZone} is not an IANA time zone`,
    );
  }
  const reseed = overrides.reseed === true || parseFlagEnv(env.MANDATE_RESEED, 'MANDATE_RESEED');
  const newSigningKey =
    overrides.newSigningKey === true || parseFlagEnv(env.MANDATE_NEW_SIGNING_KEY, 'MANDATE_NEW_SIGNING_KEY');
  return {
    config,
    file,
    baseDir,
    nodeId: config.nodeId ?? `${hostname()}-${process.pid}`,
    reseed,
    ...(newSigningKey ? { newSigningKey } : {}),
  };
}

function parseFlagEnv(v: string | undefined, name: string): boolean {
  if (v === undefined || v === '' || v === '0' || v === 'false') return false;
  if (v === '1' || v === 'true') return true;
  throw new MandateError('bad_request', `${name} must be 1 or 0 (true or false)`);
}

function parsePort(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new MandateError('bad_request', `${name} must be a port number`);
  return n;
}

import type { ToolPaths } from '@mandate/protocol';
import { MandateError } from '../kernel/index.js';

/** One upstream MCP server the gateway connects to. Commands come only from config or flags, never from requests. */
export interface UpstreamConfig {
  /** Lower-case name; tools appear as `<name>.<tool>` unless `actionPrefix` says otherwise. */
  name: string;
  /** Stdio: the executable and its arguments. */
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Streamable HTTP endpoint. */
  url?: string;
  /** The gateway's own credentials for this upstream (never the caller's). */
  headers?: Record<string, string>;
  /** Pin first definitions without review (development only); later changes still quarantine. */
  trustOnFirstUse?: boolean;
  /** Prefix of the action names of this upstream's tools; default `<name>.`. */
  actionPrefix?: string;
  /** Show clients the upstream's own tool and prompt names instead of the namespaced ones (single-upstream transparency). */
  exposeBareNames?: boolean;
  /** Per-tool hold for approval, in ms, by upstream tool name. */
  holdForApprovalMs?: Record<string, number>;
  /** Per tool (upstream name): which args are filesystem paths, canonicalised before deciding (docs/policies.md). */
  paths?: Record<string, ToolPaths>;
}

const NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/** Splits a command line into words: whitespace separates, single and double quotes group, no shell expansion. */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let quote: '"' | "'" | null = null;
  let any = false;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = null;
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      any = true;
    } else if (/\s/.test(c)) {
      if (any || cur) words.push(cur);
      cur = '';
      any = false;
    } else cur += c;
  }
  if (quote) throw new MandateError('bad_request', `unterminated quote in command: ${line}`);
  if (any || cur) words.push(cur);
  return words;
}

/** Parses `--upstream name=<command line or http(s) URL>`. */
export function parseUpstreamFlag(flag: string, trustOnFirstUse = false): UpstreamConfig {
  const eq = flag.indexOf('=');
  if (eq <= 0) throw new MandateError('bad_request', `--upstream ${flag}: use name=<command> or name=<url>`);
  const name = flag.slice(0, eq).trim();
  const target = flag.slice(eq + 1).trim();
  if (!NAME.test(name))
    throw new MandateError(
      'bad_request',
      `--upstream ${name}: names are lower-case letters, digits, _ and -`,
    );
  if (!target) throw new MandateError('bad_request', `--upstream ${name}: give a command or URL`);
  if (/^https?:\/\//i.test(target)) {
    try {
      new URL(target);
    } catch {
      throw new MandateError('bad_request', `--upstream ${name}: invalid URL ${target}`);
    }
    return { name, url: target, trustOnFirstUse };
  }
  const [command, ...args] = splitCommand(target);
  if (!command) throw new MandateError('bad_request', `--upstream ${name}: empty command`);
  return { name, command, args, trustOnFirstUse };
}

/** Checks a list of upstreams: valid unique names, exactly one of command or url. */
export function validateUpstreams(upstreams: readonly UpstreamConfig[]): void {
  const seen = new Set<string>();
  for (const u of upstreams) {
    if (!NAME.test(u.name))
      throw new MandateError(
        'bad_request',
        `upstream ${u.name}: names are lower-case letters, digits, _ and -`,
      );
    if (seen.has(u.name)) throw new MandateError('bad_request', `upstream ${u.name} is configured twice`);
    seen.add(u.name);
    if (!!u.command === !!u.url)
      throw new MandateError('bad_request', `upstream ${u.name}: give exactly one of command or url`);
  }
}

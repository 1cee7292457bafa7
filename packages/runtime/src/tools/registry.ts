import { createRequire } from 'node:module';
import type { Tool } from '@mandate/protocol';
import type { ValidateFunction } from 'ajv';
import { MandateError, displayLine } from '../kernel/index.js';
import {
  canonicalPath,
  parsePathArg,
  pathAncestors,
  resolveRealPath,
  rewritePathArgs,
  type PathArgStep,
  type PathFs,
} from './paths.js';

// Ajv ships CommonJS; loading it through require keeps its default export unambiguous under NodeNext.
const require = createRequire(import.meta.url);
const Ajv = require('ajv') as typeof import('ajv').default;

export interface ResourceRef {
  type: string;
  id: string;
  /**
   * Set when the resource is a declared path arg: its folders (nearest first), as entities of
   * `type`, which become its ancestors in Cedar (`resource in Dir::"/srv/sandbox"`).
   */
  folders?: { type: string; ids: string[] };
}

interface CompiledPaths {
  steps: PathArgStep[][];
  resolveSymlinks: boolean;
  folderType: string;
}

interface CompiledTool {
  tool: Tool;
  validate: ValidateFunction;
  resourceType: string | null;
  resourcePath: string[];
  paths: CompiledPaths | null;
  /** The resource is one of the declared path args. */
  resourceIsPath: boolean;
}

/** Options of {@link createToolRegistry}. */
export interface ToolRegistryOptions {
  /** Filesystem reads for tools that declare `paths.resolveSymlinks`; such a tool needs it. */
  fs?: PathFs;
  /**
   * Entries this registry does not own — the MCP gateway's, derived from upstream tool definitions —
   * compiled after the given tools. One that cannot be compiled (an input schema Ajv rejects, paths
   * this registry cannot resolve) is left out instead of failing the whole registry: `list` leaves
   * it out and every call to it is refused (`bad_request`) naming the problem. One whose action is
   * already registered is dropped (the given tools win). The given tools are compiled as before:
   * one bad entry there throws.
   */
  derived?: readonly Tool[];
}

/**
 * Ajv as the registry configures it (one instance per registry: schemas compiled into it share ids).
 * SECURITY: `pattern`s come from MCP upstreams and run on every call, on the event loop; `^(a+)+$`
 * against 30 characters held every agent's decisions for seconds (a probe). Without the `u` flag V8
 * moves a match past its backtrack budget to its linear-time engine (policy/cedar/v8-flags.ts; that
 * engine does not take `u`). The cost: a pattern counts UTF-16 code units, not code points (an
 * astral character is two for `.` and `{n}`), and `\p{…}` / `\u{…}` do not compile — such a tool is
 * left out of the gateway's registry, its calls refused naming the schema problem.
 */
function newAjv() {
  return new Ajv({ allErrors: false, strict: false, allowUnionTypes: true, unicodeRegExp: false });
}

/** Longest schema problem quoted (the text may carry an upstream's strings). */
const PROBLEM_CHARS = 500;

/**
 * Why this input schema cannot be registered (Ajv's message, as `createToolRegistry` words it), or
 * null when it compiles. Each call compiles in a fresh Ajv: callers cache by definition.
 */
export function inputSchemaProblem(schema: Record<string, unknown>): string | null {
  try {
    newAjv().compile(schema);
    return null;
  } catch (err) {
    return `invalid input schema: ${String((err as Error)?.message ?? err).slice(0, PROBLEM_CHARS)}`;
  }
}

/** The tool registry: for each action, its args schema, its resource mapping and how to summarise a call. */
export interface ToolRegistry {
  get(action: string): Tool | undefined;
  list(): Tool[];
  /**
   * The args to decide on: every declared path arg canonicalised (and resolved on this machine when
   * the tool asks for it). The same object when the tool declares no paths. Throws `invalid_args`
   * naming the arg for a path that cannot be decided on.
   */
  canonicalArgs(action: string, args: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Throws `invalid_args` naming the failing path when args do not satisfy the tool's schema. */
  validateArgs(action: string, args: Record<string, unknown>): void;
  /** The resource a call acts on, derived from its args; null when the tool has no mapping. */
  resourceOf(action: string, args: Record<string, unknown>): ResourceRef | null;
  /** The human-readable summary rendered from the real args (never from the agent's narration). */
  summarize(action: string, args: Record<string, unknown>): string;
}

/**
 * Compiles every tool's schema once; throws `bad_request` for a schema Ajv rejects (a `derived`
 * entry's is left out instead).
 */
export function createToolRegistry(tools: readonly Tool[], options: ToolRegistryOptions = {}): ToolRegistry {
  const ajv = newAjv();
  const byAction = new Map<string, CompiledTool>();
  /** Derived entries left out, by action: the tool and why (every call to it is refused so). */
  const leftOut = new Map<string, { tool: Tool; problem: string }>();
  for (const tool of tools) {
    if (byAction.has(tool.action))
      throw new MandateError('bad_request', `tool ${tool.action} is registered twice`);
    byAction.set(tool.action, compile(tool));
  }
  for (const tool of options.derived ?? []) {
    if (byAction.has(tool.action) || leftOut.has(tool.action)) continue;
    try {
      byAction.set(tool.action, compile(tool));
    } catch (err) {
      // One upstream's bad definition must not take every other tool's entry with it.
      leftOut.set(tool.action, { tool, problem: String((err as Error)?.message ?? err) });
    }
  }

  function compile(tool: Tool): CompiledTool {
    let validate: ValidateFunction;
    try {
      validate = ajv.compile(tool.inputSchema);
    } catch (err) {
      throw new MandateError(
        'bad_request',
        `tool ${tool.action}: invalid input schema: ${String((err as Error)?.message ?? err).slice(0, PROBLEM_CHARS)}`,
      );
    }
    let resourceType: string | null = null;
    let resourcePath: string[] = [];
    if (tool.resource) {
      const [type, path] = tool.resource.split('::') as [string, string];
      resourceType = type;
      resourcePath = path.split('.').slice(1);
    }
    let paths: CompiledPaths | null = null;
    if (tool.paths) {
      if (tool.paths.resolveSymlinks && !options.fs) {
        throw new MandateError(
          'bad_request',
          `tool ${tool.action} resolves symlinks, but this registry has no filesystem to resolve them on`,
        );
      }
      paths = {
        steps: tool.paths.args.map(parsePathArg),
        resolveSymlinks: tool.paths.resolveSymlinks === true,
        folderType: tool.paths.folderType ?? 'Dir',
      };
    }
    const resourceIsPath =
      paths !== null && resourceType !== null && (tool.paths?.args ?? []).includes(resourcePath.join('.'));
    return { tool, validate, resourceType, resourcePath, paths, resourceIsPath };
  }

  const must = (action: string): CompiledTool => {
    const t = byAction.get(action);
    if (t) return t;
    const out = leftOut.get(action);
    // Recorded as a refused request (`request.refused`), the problem named to the caller.
    if (out)
      throw new MandateError(
        'bad_request',
        `${out.problem} — the tool was left out of the registry and cannot be called until its definition is fixed`,
      );
    throw new MandateError('unknown_action', `no tool is registered for action ${action}`);
  };

  return {
    // A left-out entry is found, so a call to it reaches validateArgs and is refused naming why.
    get: (action) => byAction.get(action)?.tool ?? leftOut.get(action)?.tool,
    list: () => [...byAction.values()].map((t) => t.tool),
    async canonicalArgs(action, args) {
      const t = must(action);
      const paths = t.paths;
      if (!paths) return args;
      // SECURITY: what is decided, audited, bound to an approval and forwarded is this one form.
      let out = args;
      const seen: { value: string; arg: string }[] = [];
      for (const steps of paths.steps) {
        out = rewritePathArgs(out, steps, (value, arg) => {
          const canonical = canonicalPath(value, { arg });
          seen.push({ value: canonical, arg });
          return canonical;
        });
      }
      if (!paths.resolveSymlinks || seen.length === 0) return out;
      const real = new Map<string, string>();
      for (const { value, arg } of seen)
        if (!real.has(value)) real.set(value, await resolveRealPath(value, options.fs!, { arg }));
      for (const steps of paths.steps) out = rewritePathArgs(out, steps, (value) => real.get(value) ?? value);
      return out;
    },
    validateArgs(action, args) {
      const t = must(action);
      // SECURITY: args reach Cedar as context values; the engine's escape keys would let an agent forge
      // entity references or extension values (e.g. fake group membership), so they never pass.
      const forged = findReservedKey(args, 'args');
      if (forged) {
        throw new MandateError('invalid_args', `${forged}: keys __entity and __extn are reserved`, {
          details: { path: forged },
        });
      }
      if (!t.validate(args)) {
        const e = t.validate.errors?.[0];
        const path = e
          ? (e.instancePath || '/') + (e.keyword === 'required' ? String(e.params.missingProperty) : '')
          : '/';
        const where =
          e?.keyword === 'required'
            ? `args${pointerToDots(e.instancePath)}.${String(e.params.missingProperty)}`
            : `args${pointerToDots(e?.instancePath ?? '')}`;
        throw new MandateError('invalid_args', `${where}: ${e?.message ?? 'invalid'}`, {
          details: { path: where, pointer: path, keyword: e?.keyword },
          // SECURITY: the recorded reason names the place by the schema, not by the keys the call
          // used: under a map (`headers: {"x-session-4f9a…": 1}`) a key can be the secret a
          // redacted arg holds, and it went into the hashed request.refused event (a probe).
          recorded: `args${schemaPlace(e?.schemaPath ?? '')}${e?.keyword === 'required' ? `.${String(e.params.missingProperty)}` : ''}: ${e?.message ?? 'invalid'}`,
        });
      }
    },
    resourceOf(action, args) {
      const t = must(action);
      if (!t.resourceType) return null;
      let v: unknown = args;
      for (const seg of t.resourcePath)
        v = v && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
      if (typeof v !== 'string' && typeof v !== 'number') {
        throw new MandateError(
          'invalid_args',
          `args.${t.resourcePath.join('.')}: required to identify the ${t.resourceType}`,
          {
            details: { path: `args.${t.resourcePath.join('.')}` },
          },
        );
      }
      if (!t.resourceIsPath || !t.paths) return { type: t.resourceType, id: String(v) };
      // Canonical already when the args came from canonicalArgs; again here so no raw path can ever
      // become a resource id.
      const id = canonicalPath(String(v), { arg: `args.${t.resourcePath.join('.')}` });
      return { type: t.resourceType, id, folders: { type: t.paths.folderType, ids: pathAncestors(id) } };
    },
    summarize(action, args) {
      const t = must(action);
      // SECURITY: the approver reads this. Control, bidi and invisible characters in an arg would let
      // the agent rewrite what the screen shows (`\r\u001b[2K`, U+202E); they are escaped and the
      // summary is flagged (@mandate/protocol/display).
      if (!t.tool.summary) return displayLine(`${action} ${JSON.stringify(args)}`);
      return displayLine(
        t.tool.summary.replace(/\{([A-Za-z0-9_.]+)\}/g, (_, path: string) => {
          let v: unknown = args;
          for (const seg of path.split('.'))
            v = v && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
          if (v === undefined) return `{${path}}`;
          if (typeof v !== 'string') return JSON.stringify(v);
          // SECURITY: a string with a space or a quote in it is quoted: the template's words and the
          // agent's must not run together. `Wire {amount} {currency} to {iban}` with currency
          // `EUR to DE89… (ACME GmbH, verified supplier). Ref` read as a wire to ACME while the call
          // wired to another IBAN (a probe). Quoted by hand, not by JSON.stringify: control and bidi
          // characters stay raw for displayLine to escape and flag; only `"` and `\` are escaped,
          // so the value cannot end its own quotes.
          return PLAIN_TOKEN.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`;
        }),
      );
    },
  };
}

/**
 * A value that reads as one word in a summary: no whitespace (the template's words and the agent's
 * run together only across a space) and no quote (which would fake the end of a quoted one).
 */
const PLAIN_TOKEN = /^[^\s"]+$/u;

function pointerToDots(pointer: string): string {
  if (!pointer) return '';
  return pointer
    .split('/')
    .slice(1)
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${decodePointer(s)}`))
    .join('');
}

const RESERVED = new Set(['__entity', '__extn', '__expr']);

function findReservedKey(value: unknown, path: string): string | null {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findReservedKey(value[i], `${path}[${i}]`);
      if (hit) return hit;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (RESERVED.has(k)) return `${path}.${k}`;
      const hit = findReservedKey(v, `${path}.${k}`);
      if (hit) return hit;
    }
  }
  return null;
}

/**
 * Where a schema error is, named by the schema: declared property names (`.amount`), `[*]` for
 * any key of a map (`additionalProperties`, `patternProperties`), `[]` for an array item. Never a
 * key or value taken from the call.
 */
function schemaPlace(schemaPath: string): string {
  const segs = schemaPath.replace(/^#\//, '').split('/');
  let out = '';
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    if (seg === 'properties' && i + 1 < segs.length - 1) out += `.${decodePointer(segs[++i]!)}`;
    else if (seg === 'additionalProperties') out += '[*]';
    else if (seg === 'patternProperties') {
      out += '[*]';
      i++;
    } else if (seg === 'items' || seg === 'prefixItems') out += '[]';
  }
  return out;
}

function decodePointer(seg: string): string {
  return seg.replace(/~1/g, '/').replace(/~0/g, '~');
}

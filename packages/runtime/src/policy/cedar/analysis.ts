/**
 * Reading a policy set source: the schema's actions, each policy's text, JSON form, annotations and
 * scope, and strict validation. cedar-wasm's parser and validator are the only way policies get in;
 * every engine behind the port (the cedar-wasm one and the compiled one) starts from this analysis.
 */
import { MandateError } from '../../kernel/index.js';
import { readPolicyMeta, type PolicyMeta } from '../annotations.js';
import type { ArgType, PolicyInfo, PolicyProblem, PolicySetSource } from '../port.js';
import type { PolicyScope } from '../slicing.js';
import { checkPolicyTextBounds } from '../bounds.js';
import { attributeUse, type AttributeUse } from '../attributes.js';
import { typesFromSchemaJson } from '../schema-types.js';
import { readInChild, readInChildAsync, validationId } from './reader.js';
import {
  checkParseSchema,
  schemaToJson,
  liveReader,
  type CedarReader,
  type DetailedError,
  type EntityUidJson,
  type PolicyJson,
} from './wasm.js';

/**
 * The Cedar entity type of actions. Convention: a Mandate schema declares its actions outside any
 * namespace, so `PolicyRequest.action = "payments.refund"` is `Action::"payments.refund"`.
 * Entity types (principals, resources) may live in namespaces; requests then name them in full
 * (`Acme::Agent`).
 */
export const CEDAR_ACTION_TYPE = 'Action';

export interface AnalysedPolicy {
  info: PolicyInfo;
  /** Its id in the strict validation call: {@link validationId} of its file and its place in Cedar's answer. */
  validationId: string;
  meta: PolicyMeta;
  scope: PolicyScope;
  uses: AttributeUse;
  /** Cedar's JSON form of the policy (what the compiled evaluator compiles). */
  json: PolicyJson;
}

/** What the schema says of one action. */
export interface ActionDecl {
  /** Direct groups (`in [...]`). */
  memberOf: string[];
  /** `appliesTo`; both empty for a pure group, which no request can name. */
  principalTypes: ReadonlySet<string>;
  resourceTypes: ReadonlySet<string>;
  /** What `context.args` is declared as, when it is. */
  args?: ArgType;
}

export interface Analysis {
  problems: PolicyProblem[];
  policies: AnalysedPolicy[];
  actions: Map<string, ActionDecl>;
  /** Per entity type the schema declares: the record of its attributes. */
  entityShapes: Map<string, ArgType>;
  /** Per entity type the schema declares parent types for (`entity Doc in [Dir]`): those types. */
  entityParents: Map<string, readonly string[]>;
}

/** Options of {@link analyse}. */
export interface AnalyseOptions {
  /**
   * A set whose text (policies and schema, in UTF-16 code units) is at least this long is read in a
   * child process (policy/cedar/reader.ts, ADR 0027); a smaller one in the live cedar-wasm instance,
   * whose growth for it is small. Default {@link READ_IN_CHILD_FROM}.
   */
  readInChildFrom?: number;
  /**
   * The set's cedar-wasm answers, read beforehand by {@link readAhead} (off the event loop). It
   * answers only the exact calls it was read for: handed with another source, the analysis fails.
   */
  reader?: CedarReader;
}

/** About 1,000 policies of ordinary size: reading them grows cedar-wasm's memory by ~5 MiB. */
export const READ_IN_CHILD_FROM = 256 * 1024;

/**
 * About 125 policies: {@link readAhead} reads a set this large in a child too. Read in the live
 * instance it would hold the event loop for tens of ms and more (about 0.6 s at 1,000 policies);
 * the child costs a process start, which the loop does not wait for.
 */
export const READ_AHEAD_FROM = 32 * 1024;

export function analyse(source: PolicySetSource, options: AnalyseOptions = {}): Analysis {
  const empty: Analysis = {
    problems: [],
    policies: [],
    actions: new Map(),
    entityShapes: new Map(),
    entityParents: new Map(),
  };
  try {
    if (!isSource(source)) {
      empty.problems.push({ message: 'a policy set is { policies: { file: text }, schema: text }' });
      return empty;
    }
    // SECURITY: fail closed — text too large or too deep for Cedar never reaches it: a stack
    // exhausted inside the wasm instance breaks every later decision (issue 8 §6).
    const tooBig = checkPolicyTextBounds(source);
    if (tooBig.length > 0) return { ...empty, problems: tooBig };
    const problems: PolicyProblem[] = [];
    const files = Object.keys(source.policies).sort(byCodeUnits);
    const cedar = options.reader ?? readerFor(source, files, options.readInChildFrom ?? READ_IN_CHILD_FROM);
    const entityShapes = new Map<string, ArgType>();
    const entityParents = new Map<string, readonly string[]>();
    const actions = readSchema(cedar, source.schema, problems, entityShapes, entityParents);
    const policies: AnalysedPolicy[] = [];
    let parsedAll = true;
    for (const [f, file] of files.entries()) {
      const found = splitFile(cedar, f, file, source.policies[file]!, problems);
      if (found === undefined) parsedAll = false;
      else policies.push(...found);
    }
    checkDuplicateIds(policies, problems);
    refuseUses(policies, problems);
    if (actions !== undefined && parsedAll) validateStrict(cedar, source.schema, policies, problems);
    return { problems, policies, actions: actions ?? new Map(), entityShapes, entityParents };
  } catch (err) {
    // validate() never throws for bad input: an unexpected throw from the wasm boundary is
    // reported as a problem, which also keeps compile() from activating the set.
    empty.problems.push({ message: `policy set could not be analysed: ${messageOf(err)}` });
    return empty;
  }
}

/** Where the set's cedar-wasm answers come from: a child process for a large set, else the live instance. */
function readerFor(source: PolicySetSource, files: readonly string[], childFrom: number): CedarReader {
  if (sizeOf(source, files) < childFrom) return liveReader;
  return readInChild(
    source,
    files.map((file) => source.policies[file]!),
  );
}

function sizeOf(source: PolicySetSource, files: readonly string[]): number {
  let size = source.schema.length;
  for (const file of files) size += source.policies[file]!.length;
  return size;
}

/**
 * Reads a set of {@link READ_AHEAD_FROM} code units or more (or of `readInChildFrom`, when lower)
 * in a child process now, without blocking the event loop, and returns the reader to hand to
 * `analyse` (`options.reader`). Undefined for a smaller set (read in the live instance, quickly)
 * and for input `analyse` refuses before reading.
 *
 * @throws MandateError `unavailable` when the child could not read it (killed — as by the kernel's
 * out-of-memory killer —, timed out, not started, its answers cut short): that says nothing of the
 * set, so it is not reported as the set's problem (`policy_invalid`); the caller may try again.
 */
export async function readAhead(
  source: PolicySetSource,
  options: Pick<AnalyseOptions, 'readInChildFrom'> = {},
): Promise<CedarReader | undefined> {
  if (!isSource(source) || checkPolicyTextBounds(source).length > 0) return undefined;
  const files = Object.keys(source.policies).sort(byCodeUnits);
  const from = Math.min(options.readInChildFrom ?? READ_IN_CHILD_FROM, READ_AHEAD_FROM);
  if (sizeOf(source, files) < from) return undefined;
  try {
    return await readInChildAsync(
      source,
      files.map((file) => source.policies[file]!),
    );
  } catch (err) {
    // SECURITY: fail closed all the same — nothing is compiled from a reader that did not answer;
    // but read as 'invalid', a node loading another node's activation kept its replaced set (P4)
    // and decided on it while the new one was not even read.
    throw new MandateError('unavailable', `the policy set could not be read: ${messageOf(err)}`, {
      cause: err,
    });
  }
}

export function isSource(source: unknown): source is PolicySetSource {
  const s = source as PolicySetSource | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.schema === 'string' &&
    typeof s.policies === 'object' &&
    s.policies !== null &&
    Object.values(s.policies).every((t) => typeof t === 'string')
  );
}

/** The schema in Cedar's JSON format (namespace → definitions), or null when it does not parse. */
export function schemaJson(schema: string): Record<string, unknown> | null {
  if (checkParseSchema(schema).type === 'failure') return null;
  const json = schemaToJson(schema);
  return json.type === 'success' ? (json.json as Record<string, unknown>) : null;
}

/**
 * SECURITY: Cedar entity tags are refused. Mandate's entities carry attributes only (a resource's
 * `tags` is an attribute, a set of strings), so no entity ever has a Cedar tag: strict validation
 * accepted `forbid … when { resource.hasTag("open") }` for a schema declaring `tags`, and that
 * forbid never fired, in either engine — a policy that looks right and allows what it names.
 */
function refuseEntityTags(
  namespaces: Record<string, { entityTypes?: Record<string, { tags?: unknown }> } | undefined>,
  problems: PolicyProblem[],
): void {
  for (const [namespace, def] of Object.entries(namespaces)) {
    for (const [name, entity] of Object.entries(def?.entityTypes ?? {})) {
      if (entity?.tags === undefined) continue;
      const type = namespace === '' ? name : `${namespace}::${name}`;
      problems.push({
        message: `schema: entity type ${type} declares tags; Mandate's entities carry attributes only, so hasTag and getTag would never see a tag — declare an attribute (e.g. tags: Set<String>) and test it with .contains(...)`,
      });
    }
  }
}

/** The entity types Mandate gives Cedar for its agents and users, always without parents. */
const PARENTLESS_TYPES: ReadonlySet<string> = new Set(['Agent', 'User']);
/**
 * What a path resource's type and its folders' type can be named (a tool's `resource` type and
 * `paths.folderType`, @mandate/protocol tools.ts): an unqualified name, never in a namespace.
 */
const PATH_TYPE_NAME = /^[A-Z][A-Za-z0-9_]{0,63}$/;

/**
 * SECURITY: Cedar entity parents are refused where Mandate never loads any. Agents, users and
 * stored resources reach Cedar with no parents (and the entity API takes none); only a path
 * resource gets parents, its folders (each of a tool's `paths.folderType`, in the next one up). A
 * schema declaring `entity Agent in [Team]` validated `forbid (principal in Team::"contractors",
 * …)`, and that forbid never fired — a policy that looks right and allows what it names. The
 * schema alone does not say which types are path resources and folders (the tools do): what it
 * can never be is refused here — parents on Agent or User, on a type a tool cannot name (in a
 * namespace), and parent types a folder cannot be.
 */
function refuseEntityParents(
  namespaces: Record<string, { entityTypes?: Record<string, { memberOfTypes?: unknown }> } | undefined>,
  problems: PolicyProblem[],
  entityParents: Map<string, readonly string[]>,
): void {
  const folders = "only a path resource has parents in Mandate: its folders, of a tool's paths.folderType";
  const instead =
    'keep such membership in an attribute (e.g. teams: Set<String>) and test it with .contains(...)';
  for (const [namespace, def] of Object.entries(namespaces)) {
    for (const [name, entity] of Object.entries(def?.entityTypes ?? {})) {
      const declared = entity?.memberOfTypes;
      if (declared === undefined || (Array.isArray(declared) && declared.length === 0)) continue;
      const type = namespace === '' ? name : `${namespace}::${name}`;
      const parents = Array.isArray(declared) ? declared.map(String) : [String(declared)];
      entityParents.set(type, parents);
      const list = `in [${parents.join(', ')}]`;
      if (PARENTLESS_TYPES.has(type) || !PATH_TYPE_NAME.test(type)) {
        problems.push({
          message: `schema: entity type ${type} declares parent types (${list}), but Mandate loads no parents for ${type}, so \`in\` on them would never hold and a forbid testing it would never fire; ${folders} — ${instead}`,
        });
        continue;
      }
      for (const parent of parents) {
        if (!PARENTLESS_TYPES.has(parent) && PATH_TYPE_NAME.test(parent)) continue;
        problems.push({
          message: `schema: entity type ${type} declares parent type ${parent}, but Mandate loads no ${parent} as a parent, so \`in\` on it would never hold and a forbid testing it would never fire; ${folders} (an unqualified type name other than Agent and User) — ${instead}`,
        });
      }
    }
  }
}

/**
 * Parses the schema; returns its actions (and fills `entityShapes` and `entityParents`), or
 * undefined when it is unusable.
 */
function readSchema(
  cedar: CedarReader,
  schema: string,
  problems: PolicyProblem[],
  entityShapes: Map<string, ArgType>,
  entityParents: Map<string, readonly string[]>,
): Map<string, ActionDecl> | undefined {
  const parsed = cedar.checkParseSchema(schema);
  if (parsed.type === 'failure') {
    problems.push(...parsed.errors.map((e) => ({ message: `schema: ${describe(e, schema)}` })));
    return undefined;
  }
  const json = cedar.schemaToJson(schema);
  if (json.type === 'failure') {
    problems.push(...json.errors.map((e) => ({ message: `schema: ${describe(e, schema)}` })));
    return undefined;
  }
  const declared = new Map<string, ActionDecl>();
  const types = typesFromSchemaJson(json.json as Record<string, unknown>);
  const argsTypes = types.args;
  for (const [type, shape] of types.entities) entityShapes.set(type, shape);
  refuseEntityTags(
    json.json as Record<string, { entityTypes?: Record<string, { tags?: unknown }> }>,
    problems,
  );
  refuseEntityParents(
    json.json as Record<string, { entityTypes?: Record<string, { memberOfTypes?: unknown }> }>,
    problems,
    entityParents,
  );
  for (const [namespace, def] of Object.entries(json.json)) {
    const actions = Object.entries(def.actions ?? {});
    if (namespace !== '') {
      if (actions.length > 0) {
        problems.push({
          message: `schema: actions must be declared outside any namespace (found in "${namespace}"); Mandate names them Action::"<name>"`,
        });
      }
      continue;
    }
    for (const [name, action] of actions) {
      declared.set(name, {
        memberOf: (action.memberOf ?? [])
          .filter((m) => m.type === undefined || m.type === CEDAR_ACTION_TYPE)
          .map((m) => m.id),
        principalTypes: new Set(action.appliesTo?.principalTypes ?? []),
        resourceTypes: new Set(action.appliesTo?.resourceTypes ?? []),
        ...(argsTypes.has(name) ? { args: argsTypes.get(name)! } : {}),
      });
    }
  }
  return declared;
}

/** Splits one file into policies in source order; undefined when the file does not parse. */
function splitFile(
  cedar: CedarReader,
  fileIndex: number,
  file: string,
  text: string,
  problems: PolicyProblem[],
): AnalysedPolicy[] | undefined {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') {
    problems.push(...parts.errors.map((e) => ({ file, message: describe(e, text) })));
    return undefined;
  }
  if (parts.policy_templates.length > 0) {
    problems.push({ file, message: 'policy templates (?principal / ?resource slots) are not supported' });
    return undefined;
  }
  const out: AnalysedPolicy[] = [];
  let ok = true;
  inSourceOrder(text, parts.policies).forEach((part, index) => {
    const policyText = parts.policies[part]!;
    const json = cedar.policyToJson(policyText);
    if (json.type === 'failure') {
      problems.push(
        ...json.errors.map((e) => ({ file, policyId: `${file}#${index}`, message: describe(e) })),
      );
      ok = false;
      return;
    }
    const annotations: Record<string, string> = {};
    // A value-less annotation (`@approval`) comes back as null; it is the empty string to us.
    for (const [k, v] of Object.entries(json.json.annotations ?? {})) annotations[k] = v ?? '';
    const id = annotations['id'] ?? `${file}#${index}`;
    const effect = json.json.effect;
    const checked = readPolicyMeta(effect, annotations, { file, policyId: id });
    problems.push(...checked.problems);
    out.push({
      info: { id, file, effect, annotations, text: policyText },
      validationId: validationId(fileIndex, part),
      meta: checked.meta,
      scope: scopeOf(json.json),
      uses: attributeUse(json.json.conditions),
      json: json.json,
    });
  });
  return ok ? out : undefined;
}

/**
 * `policySetTextToParts` returns the policies sorted by the ids it generated (`policy0`,
 * `policy1`, `policy10`, … in string order), not in source order. Undo that so `<file>#<index>`
 * counts policies as a reader does; if Cedar ever changes its naming (checked by finding each
 * text at increasing offsets), keep its order, which is deterministic too. Returns positions in
 * `sorted`, in source order.
 */
function inSourceOrder(text: string, sorted: string[]): number[] {
  const names = sorted.map((_, i) => `policy${i}`).sort(byCodeUnits);
  const ordered: number[] = new Array<number>(sorted.length);
  names.forEach((name, k) => {
    ordered[Number(name.slice('policy'.length))] = k;
  });
  let cursor = 0;
  for (const k of ordered) {
    const policy = sorted[k]!;
    const at = text.indexOf(policy, cursor);
    if (at < 0) return sorted.map((_, i) => i);
    cursor = at + policy.length;
  }
  return ordered;
}

/**
 * Uses of the policy language that look right, validate, and never hold in Mandate; a policy with
 * one is refused, with the form to write instead. SECURITY: a forbid written with one never fires.
 */
const REFUSED_USES: readonly { used: (u: AttributeUse) => boolean; message: string }[] = [
  // `hasTag` / `getTag` (see {@link refuseEntityTags}): with a resource's `tags` attribute at hand,
  // `resource.hasTag("legal_hold")` reads as the obvious test and is always false.
  {
    used: (u) => u.tags,
    message:
      'uses hasTag or getTag: Mandate\'s entities have no Cedar tags, so it would never see one — a resource\'s tags are an attribute: test them with resource.tags.contains("…")',
  },
  // `context.args` (or `context`) as a whole value. The top level of the args is open — a tool may
  // carry args the schema does not declare, and they are in `context.args` — so `context.args ==
  // {"to": "ceo"}` is false for `{"to": "ceo", "cc": "x"}` (ADR 0036, later addendum).
  {
    used: (u) => u.wholeArgs,
    message:
      'uses context.args (or context) as a whole value: a call may carry args the schema does not declare, so a comparison of the whole record fails for a call with one more arg and a forbid written so would not fire — compare args one by one (context.args.to == "…")',
  },
];

function refuseUses(policies: AnalysedPolicy[], problems: PolicyProblem[]): void {
  for (const r of REFUSED_USES)
    for (const p of policies)
      if (r.used(p.uses)) problems.push({ file: p.info.file, policyId: p.info.id, message: r.message });
}

function checkDuplicateIds(policies: AnalysedPolicy[], problems: PolicyProblem[]): void {
  const first = new Map<string, AnalysedPolicy>();
  for (const p of policies) {
    const seen = first.get(p.info.id);
    if (seen === undefined) first.set(p.info.id, p);
    else {
      problems.push({
        file: p.info.file,
        policyId: p.info.id,
        message: `duplicate policy id "${p.info.id}" (first defined in ${seen.info.file})`,
      });
    }
  }
}

/**
 * Strict validation of the whole set; internal ids (file and place, the same in the reader process)
 * keep it meaningful even with duplicate ids.
 */
function validateStrict(
  cedar: CedarReader,
  schema: string,
  policies: AnalysedPolicy[],
  problems: PolicyProblem[],
): void {
  const staticPolicies: Record<string, string> = {};
  const byValidationId = new Map<string, AnalysedPolicy>();
  for (const p of policies) {
    staticPolicies[p.validationId] = p.info.text;
    byValidationId.set(p.validationId, p);
  }
  const answer = cedar.validate({
    schema,
    policies: { staticPolicies },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type === 'failure') {
    problems.push(...answer.errors.map((e) => ({ message: describe(e) })));
    return;
  }
  for (const v of answer.validationErrors) {
    const p = byValidationId.get(v.policyId);
    // Cedar prefixes messages with its own (internal) policy id; the problem names the real one.
    const message = describe(v.error).replace(/^for policy `[^`]*`, /, '');
    problems.push(p === undefined ? { message } : { file: p.info.file, policyId: p.info.id, message });
  }
}

function scopeOf(json: PolicyJson): PolicyScope {
  const scope: PolicyScope = {};
  const principal = json.principal;
  if (principal.op === '==' && 'entity' in principal) scope.principalType = uidOf(principal.entity).type;
  else if (principal.op === 'is') scope.principalType = principal.entity_type;

  const action = json.action;
  // Anything not understood stays undefined = "any action": a too-large slice costs time, a
  // too-small one would change decisions.
  if (action.op === '==' && 'entity' in action) {
    const uid = uidOf(action.entity);
    if (uid.type === CEDAR_ACTION_TYPE) scope.actions = [{ id: uid.id, descendants: false }];
  } else if (action.op === 'in') {
    const uids = ('entities' in action ? action.entities : [action.entity]).map(uidOf);
    if (uids.every((u) => u.type === CEDAR_ACTION_TYPE)) {
      scope.actions = uids.map((u) => ({ id: u.id, descendants: true }));
    }
  }
  return scope;
}

export function uidOf(uid: EntityUidJson): { type: string; id: string } {
  return '__entity' in uid ? uid.__entity : uid;
}

/** A Cedar diagnostic as one line: message, position in `text` when known, and Cedar's help. */
export function describe(e: DetailedError, text?: string): string {
  let out = e.message;
  const at = e.sourceLocations?.[0];
  if (text !== undefined && at !== undefined) {
    // Cedar reports byte offsets into the UTF-8 text.
    const before = Buffer.from(text, 'utf8').subarray(0, at.start).toString('utf8');
    const lines = before.split('\n');
    out += ` (line ${lines.length}, column ${lines[lines.length - 1]!.length + 1})`;
  }
  const label = at?.label;
  if (label) out += `: ${label}`;
  if (e.help) out += ` — ${e.help}`;
  return out;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

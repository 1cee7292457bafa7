import { setOwn } from '../kernel/index.js';

/**
 * Which attribute names a policy can read. Cedar reads attributes only through `e.attr` and
 * `e has attr` (there are no computed attribute names), and entities compare by uid, never by
 * their attributes; so an entity attribute no policy of a slice names cannot change that slice's
 * answer and need not cross into wasm, where every field costs (see ADR 0002). The same holds for
 * top-level context keys unless a policy uses `context` as a whole value.
 */
export interface AttributeUse {
  names: ReadonlySet<string>;
  /** True when `context` appears other than as `context.x` / `context has x`: then keep it whole. */
  wholeContext: boolean;
  /** True when a condition reads Cedar entity tags (`hasTag`, `getTag`), which Mandate refuses (ADR 0036). */
  tags: boolean;
}

/** Walks the JSON form of a policy's conditions (Cedar's `PolicyJson.conditions[].body`). */
export function attributeUse(conditions: readonly { body: unknown }[]): AttributeUse {
  const names = new Set<string>();
  let wholeContext = false;
  let tags = false;
  const isContext = (n: unknown) =>
    typeof n === 'object' && n !== null && (n as { Var?: unknown }).Var === 'context';
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const x of node) walk(x);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const obj = node as Record<string, unknown>;
    if (obj.Var === 'context') {
      wholeContext = true;
      return;
    }
    for (const [key, value] of Object.entries(obj)) {
      if ((key === '.' || key === 'has') && typeof value === 'object' && value !== null) {
        const access = value as { left?: unknown; attr?: unknown };
        const attrs = Array.isArray(access.attr) ? access.attr : [access.attr];
        for (const a of attrs) if (typeof a === 'string') names.add(a);
        if (!isContext(access.left)) walk(access.left);
        continue;
      }
      // `{ "hasTag": { "left": …, "right": … } }`; a key of that name in a record literal is data.
      if ((key === 'hasTag' || key === 'getTag') && typeof value === 'object' && value !== null) {
        if ('left' in value && 'right' in value) tags = true;
      }
      // A literal value (`{ Value: … }`) holds data, not expressions: `{ "Var": "context" }` in a
      // string-keyed record literal is still a literal. Only expression keys are walked.
      if (key === 'Value') continue;
      walk(value);
    }
  };
  for (const c of conditions) walk(c.body);
  return { names, wholeContext, tags };
}

/** Keeps only the named keys of a record (a shallow copy; nested values are kept whole). */
export function pickNames(
  record: Record<string, unknown>,
  names: ReadonlySet<string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(record)) if (names.has(k)) setOwn(out, k, record[k]);
  return out;
}

/**
 * A grant limit and keys holding ".": the limit reads its arg nested (`o.n` as `args.o.n`), while
 * an upstream that reads keys as dotted paths (MongoDB's `$set`, lodash's `set`, Elasticsearch field
 * names) reads `{"o.n": 100}` as that arg.
 */
import { isPathKey, keyPath } from '../kernel/index.js';

/**
 * Do the args reach a limit's arg (`o.n`), or a place inside it, through a key holding "." read as
 * a dotted path: `{"o.n": 100}`, `{"o": {"n.x": 1}}`, `{"o.n.x": 1}`?
 *
 * SECURITY: a limit on an arg that no schema declares applies only where the call sends it, and an
 * arg sent as `{"o.n": 100}` is not sent nested: the limit `o.n <= 5` was left out, and a dotted-path
 * upstream acted on 100 (a probe). The grant check counts such a key as sending the arg, and a limit
 * never holds for it: the value the upstream acts on is not the one the limit would read. The
 * decision path refuses (`invalid_args`) what it can tell without the grant: a dotted key beside the
 * nested arg, or inside a declared one (decisions/args-keys.ts).
 */
export function dottedKeyReaches(args: Record<string, unknown>, arg: string): boolean {
  return reaches(args, arg.split('.'), false);
}

function reaches(value: unknown, rest: readonly string[], dotted: boolean): boolean {
  if (rest.length === 0) return dotted;
  // Limit paths are names (grants/service.ts ARG_PATH): never an array's index.
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  for (const key of Object.keys(value)) {
    const segments = keyPath(key);
    const pathy = isPathKey(key);
    const shared = Math.min(segments.length, rest.length);
    if (segments.slice(0, shared).some((s, i) => s !== rest[i])) continue;
    // A path key (`o.n`, `o[n]`, even `[amount]`) that reaches the arg, or goes past it into the arg.
    if (pathy && segments.length >= rest.length) return true;
    const child = (value as Record<string, unknown>)[key];
    if (reaches(child, rest.slice(segments.length), dotted || pathy)) return true;
  }
  return false;
}

import { checkPolicyTextBounds } from '../../src/policy/index.js';
import { source } from './fixtures.js';

/** Deep policy text by shape and size, for the bounds and screening tests (issue 8 §6). */

export const policy = (body: string) => `permit (principal, action, resource) when { ${body} };`;
export const admitted = (body: string) =>
  checkPolicyTextBounds(source({ 'p.cedar': policy(body) })).length === 0;

/** Shapes of deep text, by size. */
export const SHAPES: Record<string, (n: number) => string> = {
  parentheses: (n) => `${'('.repeat(n)}true${')'.repeat(n)}`,
  sets: (n) => `${'['.repeat(n)}1${']'.repeat(n)}.contains(1)`,
  records: (n) => `${'{a:'.repeat(n)}1${'}'.repeat(n)} == 1`,
  calls: (n) => `${'ip('.repeat(n)}"1"${')'.repeat(n)} == 1`,
  plus: (n) => `${Array(n).fill('context.a').join(' + ')} > 0`,
  members: (n) => `context${'.a'.repeat(n)} == 1`,
  contains: (n) => `[1]${'.contains(1)'.repeat(n)}`,
  and: (n) => Array(n).fill('context.a > 0').join(' && '),
  or: (n) => `${Array(n).fill('context.a < 0').join(' || ')} || true`,
  ifs: (n) => `${'if context.a > 0 then '.repeat(n)}true${' else false'.repeat(n)}`,
  nestedChains: (n) => `${'('.repeat(n)}${Array(n).fill('context.a').join(' + ')}${')'.repeat(n)} > 0`,
};

/** The largest n the bounds admit for a shape (they refuse at 3,000). */
export function largestAdmitted(shape: (n: number) => string): number {
  let lo = 0;
  let hi = 3000;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (admitted(shape(mid))) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

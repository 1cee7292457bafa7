import type { PolicyProblem, PolicySetSource } from './port.js';

/**
 * How large and how deep policy text may be before anything parses it.
 *
 * Cedar parses, validates and evaluates expressions recursively, inside one WebAssembly instance
 * shared by every decision of the process. Text nested ~130 brackets deep, or a chain of ~300
 * `+`, `&&`, `.attr` or `.contains()` (each adds a level to the expression tree) exhausts its stack; a
 * trap inside Cedar then leaves the instance broken, and every later decision is denied with
 * `policy_error` (issue 8 §6). These limits sit well below those depths and far above what real
 * policies need; measured on cedar-wasm 4.13.
 */
export const POLICY_TEXT_LIMITS = {
  /** Characters (UTF-16 code units) of policy and schema text in one set. */
  maxSetChars: 4 * 1024 * 1024,
  /** Policies in one set. */
  maxPolicies: 10_000,
  /** Open `(`, `[`, `{` (and `<` in a schema) at any point. */
  maxNesting: 32,
  /**
   * How deep one expression may get: each `&&` / `||` of a chain and each operator within one of
   * its operands adds a level (list elements and arguments do not). Cold, Cedar traps at ~300; once
   * V8 has tiered its wasm up to optimised code (a busy node) frames are larger and 96–128 levels
   * already exhaust the stack (measured with `--no-liftoff`), so the bound keeps a wide margin.
   */
  maxChain: 48,
  /** Operators of any kind in one policy. */
  maxOperatorsPerPolicy: 4096,
} as const;

const OPEN = new Set(['(', '[', '{']);
const CLOSE = new Set([')', ']', '}']);
const WORD_OPERATORS = new Set(['if', 'in', 'has', 'like', 'is']);

/**
 * A lexical scan — strings and `//` comments skipped, nothing parsed — that refuses text too large
 * or too deep for Cedar to handle safely ({@link POLICY_TEXT_LIMITS}). Linear in the text, no
 * recursion: it is what runs before any hostile text reaches the engine.
 */
export function checkPolicyTextBounds(source: PolicySetSource): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const files = Object.entries(source.policies ?? {});
  let chars = typeof source.schema === 'string' ? source.schema.length : 0;
  for (const [, text] of files) chars += typeof text === 'string' ? text.length : 0;
  if (chars > POLICY_TEXT_LIMITS.maxSetChars) {
    return [
      {
        message: `policy set is too large: ${chars} characters (at most ${POLICY_TEXT_LIMITS.maxSetChars})`,
      },
    ];
  }
  let policies = 0;
  for (const [file, text] of files) {
    if (typeof text !== 'string') continue;
    const r = scan(text, 'policy');
    policies += r.statements;
    if (r.problem) problems.push({ file, message: r.problem });
  }
  if (typeof source.schema === 'string') {
    const r = scan(source.schema, 'schema');
    if (r.problem) problems.push({ message: `schema: ${r.problem}` });
  }
  if (policies > POLICY_TEXT_LIMITS.maxPolicies) {
    problems.push({
      message: `policy set has ${policies} policies (at most ${POLICY_TEXT_LIMITS.maxPolicies})`,
    });
  }
  return problems;
}

interface ScanResult {
  statements: number;
  problem?: string;
}

/**
 * One open bracket level: the depth when it opened (base), the `&&` / `||` seen so far in its
 * current expression (each nests one level more: Cedar evaluates such a chain recursively), the
 * operators stacked in the current operand of that chain, and the deepest point reached.
 */
interface Frame {
  base: number;
  ands: number;
  chain: number;
  deepest: number;
}

function scan(text: string, kind: 'policy' | 'schema'): ScanResult {
  const L = POLICY_TEXT_LIMITS;
  const frames: Frame[] = [{ base: 0, ands: 0, chain: 0, deepest: 0 }];
  let top = frames[0]!;
  let statements = 0;
  let operators = 0;
  let line = 1;
  const depthOf = (f: Frame) => f.base + f.ands + f.chain;
  const note = (): string | undefined => {
    const depth = depthOf(top);
    if (depth > top.deepest) top.deepest = depth;
    if (kind === 'policy' && depth > L.maxChain)
      return `expression nested too deep at line ${line}: more than ${L.maxChain} operators stacked in one expression`;
    if (operators > L.maxOperatorsPerPolicy)
      return `policy too long at line ${line}: more than ${L.maxOperatorsPerPolicy} operators in one policy`;
    return undefined;
  };
  const operator = (): string | undefined => {
    operators++;
    top.chain++;
    return note();
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    let problem: string | undefined;
    if (c === '\n') {
      line++;
    } else if (c === '"') {
      // A string literal; an escape skips the next character. An unterminated one ends the scan
      // (the parser reports it).
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\') i++;
        else if (text[i] === '\n') line++;
      }
    } else if (c === '/' && text[i + 1] === '/') {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (OPEN.has(c) || (kind === 'schema' && c === '<')) {
      const depth = depthOf(top);
      top = { base: depth, ands: 0, chain: 0, deepest: depth };
      frames.push(top);
      if (frames.length - 1 > L.maxNesting)
        problem = `nested too deep at line ${line}: more than ${L.maxNesting} open brackets`;
    } else if (CLOSE.has(c) || (kind === 'schema' && c === '>')) {
      // Unbalanced text is left to the parser to report.
      if (frames.length > 1) {
        const inner = frames.pop()!;
        top = frames[frames.length - 1]!;
        // The group is one operand of the enclosing expression, as deep as it got inside.
        top.chain = Math.max(top.chain, inner.deepest - top.base - top.ands);
        problem = note();
      }
    } else if (kind === 'schema') {
      continue;
    } else if (c === ';') {
      if (frames.length === 1) {
        statements++;
        operators = 0;
        top.ands = 0;
        top.chain = 0;
        top.deepest = 0;
      }
    } else if (c === ',') {
      // List elements and arguments do not nest: each starts afresh.
      top.ands = 0;
      top.chain = 0;
    } else if ((c === '&' || c === '|') && text[i + 1] === c) {
      // Each `&&` / `||` nests one level; the operand after it starts its own operators afresh.
      i++;
      operators++;
      top.ands++;
      top.chain = 0;
      problem = note();
    } else if ('+-*.!<>='.includes(c)) {
      // Two-character operators (`==`, `!=`, `<=`, `>=`) count once.
      if ((c === '=' || c === '!' || c === '<' || c === '>') && text[i + 1] === '=') i++;
      problem = operator();
    } else if (isWordStart(c) && (i === 0 || !isWordChar(text[i - 1]!))) {
      let j = i + 1;
      while (j < text.length && isWordChar(text[j]!)) j++;
      if (WORD_OPERATORS.has(text.slice(i, j))) problem = operator();
      i = j - 1;
    }
    if (problem) return { statements, problem };
  }
  return { statements };
}

function isWordStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
}

function isWordChar(c: string): boolean {
  return isWordStart(c) || (c >= '0' && c <= '9');
}

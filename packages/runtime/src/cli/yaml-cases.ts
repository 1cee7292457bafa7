import { LineCounter, isScalar, parseDocument, visit } from 'yaml';
import { MandateError, parseJsonStrict } from '../kernel/index.js';

/** The JSON number grammar: a YAML plain scalar of this shape is checked like a JSON number. */
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * Read a YAML file of policy-test cases with the same rules for numbers as the API's JSON: a
 * number whose text names another value than the double it parses to (`500.0000000000000001`),
 * an integer past ±(2^53−1) or a number out of range is refused with `invalid_number` naming the
 * file and line, never rounded into a case that tests something else than it says. A malformed
 * file is `bad_request` naming the file, line and column, not a stack trace.
 */
export function parseCasesYaml(text: string, file: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { keepSourceTokens: true, lineCounter: lines, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    const p = lines.linePos(offset ?? 0);
    return `${file}:${p.line}:${p.col}`;
  };
  const first = doc.errors[0];
  if (first)
    throw new MandateError(
      'bad_request',
      `${at(first.pos[0])}: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
    );
  visit(doc, {
    Scalar(_key, node) {
      if (!isScalar(node) || node.type !== 'PLAIN') return;
      const source = node.source;
      if (typeof source !== 'string') return;
      const value = node.value;
      if (JSON_NUMBER.test(source)) {
        try {
          parseJsonStrict(source);
        } catch (err) {
          const msg =
            err instanceof MandateError ? err.message.replace(/^the JSON value: /, '') : String(err);
          throw new MandateError('invalid_number', `${at(node.range?.[0])}: ${msg}`);
        }
        if (typeof value !== 'number' || !Number.isFinite(value))
          throw new MandateError('invalid_number', `${at(node.range?.[0])}: ${source} is out of range`);
      } else if (
        typeof value === 'number' &&
        (!Number.isFinite(value) || !Number.isSafeInteger(Math.trunc(value)))
      ) {
        throw new MandateError('invalid_number', `${at(node.range?.[0])}: ${source} has no exact value`);
      }
    },
  });
  return doc.toJS();
}

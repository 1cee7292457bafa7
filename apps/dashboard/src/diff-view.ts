import { h } from './dom.js';
import { lineDiff } from './diff.js';

/** A diff as a `<pre>`: added and removed lines are marked by sign and colour (not colour alone). */
export function diffView(label: string, before: string, after: string): HTMLElement {
  const lines = lineDiff(before, after);
  const changed = lines.filter((l) => l.op !== ' ').length;
  return h(
    'figure',
    { class: 'diff' },
    h('figcaption', {}, `${label}: ${changed === 0 ? 'no change' : `${changed} changed lines`}`),
    h(
      'pre',
      { tabindex: '0' },
      lines.map((l) =>
        h('span', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'same' }, `${l.op} ${l.text}\n`),
      ),
    ),
  );
}

import { h } from './dom.js';
import { lineDiff, type DiffLine } from './diff.js';

/** Unchanged lines kept around each change; longer unchanged runs fold into one marker line. */
const CONTEXT = 3;

function folded(lines: DiffLine[]): (DiffLine | { fold: number })[] {
  const near = new Array<boolean>(lines.length).fill(false);
  lines.forEach((l, i) => {
    if (l.op === ' ') return;
    for (let j = Math.max(0, i - CONTEXT); j <= Math.min(lines.length - 1, i + CONTEXT); j++) near[j] = true;
  });
  const out: (DiffLine | { fold: number })[] = [];
  let run = 0;
  lines.forEach((l, i) => {
    if (near[i]) {
      if (run) out.push({ fold: run });
      run = 0;
      out.push(l);
    } else run++;
  });
  if (run) out.push({ fold: run });
  return out;
}

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
      folded(lines).map((l) =>
        'fold' in l
          ? h('span', { class: 'fold' }, `  … ${l.fold} unchanged line${l.fold === 1 ? '' : 's'}\n`)
          : h('span', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'same' }, `${l.op} ${l.text}\n`),
      ),
    ),
  );
}

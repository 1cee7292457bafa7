import { h } from './dom.js';
import { escapeLine, hiddenLabel, mergeKinds } from './display.js';
import { lineDiff, type DiffLine } from './diff.js';

/** Unchanged lines kept around each change; longer unchanged runs fold into one marker line. */
const CONTEXT = 3;

function folded<L extends DiffLine>(lines: L[]): (L | { fold: number })[] {
  const near = new Array<boolean>(lines.length).fill(false);
  lines.forEach((l, i) => {
    if (l.op === ' ') return;
    for (let j = Math.max(0, i - CONTEXT); j <= Math.min(lines.length - 1, i + CONTEXT); j++) near[j] = true;
  });
  const out: (L | { fold: number })[] = [];
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

/**
 * A diff as a `<pre>`: added and removed lines are marked by sign and colour (not colour alone).
 * Every line is escaped (what changed may be only invisible characters: a tool description that
 * gained tag-character instructions would otherwise show as two identical lines); a line that
 * held hidden characters is marked `⚠` after its sign with their kinds at its end, and the caption
 * says how many changed lines held them.
 */
export function diffView(label: string, before: string, after: string): HTMLElement {
  const lines = lineDiff(before, after).map((l) => ({ ...l, shown: escapeLine(l.text) }));
  const changed = lines.filter((l) => l.op !== ' ');
  const hiddenChanged = changed.filter((l) => l.shown.hidden.length);
  const kinds = mergeKinds(...changed.map((l) => l.shown.hidden));
  return h(
    'figure',
    { class: 'diff' },
    h(
      'figcaption',
      {},
      `${label}: ${changed.length === 0 ? 'no change' : `${changed.length} changed lines`}`,
      hiddenChanged.length
        ? h(
            'strong',
            { class: 'hidden-flag', role: 'alert' },
            ` · ${hiddenLabel(kinds)} on ${hiddenChanged.length} changed line${hiddenChanged.length === 1 ? '' : 's'} (marked ⚠, shown as \\u… escapes)`,
          )
        : null,
    ),
    h(
      'pre',
      { tabindex: '0' },
      folded(lines).map((l) => {
        if ('fold' in l)
          return h('span', { class: 'fold' }, `  … ${l.fold} unchanged line${l.fold === 1 ? '' : 's'}\n`);
        const cls = l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'same';
        const hidden = l.shown.hidden;
        return hidden.length
          ? h('span', { class: `${cls} has-hidden` }, `${l.op}⚠${l.shown.text}  ← ${hiddenLabel(hidden)}\n`)
          : h('span', { class: cls }, `${l.op} ${l.shown.text}\n`);
      }),
    ),
  );
}

import { describe, expect, it } from 'vitest';
import { lineDiff } from '../src/diff.js';

const render = (a: string, b: string) => lineDiff(a, b).map((l) => `${l.op}${l.text}`);

describe('lineDiff', () => {
  it('marks only the changed line of an edit, keeping the rest as context', () => {
    expect(render('a\nb\nc', 'a\nB\nc')).toEqual([' a', '-b', '+B', ' c']);
  });
  it('reports an insertion and a deletion at the ends', () => {
    expect(render('a\nb', 'x\na\nb')).toEqual(['+x', ' a', ' b']);
    expect(render('a\nb\nc', 'a\nb')).toEqual([' a', ' b', '-c']);
  });
  it('finds the common lines between scattered changes', () => {
    const out = render('1\n2\n3\n4\n5', '1\n3\nx\n5\n6');
    expect(out.filter((l) => l.startsWith(' '))).toEqual([' 1', ' 3', ' 5']);
    expect(out.filter((l) => l.startsWith('-'))).toEqual(['-2', '-4']);
    expect(out.filter((l) => l.startsWith('+'))).toEqual(['+x', '+6']);
  });
  it('says nothing changed for equal texts, and rebuilds both sides', () => {
    expect(render('a\nb', 'a\nb')).toEqual([' a', ' b']);
    const before = 'p\nq\nr\ns';
    const after = 'q\nr2\ns\nt';
    const d = lineDiff(before, after);
    expect(
      d
        .filter((l) => l.op !== '+')
        .map((l) => l.text)
        .join('\n'),
    ).toBe(before);
    expect(
      d
        .filter((l) => l.op !== '-')
        .map((l) => l.text)
        .join('\n'),
    ).toBe(after);
  });
});

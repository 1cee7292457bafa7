import { query } from '../api.js';
import { field, fill, h, select } from '../dom.js';
import type { Session } from '../session.js';
import { effectBadge, errorBox, shown, when } from '../ui.js';
import { showWhy } from './why.js';

interface StreamedDecision {
  decisionId: string;
  effect: string;
  agent: string;
  user?: string | null;
  action: string;
  time: string;
}

const MAX_ROWS = 200;

/** Live decisions over server-sent events, filtered by the server; each row opens its "why". */
export function renderActivity(main: HTMLElement, _s: Session): () => void {
  const agent = h('input', { name: 'agent', autocomplete: 'off' });
  const user = h('input', { name: 'user', autocomplete: 'off' });
  const action = h('input', { name: 'action', autocomplete: 'off' });
  const effect = select('effect', [
    ['', 'any'],
    ['allow', 'allow'],
    ['deny', 'deny'],
    ['approval_required', 'approval required'],
  ]);
  const status = h('p', { class: 'muted', role: 'status' }, 'Connecting…');
  const rows = h('tbody', {});
  const why = h('div', { class: 'why-panel', 'aria-live': 'polite', tabindex: '-1', id: 'why' });
  let source: EventSource | null = null;

  const connect = () => {
    source?.close();
    rows.replaceChildren();
    // A new filter is a new stream: until it opens, nothing says "Live" (decisions made before
    // the new stream opens are not in it).
    status.textContent = 'Connecting…';
    const q = query({
      agent: agent.value.trim(),
      user: user.value.trim(),
      action: action.value.trim(),
      effect: effect.value,
    });
    source = new EventSource(`/v1/decisions/stream${q}`);
    source.addEventListener('open', () => (status.textContent = 'Live: new decisions appear at the top.'));
    source.addEventListener('error', () => (status.textContent = 'Disconnected; reconnecting…'));
    source.addEventListener('decision', (e) => {
      let d: StreamedDecision;
      try {
        d = JSON.parse((e as MessageEvent<string>).data) as StreamedDecision;
      } catch {
        return;
      }
      rows.prepend(row(d));
      while (rows.children.length > MAX_ROWS) rows.lastElementChild?.remove();
    });
  };
  const row = (d: StreamedDecision) =>
    h(
      'tr',
      { 'data-decision': d.decisionId },
      h('td', {}, when(d.time)),
      h('td', {}, effectBadge(d.effect)),
      h('td', {}, shown(d.agent)),
      h('td', {}, shown(d.user)),
      h('td', {}, shown(d.action)),
      h(
        'td',
        {},
        h(
          'button',
          {
            type: 'button',
            class: 'link',
            'aria-controls': 'why',
            onclick: () => {
              void showWhy(why, d.decisionId).then(() => why.focus());
            },
          },
          'Why?',
        ),
      ),
    );

  fill(
    main,
    h('h1', {}, 'Activity'),
    h(
      'form',
      {
        class: 'filters card',
        onsubmit: (e: Event) => {
          e.preventDefault();
          connect();
        },
      },
      field('Agent', agent),
      field('User', user),
      field('Action', action),
      field('Effect', effect),
      h('button', { type: 'submit' }, 'Apply filters'),
    ),
    status,
    h(
      'div',
      { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Live decisions' },
      h(
        'table',
        { class: 'activity' },
        h('caption', { class: 'visually-hidden' }, 'Live decisions, newest first'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Time', 'Effect', 'Agent', 'User', 'Action', 'Details'].map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        rows,
      ),
    ),
    why,
  );
  try {
    connect();
  } catch (err) {
    main.append(errorBox(err));
  }
  return () => source?.close();
}

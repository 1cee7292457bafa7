import { api, query } from '../api.js';
import { button, field, fill, h, kv, select, table } from '../dom.js';
import type { Session } from '../session.js';
import type { AuditItem, Page } from '../types.js';
import { effectBadge, errorBox, load, notice, section, shown, when } from '../ui.js';

interface Verify {
  ok?: boolean;
  valid?: boolean;
  records?: number;
  head?: unknown;
  checkpoints?: number;
  firstBad?: unknown;
  [k: string]: unknown;
}

/** A chain position `{seq, hash}` as "#12 sha256:ab…". */
function mark(v: unknown): HTMLElement | string {
  if (!v) return '—';
  if (typeof v !== 'object') return h('code', { class: 'hash' }, String(v));
  const o = v as { seq?: number; hash?: string; at?: string; time?: string };
  return h(
    'code',
    { class: 'hash' },
    `#${o.seq ?? '?'} ${o.hash ?? ''}${o.at || o.time ? ` (${when(o.at ?? o.time)})` : ''}`,
  );
}

const FILTERS = ['agent', 'user', 'action', 'type', 'decisionId'] as const;

/** Audit search with cursor paging, the chain's status and the evidence export. */
export function renderAudit(main: HTMLElement, _s: Session): void {
  const inputs = Object.fromEntries(
    FILTERS.map((k) => [k, h('input', { name: k, autocomplete: 'off' })]),
  ) as Record<(typeof FILTERS)[number], HTMLInputElement>;
  const effect = select('effect', [
    ['', 'any'],
    ['allow', 'allow'],
    ['deny', 'deny'],
    ['approval_required', 'approval required'],
  ]);
  const from = h('input', { name: 'from', type: 'datetime-local' });
  const to = h('input', { name: 'to', type: 'datetime-local' });
  const results = h('div', { 'aria-live': 'polite' });
  const chain = h('div', {});
  const exportLink = h(
    'a',
    { class: 'button', download: 'mandate-audit.jsonl', href: '/v1/audit/export' },
    'Export evidence (JSONL)',
  );
  const iso = (v: string) => (v ? new Date(v).toISOString() : '');
  const params = () => ({
    ...Object.fromEntries(FILTERS.map((k) => [k, inputs[k].value.trim()])),
    effect: effect.value,
    from: iso(from.value),
    to: iso(to.value),
  });
  const search = (cursor: string | null) =>
    load(results, async () => {
      const p = params();
      exportLink.href = `/v1/audit/export${query({ ...p, format: 'jsonl' })}`;
      const page = await api<Page<AuditItem>>('GET', `/v1/audit${query({ ...p, cursor, limit: 50 })}`);
      if (page.items.length === 0) return notice('No records match.');
      return [
        table(
          'Audit records',
          ['#', 'Time', 'Type', 'Effect', 'Agent', 'User', 'Action'],
          page.items.map((i) => [
            String(i.seq),
            when(i.event.time),
            i.event.type,
            i.event.effect ? effectBadge(i.event.effect) : '—',
            shown(i.event.agent),
            shown(i.event.user),
            shown(i.event.action),
          ]),
        ),
        page.nextCursor
          ? button('Next page', () => void search(page.nextCursor))
          : h('p', { class: 'muted' }, 'End of results.'),
      ];
    });
  const verify = () =>
    load(chain, async () => {
      const [v, o] = await Promise.all([
        api<Verify>('GET', '/v1/audit/verify'),
        api<{
          audit?: {
            lastCheckpoint?: { seq: number; time: string } | null;
            lastVerified?: { seq: number; status: string } | null;
          };
        }>('GET', '/v1/overview').catch(() => null),
      ]);
      const ok = v.ok ?? v.valid;
      const head = v.head;
      const checkpoint = o?.audit?.lastCheckpoint ?? null;
      const tail = o?.audit?.lastVerified;
      return kv([
        ['Status', h('strong', { class: ok ? 'ok' : 'bad' }, ok ? 'intact' : 'BROKEN')],
        ['Records checked', String(v.records ?? '—')],
        ['Head', mark(head)],
        ['Checkpoints', String(v.checkpoints ?? '—')],
        ['Last checkpoint', mark(checkpoint)],
        ...(v.firstBad ? ([['First bad record', JSON.stringify(v.firstBad)]] as [string, string][]) : []),
        [
          'Last verified',
          `now (full check)${tail ? `; the node's continuous check is at #${tail.seq}: ${tail.status}` : ''}`,
        ],
      ]);
    });

  fill(
    main,
    h('h1', {}, 'Audit'),
    section(
      'Chain',
      chain,
      h(
        'div',
        { class: 'actions' },
        button('Verify again', () => void verify()),
        exportLink,
      ),
    ),
    h(
      'form',
      {
        class: 'filters card',
        onsubmit: (e: Event) => {
          e.preventDefault();
          void search(null);
        },
      },
      h('h2', {}, 'Search'),
      field('Agent', inputs.agent),
      field('User', inputs.user),
      field('Action', inputs.action),
      field('Effect', effect),
      field('Event type', inputs.type),
      field('Decision id', inputs.decisionId),
      field('From', from),
      field('To', to),
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
    ),
    results,
  );
  void verify();
  void search(null).catch((err: unknown) => results.replaceChildren(errorBox(err)));
}

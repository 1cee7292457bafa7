import { api } from '../api.js';
import { fill, h, kv, svg } from '../dom.js';
import type { Session } from '../session.js';
import { load, section, when } from '../ui.js';

interface Overview {
  /** Per minute, oldest first: { minute, allow, deny, approval_required }. */
  decisionsPerMinute?: {
    minute?: string;
    at?: string;
    allow?: number;
    deny?: number;
    approval_required?: number;
  }[];
  pendingApprovals?: number;
  quarantinedTools?: number | unknown[];
  policyErrors?: number | unknown[];
  activePolicyVersion?: string | null;
  window?: { minutes: number; truncated: boolean; completeFrom?: string };
  audit?: {
    headSeq?: number;
    lastCheckpoint?: { seq: number; time: string } | null;
    lastVerified?: { seq: number; status: string; historyUnverified?: number } | null;
  };
}

const EFFECTS = ['allow', 'approval_required', 'deny'] as const;
const LABEL = { allow: 'allow', approval_required: 'approval required', deny: 'deny' };

const count = (v: number | unknown[] | undefined) => (Array.isArray(v) ? v.length : (v ?? 0));

/** A stacked bar per minute, oldest on the left; the totals are in the legend below it as text. */
function chart(rows: NonNullable<Overview['decisionsPerMinute']>): SVGElement {
  const W = 600;
  const H = 160;
  const max = Math.max(1, ...rows.map((r) => EFFECTS.reduce((n, e) => n + (r[e] ?? 0), 0)));
  const bw = rows.length ? W / rows.length : W;
  const bars: SVGElement[] = [];
  rows.forEach((r, i) => {
    let y = H;
    for (const e of EFFECTS) {
      const v = r[e] ?? 0;
      if (!v) continue;
      const hgt = (v / max) * (H - 10);
      y -= hgt;
      bars.push(
        svg('rect', { x: i * bw + 1, y, width: Math.max(1, bw - 2), height: hgt, class: `bar-${e}` }),
      );
    }
  });
  const label = (x: number, anchor: string, text: string) =>
    svg('text', { x, y: H + 14, 'text-anchor': anchor }, text);
  return svg(
    'svg',
    {
      viewBox: `0 0 ${W} ${H + 18}`,
      role: 'img',
      'aria-label': 'Decisions per minute by effect',
      class: 'chart',
    },
    svg('line', { x1: 0, y1: H, x2: W, y2: H, class: 'axis' }),
    ...bars,
    label(2, 'start', `${rows.length} min ago`),
    label(W - 2, 'end', `now (peak ${max}/min)`),
  );
}

export function renderOverview(main: HTMLElement, _s: Session): void {
  const body = h('div', {});
  fill(main, h('h1', {}, 'Overview'), body);
  void load(body, async () => {
    const o = await api<Overview>('GET', '/v1/overview');
    const rows = o.decisionsPerMinute ?? [];
    const total = (e: (typeof EFFECTS)[number]) => rows.reduce((n, r) => n + (r[e] ?? 0), 0);
    return [
      h(
        'div',
        { class: 'tiles' },
        h(
          'a',
          { class: 'tile', href: '#/inbox' },
          h('strong', {}, String(o.pendingApprovals ?? 0)),
          ' pending approvals',
        ),
        h(
          'a',
          { class: 'tile', href: '#/agents' },
          h('strong', {}, String(count(o.quarantinedTools))),
          ' quarantined tools',
        ),
        h(
          'a',
          { class: 'tile', href: '#/policies' },
          h('strong', {}, String(count(o.policyErrors))),
          ' policy errors',
        ),
      ),
      section(
        `Decisions per minute (last ${o.window?.minutes ?? 60} minutes${o.window?.truncated ? `; too many to count before ${when(o.window.completeFrom)}` : ''})`,
        chart(rows),
        h(
          'ul',
          { class: 'legend' },
          EFFECTS.map((e) =>
            h('li', {}, h('span', { class: `swatch bar-${e}` }), `${LABEL[e]}: ${total(e)}`),
          ),
        ),
      ),
      section(
        'Audit chain',
        kv([
          ['Head', o.audit?.headSeq != null ? `record #${o.audit.headSeq}` : '—'],
          [
            'Last checkpoint',
            o.audit?.lastCheckpoint
              ? `#${o.audit.lastCheckpoint.seq} at ${when(o.audit.lastCheckpoint.time)}`
              : 'none yet',
          ],
          [
            'Last verified',
            o.audit?.lastVerified
              ? `up to #${o.audit.lastVerified.seq}: ${o.audit.lastVerified.status}${
                  o.audit.lastVerified.historyUnverified
                    ? ` (${o.audit.lastVerified.historyUnverified} earlier records still to check)`
                    : ''
                }`
              : '—',
          ],
          [
            'Active policy',
            o.activePolicyVersion ? h('code', { class: 'hash' }, o.activePolicyVersion) : '—',
          ],
        ]),
      ),
    ];
  });
}

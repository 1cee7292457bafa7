import { api, query } from '../api.js';
import { flaggedKinds, isErasedApproval } from '../display.js';
import { button, fill, h, kv, type Child } from '../dom.js';
import type { Session } from '../session.js';
import type { Approval, ApprovalHistoryItem, Page } from '../types.js';
import {
  argsTable,
  effectBadge,
  errorBox,
  findings,
  hiddenAlert,
  load,
  notice,
  shown,
  timeLeft,
  when,
  type Findings,
} from '../ui.js';

/** Approvals inbox: pending items for my roles (oldest first) and a History tab of resolved ones. */
export function renderInbox(main: HTMLElement, s: Session, id: string | null): (() => void) | void {
  if (id) return one(main, s, decodeURIComponent(id));
  const tabs = {
    pending: h(
      'button',
      { type: 'button', role: 'tab', id: 'tab-pending', 'aria-controls': 'inbox-panel' },
      'Pending',
    ),
    history: h(
      'button',
      { type: 'button', role: 'tab', id: 'tab-history', 'aria-controls': 'inbox-panel' },
      'History',
    ),
  };
  const panel = h('div', { role: 'tabpanel', id: 'inbox-panel' });
  let current: keyof typeof tabs = 'pending';
  const show = (which: keyof typeof tabs) => {
    current = which;
    for (const [k, tab] of Object.entries(tabs)) {
      tab.setAttribute('aria-selected', String(k === which));
      // Roving focus (the ARIA tabs pattern): Tab reaches the selected tab, arrows move between them.
      tab.tabIndex = k === which ? 0 : -1;
    }
    panel.setAttribute('aria-labelledby', tabs[which].id);
    void (which === 'pending' ? pending(panel, s) : history(panel, s));
  };
  for (const [k, tab] of Object.entries(tabs) as [keyof typeof tabs, HTMLButtonElement][]) {
    tab.addEventListener('click', () => show(k));
    tab.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
      const next = k === 'pending' ? 'history' : 'pending';
      show(next);
      tabs[next].focus();
    });
  }
  const timeLeftTimer = window.setInterval(() => {
    for (const el of panel.querySelectorAll<HTMLElement>('.timeleft[data-expires]'))
      el.textContent = timeLeft(el.dataset.expires!);
  }, 30_000);
  fill(
    main,
    h('h1', {}, 'Approvals'),
    h(
      'div',
      { class: 'inbox-bar' },
      h('div', { role: 'tablist', 'aria-label': 'Approvals', class: 'tabs' }, tabs.pending, tabs.history),
      button('Refresh', () => show(current)),
    ),
    panel,
  );
  show('pending');
  return () => window.clearInterval(timeLeftTimer);
}

/** One approval by id, whatever its status: the server decides whether this person may see it. */
function one(main: HTMLElement, s: Session, id: string): void {
  const body = h('div', {});
  fill(main, h('h1', {}, 'Approval'), h('p', {}, h('a', { href: '#/inbox' }, 'Back to the inbox')), body);
  void load(body, async () => {
    const a = await api<Approval>('GET', `/v1/approvals/${encodeURIComponent(id)}`);
    return approvalCard(a, s);
  });
}

/** One page of the inbox; the API's own default, far under its maximum of 1,000. */
const PAGE_SIZE = 100;

/**
 * A list read page by page with the API's cursor (`GET /v1/approvals` answers newest first). The
 * first page is drawn at once; while the API says there is more, a notice says so — nothing is
 * left out silently — with a button that loads the next (older) page.
 */
async function paged(
  panel: HTMLElement,
  params: Record<string, string>,
  draw: (items: Approval[]) => HTMLElement[],
  opts: { empty: string; more: (shown: number, read: number) => string; oldestFirst: boolean },
): Promise<void> {
  await load(panel, async () => {
    let page = await api<Page<Approval>>('GET', `/v1/approvals${query({ ...params, limit: PAGE_SIZE })}`);
    let drawn = 0;
    let read = 0;
    const list = h('ol', { class: 'inbox' });
    const more = h('div', { class: 'more-pages' });
    const add = (items: Approval[]) => {
      // Oldest first for pending items (the oldest waits longest and expires first): an older
      // page goes above what is shown; otherwise below, newest first as the API answers.
      const els = draw(opts.oldestFirst ? [...items].reverse() : items).map((el) => h('li', {}, el));
      if (opts.oldestFirst) list.prepend(...els);
      else list.append(...els);
      drawn += els.length;
      read += items.length;
    };
    const status = (focus = false) => {
      if (page.nextCursor === null) return more.replaceChildren();
      const out = h('div', { 'aria-live': 'polite' });
      const btn = button(`Load ${PAGE_SIZE} older`, () => {
        btn.disabled = true;
        api<Page<Approval>>(
          'GET',
          `/v1/approvals${query({ ...params, limit: PAGE_SIZE, cursor: page.nextCursor })}`,
        )
          .then((next) => {
            page = next;
            add(next.items);
            // The button is redrawn with the notice: keep the keyboard where it was.
            status(true);
          })
          .catch((err: unknown) => {
            btn.disabled = false;
            out.replaceChildren(errorBox(err));
          });
      });
      more.replaceChildren(
        h('p', { class: 'notice more-notice', role: 'status' }, opts.more(drawn, read)),
        btn,
        out,
      );
      if (focus) btn.focus();
    };
    add(page.items);
    if (drawn === 0 && page.nextCursor === null) return notice(opts.empty);
    status();
    // Older pages load above a pending list (oldest first), so the notice and its button sit there.
    return opts.oldestFirst ? [more, list] : [list, more];
  });
}

async function pending(panel: HTMLElement, s: Session): Promise<void> {
  await paged(panel, { status: 'pending' }, (items) => items.map((a) => approvalCard(a, s)), {
    empty: 'Nothing is waiting for you.',
    more: (n) =>
      `Showing the ${n} newest pending approvals: older ones, which expire first, are not shown yet.`,
    oldestFirst: true,
  });
}

async function history(panel: HTMLElement, _s: Session): Promise<void> {
  await paged(
    panel,
    {},
    (items) =>
      items
        .filter((a) => a.status !== 'pending')
        .map((a) => {
          const f = findings();
          const body = [
            h('h2', {}, shown(a.action, f, 'Action'), ` · ${a.status}`),
            h('p', { class: 'summary' }, summaryText(a.summary, f)),
            kv([
              ['Agent', shown(a.agent, f, 'Agent')],
              ['On behalf of', shown(a.user, f, 'On behalf of')],
              ['Requested', when(a.requestedAt)],
              ['Resolved', when(a.resolvedAt)],
              ['Used', a.consumedAt ? when(a.consumedAt) : 'not used'],
              ['Votes', votes(a, f)],
            ]),
          ];
          return h('article', { class: 'card approval' }, body[0], hiddenAlert(f), ...body.slice(1));
        }),
    {
      empty: 'No resolved approvals yet.',
      more: (n, read) =>
        `Showing ${n} resolved of the ${read} newest approvals: older ones are not shown yet.`,
      oldestFirst: false,
    },
  );
}

/** The summary: the server escapes and flags it when it is made; escaped again for older records. */
function summaryText(summary: string, f: Findings): Child {
  const kinds = flaggedKinds(summary);
  if (kinds.length) {
    for (const k of kinds) f.hidden.add(k);
    f.where.add('Summary');
  }
  return shown(summary, f, 'Summary');
}

function votes(a: Approval, f: Findings): HTMLElement | string {
  if (a.votes.length === 0) return 'none yet';
  return h(
    'ul',
    { class: 'votes' },
    a.votes.map((v) =>
      h(
        'li',
        {},
        shown(v.approver, f, 'Votes'),
        `: ${v.verdict === 'approve' ? 'approved' : 'denied'} ${when(v.at)}`,
        v.comment ? [' — “', shown(v.comment, f, 'Votes'), '”'] : '',
        lapsed(a, v.approver) && v.verdict === 'approve'
          ? ' — no longer counts (no longer active, or no longer holds the role)'
          : '',
      ),
    ),
  );
}

/** Whether `approver`'s approving vote on `a` no longer counts (the API's `lapsedVotes`). */
const lapsed = (a: Approval, approver: string): boolean => a.lapsedVotes?.includes(approver) ?? false;

/** One pending approval: what runs (the real args), why it asks, what the approval is bound to, and the vote. */
function approvalCard(a: Approval, _s: Session): HTMLElement {
  // The approving votes that count now: a lapsed one is shown, never counted.
  const approvals = a.votes.filter((v) => v.verdict === 'approve' && !lapsed(a, v.approver)).length;
  const headingId = `apr-${a.id}`;
  const comment = h('textarea', { id: `comment-${a.id}`, name: 'comment', rows: 2, maxlength: 2000 });
  const out = h('div', { class: 'vote-result', 'aria-live': 'polite' });
  const why = h('div', { class: 'why-policy' });
  const recent = h('div', { class: 'recent' });
  // SECURITY: every text below that an agent (or another approver) shaped goes through `shown` or
  // `argsTable`: hidden characters escaped and flagged, so what the approver reads is what runs.
  const f = findings();
  const vote = (verdict: 'approve' | 'deny') => {
    out.replaceChildren();
    api<Approval>('POST', `/v1/approvals/${encodeURIComponent(a.id)}/${verdict}`, {
      comment: comment.value.trim() || null,
    })
      .then((r) =>
        out.replaceChildren(
          h(
            'p',
            { class: 'ok', role: 'status' },
            `Recorded: ${verdict === 'approve' ? 'approved' : 'denied'}. Status now ${r.status}.`,
          ),
        ),
      )
      .catch((err: unknown) => out.replaceChildren(errorBox(err)));
  };
  const heading = h(
    'h2',
    { id: headingId },
    shown(a.action, f, 'Action'),
    ' ',
    h('span', { class: 'muted' }, 'for ', shown(a.user, f, 'On behalf of', 'no user')),
  );
  const summary = h('p', { class: 'summary' }, summaryText(a.summary, f));
  const facts = kv([
    ['Agent', shown(a.agent, f, 'Agent')],
    ['On behalf of', shown(a.user, f, 'On behalf of')],
    ['Resource', shown(a.resource, f, 'Resource')],
    ['Needs', [shown(a.role, f, 'Role'), ` (${approvals} of ${a.quorum} approvals)`]],
    ['Time left', h('span', { class: 'timeleft', 'data-expires': a.expiresAt }, timeLeft(a.expiresAt))],
  ]);
  const args = argsTable(a.args, {
    findings: f,
    redactionNote: 'A value the agent supplied is hidden by redaction; you are approving it unseen.',
    ...(isErasedApproval(a)
      ? {
          erased: {
            note: 'The values the agent supplied were erased with the user’s personal data; you are approving them unseen.',
          },
        }
      : {}),
  });
  const binding = kv([
    ['Args digest', h('code', { class: 'hash' }, a.callHash)],
    ['Policy version', h('code', {}, a.policyVersion)],
    ['Expires', when(a.expiresAt)],
    ['Use', 'single use: the first identical call consumes it'],
    ['Quorum', `${approvals} of ${a.quorum}`],
    ['Votes', votes(a, f)],
  ]);
  const card = h(
    'article',
    { class: 'card approval', 'aria-labelledby': headingId, 'data-approval': a.id },
    heading,
    hiddenAlert(f),
    summary,
    facts,
    h('h3', {}, 'Arguments (exactly what will run)'),
    args,
    h('h3', {}, 'Why it asks'),
    why,
    h(
      'details',
      { class: 'binding', open: true },
      h('summary', {}, 'What this approval is bound to'),
      binding,
    ),
    h('h3', {}, 'Recent activity of ', shown(a.agent), ' for ', shown(a.user, undefined, '', 'no user')),
    recent,
    h(
      'form',
      { class: 'vote', onsubmit: (e: Event) => e.preventDefault() },
      h('label', { for: comment.id }, 'Comment (recorded in the audit trail)'),
      comment,
      h(
        'div',
        { class: 'actions' },
        button('Approve', () => vote('approve'), 'primary approve'),
        button('Deny', () => vote('deny'), 'danger deny'),
      ),
      out,
    ),
  );
  void recentHistory(recent, a);
  void whyItAsks(why, a);
  return card;
}

/** The policy and `@reason` that asked, as the approval records them. */
async function whyItAsks(target: HTMLElement, a: Approval): Promise<void> {
  if (a.policy) {
    const { id, reason } = a.policy;
    target.replaceChildren(
      h(
        'ul',
        { class: 'reasons' },
        h('li', {}, h('code', {}, shown(id)), reason ? [' — ', shown(reason)] : ''),
      ),
    );
    return;
  }
  // Approvals requested before the policy was kept on them: the decision names it (an admin reads it).
  try {
    const d = await api<{ reasons?: { policyId?: string; reason?: string; principal?: string }[] }>(
      'GET',
      `/v1/decisions/${encodeURIComponent(a.decisionId)}`,
    );
    const rows = (d.reasons ?? []).map((r) =>
      h(
        'li',
        {},
        h('code', {}, shown(String(r.policyId ?? ''), undefined, '', '')),
        r.reason ? [' — ', shown(r.reason)] : '',
        r.principal ? h('span', { class: 'muted' }, ' (for the ', shown(r.principal), ')') : '',
      ),
    );
    target.replaceChildren(
      rows.length ? h('ul', { class: 'reasons' }, rows) : h('p', { class: 'muted' }, 'No policy recorded.'),
    );
  } catch {
    target.replaceChildren(
      h(
        'p',
        { class: 'muted' },
        'A policy requiring ',
        shown(a.role),
        ' approval asked; this approval does not name it.',
      ),
    );
  }
}

/** The last decisions of the approval's agent for its user (`GET /v1/approvals/:id/history`). */
async function recentHistory(target: HTMLElement, a: Approval): Promise<void> {
  try {
    const page = await api<{ items: ApprovalHistoryItem[] }>(
      'GET',
      `/v1/approvals/${encodeURIComponent(a.id)}/history${query({ limit: 10 })}`,
    );
    if (page.items.length === 0)
      return target.replaceChildren(h('p', { class: 'muted' }, 'No earlier decisions.'));
    target.replaceChildren(
      h(
        'ul',
        { class: 'history' },
        page.items.map((i) =>
          h(
            'li',
            { 'data-decision': i.decisionId ?? '' },
            effectBadge(i.effect ?? undefined),
            ' ',
            shown(i.action, undefined, '', ''),
            ' ',
            h('span', { class: 'muted' }, when(i.time)),
            i.policies.length
              ? h(
                  'span',
                  { class: 'muted' },
                  ' · ',
                  i.policies.map((p, n) => [n ? ', ' : '', shown(p)]),
                )
              : '',
          ),
        ),
      ),
    );
  } catch (err) {
    target.replaceChildren(errorBox(err));
  }
}

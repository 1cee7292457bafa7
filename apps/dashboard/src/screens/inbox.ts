import { api, query } from '../api.js';
import { button, fill, h, kv } from '../dom.js';
import type { Session } from '../session.js';
import type { Approval, ApprovalHistoryItem, Page } from '../types.js';
import { argsTable, effectBadge, errorBox, load, notice, timeLeft, when } from '../ui.js';

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

async function pending(panel: HTMLElement, s: Session): Promise<void> {
  await load(panel, async () => {
    const page = await api<Page<Approval>>('GET', `/v1/approvals${query({ status: 'pending', limit: 200 })}`);
    // The API answers newest first; the oldest waits longest and expires first.
    const items = [...page.items].reverse();
    if (items.length === 0) return notice('Nothing is waiting for you.');
    return h(
      'ol',
      { class: 'inbox' },
      items.map((a) => h('li', {}, approvalCard(a, s))),
    );
  });
}

async function history(panel: HTMLElement, _s: Session): Promise<void> {
  await load(panel, async () => {
    const page = await api<Page<Approval>>('GET', `/v1/approvals${query({ limit: 200 })}`);
    const done = page.items.filter((a) => a.status !== 'pending');
    if (done.length === 0) return notice('No resolved approvals yet.');
    return h(
      'ol',
      { class: 'inbox' },
      done.map((a) =>
        h(
          'li',
          {},
          h(
            'article',
            { class: 'card approval' },
            h('h2', {}, `${a.action} · ${a.status}`),
            h('p', { class: 'summary' }, a.summary),
            kv([
              ['Agent', a.agent],
              ['On behalf of', a.user ?? '—'],
              ['Requested', when(a.requestedAt)],
              ['Resolved', when(a.resolvedAt)],
              ['Used', a.consumedAt ? when(a.consumedAt) : 'not used'],
              ['Votes', votes(a)],
            ]),
          ),
        ),
      ),
    );
  });
}

function votes(a: Approval): HTMLElement | string {
  if (a.votes.length === 0) return 'none yet';
  return h(
    'ul',
    { class: 'votes' },
    a.votes.map((v) =>
      h(
        'li',
        {},
        `${v.approver}: ${v.verdict === 'approve' ? 'approved' : 'denied'} ${when(v.at)}`,
        v.comment ? ` — “${v.comment}”` : '',
      ),
    ),
  );
}

/** One pending approval: what runs (the real args), why it asks, what the approval is bound to, and the vote. */
function approvalCard(a: Approval, _s: Session): HTMLElement {
  const approvals = a.votes.filter((v) => v.verdict === 'approve').length;
  const headingId = `apr-${a.id}`;
  const comment = h('textarea', { id: `comment-${a.id}`, name: 'comment', rows: 2, maxlength: 2000 });
  const out = h('div', { class: 'vote-result', 'aria-live': 'polite' });
  const why = h('div', { class: 'why-policy' });
  const recent = h('div', { class: 'recent' });
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
  const card = h(
    'article',
    { class: 'card approval', 'aria-labelledby': headingId, 'data-approval': a.id },
    h('h2', { id: headingId }, a.action, ' ', h('span', { class: 'muted' }, `for ${a.user ?? 'no user'}`)),
    h('p', { class: 'summary' }, a.summary),
    kv([
      ['Agent', a.agent],
      ['On behalf of', a.user ?? '—'],
      ['Resource', a.resource ?? '—'],
      ['Needs', `${a.role} (${approvals} of ${a.quorum} approvals)`],
      ['Time left', h('span', { class: 'timeleft', 'data-expires': a.expiresAt }, timeLeft(a.expiresAt))],
    ]),
    h('h3', {}, 'Arguments (exactly what will run)'),
    argsTable(a.args),
    h('h3', {}, 'Why it asks'),
    why,
    h(
      'details',
      { class: 'binding', open: true },
      h('summary', {}, 'What this approval is bound to'),
      kv([
        ['Args digest', h('code', { class: 'hash' }, a.callHash)],
        ['Policy version', h('code', {}, a.policyVersion)],
        ['Expires', when(a.expiresAt)],
        ['Use', 'single use: the first identical call consumes it'],
        ['Quorum', `${approvals} of ${a.quorum}`],
        ['Votes', votes(a)],
      ]),
    ),
    h('h3', {}, `Recent activity of ${a.agent} for ${a.user ?? 'no user'}`),
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
      h('ul', { class: 'reasons' }, h('li', {}, h('code', {}, id), reason ? ` — ${reason}` : '')),
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
        h('code', {}, String(r.policyId ?? '')),
        r.reason ? ` — ${r.reason}` : '',
        r.principal ? h('span', { class: 'muted' }, ` (for the ${r.principal})`) : '',
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
        `A policy requiring ${a.role} approval asked; this approval does not name it.`,
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
            i.action ?? '',
            ' ',
            h('span', { class: 'muted' }, when(i.time)),
            i.policies.length ? h('span', { class: 'muted' }, ` · ${i.policies.join(', ')}`) : '',
          ),
        ),
      ),
    );
  } catch (err) {
    target.replaceChildren(errorBox(err));
  }
}

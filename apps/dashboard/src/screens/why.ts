import { api } from '../api.js';
import { h, kv, type Child } from '../dom.js';
import { argsTable, effectBadge, load, when } from '../ui.js';

/** `GET /v1/decisions/:id` with the "why" (fields the server does not give are shown as —). */
interface Why {
  decisionId: string;
  effect: string;
  agent: string;
  user: string | null;
  action: string;
  resource: string | null;
  time: string;
  policyVersion?: string;
  reasons?: unknown;
  errors?: unknown;
  /** The determining policies per principal: `[{ policyId, reason }]`. */
  determining?: { agent?: unknown; user?: unknown };
  grantChain?: ChainGrant[];
  grantId?: string | null;
  approval?: {
    id: string;
    status: string;
    role: string;
    quorum: number;
    votes: { approver: string; verdict: string; comment: string | null; at: string }[];
  } | null;
  argsDigest?: string | null;
  approvalId?: string | null;
  args?: unknown;
  latencyMs?: number | null;
  nodeId?: string | null;
  /** chain: verified (checked by the node's tail verifier), pending, tampered or unknown. */
  audit?: { seq?: number; hash?: string; chain?: string } | null;
}

interface ChainGrant {
  id: string;
  user?: string;
  agent?: string;
  actions?: string[];
  expiresAt?: string;
  revokedAt?: string | null;
  missing?: boolean;
}

function grantItems(chain: ChainGrant[] | undefined, grantId: string | null | undefined): Child {
  if (!chain || chain.length === 0) return grantId ? h('code', {}, grantId) : '—';
  return h(
    'ol',
    { class: 'reasons' },
    chain.map((g) =>
      h(
        'li',
        {},
        h('code', {}, g.id),
        g.missing
          ? ' (no longer stored)'
          : ` — ${g.user} → ${g.agent}: ${(g.actions ?? []).join(', ')}; expires ${when(g.expiresAt)}${g.revokedAt ? `; revoked ${when(g.revokedAt)}` : ''}`,
      ),
    ),
  );
}

function approvalItem(a: Why['approval'], id: string | null | undefined): Child {
  if (!a) return id ? h('code', {}, id) : '—';
  return h(
    'div',
    {},
    h('code', {}, a.id),
    ` — ${a.status}, ${a.role}, quorum ${a.quorum}`,
    a.votes.length
      ? h(
          'ul',
          { class: 'votes' },
          a.votes.map((v) =>
            h('li', {}, `${v.approver}: ${v.verdict}${v.comment ? ` — “${v.comment}”` : ''}`),
          ),
        )
      : null,
  );
}

/** A policy list entry as the server gives it: a string id, or {id|policyId, reason}. */
function policyItems(list: unknown): Child {
  if (!Array.isArray(list) || list.length === 0) return '—';
  return h(
    'ul',
    { class: 'reasons' },
    list.map((p) => {
      if (typeof p === 'string') return h('li', {}, h('code', {}, p));
      const o = p as Record<string, unknown>;
      const id = String(o.policyId ?? o.id ?? o.code ?? '?');
      const reason = o.reason ?? o.message;
      return h('li', {}, h('code', {}, id), reason ? ` — ${String(reason)}` : '');
    }),
  );
}

function plain(v: unknown): Child {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'object') return h('pre', { class: 'json' }, JSON.stringify(v, null, 2));
  return String(v);
}

/** Fills `target` with the "why" of one decision. */
export async function showWhy(target: HTMLElement, decisionId: string): Promise<void> {
  await load(target, async () => {
    const d = await api<Why>('GET', `/v1/decisions/${encodeURIComponent(decisionId)}`);
    const pol = d.determining ?? {};
    return h(
      'div',
      { class: 'why' },
      h('h3', {}, 'Why: ', effectBadge(d.effect), ' ', d.action),
      kv([
        ['Decision', h('code', {}, d.decisionId)],
        ['Time', when(d.time)],
        ['Agent', d.agent],
        ['On behalf of', d.user ?? '—'],
        ['Resource', d.resource ?? '—'],
        ['Policies (agent)', policyItems(pol.agent ?? (d.determining ? undefined : d.reasons))],
        ['Policies (user)', policyItems(pol.user)],
        ['Errors', policyItems(d.errors)],
        ['Grant chain', grantItems(d.grantChain, d.grantId)],
        ['Approval', approvalItem(d.approval, d.approvalId)],
        ['Args digest', d.argsDigest ? h('code', { class: 'hash' }, d.argsDigest) : '—'],
        ['Policy version', d.policyVersion ? h('code', {}, d.policyVersion) : '—'],
        ['Latency', d.latencyMs != null ? `${d.latencyMs} ms` : '—'],
        ['Node', d.nodeId ?? '—'],
        ['Audit record', d.audit?.seq != null ? `#${d.audit.seq}` : '—'],
        ['Record hash', d.audit?.hash ? h('code', { class: 'hash' }, d.audit.hash) : '—'],
        ['Chain status', plain(d.audit?.chain)],
      ]),
      h('h4', {}, 'Arguments (redacted copy)'),
      d.args === undefined ? h('p', { class: 'muted' }, 'Not given.') : argsTable(d.args),
    );
  });
}

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
  policies?: { agent?: unknown; user?: unknown } | unknown;
  grantChain?: unknown;
  grantId?: string | null;
  approval?: unknown;
  approvalId?: string | null;
  args?: unknown;
  latencyMs?: number | null;
  nodeId?: string | null;
  audit?: { seq?: number; hash?: string; chain?: unknown; verified?: unknown } | null;
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
      const id = String(o.id ?? o.policyId ?? '?');
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
    const pol = (d.policies ?? {}) as { agent?: unknown; user?: unknown };
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
        ['Policies (agent)', policyItems(pol.agent ?? (pol.user === undefined ? d.reasons : undefined))],
        ['Policies (user)', policyItems(pol.user)],
        ['Errors', policyItems(d.errors)],
        ['Grant chain', plain(d.grantChain ?? d.grantId)],
        ['Approval', plain(d.approval ?? d.approvalId)],
        ['Policy version', d.policyVersion ? h('code', {}, d.policyVersion) : '—'],
        ['Latency', d.latencyMs != null ? `${d.latencyMs} ms` : '—'],
        ['Node', d.nodeId ?? '—'],
        ['Audit record', d.audit?.seq != null ? `#${d.audit.seq}` : '—'],
        ['Record hash', d.audit?.hash ? h('code', { class: 'hash' }, d.audit.hash) : '—'],
        ['Chain', plain(d.audit?.chain ?? d.audit?.verified)],
      ]),
      h('h4', {}, 'Arguments (redacted copy)'),
      d.args === undefined ? h('p', { class: 'muted' }, 'Not given.') : argsTable(d.args),
    );
  });
}

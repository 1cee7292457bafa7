import { api } from '../api.js';
import { h, kv, type Child } from '../dom.js';
import { escapeLine } from '../display.js';
import {
  argsTable,
  effectBadge,
  findings,
  hiddenAlert,
  jsonBlock,
  load,
  shown,
  when,
  type Findings,
} from '../ui.js';

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

function grantItems(chain: ChainGrant[] | undefined, grantId: string | null | undefined, f: Findings): Child {
  if (!chain || chain.length === 0) return grantId ? h('code', {}, shown(grantId)) : '—';
  return h(
    'ol',
    { class: 'reasons' },
    chain.map((g) =>
      h(
        'li',
        {},
        h('code', {}, shown(g.id)),
        g.missing
          ? ' (no longer stored)'
          : [
              ' — ',
              shown(g.user, f, 'Grant chain'),
              ' → ',
              shown(g.agent, f, 'Grant chain'),
              ': ',
              (g.actions ?? []).map((a, i) => [i ? ', ' : '', shown(a, f, 'Grant chain')]),
              `; expires ${when(g.expiresAt)}${g.revokedAt ? `; revoked ${when(g.revokedAt)}` : ''}`,
            ],
      ),
    ),
  );
}

function approvalItem(a: Why['approval'], id: string | null | undefined, f: Findings): Child {
  if (!a) return id ? h('code', {}, shown(id)) : '—';
  return h(
    'div',
    {},
    h('code', {}, shown(a.id)),
    ` — ${a.status}, `,
    shown(a.role),
    `, quorum ${a.quorum}`,
    a.votes.length
      ? h(
          'ul',
          { class: 'votes' },
          a.votes.map((v) =>
            h(
              'li',
              {},
              shown(v.approver, f, 'Approval'),
              `: ${v.verdict}`,
              v.comment ? [' — “', shown(v.comment, f, 'Approval'), '”'] : '',
            ),
          ),
        )
      : null,
  );
}

/** A policy list entry as the server gives it: a string id, or {id|policyId, reason}. */
function policyItems(list: unknown, f: Findings, where: string): Child {
  if (!Array.isArray(list) || list.length === 0) return '—';
  return h(
    'ul',
    { class: 'reasons' },
    list.map((p) => {
      if (typeof p === 'string') return h('li', {}, h('code', {}, shown(p, f, where)));
      const o = p as Record<string, unknown>;
      const id = String(o.policyId ?? o.id ?? o.code ?? '?');
      const reason = o.reason ?? o.message;
      return h(
        'li',
        {},
        h('code', {}, shown(id, f, where)),
        reason ? [' — ', shown(String(reason), f, where)] : '',
      );
    }),
  );
}

function plain(v: unknown): Child {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'object') return jsonBlock(v);
  return escapeLine(String(v)).text;
}

/** Fills `target` with the "why" of one decision. */
export async function showWhy(target: HTMLElement, decisionId: string): Promise<void> {
  await load(target, async () => {
    const d = await api<Why>('GET', `/v1/decisions/${encodeURIComponent(decisionId)}`);
    const pol = d.determining ?? {};
    // SECURITY: the agent shaped much of a decision (ids, resource, args, an approver's comment):
    // every such text is escaped and flagged (`shown`, `argsTable`), as in the inbox.
    const f = findings();
    const title = h('h3', {}, 'Why: ', effectBadge(d.effect), ' ', shown(d.action, f, 'Action'));
    const facts = kv([
      ['Decision', h('code', {}, shown(d.decisionId))],
      ['Time', when(d.time)],
      ['Agent', shown(d.agent, f, 'Agent')],
      ['On behalf of', shown(d.user, f, 'On behalf of')],
      ['Resource', shown(d.resource, f, 'Resource')],
      ['Policies (agent)', policyItems(pol.agent ?? (d.determining ? undefined : d.reasons), f, 'Policies')],
      ['Policies (user)', policyItems(pol.user, f, 'Policies')],
      ['Errors', policyItems(d.errors, f, 'Errors')],
      ['Grant chain (now, from the store)', grantItems(d.grantChain, d.grantId, f)],
      ['Approval (now, from the store)', approvalItem(d.approval, d.approvalId, f)],
      ['Args digest', d.argsDigest ? h('code', { class: 'hash' }, d.argsDigest) : '—'],
      ['Policy version', d.policyVersion ? h('code', {}, d.policyVersion) : '—'],
      ['Latency', d.latencyMs != null ? `${d.latencyMs} ms` : '—'],
      ['Node', d.nodeId ?? '—'],
      ['Audit record', d.audit?.seq != null ? `#${d.audit.seq}` : '—'],
      ['Record hash', d.audit?.hash ? h('code', { class: 'hash' }, d.audit.hash) : '—'],
      ['Chain status', plain(d.audit?.chain)],
      [
        'Covered by it',
        h(
          'span',
          { class: 'muted' },
          'this decision’s record: effect, policies, args, the grant and approval ids. The grant chain and approval shown above are read from the store as they are now; their history is in the trail’s grant and approval records.',
        ),
      ],
    ]);
    const args =
      d.args === undefined
        ? h('p', { class: 'muted' }, 'Not given.')
        : argsTable(d.args, {
            findings: f,
            redactionNote: 'A value the agent supplied is hidden by redaction in this copy.',
          });
    return h(
      'div',
      { class: 'why' },
      title,
      hiddenAlert(f),
      facts,
      h('h4', {}, 'Arguments (redacted copy)'),
      args,
    );
  });
}

import { api } from '../api.js';
import { fill, h, table } from '../dom.js';
import { diffView } from '../diff-view.js';
import { escapeForDisplay } from '../display.js';
import type { Session } from '../session.js';
import { errorBox, jsonBlock, load, notice, section, shown, when } from '../ui.js';

interface Agent {
  id: string;
  roles: string[];
  status: string;
  attributes: Record<string, unknown>;
}
interface Entities {
  agents: Agent[];
  users: unknown[];
  resources: unknown[];
}
interface Tool {
  action: string;
  description?: string;
  risk?: string;
  resource?: string;
  summary?: string;
}
interface Pin {
  server: string;
  tool: string;
  /** The action the gateway maps the tool to (`<actionPrefix><tool>`); null when its upstream is no longer configured. */
  action: string | null;
  hash: string;
  definition: Record<string, unknown>;
  status: 'approved' | 'quarantined';
  updatedAt: string;
  approvedBy: string | null;
  approvedDefinition?: Record<string, unknown> | null;
  approvedHash?: string | null;
}

const pretty = (v: unknown) => JSON.stringify(v ?? {}, null, 2);

/** Agents (suspend, resume), the tool registry, and the gateway's pinned MCP tools (approve a changed one). */
export function renderAgents(main: HTMLElement, _s: Session): void {
  const agents = h('div', {});
  const tools = h('div', {});
  const pins = h('div', {});
  fill(
    main,
    h('h1', {}, 'Agents and tools'),
    section('Agents', agents),
    section('Pinned MCP tools', pins),
    section('Tool registry', tools),
  );
  void showAgents(agents);
  void showPins(pins);
  void load(tools, async () => {
    const r = await api<{ items: Tool[] }>('GET', '/v1/tools');
    if (r.items.length === 0) return notice('No tools registered.');
    return table(
      'Tool registry',
      ['Action', 'Risk', 'Resource', 'Approver summary', 'Description'],
      r.items.map((t) => [
        // SECURITY: a description can carry instructions in invisible (tag) characters: escaped, flagged.
        h('code', {}, shown(t.action)),
        shown(t.risk),
        shown(t.resource),
        shown(t.summary),
        shown(t.description, undefined, '', ''),
      ]),
    );
  });
}

/** `POST /v1/agents/:id/suspend|resume`: one agent's status, without resending the entity document. */
async function setStatus(agent: Agent, status: 'active' | 'suspended'): Promise<void> {
  const verb = status === 'suspended' ? 'suspend' : 'resume';
  await api('POST', `/v1/agents/${encodeURIComponent(agent.id)}/${verb}`);
}

function showAgents(target: HTMLElement): Promise<void> {
  return load(target, async () => {
    const doc = await api<Entities>('GET', '/v1/entities');
    if (doc.agents.length === 0) return notice('No agents.');
    return table(
      'Agents',
      ['Agent', 'Roles', 'Status', 'Action'],
      doc.agents.map((a) => {
        const out = h('span', {});
        const suspended = a.status === 'suspended';
        const btn = h(
          'button',
          {
            type: 'button',
            class: suspended ? '' : 'danger',
            onclick: () => {
              btn.disabled = true;
              setStatus(a, suspended ? 'active' : 'suspended')
                .then(() => showAgents(target))
                .catch((err: unknown) => {
                  btn.disabled = false;
                  out.replaceChildren(errorBox(err));
                });
            },
          },
          suspended ? `Resume ${a.id}` : `Suspend ${a.id}`,
        );
        return [
          h('code', {}, shown(a.id)),
          shown(a.roles.join(', ')),
          h('span', { class: `badge status-${a.status}` }, a.status),
          h('div', {}, btn, out),
        ];
      }),
    );
  });
}

function showPins(target: HTMLElement): Promise<void> {
  return load(target, async () => {
    const r = await api<{ items: Pin[] }>('GET', '/v1/tools/pins');
    if (r.items.length === 0)
      return notice('No MCP tools are pinned (no gateway upstreams, or none listed yet).');
    const quarantined = r.items.filter((p) => p.status === 'quarantined');
    return [
      quarantined.length
        ? h(
            'div',
            { class: 'quarantine' },
            quarantined.map((p) => quarantineCard(p, () => void showPins(target))),
          )
        : notice('No tool is quarantined.'),
      table(
        'Pinned tools',
        ['Server', 'Tool', 'Status', 'Definition hash', 'Approved by', 'Updated'],
        r.items.map((p) => [
          shown(p.server),
          h('code', {}, shown(p.tool)),
          h('span', { class: `badge status-${p.status}` }, p.status),
          h('code', { class: 'hash' }, p.hash),
          shown(p.approvedBy),
          when(p.updatedAt),
        ]),
      ),
    ];
  });
}

function quarantineCard(p: Pin, done: () => void): HTMLElement {
  // Approved by its action: `<server>.<tool>` is wrong for an upstream with another `actionPrefix`.
  const name = p.action ?? `${p.server}/${p.tool}`;
  const out = h('div', { 'aria-live': 'polite' });
  const approve = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      onclick: () => {
        approve.disabled = true;
        // The hash binds the approval to the definition shown here, not to whatever the upstream says next.
        api('POST', `/v1/tools/${encodeURIComponent(name)}/approve`, { hash: p.hash })
          .then(done)
          .catch((err: unknown) => {
            approve.disabled = false;
            out.replaceChildren(errorBox(err));
          });
      },
    },
    `Approve the new definition of ${escapeForDisplay(name).text}`,
  );
  return h(
    'article',
    { class: 'card warn', 'data-pin': name },
    h('h3', {}, 'Quarantined: ', shown(name)),
    h(
      'p',
      {},
      p.approvedDefinition
        ? 'Its definition changed since it was approved. It is hidden from agents and denied until approved.'
        : 'Seen for the first time (its upstream is not trusted on first use). It is hidden from agents and denied until approved.',
    ),
    // SECURITY: both escape every line and flag hidden characters: a rug pull that only adds
    // invisible instructions must not read as an unchanged definition.
    p.approvedDefinition
      ? diffView('Approved → now', pretty(p.approvedDefinition), pretty(p.definition))
      : jsonBlock(p.definition),
    h(
      'p',
      {},
      'New hash ',
      h('code', { class: 'hash' }, p.hash),
      p.approvedHash ? [' (was ', h('code', { class: 'hash' }, p.approvedHash), ')'] : '',
    ),
    p.action
      ? approve
      : notice(
          `Its upstream ${escapeForDisplay(p.server).text} is no longer configured: there is nothing to approve it for.`,
        ),
    out,
  );
}

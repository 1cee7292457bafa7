import { api, query } from '../api.js';
import { field, fill, h, table } from '../dom.js';
import type { Session } from '../session.js';
import { errorBox, load, notice, shown, when } from '../ui.js';

interface Grant {
  id: string;
  user: string;
  agent: string;
  actions: string[];
  resources: string[];
  limits: { action?: string; arg: string; op: string; value: unknown }[];
  expiresAt: string;
  revokedAt: string | null;
  parentId: string | null;
  createdBy: string;
}

/** Grants: what agents may do on a user's behalf (a user sees their own), with revoke. */
export function renderGrants(main: HTMLElement, s: Session): void {
  const admin = s.role === 'admin';
  const user = h('input', { name: 'user', autocomplete: 'off', value: admin ? '' : (s.subject ?? '') });
  const list = h('div', { 'aria-live': 'polite' });
  const refresh = () =>
    load(list, async () => {
      const r = await api<{ items: Grant[] }>(
        'GET',
        `/v1/grants${query({ user: admin ? user.value.trim() : null })}`,
      );
      if (r.items.length === 0) return notice('No active grants.');
      return table(
        'Grants',
        ['Agent', 'For user', 'Actions', 'Limits', 'Expires', 'Granted by', 'Revoke'],
        r.items.map((g) => {
          const out = h('span', { class: 'revoke-result' });
          const btn = h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'aria-label': `Revoke the grant of ${g.agent} for ${g.user}`,
              onclick: () => {
                btn.disabled = true;
                api<{ revoked: unknown }>('DELETE', `/v1/grants/${encodeURIComponent(g.id)}`)
                  .then(() => out.replaceChildren(h('span', { role: 'status', class: 'ok' }, 'Revoked')))
                  .catch((err: unknown) => {
                    btn.disabled = false;
                    out.replaceChildren(errorBox(err));
                  });
              },
            },
            'Revoke',
          );
          return [
            shown(g.agent),
            shown(g.user),
            shown(g.actions.join(', ')),
            g.limits.length
              ? shown(
                  g.limits
                    .map(
                      (l) => `${l.action ? `${l.action}: ` : ''}${l.arg} ${l.op} ${JSON.stringify(l.value)}`,
                    )
                    .join('; '),
                )
              : 'none',
            when(g.expiresAt),
            shown(g.createdBy),
            h('div', {}, btn, out),
          ];
        }),
      );
    });
  fill(
    main,
    h('h1', {}, admin ? 'Grants' : 'What agents may do for me'),
    admin
      ? h(
          'form',
          {
            class: 'filters card',
            onsubmit: (e: Event) => {
              e.preventDefault();
              void refresh();
            },
          },
          field('User', user),
          h('button', { type: 'submit' }, 'Show grants'),
        )
      : null,
    h('p', {}, 'A revoke takes effect on the agent’s next request.'),
    list,
  );
  void refresh();
}

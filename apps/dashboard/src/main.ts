import { SIGNED_OUT } from './api.js';
import { fill, h, field } from './dom.js';
import { resume, session, signIn, signOut, ssoOffered, type Role, type Session } from './session.js';
import { errorBox } from './ui.js';
import { renderInbox } from './screens/inbox.js';
import { renderActivity } from './screens/activity.js';
import { renderAudit } from './screens/audit.js';
import { renderPolicies } from './screens/policies.js';
import { renderGrants } from './screens/grants.js';
import { renderAgents } from './screens/agents.js';
import { renderOverview } from './screens/overview.js';

/** A screen draws into `main`; what it returns is called when the person leaves it (closes streams). */
type Render = (
  main: HTMLElement,
  s: Session,
  param: string | null,
) => void | (() => void) | Promise<void | (() => void)>;
interface Screen {
  id: string;
  title: string;
  roles: Role[];
  render: Render;
}

// The server checks every action against the role; this only decides which screens are offered.
const SCREENS: Screen[] = [
  { id: 'overview', title: 'Overview', roles: ['admin'], render: renderOverview },
  { id: 'inbox', title: 'Approvals', roles: ['admin', 'approver', 'user'], render: renderInbox },
  { id: 'activity', title: 'Activity', roles: ['admin', 'user'], render: renderActivity },
  { id: 'audit', title: 'Audit', roles: ['admin'], render: renderAudit },
  { id: 'policies', title: 'Policies', roles: ['admin'], render: renderPolicies },
  { id: 'grants', title: 'Grants', roles: ['admin', 'user'], render: renderGrants },
  { id: 'agents', title: 'Agents & tools', roles: ['admin'], render: renderAgents },
];

const root = document.getElementById('app')!;
let leave: (() => void) | null = null;

function screensFor(s: Session): Screen[] {
  return SCREENS.filter((x) => x.roles.includes(s.role));
}

async function route(): Promise<void> {
  leave?.();
  leave = null;
  const s = session();
  if (!s) return showSignIn();
  const offered = screensFor(s);
  // `#/inbox/apr_…` opens one item (a link an approver gets in a notification).
  const [wanted, param] = location.hash.replace(/^#\/?/, '').split('/');
  const screen = offered.find((x) => x.id === wanted) ?? offered.find((x) => x.id === 'inbox') ?? offered[0]!;
  const main = h('main', { id: 'main', tabindex: '-1' });
  fill(root, shell(s, offered, screen), main);
  document.title = `${screen.title} · Mandate`;
  try {
    leave = (await screen.render(main, s, screen.id === wanted ? (param ?? null) : null)) ?? null;
  } catch (err) {
    main.append(errorBox(err));
  }
}

function shell(s: Session, offered: Screen[], active: Screen): HTMLElement {
  return h(
    'header',
    { class: 'top' },
    h(
      'a',
      {
        class: 'skip',
        href: '#main',
        onclick: (e: Event) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        },
      },
      'Skip to content',
    ),
    h('div', { class: 'brand' }, 'Mandate'),
    h(
      'nav',
      { 'aria-label': 'Screens' },
      h(
        'ul',
        {},
        offered.map((x) =>
          h('li', {}, h('a', { href: `#/${x.id}`, 'aria-current': x === active ? 'page' : null }, x.title)),
        ),
      ),
    ),
    h(
      'div',
      { class: 'who' },
      h('span', {}, s.subject ? `${s.subject} · ${s.role}` : s.role),
      h(
        'button',
        { type: 'button', class: 'link', onclick: () => void signOut().finally(() => route()) },
        'Sign out',
      ),
    ),
  );
}

function showSignIn(): void {
  const key = h('input', {
    type: 'password',
    name: 'apiKey',
    autocomplete: 'current-password',
    required: true,
  });
  const out = h('div', { 'aria-live': 'polite' });
  const ssoLink = h('a', { class: 'button', href: '/v1/sessions/oidc/login' }, 'Sign in with SSO');
  const sso = h('p', { class: 'sso', hidden: true }, ssoLink);
  const form = h(
    'form',
    {
      class: 'card signin',
      onsubmit: (e: Event) => {
        e.preventDefault();
        out.replaceChildren();
        signIn(key.value)
          .then(() => {
            key.value = '';
            return route();
          })
          .catch((err: unknown) => out.append(errorBox(err)));
      },
    },
    h('h1', {}, 'Sign in to Mandate'),
    h('p', {}, 'Use your API key (role user, approver or admin). Agent keys cannot sign in.'),
    field('API key', key),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    out,
    sso,
  );
  fill(root, h('main', { id: 'main' }, form));
  document.title = 'Sign in · Mandate';
  void ssoOffered().then((loginUrl) => {
    if (loginUrl) ssoLink.setAttribute('href', loginUrl);
    sso.hidden = !loginUrl;
    form.dataset.sso = loginUrl ? 'offered' : 'absent';
  });
}

window.addEventListener('hashchange', () => void route());
window.addEventListener(SIGNED_OUT, () => {
  // Only when the server says the session is gone (no loop if a 401 had another cause).
  if (session())
    void resume().then((s) => {
      if (!s) void route();
    });
});
resume()
  .then(() => route())
  .catch((err: unknown) => fill(root, h('main', { id: 'main' }, errorBox(err))));

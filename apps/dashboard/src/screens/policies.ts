import { parse as parseYaml } from 'yaml';
import { ApiError, api } from '../api.js';
import { button, field, fill, h, select, table } from '../dom.js';
import { diffView } from '../diff-view.js';
import type { Session } from '../session.js';
import { errorBox, load, notice, section, when } from '../ui.js';

interface PolicySet {
  version: string;
  policies: Record<string, string>;
  schema: string;
}
interface Version {
  version: string;
  createdAt: string;
  source: string;
  active: boolean;
  activatedAt: string | null;
}

/** One text for a whole set, file by file, so two versions diff line by line. */
function joined(p: PolicySet): string {
  const files = Object.keys(p.policies).sort();
  return [...files.map((f) => `// ${f}\n${p.policies[f]}`), `// schema.cedarschema\n${p.schema}`].join('\n');
}

const SAMPLE_CASES = `cases:
  - name: a refund of 900 needs a finance manager
    request: { agent: support-bot, onBehalfOf: alice, action: payments.refund, args: { customerId: c-42, amount: 900 } }
    expect: { effect: approval_required }
`;

/** Policies: the active set, its history, a diff of two versions, and a candidate checked before activation. */
export async function renderPolicies(main: HTMLElement, s: Session): Promise<void> {
  const [active, versions] = await Promise.all([
    api<PolicySet>('GET', '/v1/policies'),
    api<{ items: Version[] }>('GET', '/v1/policies/versions'),
  ]);
  const fetchVersion = (v: string) =>
    v === active.version
      ? Promise.resolve(active)
      : api<PolicySet>('GET', `/v1/policies/versions/${encodeURIComponent(v)}`);

  // Diff between two versions.
  const opts = versions.items.map((v): [string, string] => [
    v.version,
    `${v.version}${v.active ? ' (active)' : ''}`,
  ]);
  const older = select('from', opts, versions.items[1]?.version ?? active.version);
  const newer = select('to', opts, active.version);
  const diffOut = h('div', { 'aria-live': 'polite' });
  const compare = () =>
    load(diffOut, async () => {
      const [a, b] = await Promise.all([fetchVersion(older.value), fetchVersion(newer.value)]);
      return diffView(`${older.value} → ${newer.value}`, joined(a), joined(b));
    });

  // Candidate: edited file by file, checked by the server against the YAML cases before activation.
  const candidate: PolicySet = {
    version: 'candidate',
    policies: { ...active.policies },
    schema: active.schema,
  };
  const fileNames = [...Object.keys(candidate.policies).sort(), 'schema.cedarschema'];
  const file = select(
    'file',
    fileNames.map((f) => [f, f]),
    fileNames[0],
  );
  const text = h('textarea', { name: 'source', rows: 14, spellcheck: 'false', class: 'code' });
  const readFile = (f: string) =>
    f === 'schema.cedarschema' ? candidate.schema : (candidate.policies[f] ?? '');
  let shown = file.value;
  text.value = readFile(shown);
  const keep = () => {
    if (shown === 'schema.cedarschema') candidate.schema = text.value;
    else candidate.policies[shown] = text.value;
  };
  file.addEventListener('change', () => {
    keep();
    shown = file.value;
    text.value = readFile(shown);
  });
  const cases = h('textarea', { name: 'cases', rows: 8, spellcheck: 'false', class: 'code' });
  cases.value = SAMPLE_CASES;
  const checkOut = h('div', { 'aria-live': 'polite' });
  const body = () => {
    keep();
    return { policies: candidate.policies, schema: candidate.schema };
  };
  const run = (what: () => Promise<HTMLElement>) => {
    checkOut.replaceChildren(h('p', { class: 'muted' }, 'Checking…'));
    what()
      .then((el) => checkOut.replaceChildren(el))
      .catch((err: unknown) => checkOut.replaceChildren(errorBox(err)));
  };
  const validate = () =>
    run(async () => {
      const r = await api<{ ok?: boolean; valid?: boolean; errors?: unknown[]; warnings?: unknown[] }>(
        'POST',
        '/v1/policies/validate',
        body(),
      );
      const ok = r.ok ?? r.valid ?? (r.errors ?? []).length === 0;
      return h(
        'div',
        {},
        h('p', { class: ok ? 'ok' : 'bad', role: 'status' }, ok ? 'Valid.' : 'Not valid.'),
        h('pre', { class: 'json' }, JSON.stringify(r, null, 2)),
      );
    });
  const test = () =>
    run(async () => {
      const doc = parseYaml(cases.value) as unknown;
      const list = Array.isArray(doc) ? doc : (doc as { cases?: unknown[] } | null)?.cases;
      if (!Array.isArray(list) || list.length === 0)
        throw new Error('the cases are a YAML list (or `cases:` with a list)');
      const r = await api<{ passed?: number; failed?: number; results?: unknown[] }>(
        'POST',
        '/v1/policies/test',
        {
          cases: list,
          policies: body(),
        },
      );
      const failed = r.failed ?? 0;
      return h(
        'div',
        {},
        h(
          'p',
          { class: failed ? 'bad' : 'ok', role: 'status' },
          `${r.passed ?? '?'} passed, ${failed} failed.`,
        ),
        h('pre', { class: 'json' }, JSON.stringify(r, null, 2)),
      );
    });
  /**
   * The set changed since this page loaded (another admin, another node): the candidate was edited
   * from the old one, so activating it would undo that change. Says so, shows what changed, and
   * offers the active set; the candidate stays in the editor.
   */
  const changedSince = (now: PolicySet): HTMLElement =>
    h(
      'div',
      { class: 'error', role: 'alert' },
      h('strong', {}, 'Not activated: the policy set changed since this page loaded.'),
      h(
        'p',
        {},
        `Your candidate was edited from version ${active.version}; version ${now.version} is active now. ` +
          'Activating the candidate would have undone that change. Your edits are still in the editor: ' +
          'see what changed below, load the active set and apply your edits to it.',
      ),
      diffView(`${active.version} (loaded) → ${now.version} (active now)`, joined(active), joined(now)),
      h(
        'div',
        { class: 'actions' },
        button('Load the active set (discards your edits)', () => {
          renderPolicies(main, s).catch((err: unknown) => checkOut.replaceChildren(errorBox(err)));
        }),
      ),
    );
  const activate = () =>
    run(async () => {
      try {
        // SECURITY: the version this page loaded is the base; the server refuses a stale one (409).
        const r = await api<{ version: string }>('PUT', '/v1/policies', {
          ...body(),
          baseVersion: active.version,
        });
        return h(
          'p',
          { class: 'ok', role: 'status' },
          `Activated version ${r.version}. Reload to see it in the history.`,
        );
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 'conflict')) throw err;
        const now = await api<PolicySet>('GET', '/v1/policies');
        if (now.version === active.version) throw err;
        return changedSince(now);
      }
    });

  fill(
    main,
    h('h1', {}, 'Policies'),
    section(
      `Active version ${active.version}`,
      Object.keys(active.policies)
        .sort()
        .map((f) =>
          h(
            'details',
            {},
            h('summary', {}, f),
            h('pre', { class: 'code', tabindex: '0' }, active.policies[f]!),
          ),
        ),
      h(
        'details',
        {},
        h('summary', {}, 'schema.cedarschema'),
        h('pre', { class: 'code', tabindex: '0' }, active.schema),
      ),
    ),
    section(
      'History',
      versions.items.length === 0
        ? notice('No versions.')
        : table(
            'Policy versions',
            ['Version', 'Created', 'Activated', 'Source', 'Active'],
            versions.items.map((v) => [
              h('code', {}, v.version),
              when(v.createdAt),
              when(v.activatedAt),
              v.source,
              v.active ? 'yes' : '',
            ]),
          ),
    ),
    section(
      'Compare two versions',
      h(
        'form',
        {
          class: 'filters',
          onsubmit: (e: Event) => {
            e.preventDefault();
            void compare();
          },
        },
        field('From version', older),
        field('To version', newer),
        h('button', { type: 'submit' }, 'Show diff'),
      ),
      diffOut,
    ),
    section(
      'Try a candidate before activating it',
      h(
        'p',
        {},
        'Edit the files, then validate and run decision cases against the candidate. Nothing changes until you activate.',
      ),
      field('File', file),
      field('Candidate text', text),
      field('Test cases (YAML)', cases),
      h(
        'div',
        { class: 'actions' },
        button('Validate', validate),
        button('Run tests', test),
        button('Activate', activate, 'danger'),
      ),
      checkOut,
    ),
  );
}

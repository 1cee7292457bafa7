import { Command, Option } from 'commander';
import { MandateError, createJsonLogger, parseDuration } from '../kernel/index.js';
import { openStore } from '../app/index.js';
import type { ApiKeyView, IssuedKey } from '../keys/index.js';
import { out, printJson, load, withMandate, common } from './shared.js';

/** `--expires 30d` or `--expires 2027-01-01T00:00:00Z`: an ISO time, or a duration from now. */
export function expiryOf(text: string | undefined, nowMs: number): string | null {
  if (text === undefined) return null;
  if (/^\d+(ms|s|m|h|d|y)$/.test(text)) return new Date(nowMs + parseDuration(text)).toISOString();
  const t = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(t))
    throw new MandateError('bad_request', `--expires ${text}: give a duration (30d, 12h) or an ISO time`);
  return new Date(t).toISOString();
}

function printIssued(r: IssuedKey, json: boolean, verb: string): void {
  if (json) printJson(r);
  else
    out(
      `${verb} ${r.key.id} (role ${r.key.role}${r.key.subject ? `, subject ${r.key.subject}` : ''}${r.key.expiresAt ? `, expires ${r.key.expiresAt}` : ''})\nsecret: ${r.secret}\nStore it now: it is shown only once.`,
    );
}

function keyLine(k: ApiKeyView): string {
  return [
    k.id.padEnd(34),
    k.status.padEnd(7),
    k.role.padEnd(8),
    (k.subject ?? '-').padEnd(16),
    `origin ${k.origin}`,
    `last used ${k.lastUsedAt ?? 'never'}`,
    k.expiresAt ? `expires ${k.expiresAt}` : '',
    k.name !== k.id ? `"${k.name}"` : '',
  ]
    .filter(Boolean)
    .join('  ');
}

/** `mandate keys create|list|revoke|rotate` and `mandate migrate`: store administration (in-process). */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('API keys: create, list, revoke, rotate (in-process)');
  common(
    keys
      .command('create')
      .description('create an API key; the secret is printed once and stored only hashed'),
  )
    .addOption(
      new Option('--role <role>', 'agent | user | approver | admin')
        .choices(['agent', 'user', 'approver', 'admin'])
        .makeOptionMandatory(),
    )
    .option('--subject <id>', 'the agent id (role agent) or user id (roles user, approver); must exist')
    .option('--name <name>', 'a label')
    .option('--expires <when>', 'refuse the key after this: a duration (30d, 12h) or an ISO time')
    .action(async (opts) => {
      if (opts.role !== 'admin' && !opts.subject)
        throw new MandateError('bad_request', `--subject is required for role ${opts.role}`);
      if (opts.role === 'admin' && opts.subject)
        throw new MandateError('bad_request', 'an admin key has no --subject');
      const r = await withMandate(opts, (m) =>
        m.keys.create(
          {
            role: opts.role,
            subject: opts.subject ?? null,
            ...(opts.name ? { name: opts.name } : {}),
            expiresAt: expiryOf(opts.expires, m.clock.now()),
          },
          'cli',
          'cli',
        ),
      );
      printIssued(r, opts.json === true, 'created');
    });

  common(keys.command('list').description('list API keys with status, origin and last use (never secrets)'))
    .option('--all', 'include revoked and expired keys')
    .action(async (opts) => {
      const all = await withMandate(opts, (m) => m.keys.list());
      const items = opts.all ? all : all.filter((k) => k.status === 'active');
      if (opts.json) printJson({ items });
      else if (items.length === 0) out(opts.all ? 'no keys' : 'no active keys (--all lists revoked ones)');
      else for (const k of items) out(keyLine(k));
    });

  common(
    keys.command('revoke <id>').description('revoke an API key: refused (401) at once on every node'),
  ).action(async (id: string, opts) => {
    const k = await withMandate(opts, (m) => m.keys.revoke(id, 'cli'));
    if (opts.json) printJson(k);
    else out(`revoked ${k.id} at ${k.revokedAt}`);
  });

  common(
    keys
      .command('rotate <id>')
      .description('issue a new secret for the same role and subject, and revoke the old key at once'),
  ).action(async (id: string, opts) => {
    const r = await withMandate(opts, (m) => m.keys.rotate(id, 'cli'));
    printIssued(r, opts.json === true, `rotated ${id} to`);
  });

  common(program.command('migrate').description('apply pending database migrations')).action(async (opts) => {
    const loaded = load(opts);
    const store = openStore(loaded.config.store, createJsonLogger('warn'));
    try {
      const applied = await store.migrate();
      if (opts.json) printJson({ applied });
      else out(applied.length ? `applied ${applied.join(', ')}` : 'up to date');
    } finally {
      await store.close();
    }
  });
}

import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { MandateError, newId, createJsonLogger } from '../kernel/index.js';
import { openStore } from '../app/index.js';
import { apiKeyHash } from '../http/index.js';
import { out, printJson, load, withMandate, common } from './shared.js';

/** `mandate keys create` and `mandate migrate`: store administration. */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('API keys');
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
    .option('--subject <id>', 'the agent id (role agent) or user id (roles user, approver)')
    .option('--name <name>', 'a label')
    .action(async (opts) => {
      if (opts.role !== 'admin' && !opts.subject)
        throw new MandateError('bad_request', `--subject is required for role ${opts.role}`);
      const secret = `mdt_${randomBytes(24).toString('base64url')}`;
      const r = await withMandate(opts, async (m) => {
        const id = newId('key', m.clock.now());
        await m.store.putApiKey({
          id,
          hash: apiKeyHash(secret),
          role: opts.role,
          subject: opts.subject ?? null,
          name: opts.name ?? id,
          createdAt: new Date(m.clock.now()).toISOString(),
          revokedAt: null,
        });
        await m.record({
          type: 'key.created',
          data: { keyId: id, role: opts.role, subject: opts.subject ?? null, source: 'cli' },
        });
        return { id, role: opts.role, subject: opts.subject ?? null, secret };
      });
      if (opts.json) printJson(r);
      else
        out(
          `created ${r.id} (role ${r.role}${r.subject ? `, subject ${r.subject}` : ''})\nsecret: ${r.secret}\nStore it now: it is shown only once.`,
        );
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

import { Command } from 'commander';
import { MandateError } from '../kernel/index.js';
import { out, printJson, api, remote } from './shared.js';

/**
 * `[action:]arg op value`, e.g. `payments.refund:amount<=200`. Ordering operators take a number;
 * `==` and `!=` also take true, false or a string. Anything else is refused naming the flag.
 */
export function parseLimitFlag(text: string): Record<string, unknown> {
  const m = /^(?:([a-z*][\w.*-]*):)?([A-Za-z_][\w.]*)\s*(<=|>=|==|!=|<|>)\s*(.+)$/.exec(text.trim());
  if (!m)
    throw new MandateError(
      'bad_request',
      `invalid --limit ${text}: use [action:]arg op value, e.g. payments.refund:amount<=200`,
    );
  const [, action, arg, op, rawValue] = m;
  const raw = rawValue!.trim();
  const numeric = /^-?\d+(\.\d+)?$/.test(raw);
  if (['<', '<=', '>', '>='].includes(op!) && !numeric)
    throw new MandateError('bad_request', `invalid --limit ${text}: ${op} takes a number, not ${raw}`);
  const value = numeric ? Number(raw) : raw === 'true' ? true : raw === 'false' ? false : raw;
  return { ...(action ? { action } : {}), arg, op, value };
}

/** `mandate grants list|create|revoke` (against a running server). */
export function registerGrants(program: Command): void {
  const grants = program
    .command('grants')
    .description('list, create and revoke delegation grants (talks to a running server)');
  remote(grants.command('list'))
    .option('--user <id>')
    .option('--agent <id>')
    .option('--all', 'include revoked grants')
    .action(async (opts) => {
      const q = new URLSearchParams();
      if (opts.user) q.set('user', opts.user);
      if (opts.agent) q.set('agent', opts.agent);
      if (opts.all) q.set('includeRevoked', 'true');
      const r = (await api(opts, 'GET', `/v1/grants?${q}`)) as { items: Record<string, unknown>[] };
      if (opts.json) printJson(r);
      else if (r.items.length === 0) out('no grants');
      else
        for (const g of r.items)
          out(
            `${g.id}  ${g.user} -> ${g.agent}  ${(g.actions as string[]).join(',')}  expires ${g.expiresAt}${g.revokedAt ? `  REVOKED ${g.revokedAt}` : ''}`,
          );
    });
  remote(grants.command('create'))
    .requiredOption('--agent <id>', 'the agent receiving the grant')
    .option('--user <id>', 'the user granting (admins only; a user key grants for itself)')
    .requiredOption('--actions <list>', 'comma-separated actions or namespace.*')
    .option('--resources <list>', 'comma-separated Type::id resources')
    .option(
      '--limit <expr...>',
      'arg limits: "payments.refund:amount<=200" for one action, "amount<=200" for every action whose args have amount',
    )
    .option('--expires-in <duration>', 'e.g. 1h, 30d', '24h')
    .option('--parent <grantId>', 'attenuate this grant (sub-agent delegation)')
    .action(async (opts) => {
      const limits = ((opts.limit as string[] | undefined) ?? []).map(parseLimitFlag);
      const body: Record<string, unknown> = {
        agent: opts.agent,
        actions: (opts.actions as string).split(',').map((s) => s.trim()),
        limits,
        expiresIn: opts.expiresIn,
      };
      if (opts.user) body.user = opts.user;
      if (opts.resources) body.resources = (opts.resources as string).split(',').map((s) => s.trim());
      if (opts.parent) body.parentId = opts.parent;
      const r = (await api(opts, 'POST', '/v1/grants', body)) as Record<string, unknown>;
      if (opts.json) printJson(r);
      else out(`created ${r.id}: ${r.user} -> ${r.agent} until ${r.expiresAt}`);
    });
  remote(grants.command('revoke <id>')).action(async (id: string, opts) => {
    const r = (await api(opts, 'DELETE', `/v1/grants/${encodeURIComponent(id)}`)) as { revoked: string[] };
    if (opts.json) printJson(r);
    else out(`revoked ${r.revoked.join(', ')}`);
  });
}

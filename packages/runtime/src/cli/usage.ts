import type { Command } from 'commander';
import type { UsageView } from '../usage/index.js';
import { out, printJson, api, remote } from './shared.js';

/** `mandate usage [--name] [--user] [--agent]`: the usage counters of the current windows (admin, running server). */
export function registerUsage(program: Command): void {
  remote(
    program
      .command('usage')
      .description('list the usage counters of the current windows (budgets and rates)'),
  )
    .option('--name <counter>')
    .option('--user <id>')
    .option('--agent <id>')
    .action(async (opts) => {
      const q = new URLSearchParams();
      for (const k of ['name', 'user', 'agent'] as const) if (opts[k]) q.set(k, opts[k]);
      const r = (await api(opts, 'GET', `/v1/usage?${q}`)) as { items: UsageView[] };
      if (opts.json) printJson(r);
      else if (r.items.length === 0) out('no usage counters in the current windows');
      else
        for (const u of r.items)
          out(
            `${u.name}  ${u.agent ? `agent ${u.agent}` : ''}${u.agent && u.user ? '  ' : ''}${u.user ? `user ${u.user}` : ''}  ${u.value}  (${u.windowStart} .. ${u.windowEnd})`,
          );
    });
}

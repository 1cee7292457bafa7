import type { Command } from 'commander';
import { out, printJson, api, remote } from './shared.js';

interface AlertRow {
  alertId: string;
  rule: string;
  agent: string | null;
  reason: string;
  time: string;
  acknowledged: { by: string; at: string } | null;
}

/** `mandate alerts list|ack|mute|unmute|mutes` (against a running server, admin key). */
export function registerAlerts(program: Command): void {
  const alerts = program
    .command('alerts')
    .description('fired alerts, acknowledgement and mutes (talks to a running server)');
  remote(alerts.command('list').description('fired alerts, oldest first'))
    .option('--status <status>', 'open | acknowledged')
    .option('-n, --limit <n>', 'at most this many', '100')
    .action(async (opts) => {
      const q = new URLSearchParams({ limit: String(opts.limit) });
      if (opts.status) q.set('status', String(opts.status));
      const r = (await api(opts, 'GET', `/v1/alerts?${q}`)) as { items: AlertRow[] };
      if (opts.json) printJson(r);
      else if (r.items.length === 0) out('no alerts');
      else
        for (const a of r.items)
          out(
            `${a.alertId}  ${a.time}  ${a.rule}${a.agent ? `  agent ${a.agent}` : ''}  ${a.acknowledged ? `ack by ${a.acknowledged.by}` : 'OPEN'}\n    ${a.reason}`,
          );
    });
  remote(alerts.command('ack <alertId>').description('acknowledge an alert'))
    .option('--comment <text>', 'why, for the record')
    .action(async (alertId: string, opts) => {
      const r = await api(opts, 'POST', `/v1/alerts/${encodeURIComponent(alertId)}/acknowledge`, {
        comment: opts.comment ?? null,
      });
      if (opts.json) printJson(r);
      else out(`${alertId}: acknowledged`);
    });
  remote(
    alerts.command('mute <rule>').description('mute a rule for one agent (or all) with a reason; audited'),
  )
    .option('--agent <id>', 'the agent (default: every subject of the rule)', '*')
    .requiredOption('--reason <text>', 'why the rule is muted (recorded in the audit trail)')
    .option('--until <iso-time>', 'when the mute ends (default: until unmuted)')
    .action(async (rule: string, opts) => {
      const r = await api(opts, 'POST', '/v1/alerts/mutes', {
        rule,
        agent: opts.agent,
        reason: opts.reason,
        ...(opts.until ? { until: opts.until } : {}),
      });
      if (opts.json) printJson(r);
      else
        out(
          `${rule} muted for ${opts.agent === '*' ? 'every agent' : `agent ${opts.agent}`}${opts.until ? ` until ${opts.until}` : ''}`,
        );
    });
  remote(alerts.command('unmute <rule>').description('end a mute'))
    .option('--agent <id>', 'the agent of the mute', '*')
    .action(async (rule: string, opts) => {
      const r = await api(opts, 'POST', '/v1/alerts/unmute', { rule, agent: opts.agent });
      if (opts.json) printJson(r);
      else out(`${rule} unmuted for ${opts.agent === '*' ? 'every agent' : `agent ${opts.agent}`}`);
    });
  remote(alerts.command('mutes').description('active mutes')).action(async (opts) => {
    const r = (await api(opts, 'GET', '/v1/alerts/mutes')) as {
      items: { rule: string; agent: string; reason: string; by: string; until: string | null }[];
    };
    if (opts.json) printJson(r);
    else if (r.items.length === 0) out('no active mutes');
    else
      for (const m of r.items)
        out(`${m.rule}  ${m.agent}  by ${m.by}${m.until ? ` until ${m.until}` : ''}: ${m.reason}`);
  });
}

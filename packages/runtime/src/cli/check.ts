import { Command } from 'commander';
import { type Decision } from '@mandate/protocol';
import { MandateError, parseJsonStrict } from '../kernel/index.js';
import { EXIT, out, printJson, withMandate, common } from './shared.js';

/** `mandate check`: one decision in-process. */
export function registerCheck(program: Command): void {
  common(program.command('check').description('decide one call in-process and print the decision'))
    .requiredOption('--agent <id>', 'agent id')
    .option('--user <id>', 'user the agent acts for')
    .requiredOption('--action <name>', 'action, e.g. payments.refund')
    .option('--args <json>', 'args as a JSON object', '{}')
    .option('--intent <text>', "the agent's stated intent")
    .option('--approval <id>', 'approval id to consume')
    .action(async (opts) => {
      const args = parseJsonStrict(opts.args as string);
      if (!args || typeof args !== 'object' || Array.isArray(args))
        throw new MandateError('bad_request', '--args must be a JSON object');
      const d: Decision = await withMandate(opts, async (m) => {
        const r = await m.decisions.decide(
          {
            agent: opts.agent,
            onBehalfOf: opts.user ?? null,
            action: opts.action,
            args: args as Record<string, unknown>,
            intent: opts.intent ?? null,
            approvalId: opts.approval ?? null,
          },
          { role: 'admin', subject: null, keyId: 'cli' },
        );
        return r.decision;
      });
      if (opts.json) printJson(d);
      else {
        out(
          `${d.effect.toUpperCase()}  ${opts.action} by ${opts.agent}${opts.user ? ` for ${opts.user}` : ''}  (${d.decisionId})`,
        );
        for (const r of d.reasons) out(`  reason: ${r.policyId}${r.reason ? ` — ${r.reason}` : ''}`);
        for (const e of d.errors) out(`  error:  ${e.code} — ${e.message}`);
        if (d.approval)
          out(`  approval: ${d.approval.id} routed to ${d.approval.role}, expires ${d.approval.expiresAt}`);
      }
      process.exitCode =
        d.effect === 'allow' ? EXIT.ok : d.effect === 'approval_required' ? EXIT.approval : EXIT.failed;
    });
}

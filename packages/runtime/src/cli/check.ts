import { Command } from 'commander';
import { type Decision } from '@mandate/protocol';
import type { DecisionOutcome } from '../decisions/index.js';
import { MandateError, isMandateError, parseJsonStrict } from '../kernel/index.js';
import { EXIT, out, printJson, withMandate, common } from './shared.js';

/** `mandate check`: one decision in-process. */
export function registerCheck(program: Command): void {
  common(
    program
      .command('check')
      .description(
        'decide one call in-process and print the decision (a dry run: no approval is requested unless --request)',
      ),
  )
    .requiredOption('--agent <id>', 'agent id')
    .option('--user <id>', 'user the agent acts for')
    .requiredOption('--action <name>', 'action, e.g. payments.refund')
    .option('--args <json>', 'args as a JSON object', '{}')
    .option('--intent <text>', "the agent's stated intent")
    .option('--approval <id>', 'approval id to consume (needs --request)')
    .option('--request', 'really ask: create the pending approval approvers will see, or consume --approval')
    .action(async (opts) => {
      let args: unknown;
      try {
        args = parseJsonStrict(opts.args as string);
      } catch (err) {
        // The strict parser's own code (duplicate_key, invalid_number …) says what is wrong.
        throw new MandateError(
          isMandateError(err) ? err.code : 'bad_request',
          `--args: ${(err as Error).message}`,
        );
      }
      if (!args || typeof args !== 'object' || Array.isArray(args))
        throw new MandateError('bad_request', '--args must be a JSON object');
      if (opts.approval && !opts.request)
        throw new MandateError('bad_request', '--approval consumes the approval: add --request to use it');
      const dryRun = opts.request !== true;
      const r: DecisionOutcome = await withMandate(opts, async (m) => {
        return m.decisions.decide(
          {
            agent: opts.agent,
            onBehalfOf: opts.user ?? null,
            action: opts.action,
            args: args as Record<string, unknown>,
            intent: opts.intent ?? null,
            approvalId: opts.approval ?? null,
          },
          { role: 'admin', subject: null, keyId: 'cli' },
          { dryRun },
        );
      });
      const d: Decision = r.decision;
      if (opts.json)
        printJson(dryRun ? { ...d, dryRun, ...(r.wouldRequest ? { wouldRequest: r.wouldRequest } : {}) } : d);
      else {
        out(
          `${d.effect.toUpperCase()}  ${opts.action} by ${opts.agent}${opts.user ? ` for ${opts.user}` : ''}  (${d.decisionId})`,
        );
        for (const r of d.reasons) out(`  reason: ${r.policyId}${r.reason ? ` — ${r.reason}` : ''}`);
        for (const e of d.errors) out(`  error:  ${e.code} — ${e.message}`);
        if (d.approval)
          out(`  approval: ${d.approval.id} routed to ${d.approval.role}, expires ${d.approval.expiresAt}`);
        if (r.wouldRequest)
          out(
            `  approval: would be routed to ${r.wouldRequest.role} (dry run: none requested; --request to ask)`,
          );
      }
      process.exitCode =
        d.effect === 'allow' ? EXIT.ok : d.effect === 'approval_required' ? EXIT.approval : EXIT.failed;
    });
}

import { Command } from 'commander';
import { registerServe } from './serve.js';
import { registerTools } from './tools.js';
import { registerCheck } from './check.js';
import { registerPolicy } from './policy.js';
import { registerAudit } from './audit.js';
import { registerAuditSinks } from './sinks.js';
import { registerAlerts } from './alerts.js';
import { registerApprovals } from './approvals.js';
import { registerGrants } from './grants.js';
import { registerKeys } from './keys.js';
import { registerUsage } from './usage.js';
import { registerErase } from './erase.js';

export { EXIT, exitCodeFor } from './shared.js';

/** The `mandate` command line: one file per command group (docs/cli.md). */
export function buildProgram(): Command {
  const program = new Command('mandate')
    .description(
      'Mandate: authorization runtime for AI agents — policy, delegation, exact-call approvals, verifiable audit.',
    )
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  registerServe(program);
  registerTools(program);
  registerCheck(program);
  registerPolicy(program);
  registerAudit(program);
  registerAuditSinks(program);
  registerAlerts(program);
  registerApprovals(program);
  registerGrants(program);
  registerKeys(program);
  registerUsage(program);
  registerErase(program);
  return program;
}

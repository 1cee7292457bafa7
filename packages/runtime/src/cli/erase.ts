import type { Command } from 'commander';
import { out, printJson, api, remote } from './shared.js';

/** `mandate erase --user <id>`: erases the personal data kept for a user (admin, running server). */
export function registerErase(program: Command): void {
  remote(
    program
      .command('erase')
      .description(
        'erase the personal data kept beside the audit chain for a user (docs/audit.md "Erasure")',
      ),
  )
    .requiredOption('--user <id>', 'the user whose kept personal data is erased')
    .action(async (opts) => {
      const r = (await api(opts, 'POST', '/v1/erasures', { user: opts.user })) as {
        subject: string;
        erased: number;
      };
      if (opts.json) printJson(r);
      else
        out(
          `erased ${r.erased} record(s) of personal data for ${r.subject}; the erasure is on the audit trail`,
        );
    });
}

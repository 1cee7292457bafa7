import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { HIDDEN_MARKER, escapeForDisplay } from '../kernel/index.js';
import { approvalDisplay, approvalVoteMessage } from '../approvals/index.js';
import { out, printJson, api, remote } from './shared.js';

/** `mandate approvals list|approve|deny` (against a running server). */
export function registerApprovals(program: Command): void {
  const approvals = program
    .command('approvals')
    .description('list and resolve approvals (talks to a running server)');
  remote(approvals.command('list').description('approvals routed to you'))
    .option('--status <status>', 'pending | approved | denied | expired | consumed', 'pending')
    .option('--limit <n>', 'at most this many (default 100)')
    .option('--cursor <cursor>', 'the next page: the nextCursor a previous page printed')
    .action(async (opts) => {
      const q = new URLSearchParams({ status: opts.status });
      if (opts.limit !== undefined) q.set('limit', opts.limit);
      if (opts.cursor !== undefined) q.set('cursor', opts.cursor);
      const r = (await api(opts, 'GET', `/v1/approvals?${q}`)) as {
        items: Record<string, unknown>[];
        nextCursor?: string | null;
      };
      if (opts.json) printJson(r);
      else if (r.items.length === 0) out(`no ${opts.status} approvals`);
      else for (const a of r.items) out(approvalLines(a));
      if (!opts.json && r.nextCursor) out(`more: --cursor ${r.nextCursor}`);
    });
  for (const verdict of ['approve', 'deny'] as const) {
    remote(approvals.command(`${verdict} <id>`).description(`${verdict} an approval`))
      .option('--comment <text>', 'why')
      .option(
        '--sign <keyfile>',
        'sign this vote (approval id, verdict and call hash) with your Ed25519 private key (PEM)',
      )
      .action(async (id: string, opts) => {
        const body: Record<string, unknown> = {};
        if (opts.comment) body.comment = opts.comment;
        if (opts.sign) {
          const { createPrivateKey, sign } = await import('node:crypto');
          const a = (await api(opts, 'GET', `/v1/approvals/${encodeURIComponent(id)}`)) as {
            id: string;
            callHash: string;
          };
          // The vote, not the call: a signature names the approval and the verdict, so it is not
          // good for another approval of the same call, nor for the other verdict.
          const message = approvalVoteMessage({ approvalId: a.id, verdict, callHash: a.callHash });
          body.signature = sign(
            null,
            Buffer.from(message, 'utf8'),
            createPrivateKey(await readFile(resolve(opts.sign), 'utf8')),
          ).toString('base64');
        }
        const r = (await api(
          opts,
          'POST',
          `/v1/approvals/${encodeURIComponent(id)}/${verdict}`,
          body,
        )) as Record<string, unknown>;
        if (opts.json) printJson(r);
        else out(`${r.id}: ${r.status} (${(r.votes as unknown[]).length} vote(s), quorum ${r.quorum})`);
      });
  }
}

/** What the audit redaction puts in place of a value or a piece of one (`[REDACTED]`, `[REDACTED:secret]`). */
const REDACTION = /\[REDACTED(?::[A-Za-z0-9_-]+)?\]/;

/** A key shown bare in a path only when it cannot be misread (as the dashboard's argument table does). */
const PLAIN_KEY = /^[A-Za-z0-9_$-]+$/;

/** Deeper than this a value is not searched further (args come from JSON: no cycles). */
const MAX_DEPTH = 32;

/**
 * The paths (`to`, `card.number`, `items[0]`) of the args' values that hold a redaction marker:
 * what the agent supplied there is not what the approver reads. A key that could be misread is
 * JSON-quoted and escaped.
 */
function redactedPaths(args: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, path: string, depth: number): void => {
    if (typeof v === 'string') {
      if (REDACTION.test(v)) out.push(path || '(value)');
    } else if (Array.isArray(v)) {
      if (depth < MAX_DEPTH) v.forEach((x, i) => walk(x, `${path}[${i}]`, depth + 1));
    } else if (v !== null && typeof v === 'object' && depth < MAX_DEPTH) {
      for (const [k, x] of Object.entries(v)) {
        const seg = PLAIN_KEY.test(k) ? k : escapeForDisplay(JSON.stringify(k)).text;
        walk(x, path ? `${path}.${seg}` : seg, depth + 1);
      }
    }
  };
  walk(args, '', 0);
  return out;
}

/** What erasing a user's personal data leaves of an approval (audit/personal.ts): this summary, `erased` as each value. */
const ERASED_SUMMARY = '[erased]';

/**
 * One approval as an approver reads it: a header line, the summary and the args. SECURITY: the
 * agent shapes the summary and the args; what they hold is escaped (`\u202E`, a look-alike
 * `\u2215`), and an approval with hidden characters is flagged on its own line before anything
 * else (issue 8 §5). So is an approval holding values the approver cannot see (redacted, or
 * erased with the user's personal data): the call runs with the values the agent sent, and
 * approving it approves them unseen — the dashboard says the same.
 */
export function approvalLines(a: Record<string, unknown>): string {
  const str = (v: unknown) => (v === undefined || v === null ? null : String(v));
  const d = approvalDisplay({
    summary: str(a.summary) ?? '',
    args: (a.args ?? {}) as Record<string, unknown>,
    agent: str(a.agent) ?? '',
    user: str(a.user),
    action: str(a.action) ?? '',
    resource: str(a.resource),
  });
  const lines: string[] = [];
  lines.push(
    `${a.id}  ${a.status}  ${d.action}  agent=${d.agent}${d.user ? ` user=${d.user}` : ''}  role=${a.role}  expires ${a.expiresAt}`,
  );
  if (d.hidden.length > 0)
    lines.push(`  ${HIDDEN_MARKER} (${d.hidden.join(', ')}) in this request: read the escaped values below`);
  const args = a.args ?? {};
  const erased =
    a.summary === ERASED_SUMMARY &&
    typeof args === 'object' &&
    args !== null &&
    Object.values(args).every((v) => v === 'erased');
  if (erased)
    lines.push(
      "  ⚠ the values the agent supplied were erased with the user's personal data: you are approving them unseen",
    );
  const redacted = redactedPaths(args);
  if (redacted.length > 0)
    lines.push(
      `  ⚠ hidden by redaction: ${redacted.join(', ')} — the call runs with the values the agent supplied; you are approving them unseen`,
    );
  lines.push(`  summary:  ${d.summary}`);
  if (d.resource) lines.push(`  resource: ${d.resource}`);
  lines.push(`  args:     ${d.args}`);
  return lines.join('\n');
}

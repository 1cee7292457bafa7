import { Command } from 'commander';
import { MandateError, createJsonLogger } from '../kernel/index.js';
import { createMandate, dashboardNotice, describeStore } from '../app/index.js';
import { authenticate } from '../http/auth.js';
import { out, load, withUpstreams, common } from './shared.js';

/**
 * Keys written in the config file (the demo's `demo-admin` …) are for demos: their secrets are in a
 * file anyone with the repository has. Said at every start so nobody ships them by accident.
 */
export function demoKeysNotice(keys: readonly { name: string }[]): string[] {
  if (keys.length === 0) return [];
  const names = keys.map((k) => k.name);
  return [
    `  keys:    ${names.length} from the config file (${names.slice(0, 4).join(', ')}${names.length > 4 ? ', …' : ''}) — DEMO ONLY:`,
    `           their secrets are in the config; remove apiKeys and use \`mandate keys create\` for real use`,
    `           (keys removed from the config are revoked at the next start)`,
  ];
}

/** `mandate serve` and `mandate gateway --stdio`: the long-running commands. */
export function registerServe(program: Command): void {
  common(
    program.command('serve').description('run the HTTP API (decisions, approvals, grants, policies, audit)'),
    false,
  )
    .option('-p, --port <port>', 'port (env MANDATE_PORT; default 8787)')
    .option('--host <host>', 'address to bind (env MANDATE_HOST; default 127.0.0.1)')
    .option('--log-level <level>', 'debug | info | warn | error | silent')
    .option(
      '--upstream <name=cmd|url>',
      'an MCP server for the gateway at /mcp (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--trust-on-first-use', 'pin the --upstream tools on first sight without review (development)')
    .option('--expose-bare-names', "show clients the --upstream tools' own names (actions stay namespaced)")
    .option('--action-prefix <prefix>', 'action name prefix of the --upstream tools (default <name>.)')
    .option(
      '--reseed',
      "apply the config's entities, grants and policy directory over the store's state (audited; env MANDATE_RESEED=1)",
    )
    .option(
      '--new-signing-key',
      'create an audit signing key although the store already holds audit records (recorded; env MANDATE_NEW_SIGNING_KEY=1)',
    )
    .action(async (opts) => {
      const loaded = withUpstreams(load(opts), opts);
      const m = await createMandate(loaded, {
        ...(opts.reseed ? { reseed: true } : {}),
        ...(opts.newSigningKey ? { newSigningKey: true } : {}),
      });
      const { url } = await m.listen().catch(async (err: unknown) => {
        await m.close();
        throw err;
      });
      const active = m.policies.active();
      out(
        [
          `Mandate is running at ${url}`,
          `  store:   ${describeStore(loaded.config.store)}`,
          `  policy:  ${active ? `${active.version} (${active.policies.length} policies)` : 'none active — PUT /v1/policies'}`,
          `  tools:   ${m.tools().list().length} registered`,
          ...(loaded.config.gateway.upstreams.length > 0
            ? [
                `  mcp:     ${url}/mcp (gateway to ${loaded.config.gateway.upstreams.map((u) => u.name).join(', ')}; agent API key as bearer)`,
              ]
            : []),
          ...dashboardNotice(loaded, url),
          ...demoKeysNotice(loaded.config.apiKeys),
          `  try:     curl -s ${url}/readyz`,
          `  docs:    README.md (5-minute tour), docs/api.md, docs/cli.md`,
        ].join('\n'),
      );
      // A second signal while closing used to end the process silently (Node's default); it is
      // watched for from the moment the first one arrives.
      const now = (signal: NodeJS.Signals) => {
        m.logger.warn('stopping now, without waiting for the shutdown', {
          signal,
          // Every answered decision is already recorded (audit before answer); not the final checkpoint.
          note: 'requests in flight get no answer; the closing checkpoint is not written',
        });
        process.exit(130);
      };
      await new Promise<void>((resolveStop) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          process.once('SIGINT', now);
          process.once('SIGTERM', now);
          resolveStop();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      m.logger.info('shutting down (a second Ctrl-C stops at once)');
      await m.close();
      process.off('SIGINT', now);
      process.off('SIGTERM', now);
    });

  common(
    program
      .command('gateway')
      .description('serve the MCP gateway on stdin/stdout for one agent (its key from --key or MANDATE_KEY)'),
    false,
  )
    .requiredOption('--stdio', 'serve MCP over stdin/stdout')
    .option('--key <key>', 'the agent API key (env MANDATE_KEY)')
    .option(
      '--upstream <name=cmd|url>',
      'an upstream MCP server (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--trust-on-first-use', 'pin the --upstream tools on first sight without review (development)')
    .option('--expose-bare-names', "show clients the --upstream tools' own names (actions stay namespaced)")
    .option('--action-prefix <prefix>', 'action name prefix of the --upstream tools (default <name>.)')
    .action(async (opts) => {
      const key = opts.key ?? process.env.MANDATE_KEY;
      if (!key) throw new MandateError('unauthenticated', 'give the agent API key with --key or MANDATE_KEY');
      const loaded = withUpstreams(load(opts), opts);
      // stdout carries the protocol: logs go to stderr only.
      const m = await createMandate(loaded, {
        logger: createJsonLogger(loaded.config.log.level === 'info' ? 'warn' : loaded.config.log.level),
      });
      try {
        if (!m.gateway)
          throw new MandateError(
            'bad_request',
            'no upstreams: configure gateway.upstreams or pass --upstream',
          );
        const caller = await authenticate(m.store, `Bearer ${key}`);
        // The key is checked again before a decision made after a pause: one revoked while the
        // gateway runs decides nothing more (it was checked once, at start).
        const session = await m.gateway.serveStdio(caller, () => authenticate(m.store, `Bearer ${key}`));
        // SIGTERM/SIGINT end the session like the end of stdin: upstream processes are stopped and
        // the audit log is flushed and checkpointed (m.close) before the process exits.
        const stop = () => void session.stop();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          await session.closed;
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      } finally {
        await m.close();
      }
    });
}

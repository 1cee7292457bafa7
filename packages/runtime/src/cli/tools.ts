import { Command } from 'commander';
import { MandateError } from '../kernel/index.js';
import { out, printJson, withMandate, common, load } from './shared.js';
import { pinAction } from './tool-coverage.js';

/** `mandate tools list|approve`: MCP gateway tool pins. */
export function registerTools(program: Command): void {
  const tools = program
    .command('tools')
    .description('MCP gateway tool pins: list them, approve new or changed definitions');
  common(tools.command('list').description('pinned upstream tools and their status')).action(async (opts) => {
    const loaded = load(opts);
    const rows = await withMandate(opts, async (m) => {
      const policy = m.policies.active();
      const declared = policy ? new Set(policy.actions) : null;
      return (await m.store.listToolPins()).map((p) => {
        const action = pinAction(loaded, p);
        // Without a schema entry the tool is hidden and every call denied, whatever the pin says.
        return { ...p, action, declared: declared && action ? declared.has(action) : null };
      });
    });
    if (opts.json) printJson(rows);
    else
      for (const p of rows)
        out(
          `${p.status.padEnd(11)} ${p.server}.${p.tool}  ${p.hash}  ${p.approvedBy ?? ''}` +
            (p.declared === false ? `  ⚠ ${p.action} is not declared in the Cedar schema: denied` : ''),
        );
  });
  common(tools.command('approve <name>').description('approve the current definition of <server.tool>'))
    .option('--hash <hash>', 'approve only if the pinned definition has this hash')
    .action(async (name: string, opts) => {
      const pin = await withMandate(opts, async (m) => {
        if (!m.gateway) throw new MandateError('bad_request', 'no upstreams are configured');
        // `tools list` prints `server.tool`: that name approves, whatever the upstream's action prefix.
        const pinned = (await m.store.listToolPins()).find((p) => `${p.server}.${p.tool}` === name);
        if (pinned) return m.gateway.pins.approve(pinned.server, pinned.tool, 'admin:cli', opts.hash);
        return m.gateway.approve(name, 'admin:cli', opts.hash);
      });
      if (opts.json) printJson(pin);
      else out(`approved ${pin.server}.${pin.tool} ${pin.hash}`);
    });
}

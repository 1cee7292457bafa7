import { Command } from 'commander';
import { MandateError } from '../kernel/index.js';
import { out, printJson, withMandate, common } from './shared.js';

/** `mandate tools list|approve`: MCP gateway tool pins. */
export function registerTools(program: Command): void {
  const tools = program
    .command('tools')
    .description('MCP gateway tool pins: list them, approve new or changed definitions');
  common(tools.command('list').description('pinned upstream tools and their status')).action(async (opts) => {
    const pins = await withMandate(opts, (m) => m.store.listToolPins());
    if (opts.json) printJson(pins);
    else
      for (const p of pins)
        out(`${p.status.padEnd(11)} ${p.server}.${p.tool}  ${p.hash}  ${p.approvedBy ?? ''}`);
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

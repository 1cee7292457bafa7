import { Command } from 'commander';
import { MandateError } from '../kernel/index.js';
import { withCollisions } from '../gateway/catalog.js';
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
      const pins = (await m.store.listToolPins()).map((p) => ({ ...p, action: pinAction(loaded, p) }));
      // Without a schema entry the tool is hidden and every call denied, whatever the pin says.
      return withCollisions(pins).map((p) => ({
        ...p,
        declared: declared && p.action ? declared.has(p.action) : null,
      }));
    });
    if (opts.json) printJson(rows);
    else
      for (const p of rows) {
        // The action as decisions, policies and `tools approve` name it (`<actionPrefix><tool>`).
        const name = p.action ?? p.tool;
        const collides = p.collidesWith.length > 0;
        out(
          `${(collides ? 'collision' : p.status).padEnd(11)} ${name}  upstream ${p.server}  ${p.hash}  ${p.approvedBy ?? ''}` +
            (collides
              ? `  ⚠ ${name} is also claimed by upstream ${p.collidesWith.join(', ')}: quarantined on all of them, ` +
                'whatever the pins say; give all but one their own actionPrefix or remove them from the config'
              : '') +
            (p.action === null ? `  ⚠ upstream ${p.server} is no longer configured` : '') +
            (p.declared === false ? `  ⚠ ${name} is not declared in the Cedar schema: denied` : ''),
        );
      }
  });
  common(
    tools
      .command('approve <name>')
      .description('approve the current definition of the tool <name> (its action, or <server>.<tool>)'),
  )
    .option('--hash <hash>', 'approve only if the pinned definition has this hash')
    .action(async (name: string, opts) => {
      const loaded = load(opts);
      const pin = await withMandate(opts, async (m) => {
        if (!m.gateway) throw new MandateError('bad_request', 'no upstreams are configured');
        // `<server>.<tool>` (what `tools list` printed before it printed actions) names that pin's
        // action. Either way the gateway's approve decides: it refuses an action two upstreams claim.
        const pinned = (await m.store.listToolPins()).find((p) => `${p.server}.${p.tool}` === name);
        const action = pinned ? pinAction(loaded, pinned) : null;
        const approved = await m.gateway.approve(action ?? name, 'admin:cli', opts.hash);
        return { ...approved, action: pinAction(loaded, approved) };
      });
      if (opts.json) printJson(pin);
      else out(`approved ${pin.action ?? pin.tool} (upstream ${pin.server}) ${pin.hash}`);
    });
}

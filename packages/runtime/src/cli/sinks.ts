import type { Command } from 'commander';
import { silentLogger } from '../kernel/index.js';
import { openStore } from '../app/index.js';
import { EXIT, common, load, out, printJson } from './shared.js';

/** `mandate audit sinks`: each configured sink's stored cursor and how far it trails the chain. */
export function registerAuditSinks(program: Command): void {
  const audit = program.commands.find((c) => c.name() === 'audit');
  if (!audit) throw new Error('register the audit command first');
  common(audit.command('sinks').description('show each audit sink’s delivery cursor and lag')).action(
    async (opts) => {
      const loaded = load(opts);
      const store = openStore(loaded.config.store, silentLogger);
      try {
        const head = (await store.auditHead()).seq;
        const cursors = new Map((await store.listSinkCursors()).map((c) => [c.sink, c]));
        const sinks = loaded.config.sinks.map((s) => {
          const c = cursors.get(s.name);
          const cursor = c?.seq ?? 0;
          return {
            name: s.name,
            type: s.type,
            cursor,
            lag: Math.max(0, head - cursor),
            updatedAt: c?.updatedAt ?? null,
          };
        });
        if (opts.json) printJson({ head, sinks });
        else if (sinks.length === 0) out('no audit sinks are configured (docs/streaming.md)');
        else
          for (const s of sinks)
            out(
              `${s.name}  ${s.type}  delivered to #${s.cursor} of #${head}  lag ${s.lag}${s.updatedAt ? `  (last ack ${s.updatedAt})` : '  (nothing acknowledged yet)'}`,
            );
        process.exitCode = EXIT.ok;
      } finally {
        await store.close();
      }
    },
  );
}

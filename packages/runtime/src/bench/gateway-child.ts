/**
 * Child-process entry of the gateway rows, so the load generator, the gateway and the upstream
 * each have their own event loop (as they would in production):
 *
 *   node --no-turbo-inlining gateway-child.js upstream
 *   node --no-turbo-inlining gateway-child.js gateway <config.json>
 *
 * Prints `READY <url>` on stdout; exits when stdin closes.
 */
import { readFileSync } from 'node:fs';
import { ConfigSchema } from '../config/index.js';
import { createMandate } from '../app/index.js';
import { silentLogger } from '../kernel/index.js';
import { startEchoUpstream } from '../gateway/index.js';

async function main(): Promise<void> {
  const [kind, arg] = process.argv.slice(2);
  let url: string;
  let close: () => Promise<void>;
  if (kind === 'upstream' || kind === 'upstream-json') {
    const up = await startEchoUpstream({ json: kind === 'upstream-json' });
    url = up.url;
    close = () => up.close();
  } else if (kind === 'gateway' && arg) {
    const config = ConfigSchema.parse(JSON.parse(readFileSync(arg, 'utf8')));
    const m = await createMandate(
      { config, file: arg, baseDir: process.cwd(), nodeId: 'bench-gateway' },
      { logger: silentLogger },
    );
    url = `${(await m.listen()).url}/mcp`;
    close = () => m.close();
  } else {
    throw new Error('usage: gateway-child.js upstream | gateway <config.json>');
  }
  process.stdout.write(`READY ${url}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    void close().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`gateway-child: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

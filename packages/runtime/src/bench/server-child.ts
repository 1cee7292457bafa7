/**
 * Child-process entry of the HTTP rows, so the load generator never shares the server's event
 * loop. Started by `http.ts` with `--no-turbo-inlining` and an IPC channel:
 *
 *   node --no-turbo-inlining server-child.js mandate <tempDir> [cedar|compiled]
 *   node --no-turbo-inlining server-child.js bare <base64 JSON body>
 *
 * Sends `{ type: 'ready', url }`; answers `{ type: 'stats' }` with the audit counters; on
 * `{ type: 'stop' }` closes and sends `{ type: 'closed', audit? }`.
 */
import { startBareServer, startMandateServer, type RunningServer } from './servers.js';

/** A message from the child to the bench. */
export type ChildMessage =
  | { type: 'ready'; url: string; pid: number; execArgv: string[] }
  | { type: 'closed'; audit?: unknown }
  | { type: 'stats'; audit?: unknown }
  | { type: 'failed'; error: string };

const send = (msg: ChildMessage) =>
  new Promise<void>((resolve) => {
    if (!process.send) resolve();
    else process.send(msg, () => resolve());
  });

async function main(): Promise<void> {
  const [kind, arg, engine] = process.argv.slice(2);
  let server: RunningServer;
  if (kind === 'mandate' && arg)
    server = await startMandateServer({
      dir: arg,
      ...(engine === 'cedar' || engine === 'compiled' ? { engine } : {}),
    });
  else if (kind === 'bare' && arg)
    server = await startBareServer(Buffer.from(arg, 'base64').toString('utf8'));
  else throw new Error('usage: server-child.js mandate <dir> [cedar|compiled] | bare <base64 body>');

  let closing: ReturnType<RunningServer['close']> | undefined;
  const close = () => (closing ??= server.close());
  process.on('message', (msg: { type?: string }) => {
    if (msg?.type === 'stats') void send({ type: 'stats', audit: server.stats() });
    if (msg?.type !== 'stop') return;
    close()
      .then((stats) => send({ type: 'closed', ...stats }))
      .catch((err: unknown) => send({ type: 'failed', error: (err as Error)?.stack ?? String(err) }))
      .finally(() => process.disconnect?.());
  });
  // The bench going away (crash, Ctrl-C) must not leave a server behind.
  process.on('disconnect', () => {
    void close().finally(() => process.exit(0));
  });
  await send({ type: 'ready', url: server.url, pid: process.pid, execArgv: process.execArgv });
}

main().catch(async (err: unknown) => {
  await send({ type: 'failed', error: (err as Error)?.stack ?? String(err) });
  process.exitCode = 1;
  process.disconnect?.();
});

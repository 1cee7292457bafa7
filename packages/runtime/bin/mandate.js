#!/usr/bin/env node
// SECURITY: on Node 20, hot cedar-wasm loops abort the process in V8's deoptimizer unless TurboFan
// inlining is off. Mandate sets the flag itself: re-run node with it when it is missing.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:os';

const FLAG = '--no-turbo-inlining';
const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

if (process.execArgv.includes(FLAG)) {
  await import(main);
} else {
  const child = spawn(process.execPath, [...process.execArgv, FLAG, main, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    process.exit(signal ? 128 + (constants.signals[signal] ?? 1) : (code ?? 1));
  });
}

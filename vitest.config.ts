import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: [
      {
        find: /^@mandate\/protocol$/,
        replacement: fileURLToPath(new URL('./packages/protocol/src/index.ts', import.meta.url)),
      },
      {
        find: /^@mandate\/protocol\/display$/,
        replacement: fileURLToPath(new URL('./packages/protocol/src/display.ts', import.meta.url)),
      },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'packages/*/src/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    pool: 'forks',
    // SECURITY: cedar-wasm hot loops abort the process in V8's deoptimizer on Node 20 without this.
    execArgv: ['--no-turbo-inlining'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});

import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Test files that run each in a fresh process: those that replace a module (`vi.mock`) for their own
 * run, and those that break process-wide state on purpose (the cedar-wasm instance every engine of
 * the process shares). Every other file shares its worker's module cache with the files before it
 * (`isolate: false`): the app's few hundred modules are loaded once per worker, not once per file (a
 * third of `npm test`'s time on 2 cores). A new `vi.mock`, or a new test of such state, belongs here.
 */
const ISOLATED = [
  'packages/runtime/test/policy/reader-failure.test.ts',
  // Breaks the live wasm instance: another node of the worker healed it first once (CI, 2026-12-02).
  'packages/runtime/test/integration/hostile-policy.test.ts',
];

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
    pool: 'forks',
    // SECURITY: cedar-wasm hot loops abort the process in V8's deoptimizer on Node 20 without this.
    execArgv: ['--no-turbo-inlining'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    maxWorkers: 2,
    // `extends: true` merges arrays: `include` is set per project only, never here.
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: [
            'packages/*/test/**/*.test.ts',
            'packages/*/src/**/*.test.ts',
            'apps/*/test/**/*.test.ts',
          ],
          exclude: [...configDefaults.exclude, ...ISOLATED],
          isolate: false,
        },
      },
      { extends: true, test: { name: 'isolated', isolate: true, include: ISOLATED } },
    ],
  },
});

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '.dependency-cruiser.cjs',
      '**/dist/**',
      '**/node_modules/**',
      'bench-results/**',
      'packages/runtime/bin/**',
    ],
  },
  js.configs.recommended,
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: {
        process: 'readonly',
        URL: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A closure may read a binding that is assigned once, later (e.g. a transport created after its callback).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read the environment only in src/config.',
        },
      ],
    },
  },
  {
    files: [
      'packages/runtime/src/config/**',
      'packages/runtime/src/cli/**',
      'packages/runtime/src/bench/**',
      'packages/sdk/bench/**',
      '**/test/**',
      '**/*.test.ts',
      'examples/**',
      '*.config.ts',
    ],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['packages/*/src/**/*.ts'],
    ignores: ['packages/runtime/src/cli/**', 'packages/runtime/src/bench/**'],
    rules: { 'no-console': 'error' },
  },
);

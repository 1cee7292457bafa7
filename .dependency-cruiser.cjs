/** Folder dependency rules (STYLE.md): kernel <- domain <- transports <- app; one owner per third-party library. */
const src = '^packages/runtime/src/';
const domain = `${src}(policy|tools|entities|decisions|approvals|grants|audit|keys|sessions)/`;
const owner = (lib, folder) => ({
  name: `only-${folder.replace(/\W+/g, '-')}-imports-${lib.replace(/\W+/g, '-')}`,
  comment: `${lib} has one owning folder: ${folder}`,
  severity: 'error',
  from: { path: src, pathNot: `${src}${folder}` },
  to: { path: `node_modules/${lib}` },
});
module.exports = {
  forbidden: [
    {
      name: 'kernel-imports-nothing',
      severity: 'error',
      from: { path: `${src}kernel/` },
      to: { path: src, pathNot: `${src}kernel/` },
    },
    {
      name: 'domain-not-transport-or-driver',
      comment: 'Domain modules never import transports, the composition root or concrete storage drivers.',
      severity: 'error',
      from: { path: domain },
      to: { path: `${src}(http|gateway|cli|app|bench|storage/(memory|sqlite|postgres))/` },
    },
    {
      name: 'storage-drivers-not-domain-services',
      severity: 'error',
      from: { path: `${src}storage/` },
      to: { path: `${src}(http|gateway|cli|app|bench|decisions)/` },
    },
    {
      name: 'transports-are-peers',
      severity: 'error',
      from: { path: `${src}(http|gateway)/` },
      to: { path: `${src}(cli|app|bench)/` },
    },
    owner('@cedar-policy', 'policy/cedar/'),
    owner('better-sqlite3', 'storage/sqlite/'),
    owner('pg', 'storage/postgres/'),
    owner('commander', 'cli/'),
    owner('ajv', 'tools/'),
    {
      name: 'sdk-core-has-no-dependencies',
      comment:
        'The SDK client and guard import nothing from node_modules; only adapters import a framework (optional peers).',
      severity: 'error',
      from: { path: '^packages/sdk/src/', pathNot: '^packages/sdk/src/adapters/' },
      to: { path: 'node_modules' },
    },
    {
      name: 'sdk-reaches-the-runtime-only-through-its-entry',
      comment:
        'The SDK never imports another package by path; embedded mode loads @mandate/runtime by name, on demand.',
      severity: 'error',
      from: { path: '^packages/sdk/src/' },
      to: { path: '^packages/(runtime|protocol)/' },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(dist|\\.test\\.ts$)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: require('node:path').join(__dirname, 'packages/runtime/tsconfig.json') },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};

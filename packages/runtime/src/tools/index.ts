export { createToolRegistry } from './registry.js';
export type { ResourceRef, ToolRegistry, ToolRegistryOptions } from './registry.js';
export {
  MAX_PATH_LENGTH,
  canonicalPath,
  parsePathArg,
  pathAncestors,
  resolveRealPath,
  rewritePathArgs,
} from './paths.js';
export type { PathArgOptions, PathArgStep, PathFs } from './paths.js';
export { localPathFs } from './local-fs.js';
export { schemaDeclares } from './declared-args.js';

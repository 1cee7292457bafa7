export { createToolRegistry } from './registry.js';
export type { ResourceRef, ToolRegistry } from './registry.js';

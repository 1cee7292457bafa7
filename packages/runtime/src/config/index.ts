export { ConfigSchema } from './schema.js';
export type { Config, ConfigInput } from './schema.js';
export { loadConfig } from './loader.js';
export type { ConfigOverrides, LoadedConfig } from './loader.js';
export { configJsonSchema } from './json-schema.js';
export type { DashboardConfig, OidcConfig } from './dashboard-schema.js';

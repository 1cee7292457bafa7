export { apiKeyHash, authenticate } from './auth.js';
export { HTTP_STATUS } from './errors.js';
export { createMetrics } from './metrics.js';
export type { Metrics } from './metrics.js';
export { createHttpHandler, createHttpServer } from './server.js';
export type { HttpDeps } from './server.js';

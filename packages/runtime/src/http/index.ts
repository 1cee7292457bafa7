export { apiKeyHash, authenticate, createAuthenticator, recentlyKnownKey } from './auth.js';
export { createJwtVerifier, type JwtAuthConfig } from './jwt.js';
export { HTTP_STATUS } from './errors.js';
export { createMetrics } from './metrics.js';
export type { Metrics } from './metrics.js';
export { closeUnusedConnections, createHttpHandler, createHttpServer } from './server.js';
export type { HttpDeps } from './deps.js';
export { createOidcClient } from './oidc.js';
export type { OidcClient } from './oidc.js';

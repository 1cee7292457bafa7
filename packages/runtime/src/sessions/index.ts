export { OIDC_KEY_PREFIX, createSessionService } from './service.js';
export type {
  OpenedSession,
  ResolvedSession,
  SessionOptions,
  SessionPrincipal,
  SessionService,
  SessionServiceDeps,
} from './service.js';

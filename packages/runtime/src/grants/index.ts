export { actionCovered, createGrantService, describeLimit } from './service.js';
export type {
  CreateGrantInput,
  GrantCheck,
  GrantCheckInput,
  GrantCreator,
  GrantFailure,
  GrantService,
  GrantServiceDeps,
} from './service.js';

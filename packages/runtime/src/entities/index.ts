export { recordAgentStatus, refuseLookalikeIds, updateEntities } from './service.js';

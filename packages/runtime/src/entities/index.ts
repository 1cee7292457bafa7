export { updateEntities } from './service.js';

export { refuseLookalikeIds, updateEntities } from './service.js';

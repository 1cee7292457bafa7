export { apiKeyDead, apiKeyHash, createKeyService, createKeyUsage } from './service.js';
export type {
  ApiKeyView,
  ConfigKey,
  CreateKeyInput,
  IssuedKey,
  KeyService,
  KeyServiceDeps,
  KeyUsage,
} from './service.js';

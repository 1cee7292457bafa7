/**
 * `@mandate/sdk`: a typed client for the Mandate v1 API — remote over HTTP or embedded in-process —
 * and `guardTool`, the enforcing check inside a tool's body. Framework adapters are subpath
 * exports: `@mandate/sdk/ai`, `/openai-agents`, `/langchain`, `/mcp`, `/openai`.
 */
export { createClient, DEFAULT_URL } from './client/create.js';
export type { ClientOptions } from './client/create.js';
export type { EmbeddedOptions } from './client/embedded.js';
export type {
  CallOptions,
  DecideInput,
  DecideOptions,
  EntitiesUpdate,
  MandateClient,
  WaitOptions,
} from './client/types.js';
export { MandateApiError, isMandateApiError } from './errors.js';
export type { ClientErrorCode, SdkErrorCode } from './errors.js';
export { createGuard, memoryPendingStore } from './guard/guard.js';
export type {
  BodyInfo,
  CallContext,
  DeniedResult,
  Guard,
  GuardOptions,
  GuardResult,
  OkResult,
  PendingResult,
  PendingStore,
  ToolBody,
} from './guard/guard.js';
export { guardTool, guardTools } from './guard/tool.js';
export type { GuardedTool } from './guard/tool.js';
export { decodePending } from './guard/pending.js';
export type { PendingCall } from './guard/pending.js';
export type * from './wire.js';

/** Sesame's library API. */
export * from './errors.js';
export { loadConfig, interpolate } from './config/load.js';
export { type ConfigFile, type SesameConfig, validateConfig } from './config/schema.js';
export { namespaceChain } from './namespaces.js';
export { parseDuration } from './config/duration.js';
export * from './refs/index.js';
export { MASK, MIN_MASK_LENGTH, Redactor, processRedactor } from './redact/redactor.js';
export type { CacheStats } from './resolve/cache.js';
export type { ResolvedReference, ResolveOptions, ResolveReport, ResolverObserver } from './resolve/resolver.js';
export type { PreparedResolver } from './resolve/prepare.js';
export {
  ConnectionNotFoundError,
  createSesame,
  loadSesame,
  type RefreshTarget,
  type ResolvedConnection,
  Sesame,
  type SesameOptions,
} from './sesame.js';
export type * from './stores/contract.js';
export { defaultStoreTypes } from './stores/default-types.js';
export { StoreTypeRegistry } from './stores/registry.js';
export { withRetry } from './stores/core/retry.js';
export { createLogger } from './log.js';
export { openDatabase, type SesameDatabase } from './db/index.js';
export { loadMasterKey, openBuiltinBackend } from './encrypted-store/index.js';
export { createBuiltinService } from './stores/builtin/index.js';
export { ConnectionTypeRegistry, type AuthenticateOptions, type AuthenticationResult, type ConnectionType } from './connections/types.js';
export { defaultConnectionTypes } from './connections/default-types.js';
export { AuthenticationFailedError, ConnectionAuthError, type ConnectionTestReport } from './connections/service.js';

/**
 * The builtin encrypted store's engine: envelope encryption, master keys and their rotation,
 * versioned namespaced secrets over the database. The store adapter (`src/stores/builtin/`),
 * the CLI and the server use it; it imports nothing above `src/db`.
 */
export { BuiltinBackend, type MasterKeyStatus, type OpenBuiltinBackendOptions, openBuiltinBackend } from './backend.js';
export { openValue, rewrapDataKey, type SealedValue, sealValue, unwrapDataKey } from './envelope.js';
export {
  DatabaseBusyError,
  describeSecret,
  MasterKeyError,
  type SecretCoordinates,
  SecretIntegrityError,
  UnknownMasterKeyError,
} from './errors.js';
export {
  formatKeyFile,
  generateMasterKey,
  keyFileWarning,
  keyIdOf,
  type LoadedMasterKeys,
  type LoadMasterKeyOptions,
  loadMasterKey,
  type MasterKey,
  MasterKeyring,
  type MasterKeySource,
  masterKeyFrom,
  parseKeyFile,
} from './master-key.js';
export { checkNamespace, checkSecretName, parseVersion } from './names.js';
export {
  KeyRotationInterruptedError,
  type KeyRotationOptions,
  type KeyRotationProgress,
  type KeyRotationResult,
  rotateMasterKey,
} from './rotate.js';
export {
  BuiltinSecrets,
  DEFAULT_MAX_VALUE_SIZE,
  DEFAULT_RECOVERY_WINDOW_MS,
  type ListQuery,
  type ReadRequest,
  type SecretInfo,
  type SecretSpaceOptions,
  type StoredSecret,
  type VersionInfo,
  type WriteInput,
} from './secrets.js';

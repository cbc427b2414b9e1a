/** The store types Sesame ships: one line per type. Cloud SDKs load lazily, on a store's first use. */
import { awsSecretsManagerStoreType } from './aws/index.js';
import { azureKeyVaultStoreType } from './azure/index.js';
import { builtinStoreType } from './builtin/index.js';
import { conjurStoreType } from './conjur/index.js';
import { dopplerStoreType } from './doppler/index.js';
import { envStoreType } from './env/index.js';
import { fileStoreType } from './file/index.js';
import { gcpSecretManagerStoreType } from './gcp/index.js';
import { httpStoreType } from './http/index.js';
import { infisicalStoreType } from './infisical/index.js';
import { onePasswordStoreType } from './onepassword/index.js';
import { StoreTypeRegistry } from './registry.js';
import { vaultStoreType } from './vault/index.js';

export function defaultStoreTypes(): StoreTypeRegistry {
  return new StoreTypeRegistry()
    .register(awsSecretsManagerStoreType)
    .register(azureKeyVaultStoreType)
    .register(builtinStoreType)
    .register(envStoreType)
    .register(fileStoreType)
    .register(gcpSecretManagerStoreType)
    .register(httpStoreType)
    .register(vaultStoreType)
    .register(onePasswordStoreType)
    .register(dopplerStoreType)
    .register(infisicalStoreType)
    .register(conjurStoreType);
}

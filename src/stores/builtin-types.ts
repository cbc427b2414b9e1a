/** The store types Sesame ships: one line per type. */
import { builtinStoreType } from './builtin/index.js';
import { envStoreType } from './env/index.js';
import { fileStoreType } from './file/index.js';
import { StoreTypeRegistry } from './registry.js';

export function defaultStoreTypes(): StoreTypeRegistry {
  return new StoreTypeRegistry().register(builtinStoreType).register(envStoreType).register(fileStoreType);
}

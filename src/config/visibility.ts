/** Which store a name means from a namespace: the namespace chain, then the root's implicit stores. */
import { namespaceChain } from '../namespaces.js';
import type { SesameConfig, StoreConfig } from './schema.js';

/** The root's stores that exist without being declared; a config may redeclare them to change settings. */
const SYSTEM_STORES = new Set(['builtin', 'env']);

/** Find the store a name means from a namespace: the namespace chain, then the root's implicit stores. */
export function findStoreConfig(config: SesameConfig, storeName: string, namespace: string): StoreConfig | undefined {
  for (const ns of namespaceChain(namespace, config.namespaces)) {
    const found = config.stores.find((s) => s.name === storeName && s.namespace === ns);
    if (found) return found;
  }
  // Isolation cuts inheritance of declared stores and of builtin secrets, but the root's
  // implicit stores stay reachable so `secret://builtin/…` means the same everywhere.
  return config.stores.find((s) => s.namespace === '' && s.name === storeName && SYSTEM_STORES.has(s.name));
}

import { ConfigError } from '../errors.js';
import type { StoreType } from './contract.js';

/**
 * One map of store types. Adding a store type is one adapter folder plus one line in
 * `default-types.ts`; registering the same type twice is an error.
 */
export class StoreTypeRegistry {
  readonly #types = new Map<string, StoreType<unknown>>();

  register<S>(storeType: StoreType<S>): this {
    if (this.#types.has(storeType.type)) {
      throw new Error(`store type "${storeType.type}" is registered twice`);
    }
    this.#types.set(storeType.type, storeType as StoreType<unknown>);
    return this;
  }

  get(type: string, path?: string): StoreType<unknown> {
    const found = this.#types.get(type);
    if (!found) {
      throw new ConfigError(`unknown store type "${type}"`, {
        path,
        hint: `use one of: ${this.types().join(', ')}`,
      });
    }
    return found;
  }

  has(type: string): boolean {
    return this.#types.has(type);
  }

  types(): string[] {
    return [...this.#types.keys()].sort();
  }
}

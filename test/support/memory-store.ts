/**
 * An in-memory store type for resolver tests: counts calls, can answer slowly, fail as
 * unavailable or denied, and batch through getMany.
 */
import { z } from 'zod';
import { AccessDeniedError, SecretNotFoundError, StoreUnavailableError } from '../../src/errors.js';
import type { FetchedSecret, SecretRequest, StoreClient, StoreType } from '../../src/stores/contract.js';

export interface MemoryBackend {
  /** name → versions (last is latest). Namespaced: key `${namespace}|${name}`. */
  secrets: Map<string, string[]>;
  calls: { get: number; getMany: number; requested: number };
  delayMs: number;
  mode: 'ok' | 'unavailable' | 'denied';
  namespaced: boolean;
  set(name: string, value: string, namespace?: string): void;
}

export function memoryBackend(namespaced = false): MemoryBackend {
  const backend: MemoryBackend = {
    secrets: new Map(),
    calls: { get: 0, getMany: 0, requested: 0 },
    delayMs: 0,
    mode: 'ok',
    namespaced,
    set(name, value, namespace = '') {
      const key = namespaced ? `${namespace}|${name}` : name;
      const versions = backend.secrets.get(key) ?? [];
      versions.push(value);
      backend.secrets.set(key, versions);
    },
  };
  return backend;
}

const settings = z.strictObject({ backend: z.string(), batch: z.boolean().default(true), token: z.string().optional() });

class MemoryClient implements StoreClient {
  getMany?: StoreClient['getMany'];

  constructor(
    private readonly backend: MemoryBackend,
    private readonly storeName: string,
    batch: boolean,
  ) {
    if (batch) {
      this.getMany = async (requests) => {
        this.backend.calls.getMany++;
        this.backend.calls.requested += requests.length;
        await this.#wait();
        return requests.map((r) => {
          try {
            return this.#read(r);
          } catch (err) {
            return err as Error;
          }
        });
      };
    }
  }

  async #wait() {
    if (this.backend.delayMs > 0) await new Promise((r) => setTimeout(r, this.backend.delayMs));
    if (this.backend.mode === 'unavailable') throw new StoreUnavailableError(`[${this.storeName}] connection refused`);
    if (this.backend.mode === 'denied') throw new AccessDeniedError(`[${this.storeName}] grant read on the secret`);
  }

  #read(r: SecretRequest): FetchedSecret {
    const keys = this.backend.namespaced ? r.namespaces.map((ns) => `${ns}|${r.name}`) : [r.name];
    for (const key of keys) {
      const versions = this.backend.secrets.get(key);
      if (!versions) continue;
      const index = r.version !== undefined ? Number(r.version) - 1 : versions.length - 1;
      const value = versions[index];
      if (value === undefined) throw new SecretNotFoundError(`[${this.storeName}] no version ${r.version} of ${r.name}`);
      return { value, version: String(index + 1), namespace: this.backend.namespaced ? key.split('|')[0] : undefined };
    }
    throw new SecretNotFoundError(`[${this.storeName}] no secret ${r.name}`);
  }

  async get(r: SecretRequest) {
    this.backend.calls.get++;
    this.backend.calls.requested++;
    await this.#wait();
    return this.#read(r);
  }

  async list() {
    return { items: [...this.backend.secrets.keys()].map((name) => ({ name })) };
  }

  async check() {
    return { ok: true, steps: [{ step: 'read', ok: true, detail: 'in memory' }] };
  }

  async close() {}
}

/** A store type whose `backend` setting names an entry of `backends`. */
export function memoryStoreType(backends: Record<string, MemoryBackend>, namespaced = false) {
  return {
    type: namespaced ? 'memory-ns' : 'memory',
    capabilities: { write: false, batch: true, versions: true, stages: false, namespaced, restore: false },
    settings,
    secretSettings: ['token'],
    // Values live in this process's memory: nothing of the host's is reached.
    hostAccess: () => [],
    create(s: z.infer<typeof settings>, context: { storeName: string }) {
      const backend = backends[s.backend];
      if (!backend) throw new Error(`no backend ${s.backend}`);
      return new MemoryClient(backend, context.storeName, s.batch);
    },
  } satisfies StoreType<z.infer<typeof settings>>;
}

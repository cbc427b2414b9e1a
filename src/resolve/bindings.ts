/**
 * Store bindings: one per configured store, holding its cache and its lazily created client.
 * A client is created on first use, after the store's credential settings (which may be
 * `{{ secret://… }}` of another store) are resolved.
 */
import type { LookupFunction } from 'node:net';
import type { SesameConfig, StoreConfig } from '../config/schema.js';
import { findStoreConfig } from '../config/visibility.js';
import { namespaceChain } from '../namespaces.js';
import {
  ConfigError,
  describeUnexpected,
  ReadOnlyStoreError,
  SesameError,
  StoreNotFoundError,
  StoreUnavailableError,
  UnsupportedOperationError,
} from '../errors.js';
import type {
  FetchedSecret,
  SecretRequest,
  StoreCapabilities,
  StoreClient,
  StoreContext,
  StoreServices,
  StoreType,
} from '../stores/contract.js';
import type { StoreTypeRegistry } from '../stores/registry.js';
import { SecretCache } from './cache.js';

export interface StoreBinding {
  /** `namespace/name`, unique per process. */
  readonly id: string;
  readonly config: StoreConfig;
  readonly type: StoreType<unknown>;
  readonly cache: SecretCache;
  client(): Promise<StoreClient>;
  /**
   * Make the next use create a new client, with its settings resolved again (credentials from
   * other stores rotate). The old client is closed once the calls it has in flight had time to end.
   */
  renewClient(): void;
  /** Prefix of every cache key for a caller namespace (namespace-aware stores key by it). */
  keyPrefix(callerNamespace: string): string;
}

export type SettingsResolver = (settings: unknown, store: StoreConfig) => Promise<unknown>;

export interface BindingOptions {
  /** The outbound policy's connect-time lookup, for stores with `restrictOutbound`. */
  outboundLookup?: ((what: string) => LookupFunction) | undefined;
  registry: StoreTypeRegistry;
  services: StoreServices;
  log: StoreContext['log'];
  resolveSettings: SettingsResolver;
  now?: () => number;
}

/** (namespace, store name) lookups memoized at most. */
const MAX_LOOKUPS = 10_000;

export class StoreBindings {
  readonly #bindings = new Map<string, Binding>();
  readonly #lookups = new Map<string, Binding | null>();
  #config: SesameConfig;
  /** Bumped when stores change, so memoized lookups are redone. */
  generation = 0;

  constructor(
    config: SesameConfig,
    private readonly options: BindingOptions,
  ) {
    this.#config = config;
    for (const store of config.stores) this.#add(store);
  }

  get config(): SesameConfig {
    return this.#config;
  }

  #add(store: StoreConfig): Binding {
    const binding = new Binding(
      store,
      this.options.registry.get(store.type),
      this.options,
      this.#config.baseDir,
    );
    this.#bindings.set(binding.id, binding);
    this.#lookups.clear();
    return binding;
  }

  /** Replace the config (stores added, changed or removed through the API). */
  async reconfigure(config: SesameConfig): Promise<void> {
    const old = this.#bindings;
    const keep = new Map<string, Binding>();
    for (const store of config.stores) {
      const id = bindingId(store);
      const existing = old.get(id);
      if (existing && JSON.stringify(existing.config) === JSON.stringify(store)) keep.set(id, existing);
    }
    const closing = [...old.values()].filter((b) => keep.get(b.id) !== b);
    this.#config = config;
    this.#bindings.clear();
    this.#lookups.clear();
    this.generation++;
    for (const store of config.stores) {
      const kept = keep.get(bindingId(store));
      if (kept) this.#bindings.set(kept.id, kept);
      else this.#add(store);
    }
    await Promise.allSettled(closing.map((b) => b.close()));
  }

  /** How many (namespace, store name) lookups are memoized. */
  memoizedLookups(): number {
    return this.#lookups.size;
  }

  /** The store a reference's store name means from `namespace`, or undefined. */
  find(storeName: string, namespace: string): StoreBinding | undefined {
    const memo = `${namespace}\u0000${storeName}`;
    const cached = this.#lookups.get(memo);
    if (cached !== undefined) return cached ?? undefined;
    const config = findStoreConfig(this.#config, storeName, namespace);
    const binding = config ? (this.#bindings.get(bindingId(config)) ?? null) : null;
    // Namespaces need not be declared, so callers may ask from any number of them (a namespace
    // per run): the memo starts again past a bound instead of growing with them.
    if (this.#lookups.size >= MAX_LOOKUPS) this.#lookups.clear();
    this.#lookups.set(memo, binding);
    return binding ?? undefined;
  }

  /** Like {@link find}, but a missing store is an error that says where it was looked for. */
  get(storeName: string, namespace: string): StoreBinding {
    const binding = this.find(storeName, namespace);
    if (binding) return binding;
    const chain = namespaceChain(namespace, this.#config.namespaces)
      .map((n) => (n === '' ? '(root)' : n))
      .join(' → ');
    throw new StoreNotFoundError(
      `no store "${storeName}" in namespace ${chain}: declare it under stores:, or check the store name`,
    );
  }

  /**
   * A binding for a store config that is not (yet) in effect: to test settings before they are
   * saved. Nothing is cached or kept; close it when done.
   */
  probe(config: StoreConfig): StoreBinding & { close(): Promise<void> } {
    return new Binding(config, this.options.registry.get(config.type), this.options, this.#config.baseDir);
  }

  all(): StoreBinding[] {
    return [...this.#bindings.values()];
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#bindings.values()].map((b) => b.close()));
  }
}

/**
 * Why a request asks for what the store type does not have (`?version=` on a store without
 * versions, `?stage=` on one without stages), or undefined. Checked here, once, for every
 * adapter: the resolver and the secrets routes reach stores only through `client()`.
 */
function unsupportedPin(
  request: SecretRequest,
  store: StoreConfig,
  capabilities: StoreCapabilities,
): string | undefined {
  if (request.stage !== undefined && !capabilities.stages) {
    return (
      `[${store.name}] ?stage= pins an AWS staging label; stores of type ${store.type} have no stages` +
      (capabilities.versions ? ': pin a version with ?version= instead' : ': drop ?stage=')
    );
  }
  if (request.version !== undefined && !capabilities.versions) {
    return `[${store.name}] stores of type ${store.type} keep no versions: drop ?version=`;
  }
  return undefined;
}

/**
 * The store's client as the core lets callers use it: pins the type cannot serve are refused
 * before the adapter sees them, and with `readOnly` writes, deletes and restores are refused,
 * whatever the adapter.
 */
function guardedClient(client: StoreClient, store: StoreConfig, type: StoreType<unknown>): StoreClient {
  const { capabilities } = type;
  const refuse = (operation: string) => () =>
    Promise.reject(
      new ReadOnlyStoreError(
        `[${store.name}] the store is read-only (readOnly: true in its settings), so Sesame does not ${operation} secrets in it: ` +
          'do it in the store itself, or remove readOnly',
      ),
    );
  const overrides: Record<string, unknown> = {
    get: (request: SecretRequest) => {
      const why = unsupportedPin(request, store, capabilities);
      return why ? Promise.reject(new UnsupportedOperationError(why)) : client.get(request);
    },
  };
  if (client.getMany) {
    const many = client.getMany.bind(client);
    overrides['getMany'] = async (requests: readonly SecretRequest[]) => {
      const refused = requests.map((r) => unsupportedPin(r, store, capabilities));
      if (refused.every((why) => why === undefined)) return many(requests);
      const asked = requests.filter((_, i) => refused[i] === undefined);
      const answers = asked.length > 0 ? await many(asked) : [];
      let next = 0;
      return refused.map((why) =>
        why === undefined ? (answers[next++] as FetchedSecret | Error) : new UnsupportedOperationError(why),
      );
    };
  }
  if (store.readOnly) {
    for (const operation of ['write', 'delete', 'restore'] as const)
      if (client[operation]) overrides[operation] = refuse(operation);
  }
  return new Proxy(client, {
    get(target, prop) {
      if (typeof prop === 'string' && prop in overrides) return overrides[prop];
      const value = Reflect.get(target, prop, target);
      // Methods keep their own `this` (adapters use private fields).
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function bindingId(store: StoreConfig): string {
  return `${store.namespace}/${store.name}`;
}

/** How long a renewed store's old client stays open for the calls it has in flight. */
const RETIRED_CLIENT_GRACE_MS = 60_000;

class Binding implements StoreBinding {
  readonly id: string;
  readonly cache: SecretCache;
  #client: Promise<StoreClient> | undefined;
  /** Clients replaced by renewClient(), closed after a grace period or by close(). */
  readonly #retired = new Map<Promise<StoreClient>, ReturnType<typeof setTimeout>>();

  constructor(
    readonly config: StoreConfig,
    readonly type: StoreType<unknown>,
    private readonly options: BindingOptions,
    private readonly baseDir: string,
  ) {
    this.id = bindingId(config);
    this.cache = new SecretCache(config.cache, options.now);
  }

  keyPrefix(callerNamespace: string): string {
    const byNamespace =
      this.type.capabilities.namespaced || this.type.readsByNamespace?.(this.config.settings) === true;
    return byNamespace ? `${callerNamespace}\u0000` : '\u0000';
  }

  client(): Promise<StoreClient> {
    this.#client ??= this.#create()
      .then((client) => guardedClient(client, this.config, this.type))
      .catch((err: unknown) => {
        // Do not remember a failure: the next use tries again (the store may come back).
        this.#client = undefined;
        throw err;
      });
    return this.#client;
  }

  async #create(): Promise<StoreClient> {
    if (this.config.unavailable) throw this.config.unavailable;
    const settings = await this.options.resolveSettings(this.config.settings, this.config);
    try {
      return await this.type.create(settings, {
        storeName: this.config.name,
        namespace: this.config.namespace,
        baseDir: this.baseDir,
        log: this.options.log,
        services: this.options.services,
        lookup: this.config.restrictOutbound ? this.#lookup() : undefined,
      });
    } catch (err) {
      if (err instanceof SesameError) throw err;
      // Not one of ours: its message may quote what it parsed (a credential setting), so it is
      // described, not repeated, and not kept as the cause.
      const detail = describeUnexpected(err);
      const cause = new Error(detail);
      cause.name = err instanceof Error ? err.name : typeof err;
      throw new StoreUnavailableError(
        `[${this.config.name}] could not start the ${this.config.type} client: ${detail}`,
        {},
        { cause },
      );
    }
  }

  #lookup(): LookupFunction {
    const lookup = this.options.outboundLookup;
    if (!lookup)
      throw new StoreUnavailableError(
        `[${this.config.name}] this store must connect through the outbound policy, and there is none`,
      );
    return lookup(`store ${this.config.name}`);
  }

  renewClient(): void {
    const old = this.#client;
    if (!old) return;
    this.#client = undefined;
    const timer = setTimeout(() => {
      this.#retired.delete(old);
      void closeClient(old);
    }, RETIRED_CLIENT_GRACE_MS);
    timer.unref?.();
    this.#retired.set(old, timer);
  }

  async close(): Promise<void> {
    const pending = [...this.#retired.keys()];
    for (const timer of this.#retired.values()) clearTimeout(timer);
    this.#retired.clear();
    if (this.#client) pending.push(this.#client);
    this.#client = undefined;
    await Promise.allSettled(pending.map(closeClient));
  }
}

async function closeClient(pending: Promise<StoreClient>): Promise<void> {
  const client = await pending.catch(() => undefined);
  await client?.close();
}

/** Static check: store credentials that reference stores whose credentials reference back. */
export function checkSettingsCycles(config: SesameConfig, refsOf: (store: StoreConfig) => string[]): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (store: StoreConfig, path: string[]) => {
    const id = bindingId(store);
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(store.name)), store.name].join(' → ');
      throw new ConfigError(`store credentials form a cycle: ${cycle}`, {
        path: `stores (${store.name})`,
        hint: 'a store cannot get its own credentials, directly or through other stores',
      });
    }
    state.set(id, 'visiting');
    for (const target of refsOf(store)) {
      const next = findStoreConfig(config, target, store.namespace);
      if (next) visit(next, [...path, store.name]);
    }
    state.set(id, 'done');
  };
  for (const store of config.stores) visit(store, []);
}

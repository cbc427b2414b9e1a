/**
 * The library entry: one object that owns the config, the store bindings, the cache, the
 * resolver and the redactor. The CLI and the server are built on it.
 */
import type { Logger } from 'pino';
import { loadConfig } from './config/load.js';
import { defaultConnectionTypes } from './connections/default-types.js';
import { secretLiterals } from './connections/mask.js';
import {
  type ConnectionTestOptions,
  type ConnectionTestReport,
  testConnection,
  useConnection,
} from './connections/service.js';
import type { ConnectionTypeRegistry } from './connections/types.js';
import {
  type ConfigFile,
  type ConnectionConfig,
  type SesameConfig,
  type StoreConfig,
  validateConfig,
} from './config/schema.js';
import { ForbiddenError, SesameError, UsageError } from './errors.js';
import { checkedNamespace, namespaceChain } from './namespaces.js';
import { createLogger, storeLogger } from './log.js';
import { processRedactor, type Redactor } from './redact/redactor.js';
import { dialectsOf } from './refs/dialects/index.js';
import { collectReferences } from './refs/template.js';
import {
  AccessPolicy,
  checkNamespace,
  covers,
  describeNamespace,
  type Principal,
  type Purpose,
} from './resolve/access.js';
import { checkSettingsCycles, type StoreBinding, StoreBindings } from './resolve/bindings.js';
import { OutboundPolicy } from './resolve/outbound.js';
import { coarseNow } from './resolve/clock.js';
import type { CacheStats } from './resolve/cache.js';
import { type PreparedResolver, prepareResolver } from './resolve/prepare.js';
import {
  type ResolveOptions,
  type ResolveReport,
  Resolver,
  type ResolverObserver,
} from './resolve/resolver.js';
import { type BuiltinBackend, type BuiltinService, createBuiltinService } from './stores/builtin/index.js';
import { defaultStoreTypes } from './stores/default-types.js';
import type { CheckReport, StoreServices } from './stores/contract.js';
import type { StoreTypeRegistry } from './stores/registry.js';

export interface SesameOptions {
  /** Directory relative paths in the config are resolved against (default: cwd). */
  baseDir?: string;
  registry?: StoreTypeRegistry;
  logger?: Logger;
  redactor?: Redactor;
  observer?: ResolverObserver;
  /** Extra services for store types (tests inject fakes here). */
  services?: StoreServices;
  /** Clock for cache TTLs (tests). */
  now?: () => number;
  /** Connection types (default: generic, http, postgres). */
  connectionTypes?: ConnectionTypeRegistry;
  /** How the outbound policy resolves host names (tests give a fixed table; default: the system resolver). */
  resolveHost?: (host: string) => Promise<string[]>;
}

/** What to drop from the cache. Exactly one of the fields. */
export type RefreshTarget =
  | { reference: string }
  | { connection: string }
  | { store: string }
  | { namespace: string }
  | { all: true };

export interface ResolvedConnection {
  name: string;
  namespace: string;
  type: string;
  fields: Record<string, unknown>;
}

export interface StoreSummary {
  name: string;
  namespace: string;
  type: string;
  implicit: boolean;
  description?: string | undefined;
  cache: CacheStats;
}

export class Sesame {
  readonly registry: StoreTypeRegistry;
  readonly bindings: StoreBindings;
  readonly resolver: Resolver;
  readonly redactor: Redactor;
  readonly log: Logger;
  readonly services: StoreServices;
  readonly connectionTypes: ConnectionTypeRegistry;
  /** The authorization point of the resolve path (see `resolve/access.ts`). */
  readonly access: AccessPolicy;
  readonly #prepareContext: () => Parameters<typeof prepareResolver>[0];

  constructor(config: SesameConfig, options: SesameOptions & { registry: StoreTypeRegistry }) {
    this.registry = options.registry;
    this.connectionTypes = options.connectionTypes ?? defaultConnectionTypes();
    this.redactor = options.redactor ?? processRedactor;
    this.log = options.logger ?? createLogger({ level: config.logLevel, redactor: this.redactor });
    this.services = {
      builtin: createBuiltinService({
        database: config.database,
        masterKey: config.masterKey,
        baseDir: config.baseDir,
        embedded: config.embedded,
      }),
      ...(options.services ?? {}),
    };
    checkSettingsCycles(config, (store) => collectReferences(store.settings).map((s) => s.ref.store));
    this.bindings = new StoreBindings(config, {
      registry: this.registry,
      services: this.services,
      log: storeLogger(this.log, 'stores'),
      resolveSettings: (settings, store) => this.#resolveSettings(settings, store),
      outboundLookup: (what) => this.access.connectLookup(what),
      now: options.now,
    });
    let outbound: { settings: unknown; policy: OutboundPolicy } | undefined;
    this.access = new AccessPolicy(() => {
      // The policy follows the config in effect (reconfigure may change it).
      const settings = this.config.server?.outbound;
      if (outbound === undefined || outbound.settings !== settings) {
        outbound = { settings, policy: new OutboundPolicy(settings, options.resolveHost) };
      }
      return outbound.policy;
    });
    this.resolver = new Resolver(this.bindings, this.redactor, options.observer, options.now, this.access);
    this.#prepareContext = () => ({
      resolver: this.resolver,
      bindings: this.bindings,
      access: this.access,
      observer: options.observer,
      now: options.now ?? coarseNow,
    });
  }

  /** The config in effect: the one given at creation, or the last one {@link reconfigure} applied. */
  get config(): SesameConfig {
    return this.bindings.config;
  }

  /**
   * Replace the config at run time (the server applies stores, connections and namespaces
   * created through its API this way). Stores whose config did not change keep their client and
   * cache; the others are closed and recreated on first use.
   */
  async reconfigure(config: SesameConfig): Promise<void> {
    checkSettingsCycles(config, (store) => collectReferences(store.settings).map((s) => s.ref.store));
    await this.bindings.reconfigure(config);
  }

  /** The builtin store's backend (database, master key), opened and migrated on first use. */
  builtinBackend(): Promise<BuiltinBackend> {
    const service = this.services['builtin'];
    if (typeof service !== 'function') {
      return Promise.reject(
        new SesameError('no builtin service: this Sesame was created without a database'),
      );
    }
    return (service as BuiltinService)();
  }

  async #resolveSettings(
    settings: unknown,
    store: { name: string; namespace: string; type: string },
  ): Promise<unknown> {
    const resolved =
      collectReferences(settings).length === 0
        ? settings
        : await this.resolver.resolve(settings, {
            namespace: store.namespace,
            field: `stores.${store.name}`,
          });
    // Credentials in settings are secrets too: mask them wherever they might surface.
    for (const path of this.registry.get(store.type).secretSettings ?? []) {
      let node: unknown = resolved;
      for (const part of path.split('.'))
        node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
      // A credential setting may be a string or a map of them (e.g. custom headers).
      if (typeof node === 'string') this.redactor.add(node);
      else if (node && typeof node === 'object') {
        for (const v of Object.values(node)) if (typeof v === 'string') this.redactor.add(v);
      }
    }
    return resolved;
  }

  /**
   * Resolve every reference in a value: a reference, a template string, or any JSON-like document.
   *
   * @example
   * const fields = await sesame.resolve({ password: '{{ secret://builtin/db/password }}' }, { namespace: 'acme' });
   */
  resolve<T = unknown>(value: unknown, options?: ResolveOptions): Promise<T> {
    return this.resolver.resolve<T>(value, options);
  }

  /** The resolved value when every reference is fresh in the cache, else undefined (synchronous). */
  resolveCached<T = unknown>(value: unknown, options?: ResolveOptions): T | undefined {
    return this.resolver.resolveCached<T>(value, options);
  }

  /**
   * Compile a document once for repeated resolution (a connection's fields on every job): `get()`
   * returns it from the cache synchronously (or `undefined`), `resolve()` fetches what is missing.
   * Refresh, rotation, TTL expiry, config changes and the access policy apply on every call.
   *
   * @example
   * const fields = sesame.prepare(conn.fields, { namespace: 'acme.devops' });
   * const resolved = fields.get() ?? (await fields.resolve());
   */
  prepare<T = unknown>(value: unknown, options?: ResolveOptions): PreparedResolver<T> {
    return prepareResolver<T>(this.#prepareContext(), value, options);
  }

  /** Resolve and report where each value came from (cache, store, or stale while the store is down). */
  resolveDetailed<T = unknown>(value: unknown, options?: ResolveOptions): Promise<ResolveReport<T>> {
    return this.resolver.resolveDetailed<T>(value, options);
  }

  /** Connections visible from a namespace: its own, then its parents' (not past an isolated one). */
  connections(namespace = ''): ConnectionConfig[] {
    const chain = namespaceChain(namespace, this.config.namespaces);
    const seen = new Set<string>();
    const out: ConnectionConfig[] = [];
    for (const ns of chain) {
      for (const c of this.config.connections) {
        if (c.namespace === ns && !seen.has(c.name)) {
          seen.add(c.name);
          out.push(c);
        }
      }
    }
    return out;
  }

  connection(name: string, namespace = ''): ConnectionConfig {
    const found = this.connections(namespace).find((c) => c.name === name);
    if (!found) {
      throw new ConnectionNotFoundError(
        `no connection "${name}" in namespace ${namespace || '(root)'} or its parents: check the name (sesame connections list)`,
      );
    }
    if (found.unavailable) throw found.unavailable;
    return found;
  }

  /**
   * Resolve a connection's fields through the same path a run uses. With a `principal`, the
   * access policy decides for each reference (`purpose` says what the values are for).
   */
  async resolveConnection(
    name: string,
    options: { namespace?: string; principal?: Principal | undefined; purpose?: Purpose | undefined } = {},
  ): Promise<ResolvedConnection> {
    const conn = this.connection(name, options.namespace ?? '');
    const fields = await this.resolver.resolve<Record<string, unknown>>(conn.fields, {
      namespace: options.namespace ?? conn.namespace,
      field: 'fields',
      principal: options.principal,
      purpose: options.purpose,
    });
    // Its literal credentials are secrets too (shown as *** everywhere): masked like resolved values.
    for (const literal of secretLiterals(conn.fields, this.connectionTypes.get(conn.type).secretFields)) {
      this.redactor.add(literal);
    }
    return { name: conn.name, namespace: conn.namespace, type: conn.type, fields };
  }

  /**
   * Test a connection the way a run uses it: resolve through the same cache, namespace and
   * stores, then authenticate to the target; with `refreshOnAuthFailure`, a refusal refreshes the
   * connection's references and tries once more. The report holds no value.
   */
  testConnection(name: string, options: ConnectionTestOptions = {}): Promise<ConnectionTestReport> {
    return testConnection(this, name, options);
  }

  /**
   * Run `use` with a connection's resolved fields; on an authentication failure, refresh the
   * connection's references and run it once more with the new values (refresh on rotation).
   *
   * @example
   * await sesame.useConnection('warehouse', (fields) => runQuery(fields), {
   *   namespace: 'acme.devops',
   *   isAuthFailure: (err) => (err as { code?: string }).code === '28P01',
   * });
   */
  useConnection<T>(
    name: string,
    use: (fields: Record<string, unknown>, attempt: number) => Promise<T>,
    options: { namespace?: string; isAuthFailure?: (err: unknown) => boolean } = {},
  ): Promise<T> {
    return useConnection(this, name, use, options);
  }

  /**
   * Drop cached values so the next resolve fetches again. Returns how many entries were dropped.
   *
   * @example
   * await sesame.refresh({ connection: 'jira' }, { namespace: 'acme.devops' });
   */
  async refresh(
    target: RefreshTarget,
    options: { namespace?: string; scope?: string } = {},
  ): Promise<{ dropped: number }> {
    const namespace = checkedNamespace(options.namespace ?? '');
    // A scoped refresh (a token limited to a namespace) drops only what its scope covers.
    const scope = options.scope ?? '';
    if (!covers(scope, namespace))
      checkNamespace(
        { kind: 'local', id: 'refresh', role: 'runtime', namespace: scope, reveal: false },
        namespace,
      );
    if ('all' in target) {
      if (scope !== '')
        throw new ForbiddenError(
          'forbidden_namespace',
          'refreshing all needs a token for the root namespace',
          '',
        );
      let dropped = 0;
      for (const b of this.bindings.all()) dropped += b.cache.invalidate();
      for (const b of this.bindings.all()) this.#renewCredentials(b, scope);
      return { dropped };
    }
    if ('reference' in target) {
      const dropped = this.resolver.refreshReference(target.reference, namespace, scope);
      // A store whose credentials are this secret gets a client made with its new value.
      const refreshed = collectReferences(target.reference, '', undefined, dialectsOf(this.config)).map(
        (s) => ({
          binding: this.bindings.get(s.ref.store, namespace),
          name: s.ref.name,
        }),
      );
      for (const b of this.bindings.all()) {
        const uses = this.#credentials(b).some((c) =>
          refreshed.some(
            (r) => r.name === c.ref.name && this.bindings.find(c.ref.store, b.config.namespace) === r.binding,
          ),
        );
        if (uses) b.renewClient();
      }
      return { dropped };
    }
    if ('connection' in target) {
      const conn = this.connection(target.connection, namespace);
      let dropped = 0;
      // Its references resolve in the namespace it is used from (resolveConnection), where a store
      // may shadow one of the connection's own namespace: drop them there.
      for (const slot of collectReferences(conn.fields, '', undefined, dialectsOf(this.config))) {
        dropped += this.resolver.refreshReference(slot.raw, namespace, scope);
      }
      return { dropped };
    }
    if ('store' in target) {
      const binding = this.bindings.get(target.store, namespace);
      if (scope === '' || covers(scope, binding.config.namespace)) {
        const dropped = binding.cache.invalidate();
        this.#renewCredentials(binding, scope);
        return { dropped };
      }
      if (binding.type.capabilities.namespaced) {
        const inScope = (n: string) => covers(scope, n);
        return { dropped: binding.cache.invalidate((k) => inScope(k.slice(0, k.indexOf('\u0000')))) };
      }
      throw new ForbiddenError(
        'forbidden_namespace',
        `store ${binding.config.name} is declared in ${describeNamespace(binding.config.namespace)} and shared beyond this token's scope ` +
          `(${describeNamespace(scope)}): refresh its references one by one (reference or connection) instead`,
        binding.config.namespace,
      );
    }
    const ns = checkedNamespace(target.namespace);
    const inNs = (n: string) => covers(ns, n);
    let dropped = 0;
    for (const b of this.bindings.all()) {
      if (inNs(b.config.namespace)) {
        dropped += b.cache.invalidate();
        this.#renewCredentials(b, scope);
      } else if (b.type.capabilities.namespaced)
        dropped += b.cache.invalidate((k) => inNs(k.slice(0, k.indexOf('\u0000'))));
    }
    return { dropped };
  }

  /** The references in a store's settings (credentials from other stores). */
  #credentials(binding: StoreBinding): ReturnType<typeof collectReferences> {
    return collectReferences(binding.config.settings);
  }

  /**
   * A refreshed store fetches its credentials from their stores again: drop them from the cache
   * and make its next client with what they are now (a rotated Vault token, an AWS key).
   */
  #renewCredentials(binding: StoreBinding, scope: string): void {
    const credentials = this.#credentials(binding);
    if (credentials.length === 0) return;
    for (const c of credentials) this.resolver.refreshReference(c.raw, binding.config.namespace, scope);
    binding.renewClient();
  }

  store(name: string, namespace = ''): StoreBinding {
    return this.bindings.get(name, namespace);
  }

  /** Stores visible from a namespace (or all stores when no namespace is given). */
  stores(namespace?: string): StoreSummary[] {
    const all = this.bindings.all();
    const visible =
      namespace === undefined ? all : all.filter((b) => this.bindings.find(b.config.name, namespace) === b);
    return visible.map((b) => ({
      name: b.config.name,
      namespace: b.config.namespace,
      type: b.config.type,
      implicit: b.config.implicit,
      description: b.config.description,
      cache: b.cache.snapshot(),
    }));
  }

  /** Diagnostics for one store: authentication, list and read permission, and what to fix. */
  async testStore(
    name: string,
    options: { namespace?: string; sample?: string; host?: boolean } = {},
  ): Promise<CheckReport> {
    return this.#check(this.bindings.get(name, options.namespace ?? ''), options);
  }

  /**
   * The same diagnostics for a store config that is not in effect (settings about to be saved):
   * a client is made for it, checked and closed; nothing is kept.
   */
  async testStoreConfig(
    config: StoreConfig,
    options: { namespace?: string; sample?: string; host?: boolean } = {},
  ): Promise<CheckReport> {
    const binding = this.bindings.probe(config);
    try {
      return await this.#check(binding, options);
    } finally {
      await binding.close();
    }
  }

  async #check(
    binding: StoreBinding,
    options: { namespace?: string; sample?: string; host?: boolean },
  ): Promise<CheckReport> {
    const namespace = options.namespace ?? '';
    let client: Awaited<ReturnType<StoreBinding['client']>>;
    try {
      client = await binding.client();
    } catch (err) {
      return {
        ok: false,
        steps: [
          {
            step: 'connect',
            ok: false,
            detail: err instanceof Error ? err.message : String(err),
            fix: 'check the store settings and credentials in the config',
          },
        ],
      };
    }
    const report = await client.check({
      sample: options.sample,
      namespaces: namespaceChain(namespace, this.config.namespaces),
      host: options.host === true,
    });
    return this.redactor.redactValue(report);
  }

  cacheStats(): Array<{ store: string; namespace: string } & CacheStats> {
    return this.bindings
      .all()
      .map((b) => ({ store: b.config.name, namespace: b.config.namespace, ...b.cache.snapshot() }));
  }

  async close(): Promise<void> {
    await this.bindings.close();
    const closers = Object.values(this.services).filter(
      (s): s is { close(): Promise<void> } => !!s && typeof (s as { close?: unknown }).close === 'function',
    );
    await Promise.allSettled(closers.map((s) => s.close()));
  }
}

export class ConnectionNotFoundError extends UsageError {
  override readonly code = 'connection_not_found';
  override readonly status = 404;
  override readonly exitCode = 2 as const;
}

/**
 * Create a Sesame from a config object (the same shape as `sesame.yaml`) or a validated config.
 *
 * @example
 * const sesame = createSesame({ stores: [{ name: 'files', type: 'file', root: '/run/secrets' }] });
 * const password = await sesame.resolve('secret://files/db/password');
 */
export function createSesame(config: ConfigFile | SesameConfig = {}, options: SesameOptions = {}): Sesame {
  const registry = options.registry ?? defaultStoreTypes();
  const connectionTypes = options.connectionTypes ?? defaultConnectionTypes();
  const validated = isValidated(config)
    ? config
    : validateConfig(config, { registry, connectionTypes, baseDir: options.baseDir ?? process.cwd() });
  return new Sesame(validated, { ...options, registry, connectionTypes });
}

function isValidated(config: unknown): config is SesameConfig {
  return !!config && typeof config === 'object' && (config as SesameConfig).namespaces instanceof Map;
}

/** Read `--config`, `./sesame.yaml`, or the embedded default, and create a Sesame from it. */
export function loadSesame(
  options: { configFile?: string | undefined; cwd?: string } & SesameOptions = {},
): Sesame {
  const registry = options.registry ?? defaultStoreTypes();
  const connectionTypes = options.connectionTypes ?? defaultConnectionTypes();
  const config = loadConfig({ file: options.configFile, cwd: options.cwd, registry, connectionTypes });
  return new Sesame(config, { ...options, registry, connectionTypes });
}

export { SesameError };

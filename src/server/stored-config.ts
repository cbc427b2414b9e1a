/**
 * Namespaces, stores and connections created through the API, merged over the config file's
 * (which stay read-only here). Every change builds the whole merged config, checks it as the
 * config file is checked (settings by store type, fields by connection type, references to
 * visible stores, credential cycles), then persists the change and applies it with
 * `sesame.reconfigure`. Changes are serialized within the process.
 *
 * Three parts: this service (merge, validate, apply), the repository of sealed rows
 * (`stored-config/repository.ts`: what the database holds, encrypted under the master key), and
 * the views the API shows (`stored-config/views.ts`: sources, masking).
 */
import type { z } from 'zod';
import type { BuiltinBackend } from '../encrypted-store/index.js';
import {
  type CacheSettings,
  type ConnectionConfig,
  cacheSettingsSchema,
  cacheSettingsProblem,
  DEFAULT_CACHE,
  type SesameConfig,
  type StoreConfig,
} from '../config/schema.js';
import { findStoreConfig } from '../config/visibility.js';
import { validateConnectionFields } from '../connections/service.js';
import { ConfigError, SesameError } from '../errors.js';
import { collectReferences } from '../refs/template.js';
import { checkSettingsCycles } from '../resolve/bindings.js';
import type { Sesame } from '../sesame.js';
import { ConflictError, type Issue, issuesFrom, NotFoundError, ValidationError } from './errors.js';
import { type Kind, type OpenedRow, StoredConfigRepository, type UnreadableRow } from './stored-config/repository.js';
import {
  type ConnectionView,
  cacheView,
  connectionView,
  describeNs,
  keepMasked,
  keptMaskedPaths,
  maskSettings,
  type NamespaceView,
  type Stamp,
  type StoreView,
} from './stored-config/views.js';

export type { UnreadableRow } from './stored-config/repository.js';
export { type ConnectionView, maskSettings, type NamespaceView, type Source, type StoreView } from './stored-config/views.js';

export type CacheInput = z.input<typeof cacheSettingsSchema>;

export interface StoreInput {
  name: string;
  namespace: string;
  type: string;
  description?: string | undefined;
  cache?: CacheInput | undefined;
  settings: Record<string, unknown>;
  /**
   * Configured by a root admin: its client connects wherever its settings say. Otherwise it
   * connects through the outbound policy (the default, also for rows stored before this was kept).
   */
  trusted?: boolean | undefined;
}

export interface ConnectionInput {
  name: string;
  namespace: string;
  type: string;
  description?: string | undefined;
  fields: Record<string, unknown>;
}

/**
 * Stored credentials (or connection literals) an update keeps with `***`, and the destinations
 * it would send them to that they did not go to before.
 */
export interface MovedSecrets {
  /** Where they sit: `settings.auth.token`, `fields.auth.token`. */
  kept: string[];
  /** The new destinations (origins, or `host:port`). */
  to: string[];
}

/** `https://a.example:8443` of a URL, else the address as given (`db.internal:5432`). */
function originOf(address: string): string {
  try {
    const { origin } = new URL(address);
    return origin === 'null' ? address : origin;
  } catch {
    return address;
  }
}

/**
 * What `kept` values would newly reach: `after` minus `before` (by origin). `undefined` for a
 * side whose destinations cannot be told (a type that does not say, fields that hold a reference
 * where an address goes): then any change of the document counts as a move (fail closed).
 */
function movedTo(kept: string[], before: string[] | undefined, after: string[] | undefined, changed: boolean): MovedSecrets | undefined {
  if (kept.length === 0) return undefined;
  if (before === undefined || after === undefined) {
    return changed ? { kept, to: after === undefined ? ['destinations its settings name'] : [...new Set(after.map(originOf))] } : undefined;
  }
  const known = new Set(before.map(originOf));
  const to = [...new Set(after.map(originOf))].filter((a) => !known.has(a));
  return to.length > 0 ? { kept, to } : undefined;
}

export interface NamespaceInput {
  isolated?: boolean | undefined;
  description?: string | undefined;
}

const key = (namespace: string, name: string) => `${namespace}\u0000${name}`;

function cacheFrom(input: CacheInput | undefined, at: string): CacheSettings {
  const parsed = cacheSettingsSchema.safeParse(input ?? {});
  if (!parsed.success) throw new ValidationError(issuesFrom(at, parsed.error));
  const c = parsed.data;
  const settings = {
    ttlMs: c.ttl ?? DEFAULT_CACHE.ttlMs,
    maxEntries: c.maxEntries ?? DEFAULT_CACHE.maxEntries,
    maxBytes: c.maxBytes ?? DEFAULT_CACHE.maxBytes,
    staleIfErrorMs: c.staleIfError ?? DEFAULT_CACHE.staleIfErrorMs,
    refreshAheadMs: c.refreshAhead ?? DEFAULT_CACHE.refreshAheadMs,
  };
  const problem = cacheSettingsProblem(settings);
  if (problem) throw new ValidationError([{ path: `${at}.${problem.setting}`, message: problem.message }]);
  return settings;
}

interface StoredStore extends Stamp {
  input: StoreInput;
  config: StoreConfig;
}

interface StoredConnection extends Stamp {
  input: ConnectionInput;
}

interface StoredNamespace {
  isolated: boolean;
  description?: string | undefined;
  createdAt: string;
  updatedAt: string;
}

export class StoredConfig {
  readonly #sesame: Sesame;
  readonly #backend: BuiltinBackend;
  readonly #rows: StoredConfigRepository;
  readonly #base: SesameConfig;
  #stores = new Map<string, StoredStore>();
  #connections = new Map<string, StoredConnection>();
  #namespaces = new Map<string, StoredNamespace>();
  unreadable: UnreadableRow[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(sesame: Sesame, backend: BuiltinBackend) {
    this.#sesame = sesame;
    this.#backend = backend;
    this.#rows = new StoredConfigRepository(backend, () => this.#now());
    this.#base = sesame.config;
  }

  /**
   * Read what the API stored and apply it over the config file's stores, connections and
   * namespaces. Rows sealed under an older master key are resealed under the active one.
   */
  static async open(sesame: Sesame, backend: BuiltinBackend): Promise<StoredConfig> {
    const stored = new StoredConfig(sesame, backend);
    await stored.#load({ reseal: true });
    return stored;
  }

  #now(): string {
    return new Date(this.#backend.now()).toISOString();
  }

  /**
   * Read the stored rows again and apply them: another Sesame process on this database changed
   * them (distributed mode). Serialized with this process's own changes.
   */
  reload(): Promise<void> {
    return this.#serial(() => this.#load({ reseal: false }));
  }

  async #load(options: { reseal: boolean }): Promise<void> {
    // Read into new maps and swap them in at the end: views read meanwhile see the previous state.
    const rows = await this.#rows.readAll();
    const log = this.#sesame.log;
    const unreadable: UnreadableRow[] = [];
    for (const u of rows.unreadable) {
      unreadable.push(u);
      log.error({ kind: u.kind, namespace: u.namespace, name: u.name, err: u.reason }, `stored ${u.kind} ${u.name} could not be read and is left out`);
    }
    const namespaces = new Map<string, StoredNamespace>();
    for (const ns of rows.namespaces) {
      namespaces.set(ns.name, { isolated: ns.isolated, description: ns.description, createdAt: ns.createdAt, updatedAt: ns.updatedAt });
    }
    const shadowed = (kind: Kind, { row }: OpenedRow) => {
      if (!this.#inFile(kind, row.namespace, row.name)) return false;
      const reason = `the config file now declares ${kind} ${row.name} in ${describeNs(row.namespace)}; the stored one is left out`;
      unreadable.push({ kind, namespace: row.namespace, name: row.name, reason });
      log.warn({ kind, namespace: row.namespace, name: row.name }, reason);
      return true;
    };
    const stores = new Map<string, StoredStore>();
    for (const opened of rows.stores) {
      if (shadowed('store', opened)) continue;
      const { row, payload } = opened;
      const options = row.options ? (JSON.parse(row.options) as { cache?: CacheInput; trusted?: boolean }) : {};
      const input: StoreInput = {
        name: row.name,
        namespace: row.namespace,
        type: row.type,
        description: row.description ?? undefined,
        cache: options.cache,
        settings: payload,
        trusted: options.trusted === true,
      };
      try {
        stores.set(key(row.namespace, row.name), {
          input,
          config: this.#storeConfig(input),
          revision: row.revision,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
        });
      } catch (err) {
        unreadable.push({ kind: 'store', namespace: row.namespace, name: row.name, reason: (err as Error).message });
        log.error({ namespace: row.namespace, name: row.name }, `stored store ${row.name} no longer validates and is left out`);
      }
    }
    const connections = new Map<string, StoredConnection>();
    for (const opened of rows.connections) {
      if (shadowed('connection', opened)) continue;
      const { row, payload } = opened;
      connections.set(key(row.namespace, row.name), {
        input: { name: row.name, namespace: row.namespace, type: row.type, description: row.description ?? undefined, fields: payload },
        revision: row.revision,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      });
    }
    const merged = this.#merged({ stores, connections, namespaces });
    for (const problem of this.#problems(merged)) {
      log.error({ problem }, 'a stored store or connection does not fit the config; fix it through the API');
    }
    await this.#sesame.reconfigure(merged);
    this.#stores = stores;
    this.#connections = connections;
    this.#namespaces = namespaces;
    this.unreadable = unreadable;
    if (!options.reseal) return;
    for (const err of await this.#rows.reseal(rows.stale)) log.warn({ err: err.message }, 'could not reseal a stored config row');
  }

  /** Run changes one at a time: each builds on the config the previous one applied. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  // --- building and checking the merged config

  #storeConfig(input: StoreInput): StoreConfig {
    const issues: Issue[] = [];
    const storeType = this.#sesame.registry.has(input.type) ? this.#sesame.registry.get(input.type) : undefined;
    if (!storeType) {
      throw new ValidationError([
        { path: 'body.type', message: `unknown store type "${input.type}": use one of ${this.#sesame.registry.types().join(', ')}` },
      ]);
    }
    const settings = storeType.settings.safeParse(input.settings);
    if (!settings.success) issues.push(...issuesFrom('body.settings', settings.error));
    let cache: CacheSettings = { ...DEFAULT_CACHE };
    try {
      cache = cacheFrom(input.cache, 'body.cache');
    } catch (err) {
      if (err instanceof ValidationError) issues.push(...err.issues);
      else throw err;
    }
    if (issues.length > 0) throw new ValidationError(issues);
    return {
      name: input.name,
      namespace: input.namespace,
      type: input.type,
      description: input.description,
      cache,
      settings: settings.data,
      implicit: false,
      restrictOutbound: input.trusted !== true,
    };
  }

  #merged(
    changes: {
      stores?: Map<string, StoredStore>;
      connections?: Map<string, StoredConnection>;
      namespaces?: Map<string, StoredNamespace>;
    } = {},
  ): SesameConfig {
    const namespaces = new Map(this.#base.namespaces);
    for (const [name, ns] of changes.namespaces ?? this.#namespaces) {
      namespaces.set(name, { isolated: ns.isolated, description: ns.description });
    }
    const stores = [...this.#base.stores, ...[...(changes.stores ?? this.#stores).values()].map((s) => s.config)];
    const connections: ConnectionConfig[] = [
      ...this.#base.connections,
      ...[...(changes.connections ?? this.#connections).values()].map((c) => ({
        name: c.input.name,
        namespace: c.input.namespace,
        type: c.input.type,
        description: c.input.description,
        fields: c.input.fields,
        origin: 'api' as const,
      })),
    ];
    return { ...this.#base, namespaces, stores, connections };
  }

  /**
   * What the config file's checks would say about `config`: references to stores not visible
   * from their namespace, and credential cycles.
   */
  #problems(config: SesameConfig): string[] {
    const problems: string[] = [];
    for (const conn of config.connections) {
      for (const slot of collectReferences(conn.fields, 'fields')) {
        if (!findStoreConfig(config, slot.ref.store, conn.namespace)) {
          problems.push(
            `connection ${conn.name} (${describeNs(conn.namespace)}) references store "${slot.ref.store}" in ${slot.field}, ` +
              'which is not visible from its namespace: create the store first, or fix the reference',
          );
        }
      }
    }
    for (const store of config.stores) {
      for (const slot of collectReferences(store.settings, 'settings')) {
        if (!findStoreConfig(config, slot.ref.store, store.namespace)) {
          problems.push(
            `store ${store.name} (${describeNs(store.namespace)}) takes a credential from store "${slot.ref.store}" in ${slot.field}, ` +
              'which is not visible from its namespace',
          );
        }
      }
    }
    try {
      checkSettingsCycles(config, (store) => collectReferences(store.settings).map((s) => s.ref.store));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message.replace(/^config /, ''));
    }
    return problems;
  }

  /**
   * Refuse a change that introduces a problem (409). Problems the config already had (a store
   * removed from the config file that a stored connection still references) do not block
   * other changes, so they can be fixed through the API.
   */
  #checkChange(next: SesameConfig): void {
    const before = new Set(this.#problems(this.#sesame.config));
    const introduced = this.#problems(next).find((p) => !before.has(p));
    if (introduced) throw new ConflictError(introduced);
  }

  #inFile(kind: Kind, namespace: string, name: string): boolean {
    const list: Array<{ namespace: string; name: string }> = kind === 'store' ? this.#base.stores : this.#base.connections;
    return list.some((e) => e.namespace === namespace && e.name === name);
  }

  // --- stores

  /** Every store: the config file's (read-only, implicit ones included) and the API's. */
  stores(): StoreView[] {
    const secretPaths = (type: string) => (this.#sesame.registry.has(type) ? (this.#sesame.registry.get(type).secretSettings ?? []) : []);
    const fromFile: StoreView[] = this.#base.stores.map((s) => ({
      name: s.name,
      namespace: s.namespace,
      type: s.type,
      description: s.description,
      source: s.implicit ? 'implicit' : 'config',
      settings: maskSettings((s.settings ?? {}) as Record<string, unknown>, secretPaths(s.type)),
      cache: cacheView(s.cache),
    }));
    const fromApi: StoreView[] = [...this.#stores.values()].map((s) => ({
      name: s.input.name,
      namespace: s.input.namespace,
      type: s.input.type,
      description: s.input.description,
      source: 'api',
      settings: maskSettings(s.input.settings, secretPaths(s.input.type)),
      cache: cacheView(s.config.cache),
      revision: s.revision,
      createdAt: s.createdAt,
      updatedAt: s.updatedAt,
    }));
    return [...fromFile, ...fromApi];
  }

  store(namespace: string, name: string): StoreView {
    const found = this.stores().find((s) => s.namespace === namespace && s.name === name);
    if (!found) throw new NotFoundError(`no store "${name}" in ${describeNs(namespace)}: list them with GET /api/v1/stores`);
    return found;
  }

  createStore(input: StoreInput): Promise<StoreView> {
    return this.#serial(async () => {
      const k = key(input.namespace, input.name);
      if (this.#inFile('store', input.namespace, input.name) || this.#stores.has(k)) {
        throw new ConflictError(`store "${input.name}" already exists in ${describeNs(input.namespace)}: update it, or pick another name`);
      }
      const config = this.#storeConfig(input);
      const now = this.#now();
      const entry: StoredStore = { input, config, revision: 1, createdAt: now, updatedAt: now };
      const stores = new Map(this.#stores).set(k, entry);
      const merged = this.#merged({ stores });
      this.#checkChange(merged);
      await this.#persistStore(entry, 'insert');
      this.#stores.set(k, entry);
      await this.#sesame.reconfigure(merged);
      return this.store(input.namespace, input.name);
    });
  }

  /**
   * The config a store would have with `input` (validated; `***` keeps a credential of the store
   * stored under that name), without saving anything: to test settings before they are saved.
   */
  candidateStore(input: StoreInput): StoreConfig {
    const previous = this.#stores.get(key(input.namespace, input.name));
    const settings = previous ? (keepMasked(input.settings, previous.input.settings) as Record<string, unknown>) : input.settings;
    return this.#storeConfig({ ...input, settings });
  }

  /**
   * The credentials `input` keeps with `***` from the store saved under its name, when the
   * store would send them to an address they did not go to before. Such a credential was given
   * by whoever set it and no reply shows it, so the route lets only a root admin move it.
   * Undefined: nothing kept, it stays where it went, or the settings are invalid (refused with
   * their issues when applied).
   */
  credentialsMovedBy(input: StoreInput): MovedSecrets | undefined {
    const previous = this.#stores.get(key(input.namespace, input.name));
    if (!previous) return undefined;
    const kept = keptMaskedPaths(input.settings, previous.input.settings).map((p) => `settings.${p}`);
    if (kept.length === 0) return undefined;
    const settings = keepMasked(input.settings, previous.input.settings);
    const after = this.#storeAddresses(input.type, settings);
    if (after === null) return undefined;
    const before = input.type === previous.input.type ? this.#storeAddresses(previous.input.type, previous.input.settings) : undefined;
    const changed = input.type !== previous.input.type || JSON.stringify(settings) !== JSON.stringify(previous.input.settings);
    return movedTo(kept, before ?? undefined, after, changed);
  }

  /** The addresses a store of `type` with `settings` connects to; undefined when the type does not say, null when the settings are invalid. */
  #storeAddresses(type: string, settings: unknown): string[] | undefined | null {
    if (!this.#sesame.registry.has(type)) return null;
    const storeType = this.#sesame.registry.get(type);
    const parsed = storeType.settings.safeParse(settings);
    if (!parsed.success) return null;
    if (!storeType.hostAccess) return undefined;
    return storeType.hostAccess(parsed.data).flatMap((a) => (a.kind === 'address' ? [a.url] : []));
  }

  /** Replace a store's settings; `***` for a credential keeps the stored one. */
  updateStore(input: StoreInput): Promise<StoreView> {
    return this.#serial(async () => {
      const k = key(input.namespace, input.name);
      const previous = this.#stores.get(k);
      if (!previous) {
        if (this.#inFile('store', input.namespace, input.name)) {
          throw new ConflictError(`store "${input.name}" comes from the config file: change it there`);
        }
        throw new NotFoundError(`no store "${input.name}" in ${describeNs(input.namespace)} created through the API`);
      }
      const settings = keepMasked(input.settings, previous.input.settings) as Record<string, unknown>;
      const next: StoreInput = { ...input, settings };
      const config = this.#storeConfig(next);
      const entry: StoredStore = {
        input: next,
        config,
        revision: previous.revision + 1,
        createdAt: previous.createdAt,
        updatedAt: this.#now(),
      };
      const stores = new Map(this.#stores).set(k, entry);
      const merged = this.#merged({ stores });
      this.#checkChange(merged);
      await this.#persistStore(entry, 'update', previous.revision);
      this.#stores.set(k, entry);
      await this.#sesame.reconfigure(merged);
      return this.store(input.namespace, input.name);
    });
  }

  deleteStore(namespace: string, name: string): Promise<StoreView> {
    return this.#serial(async () => {
      const k = key(namespace, name);
      const previous = this.#stores.get(k);
      if (!previous) {
        if (this.#inFile('store', namespace, name)) throw new ConflictError(`store "${name}" comes from the config file: remove it there`);
        throw new NotFoundError(`no store "${name}" in ${describeNs(namespace)} created through the API`);
      }
      const view = this.store(namespace, name);
      const stores = new Map(this.#stores);
      stores.delete(k);
      const merged = this.#merged({ stores });
      this.#checkChange(merged);
      await this.#rows.remove('store', namespace, name);
      this.#stores.delete(k);
      await this.#sesame.reconfigure(merged);
      return view;
    });
  }

  #persistStore(entry: StoredStore, mode: 'insert' | 'update', previousRevision?: number): Promise<void> {
    const { input } = entry;
    const options = { ...(input.cache ? { cache: input.cache } : {}), ...(input.trusted ? { trusted: true } : {}) };
    return this.#rows.put(
      'store',
      { ...this.#rowOf(entry), options: Object.keys(options).length > 0 ? JSON.stringify(options) : null, payload: input.settings },
      mode,
      previousRevision,
    );
  }

  #rowOf(entry: StoredStore | StoredConnection) {
    const { namespace, name, type, description } = entry.input;
    return { namespace, name, type, description, revision: entry.revision, createdAt: entry.createdAt, updatedAt: entry.updatedAt };
  }

  // --- connections

  connections(): ConnectionView[] {
    const types = this.#sesame.connectionTypes;
    const known = new Set(types.types());
    const secretFields = (type: string) => (known.has(type) ? types.get(type).secretFields : []);
    return [
      ...this.#base.connections.map((c) => connectionView(c, 'config', secretFields(c.type))),
      ...[...this.#connections.values()].map((c) => connectionView(c.input, 'api', secretFields(c.input.type), c)),
    ];
  }

  connection(namespace: string, name: string): ConnectionView {
    const found = this.connections().find((c) => c.namespace === namespace && c.name === name);
    if (!found) throw new NotFoundError(`no connection "${name}" in ${describeNs(namespace)}: list them with GET /api/v1/connections`);
    return found;
  }

  #checkConnection(input: ConnectionInput): void {
    let type: ReturnType<Sesame['connectionTypes']['get']>;
    try {
      type = this.#sesame.connectionTypes.get(input.type);
    } catch {
      throw new ValidationError([
        { path: 'body.type', message: `unknown connection type "${input.type}": use one of ${this.#sesame.connectionTypes.types().join(', ')}` },
      ]);
    }
    try {
      collectReferences(input.fields, 'body.fields');
      validateConnectionFields(type, input.fields, 'body.fields');
    } catch (err) {
      if (err instanceof SesameError && err.status === 400) {
        throw new ValidationError([{ path: 'body.fields', message: err.message.replace(/^config body\.fields: /, '') }]);
      }
      throw err;
    }
  }

  createConnection(input: ConnectionInput): Promise<ConnectionView> {
    return this.#serial(async () => {
      const k = key(input.namespace, input.name);
      if (this.#inFile('connection', input.namespace, input.name) || this.#connections.has(k)) {
        throw new ConflictError(`connection "${input.name}" already exists in ${describeNs(input.namespace)}: update it, or pick another name`);
      }
      this.#checkConnection(input);
      const now = this.#now();
      const entry: StoredConnection = { input, revision: 1, createdAt: now, updatedAt: now };
      const connections = new Map(this.#connections).set(k, entry);
      const merged = this.#merged({ connections });
      this.#checkChange(merged);
      await this.#persistConnection(entry, 'insert');
      this.#connections.set(k, entry);
      await this.#sesame.reconfigure(merged);
      return this.connection(input.namespace, input.name);
    });
  }

  /**
   * The literals `input` keeps with `***` from the connection saved under its name, when a test
   * of the connection would send them to a destination they did not go to before (as
   * {@link credentialsMovedBy} for stores).
   */
  literalsMovedBy(input: ConnectionInput): MovedSecrets | undefined {
    const previous = this.#connections.get(key(input.namespace, input.name));
    if (!previous) return undefined;
    const kept = keptMaskedPaths(input.fields, previous.input.fields).map((p) => `fields.${p}`);
    if (kept.length === 0) return undefined;
    const fields = keepMasked(input.fields, previous.input.fields);
    const after = this.#connectionDestinations(input.type, fields);
    if (after === null) return undefined;
    const before = input.type === previous.input.type ? this.#connectionDestinations(previous.input.type, previous.input.fields) : undefined;
    const changed = input.type !== previous.input.type || JSON.stringify(fields) !== JSON.stringify(previous.input.fields);
    return movedTo(kept, before ?? undefined, after, changed);
  }

  /**
   * Where a test of a connection of `type` with `fields` connects: [] for a type that connects
   * nowhere, undefined when that cannot be told (the type does not say, or a reference stands
   * where an address goes), null for an unknown type (refused when applied).
   */
  #connectionDestinations(type: string, fields: unknown): string[] | undefined | null {
    const types = this.#sesame.connectionTypes;
    if (!types.types().includes(type)) return null;
    const connectionType = types.get(type);
    if (!connectionType.authenticate) return [];
    if (!connectionType.destinations) return undefined;
    const parsed = connectionType.fields.safeParse(fields);
    if (!parsed.success) return undefined;
    return connectionType.destinations(parsed.data).map((d) => d.address);
  }

  /** Replace a connection's fields; `***` for a literal keeps the stored one. */
  updateConnection(input: ConnectionInput): Promise<ConnectionView> {
    return this.#serial(async () => {
      const k = key(input.namespace, input.name);
      const previous = this.#connections.get(k);
      if (!previous) {
        if (this.#inFile('connection', input.namespace, input.name)) {
          throw new ConflictError(`connection "${input.name}" comes from the config file: change it there`);
        }
        throw new NotFoundError(`no connection "${input.name}" in ${describeNs(input.namespace)} created through the API`);
      }
      const next: ConnectionInput = { ...input, fields: keepMasked(input.fields, previous.input.fields) as Record<string, unknown> };
      this.#checkConnection(next);
      const entry: StoredConnection = {
        input: next,
        revision: previous.revision + 1,
        createdAt: previous.createdAt,
        updatedAt: this.#now(),
      };
      const connections = new Map(this.#connections).set(k, entry);
      const merged = this.#merged({ connections });
      this.#checkChange(merged);
      await this.#persistConnection(entry, 'update', previous.revision);
      this.#connections.set(k, entry);
      await this.#sesame.reconfigure(merged);
      return this.connection(input.namespace, input.name);
    });
  }

  deleteConnection(namespace: string, name: string): Promise<ConnectionView> {
    return this.#serial(async () => {
      const k = key(namespace, name);
      if (!this.#connections.has(k)) {
        if (this.#inFile('connection', namespace, name)) throw new ConflictError(`connection "${name}" comes from the config file: remove it there`);
        throw new NotFoundError(`no connection "${name}" in ${describeNs(namespace)} created through the API`);
      }
      const view = this.connection(namespace, name);
      const connections = new Map(this.#connections);
      connections.delete(k);
      const merged = this.#merged({ connections });
      await this.#rows.remove('connection', namespace, name);
      this.#connections.delete(k);
      await this.#sesame.reconfigure(merged);
      return view;
    });
  }

  #persistConnection(entry: StoredConnection, mode: 'insert' | 'update', previousRevision?: number): Promise<void> {
    return this.#rows.put('connection', { ...this.#rowOf(entry), options: null, payload: entry.input.fields }, mode, previousRevision);
  }

  // --- namespaces

  /** Namespaces declared in the config file, created through the API, or only used by something. */
  namespaces(): NamespaceView[] {
    const out = new Map<string, NamespaceView>();
    const config = this.#sesame.config;
    const used = [...config.stores.map((s) => s.namespace), ...config.connections.map((c) => c.namespace)];
    for (const ns of used) {
      for (let n = ns; n !== ''; n = n.includes('.') ? n.slice(0, n.lastIndexOf('.')) : '') {
        if (!out.has(n)) out.set(n, { name: n, isolated: false, source: 'implicit' });
      }
    }
    for (const [name, ns] of this.#base.namespaces) {
      out.set(name, { name, isolated: ns.isolated, description: ns.description, source: 'config' });
    }
    for (const [name, ns] of this.#namespaces) {
      out.set(name, {
        name,
        isolated: ns.isolated,
        description: ns.description,
        source: 'api',
        createdAt: ns.createdAt,
        updatedAt: ns.updatedAt,
      });
    }
    out.delete('');
    return [...out.values()];
  }

  namespace(name: string): NamespaceView {
    const found = this.namespaces().find((n) => n.name === name);
    if (!found) throw new NotFoundError(`no namespace "${name}": create it with POST /api/v1/namespaces`);
    return found;
  }

  /** Create or change a namespace's settings (isolation). Config-file namespaces are read-only. */
  putNamespace(name: string, input: NamespaceInput, mode: 'create' | 'update'): Promise<NamespaceView> {
    return this.#serial(async () => {
      if (name === '') throw new ValidationError([{ path: 'body.name', message: 'the root namespace cannot be created or changed' }]);
      if (this.#base.namespaces.has(name)) throw new ConflictError(`namespace ${name} is declared in the config file: change it there`);
      const previous = this.#namespaces.get(name);
      if (mode === 'create' && previous) throw new ConflictError(`namespace ${name} already exists: update it with PATCH`);
      if (mode === 'update' && !previous && !this.namespaces().some((n) => n.name === name)) {
        throw new NotFoundError(`no namespace "${name}": create it with POST /api/v1/namespaces`);
      }
      const now = this.#now();
      const entry: StoredNamespace = {
        isolated: input.isolated ?? previous?.isolated ?? false,
        description: input.description ?? previous?.description,
        createdAt: previous?.createdAt ?? now,
        updatedAt: now,
      };
      const namespaces = new Map(this.#namespaces).set(name, entry);
      const merged = this.#merged({ namespaces });
      this.#checkChange(merged);
      await this.#rows.putNamespace({ name, ...entry }, previous !== undefined);
      this.#namespaces.set(name, entry);
      await this.#sesame.reconfigure(merged);
      // What a namespace inherits changed: values cached for it may come from the wrong place now.
      if (previous?.isolated !== entry.isolated) await this.#sesame.refresh({ namespace: name });
      return this.namespace(name);
    });
  }
}

/**
 * Namespaces, stores and connections created through the API, persisted in the database and
 * merged over the config file's (which stay read-only here). Every change builds the whole
 * merged config, checks it as the config file is checked (settings by store type, fields by
 * connection type, references to visible stores, credential cycles), then persists the change
 * and applies it with `sesame.reconfigure`. Changes are serialized within the process.
 *
 * Store settings and connection fields are sealed with the builtin envelope encryption (a data
 * key per row under the master key, bound to the row's kind, namespace, name and revision):
 * they hold credentials and literal values, and the database must not show them in clear.
 */
import { writeAudited } from '../audit/ambient.js';
import type { Change } from '../db/changes.js';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import { type BuiltinBackend, openValue, sealValue } from '../builtin/index.js';
import { formatDuration } from '../config/duration.js';
import {
  type CacheSettings,
  type ConnectionConfig,
  cacheSettingsSchema,
  DEFAULT_CACHE,
  findStoreConfig,
  type SesameConfig,
  type StoreConfig,
} from '../config/schema.js';
import { validateConnectionFields } from '../connections/service.js';
import type { SesameTables, StoredConfigTable } from '../db/tables.js';
import { ConfigError, SesameError } from '../errors.js';
import { MASK } from '../redact/redactor.js';
import { collectReferences } from '../refs/template.js';
import { checkSettingsCycles } from '../resolve/bindings.js';
import type { Sesame } from '../sesame.js';
import { ConflictError, type Issue, issuesFrom, NotFoundError, ValidationError } from './errors.js';

export type Source = 'config' | 'api' | 'implicit';

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

export interface NamespaceInput {
  isolated?: boolean | undefined;
  description?: string | undefined;
}

interface Stamp {
  revision: number;
  createdAt: string;
  updatedAt: string;
}

export interface StoreView {
  name: string;
  namespace: string;
  type: string;
  description?: string | undefined;
  source: Source;
  /** Settings as given, with credentials (the type's secret settings) shown as `***`. */
  settings: Record<string, unknown>;
  cache: { ttl: string; maxEntries: number; staleIfError: string; refreshAhead: string };
  revision?: number | undefined;
  createdAt?: string | undefined;
  updatedAt?: string | undefined;
}

export interface ConnectionView {
  name: string;
  namespace: string;
  type: string;
  description?: string | undefined;
  source: Source;
  /** Every reference in the fields, as written. */
  references: string[];
  /** Fields with references as written and every literal value shown as `***`. */
  fields: Record<string, unknown>;
  revision?: number | undefined;
  createdAt?: string | undefined;
  updatedAt?: string | undefined;
}

export interface NamespaceView {
  name: string;
  isolated: boolean;
  description?: string | undefined;
  source: Source;
  createdAt?: string | undefined;
  updatedAt?: string | undefined;
}

type Kind = 'store' | 'connection';

const key = (namespace: string, name: string) => `${namespace}\u0000${name}`;

/** The authenticated data of a sealed row: never a valid builtin namespace, so rows cannot be swapped in. */
function coordinates(kind: Kind, namespace: string, name: string, revision: number) {
  return { namespace: `sesame-config:${kind}:${namespace}`, name, version: revision };
}

/** Walk a dotted path; undefined when absent. */
function getPath(doc: unknown, path: string): unknown {
  let node = doc;
  for (const part of path.split('.')) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
  return node;
}

function setPath(doc: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node: Record<string, unknown> = doc;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (!next || typeof next !== 'object') return;
    node = next as Record<string, unknown>;
  }
  const last = parts[parts.length - 1] as string;
  if (last in node) node[last] = value;
}

/** Settings with each secret setting that is present replaced by `***`. */
export function maskSettings(settings: Record<string, unknown>, secretPaths: readonly string[]): Record<string, unknown> {
  const copy = structuredClone(settings);
  for (const path of secretPaths) if (getPath(copy, path) !== undefined) setPath(copy, path, MASK);
  return copy;
}

/** A connection's fields: references as written, every literal `***`. */
export function maskFields(fields: Record<string, unknown>): Record<string, unknown> {
  const mask = (v: unknown): unknown => {
    if (typeof v === 'string') return collectReferences(v).length > 0 ? v : MASK;
    if (Array.isArray(v)) return v.map(mask);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mask(x)]));
    return MASK;
  };
  return mask(fields) as Record<string, unknown>;
}

/** Where an update sends `***` back for a value it did not change, keep the stored one. */
function keepMasked(next: unknown, previous: unknown): unknown {
  if (next === MASK) return previous;
  if (Array.isArray(next)) return next.map((v, i) => keepMasked(v, Array.isArray(previous) ? previous[i] : undefined));
  if (next && typeof next === 'object') {
    const prev = previous && typeof previous === 'object' ? (previous as Record<string, unknown>) : {};
    return Object.fromEntries(Object.entries(next).map(([k, v]) => [k, keepMasked(v, prev[k])]));
  }
  return next;
}

function cacheFrom(input: CacheInput | undefined, at: string): CacheSettings {
  const parsed = cacheSettingsSchema.safeParse(input ?? {});
  if (!parsed.success) throw new ValidationError(issuesFrom(at, parsed.error));
  const c = parsed.data;
  return {
    ttlMs: c.ttl ?? DEFAULT_CACHE.ttlMs,
    maxEntries: c.maxEntries ?? DEFAULT_CACHE.maxEntries,
    staleIfErrorMs: c.staleIfError ?? DEFAULT_CACHE.staleIfErrorMs,
    refreshAheadMs: c.refreshAhead ?? DEFAULT_CACHE.refreshAheadMs,
  };
}

function cacheView(c: CacheSettings): StoreView['cache'] {
  return {
    ttl: formatDuration(c.ttlMs),
    maxEntries: c.maxEntries,
    staleIfError: formatDuration(c.staleIfErrorMs),
    refreshAhead: formatDuration(c.refreshAheadMs),
  };
}

function describeNs(namespace: string): string {
  return namespace === '' ? 'the root namespace' : `namespace ${namespace}`;
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

/** A stored row that could not be opened at start (altered, or sealed under a key not held). */
export interface UnreadableRow {
  kind: Kind;
  namespace: string;
  name: string;
  reason: string;
}

export class StoredConfig {
  readonly #sesame: Sesame;
  readonly #backend: BuiltinBackend;
  readonly #base: SesameConfig;
  #stores = new Map<string, StoredStore>();
  #connections = new Map<string, StoredConnection>();
  #namespaces = new Map<string, StoredNamespace>();
  unreadable: UnreadableRow[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(sesame: Sesame, backend: BuiltinBackend) {
    this.#sesame = sesame;
    this.#backend = backend;
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

  get #db(): Kysely<SesameTables> {
    return this.#backend.database.kysely;
  }

  #now(): string {
    return new Date(this.#backend.now()).toISOString();
  }

  /**
   * A write transaction that commits the change's audit record with it when the route runs it
   * inside `withAuditEvent` (one of `actions`, in `namespace`): change and record, or neither.
   */
  #write<T>(actions: readonly string[], namespace: string, change: Change, work: (trx: Kysely<SesameTables>) => Promise<T>): Promise<T> {
    // The change feed row makes the other Sesame processes on this database reload (src/cluster/).
    return writeAudited(this.#backend.database, this.#backend.auditChain, () => this.#now(), { actions, namespace, changes: [change] }, work);
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
    const namespaces = new Map<string, StoredNamespace>();
    const stores = new Map<string, StoredStore>();
    const connections = new Map<string, StoredConnection>();
    const unreadable: UnreadableRow[] = [];
    for (const row of await this.#db.selectFrom('config_namespaces').selectAll().execute()) {
      namespaces.set(row.name, {
        isolated: row.isolated === 1,
        description: row.description ?? undefined,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      });
    }
    const stale: Array<{ kind: Kind; row: StoredConfigTable; payload: unknown }> = [];
    const read = (kind: Kind, row: StoredConfigTable): unknown => {
      try {
        const plain = openValue(
          { ciphertext: row.ciphertext, wrappedKey: row.wrapped_key, keyId: row.key_id },
          coordinates(kind, row.namespace, row.name, row.revision),
          this.#backend.keyFor(row.key_id, `stored ${kind} ${row.name} (${describeNs(row.namespace)})`),
        );
        const payload = JSON.parse(plain.toString('utf8')) as unknown;
        if (row.key_id !== this.#backend.keyring.primary.id) stale.push({ kind, row, payload });
        return payload;
      } catch (err) {
        unreadable.push({
          kind,
          namespace: row.namespace,
          name: row.name,
          reason: err instanceof Error ? err.message : String(err),
        });
        this.#sesame.log.error(
          { kind, namespace: row.namespace, name: row.name, err: err instanceof Error ? err.message : String(err) },
          `stored ${kind} ${row.name} could not be read and is left out`,
        );
        return undefined;
      }
    };
    const shadowed = (kind: Kind, row: StoredConfigTable) => {
      if (!this.#inFile(kind, row.namespace, row.name)) return false;
      const reason = `the config file now declares ${kind} ${row.name} in ${describeNs(row.namespace)}; the stored one is left out`;
      unreadable.push({ kind, namespace: row.namespace, name: row.name, reason });
      this.#sesame.log.warn({ kind, namespace: row.namespace, name: row.name }, reason);
      return true;
    };
    for (const row of await this.#db.selectFrom('config_stores').selectAll().execute()) {
      if (shadowed('store', row)) continue;
      const settings = read('store', row) as Record<string, unknown> | undefined;
      if (!settings) continue;
      const options = row.options ? (JSON.parse(row.options) as { cache?: CacheInput; trusted?: boolean }) : {};
      const input: StoreInput = {
        name: row.name,
        namespace: row.namespace,
        type: row.type,
        description: row.description ?? undefined,
        cache: options.cache,
        settings,
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
        this.#sesame.log.error({ namespace: row.namespace, name: row.name }, `stored store ${row.name} no longer validates and is left out`);
      }
    }
    for (const row of await this.#db.selectFrom('config_connections').selectAll().execute()) {
      if (shadowed('connection', row)) continue;
      const fields = read('connection', row) as Record<string, unknown> | undefined;
      if (!fields) continue;
      connections.set(key(row.namespace, row.name), {
        input: { name: row.name, namespace: row.namespace, type: row.type, description: row.description ?? undefined, fields },
        revision: row.revision,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      });
    }
    const merged = this.#merged({ stores, connections, namespaces });
    for (const problem of this.#problems(merged)) {
      this.#sesame.log.error({ problem }, 'a stored store or connection does not fit the config; fix it through the API');
    }
    await this.#sesame.reconfigure(merged);
    this.#stores = stores;
    this.#connections = connections;
    this.#namespaces = namespaces;
    this.unreadable = unreadable;
    if (!options.reseal) return;
    for (const s of stale) {
      const payload = s.payload;
      await this.#backend.database
        .write(async (trx) => {
          const sealed = await this.#seal(trx, s.kind, s.row.namespace, s.row.name, s.row.revision, payload);
          await trx
            .updateTable(s.kind === 'store' ? 'config_stores' : 'config_connections')
            .set({ ciphertext: sealed.ciphertext, wrapped_key: sealed.wrappedKey, key_id: sealed.keyId })
            .where('namespace', '=', s.row.namespace)
            .where('name', '=', s.row.name)
            .where('revision', '=', s.row.revision)
            .execute();
        })
        .catch((err: unknown) => this.#sesame.log.warn({ err: (err as Error).message }, 'could not reseal a stored config row'));
    }
  }

  async #seal(trx: Kysely<SesameTables>, kind: Kind, namespace: string, name: string, revision: number, payload: unknown) {
    const key = await this.#backend.activeKey(trx);
    return sealValue(Buffer.from(JSON.stringify(payload), 'utf8'), coordinates(kind, namespace, name, revision), key);
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
      await this.#write(['store.delete'], namespace, { kind: 'store', namespace, target: name }, (trx) =>
        trx.deleteFrom('config_stores').where('namespace', '=', namespace).where('name', '=', name).execute(),
      );
      this.#stores.delete(k);
      await this.#sesame.reconfigure(merged);
      return view;
    });
  }

  #persistStore(entry: StoredStore, mode: 'insert' | 'update', previousRevision?: number): Promise<void> {
    const { input } = entry;
    const options = { ...(input.cache ? { cache: input.cache } : {}), ...(input.trusted ? { trusted: true } : {}) };
    return this.#persist('store', entry, input.settings, Object.keys(options).length > 0 ? JSON.stringify(options) : null, mode, previousRevision);
  }

  /**
   * Write one sealed config row (a store's settings or a connection's fields): insert, or
   * update guarded by the revision read before (optimistic concurrency between processes).
   */
  async #persist(
    kind: 'store' | 'connection',
    entry: StoredStore | StoredConnection,
    payload: unknown,
    options: string | null,
    mode: 'insert' | 'update',
    previousRevision?: number,
  ): Promise<void> {
    const { namespace, name, type, description } = entry.input;
    const table = kind === 'store' ? 'config_stores' : 'config_connections';
    await this.#write([`${kind}.create`, `${kind}.update`], namespace, { kind, namespace, target: name }, async (trx) => {
      const sealed = await this.#seal(trx, kind, namespace, name, entry.revision, payload);
      const row = {
        type,
        description: description ?? null,
        options,
        revision: entry.revision,
        ciphertext: sealed.ciphertext,
        wrapped_key: sealed.wrappedKey,
        key_id: sealed.keyId,
        updated_at: entry.updatedAt,
      };
      if (mode === 'insert') {
        await trx.insertInto(table).values({ namespace, name, created_at: entry.createdAt, ...row }).execute();
        return;
      }
      const result = await trx
        .updateTable(table)
        .set(row)
        .where('namespace', '=', namespace)
        .where('name', '=', name)
        .where('revision', '=', previousRevision ?? 0)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) {
        throw new ConflictError(`${kind} "${name}" was changed by another process: read it again and retry`);
      }
    });
  }

  // --- connections

  connections(): ConnectionView[] {
    const view = (c: ConnectionConfig, source: Source, stamp?: Stamp): ConnectionView => ({
      name: c.name,
      namespace: c.namespace,
      type: c.type,
      description: c.description,
      source,
      references: collectReferences(c.fields).map((s) => s.raw),
      fields: maskFields(c.fields),
      ...(stamp ? { revision: stamp.revision, createdAt: stamp.createdAt, updatedAt: stamp.updatedAt } : {}),
    });
    return [
      ...this.#base.connections.map((c) => view(c, 'config')),
      ...[...this.#connections.values()].map((c) => view({ ...c.input }, 'api', c)),
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
      await this.#write(['connection.delete'], namespace, { kind: 'connection', namespace, target: name }, (trx) =>
        trx.deleteFrom('config_connections').where('namespace', '=', namespace).where('name', '=', name).execute(),
      );
      this.#connections.delete(k);
      await this.#sesame.reconfigure(merged);
      return view;
    });
  }

  #persistConnection(entry: StoredConnection, mode: 'insert' | 'update', previousRevision?: number): Promise<void> {
    return this.#persist('connection', entry, entry.input.fields, null, mode, previousRevision);
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
      await this.#write(['namespace.create', 'namespace.update'], name, { kind: 'namespace', namespace: name, target: name }, async (trx) => {
        const row = { isolated: entry.isolated ? 1 : 0, description: entry.description ?? null, updated_at: entry.updatedAt };
        if (previous) await trx.updateTable('config_namespaces').set(row).where('name', '=', name).execute();
        else await trx.insertInto('config_namespaces').values({ name, created_at: entry.createdAt, ...row }).execute();
      });
      this.#namespaces.set(name, entry);
      await this.#sesame.reconfigure(merged);
      // What a namespace inherits changed: values cached for it may come from the wrong place now.
      if (previous?.isolated !== entry.isolated) await this.#sesame.refresh({ namespace: name });
      return this.namespace(name);
    });
  }
}

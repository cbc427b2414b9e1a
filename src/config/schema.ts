/**
 * The config file schema (PRODUCT.md "Config file"). One zod schema gives validation, types
 * and precise messages; unknown keys are errors everywhere, including inside each store's
 * settings (validated by that store type's own strict schema).
 */
import path from 'node:path';
import { z } from 'zod';
import { validateConnectionFields } from '../connections/service.js';
import type { ConnectionTypeRegistry } from '../connections/types.js';
import { ConfigError } from '../errors.js';
import { collectReferences } from '../refs/template.js';
import { type DialectsSettings, dialectsOf, dialectsSchema } from '../refs/dialects/index.js';
import type { StoreTypeRegistry } from '../stores/registry.js';
import { OutboundPolicy } from '../resolve/outbound.js';
import { isNamespace, NAMESPACE_RULE } from '../namespaces.js';
import { durationProblem, formatDuration, parseDuration } from './duration.js';
import { describeZodIssue } from './issues.js';
import { findStoreConfig } from './visibility.js';
import { noteConfigFiles, noteMasterKeyVariable, noteOwnFile } from './own-configuration.js';

export const STORE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const CONNECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = typeof value === 'number' ? (value === 0 ? 0 : undefined) : parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" ${typeof value === 'string' ? durationProblem(value) : 'is not a duration'}: write a number with a unit, e.g. 500ms, 30s, 5m, 1h, 7d`,
    });
    return z.NEVER;
  }
  return ms;
});

const namespaceName = z.string().refine(isNamespace, { message: NAMESPACE_RULE });

export const cacheSettingsSchema = z.strictObject({
  ttl: duration.optional(),
  maxEntries: z.number().int().positive().optional(),
  maxBytes: z.number().int().positive('maxBytes is a number of bytes above 0, e.g. 16777216 for 16 MiB').optional(),
  staleIfError: duration.optional(),
  refreshAhead: duration.optional(),
});

export interface CacheSettings {
  /** How long a fetched value is served without asking the store again. */
  ttlMs: number;
  maxEntries: number;
  /** Bytes of values the cache holds at most; a larger value is served without being kept. */
  maxBytes: number;
  /** How long past `ttl` the last good value is served while the store fails. */
  staleIfErrorMs: number;
  /** Refetch in the background when an entry is this close to expiring (0: off). */
  refreshAheadMs: number;
}

/**
 * Why cache settings cannot work together, or undefined. A refreshAhead as long as the ttl
 * makes every resolve start a refetch (an entry is always "about to expire"): the cache would
 * be there in name only.
 */
export function cacheSettingsProblem(settings: CacheSettings): { setting: 'refreshAhead'; message: string } | undefined {
  if (settings.refreshAheadMs > 0 && settings.refreshAheadMs >= settings.ttlMs) {
    return {
      setting: 'refreshAhead',
      message: `refreshAhead (${formatDuration(settings.refreshAheadMs)}) must be shorter than ttl (${formatDuration(settings.ttlMs)}), or every resolve would fetch the value again: e.g. refreshAhead: 30s`,
    };
  }
  return undefined;
}

/** A store's cache settings (defaults filled in), checked as a whole. */
function storeCache(cache: z.infer<typeof cacheSettingsSchema> | undefined, at: string): CacheSettings {
  const settings = { ...DEFAULT_CACHE, ...cacheFrom(cache) };
  const problem = cacheSettingsProblem(settings);
  if (problem) throw new ConfigError(problem.message, { path: `${at}.cache.${problem.setting}` });
  return settings;
}

export const DEFAULT_CACHE: CacheSettings = {
  ttlMs: 5 * 60_000,
  maxEntries: 1000,
  maxBytes: 16 * 1024 * 1024,
  staleIfErrorMs: 60 * 60_000,
  refreshAheadMs: 0,
};

const storeEntry = z.looseObject({
  name: z.string().regex(STORE_NAME, 'a store name is lowercase letters, digits, "_" and "-" (at most 63)'),
  namespace: namespaceName.optional(),
  type: z.string().min(1),
  description: z.string().optional(),
  cache: cacheSettingsSchema.optional(),
  /** Sesame only reads this store: writes, deletes and restores through Sesame are refused. */
  readOnly: z.boolean().optional(),
});

const connectionEntry = z.strictObject({
  name: z.string().regex(CONNECTION_NAME, 'a connection name is letters, digits, "_", "." and "-"'),
  namespace: namespaceName.optional(),
  type: z.string().min(1).default('generic'),
  description: z.string().optional(),
  fields: z.record(z.string(), z.unknown()),
});

const masterKeySource = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ env: z.string().min(1) }),
]);

export const configFileSchema = z.strictObject({
  database: z
    .string()
    .refine((s) => /^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(s), {
      message: 'database is "sqlite:<path>" or "postgres://user@host:5432/db"',
    })
    .optional(),
  masterKey: masterKeySource.optional(),
  namespaces: z
    .record(namespaceName, z.strictObject({ isolated: z.boolean().optional(), description: z.string().optional() }))
    .optional(),
  stores: z.array(storeEntry).optional(),
  connections: z.array(connectionEntry).optional(),
  server: z
    .strictObject({
      host: z.string().optional(),
      port: z.number().int().min(0).max(65535).optional(),
      bodyLimit: z.number().int().positive().optional(),
      /**
       * The time a client has to send a whole request (headers and body), 60 s by default; a
       * request not in by then is answered 408 and its connection closed. Not a limit on answering.
       */
      requestTimeout: duration
        .refine((ms) => ms >= 1000, { message: 'is at least 1s (a client always has a limit; the default is 60s)' })
        .optional(),
      rateLimit: z.strictObject({ max: z.number().int().positive(), window: duration }).optional(),
      /**
       * Audit commits on SQLite: `normal` (default) commits each batch to the WAL before the
       * requests in it are answered and fsyncs at least every second; `full` fsyncs every
       * commit before answering (on a writer thread).
       */
      auditSync: z.enum(['normal', 'full']).optional(),
      /**
       * PostgreSQL: where a node keeps the audit records of the requests it answers while the
       * database is unreachable (src/audit/spool.ts); `false`: refuse those requests instead.
       */
      auditSpool: z
        .union([
          z.literal(false),
          z.strictObject({ dir: z.string().min(1).optional(), maxBytes: z.number().int().positive().optional() }),
        ])
        .optional(),
      /**
       * Destinations a principal other than a root admin may make the server reach (store
       * addresses and connection hosts given through the API): host names, `*.example.com`,
       * IP addresses, CIDRs. Without it: anything but loopback, link-local and cloud metadata.
       */
      /** Admin UI sessions: idle timeout, absolute lifetime, and whether the cookie is `Secure` (auto: when served over TLS). */
      session: z
        .strictObject({
          idleTimeout: duration.optional(),
          maxAge: duration.optional(),
          secureCookie: z.union([z.boolean(), z.literal('auto')]).optional(),
        })
        .optional(),
      outbound: z
        .strictObject({
          allow: z
            .array(
              z.string().refine(OutboundPolicy.validEntry, {
                message: 'an allow entry is a host name, *.domain, an IP address or a CIDR such as 10.0.0.0/8',
              }),
            )
            .default([]),
        })
        .optional(),
    })
    .optional(),
  log: z.strictObject({ level: z.enum(['debug', 'info', 'warn', 'error', 'silent']) }).optional(),
  /** Other products' reference syntaxes to read (docs/references.md, "Dialects"); each off unless declared. */
  dialects: dialectsSchema.optional(),
});

export type ConfigFile = z.input<typeof configFileSchema>;
export type MasterKeySource = z.infer<typeof masterKeySource>;

export interface StoreConfig {
  name: string;
  namespace: string;
  type: string;
  description?: string | undefined;
  cache: CacheSettings;
  /** Settings validated by the store type (may still hold `{{ secret://… }}` credentials). */
  settings: unknown;
  /** Declared implicitly (the root `builtin` and `env` stores). */
  implicit: boolean;
  /** `readOnly: true`: Sesame refuses to write, delete or restore secrets in it. */
  readOnly?: boolean | undefined;
  /**
   * Its settings could not be interpolated (an unset `${env:…}`, a missing `${file:…}`): the
   * store is unusable and this error is raised when something uses it, not before.
   */
  unavailable?: ConfigError | undefined;
  /**
   * Configured through the API by a principal other than a root admin: the client connects
   * through the outbound policy (`StoreContext.lookup`).
   */
  restrictOutbound?: boolean | undefined;
}

export interface ConnectionConfig {
  name: string;
  namespace: string;
  type: string;
  description?: string | undefined;
  fields: Record<string, unknown>;
  /** `api`: created or changed through the server's API (its destination was chosen by a principal); else the config file. */
  origin?: 'config' | 'api' | undefined;
  /** Its fields could not be interpolated: raised when the connection is used (see `StoreConfig.unavailable`). */
  unavailable?: ConfigError | undefined;
}

export interface SesameConfig {
  /** Directory relative paths are resolved against (the config file's directory). */
  baseDir: string;
  /** The config file, when one was read. */
  source: string | undefined;
  /** No config file: the embedded default (SQLite + generated master key under ./.sesame/). */
  embedded: boolean;
  database: string;
  masterKey: MasterKeySource;
  /** Namespace settings; namespaces not listed here exist implicitly, not isolated. */
  namespaces: Map<string, { isolated: boolean; description?: string | undefined }>;
  stores: StoreConfig[];
  connections: ConnectionConfig[];
  server: z.infer<typeof configFileSchema>['server'];
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent' | undefined;
  /** Declared reference dialects; absent: only `secret://` is read. */
  dialects?: DialectsSettings | undefined;
}

/** `stores[1].cache.ttl` from a zod path. */
export function formatPath(parts: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, prefix: ReadonlyArray<PropertyKey>): ConfigError {
  const plain = describeZodIssue(issue);
  const at = formatPath([...prefix, ...plain.path]);
  const hint = issue.code === 'unrecognized_keys' ? 'remove it or check its spelling; unknown keys are errors, not ignored' : undefined;
  return new ConfigError(plain.message, { path: at || undefined, ...(hint ? { hint } : {}) });
}

/** Turn a zod failure into one ConfigError naming the first problem's path (and how many more). */
export function configErrorFrom(error: z.ZodError, prefix: ReadonlyArray<PropertyKey> = []): ConfigError {
  const [first, ...rest] = error.issues;
  if (!first) return new ConfigError('is invalid');
  const err = describeIssue(first, prefix);
  if (rest.length === 0) return err;
  const more = rest.map((i) => describeIssue(i, prefix).message.replace(/^config /, '')).join('; ');
  return new ConfigError(`${err.message.replace(/^config /, '')}; also: ${more}`, { path: undefined, cause: error });
}

export interface ValidateOptions {
  registry: StoreTypeRegistry;
  /** Connection types; when given, each connection's type and fields are checked. */
  connectionTypes?: ConnectionTypeRegistry | undefined;
  baseDir: string;
  source?: string | undefined;
  embedded?: boolean | undefined;
  /** Stores and connections (by index) whose interpolation failed: kept, unusable until fixed. */
  deferred?: { stores: ReadonlyMap<number, ConfigError>; connections: ReadonlyMap<number, ConfigError> } | undefined;
}

/**
 * Validate a parsed config document (after `${env:…}`/`${file:…}` interpolation) into a
 * {@link SesameConfig}. Throws {@link ConfigError} naming the path and a hint.
 */
export function validateConfig(input: unknown, options: ValidateOptions): SesameConfig {
  const parsed = configFileSchema.safeParse(input ?? {});
  if (!parsed.success) throw configErrorFrom(parsed.error);
  const file = parsed.data;

  const namespaces = new Map<string, { isolated: boolean; description?: string | undefined }>();
  for (const [name, ns] of Object.entries(file.namespaces ?? {})) {
    namespaces.set(name, { isolated: ns.isolated ?? false, description: ns.description });
  }

  const stores: StoreConfig[] = [];
  const seen = new Map<string, number>();
  (file.stores ?? []).forEach((entry, index) => {
    const at = `stores[${index}]`;
    const namespace = entry.namespace ?? '';
    const key = `${namespace}\u0000${entry.name}`;
    const previous = seen.get(key);
    if (previous !== undefined) {
      throw new ConfigError(`duplicate store "${entry.name}" in namespace "${namespace}"`, {
        path: `${at}.name`,
        hint: `stores[${previous}] already declares it; give one of them another name`,
      });
    }
    seen.set(key, index);
    const storeType = options.registry.get(entry.type, `${at}.type`);
    const { name, namespace: _ns, type, description, cache, readOnly, ...rest } = entry;
    const unavailable = options.deferred?.stores.get(index);
    if (unavailable) {
      stores.push({ name, namespace, type, description, cache: storeCache(cache, at), settings: {}, implicit: false, unavailable });
      return;
    }
    const settings = storeType.settings.safeParse(rest);
    if (!settings.success) throw configErrorFrom(settings.error, ['stores', index]);
    stores.push({
      name,
      namespace,
      type,
      description,
      cache: storeCache(cache, at),
      settings: settings.data,
      implicit: false,
      ...(readOnly ? { readOnly: true } : {}),
    });
  });

  for (const implicit of ['builtin', 'env']) {
    if (!options.registry.has(implicit)) continue;
    if (stores.some((s) => s.name === implicit && s.namespace === '')) continue;
    const settings = options.registry.get(implicit).settings.parse({});
    stores.push({ name: implicit, namespace: '', type: implicit, cache: { ...DEFAULT_CACHE }, settings, implicit: true });
  }

  const connections: ConnectionConfig[] = [];
  const seenConnections = new Set<string>();
  (file.connections ?? []).forEach((entry, index) => {
    const namespace = entry.namespace ?? '';
    const key = `${namespace}\u0000${entry.name}`;
    if (seenConnections.has(key)) {
      throw new ConfigError(`duplicate connection "${entry.name}" in namespace "${namespace}"`, {
        path: `connections[${index}].name`,
      });
    }
    seenConnections.add(key);
    const unavailable = options.deferred?.connections.get(index);
    if (unavailable) {
      connections.push({ name: entry.name, namespace, type: entry.type, description: entry.description, fields: {}, unavailable });
      return;
    }
    if (options.connectionTypes) {
      const type = options.connectionTypes.get(entry.type, `connections[${index}].type`);
      validateConnectionFields(type, entry.fields, `connections[${index}].fields`);
    }
    connections.push({
      name: entry.name,
      namespace,
      type: entry.type,
      description: entry.description,
      fields: entry.fields,
    });
  });

  if (file.masterKey && 'env' in file.masterKey) noteMasterKeyVariable(file.masterKey.env);
  const config: SesameConfig = {
    baseDir: options.baseDir,
    source: options.source,
    // Without a configured master key the embedded default applies: generate one on first use.
    embedded: options.embedded ?? file.masterKey === undefined,
    database: file.database ?? 'sqlite:./.sesame/sesame.db',
    masterKey: file.masterKey ?? { file: './.sesame/master.key' },
    namespaces,
    stores,
    connections,
    server: file.server,
    logLevel: file.log?.level,
    ...(file.dialects ? { dialects: file.dialects } : {}),
  };
  dialectsOf(config)?.validate();
  checkReferencesDeclared(config);
  noteConfigFiles(config);
  // The host files stores read (credential, key and CA files): configuration too, from now on,
  // whether or not the store is ever used.
  for (const store of stores) {
    if (store.unavailable) continue;
    for (const access of options.registry.get(store.type).hostAccess?.(store.settings) ?? []) {
      if (access.kind === 'files')
        noteOwnFile(path.resolve(options.baseDir, access.path), `the ${access.setting} setting of store ${store.name}`);
    }
  }
  return config;
}

function cacheFrom(cache: z.infer<typeof cacheSettingsSchema> | undefined): Partial<CacheSettings> {
  const out: Partial<CacheSettings> = {};
  if (!cache) return out;
  if (cache.ttl !== undefined) out.ttlMs = cache.ttl;
  if (cache.maxEntries !== undefined) out.maxEntries = cache.maxEntries;
  if (cache.maxBytes !== undefined) out.maxBytes = cache.maxBytes;
  if (cache.staleIfError !== undefined) out.staleIfErrorMs = cache.staleIfError;
  if (cache.refreshAhead !== undefined) out.refreshAheadMs = cache.refreshAhead;
  return out;
}

/** Every `{{ secret://store/… }}` in connections and store settings must name a visible store. */
function checkReferencesDeclared(config: SesameConfig): void {
  config.connections.forEach((conn, index) => {
    for (const slot of collectReferences(conn.fields, `connections[${index}].fields`, undefined, dialectsOf(config))) {
      if (!findStoreConfig(config, slot.ref.store, conn.namespace)) {
        throw new ConfigError(`references undeclared store "${slot.ref.store}"`, {
          path: slot.field,
          hint: `declare it under stores: (namespace "${conn.namespace}" or a parent), or fix the reference`,
        });
      }
    }
  });
  config.stores.forEach((store, index) => {
    for (const slot of collectReferences(store.settings, `stores[${index}]`)) {
      if (!findStoreConfig(config, slot.ref.store, store.namespace)) {
        throw new ConfigError(`references undeclared store "${slot.ref.store}"`, {
          path: slot.field,
          hint: 'declare the store that holds this credential',
        });
      }
    }
  });
}

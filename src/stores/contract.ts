/**
 * The two-level store contract.
 *
 * A {@link StoreType} is stateless: it validates a store's settings into a typed config (or a
 * clear `ConfigError`) and states its capabilities. {@link StoreType.create} makes a
 * {@link StoreClient} for one configured store; the client only talks to its backend. Caching,
 * coalescing, key extraction, redaction and error locating live once in the resolver; retries,
 * error classification, credential scrubbing, lazy SDKs, name mapping, paging cursors and the
 * `stores test` runner live once in the store core (`./core/index.ts`), which clients hold.
 */
import type { LookupFunction } from 'node:net';
import type { z } from 'zod';

/** What the resolver asks a store for. */
export interface SecretRequest {
  /** Name, path or ARN in the store, after the store's prefix was applied by the adapter. */
  name: string;
  /** Pinned version (AWS VersionId, Vault version number, Azure version, GCP version). */
  version?: string | undefined;
  /** Pinned AWS staging label. */
  stage?: string | undefined;
  /**
   * The caller's namespace chain, most specific first (e.g. `['acme.devops', 'acme', '']`),
   * already cut at an isolated namespace. Only namespace-aware stores (`builtin`) use it.
   */
  namespaces: readonly string[];
}

/** A secret as fetched: text (most secrets) or bytes (AWS SecretBinary, binary files). */
export interface FetchedSecret {
  value: string | Uint8Array;
  /** The version that was served, when the backend reports it. */
  version?: string | undefined;
  /** The namespace that owned the value (namespace-aware stores only). */
  namespace?: string | undefined;
}

export interface SecretMetadata {
  name: string;
  namespace?: string | undefined;
  version?: string | undefined;
  description?: string | undefined;
  tags?: Record<string, string> | undefined;
  createdAt?: string | undefined;
  updatedAt?: string | undefined;
  deletedAt?: string | undefined;
  /** When a soft-deleted secret is purged for good. */
  purgeAt?: string | undefined;
}

export interface VersionMetadata {
  version: string;
  createdAt?: string | undefined;
  stages?: string[] | undefined;
  enabled?: boolean | undefined;
  destroyed?: boolean | undefined;
}

export interface ListOptions {
  prefix?: string | undefined;
  /** Names containing this text (case-sensitive); only stores with `capabilities.search`. */
  contains?: string | undefined;
  tags?: Record<string, string> | undefined;
  /** Namespace chain for namespace-aware stores. */
  namespaces: readonly string[];
  /** Include soft-deleted secrets. */
  includeDeleted?: boolean | undefined;
  limit?: number | undefined;
  /** Opaque cursor from a previous page. */
  cursor?: string | undefined;
}

export interface ListPage {
  items: SecretMetadata[];
  /** Present when there are more items: pass it back for the next page. */
  cursor?: string | undefined;
  /**
   * Set when the provider itself cut the listing (a limit of its own that no page token can
   * pass): says what was left out and why. Sesame never cuts a listing silently.
   */
  truncated?: string | undefined;
}

export interface WriteOptions {
  /** Namespace the secret is written in (namespace-aware stores). */
  namespace: string;
  description?: string | undefined;
  tags?: Record<string, string> | undefined;
  /** Check-and-set: fail unless the current version is this one. */
  expectedVersion?: string | undefined;
}

export interface WriteResult {
  name: string;
  version: string;
  namespace?: string | undefined;
}

export interface DeleteOptions {
  namespace: string;
  /** Skip the recovery window and delete for good. */
  force?: boolean | undefined;
  /** Recovery window in milliseconds (stores that support one). */
  recoveryWindowMs?: number | undefined;
}

/** One line of a store check: what was tried, whether it worked, and what to fix. */
export interface CheckStep {
  step: string;
  ok: boolean;
  detail: string;
  /** What the operator should do when `ok` is false. */
  fix?: string | undefined;
}

export interface CheckReport {
  ok: boolean;
  steps: CheckStep[];
}

export interface CheckOptions {
  /** A secret name to test read permission against. */
  sample?: string | undefined;
  namespaces: readonly string[];
  /**
   * The report goes to the host's own user (the CLI run on it): details may say where files and
   * databases of the host are. Otherwise (the API) they must not, as `/readyz` does not.
   */
  host?: boolean | undefined;
}

export interface StoreClient {
  /** Fetch one secret. Throws `SecretNotFoundError`, `AccessDeniedError`, `StoreUnavailableError`… */
  get(request: SecretRequest): Promise<FetchedSecret>;
  /**
   * Fetch several secrets in as few backend calls as the backend allows. One result per request,
   * in order: a secret, or the error for that request.
   */
  getMany?(requests: readonly SecretRequest[]): Promise<Array<FetchedSecret | Error>>;
  /** Names and metadata only, never values. */
  list(options: ListOptions): Promise<ListPage>;
  write?(name: string, value: string, options: WriteOptions): Promise<WriteResult>;
  /**
   * Refuse, without writing, a value `write` would refuse for its size or emptiness (the same
   * error). A caller checks before it handles a large value: masking learns a value at about a
   * hundred times its size, so a wrong 60 MB file was learnt before the store's 64 KiB limit said no.
   */
  checkValue?(name: string, value: string): void;
  delete?(name: string, options: DeleteOptions): Promise<void>;
  restore?(name: string, options: { namespace: string }): Promise<void>;
  versions?(name: string, options: { namespaces: readonly string[] }): Promise<VersionMetadata[]>;
  describe?(name: string, options: { namespaces: readonly string[] }): Promise<SecretMetadata>;
  /** Diagnostics: authentication, list and read permission, with what to fix. */
  check(options: CheckOptions): Promise<CheckReport>;
  close(): Promise<void>;
}

export interface StoreCapabilities {
  /** `write`/`delete` are available. */
  write: boolean;
  /** `getMany` batches several secrets per backend call. */
  batch: boolean;
  /** `?version=` is meaningful. */
  versions: boolean;
  /** `?stage=` is meaningful. */
  stages: boolean;
  /** Secrets belong to the caller's namespace chain (cache keys then include the namespace). */
  namespaced: boolean;
  /** Soft delete + restore. */
  restore: boolean;
  /** `list` takes `contains` (substring search over names). */
  search?: boolean;
}

/** Everything a client may need from the process, handed in by the core. */
export interface StoreContext {
  /** The store's configured name, for messages (`[aws] …`). */
  storeName: string;
  /** Namespace that declares the store. */
  namespace: string;
  /** Directory relative paths in settings are resolved against (the config file's). */
  baseDir?: string | undefined;
  /** Logger that already redacts known values. */
  log: StoreLogger;
  /** Services only some stores use (the builtin store's database and master key). */
  services: StoreServices;
  /**
   * Set for a store configured through the API by a principal other than a root admin: every
   * host name the client connects to must be resolved through it (the `lookup` option of
   * `net`/`http`/`https` and their agents). It refuses what the outbound policy refuses, at
   * connect time, so a DNS record changed after the store was checked cannot redirect it.
   */
  lookup?: LookupFunction | undefined;
}

export interface StoreLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** Open-ended bag filled by the layer that owns the resource (e.g. `builtin` → database). */
export type StoreServices = Record<string, unknown>;

/**
 * Something a store's settings make the server's host do. The server asks the store type
 * ({@link StoreType.hostAccess}) instead of knowing store types by name, so a new type is judged
 * by what it declares.
 */
export type HostAccess =
  /** Connects to an address given in the settings (a URL the store's creator chose). */
  | { kind: 'address'; setting: string; url: string }
  /** Reads a file or directory of the host given in the settings. */
  | { kind: 'files'; setting: string; path: string }
  /** Reads the host's environment variables. */
  | { kind: 'environment'; detail: string }
  /** Acts with the host's own (ambient) cloud identity: instance roles, managed identity, default credentials. */
  | { kind: 'identity'; detail: string };

export interface StoreType<Settings = unknown> {
  /** The `type:` value in config. */
  readonly type: string;
  readonly capabilities: StoreCapabilities;
  /**
   * Settings schema: the store's keys other than `name`, `namespace`, `type` and `cache`.
   * It must be strict (unknown keys are errors).
   */
  readonly settings: z.ZodType<Settings>;
  /**
   * Settings whose values are credentials: they may be `{{ secret://… }}` of another store and
   * are never returned by the API. Dotted paths, e.g. `auth.secretAccessKey`.
   */
  readonly secretSettings?: readonly string[];
  /**
   * What these (validated, not yet resolved) settings make the host do: addresses reached, host
   * files and environment read, ambient identity used. An empty list: nothing beyond the
   * credentials in the settings. A type that does not declare it is treated as able to do
   * anything: only a root admin may configure one, and only tokens whose scope covers its
   * namespace may use it.
   */
  hostAccess?(settings: Settings): HostAccess[];
  /**
   * The client resolves every host name through `StoreContext.lookup` when one is given. A type
   * without it (its SDK resolves names itself) may be pointed by a non-root principal only at IP
   * addresses or at names an allow entry of `server.outbound.allow` names.
   */
  readonly connectsThroughLookup?: boolean;
  /**
   * For a type that is not `namespaced`: whether, with these settings, what a name reads depends
   * on the caller's namespace (`SecretRequest.namespaces`). The resolver's cache keys then
   * include the caller's namespace, as for a namespaced type.
   */
  readsByNamespace?(settings: Settings): boolean;
  /**
   * Its writes, deletes and restores commit a change-feed row with them (the store lives in
   * Sesame's own database, `src/cluster/`): the other servers drop their cached values from that
   * row. Otherwise a server tells them with a refresh after a change through it.
   */
  readonly publishesChanges?: boolean;
  create(settings: Settings, context: StoreContext): StoreClient | Promise<StoreClient>;
}

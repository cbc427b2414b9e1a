/**
 * `builtin` store: Sesame's own encrypted store over the configured database (see
 * `src/encrypted-store/`). The store type only validates settings and maps the engine to the store
 * contract; the database and master key come from `context.services.builtin`, one per process,
 * shared by every builtin-type store.
 */
import { z } from 'zod';
// Types only from the engine: it (and Kysely, and the SQL drivers) loads on a builtin store's
// first use, so `sesame run` with env references does not pay for it.
import type {
  BuiltinBackend,
  BuiltinSecrets,
  OpenBuiltinBackendOptions,
  SecretInfo,
  StoredSecret,
} from '../../encrypted-store/index.js';
import { databaseBusyText, isDatabaseBusy } from '../../encrypted-store/errors.js';
import { DEFAULT_MAX_VALUE_SIZE, DEFAULT_RECOVERY_WINDOW_MS } from '../../encrypted-store/limits.js';
import { parseVersion } from '../../encrypted-store/names.js';
import { durationProblem, MAX_DURATION_MS, parseDuration } from '../../config/duration.js';
import { DatabaseError } from '../../db/errors.js';
import { SecretNotFoundError, SesameError, StoreUnavailableError, UsageError } from '../../errors.js';
import type {
  CheckOptions,
  CheckReport,
  CheckStep,
  DeleteOptions,
  FetchedSecret,
  ListOptions,
  ListPage,
  SecretMetadata,
  SecretRequest,
  StoreClient,
  StoreContext,
  StoreType,
  VersionMetadata,
  WriteOptions,
  WriteResult,
  HostAccess,
} from '../contract.js';

const MAX_VALUE_SIZE_CEILING = 64 * 1024 * 1024;

const recoveryWindow = z.union([z.string(), z.number().int().nonnegative()]).transform((value, ctx) => {
  // A number is milliseconds, so parsed settings parse again to themselves.
  const ms = typeof value === 'number' ? (value <= MAX_DURATION_MS ? value : undefined) : parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" ${typeof value === 'string' ? durationProblem(value) : 'is longer than 100 years'}: write e.g. 7d, 12h or 0 (no recovery)`,
    });
    return z.NEVER;
  }
  return ms;
});

const settings = z.strictObject({
  /** Tags every secret written through this store carries (a write's own tags win). */
  tags: z.record(z.string().min(1), z.string()).default({}),
  /** Largest value accepted, in bytes of UTF-8. */
  maxValueSize: z
    .number()
    .int()
    .positive()
    .max(MAX_VALUE_SIZE_CEILING, `maxValueSize is at most ${MAX_VALUE_SIZE_CEILING} bytes`)
    .default(DEFAULT_MAX_VALUE_SIZE),
  /** How long a deleted secret can be restored: a duration (`7d`), or milliseconds; 0 purges at once. */
  recoveryWindow: recoveryWindow.default(DEFAULT_RECOVERY_WINDOW_MS),
});

/** Settings as validated: `recoveryWindow` in milliseconds. */
export type BuiltinStoreSettings = z.output<typeof settings>;

/**
 * What the core puts in `services.builtin`: a memoized opener of the process's builtin backend
 * (database + master key), which `Sesame.close()` closes.
 */
export interface BuiltinService {
  (): Promise<BuiltinBackend>;
  close(): Promise<void>;
}

/**
 * Make the `services.builtin` entry from the config's `database` and `masterKey`. Nothing is
 * opened until a builtin store is first used; a failed open is not remembered (the next use
 * tries again).
 *
 * @example
 * const services = {
 *   builtin: createBuiltinService({
 *     database: config.database,
 *     masterKey: config.masterKey,
 *     baseDir: config.baseDir,
 *     embedded: config.embedded,
 *   }),
 * };
 */
export function createBuiltinService(
  options: OpenBuiltinBackendOptions,
  open: (options: OpenBuiltinBackendOptions) => Promise<BuiltinBackend> = openBuiltinBackend,
): BuiltinService {
  let pending: Promise<BuiltinBackend> | undefined;
  let closed = false;
  const service = (() => {
    if (closed) return Promise.reject(new SesameError('the builtin store was closed'));
    pending ??= open(options).catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  }) as BuiltinService;
  service.close = async () => {
    closed = true;
    const opened = pending;
    pending = undefined;
    const backend = await opened?.catch(() => undefined);
    await backend?.close();
  };
  return service;
}

function builtinServiceOf(context: StoreContext): BuiltinService {
  const service = context.services['builtin'];
  if (typeof service !== 'function') {
    throw new SesameError(
      `[${context.storeName}] the builtin store has no database: services.builtin must be set (createBuiltinService)`,
    );
  }
  return service as BuiltinService;
}

/**
 * The builtin store's database cannot be used now (see `diagnoseDatabaseFailure`): the code the
 * rest of the node answers with, and a kind of unavailability, so cached values are served
 * within `staleIfError`. The driver's error is not kept as the cause (its message may repeat
 * parts of the URL).
 */
export class BuiltinDatabaseUnavailableError extends StoreUnavailableError {
  override readonly code = 'database_unavailable';
}

/**
 * Other writers held the database for longer than a write waits (`SesameDatabase.write`: 15 s):
 * the transaction was rolled back, nothing was written. A kind of unavailability (503).
 */
export class BuiltinDatabaseBusyError extends StoreUnavailableError {
  override readonly code = 'database_busy';
}

export class BuiltinStoreClient implements StoreClient {
  readonly #label: string;
  readonly #secrets: BuiltinSecrets;
  readonly #log: StoreContext['log'] | undefined;

  constructor(
    readonly backend: BuiltinBackend,
    settings: BuiltinStoreSettings,
    context: Pick<StoreContext, 'storeName'> & Partial<Pick<StoreContext, 'log'>>,
  ) {
    this.#label = context.storeName;
    this.#log = context.log;
    this.#secrets = backend.secrets({
      label: context.storeName,
      defaultTags: settings.tags,
      maxValueSize: settings.maxValueSize,
      recoveryWindowMs: settings.recoveryWindow,
      maxValueSizeHint: `raise maxValueSize in the settings of store "${context.storeName}" (type builtin), e.g. maxValueSize: ${settings.maxValueSize * 2}`,
    });
  }

  /** Database failures become `StoreUnavailableError` naming the store; typed errors pass through. */
  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  /**
   * A database failure as `StoreUnavailableError`. Its message reaches API callers, so it names
   * the database by kind only; where it lives (path or URL) goes to the server log. `host`: the
   * message goes to the host's own user (the CLI's `stores test`), who may see where.
   */
  #wrap(err: unknown, host = false): Error {
    if (err instanceof SesameError && !(err instanceof DatabaseError)) return err;
    const { location, kind } = this.backend.database;
    // What the rest of the node says of the same failure (login refused, no such database, does
    // not answer), with its fix and without the URL's password.
    const known = this.backend.database.diagnose(err);
    if (known) {
      this.#log?.warn(`[${this.#label}] database failure`, { database: location, error: known.message });
      const unavailable = new BuiltinDatabaseUnavailableError(`[${this.#label}] ${host ? `database ${location}` : `the ${kind} database`}: ${known.message}`);
      unavailable.fix = known.fix;
      return unavailable;
    }
    const detail = err instanceof Error ? err.message : String(err);
    this.#log?.warn(`[${this.#label}] database failure`, { database: location, error: detail });
    if (isDatabaseBusy(err)) {
      const { message, fix } = databaseBusyText(kind, `[${this.#label}] ${host ? `database ${location}` : `the ${kind} database`}`);
      const busy = new BuiltinDatabaseBusyError(message);
      busy.fix = fix;
      return busy;
    }
    return new StoreUnavailableError(
      `[${this.#label}] ${host ? `database ${location}` : `the ${kind} database`}: ${detail}`,
      {},
      { cause: err, fix: err instanceof SesameError ? err.fix : undefined },
    );
  }

  #request(request: SecretRequest) {
    if (request.stage !== undefined) {
      throw new UsageError(
        `[${this.#label}] builtin secrets have no staging labels: pin a version instead (?version=N)`,
      );
    }
    return {
      name: request.name,
      version: request.version === undefined ? undefined : parseVersion(request.version, this.#label),
      namespaces: request.namespaces,
    };
  }

  get(request: SecretRequest): Promise<FetchedSecret> {
    return this.#guard(async () => fetched(await this.#secrets.read(this.#request(request))));
  }

  async getMany(requests: readonly SecretRequest[]): Promise<Array<FetchedSecret | Error>> {
    const parsed = requests.map((r) => {
      try {
        return this.#request(r);
      } catch (err) {
        return err as Error;
      }
    });
    const valid = parsed.filter((p): p is Exclude<typeof p, Error> => !(p instanceof Error));
    const read = await this.#guard(() => this.#secrets.readMany(valid));
    let next = 0;
    return parsed.map((p) => {
      if (p instanceof Error) return p;
      const result = read[next++] as StoredSecret | Error;
      return result instanceof Error ? this.#wrap(result) : fetched(result);
    });
  }

  list(options: ListOptions): Promise<ListPage> {
    return this.#guard(async () => {
      const page = await this.#secrets.list(options);
      return { items: page.items.map(metadata), ...(page.cursor ? { cursor: page.cursor } : {}) };
    });
  }

  checkValue(name: string, value: string): void {
    this.#secrets.checkValueSize(name, value);
  }

  write(name: string, value: string, options: WriteOptions): Promise<WriteResult> {
    return this.#guard(async () => {
      const expected = options.expectedVersion;
      const written = await this.#secrets.write({
        namespace: options.namespace,
        name,
        value,
        description: options.description,
        tags: options.tags,
        expectedVersion:
          expected === undefined ? undefined : expected === '0' ? 0 : parseVersion(expected, this.#label),
      });
      return { name: written.name, version: String(written.version), namespace: written.namespace };
    });
  }

  /** Soft delete for the recovery window; `force: true` purges at once. */
  delete(name: string, options: DeleteOptions): Promise<void> {
    return this.#guard(async () => {
      if (options.force) await this.#secrets.purge(options.namespace, name);
      else
        await this.#secrets.delete(options.namespace, name, { recoveryWindowMs: options.recoveryWindowMs });
    });
  }

  /** Delete a secret and every version for good. */
  purge(name: string, options: { namespace: string }): Promise<void> {
    return this.#guard(() => this.#secrets.purge(options.namespace, name));
  }

  restore(name: string, options: { namespace: string }): Promise<void> {
    return this.#guard(() => this.#secrets.restore(options.namespace, name));
  }

  versions(name: string, options: { namespaces: readonly string[] }): Promise<VersionMetadata[]> {
    return this.#guard(async () => {
      const { versions } = await this.#secrets.versions(name, options.namespaces);
      return versions.map((v) => ({
        version: String(v.version),
        createdAt: v.createdAt,
        enabled: true,
        destroyed: false,
      }));
    });
  }

  describe(name: string, options: { namespaces: readonly string[] }): Promise<SecretMetadata> {
    return this.#guard(async () => metadata(await this.#secrets.describe(name, options.namespaces)));
  }

  async check(options: CheckOptions): Promise<CheckReport> {
    const steps: CheckStep[] = [];
    const attempt = async (step: string, work: () => Promise<Omit<CheckStep, 'step'>>) => {
      try {
        steps.push({ step, ...(await work()) });
      } catch (err) {
        steps.push({
          step,
          ok: false,
          detail: this.#wrap(err, options.host).message,
          fix: 'see the detail; sesame stores test builtin repeats this check',
        });
      }
    };
    const { database, keyring } = this.backend;
    // Where the database and the key live is shown to the host's own user only (the CLI); an API
    // caller learns what /readyz tells anyone: the kind, and whether it works.
    const databaseAt = options.host ? database.location : `${database.kind} database`;
    const keyFrom = options.host ? keyring.where : keyring.kind;
    await attempt('database', async () => ({
      ok: true,
      detail: `${databaseAt}, schema version ${await database.schemaVersion()}`,
    }));
    await attempt('master key', async () => {
      const keys = await this.backend.masterKeys();
      const active = keys.find((k) => k.state === 'active');
      const unfinished = keys.filter((k) => k.state === 'draining');
      if (!active?.held) {
        return {
          ok: false,
          detail: `${keyFrom} does not hold the active master key ${active?.id ?? '(none)'}`,
          fix: 'point masterKey at the key this database was encrypted with',
        };
      }
      const missing = keys.filter((k) => k.dataKeys > 0 && !k.held);
      if (missing.length > 0) {
        return {
          ok: false,
          detail: `data keys are wrapped by master key ${missing.map((k) => k.id).join(', ')}, not held by ${keyFrom}`,
          fix: 'add the old key after the active one in the master key source, then finish the rotation (sesame keys rotate)',
        };
      }
      return {
        ok: true,
        detail:
          `active master key ${active.id} from ${keyFrom}` +
          (unfinished.length > 0 ? `; a rotation is unfinished (run sesame keys rotate to finish it)` : ''),
      };
    });
    await attempt('list', async () => {
      const n = await this.#secrets.count(options.namespaces);
      return {
        ok: true,
        detail: `${n} secret${n === 1 ? '' : 's'} visible from namespace ${options.namespaces[0] || '(root)'}`,
      };
    });
    if (options.sample) {
      const sample = options.sample;
      await attempt('read', async () => {
        try {
          const got = await this.#secrets.read({ name: sample, namespaces: options.namespaces });
          return {
            ok: true,
            detail: `decrypted "${sample}" version ${got.version} (namespace ${got.namespace || '(root)'})`,
          };
        } catch (err) {
          if (!(err instanceof SecretNotFoundError)) throw err;
          return { ok: false, detail: err.message, fix: `write it first: sesame secrets set ${sample} …` };
        }
      });
    }
    return { ok: steps.every((s) => s.ok), steps };
  }

  /** The backend is shared by every builtin store; the service closes it. */
  async close(): Promise<void> {}
}

function fetched(secret: StoredSecret): FetchedSecret {
  return { value: secret.value, version: String(secret.version), namespace: secret.namespace };
}

function metadata(info: SecretInfo): SecretMetadata {
  return {
    name: info.name,
    namespace: info.namespace,
    version: String(info.version),
    description: info.description,
    tags: info.tags,
    createdAt: info.createdAt,
    updatedAt: info.updatedAt,
    deletedAt: info.deletedAt,
    purgeAt: info.purgeAt,
  };
}

export const builtinStoreType = {
  type: 'builtin',
  capabilities: {
    write: true,
    batch: true,
    versions: true,
    stages: false,
    namespaced: true,
    restore: true,
    search: true,
  },
  publishesChanges: true,
  settings,
  // The configured database only: no address, file or identity of the host's beyond it.
  hostAccess: (): HostAccess[] => [],
  async create(s: BuiltinStoreSettings, context: StoreContext): Promise<BuiltinStoreClient> {
    const open = builtinServiceOf(context);
    let backend: BuiltinBackend;
    try {
      backend = await open();
    } catch (err) {
      if (err instanceof SesameError && !(err instanceof DatabaseError)) throw err;
      throw new StoreUnavailableError(
        `[${context.storeName}] ${err instanceof Error ? err.message : String(err)}`,
        {},
        { cause: err, fix: err instanceof SesameError ? err.fix : undefined },
      );
    }
    return new BuiltinStoreClient(backend, s, context);
  },
} satisfies StoreType<BuiltinStoreSettings>;

export type { BuiltinBackend, OpenBuiltinBackendOptions } from '../../encrypted-store/index.js';

/** Open the builtin backend, loading the engine on first use. */
export async function openBuiltinBackend(options: OpenBuiltinBackendOptions): Promise<BuiltinBackend> {
  const engine = await import('../../encrypted-store/backend.js');
  return engine.openBuiltinBackend(options);
}

/**
 * The builtin store's backend: one database and one master keyring per process, shared by
 * every builtin-type store. It makes sure the key source matches the database before anything
 * is read or written, and gives out the key to wrap new data keys with.
 */
import { type Kysely, sql } from 'kysely';
import { type AuditChain, registerAuditChain, unregisterAuditChain } from '../audit/chain.js';
import { openDatabase, type SesameDatabase } from '../db/index.js';
import type { SesameTables } from '../db/tables.js';
import {
  DatabaseBusyError,
  databaseBusyText,
  isDatabaseBusy,
  MasterKeyError,
  MasterKeyNotHeldError,
  UnknownMasterKeyError,
} from './errors.js';
import {
  type LoadedMasterKeys,
  loadMasterKey,
  type MasterKey,
  MasterKeyring,
  type MasterKeySource,
} from './master-key.js';
import { auditCheckpointFile, openAuditChain } from './audit-key.js';
import { dataKeysByMasterKey } from './sealed-tables.js';
import { type KeyRotationOptions, type KeyRotationResult, rotateMasterKey } from './rotate.js';
import { BuiltinSecrets, type SecretSpaceOptions } from './secrets.js';

const SWEEP_INTERVAL_MS = 3_600_000;

export interface OpenBuiltinBackendOptions {
  /** A database URL (`sqlite:…`, `postgres://…`), or a database the caller opened and will close. */
  database: string | SesameDatabase;
  masterKey: MasterKeySource;
  /** Directory relative paths (SQLite file, key file) are resolved against. */
  baseDir?: string | undefined;
  /**
   * The key source is Sesame's default (no `masterKey` in the config, e.g. the embedded
   * default). Informational: for every file source, a missing key file is generated on first
   * use of an empty database (no key, no sealed row) and is an error otherwise.
   */
  embedded?: boolean | undefined;
  /** Environment for `{ env }` key sources (default `process.env`). */
  env?: NodeJS.ProcessEnv | undefined;
  /** Where the one-line "created master key" notice goes (default: stderr). */
  notice?: ((line: string) => void) | undefined;
  /** Clock in milliseconds (tests). Default `Date.now`. */
  now?: (() => number) | undefined;
  /**
   * Where the audit head is checkpointed outside the database (relative to `baseDir`). Default:
   * `SESAME_AUDIT_HEAD` from `env`, else `audit.head` next to the master key file, else next to
   * the SQLite file; none for PostgreSQL with a key from the environment (docs/audit.md).
   */
  auditCheckpoint?: string | undefined;
}

export interface MasterKeyStatus {
  id: string;
  state: 'active' | 'draining' | 'retired';
  createdAt: string;
  retiredAt?: string | undefined;
  /** Data keys it wraps now. */
  dataKeys: number;
  /** This process holds the key. */
  held: boolean;
}

export class BuiltinBackend {
  readonly database: SesameDatabase;
  readonly keyring: MasterKeyring;
  readonly now: () => number;
  /** The audit chain's keys and checkpoint (set by `openBuiltinBackend`). */
  auditChain: AuditChain | undefined;
  readonly #ownsDatabase: boolean;
  #closed = false;
  #lastSweep = Number.NEGATIVE_INFINITY;

  constructor(args: {
    database: SesameDatabase;
    ownsDatabase: boolean;
    keyring: MasterKeyring;
    now?: (() => number) | undefined;
  }) {
    this.database = args.database;
    this.#ownsDatabase = args.ownsDatabase;
    this.keyring = args.keyring;
    // Looked up at each call so fake timers installed later still apply.
    this.now = args.now ?? (() => Date.now());
  }

  /** A view of the secrets with one store's settings (default tags, size limit, recovery window). */
  secrets(options: SecretSpaceOptions = {}): BuiltinSecrets {
    return new BuiltinSecrets(this, options);
  }

  /** The key that decrypts a row's data key; re-reads the source once when it is not held. */
  keyFor(keyId: string, where: string): MasterKey {
    const held = this.keyring.get(keyId);
    if (held) return held;
    this.#reloadQuietly();
    const reloaded = this.keyring.get(keyId);
    if (reloaded) return reloaded;
    throw new UnknownMasterKeyError(keyId, this.keyring.ids(), where);
  }

  /**
   * The key new data keys are wrapped with: the database's active key, read inside the write
   * transaction so a rotation that another process started is followed at once (its flip of
   * the active key waits for this transaction on PostgreSQL, and SQLite writers are serial).
   */
  async activeKey(trx: Kysely<SesameTables>): Promise<MasterKey> {
    const select = () =>
      trx
        .selectFrom('master_keys')
        .select('id')
        .where('state', '=', 'active')
        .$if(this.database.kind === 'postgres', (q) => q.forShare())
        .executeTakeFirst();
    let row = await select();
    // PostgreSQL, read committed: when a rotation flips the active key while we wait on the
    // lock, the old row no longer matches and the new one is not in this statement's snapshot,
    // so nothing is returned. A new statement sees the committed flip.
    for (let attempt = 0; !row && this.database.kind === 'postgres' && attempt < 3; attempt++)
      row = await select();
    if (!row) throw new MasterKeyError(`the ${this.database.kind} database has no active master key`);
    const held = this.keyring.get(row.id);
    if (held) return held;
    this.#reloadQuietly();
    const reloaded = this.keyring.get(row.id);
    if (reloaded) return reloaded;
    throw new MasterKeyNotHeldError(
      // Raised while serving, so an API caller may read it: the database and the key source are
      // named by kind, not by where they live.
      `master key ${row.id} is now active in the ${this.database.kind} database (rotated by another process?) but ` +
        `${this.keyring.kind} does not hold it: give this process the new key and restart it`,
    );
  }

  #reloadQuietly(): void {
    try {
      this.keyring.reload();
    } catch {
      // The caller reports the missing key; a source that became unreadable says less.
    }
  }

  /** Master keys the database knows, with how many data keys (in every sealed table) each still wraps. */
  async masterKeys(): Promise<MasterKeyStatus[]> {
    const db = this.database.kysely;
    const keys = await db.selectFrom('master_keys').selectAll().orderBy('created_at').execute();
    const byKey = await dataKeysByMasterKey(this.database);
    return keys.map((k) => ({
      id: k.id,
      state: k.state,
      createdAt: k.created_at,
      retiredAt: k.retired_at ?? undefined,
      dataKeys: byKey.get(k.id) ?? 0,
      held: this.keyring.get(k.id) !== undefined,
    }));
  }

  /**
   * Rotate the master key: a new key becomes active and every data key is rewrapped with it,
   * in batches that survive an interruption (run it again to finish). See `rotate.ts`.
   */
  rotateMasterKey(options: KeyRotationOptions = {}): Promise<KeyRotationResult> {
    return rotateMasterKey(this, options);
  }

  /** Physically remove soft-deleted secrets whose recovery window has passed. */
  purgeExpired(): Promise<number> {
    this.#lastSweep = this.now();
    return this.secrets().purgeExpired();
  }

  /**
   * Purge expired secrets if the last sweep was over an hour ago. Reads already treat them as
   * gone; this removes their ciphertext from a long-running process's database too.
   */
  async sweepExpired(): Promise<void> {
    if (this.now() - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    await this.purgeExpired();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const chain = this.auditChain;
    if (chain) {
      // What this process committed reaches the checkpoint before the process may stop.
      await chain.flush();
      unregisterAuditChain(this.database, chain);
    }
    if (this.#ownsDatabase) await this.database.close();
  }
}

/**
 * Open the builtin store's backend: the database (migrated), the master key (checked against
 * the database), and a sweep of expired soft-deleted secrets. A wrong key is refused before
 * anything is written.
 *
 * @example
 * const backend = await openBuiltinBackend({
 *   database: 'sqlite:./.sesame/sesame.db',
 *   masterKey: { file: '.sesame/master.key' },
 *   baseDir: process.cwd(),
 *   embedded: true,
 * });
 * const secrets = backend.secrets();
 * await secrets.write({ namespace: '', name: 'db/password', value: 's3cret' });
 */
export async function openBuiltinBackend(options: OpenBuiltinBackendOptions): Promise<BuiltinBackend> {
  const owns = typeof options.database === 'string';
  const database =
    typeof options.database === 'string'
      ? await openDatabase(options.database, { baseDir: options.baseDir })
      : options.database;
  try {
    await database.migrate();
    const keyring = await checkKeyAgainstDatabase(database, options);
    const backend = new BuiltinBackend({ database, ownsDatabase: owns, keyring, now: options.now });
    const checkpoint = auditCheckpointFile({
      explicit: options.auditCheckpoint ?? (options.env ?? process.env)['SESAME_AUDIT_HEAD'],
      baseDir: options.baseDir,
      keys: keyring.loaded,
      database,
    });
    backend.auditChain = await openAuditChain(backend, checkpoint);
    await backend.purgeExpired();
    registerAuditChain(database, backend.auditChain);
    return backend;
  } catch (err) {
    if (owns) await database.close().catch(() => {});
    if (isDatabaseBusy(err)) {
      // Opening writes (migrations, the audit chain key, expired secrets): a raw SQLITE_BUSY
      // said neither that nor what to do. Named by kind: a server's first use may answer an API call.
      const { message, fix } = databaseBusyText(database.kind, `the ${database.kind} database`, ' while Sesame opened it');
      throw new DatabaseBusyError(message, { fix });
    }
    throw err;
  }
}

/** No master key row in any state and no row sealed under any key: nothing a key could read. */
async function isEmptyOfKeys(database: SesameDatabase): Promise<boolean> {
  const anyKey = await database.kysely.selectFrom('master_keys').select('id').limit(1).executeTakeFirst();
  if (anyKey) return false;
  return (await dataKeysByMasterKey(database)).size === 0;
}

async function checkKeyAgainstDatabase(
  database: SesameDatabase,
  options: OpenBuiltinBackendOptions,
): Promise<MasterKeyring> {
  const activeId = async () =>
    (
      await database.kysely
        .selectFrom('master_keys')
        .select('id')
        .where('state', '=', 'active')
        .executeTakeFirst()
    )?.id;
  const expected = await activeId();
  let loaded: LoadedMasterKeys;
  try {
    // A missing key file is generated only for an empty database — no master key ever, no sealed
    // row: generating a key for a database whose key file went missing would only hide the real
    // problem (the error says to restore it from the backup).
    loaded = loadMasterKey(options.masterKey, {
      baseDir: options.baseDir,
      generate: expected === undefined && (await isEmptyOfKeys(database)),
      env: options.env,
      notice: options.notice,
    });
  } catch (err) {
    if (err instanceof MasterKeyError && expected !== undefined) {
      throw new MasterKeyError(`${err.message} (${database.location} expects master key ${expected})`, {
        cause: err,
      });
    }
    throw err;
  }
  const keyring = new MasterKeyring(options.masterKey, loaded, {
    baseDir: options.baseDir,
    env: options.env,
  });
  const mismatch = (id: string) =>
    new MasterKeyError(
      `wrong master key: ${database.location} is encrypted with master key ${id}, but ${loaded.where} ` +
        `holds ${loaded.keys.map((k) => k.id).join(', ')}: point masterKey at the right key (nothing was changed)`,
    );
  if (expected !== undefined) {
    if (!keyring.get(expected)) throw mismatch(expected);
    return keyring;
  }
  // First use of this database: the source's newest key becomes the active one. Of processes
  // starting at once on an empty database (several nodes of a cluster), one inserts and the
  // others check against it. On PostgreSQL (read committed) two of them could both find no key
  // and both insert theirs, each then reading its own as the winner: two active keys, and a node
  // given the wrong key (one replica's Secret out of date) serving on. So the table is locked
  // against other writers first (SHARE ROW EXCLUSIVE conflicts with itself, not with reads):
  // the second waits for the first to commit, then its select sees the first's key.
  const winner = await database.write(async (trx) => {
    if (database.kind === 'postgres') await sql`lock table master_keys in share row exclusive mode`.execute(trx);
    const current = await trx
      .selectFrom('master_keys')
      .select('id')
      .where('state', '=', 'active')
      .executeTakeFirst();
    if (current) return current.id;
    await trx
      .insertInto('master_keys')
      .values({
        id: keyring.primary.id,
        state: 'active',
        created_at: new Date(options.now?.() ?? Date.now()).toISOString(),
        retired_at: null,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    const active = await trx
      .selectFrom('master_keys')
      .select('id')
      .where('state', '=', 'active')
      .executeTakeFirst();
    return active?.id ?? keyring.primary.id;
  });
  if (!keyring.get(winner)) throw mismatch(winner);
  return keyring;
}

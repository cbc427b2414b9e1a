/**
 * THE database of Sesame: one module opens SQLite or PostgreSQL behind Kysely, applies the
 * migrations and runs write transactions that survive concurrent writers. Every feature that
 * keeps state (builtin secrets, and later audit, tokens, stored configs) goes through it.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient, SqliteDialect, sql } from 'kysely';
import { DatabaseError, DatabaseTimeoutError, diagnoseDatabaseFailure, SchemaTooNewError } from './errors.js';
import { MIGRATIONS, type Migration } from './migrations/index.js';
import { portableTypes } from './migrations/types.js';
import { createPgClient, createPgPool } from './pg-client.js';
import type { SesameTables } from './tables.js';
import {
  type DatabaseKind,
  type DatabaseLocation,
  databaseUrlSecrets,
  parseDatabaseUrl,
  redactDatabaseUrl,
  withoutDatabaseSecrets,
} from './url.js';
import { timerDelay } from '../timers.js';
import { systemError } from '../host-file.js';

export { DatabaseError, DatabaseTimeoutError, SchemaTooNewError } from './errors.js';


export interface MigrationResult {
  /** Schema version before. */
  from: number;
  /** Schema version after (the code's latest). */
  to: number;
  /** `version-name` of each migration applied now. */
  applied: string[];
}

export interface WriteTransactionOptions {
  /**
   * Also retry when the transaction hits a unique-key violation: for transactions that compute
   * the next key themselves (e.g. the next version number), where losing a race is expected
   * and running again picks a fresh key. Default false.
   */
  retryOnConflict?: boolean;
  /** How long to keep retrying while other writers hold the database (default 15 s). */
  busyTimeoutMs?: number;
}

export interface SesameDatabase {
  readonly kind: DatabaseKind;
  readonly kysely: Kysely<SesameTables>;
  /** Where the database is, safe to print (no password). */
  readonly location: string;
  /** Apply pending migrations. Throws `SchemaTooNewError` on a schema newer than the code. */
  migrate(): Promise<MigrationResult>;
  /** The highest migration applied (0 on an empty database). */
  schemaVersion(): Promise<number>;
  /**
   * Run `work` in a write transaction and commit, retrying the whole of `work` when another
   * writer got in the way (SQLite busy, PostgreSQL serialization failure or deadlock). `work` may
   * therefore run more than once: keep side effects outside it. Do not nest.
   */
  write<T>(work: (trx: Kysely<SesameTables>) => Promise<T>, options?: WriteTransactionOptions): Promise<T>;
  /**
   * PostgreSQL only: a new client of its own, outside the pool, connected (for `LISTEN`: a
   * pooled connection would be handed to other queries). The caller ends it.
   */
  dedicatedClient?(): Promise<import('pg').Client>;
  /**
   * `err` as the database failure an operator should read (login refused, no such database,
   * unreachable, timed out: 503 `database_unavailable` with a fix, the URL's password removed), or
   * undefined when it is not one.
   */
  diagnose(err: unknown): DatabaseError | undefined;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Directory a relative `sqlite:` path is resolved against (the config file's). */
  baseDir?: string;
  /** Migrations to apply; tests pass their own lists. Default: `MIGRATIONS`. */
  migrations?: readonly Migration[];
}

/**
 * Open a database from its URL. The driver is loaded on first use, so a process that never
 * touches the database does not load better-sqlite3 or pg. Call `migrate()` before use.
 *
 * @example
 * const database = await openDatabase('sqlite:./.sesame/sesame.db', { baseDir: process.cwd() });
 * await database.migrate();
 * const rows = await database.kysely.selectFrom('secrets').select('name').execute();
 * await database.close();
 */
export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<SesameDatabase> {
  const location = parseDatabaseUrl(url, options.baseDir);
  const migrations = options.migrations ?? MIGRATIONS;
  checkMigrationList(migrations);
  if (location.kind === 'postgres') {
    const secrets = databaseUrlSecrets(url);
    const diagnose = (err: unknown) => diagnoseDatabaseFailure(err, (text) => withoutDatabaseSecrets(text, secrets));
    const kysely = await openPostgres(location, url, diagnose);
    const database = new KyselyDatabase(location.kind, kysely, describeLocation(location, url), migrations, () => kysely.destroy(), diagnose);
    database.migrationKysely = async () => {
      const pool = await createPgPool({ connectionString: location.connectionString, max: 1, connectionTimeoutMillis: location.connectTimeoutMs });
      return new Kysely<SesameTables>({ dialect: new PostgresDialect({ pool }) });
    };
    database.dedicatedClient = async () => {
      // A bounded connect (the caller retries) and TCP keepalive, so a silently dropped
      // connection is noticed instead of waiting forever for notifications.
      const client = await createPgClient({
        connectionString: location.connectionString,
        connectionTimeoutMillis: location.connectTimeoutMs,
        keepAlive: true,
      });
      // A dropped connection emits 'error' on the client: the owner adds a listener for it.
      await client.connect();
      return client;
    };
    return database;
  }
  const { kysely, release } = await sharedSqlite(location.file);
  return new KyselyDatabase(location.kind, kysely, describeLocation(location, url), migrations, release, () => undefined);
}

/**
 * One SQLite connection per file per process, shared by every `openDatabase` of that file and
 * closed with the last of them. Two connections of one process would contend for the write
 * lock, and better-sqlite3 waits for a lock synchronously: the holder, on the same blocked
 * thread, could not finish until the wait timed out. Sharing lets Kysely's connection mutex
 * queue them instead. (`:memory:` is never shared: each open is its own database.)
 */
const sqliteConnections = new Map<string, { kysely: Promise<Kysely<SesameTables>>; users: number }>();

async function sharedSqlite(file: string): Promise<{ kysely: Kysely<SesameTables>; release: () => Promise<void> }> {
  if (file === ':memory:') {
    const kysely = await openSqlite(file);
    return { kysely, release: () => kysely.destroy() };
  }
  let entry = sqliteConnections.get(file);
  if (!entry) {
    entry = { kysely: openSqlite(file), users: 0 };
    sqliteConnections.set(file, entry);
  }
  entry.users++;
  const shared = entry;
  let kysely: Kysely<SesameTables>;
  try {
    kysely = await shared.kysely;
  } catch (err) {
    if (--shared.users === 0 && sqliteConnections.get(file) === shared) sqliteConnections.delete(file);
    throw err;
  }
  return {
    kysely,
    release: async () => {
      if (--shared.users > 0) return;
      if (sqliteConnections.get(file) === shared) sqliteConnections.delete(file);
      await kysely.destroy();
    },
  };
}

function describeLocation(location: DatabaseLocation, url: string): string {
  return location.kind === 'sqlite' ? `sqlite:${location.file}` : redactDatabaseUrl(url);
}

/** What to do when SQLite refuses to open a file, by its error code. */
function sqliteOpenFix(cause: unknown): string | undefined {
  switch ((cause as { code?: unknown }).code) {
    case 'SQLITE_NOTADB':
      return 'the path names a file that is not a SQLite database (another file, or one damaged): check database: in the config, or restore it from a backup';
    case 'SQLITE_CANTOPEN':
      return 'check that this user may create and write files in its directory';
    case 'SQLITE_READONLY':
      return 'make the file and its directory writable by this user (SQLite writes a -wal and a -shm file beside it)';
    default:
      return undefined;
  }
}

async function openSqlite(file: string): Promise<Kysely<SesameTables>> {
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  const inMemory = file === ':memory:';
  const created = !inMemory && !existsSync(file);
  let sqlite: InstanceType<typeof BetterSqlite3>;
  const where = `could not open database sqlite:${file}`;
  if (!inMemory) {
    const dir = path.dirname(file);
    try {
      // 0700: the directory also holds the generated master key in the embedded default.
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (cause) {
      const reason = (cause as NodeJS.ErrnoException).code === 'ENOTDIR' || (cause as NodeJS.ErrnoException).code === 'EEXIST'
        ? 'a part of the path is a file, not a directory'
        : systemError(cause).message;
      throw new DatabaseError(`${where}: its directory ${dir} cannot be created (${reason})`, {
        fix: 'check database: in the config',
      });
    }
    if (existsSync(file) && statSync(file).isDirectory()) {
      throw new DatabaseError(`${where}: it is a directory`, { fix: `name a file in it, e.g. sqlite:${path.join(file, 'sesame.db')}` });
    }
  }
  try {
    sqlite = new BetterSqlite3(file);
    // Values are encrypted, but names, tags and descriptions are not: keep the file private.
    // SQLite gives the -wal and -shm files the permissions of the database file.
    if (created) chmodSync(file, 0o600);
    // WAL: readers do not block the writer, and a commit is one append to the log.
    // synchronous=FULL: the log is fsynced at every commit, so a write Sesame acknowledged
    // survives power loss, not only a killed process (NORMAL only guarantees the latter). A
    // lost acknowledged write is a lost credential (a rotated password the target system
    // already uses), and writes are rare next to reads, so the fsync is worth it.
    if (!inMemory) sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = FULL');
    // A writer holding the lock (a CLI next to `sesame serve`) is waited for, but only briefly
    // here: the wait blocks the event loop, and when the holder is another connection of this
    // same process it cannot finish until we yield. `write()` retries asynchronously instead.
    sqlite.pragma('busy_timeout = 250');
  } catch (cause) {
    throw new DatabaseError(`${where}: ${messageOf(cause)}`, { cause, fix: sqliteOpenFix(cause) });
  }
  return new Kysely<SesameTables>({ dialect: new SqliteDialect({ database: sqlite }) });
}

async function openPostgres(
  location: Extract<DatabaseLocation, { kind: 'postgres' }>,
  url: string,
  diagnose: (err: unknown) => DatabaseError | undefined,
): Promise<Kysely<SesameTables>> {
  // Bounded everywhere: a PostgreSQL that stops answering without closing anything (a network
  // partition, a failover whose old address black-holes, a frozen host) must not hang requests,
  // readiness checks and the pool with them. Connecting and waiting for a pooled connection
  // give up after the URL's connect_timeout (5 s by default); statements after its statement_timeout + 5 s (10 s)
  // (boundedPool). TCP keepalive notices a peer that is gone for good.
  // An idle client losing its connection emits on the pool (createPgPool listens); the next
  // query reconnects or reports the failure.
  const pool = await createPgPool({
    connectionString: location.connectionString,
    max: 10,
    connectionTimeoutMillis: location.connectTimeoutMs,
    keepAlive: true,
  });
  try {
    const client = await pool.connect();
    client.release();
  } catch (cause) {
    await pool.end().catch(() => {});
    const known = diagnose(cause);
    // The driver's error is not kept: its message may repeat parts of the URL (see diagnose).
    throw new DatabaseError(`could not connect to database ${redactDatabaseUrl(url)}: ${known?.message ?? diagnoseText(cause, url)}`, {
      fix: known?.fix,
    });
  }
  // Whether the server answers, asked on a connection of its own (the pool may be full of
  // connections waiting for it): connect and `select 1`, each within the time limits.
  const probe = async () => {
    const client = await createPgClient({ connectionString: location.connectionString, connectionTimeoutMillis: location.connectTimeoutMs });
    try {
      await client.connect();
      await withTimeout(client.query('select 1'), location.connectTimeoutMs);
    } finally {
      void client.end().catch(() => {});
    }
  };
  return new Kysely<SesameTables>({ dialect: new PostgresDialect({ pool: boundedPool(pool, location.statementTimeoutMs, probe, diagnose) }) });
}

/** A driver message with the URL's secrets removed. */
function diagnoseText(err: unknown, url: string): string {
  return withoutDatabaseSecrets(messageOf(err), databaseUrlSecrets(url));
}

/** `promise`, or a DatabaseTimeoutError after `ms` (the promise is then left to settle unobserved). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  promise.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseTimeoutError(ms)), timerDelay(ms));
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** A new connection's connect timed out: the server accepted nothing, or answered nothing, in time. */
function isConnectTimeout(err: unknown): boolean {
  return err instanceof Error && /^Connection terminated due to connection timeout/.test(err.message);
}

const PROBE_INTERVAL_MS = 1000;

/**
 * The pool as Kysely sees it, with a time limit on every statement. pg's own `query_timeout`
 * is not used: it gives up on the statement but keeps the connection, whose next user would
 * then run after the abandoned statement once the server answers — inside a transaction nobody
 * commits or rolls back (holding its locks, the audit append lock among them). Here a statement
 * that timed out marks its connection broken: what the caller still sends on it (the rollback)
 * fails at once, and the connection is destroyed when released, so the server, when it answers
 * again, finds it closed and rolls its transaction back. A write answered by this timeout may
 * still have committed if the timeout hit its commit: read it back.
 *
 * Once a statement or a new connection timed out, the server is taken for silent: rather than
 * have every request wait the limit out again (a resolve served from the cache would take 5–10 s
 * for its token check), `connect()` fails at once while `probe` (a connection of its own, bounded)
 * asks the server, at once and then every second, until it answers.
 */
function boundedPool(
  pool: import('pg').Pool,
  timeoutMs: number,
  probe: () => Promise<void>,
  diagnose: (err: unknown) => DatabaseError | undefined,
): PostgresPool {
  const wrapped = new WeakMap<import('pg').PoolClient, PostgresPoolClient>();
  let silent = false;
  let ended = false;
  let probing = false;
  const markSilent = () => {
    silent = true;
    if (probing) return;
    probing = true;
    void (async () => {
      while (silent && !ended) {
        try {
          await probe();
          silent = false;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS).unref());
        }
      }
    })().finally(() => {
      probing = false;
    });
  };
  const wrap = (client: import('pg').PoolClient): PostgresPoolClient => {
    let broken: Error | undefined;
    // pg-pool takes its own 'error' listener off a client while the client is lent out: the
    // driver's "Connection terminated unexpectedly" (the server ended the backend: a restart, a
    // failover, an administrator) was then emitted with nobody listening, an uncaught exception
    // that stopped the process. Listened to for the client's whole life: the connection is
    // broken from then on, its statements fail at once (typed), and it is destroyed on release.
    client.on('error', (err: Error) => {
      broken ??= diagnose(err) ?? err;
    });
    const query = (sqlText: string, parameters: ReadonlyArray<unknown>) => {
      if (broken) return Promise.reject(broken);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          broken = new DatabaseTimeoutError(timeoutMs);
          markSilent();
          reject(broken);
        }, timerDelay(timeoutMs));
        client.query(sqlText, [...parameters]).then(
          (result) => {
            clearTimeout(timer);
            resolve(result);
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(err);
          },
        );
      });
    };
    return {
      query: query as PostgresPoolClient['query'],
      release: () => {
        if (broken) wrapped.delete(client);
        client.release(broken);
      },
    };
  };
  return {
    async connect() {
      if (silent) throw new DatabaseTimeoutError(timeoutMs);
      let client: import('pg').PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        if (isConnectTimeout(err)) markSilent();
        // A new connection refused (a changed password, a dropped role or database, a server
        // down or full): typed here, where it happens, so every caller answers 503 saying what
        // to fix instead of 500 "internal error".
        throw diagnose(err) ?? err;
      }
      let bounded = wrapped.get(client);
      if (!bounded) {
        bounded = wrap(client);
        wrapped.set(client, bounded);
      }
      return bounded;
    },
    end: () => {
      ended = true;
      return pool.end();
    },
  };
}

/** Any fixed number works; it only has to be the same in every Sesame process. */
const MIGRATION_LOCK_ID = 0x5e5a3e;

class KyselyDatabase implements SesameDatabase {
  #closed = false;
  dedicatedClient?: () => Promise<import('pg').Client>;
  /** PostgreSQL: a Kysely of its own for migrations, whose statements may take long (an index on a big table). */
  migrationKysely?: () => Promise<Kysely<SesameTables>>;

  constructor(
    readonly kind: DatabaseKind,
    readonly kysely: Kysely<SesameTables>,
    readonly location: string,
    private readonly migrations: readonly Migration[],
    private readonly release: () => Promise<void>,
    readonly diagnose: (err: unknown) => DatabaseError | undefined,
  ) {}

  async schemaVersion(): Promise<number> {
    return readSchemaVersion(this.kysely);
  }

  async migrate(): Promise<MigrationResult> {
    const own = await this.migrationKysely?.();
    try {
      return await this.#migrate(own ?? this.kysely);
    } finally {
      await own?.destroy();
    }
  }

  async #migrate(kysely: Kysely<SesameTables>): Promise<MigrationResult> {
    const latest = this.migrations.length;
    const context = { kind: this.kind, types: portableTypes(this.kind) };
    // Up to date (every start but the first after an upgrade): said by a read, without the write
    // lock. Taking it each time made every command, reads included, wait on any other writer and
    // fail after the busy timeout (`sesame secrets get` during a long write elsewhere).
    const current = await readSchemaVersion(kysely).catch(() => undefined);
    if (current !== undefined && current > latest) throw new SchemaTooNewError(current, latest);
    if (current === latest) return { from: latest, to: latest, applied: [] };
    return this.#write(kysely, async (trx) => {
      // Several processes may start at once on one PostgreSQL: the first migrates, the others
      // wait here and then find nothing to do. (SQLite: the write transaction already excludes.)
      if (this.kind === 'postgres') await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`.execute(trx);
      await trx.schema
        .createTable('schema_migrations')
        .ifNotExists()
        .addColumn('version', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('applied_at', 'text', (c) => c.notNull())
        .execute();
      const from = await readSchemaVersion(trx);
      if (from > latest) throw new SchemaTooNewError(from, latest);
      const applied: string[] = [];
      for (const migration of this.migrations.slice(from)) {
        await migration.up(trx as unknown as Kysely<unknown>, context);
        await trx
          .insertInto('schema_migrations')
          .values({ version: migration.version, name: migration.name, applied_at: new Date().toISOString() })
          .execute();
        applied.push(`${migration.version}-${migration.name}`);
      }
      return { from, to: latest, applied };
    });
  }

  write<T>(work: (trx: Kysely<SesameTables>) => Promise<T>, options: WriteTransactionOptions = {}): Promise<T> {
    return this.#write(this.kysely, work, options);
  }

  async #write<T>(
    kysely: Kysely<SesameTables>,
    work: (trx: Kysely<SesameTables>) => Promise<T>,
    options: WriteTransactionOptions = {},
  ): Promise<T> {
    const deadline = Date.now() + (options.busyTimeoutMs ?? 15_000);
    let conflicts = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return this.kind === 'sqlite' ? await this.#sqliteWrite(work) : await kysely.transaction().execute(work);
      } catch (err) {
        if (isBusy(err)) {
          if (Date.now() >= deadline) throw err;
        } else if (options.retryOnConflict === true && isUniqueViolation(err)) {
          // Each conflict means another writer committed: progress is being made, but bound it.
          if (++conflicts >= 20) throw err;
        } else {
          throw err;
        }
        // Jittered backoff so racing writers do not collide again in lockstep.
        await sleep(Math.min(100, 2 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));
      }
    }
  }

  /**
   * `BEGIN IMMEDIATE` takes the write lock up front. Kysely's `transaction()` issues a plain
   * (deferred) `BEGIN`, whose read-then-write upgrade fails with SQLITE_BUSY_SNAPSHOT when
   * another process committed in between, without waiting for busy_timeout.
   */
  #sqliteWrite<T>(work: (trx: Kysely<SesameTables>) => Promise<T>): Promise<T> {
    return this.kysely.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const result = await work(conn);
        await sql`commit`.execute(conn);
        return result;
      } catch (err) {
        await sql`rollback`.execute(conn).catch(() => {});
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.release();
  }
}

async function readSchemaVersion(db: Kysely<SesameTables>): Promise<number> {
  try {
    const row = await db
      .selectFrom('schema_migrations')
      .select((eb) => eb.fn.max('version').as('version'))
      .executeTakeFirst();
    return Number(row?.version ?? 0);
  } catch (err) {
    if (isMissingTable(err)) return 0;
    throw err;
  }
}

function checkMigrationList(migrations: readonly Migration[]): void {
  migrations.forEach((m, index) => {
    if (m.version !== index + 1) {
      throw new Error(`migration "${m.name}" has version ${m.version} at position ${index + 1}: versions must be 1, 2, 3…`);
    }
  });
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Another writer holds the database: running the transaction again is expected to work. */
export function isBusy(err: unknown): boolean {
  const code = codeOf(err);
  if (!code) return false;
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code === '40001' || code === '40P01';
}

/** A unique or primary key constraint rejected the row. */
export function isUniqueViolation(err: unknown): boolean {
  const code = codeOf(err);
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

function isMissingTable(err: unknown): boolean {
  const code = codeOf(err);
  if (code === '42P01') return true;
  return code === 'SQLITE_ERROR' && /no such table/i.test(messageOf(err));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, timerDelay(ms)));
}

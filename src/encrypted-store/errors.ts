/** Errors of the builtin encrypted store. Messages name secrets and key ids, never values or keys. */
import { SecretStateError, SesameError, UsageError } from '../errors.js';

/** Where a stored value sits: the authenticated data its encryption is bound to. */
export interface SecretCoordinates {
  namespace: string;
  name: string;
  version: number;
}

export function describeSecret(at: { namespace: string; name: string }): string {
  return `"${at.name}" (${at.namespace === '' ? 'root namespace' : `namespace ${at.namespace}`})`;
}

/**
 * A stored value or data key did not authenticate: its row was edited, or holds another
 * secret's ciphertext. Retrying will not help; the version must be rewritten or purged.
 */
export class SecretIntegrityError extends SecretStateError {
  readonly at: SecretCoordinates;

  constructor(at: SecretCoordinates, options?: { cause?: unknown }) {
    super(
      `stored secret ${describeSecret(at)} version ${at.version} failed authentication: the row was altered or belongs elsewhere`,
      {},
      options,
    );
    this.at = at;
  }
}

/**
 * A row is wrapped by a master key this process does not hold. 503: the data is fine and another
 * process given the key (a node restarted after a rotation) reads it; this one must be given it.
 */
export class UnknownMasterKeyError extends SesameError {
  override readonly code = 'master_key_unknown';
  override readonly status: number = 503;
  readonly keyId: string;

  constructor(keyId: string, held: readonly string[], where: string) {
    super(
      `${where} is encrypted with master key ${keyId}, but the master key source holds ${held.join(', ') || 'no key'}: ` +
        'add that key to the master key source (the first key stays the active one)',
    );
    this.keyId = keyId;
  }
}

/** The master key source is missing, malformed, or does not match the database. */
export class MasterKeyError extends UsageError {
  override readonly code = 'master_key';
}

/**
 * The database's active master key (rotated by another process) is not in this process's key
 * source. 503, not 400: nothing is wrong with the request, and a node given the new key does it.
 */
export class MasterKeyNotHeldError extends MasterKeyError {
  override readonly status: number = 503;
}

/** How long a write waits for other writers before it gives up (`SesameDatabase.write`'s default). */
export const WRITE_WAIT = '15 s';

/**
 * The driver's refusal because other writers hold the database (SQLite busy or locked;
 * PostgreSQL serialization failure or deadlock), which `SesameDatabase.write` retries until its
 * deadline. Tested by code so that callers need not load the driver (`db/database.ts`).
 */
export function isDatabaseBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code === '40001' || code === '40P01';
}

/**
 * What to say of a transaction given up because other writers held the database past the wait:
 * `subject` names the database (by kind when the message may reach an API caller), `when` what
 * was being done. Nothing was written: the transaction was rolled back.
 */
export function databaseBusyText(kind: string, subject: string, when = ''): { message: string; fix: string } {
  const sqlite = kind === 'sqlite';
  return {
    message: sqlite
      ? `${subject} stayed locked by another writer for over ${WRITE_WAIT}${when}: nothing was written`
      : `${subject}: other transactions kept conflicting with this one for over ${WRITE_WAIT}${when}: nothing was written`,
    fix: sqlite
      ? 'another process holds a write transaction on the SQLite file (a backup, an sqlite3 shell with a transaction open, a stuck Sesame process): ' +
        'retry once it has finished; on the host, fuser <the database file> names it'
      : 'retry; if it keeps happening, look for long-running transactions in pg_stat_activity',
  };
}

/** Other writers held the database past the wait; nothing was written (see {@link databaseBusyText}). */
export class DatabaseBusyError extends SesameError {
  override readonly code = 'database_busy';
}

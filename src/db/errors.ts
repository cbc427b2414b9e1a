/** Database errors, apart from the driver code so callers can test for them without loading it. */
import { SesameError } from '../errors.js';

/** The database could not be opened or used; the message says where and why. */
export class DatabaseError extends SesameError {
  override readonly code: string = 'database_unavailable';
  override readonly status: number = 503;
}

/** The database was migrated by a newer Sesame than this one. */
export class SchemaTooNewError extends DatabaseError {
  override readonly code = 'schema_too_new';
  readonly databaseVersion: number;
  readonly codeVersion: number;

  constructor(databaseVersion: number, codeVersion: number) {
    super(
      `database schema version ${databaseVersion} is newer than this Sesame (${codeVersion}): upgrade Sesame`,
    );
    this.databaseVersion = databaseVersion;
    this.codeVersion = codeVersion;
  }
}

const UNREACHABLE_FIX =
  'check that PostgreSQL is running and reachable from this node (host and port in the database URL, the network, max_connections); cached values are served meanwhile';

/**
 * PostgreSQL did not answer a statement in time (the URL's `statement_timeout` + 5 s, 10 s by default): the server
 * is frozen, cut off by the network, or overloaded. The connection it was sent on is closed.
 */
export class DatabaseTimeoutError extends DatabaseError {
  constructor(timeoutMs: number) {
    super(
      `the database did not answer within ${timeoutMs / 1000} s (down, cut off or overloaded): retry shortly; GET /readyz says when it is back`,
      { fix: UNREACHABLE_FIX },
    );
  }
}

/**
 * PostgreSQL refused this node's login (SQLSTATE 28P01: wrong password, the role's password was
 * changed; 28000: the role was dropped, lost LOGIN, or pg_hba.conf has no entry for this host).
 * Connections made before still work; every new one fails until the URL or the role is fixed.
 */
export class DatabaseLoginRefusedError extends DatabaseError {}

/** The database named in the URL does not exist on the server (SQLSTATE 3D000: dropped or renamed). */
export class DatabaseMissingError extends DatabaseError {}

/** A new connection to the database failed for a reason retrying later cures (down, restarting, full). */
export class DatabaseUnreachableError extends DatabaseError {}

/**
 * The database server closed a connection this node was using (SQLSTATE 57P01/57P02/57P03, or the
 * socket ended under a query): a restart, a failover, or an administrator's pg_terminate_backend.
 * The statement on it did not complete; the pool opens a new connection for the next one.
 */
export class DatabaseConnectionClosedError extends DatabaseError {}

const CLOSED_CODES = new Set(['57P01', '57P02', '57P03']);

/**
 * `err` as {@link DatabaseConnectionClosedError} when the server closed the connection under a
 * statement, else undefined. Its message holds nothing of the driver's text (no scrub needed).
 */
export function diagnoseClosedConnection(err: unknown): DatabaseConnectionClosedError | undefined {
  if (err instanceof DatabaseConnectionClosedError) return err;
  const code = codeOf(err);
  const message = (err as { message?: unknown } | null)?.message;
  const ended = typeof message === 'string' && /^Connection terminated( unexpectedly)?$/.test(message);
  if (!ended && !(code !== undefined && CLOSED_CODES.has(code))) return undefined;
  return new DatabaseConnectionClosedError(
    `the database server closed this node's connection during the request (${code ? `SQLSTATE ${code}: ` : ''}a restart, a failover, or an administrator ending it): the request did not complete; retry it`,
    { fix: "retry the request (the node opens a new connection; GET /readyz says whether the database answers); if it keeps happening, check the database's log for why it ended connections (shutdown, failover, pg_terminate_backend)" },
  );
}

/** Where the database is set, for the fixes below. */
const URL_SETTING = 'the database URL (the `database` setting of sesame.yaml, e.g. ${env:SESAME_DATABASE_URL}, or PGPASSWORD)';

/**
 * A database failure as the typed error an operator should read, or undefined when `err` is not
 * about reaching the database (a constraint, a bug: those keep their own handling). `scrub`
 * removes the URL's password from the driver's message (see `databaseUrlSecrets`); the driver's
 * error is not kept as the cause for the same reason: nothing of it but its SQLSTATE may reach a
 * log or an answer.
 */
export function diagnoseDatabaseFailure(err: unknown, scrub: (text: string) => string): DatabaseError | undefined {
  if (err instanceof DatabaseError) return err;
  const code = codeOf(err);
  const detail = scrub(err instanceof Error ? err.message : String(err));
  if (code === '28P01' || code === '28000') {
    return new DatabaseLoginRefusedError(`PostgreSQL refused this node's login (${detail}): the database cannot be used until that is fixed`, {
      fix: `check the user name and password in ${URL_SETTING}: the role's password may have been changed, or the role dropped or made NOLOGIN (on the server: ALTER ROLE <name> LOGIN PASSWORD '…'), or pg_hba.conf may not admit this host; the node recovers by itself once a login works (GET /readyz)`,
    });
  }
  if (code === '3D000') {
    return new DatabaseMissingError(`PostgreSQL has no such database (${detail}): the database cannot be used until that is fixed`, {
      fix: `check the database name in ${URL_SETTING}; if the database was dropped or renamed, create or rename it back and restore it from a backup (pg_restore); the node recovers by itself once it connects (GET /readyz)`,
    });
  }
  const closed = diagnoseClosedConnection(err);
  if (closed) return closed;
  if (isDatabaseUnreachable(err)) {
    return new DatabaseUnreachableError(`the database does not answer (${detail}): retry shortly; GET /readyz says when it is back`, {
      fix: UNREACHABLE_FIX,
    });
  }
  return undefined;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

// 28P01, 28000 and 3D000 are refusals of a new connection by a server that is up: an outage all
// the same for a node (nothing new can be read or written), cured by fixing the URL or the role.
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '28P01', '28000', '3D000']);

/**
 * The database server cannot be reached (down, restarting, connection cut) or cannot take the
 * work now: retrying later is the answer, not a bug. PostgreSQL connection exceptions (class 08),
 * shutdowns (57P0x), insufficient resources (class 53: too many connections at max_connections
 * or a role's limit, out of memory, disk full), a statement or connection that timed out, the
 * socket errors of a refused or dropped connection, and a login or database the server refuses
 * (28P01, 28000, 3D000: see {@link diagnoseDatabaseFailure}).
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  if (err instanceof DatabaseTimeoutError || err instanceof DatabaseLoginRefusedError || err instanceof DatabaseMissingError || err instanceof DatabaseUnreachableError || err instanceof DatabaseConnectionClosedError) return true;
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && (UNREACHABLE_CODES.has(e.code) || /^(08|53)[0-9A-Z]{3}$/.test(e.code))) return true;
  return typeof e.message === 'string' && /^Connection terminated|connection error|timeout exceeded when trying to connect/i.test(e.message);
}

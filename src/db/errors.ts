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

/**
 * PostgreSQL did not answer a statement in time (`POSTGRES_STATEMENT_TIMEOUT_MS`): the server
 * is frozen, cut off by the network, or overloaded. The connection it was sent on is closed.
 */
export class DatabaseTimeoutError extends DatabaseError {
  constructor(timeoutMs: number) {
    super(
      `the database did not answer within ${timeoutMs / 1000} s (down, cut off or overloaded): retry shortly; GET /readyz says when it is back`,
    );
  }
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);

/**
 * The database server cannot be reached (down, restarting, connection cut) or cannot take the
 * work now: retrying later is the answer, not a bug. PostgreSQL connection exceptions (class 08),
 * shutdowns (57P0x), insufficient resources (class 53: too many connections at max_connections
 * or a role's limit, out of memory, disk full), a statement or connection that timed out, and the
 * socket errors of a refused or dropped connection.
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  if (err instanceof DatabaseTimeoutError) return true;
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && (UNREACHABLE_CODES.has(e.code) || /^(08|53)[0-9A-Z]{3}$/.test(e.code))) return true;
  return typeof e.message === 'string' && /^Connection terminated|connection error|timeout exceeded when trying to connect/i.test(e.message);
}

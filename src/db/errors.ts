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

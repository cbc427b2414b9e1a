/** The database module: open, migrate, write. See `database.ts`; schema changes go in `migrations/`. */
export {
  DatabaseError,
  isBusy,
  isUniqueViolation,
  type MigrationResult,
  type OpenDatabaseOptions,
  openDatabase,
  SchemaTooNewError,
  type SesameDatabase,
  type WriteTransactionOptions,
} from './database.js';
export { MIGRATIONS, type Migration, type MigrationContext, type PortableTypes } from './migrations/index.js';
export type * from './tables.js';
export { type DatabaseKind, type DatabaseLocation, parseDatabaseUrl, redactDatabaseUrl } from './url.js';

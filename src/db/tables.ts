/**
 * Row types of every table Sesame keeps, for Kysely's typed queries. A later feature that adds
 * tables (audit trail, tokens, stored store configs, connections) adds its migration under
 * `migrations/` and its row types here.
 *
 * Columns are portable between SQLite and PostgreSQL: timestamps are ISO-8601 UTC text
 * (`Date#toISOString`, which sorts as text), binary is BLOB / BYTEA (a `Buffer` in Node).
 */

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: string;
}

/** Master keys the database has seen, by id. The key material itself is never stored here. */
export interface MasterKeysTable {
  /** `keyIdOf(key)`: 16 hex characters derived from the key. */
  id: string;
  /**
   * `active`: new data keys are wrapped with it (exactly one row). `draining`: was active, a
   * rotation is rewrapping its data keys. `retired`: no data key uses it any more.
   */
  state: 'active' | 'draining' | 'retired';
  created_at: string;
  retired_at: string | null;
}

/** One row per builtin secret (per namespace and name): its metadata and newest version. */
export interface SecretsTable {
  namespace: string;
  name: string;
  latest_version: number;
  description: string | null;
  created_at: string;
  updated_at: string;
  /** Set while the secret is soft-deleted. */
  deleted_at: string | null;
  /** When a soft-deleted secret is gone for good. */
  purge_at: string | null;
}

/** Every version of every builtin secret, encrypted (see `src/builtin/envelope.ts`). */
export interface SecretVersionsTable {
  namespace: string;
  name: string;
  version: number;
  /** Format byte, IV, AES-256-GCM ciphertext and tag of the value under its data key. */
  ciphertext: Buffer;
  /** IV, ciphertext and tag of the data key under the master key `key_id`. */
  wrapped_key: Buffer;
  key_id: string;
  created_at: string;
}

export interface SecretTagsTable {
  namespace: string;
  name: string;
  tag: string;
  value: string;
}

export interface SesameTables {
  schema_migrations: SchemaMigrationsTable;
  master_keys: MasterKeysTable;
  secrets: SecretsTable;
  secret_versions: SecretVersionsTable;
  secret_tags: SecretTagsTable;
}

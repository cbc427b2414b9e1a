/**
 * Row types of every table Sesame keeps, for Kysely's typed queries. A later feature that adds
 * tables (audit trail, tokens, stored store configs, connections) adds its migration under
 * `migrations/` and its row types here.
 *
 * Columns are portable between SQLite and PostgreSQL: timestamps are ISO-8601 UTC text
 * (`Date#toISOString`, which sorts as text), binary is BLOB / BYTEA (a `Buffer` in Node).
 */
import type { Generated } from 'kysely';

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

/** Every version of every builtin secret, encrypted (see `src/encrypted-store/envelope.ts`). */
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

/** API tokens of `sesame serve`; the token itself is never stored, only its sha256. */
export interface ApiTokensTable {
  id: string;
  name: string;
  token_hash: string;
  role: 'admin' | 'operator' | 'runtime' | 'auditor';
  /** Namespace scope: `acme` covers `acme` and `acme.*`; `` covers everything. */
  namespace: string;
  /** 1 when the token may receive secret values outside resolve. */
  reveal: number;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

/** The audit trail: each record carries the hash of the previous one (see `src/audit/`). */
export interface AuditLogTable {
  /** 1, 2, 3… (a bigint: PostgreSQL returns it as a string). */
  seq: number | string;
  at: string;
  actor: string;
  action: string;
  namespace: string;
  target: string;
  outcome: string;
  detail: string | null;
  prev_hash: string;
  hash: string;
  /**
   * A seal of the chain up to this record, on the last record of a commit (SQLite, from
   * migration 7 on); null on the others and on records written before. Optional so that inserts
   * (and rows built by hand) may leave it out; selected rows always have it (null or text).
   */
  seal?: string | null;
}

/** The audit chain's key, sealed with the master key (one row, id 1; see `src/audit/chain.ts`). */
export interface AuditChainTable {
  id: number;
  chain_id: string;
  /** The first record chained with HMAC (a bigint: PostgreSQL returns it as a string). */
  keyed_from: number | string;
  sealed_key: Buffer;
  master_key_id: string;
  created_at: string;
}

/**
 * SQLite only (migration 7), one row, id 1: from record `monotonic_from` on, a record's time is at
 * least the time of the record before it, so time ranges are sequence ranges there (see
 * `src/audit/time-range.ts`); records before it were written in any time order.
 */
export interface AuditTimeOrderTable {
  id: number;
  /** A bigint (returned as a number by better-sqlite3). */
  monotonic_from: number | string;
}

/** Namespaces created through the API. */
export interface ConfigNamespacesTable {
  name: string;
  isolated: number;
  description: string | null;
  created_at: string;
  updated_at: string;
}

/** A store or connection created through the API; its settings or fields are sealed. */
export interface StoredConfigTable {
  namespace: string;
  name: string;
  type: string;
  description: string | null;
  options: string | null;
  revision: number;
  ciphertext: Buffer;
  wrapped_key: Buffer;
  key_id: string;
  created_at: string;
  updated_at: string;
}

/** The change feed of distributed mode (see `src/cluster/changes.ts`): names, never values. */
export interface ChangesTable {
  /** Assigned by the database; a bigint (PostgreSQL returns it as a string). */
  seq: Generated<number | string>;
  kind: string;
  namespace: string;
  target: string;
  origin: string;
  created_at: string;
}

/**
 * An admin UI session (migration 8, see `src/server/sessions.ts`): hashes and a token id, never
 * the cookie, the CSRF token or the bearer token themselves.
 */
export interface AdminSessionsTable {
  /** sha256 (hex) of the session cookie's value. */
  id_hash: string;
  /** `api_tokens.id` of the token the session was opened with. */
  token_id: string;
  /** sha256 (hex) of the session's CSRF token. */
  csrf_hash: string;
  created_at: string;
  /** The last activity recorded (not every request: see `sessions.ts`). */
  last_seen_at: string;
  /** When the session ends unless used again: the earlier of its idle and absolute limits. */
  expires_at: string;
}

export interface SesameTables {
  schema_migrations: SchemaMigrationsTable;
  master_keys: MasterKeysTable;
  secrets: SecretsTable;
  secret_versions: SecretVersionsTable;
  secret_tags: SecretTagsTable;
  api_tokens: ApiTokensTable;
  audit_log: AuditLogTable;
  audit_chain: AuditChainTable;
  audit_time_order: AuditTimeOrderTable;
  config_namespaces: ConfigNamespacesTable;
  config_stores: StoredConfigTable;
  config_connections: StoredConfigTable;
  changes: ChangesTable;
  admin_sessions: AdminSessionsTable;
}

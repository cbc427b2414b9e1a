import type { Kysely } from 'kysely';
import type { DatabaseKind } from '../url.js';

/** Column types that are spelled differently by SQLite and PostgreSQL. */
export interface PortableTypes {
  /** Bytes: `blob` in SQLite, `bytea` in PostgreSQL. */
  binary: 'blob' | 'bytea';
}

export interface MigrationContext {
  kind: DatabaseKind;
  types: PortableTypes;
}

/**
 * One forward-only schema change. It runs inside the migration transaction (both SQLite and
 * PostgreSQL have transactional DDL), so a failure leaves the schema as it was. Never edit a
 * migration that has shipped: add a new one.
 */
export interface Migration {
  /** 1, 2, 3…: its position in `MIGRATIONS`, recorded in `schema_migrations`. */
  version: number;
  /** Short kebab-case description, recorded next to the version. */
  name: string;
  // Migrations see an untyped database: they describe the schema at their own point in
  // history, not the current row types in `tables.ts`.
  up(db: Kysely<unknown>, context: MigrationContext): Promise<void>;
}

export function portableTypes(kind: DatabaseKind): PortableTypes {
  return { binary: kind === 'postgres' ? 'bytea' : 'blob' };
}

/**
 * The change feed of distributed mode (see `src/cluster/`): one row per change that affects what
 * another Sesame process serves (a secret written, a store or connection created through the API,
 * a token revoked, a cache refresh, a master key rotation), committed with the change. Other
 * processes read the rows after the last sequence they applied and drop or reload what each names.
 *
 * Rows carry names and sequence numbers, never values. The sequence is assigned by the database
 * (PostgreSQL: bigserial; SQLite: an AUTOINCREMENT rowid, never reused), under the audit append
 * lock on PostgreSQL, so sequence order is commit order: a reader never skips a row that commits
 * after a higher one it already read.
 */
import type { Migration } from './types.js';

export const changeFeed: Migration = {
  version: 6,
  name: 'change-feed',
  async up(db, { kind }) {
    await db.schema
      .createTable('changes')
      .addColumn('seq', kind === 'postgres' ? 'bigserial' : 'integer', (c) =>
        kind === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      // secret | store | connection | namespace | token | refresh | key
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('namespace', 'text', (c) => c.notNull())
      // The secret, store, connection or namespace name; a token id; a refresh target (JSON).
      .addColumn('target', 'text', (c) => c.notNull())
      // The process that made the change (it applied it already).
      .addColumn('origin', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('changes_by_created_at').on('changes').columns(['created_at']).execute();
  },
};

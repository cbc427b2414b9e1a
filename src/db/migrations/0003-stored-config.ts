/**
 * Namespaces, stores and connections created through the API. Store settings and connection
 * fields are sealed with the builtin envelope encryption (they hold credentials and literals);
 * names, types and namespaces stay in clear so they can be listed and checked for conflicts.
 */
import type { Migration } from './types.js';

export const storedConfig: Migration = {
  version: 3,
  name: 'stored-config',
  async up(db, { types }) {
    await db.schema
      .createTable('config_namespaces')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('isolated', 'integer', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    for (const table of ['config_stores', 'config_connections'] as const) {
      await db.schema
        .createTable(table)
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        // Store cache settings (JSON); null for connections.
        .addColumn('options', 'text')
        // Bumped at every change; part of the sealed blob's authenticated data.
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('ciphertext', types.binary, (c) => c.notNull())
        .addColumn('wrapped_key', types.binary, (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint(`${table}_pk`, ['namespace', 'name'])
        .execute();
    }
  },
};

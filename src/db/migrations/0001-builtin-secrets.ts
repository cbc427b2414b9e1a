/** The builtin encrypted store: master key ids, secrets, their encrypted versions and tags. */
import { sql } from 'kysely';
import type { Migration } from './types.js';

export const builtinSecrets: Migration = {
  version: 1,
  name: 'builtin-secrets',
  async up(db, { types }) {
    await db.schema
      .createTable('master_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('active', 'draining', 'retired')`))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('retired_at', 'text')
      .execute();

    await db.schema
      .createTable('secrets')
      .addColumn('namespace', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('latest_version', 'integer', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('deleted_at', 'text')
      .addColumn('purge_at', 'text')
      .addPrimaryKeyConstraint('secrets_pk', ['namespace', 'name'])
      .execute();
    // Listing pages through names in order, across the namespaces of a chain.
    await db.schema.createIndex('secrets_by_name').on('secrets').columns(['name', 'namespace']).execute();

    await db.schema
      .createTable('secret_versions')
      .addColumn('namespace', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('ciphertext', types.binary, (c) => c.notNull())
      .addColumn('wrapped_key', types.binary, (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      // The primary key is what makes two concurrent writers of one version collide instead of
      // one overwriting the other.
      .addPrimaryKeyConstraint('secret_versions_pk', ['namespace', 'name', 'version'])
      .execute();
    // Key rotation finds the data keys still wrapped by an old master key.
    await db.schema.createIndex('secret_versions_by_key').on('secret_versions').column('key_id').execute();

    await db.schema
      .createTable('secret_tags')
      .addColumn('namespace', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('tag', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('secret_tags_pk', ['namespace', 'name', 'tag'])
      .execute();
    await db.schema.createIndex('secret_tags_by_tag').on('secret_tags').columns(['tag', 'value']).execute();
  },
};

/** API tokens (stored hashed) and the hash-chained audit trail of `sesame serve`. */
import { sql } from 'kysely';
import type { Migration } from './types.js';

export const tokensAndAudit: Migration = {
  version: 2,
  name: 'tokens-and-audit',
  async up(db) {
    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      // sha256 of the token: tokens are 256 random bits, so a fast hash is enough (nothing to
      // brute-force), and lookups by hash keep the check to one indexed read per request.
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'operator', 'runtime', 'auditor')`))
      .addColumn('namespace', 'text', (c) => c.notNull())
      .addColumn('reveal', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('revoked_at', 'text')
      .addColumn('revoked_by', 'text')
      .execute();
    await db.schema.createIndex('api_tokens_by_namespace').on('api_tokens').columns(['namespace', 'id']).execute();

    await db.schema
      .createTable('audit_log')
      // Assigned by the appender (last + 1) inside the serialized append, not by the database:
      // the sequence is part of what each hash covers, so a gap is a broken link.
      .addColumn('seq', 'bigint', (c) => c.primaryKey())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('namespace', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('detail', 'text')
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('audit_log_by_at').on('audit_log').columns(['at', 'seq']).execute();
    await db.schema.createIndex('audit_log_by_actor').on('audit_log').columns(['actor', 'seq']).execute();
    await db.schema.createIndex('audit_log_by_action').on('audit_log').columns(['action', 'seq']).execute();
    await db.schema.createIndex('audit_log_by_namespace').on('audit_log').columns(['namespace', 'seq']).execute();
  },
};

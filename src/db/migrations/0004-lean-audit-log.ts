/**
 * The audit trail takes a record per request, so what each insert costs is paid by every
 * request: keep one index besides the sequence (time), and on SQLite make the sequence the
 * table's own key (an `integer primary key` is the rowid; the `bigint` one of migration 2 was a
 * second B-tree). Filters on actor, action and namespace walk the records in sequence order and
 * stop at a page, as `AuditLog.list()` asks them; the time index serves ranges.
 */
import { sql } from 'kysely';
import type { Migration } from './types.js';

export const leanAuditLog: Migration = {
  version: 4,
  name: 'lean-audit-log',
  async up(db, { kind }) {
    for (const index of ['audit_log_by_actor', 'audit_log_by_action', 'audit_log_by_namespace']) {
      await db.schema.dropIndex(index).execute();
    }
    if (kind !== 'sqlite') return;
    await db.schema.dropIndex('audit_log_by_at').execute();
    await db.schema
      .createTable('audit_log_next')
      .addColumn('seq', 'integer', (c) => c.primaryKey())
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
    await sql`insert into audit_log_next (seq, at, actor, action, namespace, target, outcome, detail, prev_hash, hash)
      select seq, at, actor, action, namespace, target, outcome, detail, prev_hash, hash from audit_log order by seq`.execute(db);
    await db.schema.dropTable('audit_log').execute();
    await db.schema.alterTable('audit_log_next').renameTo('audit_log').execute();
    await db.schema.createIndex('audit_log_by_at').on('audit_log').columns(['at', 'seq']).execute();
  },
};

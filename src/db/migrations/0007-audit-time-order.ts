/**
 * Time ranges of the audit trail without a time index on every record (SQLite), and a column for
 * per-commit seals of the chain (both dialects).
 *
 * Every request commits an audit record, and the `(at, seq)` index made each SQLite commit write
 * about three more WAL frames (7 instead of 4 for a 20-record commit). From this migration on,
 * SQLite writers keep `at` non-decreasing along the chain (each record's time is at least the
 * previous record's), so a time range is a range of sequence numbers, found by a binary search on
 * the rowid (`src/audit/time-range.ts`). Records written before (by earlier versions, in any time
 * order) keep an index: a partial one over `seq < monotonic_from`, which new inserts never touch.
 *
 * `audit_time_order` holds that boundary (one row, id 1): the first record whose time is ordered.
 * PostgreSQL keeps its `audit_log_by_at` index and gets only the seal column.
 */
import { sql } from 'kysely';
import type { Migration } from './types.js';

export const auditTimeOrder: Migration = {
  version: 7,
  name: 'audit-time-order',
  async up(db, { kind }) {
    // Nullable: records written before carry none, and the seal is per commit, not per record.
    await db.schema.alterTable('audit_log').addColumn('seal', 'text').execute();
    if (kind !== 'sqlite') return;
    await db.schema
      .createTable('audit_time_order')
      // Always 1: one chain per database.
      .addColumn('id', 'integer', (c) => c.primaryKey())
      // The first record whose time is at least the time of the record before it (and so on).
      .addColumn('monotonic_from', 'bigint', (c) => c.notNull())
      .execute();
    const next = await sql<{ next: number | bigint }>`select coalesce(max(seq), 0) + 1 as next from audit_log`.execute(db);
    const monotonicFrom = Number(next.rows[0]?.next ?? 1);
    if (!Number.isSafeInteger(monotonicFrom) || monotonicFrom < 1) {
      throw new Error(`audit_log's last sequence number is not an integer: ${String(next.rows[0]?.next)}`);
    }
    await sql`insert into audit_time_order (id, monotonic_from) values (1, ${monotonicFrom})`.execute(db);
    await db.schema.dropIndex('audit_log_by_at').execute();
    if (monotonicFrom > 1) {
      // A literal bound: SQLite uses a partial index only for a query whose WHERE implies the
      // index's, which it decides when the statement is prepared (a bound parameter cannot).
      await sql`create index audit_log_by_at_before on audit_log (at, seq) where seq < ${sql.lit(monotonicFrom)}`.execute(db);
    }
  },
};

/**
 * Migration 7 on PostgreSQL adds only the seal column: the time index stays, there is no
 * `audit_time_order`, and `AuditLog.list({ from, to })` still filters by time (records in any
 * time order are found).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/index.js';
import { planTimeFilter } from '../../src/audit/time-range.js';
import { openDatabase, type SesameDatabase } from '../../src/db/index.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';

let pg: PostgresHandle | undefined;
let db: SesameDatabase | undefined;

beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);

afterAll(async () => {
  await db?.close();
  await pg?.stop();
});

const BASE = Date.parse('2026-03-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

describe('audit time ranges on PostgreSQL (migration 7)', () => {
  it('keeps audit_log_by_at and filters list() by at; adds the seal column only', async () => {
    db = await openDatabase(await (pg as PostgresHandle).createDatabase('sesame_time_range'));
    await db.migrate();
    expect(await db.schemaVersion()).toBe(8);
    const indexes = await sql<{ indexname: string }>`select indexname from pg_indexes where tablename = 'audit_log' and indexname = 'audit_log_by_at'`.execute(db.kysely);
    expect(indexes.rows).toEqual([{ indexname: 'audit_log_by_at' }]);
    const table = await sql<{ present: boolean }>`select to_regclass('audit_time_order') is not null as present`.execute(db.kysely);
    expect(table.rows).toEqual([{ present: false }]);
    const seal = await sql<{ is_nullable: string }>`select is_nullable from information_schema.columns where table_name = 'audit_log' and column_name = 'seal'`.execute(db.kysely);
    expect(seal.rows).toEqual([{ is_nullable: 'YES' }]);

    // Times out of order along the chain: PostgreSQL does not rely on their order.
    const offsets = [5, 1, 9, 3, 3, 7, 0, 8, 2, 6];
    await db.kysely
      .insertInto('audit_log')
      .values(
        offsets.map((s, i) => ({
          seq: i + 1,
          at: iso(BASE + s * 1000),
          actor: 'a0',
          action: 'resolve',
          namespace: 'acme',
          target: `secret://aws/s${i + 1}`,
          outcome: 'ok',
          detail: null,
          prev_hash: 'p'.repeat(64),
          hash: 'h'.repeat(64),
        })),
      )
      .execute();
    expect(await planTimeFilter(db, iso(BASE + 3000), iso(BASE + 8000))).toEqual({ kind: 'plain', from: iso(BASE + 3000), to: iso(BASE + 8000) });
    const audit = new AuditLog(db);
    const page = await audit.list({ from: iso(BASE + 3000), to: iso(BASE + 8000), order: 'asc' });
    const expected = offsets.flatMap((s, i) => (s >= 3 && s < 8 ? [i + 1] : []));
    expect(page.items.map((r) => r.seq)).toEqual(expected);
    expect(expected).toEqual([1, 4, 5, 6, 10]);
    const paged = await audit.list({ from: iso(BASE + 3000), to: iso(BASE + 8000), limit: 2 });
    expect(paged.items.map((r) => r.seq)).toEqual([10, 6]);
    expect((await audit.list({ from: iso(BASE + 3000), to: iso(BASE + 8000), limit: 2, cursor: paged.cursor })).items.map((r) => r.seq)).toEqual([5, 4]);
  });
});

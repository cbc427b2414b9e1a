/**
 * Every table whose rows are sealed with the builtin envelope (`sealValue`): a table is one when
 * it has both a `wrapped_key` and a `key_id` column. Found by looking at the schema rather than
 * from a list, so a feature that stores sealed rows in a table of its own (the server's stored
 * store settings and connections, for instance) is covered by key rotation and key checks
 * without registering anything. Such tables must be ordinary tables (SQLite: with a rowid).
 */
import { type Kysely, sql } from 'kysely';
import type { SesameDatabase } from '../db/index.js';
import type { SesameTables } from '../db/tables.js';

export async function sealedTables(database: SesameDatabase, db: Kysely<SesameTables> = database.kysely): Promise<string[]> {
  const rows =
    database.kind === 'sqlite'
      ? await sql<{ name: string }>`
          select m.name as name from sqlite_master m join pragma_table_info(m.name) p
          where m.type = 'table' and p.name in ('wrapped_key', 'key_id')
          group by m.name having count(*) = 2 order by m.name`.execute(db)
      : await sql<{ name: string }>`
          select table_name as name from information_schema.columns
          where table_schema = current_schema() and column_name in ('wrapped_key', 'key_id')
          group by table_name having count(*) = 2 order by table_name`.execute(db);
  return rows.rows.map((r) => r.name);
}

/** How many sealed rows each master key wraps, over all sealed tables. */
export async function dataKeysByMasterKey(
  database: SesameDatabase,
  db: Kysely<SesameTables> = database.kysely,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const table of await sealedTables(database, db)) {
    const rows = await sql<{ key_id: string; n: number | string }>`
      select key_id, count(*) as n from ${sql.table(table)} group by key_id`.execute(db);
    for (const r of rows.rows) counts.set(r.key_id, (counts.get(r.key_id) ?? 0) + Number(r.n));
  }
  return counts;
}

export interface SealedRow {
  /** SQLite rowid or PostgreSQL ctid: addresses the row within the transaction that read it. */
  rid: string | number;
  wrapped_key: Buffer;
  key_id: string;
}

/** Up to `limit` rows of `table` wrapped by one of `keyIds`, locked for update on PostgreSQL. */
export async function sealedRowsUnder(
  database: SesameDatabase,
  trx: Kysely<SesameTables>,
  table: string,
  keyIds: readonly string[],
  limit: number,
): Promise<SealedRow[]> {
  if (keyIds.length === 0) return [];
  const ids = sql.join(keyIds.map((id) => sql`${id}`));
  const rows =
    database.kind === 'sqlite'
      ? await sql<SealedRow>`
          select rowid as rid, wrapped_key, key_id from ${sql.table(table)}
          where key_id in (${ids}) limit ${limit}`.execute(trx)
      : await sql<SealedRow>`
          select ctid::text as rid, wrapped_key, key_id from ${sql.table(table)}
          where key_id in (${ids}) limit ${limit} for update`.execute(trx);
  return rows.rows;
}

/** Replace one row's wrapped data key, if it is still wrapped by `fromKeyId`. */
export async function replaceWrappedKey(
  database: SesameDatabase,
  trx: Kysely<SesameTables>,
  table: string,
  row: SealedRow,
  wrappedKey: Buffer,
  toKeyId: string,
): Promise<void> {
  const where =
    database.kind === 'sqlite' ? sql`rowid = ${row.rid}` : sql`ctid = ${String(row.rid)}::tid`;
  await sql`update ${sql.table(table)} set wrapped_key = ${wrappedKey}, key_id = ${toKeyId}
    where ${where} and key_id = ${row.key_id}`.execute(trx);
}

/**
 * Time filters of the audit trail (`AuditLog.list({ from, to })`) answered exactly on SQLite
 * without an index on every record's time.
 *
 * Why: every API request commits an audit record, and on SQLite an index on `(at, seq)` made each
 * commit write about three more WAL frames (7 instead of 4 for a 20-record commit), 2–5 µs per
 * request under load. Migration 7 drops it (`src/db/migrations/0007-audit-time-order.ts`).
 *
 * The invariant it relies on: from `monotonic_from` on (table `audit_time_order`, the first record
 * written after migration 7), every SQLite appender writes `at = max(its time, the previous
 * record's at)` inside its write transaction, so `at(seq) >= at(seq - 1)` for every
 * `seq >= monotonic_from`. Records before `monotonic_from` (written by earlier versions, in any
 * time order) keep a partial index, `audit_log_by_at_before` on `(at, seq) where seq <
 * monotonic_from`, which new inserts never touch.
 *
 * Why it is exact: along the ordered records, "at >= t" is false up to some record and true from it
 * on. Let `first(s)` be the first record with `seq >= s` (sequence numbers may have gaps). Then
 * `first(s).at >= t` (or no such record) is false below some `s*` and true from it on, and the
 * ordered records with `at >= t` are exactly those with `seq >= s*`: a record below `s*` is its
 * own `first` and fails, a record at or above `s*` comes after `first(s*)` and so has an `at` at
 * least as large. A binary search over `s` with point lookups on the rowid finds `s*` in about
 * log2(records) lookups. With `lo = s*(from)` and `hi = s*(to)`, the ordered records with
 * `from <= at < to` are those with `lo <= seq < hi`. The older records are filtered by time as
 * before, through their partial index; the query is the union of both parts.
 *
 * PostgreSQL keeps its `audit_log_by_at` index and the plain `at >= from and at < to` filter, as do
 * SQLite databases not migrated to 7 yet (their index is still there).
 */
import { CompiledQuery, type ExpressionBuilder, type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import type { SesameDatabase } from '../db/index.js';
import type { SesameTables } from '../db/tables.js';

/** Records `lo <= seq < hi` (empty when `lo >= hi`); without `hi`, every record from `lo` on. */
export interface SeqRange {
  lo: number;
  hi?: number | undefined;
}

/** How one `list()` call filters by time. */
export type TimeFilter =
  /** `at >= from and at < to` (PostgreSQL; SQLite before migration 7). */
  | { kind: 'plain'; from?: string | undefined; to?: string | undefined }
  /**
   * SQLite from migration 7: the ordered records `range`, and, when `legacy`, the older records
   * (`seq < monotonicFrom`) with `from <= at < to`.
   */
  | { kind: 'ordered'; monotonicFrom: number; range: SeqRange; legacy: boolean; from?: string | undefined; to?: string | undefined };

const FIRST_FROM_SQL = 'select "seq", "at" from "audit_log" where "seq" >= ? order by "seq" limit 1';
const LAST_SQL = 'select "seq" from "audit_log" order by "seq" desc limit 1';

async function firstFrom(db: Kysely<SesameTables>, seq: number): Promise<{ seq: number; at: string } | undefined> {
  const result = await db.executeQuery<{ seq: number | string; at: string }>(CompiledQuery.raw(FIRST_FROM_SQL, [seq]));
  const row = result.rows[0];
  return row ? { seq: Number(row.seq), at: row.at } : undefined;
}

/**
 * The first `s` in `[lo, end]` with `first(s)` absent or at `t` or later, when that holds at `end`
 * and `at` does not decrease from `lo` on (see the module comment).
 */
async function firstAtOrAfter(db: Kysely<SesameTables>, t: string, lo: number, end: number): Promise<number> {
  let hi = end;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const row = await firstFrom(db, mid);
    if (row === undefined || row.at >= t) hi = mid;
    // Every s in [mid, row.seq] has the same first record: none of them is the answer.
    else lo = row.seq + 1;
  }
  return lo;
}

/**
 * SQLite: the records `seq >= monotonicFrom` with `from <= at < to` (ISO-8601 UTC, as stored;
 * either may be absent) are exactly `lo <= seq < hi`. About 2·log2(records) rowid lookups.
 */
export async function orderedSeqRange(
  db: Kysely<SesameTables>,
  monotonicFrom: number,
  from: string | undefined,
  to: string | undefined,
): Promise<SeqRange> {
  const last = (await db.executeQuery<{ seq: number | string }>(CompiledQuery.raw(LAST_SQL))).rows[0];
  const end = last === undefined ? monotonicFrom : Math.max(Number(last.seq) + 1, monotonicFrom);
  const lo = from === undefined ? monotonicFrom : await firstAtOrAfter(db, from, monotonicFrom, end);
  // Open-ended: records committed after the search belong too.
  if (to === undefined) return { lo };
  // Below lo every ordered record is before `from`; with to < from the range is empty anyway.
  if (from !== undefined && to <= from) return { lo, hi: lo };
  return { lo, hi: await firstAtOrAfter(db, to, lo, end) };
}

/**
 * The first record whose time is ordered (`audit_time_order.monotonic_from`), or undefined on a
 * SQLite database not migrated to 7 (it still has its time index).
 */
export async function readMonotonicFrom(db: Kysely<SesameTables>): Promise<number | undefined> {
  let row: { monotonic_from: number | string } | undefined;
  try {
    row = await db.selectFrom('audit_time_order').select('monotonic_from').where('id', '=', 1).executeTakeFirst();
  } catch (err) {
    if (/no such table/i.test((err as Error).message)) return undefined;
    throw err;
  }
  if (row === undefined) return undefined;
  const value = Number(row.monotonic_from);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`audit_time_order.monotonic_from is not a sequence number: ${String(row.monotonic_from)}`);
  }
  return value;
}

/** Whether an older record (`seq < monotonicFrom`) is in `[from, to)`: one seek in the partial index. */
async function legacyMatches(db: Kysely<SesameTables>, monotonicFrom: number, from: string | undefined, to: string | undefined): Promise<boolean> {
  if (monotonicFrom <= 1) return false;
  if (from !== undefined && to !== undefined && to <= from) return false;
  const row = await db
    .selectFrom('audit_log')
    .select('seq')
    .where((eb) => eb.and(legacyTerms(eb, monotonicFrom, from, to)))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** `seq < <literal>` (so SQLite can use the partial index), and the time bounds. */
function legacyTerms(eb: ExpressionBuilder<SesameTables, 'audit_log'>, monotonicFrom: number, from: string | undefined, to: string | undefined) {
  return [
    eb('seq', '<', sql.lit(monotonicFrom)),
    ...(from !== undefined ? [eb('at', '>=', from)] : []),
    ...(to !== undefined ? [eb('at', '<', to)] : []),
  ];
}

/** What `monotonic_from` each database handle has (it never changes once migration 7 ran). */
const monotonicFromOf = new WeakMap<SesameDatabase, number>();

/**
 * How to filter the records of `database` to `from <= at < to` (ISO-8601 UTC strings as stored;
 * either may be absent). On SQLite from migration 7 this reads the table's boundary (once per
 * database handle) and runs the binary search; it sees the records committed when it runs.
 */
export async function planTimeFilter(database: SesameDatabase, from: string | undefined, to: string | undefined): Promise<TimeFilter> {
  if (database.kind !== 'sqlite') return { kind: 'plain', from, to };
  let monotonicFrom = monotonicFromOf.get(database);
  if (monotonicFrom === undefined) {
    // Not cached while absent: the database may be migrated later by another process.
    monotonicFrom = await readMonotonicFrom(database.kysely);
    if (monotonicFrom === undefined) return { kind: 'plain', from, to };
    monotonicFromOf.set(database, monotonicFrom);
  }
  const range = await orderedSeqRange(database.kysely, monotonicFrom, from, to);
  const legacy = await legacyMatches(database.kysely, monotonicFrom, from, to);
  return { kind: 'ordered', monotonicFrom, range, legacy, from, to };
}

/** Add `filter` to a select on `audit_log`. */
export function applyTimeFilter<O>(
  q: SelectQueryBuilder<SesameTables, 'audit_log', O>,
  filter: TimeFilter,
): SelectQueryBuilder<SesameTables, 'audit_log', O> {
  const { from, to } = filter;
  if (filter.kind === 'plain') {
    if (from !== undefined) q = q.where('at', '>=', from);
    if (to !== undefined) q = q.where('at', '<', to);
    return q;
  }
  const { range, legacy, monotonicFrom } = filter;
  const ordered = range.hi === undefined || range.lo < range.hi;
  // Nothing matches: a condition SQLite answers without reading a row.
  if (!ordered && !legacy) return q.where(sql.lit(0), '=', sql.lit(1));
  return q.where((eb) => {
    const orderedPart =
      range.hi === undefined ? eb('seq', '>=', range.lo) : eb.and([eb('seq', '>=', range.lo), eb('seq', '<', range.hi)]);
    if (!legacy) return orderedPart;
    const legacyPart = eb.and(legacyTerms(eb, monotonicFrom, from, to));
    return ordered ? eb.or([orderedPart, legacyPart]) : legacyPart;
  });
}

/**
 * `q` (a select on `audit_log`) restricted to the records with `from <= at < to`, as given to
 * `AuditLog.list()` (any date `new Date()` reads; normalized to ISO-8601 UTC like the stored times).
 *
 * @example
 * q = await filterByTime(database, q, '2026-01-01T00:00:00Z', undefined);
 */
export async function filterByTime<O>(
  database: SesameDatabase,
  q: SelectQueryBuilder<SesameTables, 'audit_log', O>,
  from: string | undefined,
  to: string | undefined,
): Promise<SelectQueryBuilder<SesameTables, 'audit_log', O>> {
  if (from === undefined && to === undefined) return q;
  const iso = (x: string | undefined) => (x === undefined ? undefined : new Date(x).toISOString());
  return applyTimeFilter(q, await planTimeFilter(database, iso(from), iso(to)));
}

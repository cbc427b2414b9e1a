/**
 * The change feed: what one Sesame process changed that the others serving from the same
 * database must apply (distributed mode, docs/deploy.md). A change appends a row to `changes`
 * in the SAME transaction as the change itself, so a committed change always has its row and a
 * rolled-back one never does; on PostgreSQL the transaction also notifies `sesame_changes` with
 * the row's sequence (delivered at commit). Rows and notifications carry names and sequence
 * numbers, never values.
 *
 * Sequence order is commit order: on PostgreSQL the row is inserted under the audit append lock
 * (a transaction lock, held until commit), so a row with a lower sequence can never commit after
 * one with a higher sequence that a reader already saw; SQLite has one writer at a time.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { SesameDatabase } from './database.js';
import type { SesameTables } from './tables.js';

/**
 * The PostgreSQL transaction lock every audit appender takes (`AUDIT_LOCK_ID` in
 * `src/audit/append.ts` is this one). Change rows are inserted under it too: one lock, so no
 * ordering between two locks to get wrong, and audit appends are already serialized by it.
 */
export const APPEND_LOCK_ID = 0x5e5a_a0d1;

export const CHANGE_CHANNEL = 'sesame_changes';

export type ChangeKind = 'secret' | 'store' | 'connection' | 'namespace' | 'token' | 'refresh' | 'key';

export interface Change {
  kind: ChangeKind;
  /** The namespace of the change (the secret's, the store's…; '' for the root). */
  namespace: string;
  /** The secret, store, connection or namespace name, a token id, or a refresh target (JSON). */
  target: string;
}

export interface ChangeRow extends Change {
  seq: number;
  origin: string;
  createdAt: string;
}

const nodeIds = new WeakMap<SesameDatabase, string>();

/**
 * The id this process (one opened database: one Sesame) writes as the origin of its changes.
 * In-process tests with several servers each have their own.
 */
export function nodeIdOf(database: SesameDatabase): string {
  let id = nodeIds.get(database);
  if (id === undefined) {
    id = randomUUID();
    nodeIds.set(database, id);
  }
  return id;
}

/**
 * Append `changes` in the transaction `trx` (which the caller commits), and on PostgreSQL
 * notify the listeners when it commits.
 */
export async function recordChanges(database: SesameDatabase, trx: Kysely<SesameTables>, changes: readonly Change[]): Promise<void> {
  if (changes.length === 0) return;
  if (database.kind === 'postgres') await sql`select pg_advisory_xact_lock(${APPEND_LOCK_ID})`.execute(trx);
  const origin = nodeIdOf(database);
  const at = new Date().toISOString();
  const rows = await trx
    .insertInto('changes')
    .values(changes.map((c) => ({ kind: c.kind, namespace: c.namespace, target: c.target, origin, created_at: at })))
    .returning('seq')
    .execute();
  if (database.kind === 'postgres') {
    const last = rows.reduce((max, r) => Math.max(max, Number(r.seq)), 0);
    await sql`select pg_notify(${CHANGE_CHANNEL}, ${String(last)})`.execute(trx);
  }
}

/** Append `changes` in a transaction of their own (a refresh: nothing else to commit with them). */
export function publishChanges(database: SesameDatabase, changes: readonly Change[]): Promise<void> {
  return database.write((trx) => recordChanges(database, trx, changes));
}

/** The highest sequence in the feed (0 when empty). */
export async function lastChangeSeq(database: SesameDatabase): Promise<number> {
  const row = await database.kysely
    .selectFrom('changes')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .executeTakeFirst();
  return Number(row?.seq ?? 0);
}

/**
 * The last sequence number the feed handed out, pruned rows included (0 when none): the
 * sequence's own position (PostgreSQL's sequence, SQLite's AUTOINCREMENT counter), which pruning
 * leaves alone and only a restore of the database (or a failover that lost commits) moves back.
 */
export async function changeFeedEnd(database: SesameDatabase): Promise<number> {
  const result =
    database.kind === 'postgres'
      ? await sql<{ end: string | number | null }>`select pg_sequence_last_value(pg_get_serial_sequence('changes', 'seq')::regclass) as "end"`.execute(database.kysely)
      : await sql<{ end: string | number | null }>`select seq as "end" from sqlite_sequence where name = 'changes'`.execute(database.kysely);
  return Number(result.rows[0]?.end ?? 0);
}

/** Rows after `after`, in sequence order, at most `limit`. */
export async function changesAfter(database: SesameDatabase, after: number, limit = 1000): Promise<ChangeRow[]> {
  const rows = await database.kysely
    .selectFrom('changes')
    .selectAll()
    .where('seq', '>', after)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    seq: Number(r.seq),
    kind: r.kind as ChangeKind,
    namespace: r.namespace,
    target: r.target,
    origin: r.origin,
    createdAt: r.created_at,
  }));
}

/** Remove rows older than `before` (ISO time): every live node read them long ago. */
export async function pruneChanges(database: SesameDatabase, before: string): Promise<void> {
  await database.kysely.deleteFrom('changes').where('created_at', '<', before).execute();
}

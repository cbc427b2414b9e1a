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
import { lockAppends } from '../audit/append.js';
import type { SesameDatabase } from '../db/index.js';
import type { SesameTables } from '../db/tables.js';
import type { RefreshTarget } from '../sesame.js';

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

/** The refresh target and scope of a `refresh` change, as its `target` column holds them. */
export function refreshChangeTarget(target: RefreshTarget, scope: string): string {
  return JSON.stringify({ ...target, ...(scope !== '' ? { scope } : {}) });
}

export function parseRefreshChange(target: string): { target: RefreshTarget; scope: string } | undefined {
  try {
    const parsed = JSON.parse(target) as Record<string, unknown>;
    const scope = typeof parsed['scope'] === 'string' ? parsed['scope'] : '';
    for (const field of ['reference', 'connection', 'store', 'namespace'] as const) {
      if (typeof parsed[field] === 'string') return { target: { [field]: parsed[field] } as RefreshTarget, scope };
    }
    if (parsed['all'] === true) return { target: { all: true }, scope };
  } catch {
    // Not JSON: not a change this version understands.
  }
  return undefined;
}

/**
 * Append `changes` in the transaction `trx` (which the caller commits), and on PostgreSQL
 * notify the listeners when it commits.
 */
export async function recordChanges(database: SesameDatabase, trx: Kysely<SesameTables>, changes: readonly Change[]): Promise<void> {
  if (changes.length === 0) return;
  await lockAppends(database, trx);
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

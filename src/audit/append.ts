/**
 * Appending records inside a write transaction someone else runs: the audit log's batches on
 * the main connection, and the changes that commit their own record with them (builtin secret
 * writes, deletes and restores, token changes, key rotation) — so a change and its record are
 * committed together or not at all.
 *
 * The head is read inside the transaction, after the append lock: on SQLite the write
 * transaction (`BEGIN IMMEDIATE`) already excludes every other writer, the inline writer's and
 * the writer thread's connections included; on PostgreSQL an advisory transaction lock
 * (`AUDIT_LOCK_ID`, the one every appender takes) serializes appends.
 */
import { CompiledQuery, type Kysely, sql } from 'kysely';
import type { SesameDatabase } from '../db/index.js';
import type { SesameTables } from '../db/tables.js';
import { SesameError } from '../errors.js';
import { sha256Hex } from '../sha256.js';
import type { AuditChain, ChainHead } from './chain.js';
import { chainRecords, recordHash, sealOf } from './hash.js';
import { APPEND_LOCK_ID } from '../db/changes.js';

/** Any fixed number works; it only has to be the same in every Sesame process. */
// The change feed's rows are inserted under the same lock (src/db/changes.ts).
export const AUDIT_LOCK_ID = APPEND_LOCK_ID;
/** The previous hash of the first record. */
export const GENESIS_HASH = '0'.repeat(64);
/** Fields per record in a batch: at, actor, action, namespace, target, outcome, detail (or null). */
export const EVENT_FIELDS = 7;
/** Rows per insert statement (10 parameters each). */
const INSERT_CHUNK = 50;
const MAX_TARGET = 2000;

/** The database's chain is keyed and this process does not hold its key. */
export class AuditKeyRequiredError extends SesameError {
  override readonly code = 'audit_key_required';
}

/** Where a committed batch went: records `firstSeq`… chained after `prevHash`, 64 hex characters of hash each. */
export interface CommittedBatch {
  firstSeq: number;
  prevHash: string;
  hashes: string;
}

/** An event as the caller reports it (the same shape as `AuditEvent` in `index.ts`). */
export interface EventFields {
  actor: string;
  action: string;
  namespace: string;
  target: string;
  outcome: string;
  detail?: string | undefined;
}

export function clipTarget(text: string): string {
  return text.length > MAX_TARGET ? `${text.slice(0, MAX_TARGET - 1)}…` : text;
}

/** The flat fields of events (`EVENT_FIELDS` each), all at `at`. */
export function flatEvents(events: readonly EventFields[], at: string): (string | null)[] {
  const out: (string | null)[] = [];
  for (const e of events) out.push(at, e.actor, e.action, e.namespace, clipTarget(e.target), e.outcome, e.detail ?? null);
  return out;
}

const insertSqls = new Map<string, string>();

/** `insert into audit_log (…) values (…), …` for `rows` rows, in this database's dialect. */
function insertSql(database: SesameDatabase, rows: number): string {
  const key = `${database.kind}:${rows}`;
  let text = insertSqls.get(key);
  if (text === undefined) {
    const row = { seq: 0, at: '', actor: '', action: '', namespace: '', target: '', outcome: '', detail: null, prev_hash: '', hash: '' };
    text = database.kysely.insertInto('audit_log').values(Array.from({ length: rows }, () => row)).compile().sql;
    insertSqls.set(key, text);
  }
  return text;
}

const LAST_RECORD_SQL = 'select "seq", "hash", "at" from "audit_log" order by "seq" desc limit 1';

/** The chain's head: its last record's sequence number, hash and time. */
export async function lastRecord(db: Kysely<SesameTables>): Promise<(ChainHead & { at: string }) | undefined> {
  const result = await db.executeQuery<{ seq: number | string; hash: string; at: string }>(CompiledQuery.raw(LAST_RECORD_SQL));
  const row = result.rows[0];
  return row ? { seq: Number(row.seq), hash: row.hash, at: row.at } : undefined;
}

/** Take the append lock (PostgreSQL; SQLite's write transaction is the lock). */
export async function lockAppends(database: SesameDatabase, trx: Kysely<SesameTables>): Promise<void> {
  if (database.kind === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_ID})`.execute(trx);
}

/** Refuse to extend a keyed chain without its key (an unkeyed record there would break it). */
export async function refuseIfKeyed(database: SesameDatabase, trx: Kysely<SesameTables>): Promise<void> {
  // A database migrated before the keyed chain existed has no such table (and no key). Asked
  // first on PostgreSQL, where a failed statement would abort the transaction.
  if (database.kind === 'postgres') {
    const present = await sql<{ present: boolean }>`select to_regclass('audit_chain') is not null as present`.execute(trx);
    if (!present.rows[0]?.present) return;
  }
  let keyed: { keyed_from: number | string } | undefined;
  try {
    keyed = await trx.selectFrom('audit_chain').select('keyed_from').executeTakeFirst();
  } catch (err) {
    if (database.kind === 'sqlite' && /no such table/i.test((err as Error).message)) return;
    throw err;
  }
  const location = database.location;
  if (keyed) {
    throw new AuditKeyRequiredError(
      `the audit chain of ${location} is keyed from record ${keyed.keyed_from} on: only a process holding the master key ` +
        '(one that opened the builtin store) can append to it',
    );
  }
}

/**
 * Chain and insert `events` (flat, `EVENT_FIELDS` each) in the transaction `trx` after the
 * chain's head, sealed with the chain key when `chain` is given (format 3; else unkeyed, which a
 * keyed chain refuses). On SQLite times never go back along the chain (`chainRecords`): raised
 * times are written back into `events`. The caller commits, then tells the chain with
 * `chain.committed(head)`.
 */
export async function appendInTransaction(
  database: SesameDatabase,
  trx: Kysely<SesameTables>,
  events: (string | null)[],
  chain: AuditChain | undefined,
): Promise<CommittedBatch & { head: ChainHead }> {
  await lockAppends(database, trx);
  if (!chain) await refuseIfKeyed(database, trx);
  const last = await lastRecord(trx);
  // PostgreSQL keeps times as given (see chainRecords).
  const after = { seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH, at: database.kind === 'sqlite' ? (last?.at ?? '') : '' };
  const rows: unknown[][] = [];
  const chained = chainRecords(recordHash, sha256Hex, chain ? 3 : 1, after, events, EVENT_FIELDS, (row) => rows.push(row));
  // Chunked so a full batch stays under the drivers' bound-parameter limits. The statement text
  // is compiled once per chunk size: building a 50-row insert with the query builder cost more
  // than running it.
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK);
    await trx.executeQuery(CompiledQuery.raw(insertSql(database, chunk.length), chunk.flat()));
  }
  if (chain && rows.length > 0) {
    const { seq, hash } = chained.head;
    // The commit's last record seals the chain up to it (format 3).
    await sql`update "audit_log" set "seal" = ${sealOf(chain.mac, seq, hash)} where "seq" = ${seq}`.execute(trx);
  }
  return chained;
}

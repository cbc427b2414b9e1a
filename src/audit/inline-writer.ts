/**
 * Commits audit batches on the server thread through a SQLite connection of its own with
 * `synchronous = NORMAL`: a commit appends to the WAL (the operating system's file cache) and
 * returns without waiting for the disk, so it costs tens of microseconds and is done inside
 * the turn of the event loop that gathered the batch, with no hand-off to another thread.
 * What is committed survives a crash of the process; a power cut can lose what was committed
 * since the last fsync of the WAL, which the writer thread's checkpoints make at least every
 * second (`AuditLog`). Auto-checkpoints are off on this connection: a checkpoint copies pages
 * and fsyncs, and must not stop the event loop.
 *
 * The connection never waits for a lock (busy_timeout 0): the lock may be held by this very
 * thread's main connection in the middle of an awaited transaction, which cannot end while the
 * thread waits. `commit` throws {@link AuditBusyError} then, and the caller tries again later.
 *
 * `onCommit` (optional) hears the WAL-index header before each commit (read holding the write
 * lock: nobody else can commit) and after it (read once the lock is released, so another
 * connection may already have committed again; the header's change counter tells). The token
 * service uses it to keep its cache across the server's own audit commits.
 */
import { WalIndexHeader } from '../db/wal-index.js';
import { sha256Hex } from '../sha256.js';
import type { CommittedBatch } from './append.js';
import { hmacHex } from './chain.js';
import { chainRecords, recordHash, sealOf } from './hash.js';

/** The write lock is held by another connection: nothing was written, try again later. */
export class AuditBusyError extends Error {
  constructor(readonly code: string) {
    super('the database is locked by another writer');
    this.name = 'AuditBusyError';
  }
}

/** The WAL-index header inside a commit's transaction and after it (see the module notes). */
export type CommitListener = (before: Buffer, after: Buffer) => void;

/** Rows per insert statement at most (10 parameters each, far below SQLite's limit). */
const MAX_ROWS = 32;
const COLUMNS = 10;

interface Statement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
}

/** Whether the chain is keyed; a schema from before keyed chains has no such table (and no key). */
function keyedStatement(db: { prepare(text: string): Statement }): Statement {
  try {
    return db.prepare('select "keyed_from" from "audit_chain" limit 1');
  } catch {
    return { run: () => undefined, get: () => undefined };
  }
}

export class InlineAuditWriter {
  private constructor(
    private readonly db: { close(): void; pragma(text: string): unknown; readonly inTransaction: boolean },
    private readonly statements: { begin: Statement; commit: Statement; rollback: Statement; head: Statement; keyed: Statement; seal: Statement },
    /** `insert into audit_log … values (…), (…)…` for 1, 2, 4 … MAX_ROWS rows. */
    private readonly inserts: ReadonlyMap<number, Statement>,
    private readonly genesis: string,
    private readonly fields: number,
    /** HMAC with the chain key, which seals each commit (format 3), or undefined: an unkeyed chain (format 1). */
    private readonly mac: ((text: string) => string) | undefined,
    private readonly watch: { header: WalIndexHeader; before: Buffer; after: Buffer; listener: CommitListener } | undefined,
  ) {}

  /** `recordKey`: the chain's record key (`AuditChain.recordKey`); without it the chain must be unkeyed. */
  static async open(
    file: string,
    genesis: string,
    fields: number,
    recordKey?: Buffer | undefined,
    onCommit?: CommitListener | undefined,
  ): Promise<InlineAuditWriter> {
    const { default: BetterSqlite3 } = await import('better-sqlite3');
    const db = new BetterSqlite3(file, { fileMustExist: true });
    try {
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 0');
      db.pragma('wal_autocheckpoint = 0');
      const statements = {
        begin: db.prepare('begin immediate'),
        commit: db.prepare('commit'),
        rollback: db.prepare('rollback'),
        head: db.prepare('select "seq", "hash", "at" from "audit_log" order by "seq" desc limit 1'),
        keyed: keyedStatement(db),
        seal: db.prepare('update "audit_log" set "seal" = ? where "seq" = ?'),
      };
      const inserts = new Map<number, Statement>();
      for (let rows = 1; rows <= MAX_ROWS; rows *= 2) {
        inserts.set(
          rows,
          db.prepare(
            'insert into "audit_log" ("seq", "at", "actor", "action", "namespace", "target", "outcome", "detail", "prev_hash", "hash") values ' +
              Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', '),
          ),
        );
      }
      // The connection has read the database (the prepared statements did): its -shm is in place.
      const header = onCommit ? WalIndexHeader.open(file) : undefined;
      const watch = header && onCommit && { header, before: WalIndexHeader.buffer(), after: WalIndexHeader.buffer(), listener: onCommit };
      return new InlineAuditWriter(db, statements, inserts, genesis, fields, recordKey ? hmacHex(recordKey) : undefined, watch);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Chain and insert the batches, in order, in one transaction; one result per batch. */
  commit(batches: readonly (string | null)[][]): CommittedBatch[] {
    const { begin, commit, rollback, head, seal } = this.statements;
    try {
      begin.run();
    } catch (err) {
      const code = String((err as { code?: unknown }).code);
      if (code.startsWith('SQLITE_BUSY')) throw new AuditBusyError(code);
      throw err;
    }
    // Holding the write lock: nobody else can commit until this transaction ends.
    const watched = this.watch?.header.read(this.watch.before) === true;
    try {
      // Without the key, a keyed chain is refused (an unkeyed record would break it).
      if (this.mac === undefined && this.statements.keyed.get() !== undefined) {
        throw new Error('the audit chain is keyed: only a process holding the master key can append to it');
      }
      const last = head.get() as { seq: number | bigint; hash: string; at: string } | undefined;
      let after = last ? { seq: Number(last.seq), hash: last.hash, at: last.at } : { seq: 0, hash: this.genesis, at: '' };
      const start = after.seq;
      // Rows go in by multi-row statements (one call into SQLite per up to MAX_ROWS rows
      // instead of one per row): a batch of 25 is 16 + 8 + 1.
      const pending: unknown[] = [];
      let rows = 0;
      const insertRow = (row: unknown[]) => {
        for (const value of row) pending.push(value);
        rows += 1;
        if (rows === MAX_ROWS) {
          this.#insert(pending, rows);
          pending.length = 0;
          rows = 0;
        }
      };
      const results: CommittedBatch[] = [];
      for (const events of batches) {
        const chained = chainRecords(recordHash, sha256Hex, this.mac ? 3 : 1, after, events, this.fields, insertRow);
        results.push({ firstSeq: chained.firstSeq, prevHash: chained.prevHash, hashes: chained.hashes });
        after = chained.head;
      }
      let offset = 0;
      for (let size = MAX_ROWS; size >= 1; size /= 2) {
        if (rows - offset / COLUMNS >= size) {
          this.#insert(pending.slice(offset, offset + size * COLUMNS), size);
          offset += size * COLUMNS;
        }
      }
      // The commit's last record seals the chain up to it (format 3).
      if (this.mac && after.seq > start) seal.run(sealOf(this.mac, after.seq, after.hash), after.seq);
      commit.run();
      const watch = this.watch;
      if (watched && watch?.header.read(watch.after)) watch.listener(watch.before, watch.after);
      return results;
    } catch (err) {
      if (this.db.inTransaction) rollback.run();
      throw err;
    }
  }

  #insert(values: readonly unknown[], rows: number): void {
    (this.inserts.get(rows) as Statement).run(values);
  }

  /** Checkpoint the WAL now (fsyncs it): for shutdown, where stopping the event loop briefly does not matter. */
  checkpoint(): void {
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Locked by another connection: its own commits and checkpoints take care of the file.
    }
  }

  close(): void {
    this.watch?.header.close();
    this.db.close();
  }
}

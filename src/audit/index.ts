/**
 * The audit trail: one record per resolve, read, write, delete, refresh, store change and token
 * change, in the database, with who did it, to what (a reference or a name, never a value) and
 * how it ended. What it proves and what it does not: docs/audit.md.
 *
 * Tamper evidence: every record carries the hash of the one before it, and its own hash is a
 * sha256 over a canonical encoding of its fields and that previous hash (`hash.ts`); the last
 * record of every commit is sealed with HMAC-SHA256 under a key sealed by the master key
 * (`chain.ts`), so nobody with database access alone can recompute a chain that verifies;
 * records written before the chain was keyed keep their unsealed sha256 links. Editing,
 * removing or reordering a record breaks the chain at that record or at the next seal, and
 * `verify()` names the first broken link. Records cut off the END are detected against the head
 * checkpointed outside the database (`chain.ts`), and against the newest head this process
 * committed.
 *
 * Appends are serialized: each batch is one write transaction that reads the last record and
 * chains after it (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an advisory transaction lock), so
 * several processes on one database extend a single chain. Within a process, appends that
 * arrive while a batch is being written are grouped into the next one (group commit), so a busy
 * server pays one transaction per batch, not per record. `append()` resolves only once its
 * batch is committed (through the main connection: synchronous=FULL, fsynced). Changes kept in
 * Sesame's database commit their record in their own transaction instead (`append.ts`).
 *
 * A server's log commits SQLite batches through a connection of its own (`writer` option): on
 * the server thread with synchronous=NORMAL and a checkpoint at least every second
 * (`inline-writer.ts`, the default of `sesame serve`), or on a worker thread that fsyncs every
 * commit (`writer-thread.ts`, `server.auditSync: full`). Either way the same transaction, and
 * the records are chained by `chainRecords` (`hash.ts`).
 */
import { type Selectable, sql } from 'kysely';
import type { SesameDatabase } from '../db/index.js';
import type { AuditLogTable } from '../db/tables.js';
import { sha256Hex } from '../sha256.js';
import {
  AuditKeyRequiredError,
  appendInTransaction,
  type CommittedBatch,
  clipTarget,
  EVENT_FIELDS,
  GENESIS_HASH,
} from './append.js';
import { type AuditChain, auditChainOf, type ChainHead } from './chain.js';
import { recordHash, sealOf } from './hash.js';
import { AuditBusyError, type CommitListener, InlineAuditWriter } from './inline-writer.js';
import { filterByTime } from './time-range.js';
import { AuditWriterThread } from './writer-thread.js';

export { AUDIT_LOCK_ID, AuditKeyRequiredError, appendInTransaction, GENESIS_HASH } from './append.js';
export { withAuditEvent } from './ambient.js';
export { AuditChain, auditChainOf, registerAuditChain, unregisterAuditChain } from './chain.js';

export type AuditOutcome = 'ok' | 'denied' | 'error';

/** What happened, as the caller reports it. */
export interface AuditEvent {
  /** Token id, `agent`, `cli`, `bootstrap`… */
  actor: string;
  /** `resolve`, `secret.write`, `store.create`, `token.revoke`… */
  action: string;
  namespace: string;
  /** A reference, a name, or a short description of the target; never a value. */
  target: string;
  outcome: AuditOutcome;
  /** Error code when the outcome is not ok. */
  detail?: string | undefined;
  /**
   * When it happened (ISO-8601), for records committed after the fact (a node's local spool,
   * `spool.ts`); default: the time of the append.
   */
  at?: string | undefined;
}

export interface AuditRecord extends AuditEvent {
  seq: number;
  /** ISO-8601 UTC. */
  at: string;
  prevHash: string;
  hash: string;
}

export interface AuditQuery {
  /** Records at or after this time (ISO-8601). */
  from?: string | undefined;
  /** Records before this time (ISO-8601). */
  to?: string | undefined;
  actor?: string | undefined;
  /** An action, or a prefix ending in `.` (e.g. `secret.`). */
  action?: string | undefined;
  /** This namespace and its children. */
  namespace?: string | undefined;
  outcome?: AuditOutcome | undefined;
  limit?: number | undefined;
  /** Opaque cursor from a previous page. */
  cursor?: string | undefined;
  /** `desc` (newest first, default) or `asc`. */
  order?: 'asc' | 'desc' | undefined;
}

export interface AuditPage {
  items: AuditRecord[];
  cursor?: string | undefined;
}

export interface BrokenLink {
  /** The first record that does not verify (for `truncated`: the record the checkpoint names). */
  seq: number;
  /**
   * `altered`: its MAC does not match its content; `chain`: it does not follow the record
   * before it; `gap`: records before it are missing; `truncated`: records the checkpoint (or
   * this process) saw committed are missing or different; `checkpoint`: the checkpoint file is
   * not this chain's authentic checkpoint.
   */
  reason: 'altered' | 'chain' | 'gap' | 'truncated' | 'checkpoint';
  message: string;
}

export interface CheckpointStatus {
  /** Where the checkpoint is kept (absent: nowhere, see docs/audit.md). */
  file?: string | undefined;
  /** `matched`: the database holds the record it names, unchanged; `missing`: no file there yet; `none`: no place for one. */
  state: 'matched' | 'missing' | 'none';
  seq?: number | undefined;
  /** When it was written. */
  at?: string | undefined;
}

export interface VerifyResult {
  ok: boolean;
  /** Records checked. */
  records: number;
  /** The last record. */
  head?: { seq: number; hash: string } | undefined;
  firstBroken?: BrokenLink | undefined;
  /** Keyed chains: the first record of the keyed chain (sealed or HMAC'd; those before it are plain sha256). */
  keyedFrom?: number | undefined;
  /** Keyed chains: the head checkpointed outside the database, compared with the database's. */
  checkpoint?: CheckpointStatus | undefined;
}

/** Records per transaction, at most. */
const MAX_BATCH = 500;
/** How long a batch waits for other writers to release the database (as `SesameDatabase.write`). */
const BUSY_TIMEOUT_MS = 15_000;

/** The hash of an unkeyed (format 1, sha256) record (see `hash.ts`). */
export function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  return hashRecordWith(sha256Hex, 1, record);
}

function hashRecordWith(hashText: (text: string) => string, format: number, record: Omit<AuditRecord, 'hash'>): string {
  return recordHash(
    hashText,
    format,
    record.seq,
    record.at,
    record.actor,
    record.action,
    record.namespace,
    record.target,
    record.outcome,
    record.detail ?? null,
    record.prevHash,
  );
}

function toRecord(row: Selectable<AuditLogTable>): AuditRecord {
  return {
    seq: Number(row.seq),
    at: row.at,
    actor: row.actor,
    action: row.action,
    namespace: row.namespace,
    target: row.target,
    outcome: row.outcome as AuditOutcome,
    detail: row.detail ?? undefined,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * Records waiting for one transaction, their fields flat (`EVENT_FIELDS` per record, as the
 * writer thread takes them), and the promise every one of their appenders waits on.
 */
interface Batch {
  readonly events: (string | null)[];
  readonly done: Promise<CommittedBatch>;
  resolve(committed: CommittedBatch): void;
  reject(err: unknown): void;
}

function newBatch(): Batch {
  let resolve!: (committed: CommittedBatch) => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<CommittedBatch>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { events: [], done, resolve, reject };
}

/** Record `index` of a committed batch. */
function recordOf(batch: Batch, committed: CommittedBatch, index: number): AuditRecord {
  const e = batch.events;
  const i = index * EVENT_FIELDS;
  return {
    seq: committed.firstSeq + index,
    at: e[i] as string,
    actor: e[i + 1] as string,
    action: e[i + 2] as string,
    namespace: e[i + 3] as string,
    target: e[i + 4] as string,
    outcome: e[i + 5] as AuditOutcome,
    detail: e[i + 6] ?? undefined,
    prevHash: index === 0 ? committed.prevHash : committed.hashes.slice((index - 1) * 64, index * 64),
    hash: committed.hashes.slice(index * 64, (index + 1) * 64),
  };
}

export interface AuditLogOptions {
  /**
   * How a long-running server commits to a SQLite file (other databases, and `:memory:`, use
   * the main connection whatever this says):
   *
   * - `inline`: a connection of its own on this thread with `synchronous = NORMAL`
   *   (`inline-writer.ts`). An append resolves once its batch is committed to the WAL: a crash
   *   of the process loses nothing, a power cut can lose the last second or so (the WAL is
   *   fsynced by a checkpoint on the writer thread at least every second while records come).
   *   The cheapest per request, and what `sesame serve` uses unless `server.auditSync` is `full`.
   * - `thread`: a worker thread with a connection of its own commits each batch with
   *   `synchronous = FULL` (`writer-thread.ts`): an append resolves once its record is fsynced,
   *   and the fsync does not stop the event loop.
   *
   * Default: neither; every batch goes through the main connection (one-off appends from the
   * CLI need nothing more). Both fall back to the main connection if they cannot start.
   */
  writer?: 'inline' | 'thread' | undefined;
  /** How long a batch waits for other writers to release the database before it fails (default 15 s). */
  busyTimeoutMs?: number | undefined;
  /**
   * With `writer: 'inline'`: told the WAL-index header before and after each inline commit
   * (`inline-writer.ts`), so a cache that watches the header can tell this process's audit
   * commits from everyone else's (the server wires the token service's `noteOwnCommit`).
   */
  onInlineCommit?: CommitListener | undefined;
}

/** How often, at most, the WAL is checkpointed (fsynced) while inline commits come. */
const CHECKPOINT_EVERY_MS = 1000;

export class AuditLog {
  /** Batches not handed to the database yet, oldest first; new records join the last one. */
  readonly #waiting: Batch[] = [];
  /** Batches handed over and not committed yet. */
  #inFlight = 0;
  #scheduled = false;
  #idle: Array<() => void> = [];
  #batches = 0;
  #records = 0;
  #lastMs = Number.NaN;
  #lastAt = '';

  #inline: Promise<InlineAuditWriter | undefined> | undefined;
  #inlineNow: InlineAuditWriter | undefined;
  /** When inline commits started finding the database locked (they retry for busyTimeoutMs). */
  #busySince: number | undefined;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #thread: Promise<AuditWriterThread | undefined> | undefined;
  /** The writer thread once started: batches are then handed over without waiting for the last commit. */
  #threadNow: AuditWriterThread | undefined;
  #threadStarted = false;
  #closed = false;

  constructor(
    private readonly database: SesameDatabase,
    private readonly now: () => number = () => Date.now(),
    private readonly options: AuditLogOptions = {},
  ) {
    this.#busyTimeoutMs = options.busyTimeoutMs ?? BUSY_TIMEOUT_MS;
  }

  readonly #busyTimeoutMs: number;

  /**
   * Append a record; resolves with it once it is committed. Records appended close together
   * are committed in one transaction.
   *
   * @example
   * await audit.append({ actor: 'tok_1', action: 'resolve', namespace: 'acme', target: 'secret://aws/jira', outcome: 'ok' });
   */
  append(event: AuditEvent): Promise<AuditRecord> {
    const batch = this.#enqueue(event);
    const index = batch.events.length / EVENT_FIELDS - 1;
    return batch.done.then((committed) => recordOf(batch, committed, index));
  }

  /**
   * Append a record and resolve once it is committed, without building the record: what a
   * server does for every request. Every record of a batch shares one promise.
   */
  commit(event: AuditEvent): Promise<unknown> {
    return this.#enqueue(event).done;
  }

  /** ISO-8601 time of an append, formatted once per millisecond. */
  #at(): string {
    const ms = this.now();
    if (ms !== this.#lastMs) {
      this.#lastMs = ms;
      this.#lastAt = new Date(ms).toISOString();
    }
    return this.#lastAt;
  }

  #enqueue(event: AuditEvent): Batch {
    let batch = this.#waiting[this.#waiting.length - 1];
    if (batch === undefined || batch.events.length >= MAX_BATCH * EVENT_FIELDS) {
      batch = newBatch();
      this.#waiting.push(batch);
    }
    batch.events.push(
      event.at ?? this.#at(),
      event.actor,
      event.action,
      event.namespace,
      clipTarget(event.target),
      event.outcome,
      event.detail ?? null,
    );
    this.#schedule();
    return batch;
  }

  /**
   * Hand the waiting batch over once the current turn of the event loop is over, so every
   * request handled in this turn joins it: a batch started at once would hold the first record
   * alone while the others wait for the next commit.
   */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  /**
   * Group commit. On the main connection, one batch at a time: appends made while a batch is
   * being committed wait for it to end and form the next batch, so batches grow with the load.
   * To the writer thread, every batch at once: the thread commits the batches that queued up
   * while it was committing in its next transaction (see `writer-thread.ts`).
   */
  #pump(): void {
    if (this.#inlineNow !== undefined && !this.#closed) {
      this.#pumpInline(this.#inlineNow);
      return;
    }
    this.#startInline();
    while (this.#waiting.length > 0) {
      const thread =
        this.options.writer === 'thread' && this.#threadNow !== undefined && !this.#threadNow.failed && !this.#closed
          ? this.#threadNow
          : undefined;
      if (thread === undefined && this.#inFlight > 0) return;
      const batch = this.#waiting.shift() as Batch;
      this.#inFlight++;
      const written = thread ? thread.commit(batch.events, this.#busyTimeoutMs) : this.#write(batch.events);
      written
        .then(
          (committed) => {
            this.#batches++;
            this.#records += batch.events.length / EVENT_FIELDS;
            this.#noteCommitted(committed);
            batch.resolve(committed);
          },
          (err: unknown) => batch.reject(err),
        )
        .finally(() => {
          this.#inFlight--;
          if (this.#waiting.length > 0) this.#schedule();
          else if (this.#inFlight === 0) for (const done of this.#idle.splice(0)) done();
        });
    }
  }

  /** Open the inline connection in the background (SQLite files, `writer: 'inline'`); batches use the main connection meanwhile. */
  #startInline(): void {
    if (this.#inline || this.options.writer !== 'inline' || this.#closed || this.database.kind !== 'sqlite') return;
    const file = this.database.location.slice('sqlite:'.length);
    if (file === ':memory:') return;
    this.#inline = InlineAuditWriter.open(file, GENESIS_HASH, EVENT_FIELDS, this.#chain()?.recordKey, this.options.onInlineCommit).then(
      (writer) => {
        if (this.#closed) {
          writer.close();
          return undefined;
        }
        this.#inlineNow = writer;
        return writer;
      },
      () => undefined,
    );
  }

  /** Commit every waiting batch now, in one transaction on the inline connection. */
  #pumpInline(writer: InlineAuditWriter): void {
    // Batches still going through the main connection commit first.
    if (this.#inFlight > 0) return;
    const batches = this.#waiting.splice(0);
    if (batches.length === 0) return;
    let results: CommittedBatch[];
    try {
      results = writer.commit(batches.map((b) => b.events));
      this.#busySince = undefined;
    } catch (err) {
      if (err instanceof AuditBusyError) {
        this.#busySince ??= Date.now();
        const since = this.#busySince;
        if (Date.now() - since < this.#busyTimeoutMs) {
          // Another writer holds the lock (possibly this thread's main connection, between two
          // awaits): try again shortly, with whatever joined the batches meanwhile.
          this.#waiting.unshift(...batches);
          setTimeout(() => this.#pump(), 2);
          return;
        }
      }
      this.#busySince = undefined;
      for (const b of batches) b.reject(err);
      if (this.#waiting.length === 0) for (const done of this.#idle.splice(0)) done();
      return;
    }
    batches.forEach((b, i) => {
      this.#batches++;
      this.#records += b.events.length / EVENT_FIELDS;
      b.resolve(results[i] as CommittedBatch);
    });
    const last = results[results.length - 1];
    if (last) this.#noteCommitted(last);
    this.#checkpointSoon();
    if (this.#waiting.length === 0) for (const done of this.#idle.splice(0)) done();
  }

  /** Have the writer thread checkpoint the WAL within CHECKPOINT_EVERY_MS (once per interval, however many commits). */
  #checkpointSoon(): void {
    if (this.#checkpointTimer !== undefined) return;
    this.#checkpointTimer = setTimeout(() => {
      this.#checkpointTimer = undefined;
      void this.#writerThread().then((thread) => thread?.checkpoint());
    }, CHECKPOINT_EVERY_MS);
    this.#checkpointTimer.unref();
  }

  /**
   * Transactions committed by this log and the records they held (batch size = records ÷
   * batches); `thread`: a writer thread was started for it.
   */
  stats(): { batches: number; records: number; thread: boolean } {
    return { batches: this.#batches, records: this.#records, thread: this.#threadStarted };
  }

  /** Resolves when every append made so far is committed (or failed). */
  flush(): Promise<void> {
    if (this.#inFlight === 0 && !this.#scheduled && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Commit pending appends, then stop the writer thread, if one was started. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    clearTimeout(this.#checkpointTimer);
    this.#checkpointTimer = undefined;
    const inline = await this.#inline;
    this.#inlineNow = undefined;
    if (inline) {
      // What the inline connection committed goes to disk before the process may stop.
      inline.checkpoint();
      inline.close();
    }
    const thread = await this.#thread;
    await thread?.close();
    await this.#chain()?.flush();
  }

  /** The writer thread, started on first use; undefined when there is none (or it failed to start). */
  #writerThread(): Promise<AuditWriterThread | undefined> {
    if (this.#thread) return this.#thread;
    const file = this.database.kind === 'sqlite' ? this.database.location.slice('sqlite:'.length) : ':memory:';
    if (this.options.writer === undefined || this.#closed || file === ':memory:') return Promise.resolve(undefined);
    this.#thread = AuditWriterThread.start(file, GENESIS_HASH, this.#chain()?.recordKey).then(
      (thread) => {
        this.#threadStarted = true;
        this.#threadNow = thread;
        return thread;
      },
      () => undefined,
    );
    return this.#thread;
  }

  async #write(events: (string | null)[]): Promise<CommittedBatch> {
    const thread = this.#closed || this.options.writer !== 'thread' ? undefined : await this.#writerThread();
    // A thread that stopped takes no more batches; one that stops during a batch fails that
    // batch (it may or may not have been committed: writing it again could record it twice).
    if (thread && !thread.failed) return thread.commit(events, this.#busyTimeoutMs);
    return this.#writeOnMain(events);
  }

  /** The same transaction as the writer thread's, on the main connection (PostgreSQL, `:memory:`, no thread). */
  #writeOnMain(events: (string | null)[]): Promise<CommittedBatch> {
    const chain = this.#chain();
    return this.database.write(
      async (trx) => {
        const { firstSeq, prevHash, hashes } = await appendInTransaction(this.database, trx, events, chain);
        return { firstSeq, prevHash, hashes };
      },
      { retryOnConflict: true, busyTimeoutMs: this.#busyTimeoutMs },
    );
  }

  /** The chain keys of this database, when this process opened its builtin backend (else the chain is unkeyed). */
  #chain(): AuditChain | undefined {
    return auditChainOf(this.database);
  }

  /** Tell the chain a batch was committed: its head goes to the checkpoint within a second. */
  #noteCommitted(committed: CommittedBatch): void {
    const chain = this.#chain();
    if (!chain || committed.hashes.length === 0) return;
    const count = committed.hashes.length / 64;
    chain.committed({ seq: committed.firstSeq + count - 1, hash: committed.hashes.slice(-64) });
  }

  /** Records matching the filters, newest first unless `order: 'asc'`, in pages. */
  async list(query: AuditQuery = {}): Promise<AuditPage> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    const order = query.order ?? 'desc';
    let q = this.database.kysely.selectFrom('audit_log').selectAll().orderBy('seq', order).limit(limit + 1);
    if (query.cursor !== undefined) {
      const after = Number(query.cursor);
      if (Number.isInteger(after)) q = q.where('seq', order === 'desc' ? '<' : '>', after);
    }
    q = await filterByTime(this.database, q, query.from, query.to);
    if (query.actor !== undefined) q = q.where('actor', '=', query.actor);
    if (query.outcome !== undefined) q = q.where('outcome', '=', query.outcome);
    if (query.action !== undefined) {
      const action = query.action;
      q = action.endsWith('.')
        ? q.where(sql<string>`substr(action, 1, ${action.length})`, '=', action)
        : q.where('action', '=', action);
    }
    if (query.namespace !== undefined && query.namespace !== '') {
      const ns = query.namespace;
      const prefix = `${ns}.`;
      q = q.where((eb) =>
        eb.or([eb('namespace', '=', ns), eb(sql<string>`substr(namespace, 1, ${prefix.length})`, '=', prefix)]),
      );
    }
    const rows = await q.execute();
    const items = rows.slice(0, limit).map(toRecord);
    const last = items[items.length - 1];
    return { items, ...(rows.length > limit && last ? { cursor: String(last.seq) } : {}) };
  }

  /**
   * Walk the whole chain in order and report the first record that does not verify: its MAC
   * does not match its content (`altered`), its previous hash does not match the record before
   * it (`chain`: a record before it was altered with a recomputed hash, removed or reordered), or
   * its sequence number skips (`gap`: records were removed). Then compare the end of the chain
   * with the checkpoint kept outside the database and with the newest head this process
   * committed: records missing or different there are `truncated`.
   *
   * Records from the chain's `keyedFrom` on are keyed with the chain key (`hash.ts`): each an
   * HMAC (format 2), or sha256 sealed by the HMAC on the last record of its commit (format 3). A
   * seal, like a format 2 record, authenticates the chain up to it; format 3 records no seal
   * follows were written or changed without the key, and a seal that does not match was forged
   * (`altered` both). Verifying them needs the process to hold the key (it opened the builtin
   * backend with the master key).
   */
  async verify(options: { pageSize?: number } = {}): Promise<VerifyResult> {
    const pageSize = options.pageSize ?? 1000;
    const chain = this.#chain();
    const keyedFrom = chain ? chain.keyedFrom : await this.#keyedFromInDatabase();
    // Read before the walk: what they name was committed before it started.
    const checkpoint = chain ? await chain.readCheckpoint() : undefined;
    const known = chain && chain.latest.seq > 0 ? chain.latest : undefined;
    const watched = new Set<number>();
    if (checkpoint?.state === 'ok') watched.add(checkpoint.checkpoint.seq);
    if (known) watched.add(known.seq);
    const seen = new Map<number, string>();
    let expectedSeq = 1;
    let prevHash = GENESIS_HASH;
    let records = 0;
    let head: VerifyResult['head'];
    const extra = chain ? { keyedFrom } : {};
    /** The first format 3 record no seal has covered yet. */
    let unsealedFrom: number | undefined;
    for (;;) {
      const rows = await this.database.kysely
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '>=', expectedSeq)
        .orderBy('seq', 'asc')
        .limit(pageSize)
        .execute();
      for (const row of rows) {
        const record = toRecord(row);
        records++;
        const keyed = keyedFrom !== undefined && record.seq >= keyedFrom;
        if (keyed && !chain) {
          throw new AuditKeyRequiredError(
            `records from ${keyedFrom} on are sealed with the audit chain's key: verify them from a process holding the master key`,
          );
        }
        let expected = hashRecordWith(sha256Hex, keyed ? 3 : 1, record);
        let sealed = false;
        if (keyed && expected !== record.hash) {
          // Not format 3: an HMAC per record (format 2), which authenticates the chain up to it.
          expected = hashRecordWith((chain as AuditChain).mac, 2, record);
          sealed = true;
        } else if (keyed) {
          unsealedFrom ??= record.seq;
        }
        const broken = checkLink(record, expectedSeq, prevHash, expected) ?? (keyed ? checkSeal(row.seal, record, chain as AuditChain) : undefined);
        if (broken) return { ok: false, records, head, firstBroken: broken, ...extra };
        if (sealed || (keyed && row.seal != null)) unsealedFrom = undefined;
        if (watched.has(record.seq)) seen.set(record.seq, record.hash);
        head = { seq: record.seq, hash: record.hash };
        prevHash = record.hash;
        expectedSeq = record.seq + 1;
      }
      if (rows.length < pageSize) break;
    }
    if (!chain) return { ok: true, records, head };
    const file = chain.checkpointFile;
    let status: CheckpointStatus = file === undefined ? { state: 'none' } : { file, state: 'missing' };
    if (checkpoint?.state === 'invalid') {
      return { ok: false, records, head, keyedFrom, checkpoint: status, firstBroken: { seq: head?.seq ?? 0, reason: 'checkpoint', message: checkpoint.reason } };
    }
    if (checkpoint?.state === 'ok') {
      const cp = checkpoint.checkpoint;
      status = { file, state: 'matched', seq: cp.seq, at: cp.at };
      const broken = truncation(cp, seen.get(cp.seq), head, `the checkpoint ${file} (written ${cp.at})`);
      if (broken) return { ok: false, records, head, keyedFrom, checkpoint: status, firstBroken: broken };
    }
    if (known) {
      const broken = truncation(known, seen.get(known.seq), head, 'this process');
      if (broken) return { ok: false, records, head, keyedFrom, checkpoint: status, firstBroken: broken };
    }
    // Checked after the checkpoint, which tells a cut-off end more precisely.
    if (unsealedFrom !== undefined && head) {
      const which = unsealedFrom === head.seq ? `record ${head.seq} is` : `records ${unsealedFrom}–${head.seq} are`;
      const message = `${which} not sealed with the audit chain's key: records after them were cut off, or they were written or altered without the key`;
      return { ok: false, records, head, keyedFrom, checkpoint: status, firstBroken: { seq: unsealedFrom, reason: 'altered', message } };
    }
    return { ok: true, records, head, keyedFrom, checkpoint: status };
  }

  /** Where the database's chain became keyed, read without the key (it cannot be authenticated without it). */
  async #keyedFromInDatabase(): Promise<number | undefined> {
    try {
      const row = await this.database.kysely.selectFrom('audit_chain').select('keyed_from').executeTakeFirst();
      return row ? Number(row.keyed_from) : undefined;
    } catch {
      // A database migrated before the keyed chain existed.
      return undefined;
    }
  }
}

/** Records a head that was committed names are missing or different: they were cut off (and maybe written again). */
function truncation(reference: ChainHead, hashThere: string | undefined, head: ChainHead | undefined, who: string): BrokenLink | undefined {
  if (hashThere === reference.hash) return undefined;
  const end = head ? `the database ends at record ${head.seq}` : 'the database holds no record';
  const message =
    hashThere === undefined
      ? `records were cut off the end: ${who} saw record ${reference.seq} committed, ${end}`
      : `records were cut off the end and others written in their place: record ${reference.seq} differs from what ${who} saw committed`;
  return { seq: reference.seq, reason: 'truncated', message };
}

/** A seal on a keyed record must be the HMAC of its sequence number and hash. */
function checkSeal(seal: string | null | undefined, record: AuditRecord, chain: AuditChain): BrokenLink | undefined {
  if (seal == null || seal === sealOf(chain.mac, record.seq, record.hash)) return undefined;
  return { seq: record.seq, reason: 'altered', message: `record ${record.seq} carries a seal the audit chain's key did not make` };
}

function checkLink(record: AuditRecord, expectedSeq: number, prevHash: string, expectedHash: string): BrokenLink | undefined {
  if (record.seq !== expectedSeq) {
    const missing = record.seq - expectedSeq === 1 ? `record ${expectedSeq} is` : `records ${expectedSeq}–${record.seq - 1} are`;
    return { seq: record.seq, reason: 'gap', message: `${missing} missing before record ${record.seq}` };
  }
  if (expectedHash !== record.hash) {
    return { seq: record.seq, reason: 'altered', message: `record ${record.seq} was altered: its hash does not match its content` };
  }
  if (record.prevHash !== prevHash) {
    return {
      seq: record.seq,
      reason: 'chain',
      message: `record ${record.seq} does not follow record ${record.seq - 1}: the previous record was altered or replaced`,
    };
  }
  return undefined;
}

/**
 * Commits audit batches to a SQLite file on a worker thread with a connection of its own, so
 * the commit — the WAL append and its fsync (synchronous=FULL), and the checkpoints SQLite runs
 * after some commits — does not stop the server's event loop: better-sqlite3 is synchronous,
 * and on the main connection every commit blocks every request in the process for its duration.
 *
 * The thread knows nothing of the chain's hashing. The main thread computes the records after
 * the head it expects (the last record it committed), and the thread, inside `BEGIN IMMEDIATE`
 * (the write lock, held against every other connection and process), checks that the head in
 * the database is that one before inserting; otherwise it rolls back and answers with the real
 * head, and the main thread computes the batch again after it. So the chain stays one chain
 * whoever else appends, exactly as with the transaction on the main connection.
 *
 * The worker's code is plain JavaScript evaluated from a string (not a module file), so it loads
 * the same way from the compiled package and from the TypeScript sources under test.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** A record as the thread inserts it: the audit_log columns in table order. */
export type AuditRow = [
  seq: number,
  at: string,
  actor: string,
  action: string,
  namespace: string,
  target: string,
  outcome: string,
  detail: string | null,
  prevHash: string,
  hash: string,
];

export interface ChainHead {
  seq: number;
  hash: string;
}

export type CommitOutcome = { ok: true } | { conflict: ChainHead };

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
// Durability as the database module defines it: the log is fsynced at every commit.
db.pragma('synchronous = FULL');
// Waiting here blocks this thread only, never the server.
db.pragma('busy_timeout = 5000');
const head = db.prepare('select "seq", "hash" from "audit_log" order by "seq" desc limit 1');
const insert = db.prepare(
  'insert into "audit_log" ("seq", "at", "actor", "action", "namespace", "target", "outcome", "detail", "prev_hash", "hash") ' +
    'values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
);
const begin = db.prepare('begin immediate');
const commit = db.prepare('commit');
const rollback = db.prepare('rollback');

function beginWithin(ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      begin.run();
      return;
    } catch (err) {
      if (!String(err && err.code).startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw err;
    }
  }
}

parentPort.on('message', (m) => {
  if (m.type === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    beginWithin(m.busyTimeoutMs);
    let answer;
    try {
      const last = head.get();
      const seq = last ? Number(last.seq) : 0;
      const hash = last ? last.hash : m.genesis;
      if (seq !== m.after.seq || hash !== m.after.hash) {
        rollback.run();
        answer = { id: m.id, conflict: { seq, hash } };
      } else {
        for (const row of m.rows) insert.run(row);
        commit.run();
        answer = { id: m.id, ok: true };
      }
    } catch (err) {
      if (db.inTransaction) rollback.run();
      throw err;
    }
    parentPort.postMessage(answer);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: String((err && err.message) || err), code: err && err.code } });
  }
});
parentPort.postMessage({ ready: true });
`;

interface Waiting {
  resolve(outcome: CommitOutcome): void;
  reject(err: unknown): void;
}

/** An error the thread reported, with SQLite's code kept. */
export class AuditThreadError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'AuditThreadError';
  }
}

export class AuditWriterThread {
  readonly #worker: Worker;
  readonly #ready: Promise<void>;
  readonly #waiting = new Map<number, Waiting>();
  #next = 0;
  #failure: Error | undefined;

  private constructor(
    file: string,
    private readonly genesis: string,
  ) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver } });
    this.#worker.unref();
    this.#ready = new Promise((resolve, reject) => {
      this.#worker.once('message', (m: { ready?: boolean }) => {
        if (m.ready) resolve();
      });
      this.#worker.once('error', reject);
      this.#worker.once('exit', (code) => reject(new Error(`the audit writer thread exited with ${code}`)));
    });
    this.#worker.on('message', (m: { id?: number; ok?: true; conflict?: ChainHead; error?: { message: string; code?: string } }) => {
      if (m.id === undefined) return;
      const waiting = this.#waiting.get(m.id);
      if (!waiting) return;
      this.#waiting.delete(m.id);
      if (this.#waiting.size === 0) this.#worker.unref();
      if (m.error) waiting.reject(new AuditThreadError(m.error.message, m.error.code));
      else if (m.conflict) waiting.resolve({ conflict: m.conflict });
      else waiting.resolve({ ok: true });
    });
    const fail = (err: Error) => {
      this.#failure ??= err;
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`the audit writer thread exited with ${code}`)));
  }

  /** Start a thread on `file` and wait until its connection is open; rejects when it cannot. */
  static async start(file: string, genesis: string): Promise<AuditWriterThread> {
    const thread = new AuditWriterThread(file, genesis);
    try {
      await thread.#ready;
    } catch (err) {
      await thread.#worker.terminate();
      throw err;
    }
    return thread;
  }

  /** Whether the thread stopped (it crashed or was closed): the caller writes another way then. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * Insert `rows` in one transaction if the chain's head is `after`; resolves once committed,
   * or with the real head when it is not `after` (nothing written).
   */
  commit(after: ChainHead, rows: readonly AuditRow[], busyTimeoutMs: number): Promise<CommitOutcome> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    return new Promise<CommitOutcome>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      // Kept alive while a commit is pending, so a caller awaiting it is not cut short.
      this.#worker.ref();
      this.#worker.postMessage({ id, after, rows, genesis: this.genesis, busyTimeoutMs });
    });
  }

  /** Close the connection and end the thread (after the commits already asked for). */
  async close(): Promise<void> {
    if (this.#failure) return;
    this.#failure = new Error('the audit writer thread was closed');
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.ref();
    this.#worker.postMessage({ type: 'close' });
    await exited;
  }
}

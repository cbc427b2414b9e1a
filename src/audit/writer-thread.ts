/**
 * Commits audit batches to a SQLite file on a worker thread with a connection of its own, so
 * the commit — the WAL append and its fsync, and the checkpoints SQLite runs after some commits —
 * does not stop the server's event loop: better-sqlite3 is synchronous, and on the main
 * connection every commit blocks every request in the process for its duration.
 *
 * The thread chains the records: inside `BEGIN IMMEDIATE` (the write lock, held against every
 * other connection and process) it reads the last record, hashes each new record after it
 * (`recordHash`, whose source it runs) and inserts them, so the chain stays one chain whoever
 * else appends. The server thread only hands over the events' fields and learns where they went
 * (the first sequence number, the hash before them and their hashes).
 *
 * Messages are flat: a batch is one array of strings (`EVENT_FIELDS` per record) and the answer
 * carries the hashes as one string, because structured cloning costs per value and this is paid
 * on the server thread for every batch.
 *
 * The worker's code is plain JavaScript evaluated from a string (not a module file), so it loads
 * the same way from the compiled package and from the TypeScript sources under test.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { recordHash } from './hash.js';

/** Fields per record in a batch: at, actor, action, namespace, target, outcome, detail (or null). */
export const EVENT_FIELDS = 7;

/** Where a committed batch went: records `firstSeq`… chained after `prevHash`, 64 hex characters of hash each. */
export interface CommittedBatch {
  firstSeq: number;
  prevHash: string;
  hashes: string;
}

export type AuditSync = 'full' | 'normal';

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const Database = require(workerData.driver);
const recordHash = ${recordHash.toString()};
const sha256Hex = typeof crypto.hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');
const FIELDS = ${EVENT_FIELDS};
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('synchronous = ' + workerData.sync);
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
      let seq = last ? Number(last.seq) : 0;
      const prevHash = last ? last.hash : workerData.genesis;
      let prev = prevHash;
      let hashes = '';
      const e = m.events;
      for (let i = 0; i < e.length; i += FIELDS) {
        seq += 1;
        const hash = recordHash(sha256Hex, seq, e[i], e[i + 1], e[i + 2], e[i + 3], e[i + 4], e[i + 5], e[i + 6], prev);
        insert.run(seq, e[i], e[i + 1], e[i + 2], e[i + 3], e[i + 4], e[i + 5], e[i + 6], prev, hash);
        hashes += hash;
        prev = hash;
      }
      commit.run();
      answer = { id: m.id, firstSeq: seq - e.length / FIELDS + 1, prevHash, hashes };
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
  resolve(outcome: CommittedBatch): void;
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

interface Answer {
  id?: number;
  firstSeq?: number;
  prevHash?: string;
  hashes?: string;
  error?: { message: string; code?: string };
}

export class AuditWriterThread {
  readonly #worker: Worker;
  readonly #ready: Promise<void>;
  readonly #waiting = new Map<number, Waiting>();
  #next = 0;
  #failure: Error | undefined;

  private constructor(file: string, genesis: string, sync: AuditSync) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, genesis, sync: sync.toUpperCase() } });
    this.#worker.unref();
    this.#ready = new Promise((resolve, reject) => {
      this.#worker.once('message', (m: { ready?: boolean }) => {
        if (m.ready) resolve();
      });
      this.#worker.once('error', reject);
      this.#worker.once('exit', (code) => reject(new Error(`the audit writer thread exited with ${code}`)));
    });
    this.#worker.on('message', (m: Answer) => {
      if (m.id === undefined) return;
      const waiting = this.#waiting.get(m.id);
      if (!waiting) return;
      this.#waiting.delete(m.id);
      if (this.#waiting.size === 0) this.#worker.unref();
      if (m.error) waiting.reject(new AuditThreadError(m.error.message, m.error.code));
      else waiting.resolve({ firstSeq: m.firstSeq as number, prevHash: m.prevHash as string, hashes: m.hashes as string });
    });
    const fail = (err: Error) => {
      this.#failure ??= err;
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`the audit writer thread exited with ${code}`)));
  }

  /**
   * Start a thread on `file` and wait until its connection is open; rejects when it cannot.
   * `sync`: SQLite's `synchronous` for its commits (see `AuditLogOptions.sync`).
   */
  static async start(file: string, genesis: string, sync: AuditSync = 'full'): Promise<AuditWriterThread> {
    const thread = new AuditWriterThread(file, genesis, sync);
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
   * Chain and insert the records of `events` (`EVENT_FIELDS` values each) in one transaction
   * after the chain's head, whatever it is; resolves once committed.
   */
  commit(events: readonly (string | null)[], busyTimeoutMs: number): Promise<CommittedBatch> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    return new Promise<CommittedBatch>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      // Kept alive while a commit is pending, so a caller awaiting it is not cut short.
      this.#worker.ref();
      this.#worker.postMessage({ id, events, busyTimeoutMs });
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

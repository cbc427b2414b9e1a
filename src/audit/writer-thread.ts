/**
 * Commits audit batches to a SQLite file on a worker thread with a connection of its own, so
 * the commit — the WAL append and its fsync, and the checkpoints SQLite runs after some commits —
 * does not stop the server's event loop: better-sqlite3 is synchronous, and on the main
 * connection every commit blocks every request in the process for its duration.
 *
 * Batches may be sent while earlier ones are still being committed: they queue on the thread, and
 * the thread commits every batch waiting when it starts a transaction in that one transaction
 * (group commit, without a round trip to the server thread between two commits).
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
import { type CommittedBatch, EVENT_FIELDS } from './append.js';
import { chainRecords, recordHash, sealOf } from './hash.js';

export { type CommittedBatch, EVENT_FIELDS } from './append.js';


const WORKER_SOURCE = `
'use strict';
const { parentPort, receiveMessageOnPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const Database = require(workerData.driver);
const recordHash = ${recordHash.toString()};
const chainRecords = ${chainRecords.toString()};
const sealOf = ${sealOf.toString()};
const sha256Hex = typeof crypto.hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');
// With the chain's record key: sha256 records and an HMAC seal per commit, format 3; without: an
// unkeyed chain (sha256, format 1).
const recordKey = workerData.recordKey ? Buffer.from(workerData.recordKey) : undefined;
const mac = recordKey ? (text) => crypto.createHmac('sha256', recordKey).update(text, 'utf8').digest('hex') : undefined;
const FORMAT = recordKey ? 3 : 1;
const FIELDS = ${EVENT_FIELDS};
const db = new Database(workerData.file, { fileMustExist: true });
// Every commit is fsynced before its appenders hear of it.
db.pragma('synchronous = FULL');
// Waiting here blocks this thread only, never the server.
db.pragma('busy_timeout = 5000');
const head = db.prepare('select "seq", "hash", "at" from "audit_log" order by "seq" desc limit 1');
const seal = db.prepare('update "audit_log" set "seal" = ? where "seq" = ?');
const insert = db.prepare(
  'insert into "audit_log" ("seq", "at", "actor", "action", "namespace", "target", "outcome", "detail", "prev_hash", "hash") ' +
    'values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
);
// Whether the chain is keyed; a schema from before keyed chains has no such table (and no key).
let keyed;
try {
  keyed = db.prepare('select "keyed_from" from "audit_chain" limit 1');
} catch {
  keyed = { get: () => undefined };
}
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

/** Records per transaction at most, when messages queued up while the last one committed. */
const MAX_RECORDS = 2000;

function commitAll(messages) {
  beginWithin(messages[0].busyTimeoutMs);
  try {
    if (!recordKey && keyed.get() !== undefined) {
      throw new Error('the audit chain is keyed: only a process holding the master key can append to it');
    }
    const last = head.get();
    let after = last ? { seq: Number(last.seq), hash: last.hash, at: last.at } : { seq: 0, hash: workerData.genesis, at: '' };
    const start = after.seq;
    const answers = [];
    const insertRow = (row) => insert.run(row);
    for (const m of messages) {
      const chained = chainRecords(recordHash, sha256Hex, FORMAT, after, m.events, FIELDS, insertRow);
      const answer = { id: m.id, firstSeq: chained.firstSeq, prevHash: chained.prevHash, hashes: chained.hashes };
      // Times raised to keep the chain's order (see chainRecords): the server thread's copy learns them.
      if (chained.raised) answer.ats = m.events.filter((_, i) => i % FIELDS === 0);
      answers.push(answer);
      after = chained.head;
    }
    // The commit's last record seals the chain up to it (format 3).
    if (mac && after.seq > start) seal.run(sealOf(mac, after.seq, after.hash), after.seq);
    commit.run();
    return answers;
  } catch (err) {
    if (db.inTransaction) rollback.run();
    throw err;
  }
}

let closing = false;

// Copy what is committed into the database file (fsyncing the WAL first), waiting for nobody;
// then, briefly holding writers back, copy the last frames and have the next commit start the WAL
// from its beginning: without that the WAL of a server that never stops writing only grows.
// Busy or failed: the next checkpoint tries again.
function checkpoint() {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {}
  try {
    db.pragma('busy_timeout = 20');
    db.pragma('wal_checkpoint(RESTART)');
  } catch {
  } finally {
    db.pragma('busy_timeout = 5000');
  }
}

parentPort.on('message', (first) => {
  if (first.type === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  if (first.type === 'checkpoint') {
    checkpoint();
    return;
  }
  // Batches that arrived while the last transaction committed go into this one together.
  const messages = [first];
  let records = first.events.length / FIELDS;
  while (records < MAX_RECORDS) {
    const next = receiveMessageOnPort(parentPort);
    if (next === undefined) break;
    if (next.message.type === 'close') {
      closing = true;
      break;
    }
    if (next.message.type === 'checkpoint') continue;
    messages.push(next.message);
    records += next.message.events.length / FIELDS;
  }
  try {
    parentPort.postMessage({ answers: commitAll(messages) });
  } catch (err) {
    const error = { message: String((err && err.message) || err), code: err && err.code };
    parentPort.postMessage({ answers: messages.map((m) => ({ id: m.id, error })) });
  }
  if (closing) {
    db.close();
    parentPort.close();
  }
});
parentPort.postMessage({ ready: true });
`;

interface Waiting {
  /** The batch's fields: times the thread raised are written back (see `chainRecords`). */
  events: (string | null)[];
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
  id: number;
  firstSeq?: number;
  prevHash?: string;
  hashes?: string;
  /** The records' times, when the thread raised some. */
  ats?: string[];
  error?: { message: string; code?: string };
}

export class AuditWriterThread {
  readonly #worker: Worker;
  readonly #ready: Promise<void>;
  readonly #waiting = new Map<number, Waiting>();
  #next = 0;
  #failure: Error | undefined;

  private constructor(file: string, genesis: string, recordKey: Buffer | undefined) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const key = recordKey ? new Uint8Array(recordKey) : undefined;
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, genesis, recordKey: key } });
    this.#worker.unref();
    this.#ready = new Promise((resolve, reject) => {
      this.#worker.once('message', (m: { ready?: boolean }) => {
        if (m.ready) resolve();
      });
      this.#worker.once('error', reject);
      this.#worker.once('exit', (code) => reject(new Error(`the audit writer thread exited with ${code}`)));
    });
    this.#worker.on('message', (m: { answers?: Answer[] }) => {
      for (const a of m.answers ?? []) {
        const waiting = this.#waiting.get(a.id);
        if (!waiting) continue;
        this.#waiting.delete(a.id);
        if (a.error) {
          waiting.reject(new AuditThreadError(a.error.message, a.error.code));
          continue;
        }
        if (a.ats) for (let i = 0; i < a.ats.length; i++) waiting.events[i * EVENT_FIELDS] = a.ats[i] as string;
        waiting.resolve({ firstSeq: a.firstSeq as number, prevHash: a.prevHash as string, hashes: a.hashes as string });
      }
      if (this.#waiting.size === 0) this.#worker.unref();
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
   * `recordKey`: the chain's record key (`AuditChain.recordKey`); without it the chain must be unkeyed.
   */
  static async start(file: string, genesis: string, recordKey?: Buffer | undefined): Promise<AuditWriterThread> {
    const thread = new AuditWriterThread(file, genesis, recordKey);
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
   * Chain and insert the records of `events` (`EVENT_FIELDS` values each) after the chain's
   * head, whatever it is, in the thread's next transaction; resolves once committed. Batches
   * commit in the order they are given.
   */
  commit(events: (string | null)[], busyTimeoutMs: number): Promise<CommittedBatch> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    return new Promise<CommittedBatch>((resolve, reject) => {
      this.#waiting.set(id, { events, resolve, reject });
      // Kept alive while a commit is pending, so a caller awaiting it is not cut short.
      this.#worker.ref();
      this.#worker.postMessage({ id, events, busyTimeoutMs });
    });
  }

  /**
   * Checkpoint the WAL on the thread: copies committed pages into the database file, fsyncing
   * the WAL first, so what was committed with synchronous=NORMAL is on disk; then restarts the
   * WAL when it can within a few milliseconds, so it does not grow without end. Fire and forget.
   */
  checkpoint(): void {
    if (this.#failure) return;
    this.#worker.postMessage({ type: 'checkpoint' });
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

/**
 * The keys of the audit chain and its checkpoint outside the database.
 *
 * Keys. Each database has one random 32-byte chain secret, sealed with the master key in the
 * `audit_chain` table (`src/encrypted-store/audit-key.ts` creates, opens and reseals it: master key
 * rotation reseals it like a data key, so the chain outlives rotations). Two keys are derived
 * from it with HKDF-SHA256 (salt: the chain id): one MACs the records (HMAC-SHA256, record format
 * 2 in `hash.ts`), the other the checkpoint file. Database access alone therefore cannot forge a
 * record or a checkpoint: recomputing a chain needs the master key.
 *
 * Checkpoint. Cutting records off the END of a chain leaves a valid shorter chain, so the head
 * (sequence number and MAC) is also written to a file outside the database, with a MAC of its
 * own: `audit.head` next to the master key file (`./.sesame/audit.head` in the embedded
 * default), else next to the SQLite file, or where `SESAME_AUDIT_HEAD` says (the one way for
 * PostgreSQL with a key from the environment; without it there is no checkpoint and truncation
 * is not detected). It is written atomically (temporary file, fsync, rename) at most once a
 * second while records are committed, and when the process closes its backend or its audit log.
 * A checkpoint is only advanced when the database still holds the record it names with the same
 * MAC; otherwise the file is left alone, as evidence, and `verify()` reports the truncation.
 *
 * The process that opened the builtin backend registers its chain here by database location;
 * the audit log, the token service and the builtin secrets look it up for the database they
 * write to (the server creates them separately over the backend's database).
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { CompiledQuery } from 'kysely';
import type { SesameDatabase } from '../db/index.js';

export interface ChainHead {
  seq: number;
  hash: string;
}

/** What the checkpoint file holds. */
export interface Checkpoint extends ChainHead {
  chain: string;
  /** When it was written (ISO-8601). */
  at: string;
  mac: string;
}

const CHECKPOINT_FORMAT = 'sesame-audit-head/1';
/** At most this often while records are committed. */
export const CHECKPOINT_EVERY_MS = 1000;

export function hmacHex(key: Buffer): (text: string) => string {
  return (text) => createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** The read of a checkpoint file: absent, unusable (with why), or authentic. */
export type CheckpointRead =
  | { state: 'missing' }
  | { state: 'invalid'; reason: string }
  | { state: 'ok'; checkpoint: Checkpoint };

export class AuditChain {
  readonly chainId: string;
  /** The first record chained with HMAC (format 2); records before it are sha256 (format 1). */
  readonly keyedFrom: number;
  /** HMAC key of the records: passed to the writer thread. */
  readonly recordKey: Buffer;
  /** HMAC-SHA256 hex of the records. */
  readonly mac: (text: string) => string;
  readonly #checkpointMac: (text: string) => string;
  /** Where the checkpoint is kept; undefined: nowhere (truncation is not detected). */
  readonly checkpointFile: string | undefined;
  readonly #database: SesameDatabase;
  /** The newest head this process committed. */
  #latest: ChainHead = { seq: 0, hash: '' };
  /** The head last written to (or found in) the checkpoint by this process. */
  #written = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  /** Why the last checkpoint was not written, if it was not. */
  problem: string | undefined;

  constructor(args: { database: SesameDatabase; secret: Buffer; chainId: string; keyedFrom: number; checkpointFile?: string | undefined }) {
    this.#database = args.database;
    this.chainId = args.chainId;
    this.keyedFrom = args.keyedFrom;
    const salt = Buffer.from(args.chainId, 'utf8');
    this.recordKey = Buffer.from(hkdfSync('sha256', args.secret, salt, 'sesame-audit-chain/1', 32));
    const checkpointKey = Buffer.from(hkdfSync('sha256', args.secret, salt, 'sesame-audit-checkpoint/1', 32));
    this.mac = hmacHex(this.recordKey);
    this.#checkpointMac = hmacHex(checkpointKey);
    this.checkpointFile = args.checkpointFile;
  }

  /** The newest head this process committed (seq 0: none). */
  get latest(): ChainHead {
    return this.#latest;
  }

  /** A batch ending at `head` was committed: the checkpoint follows within a second. */
  committed(head: ChainHead): void {
    if (head.seq <= this.#latest.seq) return;
    this.#latest = head;
    if (this.checkpointFile === undefined || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#checkpoint();
    }, CHECKPOINT_EVERY_MS);
    this.#timer.unref();
  }

  /** Write the checkpoint now (closing); resolves when it is on disk or was refused. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#checkpoint();
  }

  #checkpointText(c: Omit<Checkpoint, 'mac'>): string {
    return JSON.stringify([CHECKPOINT_FORMAT, c.chain, c.seq, c.hash, c.at]);
  }

  /** Read and authenticate the checkpoint file. */
  async readCheckpoint(): Promise<CheckpointRead> {
    const file = this.checkpointFile;
    if (file === undefined) return { state: 'missing' };
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
      return { state: 'invalid', reason: `the checkpoint ${file} cannot be read: ${(err as Error).message}` };
    }
    let parsed: Partial<Checkpoint> & { format?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      return { state: 'invalid', reason: `the checkpoint ${file} is not a Sesame audit checkpoint` };
    }
    const { chain, seq, hash, at, mac } = parsed;
    if (parsed.format !== CHECKPOINT_FORMAT || typeof chain !== 'string' || typeof seq !== 'number' || typeof hash !== 'string' || typeof at !== 'string' || typeof mac !== 'string') {
      return { state: 'invalid', reason: `the checkpoint ${file} is not a Sesame audit checkpoint` };
    }
    if (chain !== this.chainId) {
      return {
        state: 'invalid',
        reason:
          `the checkpoint ${file} belongs to audit chain ${chain}, not to this database's (${this.chainId}): ` +
          "the database's audit key was replaced, or another database keeps its checkpoint there (give each its own with SESAME_AUDIT_HEAD)",
      };
    }
    const expected = Buffer.from(this.#checkpointMac(this.#checkpointText({ chain, seq, hash, at })), 'hex');
    const given = Buffer.from(mac, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { state: 'invalid', reason: `the checkpoint ${file} does not authenticate: it was altered` };
    }
    return { state: 'ok', checkpoint: { chain, seq, hash, at, mac } };
  }

  /** The hash the database holds for record `seq`, if it holds it. */
  async hashAt(seq: number): Promise<string | undefined> {
    const select = this.#database.kysely.selectFrom('audit_log').select('hash').where('seq', '=', seq).compile();
    const result = await this.#database.kysely.executeQuery<{ hash: string }>(CompiledQuery.raw(select.sql, [...select.parameters]));
    return result.rows[0]?.hash;
  }

  /** One checkpoint write at a time, in order. */
  #checkpoint(): Promise<void> {
    this.#writing = this.#writing.then(
      () => this.#writeCheckpoint(),
      () => this.#writeCheckpoint(),
    );
    return this.#writing.catch((err: unknown) => {
      this.problem = `could not write the audit checkpoint ${this.checkpointFile}: ${(err as Error).message}`;
    });
  }

  async #writeCheckpoint(): Promise<void> {
    const file = this.checkpointFile;
    const head = this.#latest;
    if (file === undefined || head.seq <= this.#written) return;
    const current = await this.readCheckpoint();
    if (current.state === 'invalid') {
      // Left alone: it is the evidence `verify()` reports (the operator removes it once understood).
      this.problem = current.reason;
      return;
    }
    if (current.state === 'ok') {
      const cp = current.checkpoint;
      if (cp.seq >= head.seq) {
        // Another process of this database checkpointed further already.
        this.#written = head.seq;
        return;
      }
      if ((await this.hashAt(cp.seq)) !== cp.hash) {
        this.problem = `the audit checkpoint ${file} names record ${cp.seq}, which the database no longer holds as it was: records were cut off; the checkpoint is kept`;
        return;
      }
    }
    const at = new Date().toISOString();
    const body = { chain: this.chainId, seq: head.seq, hash: head.hash, at };
    const text = `${JSON.stringify({ format: CHECKPOINT_FORMAT, ...body, mac: this.#checkpointMac(this.#checkpointText(body)) })}\n`;
    await writeAtomically(file, text);
    this.#written = head.seq;
    this.problem = undefined;
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is atomic anyway.
  }
}

/** Chains by database location, newest registration last. */
const registry = new Map<string, AuditChain[]>();

/** Make `chain` the one used for `database`'s location in this process (until unregistered). */
export function registerAuditChain(database: SesameDatabase, chain: AuditChain): void {
  const list = registry.get(database.location) ?? [];
  list.push(chain);
  registry.set(database.location, list);
}

export function unregisterAuditChain(database: SesameDatabase, chain: AuditChain): void {
  const list = registry.get(database.location);
  if (!list) return;
  const i = list.lastIndexOf(chain);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) registry.delete(database.location);
}

/** The chain keys this process holds for the database, if a builtin backend opened it. */
export function auditChainOf(database: SesameDatabase): AuditChain | undefined {
  const list = registry.get(database.location);
  return list?.[list.length - 1];
}

/**
 * A node's local audit spool: where a server writes the audit records of the requests it answers
 * while the shared database (PostgreSQL) cannot be reached, so that "no answer without a record"
 * holds during an outage too. The records go into the shared chain once the database is back.
 *
 * - Durable before the answer: a request waits until its record is written and fsynced here,
 *   exactly as it waits for the database commit otherwise. Records of the same turn share one
 *   write and one fsync.
 * - Tamper evident: every line carries an HMAC-SHA256 over its fields, its sequence number in
 *   the file and the MAC of the line before it, keyed by a key derived from the audit chain's
 *   record key (so from the chain secret sealed by the master key: a host user without the
 *   master key cannot write lines that drain). A line changed, removed or reordered stops the
 *   drain of that file at that line: the file is set aside as `….rejected` and the shared trail
 *   gets a record saying so (`audit.spool`, outcome `error`, detail `spool_altered`).
 * - Bounded: at most `maxBytes` (default 64 MiB); past that, `append` throws and the server
 *   refuses the request (fail closed), as it does without a spool.
 * - Drained in order, resumably: records are committed to the chain in batches (keeping their
 *   original time); after each batch a `.done` file (written atomically, MAC'd) says how far the
 *   file got, so a crash during the drain does not commit a batch twice; a batch interrupted
 *   after its commit but before the `.done` write is the one case that can repeat records.
 * - One file per process (`audit-spool-<host>-<pid>.jsonl`). At start and at each drain a
 *   process also drains the files of this host's processes that are gone (their pid no longer
 *   runs), and files set aside as `.orphan.jsonl`. Other hosts' files (a shared directory) are
 *   left to them.
 *
 * Records never hold values (see `AuditEvent`), so neither does the spool.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { SesameError } from '../errors.js';
import type { AuditEvent } from './index.js';

/** Default bound of a spool file. */
export const DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024;
/** Records per drain transaction. */
const DRAIN_BATCH = 500;

export class AuditSpoolFullError extends SesameError {
  override readonly code = 'audit_unavailable';
  override readonly status = 503;
}

/** One line of a spool file. */
interface SpoolLine {
  s: number;
  at: string;
  actor: string;
  action: string;
  namespace: string;
  target: string;
  outcome: AuditEvent['outcome'];
  detail?: string | undefined;
  mac: string;
}

/** What a drain did. */
export interface DrainResult {
  /** Records committed to the shared trail. */
  committed: number;
  /** Files set aside because a line did not verify. */
  rejected: string[];
}

export interface AuditSpoolOptions {
  /** Directory of the spool files (created 0700 if missing). */
  dir: string;
  /** The audit chain's record key: the spool's key is derived from it. */
  recordKey: Buffer;
  maxBytes?: number | undefined;
  /** This host's name (tests); default `os.hostname()`. */
  host?: string | undefined;
  /** This process's id (tests); default `process.pid`. */
  pid?: number | undefined;
  /** Whether a process of this host runs (tests); default `process.kill(pid, 0)`. */
  alive?: ((pid: number) => boolean) | undefined;
}

const GENESIS = 'sesame-audit-spool/1';
const FILE = /^audit-spool-(.+?)-(\d+)(\.orphan-\d+)?\.jsonl$/;

function safeHost(host: string): string {
  return host.replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 100) || 'host';
}

function defaultAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class AuditSpool {
  readonly dir: string;
  /** This process's spool file. */
  readonly file: string;
  readonly #key: Buffer;
  readonly #maxBytes: number;
  readonly #host: string;
  readonly #pid: number;
  readonly #alive: (pid: number) => boolean;
  #fd: number | undefined;
  #bytes = 0;
  #seq = 0;
  #prevMac = GENESIS;
  /** Records written to this process's file and not drained yet. */
  #pending = 0;
  #draining: Promise<DrainResult> | undefined;

  constructor(options: AuditSpoolOptions) {
    this.dir = options.dir;
    this.#key = Buffer.from(hkdfSync('sha256', options.recordKey, Buffer.alloc(0), GENESIS, 32));
    this.#maxBytes = options.maxBytes ?? DEFAULT_SPOOL_MAX_BYTES;
    this.#host = safeHost(options.host ?? hostname());
    this.#pid = options.pid ?? process.pid;
    this.#alive = options.alive ?? defaultAlive;
    this.file = path.join(this.dir, `audit-spool-${this.#host}-${this.#pid}.jsonl`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // A file of this name is an earlier process's with the same pid (a restarted container's
    // pid 1): set it aside to be drained like any other left-over file.
    if (existsSync(this.file)) {
      const aside = this.file.replace(/\.jsonl$/, `.orphan-${Date.now()}.jsonl`);
      renameSync(this.file, aside);
      if (existsSync(`${this.file}.done`)) renameSync(`${this.file}.done`, `${aside}.done`);
    }
  }

  /** Records spooled by this process and not yet in the shared trail. */
  get pending(): number {
    return this.#pending;
  }

  /** Spool files of this host waiting to be drained (this process's and left-over ones). */
  waitingFiles(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    // Left-over files first: their records are older than anything this process spooled.
    const files: string[] = [];
    let own = false;
    for (const name of names.sort()) {
      const match = FILE.exec(name);
      if (!match || match[1] !== this.#host) continue;
      const pid = Number(match[2]);
      if (pid === this.#pid && match[3] === undefined) own = this.#pending > 0;
      else if (match[3] !== undefined || !this.#alive(pid)) files.push(path.join(this.dir, name));
    }
    if (own) files.push(this.file);
    return files;
  }

  #mac(file: string, line: Omit<SpoolLine, 'mac'>, prev: string): string {
    const h = createHmac('sha256', this.#key);
    h.update(
      JSON.stringify([
        path.basename(file).replace(/\.orphan-\d+\.jsonl$/, '.jsonl'),
        line.s,
        prev,
        line.at,
        line.actor,
        line.action,
        line.namespace,
        line.target,
        line.outcome,
        line.detail ?? null,
      ]),
    );
    return h.digest('hex');
  }

  /**
   * Write records and fsync them; returns once they are on disk. Throws `AuditSpoolFullError`
   * when they would take the file past its bound, and the file system's error when it fails:
   * either way nothing was acknowledged.
   */
  append(events: readonly AuditEvent[], at: string): void {
    let text = '';
    let seq = this.#seq;
    let prev = this.#prevMac;
    for (const event of events) {
      seq++;
      const line: Omit<SpoolLine, 'mac'> = {
        s: seq,
        at: event.at ?? at,
        actor: event.actor,
        action: event.action,
        namespace: event.namespace,
        target: event.target,
        outcome: event.outcome,
        ...(event.detail !== undefined ? { detail: event.detail } : {}),
      };
      const mac = this.#mac(this.file, line, prev);
      text += `${JSON.stringify({ ...line, mac })}\n`;
      prev = mac;
    }
    const bytes = Buffer.byteLength(text);
    if (this.#bytes + bytes > this.#maxBytes) {
      throw new AuditSpoolFullError(
        `the local audit spool is full (${this.#maxBytes} bytes) while the database is unreachable, so the request was not answered: bring the database back, or raise server.auditSpool.maxBytes`,
      );
    }
    this.#fd ??= openSync(this.file, 'a', 0o600);
    writeSync(this.#fd, text);
    fsyncSync(this.#fd);
    this.#bytes += bytes;
    this.#seq = seq;
    this.#prevMac = prev;
    this.#pending += events.length;
  }

  /**
   * Commit every waiting file's records to the shared trail through `commit` (one call per
   * batch, in order; it must resolve only once the batch is committed), then remove the files.
   * Concurrent calls share one drain.
   */
  drain(commit: (events: AuditEvent[]) => Promise<void>): Promise<DrainResult> {
    this.#draining ??= this.#drainAll(commit).finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  async #drainAll(commit: (events: AuditEvent[]) => Promise<void>): Promise<DrainResult> {
    const result: DrainResult = { committed: 0, rejected: [] };
    for (const file of this.waitingFiles()) {
      const own = file === this.file;
      const verdict = await this.#drainFile(file, own, commit, result);
      if (verdict === 'rejected') {
        result.rejected.push(file);
        await commit([
          {
            actor: 'system',
            action: 'audit.spool',
            namespace: '',
            target: path.basename(file),
            outcome: 'error',
            detail: 'spool_altered',
          },
        ]);
      }
    }
    return result;
  }

  async #drainFile(
    file: string,
    own: boolean,
    commit: (events: AuditEvent[]) => Promise<void>,
    result: DrainResult,
  ): Promise<'drained' | 'rejected'> {
    const done = this.#readDone(file);
    if (done === 'altered') return this.#reject(file, own);
    // This process's file may grow while it drains: what was appended meanwhile is read again.
    const lines = readFileSync(file, 'utf8').split('\n');
    // A last line without its newline was being written when the writer stopped: it was never
    // acknowledged.
    lines.pop();
    let prev = GENESIS;
    const events: AuditEvent[] = [];
    const macs: string[] = [];
    let doneSeen = done === undefined;
    for (let i = 0; i < lines.length; i++) {
      let line: SpoolLine;
      try {
        line = JSON.parse(lines[i] as string) as SpoolLine;
      } catch {
        return this.#reject(file, own);
      }
      const { mac, ...fields } = line;
      if (line.s !== i + 1 || typeof mac !== 'string' || !sameHex(mac, this.#mac(file, fields, prev))) return this.#reject(file, own);
      prev = mac;
      macs.push(mac);
      if (done !== undefined && line.s <= done.seq) {
        if (line.s === done.seq) {
          if (!sameHex(mac, done.mac)) return this.#reject(file, own);
          doneSeen = true;
        }
        continue;
      }
      events.push({
        at: line.at,
        actor: line.actor,
        action: line.action,
        namespace: line.namespace,
        target: line.target,
        outcome: line.outcome,
        ...(line.detail !== undefined ? { detail: line.detail } : {}),
      });
    }
    // The `.done` mark names a line the file no longer has: lines were cut off its end.
    if (!doneSeen) return this.#reject(file, own);
    let seq = done?.seq ?? 0;
    for (let i = 0; i < events.length; i += DRAIN_BATCH) {
      const batch = events.slice(i, i + DRAIN_BATCH);
      await commit(batch);
      result.committed += batch.length;
      seq += batch.length;
      this.#writeDone(file, seq, macs[seq - 1] as string);
      if (own) this.#pending -= batch.length;
    }
    // Synchronously from the check to the removal: nothing can be appended in between.
    if (!own || this.#seq === macs.length) {
      this.#remove(file, own);
      return 'drained';
    }
    // More was appended during the drain: another pass, from the `.done` mark.
    return this.#drainFile(file, own, commit, result);
  }

  #doneMac(file: string, seq: number, mac: string): string {
    return createHmac('sha256', this.#key)
      .update(JSON.stringify(['done', path.basename(file).replace(/\.orphan-\d+\.jsonl$/, '.jsonl'), seq, mac]))
      .digest('hex');
  }

  #readDone(file: string): { seq: number; mac: string } | undefined | 'altered' {
    let text: string;
    try {
      text = readFileSync(`${file}.done`, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const done = JSON.parse(text) as { seq: number; mac: string; check: string };
      if (typeof done.seq !== 'number' || typeof done.mac !== 'string' || typeof done.check !== 'string') return 'altered';
      if (!sameHex(done.check, this.#doneMac(file, done.seq, done.mac))) return 'altered';
      return { seq: done.seq, mac: done.mac };
    } catch {
      return 'altered';
    }
  }

  #writeDone(file: string, seq: number, mac: string): void {
    const tmp = `${file}.done.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ seq, mac, check: this.#doneMac(file, seq, mac) }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, `${file}.done`);
  }

  /** This process's file is gone (drained or set aside): the next record starts a new one. */
  #forgetOwn(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#bytes = 0;
    this.#seq = 0;
    this.#prevMac = GENESIS;
    this.#pending = 0;
  }

  #remove(file: string, own: boolean): void {
    if (own) this.#forgetOwn();
    unlinkSync(file);
    try {
      unlinkSync(`${file}.done`);
    } catch {
      // none written (an empty file)
    }
  }

  #reject(file: string, own: boolean): 'rejected' {
    if (own) this.#forgetOwn();
    renameSync(file, `${file}.rejected`);
    if (existsSync(`${file}.done`)) renameSync(`${file}.done`, `${file}.rejected.done`);
    return 'rejected';
  }

  /** Size of this process's file (tests, metrics). */
  bytes(): number {
    try {
      return statSync(this.file).size;
    } catch {
      return 0;
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

function sameHex(a: string, b: string): boolean {
  if (a.length !== b.length || !/^[0-9a-f]*$/.test(a)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

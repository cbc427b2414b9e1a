/**
 * A server while its shared database (PostgreSQL) is unreachable: values it has cached are still
 * served (within the stores' `staleIfError`), and every request it answers is still recorded
 * before the answer, in the node's local audit spool (`audit/spool.ts`) instead of the shared
 * trail. Once the database answers again the spool is drained into the shared chain, in order,
 * and records go to the database again. What needs the database (writes, a value nobody cached,
 * a token this node has not checked) fails with 503 meanwhile. docs/deploy.md tells operators.
 *
 * On SQLite (one host, a local file) there is no outage to ride out: no spool, and an audit
 * commit that fails refuses the request, as always.
 */
import path from 'node:path';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { type AuditEvent, type AuditLog, auditChainOf } from '../audit/index.js';
import { AuditSpool } from '../audit/spool.js';
import { DEFAULT_CACHE } from '../config/schema.js';
import { DatabaseError, isDatabaseUnreachable } from '../db/errors.js';
import type { SesameDatabase } from '../db/index.js';
import type { Sesame } from '../sesame.js';
import { timerDelay } from '../timers.js';

/**
 * How long a token checked here is admitted while the database is unreachable: as long as the
 * values of that database are served, the `staleIfError` of the root's store kept in it.
 */
export function outageGraceOf(sesame: Sesame): number {
  const own = sesame.bindings.all().find((b) => b.config.namespace === '' && b.type.publishesChanges === true);
  return own?.config.cache.staleIfErrorMs ?? DEFAULT_CACHE.staleIfErrorMs;
}

/** Whether an error means the database cannot be reached (as opposed to refusing the work). */
export function isUnreachable(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isDatabaseUnreachable(e)) return true;
    if (e instanceof DatabaseError && e.code === 'database_unavailable') return true;
  }
  return false;
}

/** Where a server's spool lives, or undefined for none (SQLite, `server.auditSpool: false`, no chain key). */
export function openSpool(sesame: Sesame, database: SesameDatabase): AuditSpool | undefined {
  const setting = sesame.config.server?.auditSpool;
  if (setting === false || database.kind !== 'postgres') return undefined;
  const chain = auditChainOf(database);
  if (!chain) return undefined;
  const base = sesame.config.baseDir;
  const dir =
    setting?.dir !== undefined
      ? path.resolve(base, setting.dir)
      : chain.checkpointFile !== undefined
        ? path.dirname(chain.checkpointFile)
        : path.join(base, '.sesame');
  try {
    return new AuditSpool({ dir, recordKey: chain.recordKey, maxBytes: setting?.maxBytes });
  } catch (err) {
    // A read-only or missing place: the server runs, and refuses requests during an outage.
    sesame.log.error(
      { dir, err: (err as Error).message },
      'no local audit spool: requests will be refused while the database is unreachable (set server.auditSpool.dir to a writable directory)',
    );
    return undefined;
  }
}

interface Waiting {
  event: AuditEvent;
  resolve: (how: 'spooled') => void;
  reject: (err: unknown) => void;
}

/**
 * Commits a server's audit records: to the shared trail, or, while the database is unreachable,
 * to the local spool. Records keep their order: once one went to the spool, the following ones
 * do too until the spool is drained.
 */
export class AuditRecorder {
  readonly #audit: AuditLog;
  readonly #database: SesameDatabase;
  readonly #spool: AuditSpool | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #probeMs: number;
  readonly #answers: () => Promise<unknown>;
  #spooling = false;
  #queue: Waiting[] = [];
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #probing = false;
  #closed = false;
  /** Records written to the spool (metrics, tests). */
  spooled = 0;

  constructor(options: {
    audit: AuditLog;
    database: SesameDatabase;
    spool: AuditSpool | undefined;
    log: Logger;
    now: () => number;
    probeMs?: number | undefined;
    /** Does the database answer? Default: `select 1`. */
    probe?: (() => Promise<unknown>) | undefined;
  }) {
    this.#audit = options.audit;
    this.#database = options.database;
    this.#spool = options.spool;
    this.#log = options.log;
    this.#now = options.now;
    this.#probeMs = options.probeMs ?? 1000;
    this.#answers = options.probe ?? (() => sql`select 1`.execute(this.#database.kysely));
    // Files left by a process of this host that stopped during an outage: drain them first.
    if (this.#spool && this.#spool.waitingFiles().length > 0) this.#enterOutage();
  }

  /** Whether records go to the local spool now. */
  get spooling(): boolean {
    return this.#spooling;
  }

  /** Resolves once the record is durable (committed, or fsynced in the spool: which one); rejects when neither. */
  commit(event: AuditEvent): Promise<'committed' | 'spooled'> {
    if (this.#spooling) return this.#toSpool(event);
    return this.#audit.commit(event).then(
      () => 'committed' as const,
      (err: unknown) => {
        if (this.#spool === undefined || this.#closed || !isUnreachable(err)) throw err;
        return this.#toSpool(event);
      },
    );
  }

  #toSpool(event: AuditEvent): Promise<'spooled'> {
    const spool = this.#spool;
    if (spool === undefined) return Promise.reject(new Error('no audit spool'));
    this.#enterOutage();
    const at = event.at ?? new Date(this.#now()).toISOString();
    return new Promise((resolve, reject) => {
      this.#queue.push({ event: { ...event, at }, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      // Every record of this turn in one write and one fsync.
      setImmediate(() => {
        this.#scheduled = false;
        const waiting = this.#queue.splice(0);
        try {
          spool.append(
            waiting.map((w) => w.event),
            at,
          );
        } catch (err) {
          for (const w of waiting) w.reject(err);
          return;
        }
        this.spooled += waiting.length;
        for (const w of waiting) w.resolve('spooled');
      });
    });
  }

  #enterOutage(): void {
    if (this.#spooling || this.#closed) return;
    this.#spooling = true;
    this.#log.warn(
      { spool: this.#spool?.dir },
      'the database is unreachable: audit records go to the local spool until it is back',
    );
    this.#timer = setInterval(() => void this.#probe(), timerDelay(this.#probeMs));
    this.#timer.unref();
    void this.#probe();
  }

  /** Is the database back? Then drain the spool into the shared trail and record there again. */
  async #probe(): Promise<void> {
    const spool = this.#spool;
    if (this.#probing || !this.#spooling || spool === undefined) return;
    this.#probing = true;
    try {
      await this.#answers();
      const result = await spool.drain((events) => Promise.all(events.map((e) => this.#audit.commit(e))).then(() => undefined));
      for (const file of result.rejected) {
        this.#log.error({ file }, 'a local audit spool file did not verify (altered or cut): set aside, and recorded in the audit trail');
      }
      if (result.committed > 0) this.#log.info({ records: result.committed }, 'the local audit spool was drained into the shared trail');
      // Still in this turn: nothing was spooled since the drain's last check.
      if (spool.pending === 0 && this.#queue.length === 0 && spool.waitingFiles().length === 0) {
        this.#spooling = false;
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    } catch (err) {
      if (!isUnreachable(err)) this.#log.error({ err: (err as Error).message }, 'could not drain the local audit spool');
    } finally {
      this.#probing = false;
    }
  }

  /** Stop probing; a spool left behind is drained by the next process on this host. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#spooling) await this.#probe().catch(() => undefined);
    this.#spool?.close();
  }
}

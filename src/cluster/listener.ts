/**
 * Follows the change feed (`changes.ts`) of the database a process serves from, and hands every
 * row another process wrote to `apply`, in sequence order, at most once each.
 *
 * - Wake-ups: on PostgreSQL a dedicated connection (outside the pool) runs `LISTEN
 *   sesame_changes`; a notification (its payload is a sequence number) wakes the reader. When
 *   that connection drops, it reconnects with backoff (100 ms doubling to 5 s) and reads what it
 *   missed. A periodic check (every 5 s on PostgreSQL, 250 ms on SQLite, where there is nothing
 *   to listen to) catches anything else.
 * - A listening connection can die without a word: a NAT gateway or cloud load balancer drops
 *   an idle flow, a failover leaves it half-open. TCP would take hours to say so, and meanwhile
 *   no notification comes (changes arrive by the periodic check only). So each periodic check
 *   also sends `LISTEN` again on it (a no-op for PostgreSQL, and traffic that keeps the flow from
 *   looking idle); no answer within {@link HEARTBEAT_TIMEOUT_MS} and the connection is taken for
 *   lost: a new one listens, and reads what was missed.
 * - Reading: the rows after the last sequence applied, in order; no row is skipped (sequence
 *   order is commit order, see `changes.ts`), so a lost notification or connection only delays.
 *   A start reads from the current end, then applies {@link RESYNC} once: what the process
 *   loaded before that (the stored config, the master keys) was read at an earlier moment, and a
 *   change committed in between has a row at or below the end, which the process would never read.
 * - A row whose `apply` fails is read again at the next wake-up (the database may be down).
 * - A feed whose end is below the last sequence read went back in time (a restored backup, a
 *   failover that lost commits): the process applies {@link RESYNC} and starts again from there.
 *   Detected when a read finds nothing new, which the first change after the restore causes.
 * - Rows are pruned after `retentionMs`. A process that could not read the feed for half of that
 *   (the database unreachable, the process stopped in a debugger…) may have missed rows already
 *   pruned, and cannot tell which: it then applies {@link RESYNC} (reload the stored config,
 *   drop every cached value and token, read the master keys again) before the rows it reads.
 */
import type { Logger } from 'pino';
import type { SesameDatabase } from '../db/index.js';
import {
  CHANGE_CHANNEL,
  type ChangeRow,
  changeFeedEnd,
  changesAfter,
  lastChangeSeq,
  nodeIdOf,
  pruneChanges,
} from './changes.js';
import { timerDelay } from '../timers.js';

export interface ChangeListenerOptions {
  database: SesameDatabase;
  /** Apply rows other processes wrote; a throw leaves them to be read again. */
  apply: (rows: ChangeRow[]) => Promise<void>;
  log?: Logger | undefined;
  /** Periodic check (default 5000 ms on PostgreSQL, 250 ms on SQLite). */
  pollMs?: number | undefined;
  /** Rows older than this are removed now and then (default 1 day). */
  retentionMs?: number | undefined;
}

const PRUNE_EVERY_MS = 10 * 60_000;
const DEFAULT_RETENTION_MS = 86_400_000;

/** What a process applies when rows it never read may be gone: every kind of change, for everything. */
export const RESYNC: ReadonlyArray<Omit<ChangeRow, 'createdAt'>> = [
  { seq: 0, origin: 'resync', kind: 'store', namespace: '', target: '' },
  { seq: 0, origin: 'resync', kind: 'token', namespace: '', target: '' },
  { seq: 0, origin: 'resync', kind: 'key', namespace: '', target: '' },
  { seq: 0, origin: 'resync', kind: 'refresh', namespace: '', target: JSON.stringify({ all: true }) },
];
const MAX_BACKOFF_MS = 5000;
/** How long the listening connection may take to answer the periodic `LISTEN` before it is replaced. */
export const HEARTBEAT_TIMEOUT_MS = 3000;

export class ChangeListener {
  readonly #options: ChangeListenerOptions;
  readonly #database: SesameDatabase;
  readonly #origin: string;
  #lastSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #client: import('pg').Client | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #backoffMs = 100;
  #closed = false;
  #busy: Promise<void> | undefined;
  #again = false;
  #lastPrune = 0;
  #heartbeat: Promise<void> | undefined;
  /** When the last successful read of the feed began. */
  #lastReadAt = 0;
  /** Rows applied so far (tests and metrics). */
  applied = 0;
  /** True while the LISTEN connection is up (PostgreSQL). */
  listening = false;

  constructor(options: ChangeListenerOptions) {
    this.#options = options;
    this.#database = options.database;
    this.#origin = nodeIdOf(options.database);
  }

  /** The last sequence read. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  async start(): Promise<void> {
    this.#lastReadAt = Date.now();
    this.#lastSeq = await lastChangeSeq(this.#database);
    // Everything read before this position is brought up to it (see the file's comment).
    const at = new Date().toISOString();
    await this.#options.apply(RESYNC.map((r) => ({ ...r, createdAt: at })));
    this.#lastPrune = Date.now();
    const pollMs = this.#options.pollMs ?? (this.#database.kind === 'postgres' ? 5000 : 250);
    this.#timer = setInterval(() => {
      void this.wake();
      this.#checkListening();
    }, timerDelay(pollMs));
    this.#timer.unref();
    if (this.#database.dedicatedClient) await this.#listen();
  }

  /** Read and apply what is new; concurrent calls fold into one more pass. */
  wake(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#busy) {
      this.#again = true;
      return this.#busy;
    }
    this.#busy = (async () => {
      try {
        do {
          this.#again = false;
          await this.#catchUp();
        } while (this.#again && !this.#closed);
      } finally {
        this.#busy = undefined;
      }
    })();
    return this.#busy;
  }

  async #catchUp(): Promise<void> {
    try {
      for (;;) {
        const readAt = Date.now();
        const rows = await changesAfter(this.#database, this.#lastSeq);
        const retention = this.#options.retentionMs ?? DEFAULT_RETENTION_MS;
        if (readAt - this.#lastReadAt > retention / 2) {
          this.#options.log?.warn(
            { unreadForMs: readAt - this.#lastReadAt },
            'change feed: not read for so long that changes may have been pruned unread: reloading everything',
          );
          const at = new Date(readAt).toISOString();
          await this.#options.apply(RESYNC.map((r) => ({ ...r, createdAt: at })));
        }
        this.#lastReadAt = readAt;
        if (rows.length === 0) {
          await this.#checkNotRewound();
          break;
        }
        const foreign = rows.filter((r) => r.origin !== this.#origin);
        if (foreign.length > 0) await this.#options.apply(foreign);
        this.applied += foreign.length;
        this.#lastSeq = rows[rows.length - 1]?.seq ?? this.#lastSeq;
        if (rows.length < 1000) break;
      }
      if (Date.now() - this.#lastPrune > PRUNE_EVERY_MS) {
        this.#lastPrune = Date.now();
        const before = new Date(
          Date.now() - (this.#options.retentionMs ?? DEFAULT_RETENTION_MS),
        ).toISOString();
        await pruneChanges(this.#database, before);
      }
    } catch (err) {
      if (!this.#closed)
        this.#options.log?.warn(
          { err: this.#describe(err) },
          'could not read the change feed: trying again',
        );
    }
  }

  /**
   * Nothing after the last sequence read: is the feed's end below it? Then the database went back
   * in time (restored from a backup, or a failover to a replica that missed the last commits):
   * the rows now written reuse sequence numbers this process has read past and would skip, and
   * what it applied may have been undone. Start again from the current end, reloading everything.
   */
  async #checkNotRewound(): Promise<void> {
    // The sequence's position, not the highest row: pruning every row is not going back.
    const end = await changeFeedEnd(this.#database);
    if (end >= this.#lastSeq) return;
    this.#options.log?.warn(
      { lastRead: this.#lastSeq, end },
      'change feed: the database went back in time (restored from a backup, or failed over to a replica that missed commits): reloading everything',
    );
    const at = new Date().toISOString();
    await this.#options.apply(RESYNC.map((r) => ({ ...r, createdAt: at })));
    this.#lastSeq = end;
  }

  async #listen(): Promise<void> {
    const connect = this.#database.dedicatedClient;
    if (!connect || this.#closed) return;
    let client: import('pg').Client;
    try {
      client = await connect();
    } catch (err) {
      this.#options.log?.warn(
        { err: this.#describe(err) },
        'change feed: could not connect to listen: retrying',
      );
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    const lost = (err?: Error) => this.#lose(client, err);
    client.on('error', (err) => lost(err));
    client.on('end', () => lost());
    client.on('notification', (message) => {
      if (message.channel === CHANGE_CHANNEL) void this.wake();
    });
    this.#client = client;
    try {
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (err) {
      lost(err as Error);
      return;
    }
    this.listening = true;
    this.#backoffMs = 100;
    // What was committed while nobody listened.
    void this.wake();
  }

  /** Drop the listening connection `client` (if it is still the current one) and listen again. */
  /** A failure as the node describes it (login refused, no such database…), the URL's password removed. */
  #describe(err: unknown): string {
    return this.#database.diagnose(err)?.message ?? (err instanceof Error ? err.message : String(err));
  }

  #lose(client: import('pg').Client, err?: Error): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.listening = false;
    client.removeAllListeners('notification');
    client.end().catch(() => {});
    if (this.#closed) return;
    this.#options.log?.warn({ err: err && this.#describe(err) }, 'change feed: the listening connection was lost: reconnecting');
    this.#scheduleReconnect();
  }

  /** Send `LISTEN` again on the listening connection; no answer in time: it is lost. */
  #checkListening(): void {
    const client = this.#client;
    if (!client || !this.listening || this.#heartbeat || this.#closed) return;
    let timer: NodeJS.Timeout | undefined;
    const answered = client.query(`LISTEN ${CHANGE_CHANNEL}`);
    // Settles later (or never) when the timeout wins: nobody waits for it then.
    answered.catch(() => {});
    const silence = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${HEARTBEAT_TIMEOUT_MS} ms`)), HEARTBEAT_TIMEOUT_MS);
      timer.unref();
    });
    this.#heartbeat = Promise.race([answered, silence])
      .then(
        () => undefined,
        (err: unknown) => this.#lose(client, err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => {
        clearTimeout(timer);
        this.#heartbeat = undefined;
      });
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnect) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2);
    this.#reconnect = setTimeout(() => {
      this.#reconnect = undefined;
      void this.#listen();
    }, timerDelay(delay));
    this.#reconnect.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#reconnect) clearTimeout(this.#reconnect);
    const client = this.#client;
    this.#client = undefined;
    this.listening = false;
    if (client) await client.end().catch(() => {});
    await this.#busy?.catch(() => {});
  }
}

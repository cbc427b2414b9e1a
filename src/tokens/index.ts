/**
 * API tokens: random opaque bearer tokens, stored as their sha256 only, each with a role, a
 * namespace scope, an optional expiry and the `reveal` permission. A token is checked against
 * the database on every request, so a revocation (from the API or from `sesame tokens revoke`
 * in another process) takes effect on the next request.
 *
 * How "checked against the database" stays cheap (see {@link TokenService.authenticate}):
 *
 * - SQLite (a file): token rows are cached in memory, and every authentication first asks
 *   whether anything was committed to the file since the cache was filled. Any commit does,
 *   by any connection: another process (`sesame tokens revoke`), and also this process's main
 *   connection (API revocations). When something was, the cache is dropped before the lookup.
 *   The one exception is a server's own audit commits, which touch no token row: its audit
 *   writer reads the header inside its transaction and after it, and when its commit is the
 *   only one since the last check (the header's change counter tells), the check carries on
 *   from the new header
 *   ({@link TokenService.noteOwnCommit}). So every request is checked against the rows as committed
 *   when it is authenticated, whoever committed them; the cache only saves the row lookups
 *   between two commits. The question is answered by reading the WAL-index header at the start
 *   of the database's `-shm` file (48 bytes, one `pread`): SQLite rewrites it at every commit
 *   (its change counter, frame count and checksums move; https://www.sqlite.org/walformat.html),
 *   and it stays in place while the token service's own read-only connection is open. Where
 *   the file cannot be read, `PRAGMA data_version` on that connection answers instead (it takes
 *   and drops the WAL read lock: two `fcntl` calls, a few µs per request). Lookups run on that
 *   connection's prepared statements and never wait for the main connection (WAL readers do not
 *   block on writers), so authentication does not queue behind an audit commit either.
 *   Known tokens are also cached by the bearer string itself (cleared with the rows), so a
 *   request presenting a cached token costs no sha256 either.
 * - PostgreSQL, and SQLite `:memory:` (no other connection can exist): no cache; one indexed
 *   lookup per request, precompiled. On PostgreSQL a cache would need a round trip per request
 *   to learn whether it is still valid (LISTEN/NOTIFY arrives after the commit, asynchronously,
 *   so a request in between would pass with a revoked token), and that costs what the lookup does.
 *
 * Expiry is checked against the clock at every request, cached or not.
 *
 * While the database cannot be reached (PostgreSQL down or restarting) and `outageGraceMs` is
 * set (a server sets it to `cache.staleIfError`), a token this process checked successfully
 * within that time is admitted on that check: no revocation can be committed while the database
 * is down, and the change feed drops the token from this memory when one is (or was, just before:
 * the listener catches up after reconnecting). A token never checked here is not admitted: the
 * caller gets 503 `database_unavailable`. See docs/deploy.md.
 *
 * Why sha256 and not a password hash: a token is 256 random bits, so there is nothing to
 * brute-force, and a deterministic hash lets the check be one indexed lookup.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CompiledQuery, type Kysely, sql } from 'kysely';
import { appendInTransaction, type EventFields, flatEvents } from '../audit/append.js';
import { auditChainOf, type ChainHead } from '../audit/chain.js';
import { recordChanges } from '../db/changes.js';
import { isDatabaseUnreachable } from '../db/errors.js';
import type { SesameDatabase } from '../db/index.js';
import type { ApiTokensTable, SesameTables } from '../db/tables.js';
import { WalIndexHeader } from '../db/wal-index.js';
import { SesameError, UsageError } from '../errors.js';
import { sha256Hex } from '../sha256.js';

import { NAMESPACE } from '../namespaces.js';
import { covers, ROLES, type Role } from '../scope.js';

export { covers, ROLES, type Role };

/** Prefix of every token Sesame generates, so secret scanners can recognize them. */
export const TOKEN_PREFIX = 'sesame_';
/** `created_by` of the tokens SESAME_ADMIN_TOKEN made, and of the first-start token. */
const FROM_ENV = 'env:SESAME_ADMIN_TOKEN';
const FROM_FIRST_START = 'bootstrap';
/** Advisory lock of `bootstrapAdmin` on PostgreSQL; any fixed number, the same in every Sesame process. */
const BOOTSTRAP_LOCK_ID = 0x5e5a70;

/** Shortest token accepted from outside (SESAME_ADMIN_TOKEN). */
export const MIN_TOKEN_LENGTH = 32;


export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  /** Scope: `acme` covers `acme` and `acme.*`; `` (the root) covers everything. */
  namespace: string;
  reveal: boolean;
  createdAt: string;
  createdBy: string;
  expiresAt?: string | undefined;
  revokedAt?: string | undefined;
  revokedBy?: string | undefined;
}

export interface CreateTokenInput {
  role: Role;
  namespace?: string | undefined;
  name?: string | undefined;
  reveal?: boolean | undefined;
  /** Absolute expiry (ISO-8601) or undefined for none. */
  expiresAt?: string | undefined;
  /** Who created it: a token id, `cli`, `bootstrap`… */
  createdBy: string;
  /** The audit record of the creation, committed in the same transaction as the token. */
  audit?: EventFields | undefined;
}

export interface TokenPage {
  items: TokenInfo[];
  cursor?: string | undefined;
}

/** Why a presented token was refused. */
export type TokenRefusal = 'unknown' | 'expired' | 'revoked';

export class TokenNotFoundError extends UsageError {
  override readonly code = 'token_not_found';
  override readonly status = 404;
}

/** sha256 of a token, hex. */
export function hashToken(token: string): string {
  return sha256Hex(token);
}

/** `sesame_` + 43 characters of base64url: 256 random bits. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

function newTokenId(): string {
  return `tok_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
}

export function checkScopeNamespace(namespace: string): void {
  if (namespace !== '' && !NAMESPACE.test(namespace)) {
    throw new UsageError(
      `namespace ${JSON.stringify(namespace)} is not a namespace: dotted lowercase segments, e.g. "acme" or "acme.devops" ("" is the root)`,
    );
  }
}

function toInfo(row: ApiTokensTable): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    namespace: row.namespace,
    reveal: row.reveal === 1,
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at ?? undefined,
    revokedAt: row.revoked_at ?? undefined,
    revokedBy: row.revoked_by ?? undefined,
  };
}

/** A token row as authentication needs it; frozen, shared by every request that presents it. */
interface KnownToken {
  info: Readonly<TokenInfo>;
  revoked: boolean;
  /** Epoch ms, or undefined for no expiry. */
  expiresAt: number | undefined;
}

function knownToken(row: ApiTokensTable): KnownToken {
  return {
    info: Object.freeze(toInfo(row)),
    revoked: row.revoked_at !== null,
    expiresAt: row.expires_at === null ? undefined : Date.parse(row.expires_at),
  };
}

/** Rows kept at most (only tokens that exist are cached, so this is rarely reached). */
const MAX_CACHED = 10_000;

/** The token service's own read-only connection to a SQLite file. */
interface TokenReader {
  /** Whether any connection committed to the file since the last call (true on the first). */
  changed(): boolean;
  /**
   * A commit of this process's audit writer went from WAL-index header `before` (read holding
   * the write lock) to `after` (read just after the commit). When `before` is what `changed()`
   * last saw and exactly one commit lies between the two, nothing but that commit happened
   * since the last check, so `after` is taken as seen and the cache stays. True if it was.
   */
  adopt(before: Buffer, after: Buffer): boolean;
  /** How `changed()` finds out. */
  readonly detection: 'wal-index' | 'data_version';
  row(hash: string): ApiTokensTable | undefined;
  close(): void;
}

async function openReader(file: string): Promise<TokenReader> {
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  let header: WalIndexHeader | undefined;
  try {
    // A reader of a WAL database waits only while a crashed writer's log is being recovered.
    db.pragma('busy_timeout = 250');
    const version = db.prepare('pragma data_version').pluck();
    const row = db.prepare('select * from "api_tokens" where "token_hash" = ?');
    // Reading once opens the WAL-index as a reader: from then on SQLite keeps the -shm file
    // (and its header) in place until this connection closes.
    let lastVersion = version.get() as number;
    let changed = () => {
      const v = version.get() as number;
      if (v === lastVersion) return false;
      lastVersion = v;
      return true;
    };
    let adopt = (_before: Buffer, _after: Buffer) => false;
    let detection: TokenReader['detection'] = 'data_version';
    header = WalIndexHeader.open(file);
    if (header !== undefined) {
      const wal = header;
      detection = 'wal-index';
      const seen = WalIndexHeader.buffer();
      const now = WalIndexHeader.buffer();
      wal.read(seen);
      changed = () => {
        if (wal.read(now) && now.equals(seen)) return false;
        now.copy(seen);
        return true;
      };
      adopt = (before, after) => {
        // `after` is read once the write lock is released: another connection may have
        // committed in that moment, and then the counter has moved by more than one.
        if (!before.equals(seen) || WalIndexHeader.commitsBetween(before, after) !== 1) return false;
        after.copy(seen);
        return true;
      };
    }
    let first = true;
    return {
      changed: () => {
        const moved = changed();
        if (!first) return moved;
        first = false;
        return true;
      },
      adopt: (before, after) => !first && adopt(before, after),
      detection,
      row: (hash) => row.get(hash) as ApiTokensTable | undefined,
      close: () => {
        header?.close();
        db.close();
      },
    };
  } catch (err) {
    header?.close();
    db.close();
    throw err;
  }
}

export interface TokenServiceOptions {
  /**
   * Cache token rows between commits on SQLite (see the module notes). Default true; false
   * looks every token up through the main connection, as before.
   */
  cache?: boolean | undefined;
  /**
   * While the database is unreachable, admit a token checked successfully at most this long ago
   * (see the module notes). Default 0: no token is admitted without the database.
   */
  outageGraceMs?: number | undefined;
}

/** A successful check, kept for answering while the database is unreachable. */
interface LastCheck {
  known: KnownToken;
  /** Epoch ms of the check. */
  at: number;
}

export class TokenService {
  /** Known tokens by the bearer string presented (not by hash: a hit costs no sha256). */
  readonly #cache = new Map<string, KnownToken>();
  #reader: Promise<TokenReader | undefined> | undefined;
  /** The reader once it is open: the synchronous path. */
  #open: TokenReader | undefined;
  /** The database was checked for commits during this turn of the event loop (see `authenticateNow`). */
  #checkedThisTurn = false;
  readonly #endTurn = () => {
    this.#checkedThisTurn = false;
  };
  #lookupSql: string | undefined;
  #closed = false;
  #hits = 0;
  #lookups = 0;
  #drops = 0;
  #turnReuses = 0;
  #adopted = 0;
  /** Last successful checks by token hash, for outages (only with `outageGraceMs`); oldest first. */
  readonly #lastChecks = new Map<string, LastCheck>();
  #outageAnswers = 0;

  constructor(
    private readonly database: SesameDatabase,
    private readonly now: () => number = () => Date.now(),
    private readonly options: TokenServiceOptions = {},
  ) {}

  /**
   * What authentication did so far: answers from the cache, rows looked up (in the cache's
   * reader or through the main connection), and times the cache was dropped because the
   * database changed. `caching`: whether the cache is in use (a SQLite file, after the first call).
   */
  async stats(): Promise<{
    caching: boolean;
    /** How the cache learns of commits (see the module notes). */
    detection?: 'wal-index' | 'data_version' | undefined;
    hits: number;
    lookups: number;
    drops: number;
    /** Authentications answered by the commit check made earlier in the same turn. */
    turnReuses: number;
    /** Audit commits of this process that left the cache in place (see `noteOwnCommit`). */
    adoptedCommits: number;
    /** Authentications answered from an earlier check while the database was unreachable. */
    outageAnswers: number;
  }> {
    const reader = await this.#reader;
    return {
      caching: reader !== undefined,
      detection: reader?.detection,
      hits: this.#hits,
      lookups: this.#lookups,
      drops: this.#drops,
      turnReuses: this.#turnReuses,
      adoptedCommits: this.#adopted,
      outageAnswers: this.#outageAnswers,
    };
  }

  /**
   * This process's audit writer committed: the WAL-index header was `before` inside its
   * transaction (holding the write lock) and `after` once the commit returned. When `before` is
   * also the header the last commit check saw, and the header's change counter moved by exactly
   * one from `before` to `after`, that audit commit is the only commit since the check: the
   * cached rows are still the committed ones, and the next check starts from `after` instead of
   * dropping them (an audit commit never touches a token row). Anything else committed before
   * the audit commit (a revocation by this process's main connection, or by another process)
   * leaves `before` different; anything committed after it, before `after` was read, moves the
   * counter by more than one. Either way the next check drops the cache as it always did.
   */
  noteOwnCommit(before: Buffer, after: Buffer): void {
    if (this.#open?.adopt(before, after)) this.#adopted++;
  }

  /** Close the reader connection, if one was opened (lookups then go through the main connection). */
  async close(): Promise<void> {
    this.#closed = true;
    const reader = await this.#reader?.catch(() => undefined);
    this.#reader = undefined;
    this.#open = undefined;
    this.#cache.clear();
    reader?.close();
  }

  /** The cached path's reader: SQLite files only, opened on first use; undefined: no cache. */
  #openReader(): Promise<TokenReader | undefined> {
    if (this.#reader) return this.#reader;
    const file = this.database.kind === 'sqlite' ? this.database.location.slice('sqlite:'.length) : ':memory:';
    if (this.#closed || this.options.cache === false || file === ':memory:') return Promise.resolve(undefined);
    // Could not open one (permissions): every lookup goes through the main connection instead.
    this.#reader = openReader(file).then(
      (reader) => {
        // Closed while opening: nobody will close this one later.
        if (this.#closed) {
          reader.close();
          return undefined;
        }
        this.#open = reader;
        return reader;
      },
      () => undefined,
    );
    return this.#reader;
  }

  #nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  /**
   * Create a token. The token itself is returned once here and never stored.
   *
   * @example
   * const { token, info } = await tokens.create({ role: 'runtime', namespace: 'acme', createdBy: 'cli' });
   */
  async create(input: CreateTokenInput, presetToken?: string): Promise<{ token: string; info: TokenInfo }> {
    const namespace = input.namespace ?? '';
    checkScopeNamespace(namespace);
    if (!ROLES.includes(input.role)) throw new UsageError(`unknown role "${input.role}": use one of ${ROLES.join(', ')}`);
    // A permission that does nothing must not be listed as held: runtime tokens receive values
    // through resolve without it, auditors never receive any.
    if (input.reveal && (input.role === 'runtime' || input.role === 'auditor')) {
      throw new UsageError(
        `reveal is a permission of admin and operator tokens: ${input.role === 'runtime' ? 'a runtime token receives values through resolve without it' : 'an auditor token never receives secret values'}: leave reveal out`,
      );
    }
    if (input.expiresAt !== undefined) {
      const at = Date.parse(input.expiresAt);
      if (Number.isNaN(at)) throw new UsageError(`expiry "${input.expiresAt}" is not a date`);
      if (at <= this.now()) throw new UsageError('the expiry is in the past: give a future time or a duration such as 30d');
    }
    const token = presetToken ?? generateToken();
    const row: ApiTokensTable = {
      id: newTokenId(),
      name: input.name ?? `${input.role}${namespace ? ` ${namespace}` : ''}`,
      token_hash: hashToken(token),
      role: input.role,
      namespace,
      reveal: input.reveal ? 1 : 0,
      created_at: this.#nowIso(),
      created_by: input.createdBy,
      expires_at: input.expiresAt === undefined ? null : new Date(input.expiresAt).toISOString(),
      revoked_at: null,
      revoked_by: null,
    };
    await this.#writeAudited(input.audit, row.id, async (trx) => {
      await trx.insertInto('api_tokens').values(row).execute();
    });
    return { token, info: toInfo(row) };
  }

  /**
   * The live token a bearer string stands for, or why it is refused, as the database says at
   * the time of the call: a revocation committed before it (by this process or another) is
   * seen. The returned info is shared and frozen.
   */
  async authenticate(token: string): Promise<Readonly<TokenInfo> | { refused: TokenRefusal }> {
    const now = this.authenticateNow(token);
    if (now !== undefined) return now;
    const reader = await (this.#reader ?? this.#openReader());
    if (reader) return this.#check(this.#cached(reader, token));
    const hash = hashToken(token);
    let known: KnownToken | undefined;
    try {
      known = await this.#lookup(hash);
    } catch (err) {
      const last = this.#duringOutage(hash, err);
      if (last === undefined) throw err;
      this.#outageAnswers++;
      return this.#check(last);
    }
    this.#noteCheck(hash, known);
    return this.#check(known);
  }

  /** Remember a live token's check for outages (see `outageGraceMs`). */
  #noteCheck(hash: string, known: KnownToken | undefined): void {
    if (!this.options.outageGraceMs) return;
    this.#lastChecks.delete(hash);
    if (known === undefined || known.revoked) return;
    if (this.#lastChecks.size >= MAX_CACHED) {
      const oldest = this.#lastChecks.keys().next().value;
      if (oldest !== undefined) this.#lastChecks.delete(oldest);
    }
    this.#lastChecks.set(hash, { known, at: this.now() });
  }

  /** The check to answer with when `err` says the database is unreachable; undefined: none (rethrow). */
  #duringOutage(hash: string, err: unknown): KnownToken | undefined {
    const grace = this.options.outageGraceMs ?? 0;
    if (grace <= 0 || !isDatabaseUnreachable(err)) return undefined;
    const last = this.#lastChecks.get(hash);
    if (last === undefined || this.now() - last.at > grace) return undefined;
    return last.known;
  }

  /**
   * `authenticate()` without a promise, when it can answer synchronously (the cache's reader is
   * open: SQLite files, after the first call); undefined when it cannot (call `authenticate()`).
   * The same check, against the database as committed at the time of the call.
   *
   * `receivedBeforeThisTurn`: the caller knows the request presenting the token reached this
   * process before the current turn of the event loop began (a server: the first request read
   * from its connection in this turn). Then the commit check made earlier in the same turn, if
   * any, answers for it too: anything committed after that check is concurrent with a request
   * that was already on its way, so admitting it is what admitting it a moment earlier would
   * have been. Under load many requests are read per turn, and they share one check.
   */
  authenticateNow(token: string, options?: { receivedBeforeThisTurn?: boolean }): Readonly<TokenInfo> | { refused: TokenRefusal } | undefined {
    const reader = this.#open;
    if (reader === undefined) return undefined;
    return this.#check(this.#cached(reader, token, options?.receivedBeforeThisTurn === true));
  }

  #check(known: KnownToken | undefined): Readonly<TokenInfo> | { refused: TokenRefusal } {
    if (!known) return { refused: 'unknown' };
    if (known.revoked) return { refused: 'revoked' };
    if (known.expiresAt !== undefined && known.expiresAt <= this.now()) return { refused: 'expired' };
    return known.info;
  }

  /** Synchronous from the change check to the cache update, so nothing commits in between unseen. */
  #cached(reader: TokenReader, token: string, reuseTurnCheck = false): KnownToken | undefined {
    if (!(reuseTurnCheck && this.#checkedThisTurn)) {
      if (reader.changed()) {
        if (this.#cache.size > 0) this.#drops++;
        this.#cache.clear();
      }
      if (!this.#checkedThisTurn) {
        this.#checkedThisTurn = true;
        setImmediate(this.#endTurn);
      }
    } else {
      this.#turnReuses++;
    }
    const hit = this.#cache.get(token);
    if (hit) {
      this.#hits++;
      return hit;
    }
    this.#lookups++;
    const row = reader.row(hashToken(token));
    // Unknown tokens are not cached: anyone can present any number of them.
    if (!row) return undefined;
    const known = knownToken(row);
    if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
    this.#cache.set(token, known);
    return known;
  }

  async #lookup(hash: string): Promise<KnownToken | undefined> {
    this.#lookups++;
    // Compiled once (the query builder costs more than the lookup); placeholders per dialect.
    this.#lookupSql ??= this.database.kysely.selectFrom('api_tokens').selectAll().where('token_hash', '=', '').compile().sql;
    const result = await this.database.kysely.executeQuery<ApiTokensTable>(CompiledQuery.raw(this.#lookupSql, [hash]));
    const row = result.rows[0];
    return row ? knownToken(row) : undefined;
  }

  async get(id: string): Promise<TokenInfo> {
    const row = await this.database.kysely.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new TokenNotFoundError(`no token with id "${id}": list them with sesame tokens list`);
    return toInfo(row);
  }

  /** Tokens in id order, never the token itself. */
  async list(
    query: {
      /** Only tokens whose scope lies within this namespace. */
      within?: string | undefined;
      role?: Role | undefined;
      includeRevoked?: boolean | undefined;
      limit?: number | undefined;
      cursor?: string | undefined;
    } = {},
  ): Promise<TokenPage> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    let q = this.database.kysely.selectFrom('api_tokens').selectAll().orderBy('id').limit(limit + 1);
    if (query.cursor) q = q.where('id', '>', query.cursor);
    if (query.role) q = q.where('role', '=', query.role);
    if (!query.includeRevoked) q = q.where('revoked_at', 'is', null);
    const within = query.within ?? '';
    if (within !== '') {
      // `acme` and every `acme.…`. Not LIKE (the "_" namespaces may hold is a wildcard there) and
      // not a range (PostgreSQL's default collation does not sort punctuation bytewise).
      const prefix = `${within}.`;
      q = q.where((eb) =>
        eb.or([eb('namespace', '=', within), eb(sql<string>`substr(namespace, 1, ${prefix.length})`, '=', prefix)]),
      );
    }
    const rows = await q.execute();
    const items = rows.slice(0, limit).map(toInfo);
    return { items, ...(rows.length > limit ? { cursor: items[items.length - 1]?.id } : {}) };
  }

  /**
   * A write transaction that also commits `audit` (when given) to the audit trail: the change
   * and its record are committed together or not at all.
   */
  async #writeAudited(
    audit: EventFields | undefined,
    tokenId: string,
    work: (trx: Parameters<Parameters<SesameDatabase['write']>[0]>[0]) => Promise<void>,
  ): Promise<void> {
    const chain = audit ? auditChainOf(this.database) : undefined;
    const head = await this.database.write(async (trx) => {
      await work(trx);
      // Other Sesame processes on this database drop their token cache (src/cluster/).
      await recordChanges(this.database, trx, [{ kind: 'token', namespace: '', target: tokenId }]);
      return audit ? (await appendInTransaction(this.database, trx, flatEvents([audit], this.#nowIso()), chain)).head : undefined;
    });
    if (head) chain?.committed(head);
  }

  /**
   * Revoke a token; effective on its next request. Revoking twice is not an error. `audit`:
   * the record of the revocation, committed in the same transaction.
   */
  async revoke(id: string, by: string, options: { audit?: EventFields | undefined } = {}): Promise<TokenInfo> {
    await this.#writeAudited(options.audit, id, async (trx) => {
      const row = await trx.selectFrom('api_tokens').select(['id', 'revoked_at']).where('id', '=', id).executeTakeFirst();
      if (!row) throw new TokenNotFoundError(`no token with id "${id}": list them with sesame tokens list`);
      if (row.revoked_at !== null) return;
      await trx.updateTable('api_tokens').set({ revoked_at: this.#nowIso(), revoked_by: by }).where('id', '=', id).execute();
    });
    // Requests authenticated from now on, in this turn too, look the rows up again.
    this.forget(id);
    return this.get(id);
  }

  /**
   * Drop the cached token rows: another process changed tokens (the change feed says so). The
   * commit check already sees such changes on SQLite; this makes it explicit for every database.
   */
  forget(tokenId?: string): void {
    this.#cache.clear();
    this.#checkedThisTurn = false;
    if (tokenId === undefined || tokenId === '') {
      this.#lastChecks.clear();
      return;
    }
    for (const [hash, last] of this.#lastChecks) if (last.known.info.id === tokenId) this.#lastChecks.delete(hash);
  }

  async count(): Promise<number> {
    const row = await this.database.kysely
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /**
   * The first admin token of a server. With `presetToken` (SESAME_ADMIN_TOKEN), that token is
   * the admin token: stored hashed if new, and then the admin tokens earlier values of the
   * variable created are revoked. Without it, a random admin token is created only when the
   * database has no token at all (the first start); it is returned so the caller can show it once.
   *
   * Several nodes start at once on one database (a Deployment's replicas, a rolling deploy), so
   * the look and the write happen under one lock (PostgreSQL: an advisory lock; SQLite: the write
   * transaction), one node after the other:
   * - without the variable, one first-start token exists however many nodes start together: the
   *   others find it (see {@link adminTokenNotice} for what they tell the operator);
   * - with it, only a value never seen before replaces the others ("the newest wins"). A node
   *   started with a value that a newer one replaced (an old replica restarting during a rolling
   *   change of the variable) starts without touching anything: its value stays revoked and the
   *   newer one stays in place, so two values never revoke each other back and forth. A value
   *   revoked any other way (by an admin) is refused as before.
   */
  async bootstrapAdmin(
    presetToken?: string | undefined,
    options: { actor?: string | undefined } = {},
  ): Promise<{ token: string; info: TokenInfo } | undefined> {
    // Who made or revoked tokens at start, for the audit trail (the node: `serve@<host>`).
    const actor = options.actor ?? `serve@${hostname().replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 100) || 'host'}`;
    checkPresetAdminToken(presetToken);
    const token = presetToken ?? generateToken();
    const row: ApiTokensTable = {
      id: newTokenId(),
      name: presetToken !== undefined ? 'admin (SESAME_ADMIN_TOKEN)' : 'admin (first start)',
      token_hash: hashToken(token),
      role: 'admin',
      namespace: '',
      reveal: 0,
      created_at: this.#nowIso(),
      created_by: presetToken !== undefined ? FROM_ENV : FROM_FIRST_START,
      expires_at: null,
      revoked_at: null,
      revoked_by: null,
    };
    // The token rows and their audit records commit together: a failed append fails the start.
    const chain = auditChainOf(this.database);
    let head: ChainHead | undefined;
    const audited = async (trx: Kysely<SesameTables>, revoked: readonly string[]) => {
      const events: EventFields[] = [
        ...revoked.map((id) => ({ actor, action: 'token.revoke', namespace: '', target: id, outcome: 'ok' as const })),
        { actor, action: 'token.create', namespace: '', target: `role:admin ${row.id}`, outcome: 'ok' as const },
      ];
      head = (await appendInTransaction(this.database, trx, flatEvents(events, this.#nowIso()), chain)).head;
    };
    const outcome = await this.database.write(async (trx) => {
      if (this.database.kind === 'postgres') await sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK_ID})`.execute(trx);
      if (presetToken === undefined) {
        const any = await trx.selectFrom('api_tokens').select('id').limit(1).executeTakeFirst();
        if (any) return { created: false, revoked: [] as string[] };
        await trx.insertInto('api_tokens').values(row).execute();
        await recordChanges(this.database, trx, [{ kind: 'token', namespace: '', target: row.id }]);
        await audited(trx, []);
        return { created: true, revoked: [] as string[] };
      }
      const existing = await trx.selectFrom('api_tokens').selectAll().where('token_hash', '=', row.token_hash).executeTakeFirst();
      if (existing) {
        const replaced = existing.revoked_at !== null && existing.revoked_by === FROM_ENV && existing.created_by === FROM_ENV;
        if (!replaced && (existing.revoked_at !== null || existing.role !== 'admin' || existing.namespace !== '')) {
          throw new SesameError(
            'SESAME_ADMIN_TOKEN matches a token that is revoked or is not a root admin token: set it to a new value',
          );
        }
        // Live: already adopted. Replaced by a newer value: stays so (see above).
        return { created: false, revoked: [] as string[] };
      }
      // A value never seen: the operator set a new one, and it replaces the earlier ones.
      const stale = await trx
        .selectFrom('api_tokens')
        .select('id')
        .where('created_by', '=', FROM_ENV)
        .where('revoked_at', 'is', null)
        .execute();
      const revoked = stale.map((s) => s.id);
      if (revoked.length > 0) {
        await trx.updateTable('api_tokens').set({ revoked_at: this.#nowIso(), revoked_by: FROM_ENV }).where('id', 'in', revoked).execute();
      }
      await trx.insertInto('api_tokens').values(row).execute();
      // Other nodes drop what they remember of the revoked tokens (src/cluster/).
      await recordChanges(
        this.database,
        trx,
        [...revoked, row.id].map((id) => ({ kind: 'token' as const, namespace: '', target: id })),
      );
      await audited(trx, revoked);
      return { created: false, revoked };
    });
    if (head) chain?.committed(head);
    for (const id of outcome.revoked) this.forget(id);
    return outcome.created ? { token, info: toInfo(row) } : undefined;
  }

  /**
   * What a starting server should tell its operator about the admin token when it made none
   * itself, or undefined for nothing: without `presetToken`, that the first-start token exists
   * (created by another node starting at the same moment, or at an earlier start) and how to
   * get one; with it, that this value was replaced by a newer SESAME_ADMIN_TOKEN. Never a token.
   */
  async adminTokenNotice(presetToken?: string | undefined): Promise<string | undefined> {
    const tokens = this.database.kysely.selectFrom('api_tokens').selectAll();
    if (presetToken === undefined) {
      const first = await tokens.where('created_by', '=', FROM_FIRST_START).where('revoked_at', 'is', null).orderBy('created_at').executeTakeFirst();
      if (!first) return undefined;
      return (
        `the first-start admin token was already created (${first.id}, ${first.created_at}) and shown once by the process that created it: ` +
        'find it in that process\'s output, or create one with sesame tokens create --role admin on a host with this config, or set SESAME_ADMIN_TOKEN'
      );
    }
    const own = await tokens.where('token_hash', '=', hashToken(presetToken)).executeTakeFirst();
    if (own?.revoked_at === null || own === undefined) return undefined;
    const newer = await tokens.where('created_by', '=', FROM_ENV).where('revoked_at', 'is', null).orderBy('created_at', 'desc').executeTakeFirst();
    return (
      `SESAME_ADMIN_TOKEN on this node is an earlier value, replaced by a newer one${newer ? ` (${newer.id}, set ${newer.created_at})` : ''}: ` +
      'this node serves, but its value is refused; give every node the newer value (a rolling deploy that sets it does so)'
    );
  }
}

/**
 * Refuse a SESAME_ADMIN_TOKEN that is too short or holds spaces. Also called by `sesame serve`
 * before anything else, so a misconfigured server never listens nor touches the database.
 */
export function checkPresetAdminToken(presetToken: string | undefined): void {
  if (presetToken !== undefined && (presetToken.length < MIN_TOKEN_LENGTH || /\s/.test(presetToken))) {
    throw new UsageError(
      `SESAME_ADMIN_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters without spaces: make one with openssl rand -base64 32`,
    );
  }
}

/**
 * Browser sessions for the admin UI. A bearer token is exchanged once (`POST /api/v1/session`)
 * for a random session id in an HttpOnly, SameSite=Strict cookie; no page script can read the
 * token or the cookie. Every request made with the cookie is authenticated with that token again
 * (a revoked or expired token ends the session at once), and every state change must carry the
 * session's CSRF token in `X-Sesame-CSRF`.
 *
 * Sessions live in the database (`admin_sessions`, migration 8), so in distributed mode any node
 * serves any session, a sign out on one node ends the session on every node at once (the next
 * request anywhere finds no row), and a restart signs nobody out. What a row keeps, and why:
 *
 * - The cookie's value: only its sha256 (`id_hash`). The value is 256 random bits, so a
 *   deterministic hash is safe and makes the lookup one primary-key read.
 * - The bearer token: not at all, only the id of its `api_tokens` row. Every token kind a
 *   session can be opened with has one (tokens created through the API or the CLI, the first-start
 *   admin token, `SESAME_ADMIN_TOKEN`; the agent token has no UI), so nothing needs sealing.
 *   The lookup joins that row: its revocation, expiry, role, scope and `reveal` are read with
 *   the session, on every request, as committed at that moment.
 * - The CSRF token: only its sha256 (`csrf_hash`), compared in constant time. The token itself
 *   is derived from the cookie's value (HMAC-SHA256 keyed with it), because `GET /session` must
 *   hand it to a page loaded again, on whichever node answers: a node that holds the cookie can
 *   derive it, a reader of the database (who has only the cookie's hash) cannot.
 *
 * Cost on the request path: one indexed lookup (the session by `id_hash`, its token by primary
 * key, in one statement), and no write: activity (`last_seen_at`) is recorded at most once a
 * minute per session ({@link activityIntervalOf}). The idle timeout counts from the last activity
 * recorded, so a session may end up to that interval before `idleTimeout` after its last request,
 * never after. No cache: a sign out or a revocation committed on another node is seen by the next
 * request here, with no delay to wait for (the change feed is not needed for sessions).
 *
 * They end on sign out, after `idleTimeout` without a request, `maxAge` after sign in, or when
 * their token is revoked or expires, whichever comes first. Expired rows are deleted when a request
 * finds them and at every sign in (all of them, one indexed delete). A token keeps at most
 * {@link MAX_SESSIONS_PER_TOKEN} sessions; signing in once more ends its least recently used one.
 *
 * Fail closed: when the session table cannot be read the request is refused with 503
 * (`database_unavailable`), never treated as signed in or as signed out.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import type { Logger } from 'pino';
import { type DatabaseKind, DatabaseError, type SesameDatabase } from '../db/index.js';
import type { AdminSessionsTable, ApiTokensTable } from '../db/tables.js';
import { ConfigError } from '../errors.js';
import { sha256Hex } from '../sha256.js';
import type { TokenInfo, TokenRefusal } from '../tokens/index.js';

export const SESSION_COOKIE = 'sesame_session';
export const CSRF_HEADER = 'x-sesame-csrf';

export interface SessionSettings {
  /** Milliseconds without a request after which a session ends (default 30 minutes). */
  idleTimeoutMs: number;
  /** Milliseconds after sign in after which a session ends whatever happens (default 12 hours). */
  maxAgeMs: number;
}

export const DEFAULT_SESSION: SessionSettings = { idleTimeoutMs: 30 * 60_000, maxAgeMs: 12 * 3600_000 };

/** Activity is written at most this often per session (shorter for idle timeouts under 4 minutes). */
export const ACTIVITY_INTERVAL_MS = 60_000;

/** Sessions one token may hold at once; one more sign in ends the least recently used. */
export const MAX_SESSIONS_PER_TOKEN = 100;

/**
 * How often a session's activity is written: every minute, or a quarter of the idle timeout when
 * that is shorter, so a short timeout is not mostly spent waiting for the write.
 */
export function activityIntervalOf(settings: SessionSettings): number {
  return Math.max(1, Math.min(ACTIVITY_INTERVAL_MS, Math.floor(settings.idleTimeoutMs / 4)));
}

export interface OpenedSession {
  /** The cookie's value (only its sha256 is kept). */
  id: string;
  csrf: string;
  expiresAt: number;
}

/** A live session as a request sees it: the token it was opened with, as the database holds it now. */
export interface LiveSession {
  token: Readonly<TokenInfo>;
  /** sha256 (hex) of the CSRF token; the token itself is `csrfOf(cookie value)` (see the module notes). */
  csrfHash: string;
  expiresAt: number;
}

/** A session whose token no longer admits anyone: the session is ended (its row deleted). */
export interface RefusedSession {
  refused: TokenRefusal;
}

/** One row of the lookup: the session and its token's row (null columns when the token is gone). */
interface SessionRow extends AdminSessionsTable {
  t_id: string | null;
  t_name: string | null;
  t_role: ApiTokensTable['role'] | null;
  t_namespace: string | null;
  t_reveal: number | null;
  t_created_at: string | null;
  t_created_by: string | null;
  t_expires_at: string | null;
  t_revoked_at: string | null;
  t_revoked_by: string | null;
}

const CSRF_LABEL = 'sesame admin UI CSRF token';

/** The CSRF token of a session cookie: HMAC-SHA256 keyed with the cookie's value. */
export function csrfOf(id: string): string {
  return createHmac('sha256', id).update(CSRF_LABEL).digest('base64url');
}

/** What `open` puts in the cookie: 32 random bytes, base64url. */
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

/** Why a session's token admits nobody at `at` (as the token service decides for a bearer token). */
function refusalOf(token: Readonly<TokenInfo> | undefined, at: number): TokenRefusal | undefined {
  if (token === undefined) return 'unknown';
  if (token.revokedAt !== undefined) return 'revoked';
  if (token.expiresAt !== undefined && Date.parse(token.expiresAt) <= at) return 'expired';
  return undefined;
}

function tokenOf(row: SessionRow): Readonly<TokenInfo> | undefined {
  if (row.t_id === null || row.t_role === null) return undefined;
  return Object.freeze({
    id: row.t_id,
    name: row.t_name ?? '',
    role: row.t_role,
    namespace: row.t_namespace ?? '',
    reveal: row.t_reveal === 1,
    createdAt: row.t_created_at ?? '',
    createdBy: row.t_created_by ?? '',
    expiresAt: row.t_expires_at ?? undefined,
    revokedAt: row.t_revoked_at ?? undefined,
    revokedBy: row.t_revoked_by ?? undefined,
  });
}

export interface SessionStoreOptions {
  settings?: SessionSettings | undefined;
  now?: (() => number) | undefined;
  /** Where a failed read or write of the session table is logged (its message; never a cookie). */
  log?: Logger | undefined;
}

/**
 * The admin UI's sessions in the database (see the module notes).
 *
 * @example
 * const sessions = new SessionStore(database, { settings: DEFAULT_SESSION });
 * const opened = await sessions.open(tokenInfo);   // opened.id goes into the cookie
 * const live = await sessions.get(opened.id);       // undefined once ended
 */
export class SessionStore {
  readonly #database: SesameDatabase;
  readonly #settings: SessionSettings;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #activityEveryMs: number;
  #lookupSql: string | undefined;

  constructor(database: SesameDatabase, options: SessionStoreOptions = {}) {
    const settings = options.settings ?? DEFAULT_SESSION;
    for (const [name, value] of Object.entries(settings)) {
      if (!Number.isSafeInteger(value) || value <= 0) {
        // The config's duration accepts 0: a session that ends as it begins is a mistake to name.
        throw new ConfigError(`must be a duration longer than 0, e.g. ${name === 'maxAgeMs' ? '12h' : '30m'}`, {
          path: `server.session.${name.replace(/Ms$/, '')}`,
        });
      }
    }
    this.#database = database;
    this.#settings = settings;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#activityEveryMs = activityIntervalOf(settings);
  }

  /** How often a session's activity is written (ms). */
  get activityIntervalMs(): number {
    return this.#activityEveryMs;
  }

  #expiry(createdAt: number, lastSeen: number): number {
    return Math.min(createdAt + this.#settings.maxAgeMs, lastSeen + this.#settings.idleTimeoutMs);
  }

  /** The session table could not be used: fail closed, saying what to do. */
  #unavailable(action: 'read' | 'write', err: unknown): DatabaseError {
    this.#log?.warn({ err: (err as Error)?.message }, `admin UI sessions: could not ${action} the session table`);
    return new DatabaseError(
      `the admin UI sessions could not be ${action === 'read' ? 'read' : 'written'} in the ${describeKind(this.#database.kind)}: the request is refused until it answers`,
      {
        cause: err,
        fix: 'check that the database is reachable (GET /readyz) and that every node runs the same Sesame version (migration 8 creates admin_sessions); the session is kept, retry then',
      },
    );
  }

  /**
   * Open a session for a token that was just authenticated. Also deletes every expired session
   * (of any token) and, past {@link MAX_SESSIONS_PER_TOKEN}, this token's least recently used ones.
   */
  async open(token: Readonly<TokenInfo>): Promise<OpenedSession> {
    const id = randomBytes(32).toString('base64url');
    const csrf = csrfOf(id);
    const at = this.#now();
    const expiresAt = this.#expiry(at, at);
    const iso = new Date(at).toISOString();
    try {
      await this.#database.write(async (trx) => {
        await trx.deleteFrom('admin_sessions').where('expires_at', '<=', iso).execute();
        const held = await trx
          .selectFrom('admin_sessions')
          .select('id_hash')
          .where('token_id', '=', token.id)
          .orderBy('last_seen_at', 'desc')
          .orderBy('id_hash')
          .execute();
        const over = held.slice(MAX_SESSIONS_PER_TOKEN - 1).map((r) => r.id_hash);
        if (over.length > 0) await trx.deleteFrom('admin_sessions').where('id_hash', 'in', over).execute();
        await trx
          .insertInto('admin_sessions')
          .values({
            id_hash: sha256Hex(id),
            token_id: token.id,
            csrf_hash: sha256Hex(csrf),
            created_at: iso,
            last_seen_at: iso,
            expires_at: new Date(expiresAt).toISOString(),
          })
          .execute();
      });
    } catch (err) {
      throw this.#unavailable('write', err);
    }
    return { id, csrf, expiresAt };
  }

  /**
   * The session of a cookie value with its token as committed now: a live session, a refused one
   * (its token was revoked, expired or deleted: the session is ended here), or undefined (signed
   * out, idle, too old, or never opened). Its use counts as activity (written at most every
   * {@link activityIntervalMs}). Throws `DatabaseError` (503) when the table cannot be read.
   */
  async get(id: string): Promise<LiveSession | RefusedSession | undefined> {
    // Not a value `open` makes: no session, and no query for it.
    if (!COOKIE_VALUE.test(id)) return undefined;
    const hash = sha256Hex(id);
    let row: SessionRow | undefined;
    try {
      row = await this.#lookup(hash);
    } catch (err) {
      throw this.#unavailable('read', err);
    }
    if (row === undefined) return undefined;
    const at = this.#now();
    const createdAt = Date.parse(row.created_at);
    const lastSeen = Date.parse(row.last_seen_at);
    // The row's own expiry too: a node with shorter limits may have written it.
    const expiresAt = Math.min(this.#expiry(createdAt, lastSeen), Date.parse(row.expires_at));
    if (!(at < expiresAt)) {
      await this.#delete(hash);
      return undefined;
    }
    const token = tokenOf(row);
    const refused = refusalOf(token, at);
    if (token === undefined || refused !== undefined) {
      await this.#delete(hash);
      return { refused: refused ?? 'unknown' };
    }
    let expiry = expiresAt;
    if (at - lastSeen >= this.#activityEveryMs) {
      expiry = this.#expiry(createdAt, at);
      await this.#touch(hash, at, expiry);
    }
    return { token, csrfHash: row.csrf_hash, expiresAt: expiry };
  }

  /** True when `presented` is the session's CSRF token (its sha256 against the kept one, in constant time). */
  static csrfMatches(session: Pick<LiveSession, 'csrfHash'>, presented: string | undefined): boolean {
    if (typeof presented !== 'string' || presented === '') return false;
    const kept = Buffer.from(session.csrfHash, 'hex');
    const given = Buffer.from(sha256Hex(presented), 'hex');
    return kept.length === given.length && timingSafeEqual(kept, given);
  }

  /** End a session (sign out); true when there was one. */
  async close(id: string): Promise<boolean> {
    try {
      const result = await this.#database.write((trx) =>
        trx.deleteFrom('admin_sessions').where('id_hash', '=', sha256Hex(id)).executeTakeFirst(),
      );
      return Number(result.numDeletedRows) > 0;
    } catch (err) {
      throw this.#unavailable('write', err);
    }
  }

  /** Delete every expired session; how many there were. */
  async prune(): Promise<number> {
    const iso = new Date(this.#now()).toISOString();
    try {
      const result = await this.#database.write((trx) =>
        trx.deleteFrom('admin_sessions').where('expires_at', '<=', iso).executeTakeFirst(),
      );
      return Number(result.numDeletedRows);
    } catch (err) {
      throw this.#unavailable('write', err);
    }
  }

  /** Sessions in the table, live or not yet pruned (tests and diagnostics). */
  async count(): Promise<number> {
    const row = await this.#database.kysely
      .selectFrom('admin_sessions')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async #lookup(hash: string): Promise<SessionRow | undefined> {
    // Compiled once (building the query costs more than running it); placeholders per dialect.
    this.#lookupSql ??= sessionLookupSql(this.#database);
    const result = await this.#database.kysely.executeQuery<SessionRow>(CompiledQuery.raw(this.#lookupSql, [hash]));
    const row = result.rows[0];
    return row === undefined ? undefined : { ...row, t_reveal: row.t_reveal === null ? null : Number(row.t_reveal) };
  }

  /** Delete an ended session. A failure is logged, not thrown: the caller refuses the session anyway. */
  async #delete(hash: string): Promise<void> {
    try {
      await this.#database.write((trx) => trx.deleteFrom('admin_sessions').where('id_hash', '=', hash).execute());
    } catch (err) {
      this.#log?.warn({ err: (err as Error)?.message }, 'admin UI sessions: could not delete an ended session (the next sign in prunes it)');
    }
  }

  /**
   * Record activity. A failure is logged and the request goes on: the session was read and is
   * live; the next request tries again, and until one succeeds the idle timeout counts from the
   * activity recorded before (it can only end sooner).
   */
  async #touch(hash: string, at: number, expiresAt: number): Promise<void> {
    try {
      await this.#database.write(
        (trx) =>
          trx
            .updateTable('admin_sessions')
            .set({ last_seen_at: new Date(at).toISOString(), expires_at: new Date(expiresAt).toISOString() })
            .where('id_hash', '=', hash)
            // Another node may have recorded a later request meanwhile: never move back.
            .where('last_seen_at', '<', new Date(at).toISOString())
            .execute(),
        { busyTimeoutMs: 1000 },
      );
    } catch (err) {
      this.#log?.warn({ err: (err as Error)?.message }, 'admin UI sessions: could not record activity (tried again at the next request)');
    }
  }
}

/**
 * The one statement a request made with the cookie costs: the session by its primary key and its
 * token's row by the token's primary key (a left join: a deleted token reads as unknown). One
 * parameter, the sha256 of the cookie's value.
 */
export function sessionLookupSql(database: SesameDatabase): string {
  return database.kysely
    .selectFrom('admin_sessions as s')
    .leftJoin('api_tokens as t', 't.id', 's.token_id')
    .select([
      's.id_hash',
      's.token_id',
      's.csrf_hash',
      's.created_at',
      's.last_seen_at',
      's.expires_at',
      't.id as t_id',
      't.name as t_name',
      't.role as t_role',
      't.namespace as t_namespace',
      't.reveal as t_reveal',
      't.created_at as t_created_at',
      't.created_by as t_created_by',
      't.expires_at as t_expires_at',
      't.revoked_at as t_revoked_at',
      't.revoked_by as t_revoked_by',
    ])
    .where('s.id_hash', '=', '')
    .compile().sql;
}

function describeKind(kind: DatabaseKind): string {
  return kind === 'postgres' ? 'PostgreSQL database' : 'SQLite database';
}

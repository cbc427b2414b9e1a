/**
 * `SessionStore`: the admin UI's sessions kept in the database. What a row holds (hashes and a
 * token id, never the cookie, the CSRF token or the bearer token), how the token is checked again
 * through the row it references, idle and absolute expiry on a fake clock, activity written at
 * most once per interval, pruning, the per-token cap, and failing closed when the table cannot be
 * read.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type SesameDatabase } from '../../src/db/index.js';
import {
  ACTIVITY_INTERVAL_MS,
  activityIntervalOf,
  csrfOf,
  DEFAULT_SESSION,
  type LiveSession,
  MAX_SESSIONS_PER_TOKEN,
  SessionStore,
  sessionLookupSql,
} from '../../src/server/sessions.js';
import { sha256Hex } from '../../src/sha256.js';
import { TokenService } from '../../src/tokens/index.js';

const MINUTE = 60_000;
let clock: number;
let database: SesameDatabase;
let file: string;
let tokens: TokenService;
let store: SessionStore;

beforeEach(async () => {
  clock = Date.parse('2026-06-01T08:00:00.000Z');
  file = path.join(mkdtempSync(path.join(tmpdir(), 'sesame-sessions-')), 'sesame.db');
  database = await openDatabase(`sqlite:${file}`);
  await database.migrate();
  tokens = new TokenService(database, () => clock);
  store = new SessionStore(database, { now: () => clock });
});

afterEach(async () => {
  await tokens.close();
  await database.close();
});

const rows = () => database.kysely.selectFrom('admin_sessions').selectAll().orderBy('created_at').execute();

function live(found: Awaited<ReturnType<SessionStore['get']>>): LiveSession {
  if (found === undefined || 'refused' in found) throw new Error(`expected a live session, got ${JSON.stringify(found)}`);
  return found;
}

describe('SessionStore.open', () => {
  it('keeps the sha256 of the cookie and of the CSRF token and the token row id, never any of them in clear', async () => {
    const { token, info } = await tokens.create({ role: 'admin', reveal: true, createdBy: 'test' });
    const opened = await store.open(info);
    expect(opened.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(opened.csrf).toBe(csrfOf(opened.id));
    expect(opened.expiresAt).toBe(clock + DEFAULT_SESSION.idleTimeoutMs);
    expect(await rows()).toEqual([
      {
        id_hash: sha256Hex(opened.id),
        token_id: info.id,
        csrf_hash: sha256Hex(opened.csrf),
        created_at: '2026-06-01T08:00:00.000Z',
        last_seen_at: '2026-06-01T08:00:00.000Z',
        expires_at: '2026-06-01T08:30:00.000Z',
      },
    ]);
    // The file itself (and its write-ahead log): nothing of the three in clear.
    await database.close();
    database = await openDatabase(`sqlite:${file}`);
    tokens = new TokenService(database, () => clock);
    const bytes = Buffer.concat([file, `${file}-wal`].filter((name) => existsSync(name)).map((name) => readFileSync(name)));
    // The scan reads the rows: the hashes are there.
    expect(bytes.includes(Buffer.from(sha256Hex(opened.id)))).toBe(true);
    for (const secret of [token, opened.id, opened.csrf]) expect(bytes.includes(Buffer.from(secret)), 'a secret in the database file').toBe(false);
  });

  it('derives a different CSRF token for every cookie, and neither is the other\'s hash', () => {
    expect(csrfOf('a'.repeat(43))).toBe(csrfOf('a'.repeat(43)));
    expect(csrfOf('a'.repeat(43))).not.toBe(csrfOf('b'.repeat(43)));
    expect(csrfOf('a'.repeat(43))).not.toContain(sha256Hex('a'.repeat(43)).slice(0, 16));
  });

  it(`keeps at most ${MAX_SESSIONS_PER_TOKEN} sessions per token, ending the least recently used`, async () => {
    const { info } = await tokens.create({ role: 'operator', createdBy: 'test' });
    const { info: other } = await tokens.create({ role: 'operator', createdBy: 'test' });
    const mine = await store.open(other);
    const first = await store.open(info);
    for (let i = 1; i < MAX_SESSIONS_PER_TOKEN; i++) {
      clock += 1000;
      await store.open(info);
    }
    clock += ACTIVITY_INTERVAL_MS;
    // Used again: no longer the least recently used one.
    live(await store.get(first.id));
    const second = (await rows()).filter((r) => r.token_id === info.id).sort((a, b) => a.last_seen_at.localeCompare(b.last_seen_at))[0];
    await store.open(info);
    const held = (await rows()).filter((r) => r.token_id === info.id);
    expect(held).toHaveLength(MAX_SESSIONS_PER_TOKEN);
    expect(held.map((r) => r.id_hash)).not.toContain(second?.id_hash);
    live(await store.get(first.id));
    // Another token's sessions are not touched.
    live(await store.get(mine.id));
  });
});

describe('SessionStore.get', () => {
  it('answers the session with its token as the token row says now', async () => {
    const { info } = await tokens.create({ role: 'operator', namespace: 'acme', reveal: false, createdBy: 'test' });
    const opened = await store.open(info);
    const session = live(await store.get(opened.id));
    expect(session.token).toEqual(info);
    expect(session.csrfHash).toBe(sha256Hex(opened.csrf));
    expect(session.expiresAt).toBe(opened.expiresAt);
    expect(await store.get(`${opened.id}x`)).toBeUndefined();
    expect(await store.get('')).toBeUndefined();
  });

  it('costs one statement that reads both rows by their primary keys', async () => {
    const plan = await sql
      .raw<{ detail: string }>(`explain query plan ${sessionLookupSql(database).replace('?', "'x'")}`)
      .execute(database.kysely);
    const steps = plan.rows.map((r) => r.detail);
    expect(steps).toHaveLength(2);
    expect(steps[0]).toMatch(/^SEARCH s USING INDEX sqlite_autoindex_admin_sessions_1 \(id_hash=\?\)$/);
    expect(steps[1]).toMatch(/^SEARCH t USING INDEX sqlite_autoindex_api_tokens_1 \(id=\?\)( LEFT-JOIN)?$/);
  });

  it('matches the CSRF token only exactly', async () => {
    const { info } = await tokens.create({ role: 'admin', createdBy: 'test' });
    const opened = await store.open(info);
    const session = live(await store.get(opened.id));
    expect(SessionStore.csrfMatches(session, opened.csrf)).toBe(true);
    expect(SessionStore.csrfMatches(session, `${opened.csrf}x`)).toBe(false);
    expect(SessionStore.csrfMatches(session, opened.csrf.slice(1))).toBe(false);
    expect(SessionStore.csrfMatches(session, '')).toBe(false);
    expect(SessionStore.csrfMatches(session, undefined)).toBe(false);
    // The cookie is not the CSRF token.
    expect(SessionStore.csrfMatches(session, opened.id)).toBe(false);
  });

  it('refuses and ends a session whose token was revoked, expired or deleted', async () => {
    const revoked = await tokens.create({ role: 'admin', createdBy: 'test' });
    const expiring = await tokens.create({ role: 'admin', createdBy: 'test', expiresAt: new Date(clock + 5 * MINUTE).toISOString() });
    const deleted = await tokens.create({ role: 'admin', createdBy: 'test' });
    const a = await store.open(revoked.info);
    const b = await store.open(expiring.info);
    const c = await store.open(deleted.info);
    await tokens.revoke(revoked.info.id, 'test');
    await database.kysely.deleteFrom('api_tokens').where('id', '=', deleted.info.id).execute();
    clock += 5 * MINUTE;
    expect(await store.get(a.id)).toEqual({ refused: 'revoked' });
    expect(await store.get(b.id)).toEqual({ refused: 'expired' });
    expect(await store.get(c.id)).toEqual({ refused: 'unknown' });
    expect(await rows()).toEqual([]);
    // Ended: not refused again, gone.
    expect(await store.get(a.id)).toBeUndefined();
  });

  it('ends a session 30 minutes after its last recorded activity', async () => {
    const { info } = await tokens.create({ role: 'admin', createdBy: 'test' });
    const opened = await store.open(info);
    clock += 29 * MINUTE;
    live(await store.get(opened.id));
    clock += 29 * MINUTE;
    live(await store.get(opened.id));
    clock += 30 * MINUTE;
    expect(await store.get(opened.id)).toBeUndefined();
    expect(await rows()).toEqual([]);
  });

  it('ends a session 12 hours after sign in, however busy', async () => {
    const { info } = await tokens.create({ role: 'admin', createdBy: 'test' });
    const opened = await store.open(info);
    for (let i = 0; i < 24; i++) {
      clock += 29 * MINUTE;
      live(await store.get(opened.id));
    }
    clock += 24 * MINUTE; // 11 h 60 min: 12 h
    expect(await store.get(opened.id)).toBeUndefined();
  });

  it('writes activity at most once a minute, and the idle timeout counts from the activity written', async () => {
    const { info } = await tokens.create({ role: 'admin', createdBy: 'test' });
    const opened = await store.open(info);
    const signedIn = (await rows())[0]?.last_seen_at;
    clock += 59_000;
    expect(live(await store.get(opened.id)).expiresAt).toBe(Date.parse(signedIn as string) + 30 * MINUTE);
    expect((await rows())[0]?.last_seen_at).toBe(signedIn);
    clock += 1000;
    expect(live(await store.get(opened.id)).expiresAt).toBe(clock + 30 * MINUTE);
    expect((await rows())[0]).toMatchObject({ last_seen_at: new Date(clock).toISOString(), expires_at: new Date(clock + 30 * MINUTE).toISOString() });
    // A request 59 s after the recorded one is not written: the session ends 30 min after the
    // recorded one, sooner than 30 min after that request, never later.
    const recorded = clock;
    clock += 59_000;
    live(await store.get(opened.id));
    clock = recorded + 30 * MINUTE;
    expect(await store.get(opened.id)).toBeUndefined();
  });

  it('writes activity a quarter of the idle timeout apart when that is under a minute', () => {
    expect(activityIntervalOf(DEFAULT_SESSION)).toBe(ACTIVITY_INTERVAL_MS);
    expect(activityIntervalOf({ idleTimeoutMs: 2 * MINUTE, maxAgeMs: 3600_000 })).toBe(30_000);
    expect(new SessionStore(database, { settings: { idleTimeoutMs: 8_000, maxAgeMs: 60_000 } }).activityIntervalMs).toBe(2000);
  });

  it('refuses limits that are not positive durations, naming the config setting', () => {
    expect(() => new SessionStore(database, { settings: { idleTimeoutMs: 0, maxAgeMs: 1000 } })).toThrow(
      'config server.session.idleTimeout: must be a duration longer than 0, e.g. 30m',
    );
    expect(() => new SessionStore(database, { settings: { idleTimeoutMs: 1000, maxAgeMs: Number.NaN } })).toThrow(
      'config server.session.maxAge: must be a duration longer than 0, e.g. 12h',
    );
  });

  it('takes the earlier expiry when another node with shorter limits wrote the row', async () => {
    const { info } = await tokens.create({ role: 'admin', createdBy: 'test' });
    const strict = new SessionStore(database, { settings: { idleTimeoutMs: 5 * MINUTE, maxAgeMs: 3600_000 }, now: () => clock });
    const opened = await strict.open(info);
    clock += 6 * MINUTE;
    expect(await store.get(opened.id)).toBeUndefined();
  });

  it('shares activity between two stores on one database (two nodes)', async () => {
    const { info } = await tokens.create({ role: 'admin', createdBy: 'test' });
    const other = new SessionStore(database, { now: () => clock });
    const opened = await store.open(info);
    clock += 20 * MINUTE;
    live(await other.get(opened.id));
    clock += 20 * MINUTE;
    // 40 minutes after sign in, 20 after the activity the other node wrote.
    live(await store.get(opened.id));
    expect(await other.close(opened.id)).toBe(true);
    expect(await store.get(opened.id)).toBeUndefined();
  });
});

describe('SessionStore.close and prune', () => {
  it('ends one session, leaves the others, and deletes the expired ones', async () => {
    const a = await tokens.create({ role: 'admin', createdBy: 'test' });
    const b = await tokens.create({ role: 'admin', createdBy: 'test' });
    const a1 = await store.open(a.info);
    const a2 = await store.open(a.info);
    const b1 = await store.open(b.info);
    expect(await store.close(a1.id)).toBe(true);
    expect(await store.close(a1.id)).toBe(false);
    expect(await store.get(a1.id)).toBeUndefined();
    live(await store.get(a2.id));
    live(await store.get(b1.id));
    clock += 31 * MINUTE;
    expect(await store.count()).toBe(2);
    expect(await store.prune()).toBe(2);
    expect(await store.count()).toBe(0);
  });

  it('prunes every expired session at sign in', async () => {
    const { info } = await tokens.create({ role: 'admin', createdBy: 'test' });
    for (let i = 0; i < 3; i++) await store.open(info);
    clock += 30 * MINUTE;
    await store.open(info);
    expect(await store.count()).toBe(1);
  });
});

describe('failing closed', () => {
  it('refuses with 503 and says what to do when the session table cannot be read, naming no cookie', async () => {
    const { info } = await tokens.create({ role: 'admin', createdBy: 'test' });
    const opened = await store.open(info);
    await sql`alter table admin_sessions rename to admin_sessions_away`.execute(database.kysely);
    const err = await store.get(opened.id).then(
      () => undefined,
      (e: unknown) => e as { status: number; code: string; message: string; fix?: string },
    );
    expect(err).toMatchObject({
      status: 503,
      code: 'database_unavailable',
      message: 'the admin UI sessions could not be read in the SQLite database: the request is refused until it answers',
    });
    expect(err?.fix).toContain('check that the database is reachable (GET /readyz)');
    expect(JSON.stringify(err)).not.toContain(opened.id);
    await expect(store.open(info)).rejects.toMatchObject({ status: 503, code: 'database_unavailable' });
    await expect(store.close(opened.id)).rejects.toMatchObject({ status: 503 });
    await sql`alter table admin_sessions_away rename to admin_sessions`.execute(database.kysely);
    live(await store.get(opened.id));
  });
});

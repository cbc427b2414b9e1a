/**
 * Migration 8 (admin-sessions) on SQLite and PostgreSQL: a database of the version before gets the
 * table and its two indexes, a token created before the upgrade opens a session, and the store's
 * whole cycle (open, get with activity, CSRF, revocation, sign out) works on each dialect.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, openDatabase, type SesameDatabase } from '../../src/db/index.js';
import { type LiveSession, SessionStore } from '../../src/server/sessions.js';
import { TokenService } from '../../src/tokens/index.js';
import { useDatabases } from '../builtin/helpers.js';

const databases = useDatabases();
const VERSION = MIGRATIONS.findIndex((m) => m.name === 'admin-sessions') + 1;

async function indexNames(db: SesameDatabase): Promise<string[]> {
  const result =
    db.kind === 'postgres'
      ? await sql<{ name: string }>`select indexname as name from pg_indexes where tablename = 'admin_sessions' order by indexname`.execute(db.kysely)
      : await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'admin_sessions' order by name`.execute(db.kysely);
  return result.rows.map((r) => r.name);
}

function live(found: Awaited<ReturnType<SessionStore['get']>>): LiveSession {
  if (found === undefined || 'refused' in found) throw new Error(`expected a live session, got ${JSON.stringify(found)}`);
  return found;
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`migration ${VERSION} (admin-sessions) on ${dialect}`, () => {
    it('adds the table and its indexes to a database of the version before; a token made before opens a session', async () => {
      expect(VERSION).toBe(8);
      const url = await databases.url(dialect);
      const old = await openDatabase(url, { migrations: MIGRATIONS.slice(0, VERSION - 1) });
      await old.migrate();
      const oldTokens = new TokenService(old);
      const { info } = await oldTokens.create({ role: 'operator', namespace: 'acme', reveal: true, createdBy: 'test' });
      await oldTokens.close();
      await old.close();

      const db = await openDatabase(url);
      const tokens = new TokenService(db);
      try {
        expect((await db.migrate()).applied).toEqual([`${VERSION}-admin-sessions`]);
        const names = await indexNames(db);
        expect(names).toEqual(expect.arrayContaining(['admin_sessions_by_expiry', 'admin_sessions_by_token']));
        const store = new SessionStore(db);
        const opened = await store.open(info);
        expect(live(await store.get(opened.id)).token).toEqual(info);
      } finally {
        await tokens.close();
        await db.close();
      }
    });

    it('runs the whole cycle: activity, CSRF, revocation, sign out, prune', async () => {
      let clock = Date.parse('2026-06-01T08:00:00.000Z');
      const db = await openDatabase(await databases.url(dialect));
      await db.migrate();
      const tokens = new TokenService(db, () => clock);
      try {
        const store = new SessionStore(db, { now: () => clock });
        const { info } = await tokens.create({ role: 'admin', reveal: true, createdBy: 'test' });
        const opened = await store.open(info);
        clock += 10 * 60_000;
        const session = live(await store.get(opened.id));
        expect(session.token).toMatchObject({ id: info.id, role: 'admin', reveal: true, namespace: '' });
        expect(session.expiresAt).toBe(clock + 30 * 60_000);
        expect(SessionStore.csrfMatches(session, opened.csrf)).toBe(true);
        expect(SessionStore.csrfMatches(session, `${opened.csrf}=`)).toBe(false);
        const row = await db.kysely.selectFrom('admin_sessions').selectAll().executeTakeFirstOrThrow();
        expect(row.last_seen_at).toBe(new Date(clock).toISOString());
        expect(JSON.stringify(row)).not.toContain(opened.id);
        expect(JSON.stringify(row)).not.toContain(opened.csrf);

        const other = await store.open(info);
        await tokens.revoke(info.id, 'test');
        expect(await store.get(opened.id)).toEqual({ refused: 'revoked' });
        const { info: second } = await tokens.create({ role: 'auditor', createdBy: 'test' });
        const third = await store.open(second);
        expect(await store.close(third.id)).toBe(true);
        expect(await store.get(third.id)).toBeUndefined();
        expect(await store.count()).toBe(1);
        clock += 31 * 60_000;
        expect(await store.prune()).toBe(1);
        expect(await store.get(other.id)).toBeUndefined();
      } finally {
        await tokens.close();
        await db.close();
      }
    });
  });
}

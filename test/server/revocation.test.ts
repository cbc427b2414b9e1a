/**
 * Token lookups are cached on SQLite (rows kept between commits; at every request the WAL-index
 * header in the -shm file, or PRAGMA data_version where it cannot be read, tells whether anything
 * was committed since) and not on PostgreSQL. Whatever the cache does, a revocation committed before a request — through the
 * API, through another TokenService of this process, through another connection, or by another
 * process — refuses that request; expiry follows the clock; unknown tokens are not remembered.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/index.js';
import { openDatabase, type SesameDatabase } from '../../src/db/index.js';
import { WalIndexHeader } from '../../src/db/wal-index.js';
import { hashToken, TokenService } from '../../src/tokens/index.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { startTestServer, type TestServer } from './helpers.js';

let pgHandle: PostgresHandle | undefined;
const opened: SesameDatabase[] = [];
const services: TokenService[] = [];

beforeAll(async () => {
  pgHandle = await startPostgres();
}, 120_000);

afterAll(async () => {
  for (const s of services) await s.close();
  for (const db of opened) await db.close().catch(() => {});
  await pgHandle?.stop();
});

const sqliteFile = () => path.join(mkdtempSync(path.join(tmpdir(), 'sesame-revoke-')), 'sesame.db');

async function open(url: string): Promise<SesameDatabase> {
  const db = await openDatabase(url);
  opened.push(db);
  await db.migrate();
  return db;
}

function service(db: SesameDatabase, now?: () => number): TokenService {
  const s = new TokenService(db, now);
  services.push(s);
  return s;
}

/** Revoke from a separate process, as `sesame tokens revoke` run on the same host does. */
function revokeInAnotherProcess(file: string, id: string): void {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('busy_timeout = 5000');
    const r = db.prepare("update api_tokens set revoked_at = ?, revoked_by = 'cli' where id = ?").run(new Date().toISOString(), process.argv[2]);
    db.close();
    if (r.changes !== 1) process.exit(3);
  `;
  const child = spawnSync(process.execPath, ['-e', script, file, id], { cwd: process.cwd(), encoding: 'utf8' });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
}

describe('TokenService on SQLite', () => {
  it('answers from the cache until the database changes, then looks up again', async () => {
    const tokens = service(await open(`sqlite:${sqliteFile()}`));
    const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    for (let i = 0; i < 5; i++) expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    expect(await tokens.stats()).toMatchObject({ caching: true, lookups: 1, hits: 4 });
    // Any commit, even one that does not touch api_tokens, drops the cache.
    const other = await tokens.create({ role: 'auditor', createdBy: 'test' });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    expect(await tokens.stats()).toMatchObject({ lookups: 2, hits: 4, drops: 1 });
    expect(await tokens.authenticate(other.token)).toMatchObject({ id: other.info.id });
  });

  it('sees a revocation made through another connection on the next call', async () => {
    const file = sqliteFile();
    const tokens = service(await open(`sqlite:${file}`));
    const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    const other = new BetterSqlite3(file);
    try {
      other.prepare("update api_tokens set revoked_at = '2026-01-01T00:00:00.000Z', revoked_by = 'x' where id = ?").run(info.id);
    } finally {
      other.close();
    }
    expect(await tokens.authenticate(token)).toEqual({ refused: 'revoked' });
  });

  it('sees a revocation made by another process on the next call', async () => {
    const file = sqliteFile();
    const tokens = service(await open(`sqlite:${file}`));
    const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    revokeInAnotherProcess(file, info.id);
    expect(await tokens.authenticate(token)).toEqual({ refused: 'revoked' });
  });

  it('sees a revocation made by another TokenService of this process (one shared connection)', async () => {
    const file = sqliteFile();
    const a = service(await open(`sqlite:${file}`));
    const b = service(await open(`sqlite:${file}`));
    const { token, info } = await a.create({ role: 'runtime', createdBy: 'test' });
    expect(await a.authenticate(token)).toMatchObject({ id: info.id });
    await b.revoke(info.id, 'tok_admin');
    expect(await a.authenticate(token)).toEqual({ refused: 'revoked' });
  });

  it('learns of commits from the WAL-index header, through checkpoints and WAL restarts', async () => {
    const file = sqliteFile();
    const tokens = service(await open(`sqlite:${file}`));
    const other = new BetterSqlite3(file);
    other.pragma('busy_timeout = 5000');
    try {
      for (let i = 0; i < 30; i++) {
        const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
        expect(tokens.authenticateNow(token) ?? (await tokens.authenticate(token))).toMatchObject({ id: info.id });
        expect(tokens.authenticateNow(token)).toMatchObject({ id: info.id });
        // Every few rounds the other connection checkpoints, so the next writer restarts the WAL
        // from its start (same file size, new salts): the header must still move.
        if (i % 3 === 0) other.pragma('wal_checkpoint(TRUNCATE)');
        if (i % 3 === 1) other.pragma('wal_checkpoint(RESTART)');
        other.prepare("update api_tokens set revoked_at = '2026-01-01T00:00:00.000Z', revoked_by = 'x' where id = ?").run(info.id);
        expect(tokens.authenticateNow(token)).toEqual({ refused: 'revoked' });
      }
      expect(await tokens.stats()).toMatchObject({ caching: true, detection: 'wal-index' });
    } finally {
      other.close();
    }
  });

  it('shares one commit check per event-loop turn only for requests received before the turn', async () => {
    const file = sqliteFile();
    const tokens = service(await open(`sqlite:${file}`));
    const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    await new Promise((resolve) => setImmediate(resolve));
    const other = new BetterSqlite3(file);
    try {
      // A new turn: the first call checks the database; the revocation commits right after.
      expect(tokens.authenticateNow(token, { receivedBeforeThisTurn: true })).toMatchObject({ id: info.id });
      other.prepare("update api_tokens set revoked_at = '2026-01-01T00:00:00.000Z', revoked_by = 'x' where id = ?").run(info.id);
      // A request that was already on its way when the turn began shares that check…
      expect(tokens.authenticateNow(token, { receivedBeforeThisTurn: true })).toMatchObject({ id: info.id });
      // …one that may have arrived since (a second request on a connection in this turn) does not…
      expect(tokens.authenticateNow(token, { receivedBeforeThisTurn: false })).toEqual({ refused: 'revoked' });
      expect(tokens.authenticateNow(token)).toEqual({ refused: 'revoked' });
    } finally {
      other.close();
    }
    // …and in the next turn nobody does.
    await new Promise((resolve) => setImmediate(resolve));
    expect(tokens.authenticateNow(token, { receivedBeforeThisTurn: true })).toEqual({ refused: 'revoked' });
    expect((await tokens.stats()).turnReuses).toBe(1);
  });

  it('drops the cache at once when this service revokes a token, in the same turn too', async () => {
    const tokens = service(await open(`sqlite:${sqliteFile()}`));
    const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    expect(tokens.authenticateNow(token, { receivedBeforeThisTurn: true })).toMatchObject({ id: info.id });
    await tokens.revoke(info.id, 'tok_admin');
    expect(tokens.authenticateNow(token, { receivedBeforeThisTurn: true })).toEqual({ refused: 'revoked' });
  });

  /** A token service and an inline audit writer on one file, wired as the server wires them. */
  async function withOwnAudit(file: string) {
    const db = await open(`sqlite:${file}`);
    const tokens = service(db);
    const audit = new AuditLog(db, undefined, { writer: 'inline', onInlineCommit: (b, a) => tokens.noteOwnCommit(b, a) });
    const record = (i: number) => audit.append({ actor: 'tok_x', action: 'resolve', namespace: '', target: `secret://builtin/k${i}`, outcome: 'ok' });
    // The inline connection opens in the background; until then batches go through the main one.
    for (let i = 0; i < 3; i++) await record(i);
    return { tokens, audit, record };
  }
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  it("keeps the cache across this process's own audit commits (nothing else committed)", async () => {
    const file = sqliteFile();
    const { tokens, audit, record } = await withOwnAudit(file);
    try {
      const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
      expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
      const before = await tokens.stats();
      for (let i = 0; i < 20; i++) {
        await record(i);
        await nextTurn();
        expect(tokens.authenticateNow(token)).toMatchObject({ id: info.id });
      }
      const after = await tokens.stats();
      expect(after.lookups - before.lookups).toBe(0);
      expect(after.drops - before.drops).toBe(0);
      expect(after.adoptedCommits - before.adoptedCommits).toBe(20);
      expect((await audit.verify()).ok).toBe(true);
      // The header really moved at each of those commits: another connection's commit, seen as usual, drops the cache.
      const other = new BetterSqlite3(file);
      try {
        other.prepare("update api_tokens set revoked_at = '2026-01-01T00:00:00.000Z', revoked_by = 'x' where id = ?").run(info.id);
      } finally {
        other.close();
      }
      expect(tokens.authenticateNow(token)).toEqual({ refused: 'revoked' });
    } finally {
      await audit.close();
    }
  });

  it('does not carry the cache over an audit commit when something else was committed before it', async () => {
    const file = sqliteFile();
    const { tokens, audit, record } = await withOwnAudit(file);
    const other = new BetterSqlite3(file);
    other.pragma('busy_timeout = 5000');
    try {
      const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
      expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
      // Revoked by another connection after the last check, then this process commits audit
      // records: the audit commit's header "before" is not the one the check saw, so it is not adopted.
      other.prepare("update api_tokens set revoked_at = '2026-01-01T00:00:00.000Z', revoked_by = 'x' where id = ?").run(info.id);
      const adopted = (await tokens.stats()).adoptedCommits;
      await record(1);
      await nextTurn();
      expect((await tokens.stats()).adoptedCommits).toBe(adopted);
      expect(tokens.authenticateNow(token)).toEqual({ refused: 'revoked' });
      // The same through this process's main connection (an API revocation) between check and audit commit.
      const second = await tokens.create({ role: 'runtime', createdBy: 'test' });
      expect(await tokens.authenticate(second.token)).toMatchObject({ id: second.info.id });
      await nextTurn();
      const revoked = tokens.revoke(second.info.id, 'tok_admin');
      await Promise.all([revoked, record(2)]);
      await nextTurn();
      expect(tokens.authenticateNow(second.token)).toEqual({ refused: 'revoked' });
    } finally {
      other.close();
      await audit.close();
    }
  });

  it('does not carry the cache over when another connection committed between the audit commit and the read after it', async () => {
    const file = sqliteFile();
    const tokens = service(await open(`sqlite:${file}`));
    const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    const header = WalIndexHeader.open(file);
    if (!header) throw new Error('no WAL-index header to read');
    const other = new BetterSqlite3(file);
    try {
      const before = WalIndexHeader.buffer();
      const after = WalIndexHeader.buffer();
      // The header the last check saw; then "the audit commit" (a commit touching no token)
      // and, before the header is read again, a revocation by another connection.
      header.read(before);
      other.exec('create table "scratch_one" ("x" integer)');
      other.prepare("update api_tokens set revoked_at = '2026-01-01T00:00:00.000Z', revoked_by = 'x' where id = ?").run(info.id);
      header.read(after);
      expect(WalIndexHeader.commitsBetween(before, after)).toBe(2);
      tokens.noteOwnCommit(before, after);
      expect((await tokens.stats()).adoptedCommits).toBe(0);
      expect(tokens.authenticateNow(token)).toEqual({ refused: 'revoked' });
      // One commit, nothing else: carried over. A checkpoint that restarts the WAL rewrites the
      // header but is not a commit: the counter does not move.
      header.read(before);
      other.pragma('wal_checkpoint(TRUNCATE)');
      other.exec('create table "scratch_two" ("x" integer)');
      header.read(after);
      expect(WalIndexHeader.commitsBetween(before, after)).toBe(1);
      tokens.noteOwnCommit(before, after);
      expect((await tokens.stats()).adoptedCommits).toBe(1);
    } finally {
      other.close();
      header.close();
    }
  });

  it('falls back to PRAGMA data_version when there is no -shm file to read (rollback journal)', async () => {
    const file = sqliteFile();
    const db = await open(`sqlite:${file}`);
    await sql`pragma journal_mode = delete`.execute(db.kysely);
    const tokens = service(db);
    const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    expect(await tokens.stats()).toMatchObject({ caching: true, detection: 'data_version', lookups: 1, hits: 1 });
    revokeInAnotherProcess(file, info.id);
    expect(await tokens.authenticate(token)).toEqual({ refused: 'revoked' });
  });

  it('checks expiry against the clock even when the row is cached', async () => {
    let now = Date.now();
    const tokens = service(await open(`sqlite:${sqliteFile()}`), () => now);
    const { token } = await tokens.create({ role: 'runtime', createdBy: 'test', expiresAt: new Date(now + 60_000).toISOString() });
    expect(await tokens.authenticate(token)).toMatchObject({ role: 'runtime' });
    now += 60_000;
    expect(await tokens.authenticate(token)).toEqual({ refused: 'expired' });
    expect((await tokens.stats()).lookups).toBe(1);
  });

  it('does not remember unknown tokens: one created elsewhere afterwards is accepted', async () => {
    const file = sqliteFile();
    const tokens = service(await open(`sqlite:${file}`));
    const token = `sesame_${'x'.repeat(43)}`;
    expect(await tokens.authenticate(token)).toEqual({ refused: 'unknown' });
    const other = new BetterSqlite3(file);
    try {
      other
        .prepare(
          "insert into api_tokens (id, name, token_hash, role, namespace, reveal, created_at, created_by) values ('tok_elsewhere', 'x', ?, 'runtime', '', 0, ?, 'cli')",
        )
        .run(hashToken(token), new Date().toISOString());
    } finally {
      other.close();
    }
    expect(await tokens.authenticate(token)).toMatchObject({ id: 'tok_elsewhere' });
  });

  it('returns frozen info that callers cannot use to alter the cache', async () => {
    const tokens = service(await open(`sqlite:${sqliteFile()}`));
    const { token } = await tokens.create({ role: 'runtime', namespace: 'acme', createdBy: 'test' });
    const found = await tokens.authenticate(token);
    expect(Object.isFrozen(found)).toBe(true);
    expect(() => {
      (found as { namespace: string }).namespace = '';
    }).toThrow(TypeError);
    expect(await tokens.authenticate(token)).toMatchObject({ namespace: 'acme' });
  });

  it('keeps working through the main connection after close(), and without a cache when asked', async () => {
    const db = await open(`sqlite:${sqliteFile()}`);
    const tokens = service(db);
    const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    await tokens.close();
    await db.kysely.updateTable('api_tokens').set({ revoked_at: new Date().toISOString(), revoked_by: 'x' }).execute();
    expect(await tokens.authenticate(token)).toEqual({ refused: 'revoked' });
    const uncached = new TokenService(db, undefined, { cache: false });
    expect(await uncached.authenticate(token)).toEqual({ refused: 'revoked' });
    expect(await uncached.stats()).toMatchObject({ caching: false, hits: 0, lookups: 1 });
  });

  it('does not cache an in-memory database (no other connection could tell it about changes)', async () => {
    const tokens = service(await open('sqlite::memory:'));
    const { token } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    await tokens.authenticate(token);
    await tokens.authenticate(token);
    expect(await tokens.stats()).toMatchObject({ caching: false, hits: 0, lookups: 2 });
  });
});

describe('TokenService on PostgreSQL', () => {
  it('looks every token up (no cache) and sees a revocation from another connection at once', async () => {
    if (!pgHandle) throw new Error('PostgreSQL did not start');
    const url = await pgHandle.createDatabase('sesame_revoke');
    const tokens = service(await open(url));
    const { token, info } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    expect(await tokens.authenticate(token)).toMatchObject({ id: info.id });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query("update api_tokens set revoked_at = $1, revoked_by = 'cli' where id = $2", [new Date().toISOString(), info.id]);
    } finally {
      await client.end();
    }
    expect(await tokens.authenticate(token)).toEqual({ refused: 'revoked' });
    expect(await tokens.stats()).toMatchObject({ caching: false, hits: 0, lookups: 3 });
  });
});

describe('through the API', () => {
  const resolveBody = { reference: 'secret://builtin/app/db-password' };

  async function serverWithSecret(database?: string): Promise<{ t: TestServer; runtime: string; id: string }> {
    const t = await startTestServer(database ? { config: { database } } : {});
    const admin = (await t.token('admin')).token;
    expect((await t.call('PUT', '/api/v1/secrets/app%2Fdb-password', { token: admin, body: { value: 'pw-0123456789' } })).status).toBe(200);
    const { token, info } = await t.token('runtime');
    return { t, runtime: token, id: info.id };
  }

  it('SQLite: refuses a token on the request after another process revoked it, with the cache warm', async () => {
    const { t, runtime, id } = await serverWithSecret();
    try {
      // Reads that commit nothing.
      const operator = await t.token('operator');
      for (let i = 0; i < 3; i++) expect((await t.call('GET', '/api/v1/cache', { token: operator.token })).status).toBe(200);
      expect((await t.server.services.tokens.stats()).hits).toBeGreaterThanOrEqual(2);
      revokeInAnotherProcess(path.join(t.dir, 'sesame.db'), operator.info.id);
      const refused = await t.call('GET', '/api/v1/cache', { token: operator.token });
      expect(refused.status).toBe(401);
      expect(refused.body.error.message).toContain('was revoked');

      const answers = await Promise.all(Array.from({ length: 8 }, () => t.call('POST', '/api/v1/resolve', { token: runtime, body: resolveBody })));
      expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
      // Each resolve commits its audit record; those commits leave the token cache in place.
      const warm = await t.server.services.tokens.stats();
      for (let i = 0; i < 5; i++) expect((await t.call('POST', '/api/v1/resolve', { token: runtime, body: resolveBody })).status).toBe(200);
      const resolved = await t.server.services.tokens.stats();
      expect(resolved.lookups - warm.lookups).toBe(0);
      expect(resolved.adoptedCommits - warm.adoptedCommits).toBeGreaterThanOrEqual(5);
      revokeInAnotherProcess(path.join(t.dir, 'sesame.db'), id);
      const after = await t.call('POST', '/api/v1/resolve', { token: runtime, body: resolveBody });
      expect(after.status).toBe(401);
      expect(after.body.error.message).toContain('was revoked');
    } finally {
      await t.close();
    }
  });

  it('SQLite: refuses a token revoked through the API on its next request', async () => {
    const { t, runtime, id } = await serverWithSecret();
    try {
      const admin = (await t.token('admin')).token;
      expect((await t.call('POST', '/api/v1/resolve', { token: runtime, body: resolveBody })).status).toBe(200);
      expect((await t.call('DELETE', `/api/v1/tokens/${id}`, { token: admin })).status).toBe(200);
      expect((await t.call('POST', '/api/v1/resolve', { token: runtime, body: resolveBody })).status).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('PostgreSQL: refuses a token on the request after another connection revoked it', async () => {
    if (!pgHandle) throw new Error('PostgreSQL did not start');
    const url = await pgHandle.createDatabase('sesame_revoke_api');
    const { t, runtime, id } = await serverWithSecret(url);
    try {
      for (let i = 0; i < 3; i++) expect((await t.call('POST', '/api/v1/resolve', { token: runtime, body: resolveBody })).status).toBe(200);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query("update api_tokens set revoked_at = $1, revoked_by = 'cli' where id = $2", [new Date().toISOString(), id]);
      } finally {
        await client.end();
      }
      expect((await t.call('POST', '/api/v1/resolve', { token: runtime, body: resolveBody })).status).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('authenticates HEAD requests like the GET route they come from', async () => {
    const t = await startTestServer();
    try {
      const auditor = (await t.token('auditor')).token;
      for (const p of ['/api/v1/tokens', '/api/v1/audit', '/api/v1/stores', '/api/v1/cache']) {
        expect((await t.call('HEAD', p)).status).toBe(401);
      }
      expect((await t.call('HEAD', '/api/v1/tokens', { token: auditor })).status).toBe(403);
      expect((await t.call('HEAD', '/api/v1/audit', { token: auditor })).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

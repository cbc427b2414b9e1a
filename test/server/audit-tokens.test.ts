/**
 * The audit trail and the token service, on SQLite and on PostgreSQL (a throwaway cluster from
 * startPostgres; missing PostgreSQL binaries fail the run, they never skip it): the chain, its
 * verification after tampering (through the library and the API), serialized appends from two
 * processes' worth of connections, filters and paging, and token lifecycles.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, GENESIS_HASH, hashRecord } from '../../src/audit/index.js';
import { openDatabase, type SesameDatabase } from '../../src/db/index.js';
import { hashToken, MIN_TOKEN_LENGTH, TokenService } from '../../src/tokens/index.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { startTestServer } from './helpers.js';

let pg: PostgresHandle | undefined;
const opened: SesameDatabase[] = [];

beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);

afterAll(async () => {
  for (const db of opened) await db.close().catch(() => {});
  await pg?.stop();
});

const kinds = [
  {
    kind: 'sqlite',
    url: async () => `sqlite:${path.join(mkdtempSync(path.join(tmpdir(), 'sesame-audit-')), 'sesame.db')}`,
  },
  {
    kind: 'postgres',
    url: async () => {
      if (!pg) throw new Error('PostgreSQL did not start');
      return pg.createDatabase('sesame_audit');
    },
  },
] as const;

async function open(url: string): Promise<SesameDatabase> {
  const db = await openDatabase(url);
  opened.push(db);
  await db.migrate();
  return db;
}

describe.each(kinds)('on $kind', ({ kind, url }) => {
  describe('AuditLog', () => {
    it('chains each record to the previous one and verifies', async () => {
      const db = await open(await url());
      const audit = new AuditLog(db);
      const first = await audit.append({ actor: 'tok_a', action: 'resolve', namespace: 'acme', target: 'secret://aws/x', outcome: 'ok' });
      const second = await audit.append({ actor: 'tok_a', action: 'secret.write', namespace: '', target: 'secret://builtin/y', outcome: 'error', detail: 'not_found' });
      expect(first).toMatchObject({ seq: 1, prevHash: GENESIS_HASH });
      expect(second).toMatchObject({ seq: 2, prevHash: first.hash, detail: 'not_found' });
      expect(second.hash).toBe(hashRecord({ ...second }));
      expect(await audit.verify()).toEqual({ ok: true, records: 2, head: { seq: 2, hash: second.hash } });
    });

    it('keeps one chain when two processes append at once', async () => {
      const location = await url();
      const a = new AuditLog(await open(location));
      const b = new AuditLog(await open(location));
      const appends = [];
      for (let i = 0; i < 60; i++) {
        appends.push(a.append({ actor: 'a', action: 'resolve', namespace: '', target: `ref-${i}`, outcome: 'ok' }));
        appends.push(b.append({ actor: 'b', action: 'resolve', namespace: '', target: `ref-${i}`, outcome: 'ok' }));
      }
      const records = await Promise.all(appends);
      expect(new Set(records.map((r) => r.seq)).size).toBe(120);
      const result = await a.verify({ pageSize: 7 });
      expect(result).toMatchObject({ ok: true, records: 120, head: { seq: 120 } });
    });

    it('names the first record that was altered, relinked or removed', async () => {
      const db = await open(await url());
      const audit = new AuditLog(db);
      for (let i = 1; i <= 6; i++) await audit.append({ actor: 'x', action: 'resolve', namespace: '', target: `t${i}`, outcome: 'ok' });
      await db.kysely.updateTable('audit_log').set({ target: 'forged' }).where('seq', '=', 3).execute();
      expect((await audit.verify()).firstBroken).toEqual({
        seq: 3,
        reason: 'altered',
        message: 'record 3 was altered: its hash does not match its content',
      });
      // A forger who also recomputes the hash breaks the next link instead.
      const row = await db.kysely.selectFrom('audit_log').selectAll().where('seq', '=', 3).executeTakeFirstOrThrow();
      const rehashed = hashRecord({
        seq: 3,
        at: row.at,
        actor: row.actor,
        action: row.action,
        namespace: row.namespace,
        target: row.target,
        outcome: 'ok',
        detail: undefined,
        prevHash: row.prev_hash,
      });
      await db.kysely.updateTable('audit_log').set({ hash: rehashed }).where('seq', '=', 3).execute();
      expect((await audit.verify()).firstBroken).toMatchObject({ seq: 4, reason: 'chain' });
      await db.kysely.deleteFrom('audit_log').where('seq', '=', 2).execute();
      expect(await audit.verify()).toMatchObject({
        ok: false,
        records: 2,
        head: { seq: 1 },
        firstBroken: { seq: 3, reason: 'gap', message: 'record 2 is missing before record 3' },
      });
    });

    it('filters by time, actor, action, namespace and outcome, and pages both ways', async () => {
      let now = Date.parse('2026-01-01T00:00:00Z');
      const db = await open(await url());
      const audit = new AuditLog(db, () => now);
      const events = [
        { actor: 'tok_1', action: 'resolve', namespace: 'acme', outcome: 'ok' },
        { actor: 'tok_1', action: 'secret.write', namespace: 'acme.devops', outcome: 'ok' },
        { actor: 'tok_2', action: 'secret.delete', namespace: 'a_b', outcome: 'error' },
        { actor: 'tok_2', action: 'resolve', namespace: 'axb', outcome: 'denied' },
        { actor: 'tok_3', action: 'token.create', namespace: '', outcome: 'ok' },
      ] as const;
      for (const e of events) {
        await audit.append({ ...e, target: 'x' });
        now += 60_000;
      }
      const seqs = async (query: Parameters<AuditLog['list']>[0]) => (await audit.list(query)).items.map((r) => r.seq);
      expect(await seqs({})).toEqual([5, 4, 3, 2, 1]);
      expect(await seqs({ order: 'asc' })).toEqual([1, 2, 3, 4, 5]);
      expect(await seqs({ actor: 'tok_2' })).toEqual([4, 3]);
      expect(await seqs({ action: 'resolve' })).toEqual([4, 1]);
      expect(await seqs({ action: 'secret.' })).toEqual([3, 2]);
      expect(await seqs({ namespace: 'acme' })).toEqual([2, 1]);
      // "_" is not a wildcard: a_b does not match axb.
      expect(await seqs({ namespace: 'a_b' })).toEqual([3]);
      expect(await seqs({ outcome: 'denied' })).toEqual([4]);
      expect(await seqs({ from: '2026-01-01T00:01:00Z', to: '2026-01-01T00:03:00Z' })).toEqual([3, 2]);
      const first = await audit.list({ limit: 2 });
      expect(first.items.map((r) => r.seq)).toEqual([5, 4]);
      const second = await audit.list({ limit: 2, cursor: first.cursor });
      expect(second.items.map((r) => r.seq)).toEqual([3, 2]);
      const last = await audit.list({ limit: 2, cursor: second.cursor });
      expect(last).toEqual({ items: [expect.objectContaining({ seq: 1 })] });
    });
  });

  describe('TokenService', () => {
    it('authenticates a live token and says why others are refused', async () => {
      let now = Date.now();
      const tokens = new TokenService(await open(await url()), () => now);
      const live = await tokens.create({ role: 'runtime', namespace: 'acme', createdBy: 'test', expiresAt: new Date(now + 1000).toISOString() });
      expect(await tokens.authenticate(live.token)).toMatchObject({ id: live.info.id, role: 'runtime', namespace: 'acme', reveal: false });
      expect(await tokens.authenticate(`${live.token}x`)).toEqual({ refused: 'unknown' });
      now += 1000;
      expect(await tokens.authenticate(live.token)).toEqual({ refused: 'expired' });
      const other = await tokens.create({ role: 'operator', createdBy: 'test' });
      await tokens.revoke(other.info.id, 'tok_admin');
      expect(await tokens.authenticate(other.token)).toEqual({ refused: 'revoked' });
      expect(await tokens.get(other.info.id)).toMatchObject({ revokedBy: 'tok_admin', revokedAt: expect.any(String) });
    });

    it('stores only the hash of a token', async () => {
      const db = await open(await url());
      const tokens = new TokenService(db);
      const { token, info } = await tokens.create({ role: 'admin', createdBy: 'test' });
      const rows = await db.kysely.selectFrom('api_tokens').selectAll().execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]?.token_hash).toBe(hashToken(token));
      expect(JSON.stringify(rows)).not.toContain(token);
      expect(info.id).toMatch(/^tok_/);
    });

    it('lists tokens within a namespace, by role, in pages', async () => {
      const tokens = new TokenService(await open(await url()));
      for (const ns of ['a_b', 'axb', 'a_b.c', '']) await tokens.create({ role: 'runtime', namespace: ns, createdBy: 'test' });
      await tokens.create({ role: 'auditor', namespace: 'a_b', createdBy: 'test' });
      const within = await tokens.list({ within: 'a_b' });
      expect(within.items.map((i) => i.namespace).sort()).toEqual(['a_b', 'a_b', 'a_b.c']);
      expect((await tokens.list({ within: 'a_b', role: 'auditor' })).items).toHaveLength(1);
      const first = await tokens.list({ limit: 3 });
      const second = await tokens.list({ limit: 3, cursor: first.cursor });
      expect(first.items).toHaveLength(3);
      expect(second.items).toHaveLength(2);
      expect(second.cursor).toBeUndefined();
    });

    it('creates the first admin token on the first start only', async () => {
      const tokens = new TokenService(await open(await url()));
      const created = await tokens.bootstrapAdmin();
      expect(created?.info).toMatchObject({ role: 'admin', namespace: '', createdBy: 'bootstrap' });
      expect(await tokens.bootstrapAdmin()).toBeUndefined();
      expect(await tokens.count()).toBe(1);
    });

    it('makes SESAME_ADMIN_TOKEN the admin token and revokes the one it replaces', async () => {
      const tokens = new TokenService(await open(await url()));
      const first = 'a'.repeat(MIN_TOKEN_LENGTH);
      const second = 'b'.repeat(MIN_TOKEN_LENGTH);
      await tokens.bootstrapAdmin(first);
      await tokens.bootstrapAdmin(first);
      expect(await tokens.count()).toBe(1);
      expect(await tokens.authenticate(first)).toMatchObject({ role: 'admin', namespace: '' });
      await tokens.bootstrapAdmin(second);
      expect(await tokens.authenticate(first)).toEqual({ refused: 'revoked' });
      expect(await tokens.authenticate(second)).toMatchObject({ role: 'admin' });
      await expect(tokens.bootstrapAdmin('short')).rejects.toThrow(`SESAME_ADMIN_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters`);
    });
  });

  describe('through the API', () => {
    it('reports the row an edit in the database broke', async () => {
      const database = await url();
      const t = await startTestServer({ config: { database } });
      try {
        const admin = (await t.token('admin', { reveal: true })).token;
        const auditor = (await t.token('auditor')).token;
        for (let i = 0; i < 4; i++) {
          await t.call('PUT', `/api/v1/secrets/s${i}`, { token: admin, body: { value: `value-number-${i}` } });
        }
        const clean = await t.call('GET', '/api/v1/audit?verify=true&limit=2', { token: auditor });
        expect(clean.body.verification).toMatchObject({ ok: true, records: 4 });
        expect(clean.body.items.map((r: { seq: number }) => r.seq)).toEqual([4, 3]);
        const db = t.server.services.backend.database;
        await sql`update audit_log set actor = 'someone-else' where seq = 2`.execute(db.kysely);
        const broken = await t.call('GET', '/api/v1/audit/verify', { token: auditor });
        expect(broken.status).toBe(200);
        expect(broken.body).toEqual({
          ok: false,
          records: 2,
          head: { seq: 1, hash: expect.any(String) },
          firstBroken: { seq: 2, reason: 'altered', message: 'record 2 was altered: its hash does not match its content' },
          // A server's chain is keyed from its first record on.
          keyedFrom: 1,
        });
        const listed = await t.call('GET', '/api/v1/audit?verify=true&actor=someone-else', { token: admin });
        expect(listed.body.items).toHaveLength(1);
        expect(listed.body.verification.firstBroken.seq).toBe(2);
        expect(t.server.services.backend.database.kind).toBe(kind);
      } finally {
        await t.close();
      }
    });
  });
});

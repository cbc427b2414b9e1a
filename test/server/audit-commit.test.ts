/**
 * A resolve is answered only after its audit record is committed, on SQLite and PostgreSQL:
 * when the answer arrives, another connection already sees the record; when the record cannot
 * be committed, the value is not sent. Concurrent requests share commits (group commit) and the
 * chain still verifies. A server's log commits SQLite batches on a writer thread of its own: the
 * chain stays one chain with other appenders (threads, the main connection, other connections).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, hashRecord } from '../../src/audit/index.js';
import { MIGRATIONS, openDatabase, type SesameDatabase } from '../../src/db/index.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { startTestServer, type TestServer } from './helpers.js';

let pgHandle: PostgresHandle | undefined;
const opened: SesameDatabase[] = [];

beforeAll(async () => {
  pgHandle = await startPostgres();
}, 120_000);

afterAll(async () => {
  for (const db of opened) await db.close().catch(() => {});
  await pgHandle?.stop();
});

/** SQL run on a connection of its own (another process's view of the database). */
interface Outside {
  count(target: string): Promise<number>;
  exec(statement: string): Promise<void>;
  close(): Promise<void>;
}

const kinds = [
  {
    kind: 'sqlite',
    async start(): Promise<{ t: TestServer; outside: Outside }> {
      const t = await startTestServer();
      const file = path.join(t.dir, 'sesame.db');
      const db = new BetterSqlite3(file);
      db.pragma('busy_timeout = 5000');
      return {
        t,
        outside: {
          count: async (target) => (db.prepare("select count(*) as n from audit_log where action = 'resolve' and target = ?").get(target) as { n: number }).n,
          exec: async (statement) => {
            db.exec(statement);
          },
          close: async () => {
            db.close();
          },
        },
      };
    },
    refuseInserts: "create trigger refuse_audit before insert on audit_log begin select raise(abort, 'audit refused'); end",
  },
  {
    kind: 'postgres',
    async start(): Promise<{ t: TestServer; outside: Outside }> {
      if (!pgHandle) throw new Error('PostgreSQL did not start');
      const url = await pgHandle.createDatabase('sesame_audit_commit');
      const t = await startTestServer({ config: { database: url } });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return {
        t,
        outside: {
          count: async (target) => Number((await client.query("select count(*) as n from audit_log where action = 'resolve' and target = $1", [target])).rows[0].n),
          exec: async (statement) => {
            await client.query(statement);
          },
          close: () => client.end(),
        },
      };
    },
    refuseInserts: `
      create function refuse_audit() returns trigger language plpgsql as $$ begin raise exception 'audit refused'; end $$;
      create trigger refuse_audit before insert on audit_log for each row execute function refuse_audit();`,
  },
] as const;

describe.each(kinds)('on $kind', ({ start, refuseInserts }) => {
  it('answers a resolve only once another connection can read its audit record', async () => {
    const { t, outside } = await start();
    try {
      const admin = (await t.token('admin')).token;
      const runtime = (await t.token('runtime')).token;
      for (let i = 0; i < 20; i++) {
        expect((await t.call('PUT', `/api/v1/secrets/app%2Fs${i}`, { token: admin, body: { value: `value-${i}-0123456789` } })).status).toBe(200);
      }
      const resolves = Array.from({ length: 20 }, async (_, i) => {
        const reference = `secret://builtin/app/s${i}`;
        const answer = await t.call('POST', '/api/v1/resolve', { token: runtime, body: { reference } });
        expect(answer.status).toBe(200);
        // Read the moment the answer arrives: the record was committed before it was sent.
        expect(await outside.count(reference)).toBe(1);
      });
      await Promise.all(resolves);
      expect(await t.server.services.audit.verify()).toMatchObject({ ok: true });
    } finally {
      await outside.close();
      await t.close();
    }
  });

  it('does not send the value when the audit record cannot be committed', async () => {
    const { t, outside } = await start();
    try {
      const admin = (await t.token('admin')).token;
      const runtime = (await t.token('runtime')).token;
      expect((await t.call('PUT', '/api/v1/secrets/app%2Fkept', { token: admin, body: { value: 'kept-value-0123456789' } })).status).toBe(200);
      await outside.exec(refuseInserts);
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => t.call('POST', '/api/v1/resolve', { token: runtime, body: { reference: 'secret://builtin/app/kept' } })),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(answer.body.error.code).toBe('audit_unavailable');
        expect(answer.text).not.toContain('kept-value');
      }
      expect(await outside.count('secret://builtin/app/kept')).toBe(0);
    } finally {
      await outside.close();
      await t.close();
    }
  });
});

describe.each(kinds)('secret changes and their record, one transaction, on $kind', ({ start, refuseInserts }) => {
  it('does not commit a secret write whose audit record cannot be committed', async () => {
    const { t, outside } = await start();
    try {
      const admin = (await t.token('admin')).token;
      expect((await t.call('PUT', '/api/v1/secrets/app%2Fkept', { token: admin, body: { value: 'first-value-0123456789' } })).status).toBe(200);
      await outside.exec(refuseInserts);
      const refused = await t.call('PUT', '/api/v1/secrets/app%2Fkept', { token: admin, body: { value: 'second-value-0123456789' } });
      expect(refused.status).toBeGreaterThanOrEqual(500);
      await outside.exec('drop trigger refuse_audit' + (t.server.services.backend.database.kind === 'postgres' ? ' on audit_log' : ''));
      const versions = await t.call('GET', '/api/v1/secrets/app%2Fkept/versions', { token: admin });
      expect(versions.body.items.map((v: { version: string }) => v.version)).toEqual(['1']);
      const records = await t.server.services.audit.list({ action: 'secret.', order: 'asc' });
      expect(records.items.map((r) => [r.action, r.outcome])).toEqual([
        ['secret.write', 'ok'],
        ['secret.versions', 'ok'],
      ]);
      expect(await t.server.services.audit.verify()).toMatchObject({ ok: true });
    } finally {
      await outside.close();
      await t.close();
    }
  });

  it('does not commit a store, connection or namespace change whose audit record cannot be committed', async () => {
    const { t, outside } = await start();
    try {
      const admin = (await t.token('admin')).token;
      const store = { name: 'kept', namespace: 'acme', type: 'builtin', settings: {} };
      expect((await t.call('POST', '/api/v1/stores', { token: admin, body: store })).status).toBe(201);
      await outside.exec(refuseInserts);
      const refused = [
        await t.call('POST', '/api/v1/stores', { token: admin, body: { ...store, name: 'lost' } }),
        await t.call('DELETE', '/api/v1/stores/kept?namespace=acme', { token: admin }),
        await t.call('POST', '/api/v1/connections', { token: admin, body: { name: 'lost', namespace: 'acme', fields: { a: 'b' } } }),
        await t.call('POST', '/api/v1/namespaces', { token: admin, body: { name: 'lost', isolated: true } }),
      ];
      for (const r of refused) expect(r.status, r.text).toBeGreaterThanOrEqual(500);
      await outside.exec('drop trigger refuse_audit' + (t.server.services.backend.database.kind === 'postgres' ? ' on audit_log' : ''));
      const db = t.server.services.backend.database.kysely;
      expect((await db.selectFrom('config_stores').select('name').execute()).map((r) => r.name)).toEqual(['kept']);
      expect(await db.selectFrom('config_connections').select('name').execute()).toEqual([]);
      expect(await db.selectFrom('config_namespaces').select('name').execute()).toEqual([]);
      const records = await t.server.services.audit.list({ order: 'asc', limit: 100 });
      expect(records.items.filter((r) => /^(store|connection|namespace)\./.test(r.action)).map((r) => [r.action, r.target, r.outcome])).toEqual([
        ['store.create', 'kept', 'ok'],
      ]);
      expect(await t.server.services.audit.verify()).toMatchObject({ ok: true });
    } finally {
      await outside.close();
      await t.close();
    }
  });

  it('records write, delete and restore once each, in their transactions, and reports records cut off the end', async () => {
    const { t, outside } = await start();
    try {
      const admin = (await t.token('admin')).token;
      for (let i = 0; i < 10; i++) {
        expect((await t.call('PUT', `/api/v1/secrets/s${i}`, { token: admin, body: { value: `value-${i}-0123456789` } })).status).toBe(200);
      }
      expect((await t.call('DELETE', '/api/v1/secrets/s1', { token: admin })).status).toBe(200);
      expect((await t.call('POST', '/api/v1/secrets/s1/restore', { token: admin })).status).toBe(200);
      const { items } = await t.server.services.audit.list({ action: 'secret.', order: 'asc', limit: 100 });
      expect(items.map((r) => r.action)).toEqual([...Array(10).fill('secret.write'), 'secret.delete', 'secret.restore']);
      const clean = await t.call('GET', '/api/v1/audit/verify', { token: admin });
      expect(clean.body).toMatchObject({ ok: true, records: 12, keyedFrom: 1 });

      await outside.exec('delete from audit_log where seq > 4');
      const cut = await t.call('GET', '/api/v1/audit/verify', { token: admin });
      expect(cut.body).toMatchObject({ ok: false, records: 4, firstBroken: { seq: 12, reason: 'truncated' } });
    } finally {
      await outside.close();
      await t.close();
    }
  });
});

describe('group commit', () => {
  async function counted(url: string): Promise<{ audit: AuditLog; transactions: () => number }> {
    const db = await openDatabase(url);
    opened.push(db);
    await db.migrate();
    let transactions = 0;
    const write = db.write.bind(db);
    const wrapped: SesameDatabase = Object.create(db, {
      write: {
        value: ((work, options) => {
          transactions++;
          return write(work, options);
        }) satisfies SesameDatabase['write'],
      },
    });
    return { audit: new AuditLog(wrapped), transactions: () => transactions };
  }

  const event = (i: number) => ({ actor: 'tok_x', action: 'resolve', namespace: '', target: `t${i}`, outcome: 'ok' as const });

  it('SQLite: appends of one event-loop turn share one transaction', async () => {
    const { audit, transactions } = await counted(`sqlite:${path.join(mkdtempSync(path.join(tmpdir(), 'sesame-group-')), 'sesame.db')}`);
    const records = await Promise.all(Array.from({ length: 120 }, (_, i) => audit.append(event(i))));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(transactions()).toBe(1);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 120 });
  });

  it('PostgreSQL: appends made while a commit is in flight go into the next one, together', async () => {
    if (!pgHandle) throw new Error('PostgreSQL did not start');
    const { audit, transactions } = await counted(await pgHandle.createDatabase('sesame_group'));
    const first = audit.append(event(0));
    // Let the first batch start, then append while it is being committed.
    await new Promise((resolve) => setImmediate(resolve));
    expect(transactions()).toBe(1);
    const rest = Array.from({ length: 99 }, (_, i) => audit.append(event(i + 1)));
    const records = await Promise.all([first, ...rest]);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(transactions()).toBe(2);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 100 });
  });
});

describe('writer thread (SQLite)', () => {
  const file = () => path.join(mkdtempSync(path.join(tmpdir(), 'sesame-thread-')), 'sesame.db');
  const event = (actor: string, i: number) => ({ actor, action: 'resolve', namespace: '', target: `t${i}`, outcome: 'ok' as const });

  async function log(url: string, thread: boolean): Promise<AuditLog> {
    const db = await openDatabase(url);
    opened.push(db);
    await db.migrate();
    return new AuditLog(db, undefined, thread ? { writer: 'thread' } : {});
  }

  it('commits through the thread, and a record is readable from another connection once append resolves', async () => {
    const location = file();
    const audit = await log(`sqlite:${location}`, true);
    const outside = new BetterSqlite3(location, { readonly: true });
    try {
      for (let i = 0; i < 5; i++) {
        const record = await audit.append(event('a', i));
        const row = outside.prepare('select hash from audit_log where seq = ?').get(record.seq) as { hash: string } | undefined;
        expect(row?.hash).toBe(record.hash);
      }
      expect(audit.stats()).toMatchObject({ thread: true, records: 5 });
      expect(await audit.verify()).toMatchObject({ ok: true, records: 5 });
    } finally {
      outside.close();
      await audit.close();
    }
  });

  it('keeps one chain with other appenders: two threads, the main connection and another connection', async () => {
    const location = file();
    const a = await log(`sqlite:${location}`, true);
    const b = await log(`sqlite:${location}`, true);
    const main = await log(`sqlite:${location}`, false);
    const other = new BetterSqlite3(location);
    other.pragma('busy_timeout = 5000');
    try {
      const appends: Promise<unknown>[] = [];
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 20; i++) {
          appends.push(a.append(event('a', i)), b.append(event('b', i)), main.append(event('m', i)));
        }
        // Between rounds, another connection appends a record of its own after the real head:
        // the threads' expected heads are then wrong and their next batches go after it.
        await Promise.all(appends.splice(0));
        const head = other.prepare('select seq, hash from audit_log order by seq desc limit 1').get() as { seq: number; hash: string };
        const at = new Date().toISOString();
        const base = { seq: head.seq + 1, at, actor: 'x', action: 'resolve', namespace: '', target: `x${round}`, outcome: 'ok' as const, detail: undefined, prevHash: head.hash };
        other
          .prepare('insert into audit_log (seq, at, actor, action, namespace, target, outcome, detail, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?, null, ?, ?)')
          .run(base.seq, at, 'x', 'resolve', '', base.target, 'ok', head.hash, hashRecord(base));
      }
      expect(await a.verify()).toMatchObject({ ok: true, records: 6 * 61 });
      expect(a.stats().thread && b.stats().thread).toBe(true);
    } finally {
      other.close();
      await a.close();
      await b.close();
    }
  });

  it('fails the batch, not the chain, when the thread cannot commit; appends after close() use the main connection', async () => {
    const location = file();
    const audit = await log(`sqlite:${location}`, true);
    await audit.append(event('a', 0));
    const other = new BetterSqlite3(location);
    try {
      other.exec("create trigger refuse before insert on audit_log begin select raise(abort, 'refused'); end");
      await expect(audit.append(event('a', 1))).rejects.toThrow('refused');
      other.exec('drop trigger refuse');
    } finally {
      other.close();
    }
    expect(await audit.append(event('a', 2))).toMatchObject({ seq: 2 });
    await audit.close();
    expect(await audit.append(event('a', 3))).toMatchObject({ seq: 3 });
    expect(await audit.verify()).toMatchObject({ ok: true, records: 3 });
  });
});

describe('inline writer (SQLite, what sesame serve uses by default)', () => {
  const file = () => path.join(mkdtempSync(path.join(tmpdir(), 'sesame-inline-')), 'sesame.db');
  const event = (i: number) => ({ actor: 'tok_i', action: 'resolve', namespace: 'acme', target: `t${i}`, outcome: 'ok' as const });

  async function inlineLog(location: string): Promise<AuditLog> {
    const db = await openDatabase(`sqlite:${location}`);
    opened.push(db);
    await db.migrate();
    const audit = new AuditLog(db, undefined, { writer: 'inline' });
    // The connection opens in the background; the first batch goes through the main connection.
    await audit.append(event(0));
    return audit;
  }

  it('commits the appends of one turn in one transaction, in order, whatever their number', async () => {
    const audit = await inlineLog(file());
    try {
      let next = 1;
      for (const size of [1, 2, 25, 33, 77, 600]) {
        const before = audit.stats().batches;
        const records = await Promise.all(Array.from({ length: size }, () => audit.append(event(next++))));
        expect(records.map((r) => r.target)).toEqual(Array.from({ length: size }, (_, i) => `t${next - size + i}`));
        expect(records.map((r) => r.seq)).toEqual(Array.from({ length: size }, (_, i) => next - size + i + 1));
        // 600 appends are two batches of at most 500; everything else is one.
        expect(audit.stats().batches - before).toBe(Math.ceil(size / 500));
        for (let i = 1; i < records.length; i++) expect(records[i]?.prevHash).toBe(records[i - 1]?.hash);
      }
      expect(await audit.verify()).toMatchObject({ ok: true, records: next });
    } finally {
      await audit.close();
    }
  });

  it('waits while another connection holds the write lock, then commits', async () => {
    const location = file();
    const audit = await inlineLog(location);
    const other = new BetterSqlite3(location);
    try {
      other.exec('begin immediate');
      let settled = false;
      const pending = audit.append(event(1)).finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(settled).toBe(false);
      other.exec('commit');
      expect(await pending).toMatchObject({ seq: 2, target: 't1' });
      expect(await audit.verify()).toMatchObject({ ok: true, records: 2 });
    } finally {
      other.close();
      await audit.close();
    }
  });

  it('has the WAL checkpointed (fsynced) within about a second of a commit', async () => {
    const location = file();
    const audit = await inlineLog(location);
    try {
      await Promise.all(Array.from({ length: 50 }, (_, i) => audit.append(event(i + 1))));
      // WAL-index: mxFrame (frames in the WAL) at byte 16, nBackfill (frames checkpointed) at 96.
      const shm = () => readFileSync(`${location}-shm`);
      expect(shm().readUInt32LE(96)).toBeLessThan(shm().readUInt32LE(16));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(shm().readUInt32LE(96)).toBe(shm().readUInt32LE(16));
    } finally {
      await audit.close();
    }
  });
});

describe('inline writer: a server that never stops writing', () => {
  it('has its WAL restarted from the beginning by the checkpoints, so it does not grow without end', async () => {
    const location = path.join(mkdtempSync(path.join(tmpdir(), 'sesame-inline-wal-')), 'sesame.db');
    const db = await openDatabase(`sqlite:${location}`);
    opened.push(db);
    await db.migrate();
    const audit = new AuditLog(db, undefined, { writer: 'inline' });
    const event = (i: number) => ({ actor: 'tok_w', action: 'resolve', namespace: '', target: `t${i}`, outcome: 'ok' as const });
    try {
      let i = 0;
      let restarted = false;
      let lastFrames = 0;
      const until = Date.now() + 4000;
      // Commit after commit, never idle for long, as a busy server does.
      while (Date.now() < until && !restarted) {
        await Promise.all(Array.from({ length: 20 }, () => audit.append(event(i++))));
        const frames = readFileSync(`${location}-shm`).readUInt32LE(16);
        if (frames < lastFrames) restarted = true;
        lastFrames = frames;
      }
      expect(restarted).toBe(true);
      expect(await audit.verify()).toMatchObject({ ok: true, records: i });
    } finally {
      await audit.close();
    }
  });
});

describe('migration 4 (lean audit log)', () => {
  it('keeps every record and the chain, makes seq the rowid on SQLite and keeps only the time index', async () => {
    const location = path.join(mkdtempSync(path.join(tmpdir(), 'sesame-mig4-')), 'sesame.db');
    const old = await openDatabase(`sqlite:${location}`, { migrations: MIGRATIONS.slice(0, 3) });
    await old.migrate();
    const before = new AuditLog(old);
    await Promise.all(Array.from({ length: 40 }, (_, i) => before.append({ actor: `a${i % 3}`, action: 'resolve', namespace: '', target: `t${i}`, outcome: 'ok' })));
    const rowsBefore = (await before.list({ limit: 1000, order: 'asc' })).items;
    await old.close();

    const db = await openDatabase(`sqlite:${location}`);
    opened.push(db);
    expect((await db.migrate()).applied).toEqual(['4-lean-audit-log', '5-keyed-audit-chain', '6-change-feed', '7-audit-time-order', '8-admin-sessions']);
    const after = new AuditLog(db);
    expect((await after.list({ limit: 1000, order: 'asc' })).items).toEqual(rowsBefore);
    expect(await after.verify()).toMatchObject({ ok: true, records: 40 });
    expect((await after.list({ actor: 'a1' })).items).toHaveLength(13);
    await after.append({ actor: 'a0', action: 'resolve', namespace: '', target: 'after', outcome: 'ok' });
    expect(await after.verify()).toMatchObject({ ok: true, records: 41 });

    const raw = new BetterSqlite3(location, { readonly: true });
    try {
      const seq = (raw.prepare("select pk, type from pragma_table_info('audit_log') where name = 'seq'").get() as { pk: number; type: string });
      expect(seq).toEqual({ pk: 1, type: 'INTEGER' });
      expect(raw.prepare('select count(*) as n from audit_log where rowid <> seq').get()).toEqual({ n: 0 });
      const indexes = raw.prepare("select name from sqlite_master where type = 'index' and tbl_name = 'audit_log' and sql is not null").all();
      // Migration 7 replaces the time index by a partial one over these (older) records.
      expect(indexes).toEqual([{ name: 'audit_log_by_at_before' }]);
    } finally {
      raw.close();
    }
  });
});

describe('inline writer: a lock held too long', () => {
  it('fails the waiting appends after busyTimeoutMs, records nothing, and commits again once the lock is free', async () => {
    const location = path.join(mkdtempSync(path.join(tmpdir(), 'sesame-inline-busy-')), 'sesame.db');
    const db = await openDatabase(`sqlite:${location}`);
    opened.push(db);
    await db.migrate();
    const audit = new AuditLog(db, undefined, { writer: 'inline', busyTimeoutMs: 200 });
    const event = (target: string) => ({ actor: 'tok_b', action: 'resolve', namespace: '', target, outcome: 'ok' as const });
    await audit.append(event('first'));
    const other = new BetterSqlite3(location);
    try {
      other.exec('begin immediate');
      const started = Date.now();
      await expect(Promise.all([audit.append(event('a')), audit.append(event('b'))])).rejects.toThrow('locked');
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      other.exec('rollback');
    } finally {
      other.close();
    }
    expect(await audit.append(event('after'))).toMatchObject({ seq: 2, target: 'after' });
    expect(await audit.verify()).toMatchObject({ ok: true, records: 2 });
    await audit.close();
  });
});

describe('server.auditSync: full', () => {
  it('commits through the fsyncing writer thread, and answers once the record is readable elsewhere', async () => {
    const t = await startTestServer({ config: { server: { auditSync: 'full' } } });
    const outside = new BetterSqlite3(path.join(t.dir, 'sesame.db'), { readonly: true });
    try {
      const admin = (await t.token('admin')).token;
      const runtime = (await t.token('runtime')).token;
      expect((await t.call('PUT', '/api/v1/secrets/app%2Ffull', { token: admin, body: { value: 'full-value-0123456789' } })).status).toBe(200);
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => t.call('POST', '/api/v1/resolve', { token: runtime, body: { reference: 'secret://builtin/app/full' } })),
      );
      for (const answer of answers) expect(answer.status).toBe(200);
      const count = outside.prepare("select count(*) as n from audit_log where action = 'resolve' and target = 'secret://builtin/app/full'").get() as { n: number };
      expect(count.n).toBe(10);
      expect(t.server.services.audit.stats()).toMatchObject({ thread: true });
      expect(await t.server.services.audit.verify()).toMatchObject({ ok: true });
    } finally {
      outside.close();
      await t.close();
    }
  });
});

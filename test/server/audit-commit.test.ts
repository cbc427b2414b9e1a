/**
 * A resolve is answered only after its audit record is committed, on SQLite and PostgreSQL:
 * when the answer arrives, another connection already sees the record; when the record cannot
 * be committed, the value is not sent. Concurrent requests share commits (group commit) and the
 * chain still verifies.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/index.js';
import { openDatabase, type SesameDatabase } from '../../src/db/index.js';
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

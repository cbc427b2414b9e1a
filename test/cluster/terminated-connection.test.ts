/**
 * A node's database connection closed by the server in the middle of a request
 * (pg_terminate_backend: an administrator, a failover tool, or PostgreSQL restarting). A real
 * `sesame serve` (run `npx tsc -p tsconfig.build.json` first) whose POST /tokens waits on a
 * table lock held by the test; its backend is then terminated. The node must answer 503
 * `database_unavailable` saying the server closed the connection and what to do (retry; the
 * database's log), not the generic "does not answer", count it as an outage like the others
 * (readiness recovers by itself), and print no token.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, killAll, type Node, startNode, within } from './support.js';

const ADMIN = `terminated-admin-token-${randomBytes(16).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('base64');

afterAll(() => killAll());

describe('a database connection closed by the server mid-request', () => {
  let postgres: PostgresHandle;
  let admin: pg.Client;
  let node: Node;
  let database: string;
  let databaseUrl: string;

  beforeAll(async () => {
    postgres = await startPostgres();
    const url = await postgres.createDatabase('sesame_terminated');
    databaseUrl = url;
    database = new URL(url).pathname.slice(1);
    admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-terminated-'));
    const config = path.join(cwd, 'sesame.yaml');
    writeFileSync(config, 'database: ${env:SESAME_DATABASE_URL}\nmasterKey: { env: SESAME_MASTER_KEY }\n');
    node = await startNode({
      cwd,
      config,
      env: { SESAME_DATABASE_URL: url, SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: ADMIN, SESAME_LOG_LEVEL: 'info' },
    });
  }, 120_000);

  afterAll(async () => {
    await admin?.end().catch(() => undefined);
    await node?.stop('SIGKILL');
    await postgres?.stop();
  });

  it('pg_terminate_backend during POST /tokens: 503 saying the server closed the connection, retry and the log, then back by itself', async () => {
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    const holderPid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
    let answer: Awaited<ReturnType<typeof api>>;
    try {
      await holder.query('begin');
      await holder.query('lock table api_tokens in access exclusive mode');
      const pending = api(node.url, 'POST', '/tokens', ADMIN, { role: 'runtime' });
      // The node's request is waiting on the lock: that backend is the one to close.
      const waiting = async () =>
        (await admin.query<{ pid: number }>("select pid from pg_stat_activity where datname = $1 and wait_event_type = 'Lock' and pid <> $2", [database, holderPid])).rows;
      await within(10_000, async () => (await waiting()).length > 0);
      await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> $2 and pid <> pg_backend_pid()", [database, holderPid]);
      answer = await pending;
    } finally {
      await holder.query('rollback').catch(() => undefined);
      await holder.end().catch(() => undefined);
    }
    expect(answer.status).toBe(503);
    expect(answer.body.error.code).toBe('database_unavailable');
    expect(answer.body.error.message).toMatch(/closed this node's connection/);
    expect(answer.body.error.message).toMatch(/restart|failover|administrator/);
    expect(answer.body.error.fix).toMatch(/retry/);
    expect(answer.body.error.fix).toMatch(/database's log/);
    await within(15_000, async () => (await fetch(`${node.url}/readyz`)).status === 200);
    expect((await api(node.url, 'POST', '/tokens', ADMIN, { role: 'runtime' })).status).toBe(201);
    expect(node.output()).not.toContain(ADMIN);
  }, 90_000);
});

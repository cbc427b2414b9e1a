/**
 * PostgreSQL at its connection limit (`max_connections` reached: more nodes than it was sized
 * for, or another client leaking connections; SQLSTATE 53300), with a real `sesame serve` on a
 * throwaway cluster (run `npx tsc -p tsconfig.build.json` first). The node connects as a role of
 * its own, whose CONNECTION LIMIT raises the same error as max_connections without racing the
 * node for free slots. A node that cannot get a connection is in an outage like any other: 503
 * that says so (never 500 "internal error"), values it cached still served, not ready, and back
 * by itself when connections free up.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, killAll, type Node, startNode, within } from './support.js';

const ADMIN = `limit-admin-token-${randomBytes(16).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('base64');
const VALUE = `limit-value-${randomBytes(8).toString('hex')}`;
// A role of its own per run (a server named by SESAME_TEST_PG_URL outlives the run).
const ROLE = `sesame_node_${randomBytes(4).toString('hex')}`;

afterAll(() => killAll());

describe('PostgreSQL at max_connections', () => {
  let postgres: PostgresHandle;
  let url: string;
  let adminUrl: string;
  let node: Node;
  let runtime: string;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    postgres = await startPostgres();
    const owner = await postgres.createDatabase('sesame_limit');
    const setup = new pg.Client({ connectionString: owner });
    await setup.connect();
    await setup.query(`create role ${ROLE} login password 'node-password'`);
    await setup.query(`alter database "${new URL(owner).pathname.slice(1)}" owner to ${ROLE}`);
    await setup.end();
    const asNode = new URL(owner);
    asNode.username = ROLE;
    asNode.password = 'node-password';
    url = asNode.toString();
    adminUrl = owner;
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-limit-'));
    const config = path.join(cwd, 'sesame.yaml');
    writeFileSync(config, `database: ${url}\nmasterKey: { env: SESAME_MASTER_KEY }\n`);
    node = await startNode({ cwd, config, env: { SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: ADMIN } });
    runtime = (await api(node.url, 'POST', '/tokens', ADMIN, { role: 'runtime' })).body.token;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    await node?.stop('SIGKILL');
    await postgres?.stop();
  });

  it('answers 503 database_unavailable, serves its cached values, and recovers when connections free up', async () => {
    expect((await api(node.url, 'PUT', '/secrets/limit', ADMIN, { value: VALUE })).status).toBe(200);
    expect((await api(node.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/limit' })).body.value).toBe(VALUE);

    // No new connection for the node's role (what it gets at max_connections: 53300), and its
    // open ones closed, so that its next query needs a new one.
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    clients.push(admin);
    await admin.query(`alter role ${ROLE} connection limit 0`);
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [ROLE]);
    await within(5000, async () => Number((await admin.query<{ n: string }>('select count(*) as n from pg_stat_activity where usename = $1', [ROLE])).rows[0]?.n) === 0);
    try {
      const created = await api(node.url, 'POST', '/tokens', ADMIN, { role: 'runtime' });
      expect(created.status).toBe(503);
      expect(created.body.error.code).toBe('database_unavailable');
      expect((await fetch(`${node.url}/readyz`)).status).toBe(503);
      const cached = await api(node.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/limit' });
      expect(cached.status).toBe(200);
      expect(cached.body.value).toBe(VALUE);
    } finally {
      await admin.query(`alter role ${ROLE} connection limit -1`);
    }
    await within(15_000, async () => (await fetch(`${node.url}/readyz`)).status === 200);
    expect((await api(node.url, 'POST', '/tokens', ADMIN, { role: 'runtime' })).status).toBe(201);
    expect(node.output()).not.toContain(VALUE);
  }, 90_000);
});

/**
 * PostgreSQL refusing a node's new connections while the server is up: the role's password was
 * changed (SQLSTATE 28P01), the role lost LOGIN (28000), the database was renamed away (3D000).
 * A real `sesame serve` on a throwaway cluster (run `npx tsc -p tsconfig.build.json` first) whose
 * pg_hba.conf asks the node's role for its password. The node must answer 503
 * `database_unavailable` saying what to fix (never 500 "internal error"), a builtin secret's write
 * likewise, keep serving what it cached, come back by itself once fixed, and never print the
 * URL's password.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, killAll, type Node, startNode, within } from './support.js';

const ADMIN = `login-admin-token-${randomBytes(16).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('base64');
const VALUE = `login-value-${randomBytes(8).toString('hex')}`;
const WRITTEN = `login-write-${randomBytes(8).toString('hex')}`;
const ROLE = `sesame_login_${randomBytes(4).toString('hex')}`;
// Characters a URL must escape, so both spellings are looked for in the output.
const PASSWORD = `pw/${randomBytes(12).toString('hex')}@x`;
const NEW_PASSWORD = `rotated-${randomBytes(12).toString('hex')}`;

afterAll(() => killAll());

describe('PostgreSQL refusing the node its login or its database', () => {
  let postgres: PostgresHandle;
  let admin: pg.Client;
  let node: Node;
  let runtime: string;
  let database: string;
  const answers: string[] = [];

  const call = async (method: string, p: string, token: string, body?: unknown) => {
    const answer = await api(node.url, method, p, token, body);
    answers.push(JSON.stringify(answer.body));
    return answer;
  };

  /** Close the node's connections so its next query needs a new one, then wait until they are gone. */
  const dropConnections = async () => {
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [ROLE]);
    await within(5000, async () => Number((await admin.query<{ n: string }>('select count(*) as n from pg_stat_activity where usename = $1', [ROLE])).rows[0]?.n) === 0);
  };

  /** What the node answers while it cannot connect, and that it recovers after `fix`. */
  const outage = async (explains: RegExp, fix: () => Promise<void>) => {
    const created = await call('POST', '/tokens', ADMIN, { role: 'runtime' });
    expect(created.status).toBe(503);
    expect(created.body.error.code).toBe('database_unavailable');
    expect(created.body.error.message).toMatch(explains);
    const written = await call('PUT', '/secrets/login', ADMIN, { value: WRITTEN });
    expect(written.status).toBe(503);
    expect(written.body.error.code).toBe('database_unavailable');
    expect(written.body.error.message).toMatch(/^\[builtin\] the postgres database: /);
    expect(written.body.error.message).toMatch(explains);
    expect(written.body.error.fix).toMatch(/database URL/);
    expect((await fetch(`${node.url}/readyz`)).status).toBe(503);
    const cached = await call('POST', '/resolve', runtime, { reference: 'secret://builtin/login' });
    expect(cached.status).toBe(200);
    expect(cached.body.value).toBe(VALUE);
    await fix();
    await within(15_000, async () => (await fetch(`${node.url}/readyz`)).status === 200);
    expect((await call('POST', '/tokens', ADMIN, { role: 'runtime' })).status).toBe(201);
  };

  beforeAll(async () => {
    postgres = await startPostgres();
    const owner = await postgres.createDatabase('sesame_login');
    database = new URL(owner).pathname.slice(1);
    admin = new pg.Client({ connectionString: owner });
    await admin.connect();
    const hba = (await admin.query<{ hba_file: string }>('show hba_file')).rows[0]?.hba_file ?? '';
    if (!existsSync(hba)) {
      throw new Error(`${hba} is not a file on this host: this test rewrites pg_hba.conf, so it needs the throwaway cluster (unset SESAME_TEST_PG_URL)`);
    }
    // The superuser keeps trust (the test's own connections); the node's role must give its password.
    writeFileSync(hba, 'local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n');
    await admin.query('select pg_reload_conf()');
    await admin.query(`create role ${ROLE} login password '${PASSWORD}'`);
    await admin.query(`alter database "${database}" owner to ${ROLE}`);
    const asNode = new URL(owner);
    asNode.username = ROLE;
    asNode.password = encodeURIComponent(PASSWORD);
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-login-'));
    const config = path.join(cwd, 'sesame.yaml');
    writeFileSync(config, 'database: ${env:SESAME_DATABASE_URL}\nmasterKey: { env: SESAME_MASTER_KEY }\n');
    node = await startNode({
      cwd,
      config,
      env: { SESAME_DATABASE_URL: asNode.toString(), SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: ADMIN, SESAME_LOG_LEVEL: 'info' },
    });
    runtime = (await api(node.url, 'POST', '/tokens', ADMIN, { role: 'runtime' })).body.token;
    expect((await api(node.url, 'PUT', '/secrets/login', ADMIN, { value: VALUE })).status).toBe(200);
    expect((await api(node.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/login' })).body.value).toBe(VALUE);
  }, 120_000);

  afterAll(async () => {
    await admin?.end().catch(() => undefined);
    await node?.stop('SIGKILL');
    await postgres?.stop();
  });

  it('a changed password (28P01): 503 naming the credentials, cached values served, back once the password matches', async () => {
    await admin.query(`alter role ${ROLE} password '${NEW_PASSWORD}'`);
    await dropConnections();
    await outage(/refused this node's login \(password authentication failed/, () => admin.query(`alter role ${ROLE} password '${PASSWORD}'`).then(() => undefined));
  }, 60_000);

  it('a role that may no longer log in (28000): the same, back once it may', async () => {
    await admin.query(`alter role ${ROLE} nologin`);
    await dropConnections();
    await outage(/refused this node's login \(role .* is not permitted to log in/, () => admin.query(`alter role ${ROLE} login`).then(() => undefined));
  }, 60_000);

  it('a database renamed away (3D000): 503 naming the database, back once it is there again', async () => {
    // Renamed from another database (a database cannot rename itself), with no new connection
    // for the node meanwhile (its role is not a superuser: the connection limit holds it off).
    const maintenance = new pg.Client({ connectionString: postgres.url });
    await maintenance.connect();
    try {
      await admin.end();
      await maintenance.query(`alter database "${database}" connection limit 0`);
      await maintenance.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [ROLE]);
      await within(5000, async () => Number((await maintenance.query<{ n: string }>('select count(*) as n from pg_stat_activity where datname = $1', [database])).rows[0]?.n) === 0);
      await maintenance.query(`alter database "${database}" rename to "${database}_away"`);
      await maintenance.query(`alter database "${database}_away" connection limit -1`);
      await outage(/PostgreSQL has no such database \(database .* does not exist/, async () => {
        await maintenance.query(`alter database "${database}_away" connection limit 0`);
        await maintenance.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [`${database}_away`]);
        await maintenance.query(`alter database "${database}_away" rename to "${database}"`);
        await maintenance.query(`alter database "${database}" connection limit -1`);
      });
    } finally {
      await maintenance.end();
    }
  }, 60_000);

  it('never prints the password of the database URL, nor a value', () => {
    const everything = `${node.output()}\n${answers.join('\n')}`;
    expect(answers.length).toBeGreaterThan(10);
    for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), NEW_PASSWORD, WRITTEN, MASTER_KEY]) expect(everything).not.toContain(secret);
  });
});

/**
 * Distributed mode with real processes: three `sesame serve` on one throwaway PostgreSQL behave
 * as one (every change made on one node is served by the others within 1 s), and a server and
 * the CLI on one SQLite file. Runs dist/ (`npx tsc -p tsconfig.build.json` first).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, killAll, type Node, startNode, within } from './support.js';

const ADMIN = `cluster-admin-token-${randomBytes(16).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('base64');

afterAll(() => killAll());

async function resolveOn(node: Node, token: string, reference: string): Promise<unknown> {
  const r = await api(node.url, 'POST', '/resolve', token, { reference });
  if (r.status !== 200) throw new Error(`resolve on ${node.url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.value;
}

describe('three servers on one PostgreSQL', () => {
  let postgres: PostgresHandle;
  let databaseUrl: string;
  let nodes: Node[] = [];
  let runtime: string;
  let files: string;

  beforeAll(async () => {
    postgres = await startPostgres();
    databaseUrl = await postgres.createDatabase('sesame_cluster');
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-cluster-'));
    files = path.join(cwd, 'files');
    mkdirSync(path.join(files, 'app'), { recursive: true });
    writeFileSync(path.join(files, 'app', 'key'), 'file-value-one');
    const config = path.join(cwd, 'sesame.yaml');
    writeFileSync(
      config,
      `database: ${databaseUrl}\nmasterKey: { env: SESAME_MASTER_KEY }\nstores:\n  - name: files\n    type: file\n    root: ${files}\n`,
    );
    const env = { SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: ADMIN };
    // Started at once, as a Deployment's replicas are: they migrate and bootstrap the same token.
    nodes = await Promise.all([0, 1, 2].map(() => startNode({ cwd, config, env })));
    const created = await api(nodes[0]!.url, 'POST', '/tokens', ADMIN, { role: 'runtime', name: 'cluster runtime' });
    expect(created.status).toBe(201);
    runtime = created.body.token;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await postgres?.stop();
  });

  it('serves a secret written on node 1 from nodes 2 and 3 within 1 s', async () => {
    const [n1, n2, n3] = nodes as [Node, Node, Node];
    expect((await api(n1.url, 'PUT', '/secrets/db%2Fpassword', ADMIN, { value: 'cluster-value-1' })).status).toBe(200);
    expect(await resolveOn(n2, runtime, 'secret://builtin/db/password')).toBe('cluster-value-1');
    expect(await resolveOn(n3, runtime, 'secret://builtin/db/password')).toBe('cluster-value-1');
    // Cached now: without the change feed they would serve value 1 for the TTL (5 min).
    expect((await api(n1.url, 'PUT', '/secrets/db%2Fpassword', ADMIN, { value: 'cluster-value-2' })).status).toBe(200);
    const [t2, t3] = await Promise.all(
      [n2, n3].map((n) => within(2000, async () => (await resolveOn(n, runtime, 'secret://builtin/db/password')) === 'cluster-value-2')),
    );
    expect(t2).toBeLessThan(1000);
    expect(t3).toBeLessThan(1000);
    // A delete is a change too.
    expect((await api(n1.url, 'DELETE', '/secrets/db%2Fpassword', ADMIN)).status).toBeLessThan(300);
    const gone = await within(2000, async () => (await api(n2.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/db/password' })).status === 404);
    expect(gone).toBeLessThan(1000);
  });

  it('sees a namespace, a store and a connection created on node 1 from node 2 within 1 s', async () => {
    const [n1, n2] = nodes as [Node, Node];
    expect((await api(n1.url, 'POST', '/namespaces', ADMIN, { name: 'acme', isolated: false })).status).toBe(201);
    expect(await within(2000, async () => (await api(n2.url, 'GET', '/namespaces/acme', ADMIN)).status === 200)).toBeLessThan(1000);

    const store = await api(n1.url, 'POST', '/stores', ADMIN, { name: 'more', type: 'file', settings: { root: files } });
    expect(store.status).toBe(201);
    expect(await within(2000, async () => (await api(n2.url, 'GET', '/stores/more', ADMIN)).status === 200)).toBeLessThan(1000);
    // Usable there, not only listed.
    expect(await resolveOn(n2, runtime, 'secret://more/app/key')).toBe('file-value-one');

    const conn = await api(n1.url, 'POST', '/connections', ADMIN, {
      name: 'warehouse',
      type: 'generic',
      fields: { user: 'svc', password: '{{ secret://more/app/key }}' },
    });
    expect(conn.status).toBe(201);
    expect(await within(2000, async () => (await api(n2.url, 'GET', '/connections/warehouse', ADMIN)).status === 200)).toBeLessThan(1000);

    expect((await api(n1.url, 'DELETE', '/connections/warehouse', ADMIN)).status).toBe(200);
    expect(await within(2000, async () => (await api(n2.url, 'GET', '/connections/warehouse', ADMIN)).status === 404)).toBeLessThan(1000);
  });

  it('refuses on node 2 a token revoked on node 1, at once', async () => {
    const [n1, n2] = nodes as [Node, Node];
    const created = await api(n1.url, 'POST', '/tokens', ADMIN, { role: 'runtime', name: 'to revoke' });
    expect(created.status).toBe(201);
    writeFileSync(path.join(files, 'app', 'key'), 'file-value-one');
    expect(await resolveOn(n2, created.body.token, 'secret://files/app/key')).toBe('file-value-one');
    expect((await api(n1.url, 'DELETE', `/tokens/${created.body.id}`, ADMIN)).status).toBe(200);
    const refused = await api(n2.url, 'POST', '/resolve', created.body.token, { reference: 'secret://files/app/key' });
    expect(refused.status).toBe(401);
  });

  it('drops node 2\'s cache on a refresh made on node 1', async () => {
    const [n1, n2] = nodes as [Node, Node];
    writeFileSync(path.join(files, 'app', 'key'), 'file-value-one');
    await api(n2.url, 'POST', '/refresh', ADMIN, { store: 'files' });
    expect(await resolveOn(n2, runtime, 'secret://files/app/key')).toBe('file-value-one');
    // Changed behind Sesame's back: node 2 keeps serving its cached value…
    writeFileSync(path.join(files, 'app', 'key'), 'file-value-two');
    expect(await resolveOn(n2, runtime, 'secret://files/app/key')).toBe('file-value-one');
    // …until a refresh, made on node 1.
    expect((await api(n1.url, 'POST', '/refresh', ADMIN, { store: 'files' })).status).toBe(200);
    const took = await within(2000, async () => (await resolveOn(n2, runtime, 'secret://files/app/key')) === 'file-value-two');
    expect(took).toBeLessThan(1000);
  });

  it('catches up from the log when the listening connections are killed (pg_terminate_backend)', async () => {
    const [n1, n2, n3] = nodes as [Node, Node, Node];
    expect((await api(n1.url, 'PUT', '/secrets/rotating', ADMIN, { value: 'before-kill' })).status).toBe(200);
    expect(await resolveOn(n2, runtime, 'secret://builtin/rotating')).toBe('before-kill');
    expect(await resolveOn(n3, runtime, 'secret://builtin/rotating')).toBe('before-kill');
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    try {
      const listening = async () =>
        (await admin.query<{ pid: number }>(`select pid from pg_stat_activity where datname = current_database() and query like 'LISTEN%'`)).rows;
      expect(await listening()).toHaveLength(3);
      for (const { pid } of await listening()) await admin.query('select pg_terminate_backend($1)', [pid]);
      // Written while nobody listens: the nodes find it in the log when they reconnect.
      expect((await api(n1.url, 'PUT', '/secrets/rotating', ADMIN, { value: 'after-kill' })).status).toBe(200);
      const [t2, t3] = await Promise.all(
        [n2, n3].map((n) => within(3000, async () => (await resolveOn(n, runtime, 'secret://builtin/rotating')) === 'after-kill')),
      );
      expect(t2).toBeLessThan(2000);
      expect(t3).toBeLessThan(2000);
      await within(5000, async () => (await listening()).length === 3);
    } finally {
      await admin.end();
    }
  });
});

describe('a server and the CLI on one SQLite file', () => {
  it('serves a secret set by the CLI within 1 s', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-cluster-sqlite-'));
    const config = path.join(cwd, 'sesame.yaml');
    writeFileSync(config, 'database: sqlite:./sesame.db\nmasterKey: { env: SESAME_MASTER_KEY }\n');
    const env = { SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: ADMIN };
    const node = await startNode({ cwd, config, env });
    try {
      const created = await api(node.url, 'POST', '/tokens', ADMIN, { role: 'runtime' });
      const token = created.body.token as string;
      const set = (value: string) => runCli(['secrets', 'set', 'app/key', '--config', config], { cwd, env, input: value });
      expect((await set('sqlite-value-1')).code).toBe(0);
      expect(await resolveOn(node, token, 'secret://builtin/app/key')).toBe('sqlite-value-1');
      expect((await set('sqlite-value-2')).code).toBe(0);
      const took = await within(2000, async () => (await resolveOn(node, token, 'secret://builtin/app/key')) === 'sqlite-value-2');
      expect(took).toBeLessThan(1000);
    } finally {
      await node.stop('SIGKILL');
    }
  });
});

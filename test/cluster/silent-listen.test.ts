/**
 * The listening connection dies silently: no FIN, no RST, nothing (a NAT gateway or cloud load
 * balancer dropping an idle flow, a half-open connection after a failover). With a real `sesame
 * serve` on a throwaway PostgreSQL (run `npx tsc -p tsconfig.build.json` first), simulated by
 * stopping that connection's backend with SIGSTOP: the socket stays open and says nothing. The
 * node must notice and listen again, so that changes reach it within 1 s again, rather than
 * wait for TCP to give up (hours) and fall back to its 5 s poll meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, killAll, localPostgresProcess, type Node, startNode, within } from './support.js';

const ADMIN = `silent-admin-token-${randomBytes(16).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('base64');

afterAll(() => killAll());

describe('a listening connection that goes silent', () => {
  let postgres: PostgresHandle;
  let url: string;
  let node: Node;
  let cwd: string;
  let config: string;
  let runtime: string;
  const env = { SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: ADMIN };

  beforeAll(async () => {
    postgres = await startPostgres();
    url = await postgres.createDatabase('sesame_silent');
    cwd = mkdtempSync(path.join(tmpdir(), 'sesame-silent-'));
    config = path.join(cwd, 'sesame.yaml');
    writeFileSync(config, `database: ${url}\nmasterKey: { env: SESAME_MASTER_KEY }\n`);
    // One server; the changes come from the CLI on the same database, so the only listening
    // connection is the server's.
    node = await startNode({ cwd, config, env });
    runtime = (await api(node.url, 'POST', '/tokens', ADMIN, { role: 'runtime' })).body.token;
  }, 120_000);

  afterAll(async () => {
    await node?.stop('SIGKILL');
    await postgres?.stop();
  });

  const set = async (value: string) => {
    const r = await runCli(['secrets', 'set', 'silent', '--config', config], { cwd, env, input: value });
    expect(r.code, r.stderr).toBe(0);
  };
  const served = async () => (await api(node.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/silent' })).body?.value;

  it('listens again on a new connection, and changes arrive within 1 s again', async () => {
    await set('silent-1');
    expect(await served()).toBe('silent-1');
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const listening = async () =>
      (await admin.query<{ pid: number }>(`select pid from pg_stat_activity where datname = current_database() and query like 'LISTEN%'`)).rows.map((r) => r.pid);
    const [silent] = await listening();
    expect(silent).toBeDefined();
    process.kill(localPostgresProcess(silent as number), 'SIGSTOP');
    try {
      // A connection of its own again, within the node's check of its listening connection.
      await within(20_000, async () => (await listening()).some((pid) => pid !== silent));
    } finally {
      process.kill(silent as number, 'SIGCONT');
      await admin.end();
    }
    for (const value of ['silent-2', 'silent-3', 'silent-4']) {
      await set(value);
      expect(await within(3000, async () => (await served()) === value)).toBeLessThan(1000);
    }
  }, 90_000);
});

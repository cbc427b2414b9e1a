/**
 * Nodes started at the same moment on an empty PostgreSQL without SESAME_ADMIN_TOKEN, as a
 * Deployment's replicas are on their first rollout, with real `sesame serve` processes (run
 * `npx tsc -p tsconfig.build.json` first). One first-start admin token must exist, printed by one
 * node; the other says it was already created and how to get a token, and prints none.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, emptyMigratedDatabase, killAll, type Node, startNode, within } from './support.js';

afterAll(() => killAll());

describe('two nodes starting at once on an empty PostgreSQL without SESAME_ADMIN_TOKEN', () => {
  let postgres: PostgresHandle | undefined;

  afterAll(async () => {
    killAll();
    await postgres?.stop();
  });

  it('creates one first-start admin token: one node prints it, the other says it exists and prints none', async () => {
    postgres = await startPostgres();
    const { url, cwd, config } = await emptyMigratedDatabase(postgres, 'sesame_first_token');
    const key = randomBytes(32).toString('base64');

    // Hold both nodes where they would store a token (inserts wait for this SHARE lock; reads do
    // not), so that both have started making their first-start token: the race two replicas run
    // on a first rollout, made certain instead of likely.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const watcher = new pg.Client({ connectionString: url });
    await watcher.connect();
    let starting: Array<Promise<Node>> = [];
    try {
      await admin.query('begin');
      await admin.query('lock table api_tokens in share mode');
      starting = [0, 1].map(() => startNode({ cwd, config, env: { SESAME_MASTER_KEY: key } }));
      for (const s of starting) s.catch(() => undefined);
      await within(30_000, async () => {
        const { rows } = await watcher.query<{ n: string }>(
          `select count(*) as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
           where not l.granted and a.datname = current_database()`,
        );
        return Number(rows[0]?.n) >= 2;
      });
    } finally {
      await admin.query('commit').catch(() => undefined);
      await watcher.end();
    }
    const nodes = await Promise.all(starting);
    try {
      const printed = nodes.map(
        (n) => /first start: admin token[^\n]*\n(sesame_[A-Za-z0-9_-]+)/.exec(n.output())?.[1],
      );
      const tokens = printed.filter((t): t is string => t !== undefined);
      expect(tokens).toHaveLength(1);
      const other = nodes[printed.indexOf(undefined)] as Node;
      expect(other.output()).toMatch(
        /sesame: the first-start admin token was already created \(tok_\w+, [0-9T:.-]+Z\) and shown once by the process that created it: .*sesame tokens create --role admin/,
      );
      expect(other.output()).not.toMatch(/sesame_[A-Za-z0-9_-]{43}/);
      // The one token works on both nodes.
      for (const node of nodes) expect((await api(node.url, 'GET', '/tokens', tokens[0])).status).toBe(200);
      const { rows } = await admin.query<{ n: string }>(
        `select count(*) as n from api_tokens where created_by = 'bootstrap'`,
      );
      expect(Number(rows[0]?.n)).toBe(1);
    } finally {
      await admin.end();
      for (const node of nodes) await node.stop('SIGKILL');
    }
  }, 120_000);
});

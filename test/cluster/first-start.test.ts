/**
 * Nodes started at the same moment on an empty PostgreSQL, as a Deployment's replicas are, with
 * real `sesame serve` processes (run `npx tsc -p tsconfig.build.json` first). The first start
 * records which master key the database is encrypted with; a node given another key (one pod's
 * Secret out of date) must be refused, even when both decide at the same moment.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { emptyMigratedDatabase, killAll, type Node, startNode, within } from './support.js';

const ADMIN = `first-start-admin-token-${randomBytes(16).toString('hex')}`;

afterAll(() => killAll());

describe('two nodes with different master keys starting at once on an empty PostgreSQL', () => {
  let postgres: PostgresHandle | undefined;

  afterAll(async () => {
    killAll();
    await postgres?.stop();
  });

  it('starts one and refuses the other with "wrong master key"; the database has one active key', async () => {
    postgres = await startPostgres();
    const { url, cwd, config } = await emptyMigratedDatabase(postgres, 'sesame_first_start');
    const keys = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];

    // Hold both nodes at the moment they record their key (the insert into master_keys waits for
    // this SHARE lock; reads do not), so that both have looked and found no key: the race two
    // replicas run whenever they start together, made certain instead of likely.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    // Statistics views are a snapshot per transaction: they are watched from another connection.
    const watcher = new pg.Client({ connectionString: url });
    await watcher.connect();
    let starting: Array<Promise<Node>> = [];
    try {
      await admin.query('begin');
      await admin.query('lock table master_keys in share mode');
      starting = keys.map((key) =>
        startNode({ cwd, config, env: { SESAME_MASTER_KEY: key, SESAME_ADMIN_TOKEN: ADMIN } }),
      );
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
    const [one, two] = await Promise.allSettled(starting);
    const served = [one, two].filter((r) => r?.status === 'fulfilled');
    const refused = [one, two].filter((r): r is PromiseRejectedResult => r?.status === 'rejected');
    try {
      expect(served).toHaveLength(1);
      expect(refused).toHaveLength(1);
      const message = String((refused[0]?.reason as Error | undefined)?.message);
      expect(message).toMatch(
        /wrong master key: .* is encrypted with master key [0-9a-f]{16}, but environment variable SESAME_MASTER_KEY holds [0-9a-f]{16}/,
      );
      // Neither key is printed, only ids.
      for (const key of keys) expect(message).not.toContain(key);
      const { rows } = await admin.query<{ n: string }>(
        `select count(*) as n from master_keys where state = 'active'`,
      );
      expect(Number(rows[0]?.n)).toBe(1);
    } finally {
      await admin.end();
      for (const r of [one, two]) if (r?.status === 'fulfilled') await r.value.stop('SIGKILL');
    }
  }, 120_000);
});

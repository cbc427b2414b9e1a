/**
 * A rolling change of SESAME_ADMIN_TOKEN: a node with the new value starts while a node with the
 * old one (a replica of the previous rollout, restarting) starts at the same moment, with real
 * `sesame serve` processes (run `npx tsc -p tsconfig.build.json` first). The newest value wins and
 * stays: the old node starts, says its value was replaced, and never revokes the new one; nodes
 * restarting later with the old value change nothing.
 *
 * The interleaving that let the two revoke each other is made certain: both nodes are held on
 * the token table (ACCESS EXCLUSIVE) while they adopt their value, the old node's process is
 * stopped (SIGSTOP) before they are let go, so its database read is answered but it goes on only
 * after the new node has done all it could.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/tokens/index.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, emptyMigratedDatabase, killAll, type Node, startNode, within } from './support.js';

const OLD = `roll-old-admin-token-${randomBytes(16).toString('hex')}`;
const NEW = `roll-new-admin-token-${randomBytes(16).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('base64');

afterAll(() => killAll());

describe('nodes with the old and the new SESAME_ADMIN_TOKEN starting at once', () => {
  let postgres: PostgresHandle | undefined;

  afterAll(async () => {
    killAll();
    await postgres?.stop();
  });

  it('keeps the new value and revokes the old one, whatever the order; a later old node changes nothing', async () => {
    postgres = await startPostgres();
    const { url, cwd, config } = await emptyMigratedDatabase(
      postgres,
      'sesame_roll',
      '${env:SESAME_DATABASE_URL}',
    );
    // Each node's connections carry its name, to tell them apart in pg_stat_activity.
    const as = (name: string) => {
      const u = new URL(url);
      u.searchParams.set('application_name', name);
      return u.toString();
    };
    const start = (name: string, token: string) =>
      startNode({
        cwd,
        config,
        env: { SESAME_DATABASE_URL: as(name), SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: token },
      });

    // The previous rollout: the old value is the admin token.
    const first = await start('sesame-first', OLD);
    await first.stop('SIGTERM');

    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const watcher = new pg.Client({ connectionString: url });
    await watcher.connect();
    const waitingOnLock = async (names: string[]) => {
      const { rows } = await watcher.query<{ name: string }>(
        `select distinct application_name as name from pg_stat_activity where wait_event_type = 'Lock' and application_name = any($1)`,
        [names],
      );
      return rows.length === names.length;
    };
    let oldNode: Promise<Node> | undefined;
    let newNode: Promise<Node> | undefined;
    let stopped: number | undefined;
    try {
      await admin.query('begin');
      await admin.query('lock table api_tokens in access exclusive mode');
      oldNode = start('sesame-old', OLD);
      newNode = start('sesame-new', NEW);
      oldNode.catch(() => undefined);
      newNode.catch(() => undefined);
      await within(30_000, () => waitingOnLock(['sesame-old', 'sesame-new']));
      // The node (our child process), not PostgreSQL, is stopped: its backend still answers.
      stopped = await findChildPid('sesame-old', watcher);
      process.kill(stopped, 'SIGSTOP');
      await admin.query('commit');
      // The new node goes as far as it can: it serves, or waits for the stopped node's lock.
      let newServed = false;
      void newNode.then(() => {
        newServed = true;
      });
      await within(30_000, async () => newServed || (await waitingOnLock(['sesame-new'])));
    } finally {
      await admin.query('commit').catch(() => undefined);
      if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
    }
    const nodes = await Promise.all([oldNode as Promise<Node>, newNode as Promise<Node>]);
    try {
      for (const node of nodes) {
        expect((await api(node.url, 'GET', '/tokens', NEW)).status).toBe(200);
        expect((await api(node.url, 'GET', '/tokens', OLD)).status).toBe(401);
      }
      const live = await admin.query<{ token_hash: string }>(
        `select token_hash from api_tokens where created_by = 'env:SESAME_ADMIN_TOKEN' and revoked_at is null`,
      );
      expect(live.rows.map((r) => r.token_hash)).toEqual([hashToken(NEW)]);

      // An old replica restarting later (mid-roll): it serves, says so, and changes nothing.
      const late = await start('sesame-late', OLD);
      expect(late.output()).toMatch(
        /sesame: SESAME_ADMIN_TOKEN on this node is an earlier value, replaced by a newer one \(tok_\w+, set [0-9T:.-]+Z\)/,
      );
      expect((await api(late.url, 'GET', '/tokens', NEW)).status).toBe(200);
      expect((await api(late.url, 'GET', '/tokens', OLD)).status).toBe(401);
      await late.stop('SIGKILL');
      for (const node of [...nodes, late, first])
        for (const token of [OLD, NEW]) expect(node.output()).not.toContain(token);

      // The trail holds each adoption and the old value's revocation, committed with the rows.
      const ids = await admin.query<{ id: string; token_hash: string }>(
        `select id, token_hash from api_tokens where created_by = 'env:SESAME_ADMIN_TOKEN'`,
      );
      const idOf = (token: string) => ids.rows.find((r) => r.token_hash === hashToken(token))?.id;
      const trail = await admin.query<{ actor: string; action: string; target: string }>(
        `select actor, action, target from audit_log where action like 'token.%' order by seq`,
      );
      expect(trail.rows.map((r) => `${r.action} ${r.target}`)).toEqual([
        `token.create role:admin ${idOf(OLD)}`,
        `token.revoke ${idOf(OLD)}`,
        `token.create role:admin ${idOf(NEW)}`,
      ]);
      for (const row of trail.rows) expect(row.actor).toMatch(/^serve@/);
      const all = JSON.stringify((await admin.query('select * from audit_log')).rows);
      for (const token of [OLD, NEW]) expect(all).not.toContain(token);
    } finally {
      await admin.end();
      await watcher.end();
      for (const node of nodes) await node.stop('SIGKILL');
    }
  }, 120_000);
});

/** The pid of the Sesame process whose connections are named `name` (pg_stat_activity has the client's port). */
async function findChildPid(name: string, client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ port: number }>(
    'select client_port as port from pg_stat_activity where application_name = $1 and client_port is not null limit 1',
    [name],
  );
  const port = rows[0]?.port;
  if (port === undefined) throw new Error(`no connection named ${name}`);
  const { execFileSync } = await import('node:child_process');
  // ss -tnp: the local process of the connection from 127.0.0.1:<port>.
  const line = execFileSync('ss', ['-Htnp', `sport = :${port}`], { encoding: 'utf8' });
  const pid = Number(/pid=(\d+)/.exec(line)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no process for port ${port}: ${line}`);
  // Only a node this test started is ever signalled.
  const { readFileSync } = await import('node:fs');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  if (parent !== process.pid) throw new Error(`process ${pid} is not a node this test started`);
  return pid;
}

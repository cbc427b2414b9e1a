/**
 * Distributed mode under faults, with real processes on a throwaway PostgreSQL: a node killed
 * with SIGKILL under load, and PostgreSQL stopped and started again. Runs dist/ (`npx tsc -p
 * tsconfig.build.json` first).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, killAll, type Node, startNode, within } from './support.js';

const ADMIN = `faults-admin-token-${randomBytes(16).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('base64');

afterAll(() => killAll());

describe('distributed mode under faults', () => {
  let postgres: PostgresHandle;
  let nodes: Node[] = [];
  let runtime: string;

  beforeAll(async () => {
    postgres = await startPostgres();
    const databaseUrl = await postgres.createDatabase('sesame_faults');
    // One directory per node, as on separate hosts (each keeps its own audit checkpoint).
    const start = () => {
      const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-faults-'));
      const config = path.join(cwd, 'sesame.yaml');
      writeFileSync(config, `database: ${databaseUrl}\nmasterKey: { env: SESAME_MASTER_KEY }\n`);
      return startNode({ cwd, config, env: { SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: ADMIN } });
    };
    nodes = await Promise.all([start(), start(), start()]);
    const created = await api(nodes[0]!.url, 'POST', '/tokens', ADMIN, { role: 'runtime' });
    runtime = created.body.token;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await postgres?.stop();
  });

  it('goes on when one node is killed with SIGKILL under load: no acknowledged write lost, the audit chain verifies', async () => {
    const [n1, n2, n3] = nodes as [Node, Node, Node];
    const acknowledged = new Map<string, string>();
    const survivorFailures: string[] = [];
    let stop = false;
    const writer = async (node: Node, prefix: string, survivor: boolean) => {
      for (let i = 0; !stop; i++) {
        const name = `load/${prefix}-${i}`;
        const value = `v-${prefix}-${i}-${randomBytes(4).toString('hex')}`;
        try {
          const r = await api(node.url, 'PUT', `/secrets/${encodeURIComponent(name)}`, ADMIN, { value });
          if (r.status === 200) acknowledged.set(name, value);
          else if (survivor) survivorFailures.push(`${name}: ${r.status}`);
        } catch (err) {
          if (survivor) survivorFailures.push(`${name}: ${(err as Error).message}`);
        }
      }
    };
    const reader = async (node: Node) => {
      while (!stop) {
        const r = await api(node.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/load/n1-0' }).catch((err: Error) => ({
          status: 0,
          body: err.message,
        }));
        if (r.status !== 200 && r.status !== 404) survivorFailures.push(`resolve: ${r.status}`);
      }
    };
    const load = [writer(n1, 'n1', true), writer(n2, 'n2', true), writer(n3, 'n3', false), reader(n1), reader(n2)];
    // Under load, whatever the machine's speed: writes acknowledged before the kill and after it.
    await within(15_000, async () => acknowledged.size >= 6);
    n3.child.kill('SIGKILL');
    const atKill = acknowledged.size;
    await within(15_000, async () => acknowledged.size >= atKill + 6);
    stop = true;
    await Promise.all(load);
    expect(survivorFailures).toEqual([]);
    expect(acknowledged.size).toBeGreaterThan(2);
    // Every acknowledged write, whichever node took it, is served by a survivor.
    for (const [name, value] of acknowledged) {
      const r = await api(n2.url, 'POST', '/resolve', runtime, { reference: `secret://builtin/${name}` });
      expect(r.body.value, name).toBe(value);
    }
    const verified = await api(n1.url, 'GET', '/audit/verify', ADMIN);
    expect(verified.status).toBe(200);
    expect(verified.body.ok).toBe(true);
    expect(verified.body.firstBroken).toBeUndefined();
  });

  it('reports not ready while PostgreSQL is down, serves cached values (audited in the local spool), fails writes with 503, and recovers by itself', async () => {
    // Node 3 was killed above.
    const [n1, n2] = nodes as [Node, Node];
    expect((await api(n1.url, 'PUT', '/secrets/restart', ADMIN, { value: 'before-restart' })).status).toBe(200);
    expect((await api(n1.url, 'PUT', '/secrets/never-read', ADMIN, { value: 'cold' })).status).toBe(200);
    expect((await api(n2.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/restart' })).body.value).toBe('before-restart');
    // A token node 1 has never checked: during the outage it cannot be checked there.
    const unseen = (await api(n1.url, 'POST', '/tokens', ADMIN, { role: 'runtime' })).body.token as string;
    const outageStarted = new Date().toISOString();
    await postgres.halt();
    let servedWhileDown = 0;
    try {
      const ready = await fetch(`${n1.url}/readyz`);
      expect(ready.status).toBe(503);
      const write = await api(n1.url, 'PUT', '/secrets/restart', ADMIN, { value: 'while-down' });
      expect(write.status).toBe(503);
      // The value node 2 cached is still served (within cache.staleIfError), several times.
      for (let i = 0; i < 3; i++) {
        const cached = await api(n2.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/restart' });
        expect(cached.status).toBe(200);
        expect(cached.body.value).toBe('before-restart');
        servedWhileDown++;
      }
      // A value nobody cached cannot be read: a clear 503, not a wrong answer.
      const cold = await api(n2.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/never-read' });
      expect(cold.status).toBe(503);
      expect(JSON.stringify(cold.body)).not.toContain('cold"');
      // A token this node never checked is not admitted on trust: 503, not 401 and not 200.
      const unchecked = await api(n1.url, 'POST', '/resolve', unseen, { reference: 'secret://builtin/restart' });
      expect(unchecked.status).toBe(503);
      expect(unchecked.body.error.code).toBe('database_unavailable');
    } finally {
      await postgres.resume();
    }
    await within(10_000, async () => (await fetch(`${n1.url}/readyz`)).status === 200);
    // The records spooled on node 2 during the outage reach the shared trail, in order, and the
    // chain verifies with them in it.
    const spooled = async () => {
      const page = await api(n2.url, 'GET', `/audit?action=resolve&from=${encodeURIComponent(outageStarted)}&order=asc&limit=100`, ADMIN);
      return (page.body.items as Array<{ actor: string; target: string; outcome: string; at: string }>).filter((r) => r.target === 'secret://builtin/restart' && r.outcome === 'ok');
    };
    await within(10_000, async () => (await spooled()).length >= servedWhileDown);
    const records = await spooled();
    expect(records.length).toBe(servedWhileDown);
    for (const r of records) expect(Date.parse(r.at)).toBeGreaterThanOrEqual(Date.parse(outageStarted));
    const refused = await api(n2.url, 'GET', `/audit?action=resolve&from=${encodeURIComponent(outageStarted)}&outcome=error&limit=100`, ADMIN);
    expect((refused.body.items as Array<{ target: string }>).some((r) => r.target === 'secret://builtin/never-read')).toBe(true);
    const verified = await api(n1.url, 'GET', '/audit/verify', ADMIN);
    expect(verified.body.ok).toBe(true);
    await within(10_000, async () => (await api(n1.url, 'PUT', '/secrets/restart', ADMIN, { value: 'after-restart' })).status === 200);
    // The listeners reconnected: the change reaches node 2 through the feed again.
    const took = await within(3000, async () => (await api(n2.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/restart' })).body?.value === 'after-restart');
    expect(took).toBeLessThan(1000);
  });
});

/**
 * PostgreSQL that stops answering without closing anything (a network partition, a failover
 * whose old address black-holes, a host frozen by its hypervisor), with a real `sesame serve`
 * (run `npx tsc -p tsconfig.build.json` first). Simulated by stopping every process of a
 * throwaway cluster with SIGSTOP: connections stay open, new ones are accepted by the kernel and
 * never answered. A node must answer in bounded time — readiness 503, writes 503 with a clear
 * message, cached values served as during any outage — and recover by itself after SIGCONT.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { killAll, localPostgresProcess, type Node, startNode, within } from './support.js';

const ADMIN = `hung-admin-token-${randomBytes(16).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('base64');
const VALUE = `hung-value-${randomBytes(8).toString('hex')}`;
const WRITTEN = `hung-write-${randomBytes(8).toString('hex')}`;

afterAll(() => killAll());

/** The parent pid of `pid` (field 4 of /proc/<pid>/stat, after the parenthesised name). */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The postmaster and every process it started. */
function clusterProcesses(postmaster: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (parentOf(Number(entry)) === postmaster) children.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return [postmaster, ...children];
}

/** A request that must be answered within `limitMs`: its status, body and how long it took. */
async function timed(url: string, init: RequestInit, limitMs: number) {
  const started = performance.now();
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(limitMs) });
  const text = await response.text();
  return { status: response.status, text, ms: performance.now() - started };
}

describe('a PostgreSQL that stops answering (SIGSTOP)', () => {
  let postgres: PostgresHandle;
  let node: Node;
  let runtime: string;
  let postmaster: number;

  beforeAll(async () => {
    postgres = await startPostgres();
    const url = await postgres.createDatabase('sesame_hung');
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-hung-'));
    const config = path.join(cwd, 'sesame.yaml');
    writeFileSync(config, `database: ${url}\nmasterKey: { env: SESAME_MASTER_KEY }\n`);
    node = await startNode({ cwd, config, env: { SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: ADMIN } });
    const created = await timed(
      `${node.url}/api/v1/tokens`,
      { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: '{"role":"runtime"}' },
      10_000,
    );
    runtime = JSON.parse(created.text).token;
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    postmaster = localPostgresProcess(parentOf(localPostgresProcess((await probe.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid ?? 0)));
    await probe.end();
  }, 120_000);

  afterAll(async () => {
    await node?.stop('SIGKILL');
    await postgres?.stop();
  });

  it('answers readiness, writes and cached resolves in bounded time, then recovers by itself', async () => {
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const asRuntime = { authorization: `Bearer ${runtime}`, 'content-type': 'application/json' };
    const resolve = { method: 'POST', headers: asRuntime, body: JSON.stringify({ reference: 'secret://builtin/hung' }) };
    expect((await timed(`${node.url}/api/v1/secrets/hung`, { method: 'PUT', headers: admin, body: JSON.stringify({ value: VALUE }) }, 10_000)).status).toBe(200);
    expect(JSON.parse((await timed(`${node.url}/api/v1/resolve`, resolve, 10_000)).text).value).toBe(VALUE);

    const frozen = clusterProcesses(postmaster);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    let ready: Awaited<ReturnType<typeof timed>>;
    let write: Awaited<ReturnType<typeof timed>>;
    let cached: Awaited<ReturnType<typeof timed>>;
    const after: Array<Awaited<ReturnType<typeof timed>>> = [];
    try {
      // At once, as a load balancer's probe and clients would: none may hang.
      [ready, write, cached] = await Promise.all([
        timed(`${node.url}/readyz`, {}, 20_000),
        timed(`${node.url}/api/v1/secrets/hung`, { method: 'PUT', headers: admin, body: JSON.stringify({ value: WRITTEN }) }, 20_000),
        timed(`${node.url}/api/v1/resolve`, resolve, 20_000),
      ]);
      // The node now knows the database is silent: the next requests do not wait the limit out
      // again, one after the other as a client retrying would send them.
      for (let i = 0; i < 5; i++) after.push(await timed(`${node.url}/api/v1/resolve`, resolve, 2000));
      after.push(await timed(`${node.url}/readyz`, {}, 2000));
      after.push(await timed(`${node.url}/api/v1/secrets/hung`, { method: 'PUT', headers: admin, body: JSON.stringify({ value: WRITTEN }) }, 2000));
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    expect(ready.status).toBe(503);
    // Readiness answers within its own limit (2 s), not the statement's (10 s): a probe with a
    // short timeout sees 503, not a timeout of its own.
    expect(ready.ms).toBeLessThan(2500);
    expect(write.status).toBe(503);
    // A builtin secret's write goes through its store: the node's diagnosis, naming the store,
    // with what to check (not the driver's bare message).
    expect(JSON.parse(write.text).error.code).toBe('database_unavailable');
    expect(JSON.parse(write.text).error.message).toMatch(/^\[builtin\] the postgres database: the database (did not answer within 10 s|does not answer)/);
    expect(JSON.parse(write.text).error.fix).toMatch(/check that PostgreSQL is running and reachable/);
    // A value this node cached, for a token it checked: served as in any outage.
    expect(cached.status).toBe(200);
    expect(JSON.parse(cached.text).value).toBe(VALUE);
    expect(write.text).not.toContain(WRITTEN);
    expect(after.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 503, 503]);
    for (const r of after.slice(0, 5)) expect(JSON.parse(r.text).value).toBe(VALUE);

    // Back by itself, without a restart.
    await within(20_000, async () => (await timed(`${node.url}/readyz`, {}, 10_000)).status === 200);
    await within(20_000, async () => (await timed(`${node.url}/api/v1/secrets/after`, { method: 'PUT', headers: admin, body: '{"value":"after-hang"}' }, 10_000)).status === 200);
    const verified = await timed(`${node.url}/api/v1/audit/verify`, { headers: admin }, 10_000);
    expect(JSON.parse(verified.text).ok).toBe(true);
    for (const secret of [VALUE, WRITTEN, MASTER_KEY]) expect(node.output()).not.toContain(secret);
  }, 120_000);
});

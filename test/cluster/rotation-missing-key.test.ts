/**
 * A master key rotation while one node was not given the new key (its Secret not updated, or not
 * restarted with `NEW,OLD`), with real `sesame serve` processes on a throwaway PostgreSQL (run
 * `npx tsc -p tsconfig.build.json` first). That node cannot do what needs the new key; it must
 * say so as a server-side unavailability (503: another node can do it, a client or load
 * balancer may retry there), never as the client's mistake (400), and name the key by id only.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, killAll, type Node, startNode, within } from './support.js';

const ADMIN = `rotation-admin-token-${randomBytes(16).toString('hex')}`;
const OLD = randomBytes(32).toString('base64');
const NEW = randomBytes(32).toString('base64');
const VALUES = { cold: `cold-${randomBytes(8).toString('hex')}`, write: `write-${randomBytes(8).toString('hex')}` };

afterAll(() => killAll());

describe('a rotation while one node holds only the old master key', () => {
  let postgres: PostgresHandle;
  let updated: Node;
  let stale: Node;
  let cwd: string;
  let config: string;

  beforeAll(async () => {
    postgres = await startPostgres();
    const url = await postgres.createDatabase('sesame_rotation');
    cwd = mkdtempSync(path.join(tmpdir(), 'sesame-rotation-'));
    config = path.join(cwd, 'sesame.yaml');
    writeFileSync(config, `database: ${url}\nmasterKey: { env: SESAME_MASTER_KEY }\n`);
    // Both start on the old key; one is then restarted with NEW,OLD as docs/deploy.md says, the
    // other is forgotten.
    const first = await startNode({ cwd, config, env: { SESAME_MASTER_KEY: OLD, SESAME_ADMIN_TOKEN: ADMIN } });
    stale = await startNode({ cwd, config, env: { SESAME_MASTER_KEY: OLD, SESAME_ADMIN_TOKEN: ADMIN } });
    await first.stop();
    updated = await startNode({ cwd, config, env: { SESAME_MASTER_KEY: `${NEW},${OLD}`, SESAME_ADMIN_TOKEN: ADMIN } });
  }, 120_000);

  afterAll(async () => {
    await Promise.all([updated, stale].map((n) => n?.stop('SIGKILL')));
    await postgres?.stop();
  });

  it('answers 503 with the key id and what to do, for reads and writes, and reports not ready', async () => {
    expect((await api(updated.url, 'PUT', '/secrets/cold', ADMIN, { value: VALUES.cold })).status).toBe(200);
    const rotated = await runCli(['keys', 'rotate', '--config', config], { cwd, env: { SESAME_MASTER_KEY: `${NEW},${OLD}` } });
    expect(rotated.code, rotated.stderr).toBe(0);
    const newId = /rotated to master key ([0-9a-f]{16})/.exec(rotated.stdout)?.[1];
    expect(newId).toBeDefined();

    await within(5000, async () => (await fetch(`${stale.url}/readyz`)).status === 503);
    const write = await api(stale.url, 'PUT', '/secrets/after', ADMIN, { value: VALUES.write });
    expect(write.status).toBe(503);
    expect(write.body.error.message).toContain(`master key ${newId} is now active`);
    expect(write.body.error.message).toMatch(/give this process the new key and restart it/);
    const runtime = (await api(updated.url, 'POST', '/tokens', ADMIN, { role: 'runtime' })).body.token as string;
    const read = await api(stale.url, 'POST', '/resolve', runtime, { reference: 'secret://builtin/cold' });
    expect(read.status).toBe(503);
    expect(read.body.error.code).toBe('master_key_unknown');
    expect(read.body.error.message).toContain(`encrypted with master key ${newId}`);
    // The node with the new key does both.
    expect((await api(updated.url, 'PUT', '/secrets/after', ADMIN, { value: VALUES.write })).status).toBe(200);
    const output = stale.output() + updated.output() + JSON.stringify([write.body, read.body]);
    for (const secret of [OLD, NEW, VALUES.cold, VALUES.write]) expect(output).not.toContain(secret);
  });
});

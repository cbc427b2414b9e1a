/**
 * The database restored from a backup while the nodes run (an operator undoing a bad change, or
 * a failover to a replica that had not received the last transactions), with real `sesame serve`
 * processes on a throwaway PostgreSQL (run `npx tsc -p tsconfig.build.json` first) and the real
 * pg_dump / pg_restore. The change feed's sequence goes back with it: the changes made after the
 * restore carry sequence numbers the nodes have already read past. They must still reach every
 * node.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, killAll, type Node, startNode, within } from './support.js';

const run = promisify(execFile);
const ADMIN = `restore-admin-token-${randomBytes(16).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('base64');
const BIN = ['/usr/lib/postgresql/15/bin', process.env['SESAME_PG_BIN'] ?? ''].find((d) => d !== '' && existsSync(path.join(d, 'pg_dump')));

afterAll(() => killAll());

describe('the database restored from a backup while two nodes run', () => {
  let postgres: PostgresHandle;
  let url: string;
  let a: Node;
  let b: Node;
  let cwd: string;
  let runtime: string;

  beforeAll(async () => {
    if (!BIN) throw new Error('pg_dump not found in /usr/lib/postgresql/15/bin: install postgresql-15 or set SESAME_PG_BIN');
    postgres = await startPostgres();
    url = await postgres.createDatabase('sesame_restore');
    cwd = mkdtempSync(path.join(tmpdir(), 'sesame-restore-'));
    const config = path.join(cwd, 'sesame.yaml');
    writeFileSync(config, `database: ${url}\nmasterKey: { env: SESAME_MASTER_KEY }\n`);
    const env = { SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: ADMIN };
    [a, b] = await Promise.all([startNode({ cwd, config, env }), startNode({ cwd, config, env })]);
    runtime = (await api(a.url, 'POST', '/tokens', ADMIN, { role: 'runtime' })).body.token;
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a, b].map((n) => n?.stop('SIGKILL')));
    await postgres?.stop();
  });

  const put = async (name: string, value: string) => expect((await api(a.url, 'PUT', `/secrets/${name}`, ADMIN, { value })).status).toBe(200);
  const onB = async (name: string) => (await api(b.url, 'POST', '/resolve', runtime, { reference: `secret://builtin/${name}` })).body?.value;

  it('serves on node B a secret written on node A after the restore, within 1 s', async () => {
    await put('restored', 'before-backup');
    expect(await onB('restored')).toBe('before-backup');
    const dump = path.join(cwd, 'sesame.dump');
    await run(path.join(BIN as string, 'pg_dump'), ['-Fc', '-f', dump, url]);
    // Changes after the backup, which the restore undoes; B reads past their sequence numbers.
    await put('restored', 'after-backup');
    for (let i = 0; i < 5; i++) await put(`later-${i}`, `later-${i}`);
    await within(2000, async () => (await onB('restored')) === 'after-backup');

    await run(path.join(BIN as string, 'pg_restore'), ['--clean', '--if-exists', '--no-owner', '-d', url, dump]);

    // Written after the restore: its change row reuses a sequence number B has already passed.
    await put('restored', 'after-restore');
    const took = await within(3000, async () => (await onB('restored')) === 'after-restore');
    expect(took).toBeLessThan(1000);
    // And so does a new name, never cached anywhere, for completeness of what B applies.
    await put('later-0', 'rewritten');
    expect(await within(3000, async () => (await onB('later-0')) === 'rewritten')).toBeLessThan(1000);
  }, 90_000);
});

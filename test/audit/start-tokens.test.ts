/**
 * The admin tokens `sesame serve` makes or revokes at start (the first-start token, a
 * SESAME_ADMIN_TOKEN adopted, the earlier values it revokes) are in the audit trail, committed
 * with the token rows: who (`serve@<host>`), what (token id and role, never the token), and the
 * revoked ids; an append that fails stops the start and leaves the tokens as they were. Real
 * `sesame serve` and `sesame audit` processes on SQLite (run `npx tsc -p tsconfig.build.json` first).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, startNode } from '../cluster/support.js';
import { runCli } from '../support/cli.js';

const MASTER_KEY = randomBytes(32).toString('base64');
const FIRST_VALUE = `start-admin-one-${randomBytes(16).toString('hex')}`;
const SECOND_VALUE = `start-admin-two-${randomBytes(16).toString('hex')}`;
const REFUSED_VALUE = `start-admin-three-${randomBytes(16).toString('hex')}`;

afterAll(() => killAll());

interface Row {
  seq: number;
  actor: string;
  action: string;
  target: string;
  outcome: string;
}

describe('admin tokens made or revoked by sesame serve at start', () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-start-tokens-'));
  const config = path.join(cwd, 'sesame.yaml');
  writeFileSync(config, 'database: sqlite:./sesame.db\nmasterKey: { env: SESAME_MASTER_KEY }\n');
  const env = { SESAME_MASTER_KEY: MASTER_KEY };
  const outputs: string[] = [];
  const actor = `serve@${hostname().replace(/[^A-Za-z0-9.-]/g, '_')}`;

  const serveOnce = async (extra: Record<string, string>) => {
    const node = await startNode({ cwd, config, env: { ...env, ...extra } });
    outputs.push(node.output());
    await node.stop();
  };
  const tokenRows = () => {
    const db = new Database(path.join(cwd, 'sesame.db'), { readonly: true });
    try {
      return db.prepare('select id, created_by, revoked_at from api_tokens order by created_at').all() as { id: string; created_by: string; revoked_at: string | null }[];
    } finally {
      db.close();
    }
  };
  const audit = async () => {
    const listed = await runCli(['audit', 'list', '--action', 'token.', '--limit', '100', '--json', '--config', config], { cwd, env });
    outputs.push(listed.stdout, listed.stderr);
    expect(listed.code).toBe(0);
    // Newest first: oldest first here.
    return (JSON.parse(listed.stdout) as Row[]).sort((a, b) => a.seq - b.seq);
  };
  const tokenEvents = async () =>
    (await audit()).filter((r) => r.action.startsWith('token.')).map(({ actor, action, target, outcome }) => ({ actor, action, target, outcome }));

  it('records the first-start token, an adopted SESAME_ADMIN_TOKEN and the value it revokes; verify passes; no token in the trail', async () => {
    await serveOnce({});
    const firstStart = /admin token \(shown once[^\n]*\n(\S+)\n/.exec(outputs[0] ?? '')?.[1];
    expect(firstStart).toBeDefined();
    const [created] = tokenRows();
    expect(await tokenEvents()).toEqual([{ actor, action: 'token.create', target: `role:admin ${created?.id}`, outcome: 'ok' }]);

    await serveOnce({ SESAME_ADMIN_TOKEN: FIRST_VALUE });
    await serveOnce({ SESAME_ADMIN_TOKEN: SECOND_VALUE });
    const [, first, second] = tokenRows();
    expect(first?.revoked_at).not.toBeNull();
    expect(await tokenEvents()).toEqual([
      { actor, action: 'token.create', target: `role:admin ${created?.id}`, outcome: 'ok' },
      { actor, action: 'token.create', target: `role:admin ${first?.id}`, outcome: 'ok' },
      { actor, action: 'token.revoke', target: first?.id, outcome: 'ok' },
      { actor, action: 'token.create', target: `role:admin ${second?.id}`, outcome: 'ok' },
    ]);

    const verified = await runCli(['audit', 'verify', '--config', config], { cwd, env });
    outputs.push(verified.stdout, verified.stderr);
    expect(verified.code).toBe(0);
    const trail = JSON.stringify(await audit());
    for (const token of [firstStart ?? '', FIRST_VALUE, SECOND_VALUE]) expect(trail).not.toContain(token);
  }, 120_000);

  it('fails closed: an audit append that fails stops the start, and the new value neither lands nor revokes', async () => {
    const before = tokenRows();
    const db = new Database(path.join(cwd, 'sesame.db'));
    db.exec("create trigger refuse_audit before insert on audit_log begin select raise(abort, 'audit refused by the test'); end");
    db.close();
    try {
      const refused = await startNode({ cwd, config, env: { ...env, SESAME_ADMIN_TOKEN: REFUSED_VALUE } }).then(
        () => 'started',
        (err: Error) => err.message,
      );
      outputs.push(refused);
      expect(refused).toMatch(/serve exited with [1-9]/);
    } finally {
      const reopened = new Database(path.join(cwd, 'sesame.db'));
      reopened.exec('drop trigger refuse_audit');
      reopened.close();
    }
    expect(tokenRows()).toEqual(before);
    for (const text of outputs) expect(text).not.toContain(REFUSED_VALUE);
  }, 60_000);
});

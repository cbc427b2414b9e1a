/**
 * Every kind of change PRODUCT.md's "Distributed mode" lists (secrets, stores, connections,
 * namespaces, tokens, refreshes, key rotation), made on one of two real `sesame serve` processes
 * sharing one database (or by the CLI on it), reaches the other within 1 s: not only created, but
 * changed and removed too. On a SQLite file and on a throwaway PostgreSQL. Runs dist/ (`npx tsc
 * -p tsconfig.build.json` first).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, killAll, type Node, startNode, within } from './support.js';

const ADMIN = `kinds-admin-token-${randomBytes(16).toString('hex')}`;

afterAll(() => killAll());

describe.each(['SQLite file', 'PostgreSQL'])(
  'two servers and the CLI on one %s: every kind of change',
  (database) => {
    let postgres: PostgresHandle | undefined;
    let a: Node;
    let b: Node;
    let cwd: string;
    let config: string;
    let runtime: string;
    const env = { SESAME_ADMIN_TOKEN: ADMIN };
    const dirs = { one: '', two: '' };

    const resolveOn = async (node: Node, reference: string, namespace = '') => {
      const r = await api(node.url, 'POST', '/resolve', runtime, { reference, namespace });
      return r.status === 200 ? r.body.value : `status ${r.status}`;
    };
    /** How long `check` took to hold on B (at most 2 s, or it throws). */
    const onB = (check: () => Promise<boolean>) => within(2000, check);

    beforeAll(async () => {
      cwd = mkdtempSync(path.join(tmpdir(), 'sesame-kinds-'));
      for (const k of ['one', 'two'] as const) {
        dirs[k] = path.join(cwd, k);
        mkdirSync(path.join(dirs[k], 'app'), { recursive: true });
        writeFileSync(path.join(dirs[k], 'app', 'key'), `file-${k}`);
      }
      config = path.join(cwd, 'sesame.yaml');
      let url = 'sqlite:./sesame.db';
      if (database === 'PostgreSQL') {
        postgres = await startPostgres();
        url = await postgres.createDatabase('sesame_kinds');
      }
      writeFileSync(config, `database: ${url}\nmasterKey: { file: ./master.key }\n`);
      expect((await runCli(['keys', 'init', '--config', config], { cwd, env })).code).toBe(0);
      a = await startNode({ cwd, config, env });
      b = await startNode({ cwd, config, env });
      const created = await api(a.url, 'POST', '/tokens', ADMIN, { role: 'runtime', name: 'kinds runtime' });
      expect(created.status).toBe(201);
      runtime = created.body.token;
    }, 120_000);

    afterAll(async () => {
      await Promise.all([a, b].map((n) => n?.stop('SIGKILL')));
      await postgres?.stop();
    });

    it('a store: created, its settings changed (the values it served are dropped), deleted', async () => {
      const created = await api(a.url, 'POST', '/stores', ADMIN, {
        name: 'files',
        type: 'file',
        settings: { root: dirs.one },
      });
      expect(created.status).toBe(201);
      expect(
        await onB(async () => (await resolveOn(b, 'secret://files/app/key')) === 'file-one'),
      ).toBeLessThan(1000);
      const changed = await api(a.url, 'PUT', '/stores/files', ADMIN, {
        type: 'file',
        settings: { root: dirs.two },
      });
      expect(changed.status).toBe(200);
      expect(
        await onB(async () => (await resolveOn(b, 'secret://files/app/key')) === 'file-two'),
      ).toBeLessThan(1000);
      expect((await api(a.url, 'DELETE', '/stores/files', ADMIN)).status).toBeLessThan(300);
      expect(
        await onB(async () => (await api(b.url, 'GET', '/stores/files', ADMIN)).status === 404),
      ).toBeLessThan(1000);
      expect(await resolveOn(b, 'secret://files/app/key')).not.toBe('file-two');
    });

    it('a connection: created, its fields changed, deleted', async () => {
      await api(a.url, 'PUT', '/secrets/conn%2Fone', ADMIN, { value: 'conn-value-one' });
      await api(a.url, 'PUT', '/secrets/conn%2Ftwo', ADMIN, { value: 'conn-value-two' });
      const refs = async () =>
        JSON.stringify((await api(b.url, 'GET', '/connections/warehouse', ADMIN)).body?.references ?? []);
      const created = await api(a.url, 'POST', '/connections', ADMIN, {
        name: 'warehouse',
        type: 'generic',
        fields: { password: '{{ secret://builtin/conn/one }}' },
      });
      expect(created.status).toBe(201);
      expect(await onB(async () => (await refs()).includes('conn/one'))).toBeLessThan(1000);
      const changed = await api(a.url, 'PUT', '/connections/warehouse', ADMIN, {
        type: 'generic',
        fields: { password: '{{ secret://builtin/conn/two }}' },
      });
      expect(changed.status).toBe(200);
      expect(await onB(async () => (await refs()).includes('conn/two'))).toBeLessThan(1000);
      expect((await api(a.url, 'DELETE', '/connections/warehouse', ADMIN)).status).toBe(200);
      expect(
        await onB(async () => (await api(b.url, 'GET', '/connections/warehouse', ADMIN)).status === 404),
      ).toBeLessThan(1000);
    });

    it('a secret: written, deleted and restored', async () => {
      await api(a.url, 'PUT', '/secrets/life', ADMIN, { value: 'life-1' });
      expect(await onB(async () => (await resolveOn(b, 'secret://builtin/life')) === 'life-1')).toBeLessThan(
        1000,
      );
      expect((await api(a.url, 'DELETE', '/secrets/life', ADMIN)).status).toBeLessThan(300);
      expect(
        await onB(async () => (await resolveOn(b, 'secret://builtin/life')) === 'status 404'),
      ).toBeLessThan(1000);
      expect((await api(a.url, 'POST', '/secrets/life/restore', ADMIN)).status).toBeLessThan(300);
      expect(await onB(async () => (await resolveOn(b, 'secret://builtin/life')) === 'life-1')).toBeLessThan(
        1000,
      );
    });

    it('a namespace: created, then isolated from its parent', async () => {
      expect((await api(a.url, 'POST', '/namespaces', ADMIN, { name: 'kinds' })).status).toBe(201);
      await api(a.url, 'PUT', '/secrets/inherited', ADMIN, { value: 'from-root' });
      expect(
        await onB(async () => (await resolveOn(b, 'secret://builtin/inherited', 'kinds')) === 'from-root'),
      ).toBeLessThan(1000);
      expect((await api(a.url, 'PATCH', '/namespaces/kinds', ADMIN, { isolated: true })).status).toBe(200);
      expect(
        await onB(async () => (await resolveOn(b, 'secret://builtin/inherited', 'kinds')) === 'status 404'),
      ).toBeLessThan(1000);
    });

    it('a token: created on A is taken by B at once, revoked on A is refused by B at once', async () => {
      const created = await api(a.url, 'POST', '/tokens', ADMIN, {
        role: 'operator',
        name: 'kinds operator',
      });
      expect(created.status).toBe(201);
      expect((await api(b.url, 'GET', '/secrets', created.body.token)).status).toBe(200);
      expect((await api(a.url, 'DELETE', `/tokens/${created.body.id}`, ADMIN)).status).toBe(200);
      expect((await api(b.url, 'GET', '/secrets', created.body.token)).status).toBe(401);
    });

    it('a refresh of a connection made on A drops its values on B', async () => {
      const created = await api(a.url, 'POST', '/stores', ADMIN, {
        name: 'files2',
        type: 'file',
        settings: { root: dirs.one },
      });
      expect(created.status).toBe(201);
      const conn = await api(a.url, 'POST', '/connections', ADMIN, {
        name: 'filed',
        type: 'generic',
        fields: { key: '{{ secret://files2/app/key }}' },
      });
      expect(conn.status).toBe(201);
      writeFileSync(path.join(dirs.one, 'app', 'key'), 'file-one');
      expect(
        await onB(async () => (await resolveOn(b, 'secret://files2/app/key')) === 'file-one'),
      ).toBeLessThan(1000);
      writeFileSync(path.join(dirs.one, 'app', 'key'), 'file-one-rotated');
      expect(await resolveOn(b, 'secret://files2/app/key')).toBe('file-one'); // cached on B
      expect((await api(a.url, 'POST', '/connections/filed/refresh', ADMIN)).status).toBe(200);
      expect(
        await onB(async () => (await resolveOn(b, 'secret://files2/app/key')) === 'file-one-rotated'),
      ).toBeLessThan(1000);
    });

    it('a key rotation by the CLI: both servers read and write under the new key (the old one is gone from the key file)', async () => {
      await api(a.url, 'PUT', '/secrets/before-rotation', ADMIN, { value: 'written-before' });
      const rotated = await runCli(['keys', 'rotate', '--config', config, '--json'], { cwd, env });
      expect(rotated.code, rotated.stderr).toBe(0);
      // Written by B after the rotation, read by A; and the other way round.
      await within(
        2000,
        async () =>
          (await api(b.url, 'PUT', '/secrets/after-rotation-b', ADMIN, { value: 'written-by-b' })).status ===
          200,
      );
      expect(
        await onB(async () => (await resolveOn(a, 'secret://builtin/after-rotation-b')) === 'written-by-b'),
      ).toBeLessThan(1000);
      expect(
        (await api(a.url, 'PUT', '/secrets/after-rotation-a', ADMIN, { value: 'written-by-a' })).status,
      ).toBe(200);
      expect(
        await onB(async () => (await resolveOn(b, 'secret://builtin/after-rotation-a')) === 'written-by-a'),
      ).toBeLessThan(1000);
      expect(await resolveOn(b, 'secret://builtin/before-rotation')).toBe('written-before');
      expect(await resolveOn(a, 'secret://builtin/before-rotation')).toBe('written-before');
    });
  },
);

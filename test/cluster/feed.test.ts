/**
 * The change feed in one process: two servers on one SQLite file (each its own Sesame, database
 * handle and node id), the rows a change commits, and what another server does with them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateMasterKey } from '../../src/encrypted-store/index.js';
import { parseRefreshChange, refreshChangeTarget } from '../../src/cluster/changes.js';
import { RESYNC } from '../../src/cluster/listener.js';
import { applyChanges } from '../../src/server/cluster.js';
import { memoryBackend } from '../support/memory-store.js';
import { startTestServer, type TestServer } from '../server/helpers.js';
import { within } from './support.js';

describe('the change feed between two servers on one SQLite file', () => {
  let a: TestServer;
  let b: TestServer;
  let runtime: string;
  const memory = memoryBackend();

  beforeAll(async () => {
    a = await startTestServer({ memory });
    b = await startTestServer({ dir: a.dir, memory });
    await a.call('POST', '/api/v1/stores', {
      token: (await a.token('admin')).token,
      body: { name: 'mem', type: 'memory', settings: { backend: 'mem' } },
    });
    runtime = (await a.token('runtime')).token;
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const resolve = async (t: TestServer, reference: string) => {
    const r = await t.call('POST', '/api/v1/resolve', { token: runtime, body: { reference } });
    return r.status === 200 ? r.body.value : `status ${r.status}`;
  };

  it('commits one row per change, with names and never the value', async () => {
    const admin = (await a.token('admin')).token;
    const value = `feed-value-${Date.now()}`;
    const before = await a.server.services.backend.database.kysely
      .selectFrom('changes')
      .selectAll()
      .execute();
    expect(
      (await a.call('PUT', '/api/v1/secrets/feed%2Fone', { token: admin, body: { value } })).status,
    ).toBe(200);
    const rows = await a.server.services.backend.database.kysely.selectFrom('changes').selectAll().execute();
    const added = rows.slice(before.length);
    expect(added.map((r) => [r.kind, r.namespace, r.target])).toEqual([['secret', '', 'feed/one']]);
    expect(JSON.stringify(rows)).not.toContain(value);
    // A write that fails (check-and-set on a wrong version) commits no row.
    const refused = await a.call('PUT', '/api/v1/secrets/feed%2Fone', {
      token: admin,
      body: { value: 'x', expectedVersion: '7' },
    });
    expect(refused.status).toBe(409);
    expect(
      await a.server.services.backend.database.kysely.selectFrom('changes').selectAll().execute(),
    ).toHaveLength(rows.length);
  });

  it("drops the other server's cached value of a builtin secret within 1 s", async () => {
    const admin = (await a.token('admin')).token;
    await a.call('PUT', '/api/v1/secrets/feed%2Ftwo', { token: admin, body: { value: 'two-1' } });
    expect(await resolve(b, 'secret://builtin/feed/two')).toBe('two-1');
    await a.call('PUT', '/api/v1/secrets/feed%2Ftwo', { token: admin, body: { value: 'two-2' } });
    expect(
      await within(2000, async () => (await resolve(b, 'secret://builtin/feed/two')) === 'two-2'),
    ).toBeLessThan(1000);
  });

  it('gets the store created on the other server, and its refreshes', async () => {
    memory.set('app/key', 'mem-1');
    await within(2000, async () => (await resolve(b, 'secret://mem/app/key')) === 'mem-1');
    memory.set('app/key', 'mem-2');
    expect(await resolve(b, 'secret://mem/app/key')).toBe('mem-1');
    const admin = (await a.token('admin')).token;
    expect((await a.call('POST', '/api/v1/refresh', { token: admin, body: { store: 'mem' } })).status).toBe(
      200,
    );
    expect(
      await within(2000, async () => (await resolve(b, 'secret://mem/app/key')) === 'mem-2'),
    ).toBeLessThan(1000);
  });

  it('makes the other server hold the new master key as soon as a rotation finishes', async () => {
    // Both servers read the same key file (the default ./.sesame/master.key of their directory).
    const before = b.server.services.backend.keyring.primary.id;
    const rotated = await rotateMasterKey(a.server.services.backend, { actor: 'test' });
    expect(rotated.keyId).not.toBe(before);
    const took = await within(
      2000,
      async () => b.server.services.backend.keyring.primary.id === rotated.keyId,
    );
    expect(took).toBeLessThan(1000);
    // And it reads what A writes under the new key.
    const admin = (await a.token('admin')).token;
    await a.call('PUT', '/api/v1/secrets/feed%2Frotated', {
      token: admin,
      body: { value: 'after-rotation' },
    });
    expect(await resolve(b, 'secret://builtin/feed/rotated')).toBe('after-rotation');
  });

  it('applies a namespace made isolated on the other server, cached values included, within 1 s', async () => {
    const admin = (await a.token('admin')).token;
    expect((await a.call('POST', '/api/v1/namespaces', { token: admin, body: { name: 'iso' } })).status).toBe(
      201,
    );
    await a.call('PUT', '/api/v1/secrets/feed%2Finherited', { token: admin, body: { value: 'from-root' } });
    const fromIso = async () => {
      const r = await b.call('POST', '/api/v1/resolve', {
        token: runtime,
        body: { reference: 'secret://builtin/feed/inherited', namespace: 'iso' },
      });
      return r.status;
    };
    expect(await within(2000, async () => (await fromIso()) === 200)).toBeLessThan(1000);
    // Cached on B for iso; isolating iso on A cuts it off from the root's secrets on B too.
    expect(
      (await a.call('PATCH', '/api/v1/namespaces/iso', { token: admin, body: { isolated: true } })).status,
    ).toBe(200);
    expect(await within(2000, async () => (await fromIso()) === 404)).toBeLessThan(1000);
  });

  it('applies a resync (rows that may have been pruned unread): every cached value dropped, the config and keys read again', async () => {
    memory.set('app/key', 'resync-1');
    const admin = (await a.token('admin')).token;
    await b.call('POST', '/api/v1/refresh', { token: admin, body: { store: 'mem' } });
    expect(await resolve(b, 'secret://mem/app/key')).toBe('resync-1');
    memory.set('app/key', 'resync-2');
    expect(await resolve(b, 'secret://mem/app/key')).toBe('resync-1');
    const at = new Date().toISOString();
    await applyChanges(b.server.services)(RESYNC.map((r) => ({ ...r, createdAt: at })));
    expect(await resolve(b, 'secret://mem/app/key')).toBe('resync-2');
  });

  it('keeps a refresh target and its scope in the row', () => {
    expect(parseRefreshChange(refreshChangeTarget({ connection: 'jira' }, 'acme'))).toEqual({
      target: { connection: 'jira' },
      scope: 'acme',
    });
    expect(parseRefreshChange(refreshChangeTarget({ all: true }, ''))).toEqual({
      target: { all: true },
      scope: '',
    });
    expect(parseRefreshChange('not json')).toBeUndefined();
  });
});

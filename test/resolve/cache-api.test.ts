/**
 * The cache's memory bound as an operator sets and reads it through the API: a store created
 * through the API takes `cache.maxBytes` as a config file does, shows it, and GET /cache gives
 * the bytes held against it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../server/helpers.js';

const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close().catch(() => {});
});

describe('cache.maxBytes through the API', () => {
  it('is taken, shown, and bounds the cache of a store created through the API', async () => {
    const t = await startTestServer();
    servers.push(t);
    const admin = (await t.token('admin', { reveal: true })).token;
    const created = await t.call('POST', '/api/v1/stores', {
      token: admin,
      body: { name: 'mem', type: 'memory', cache: { maxBytes: 4096 }, settings: { backend: 'mem' } },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body.cache).toMatchObject({ maxEntries: 1000, maxBytes: 4096 });
    const shown = await t.call('GET', '/api/v1/stores/mem', { token: admin });
    expect(shown.body.cache).toMatchObject({ maxBytes: 4096 });
    for (let i = 0; i < 5; i++) t.memory.set(`k${i}`, String(i).repeat(1500));
    for (let i = 0; i < 5; i++) {
      const r = await t.call('POST', '/api/v1/resolve', { token: admin, body: { reference: `secret://mem/k${i}` } });
      expect(r.status, r.text).toBe(200);
    }
    const stats = await t.call('GET', '/api/v1/cache', { token: admin });
    const mem = (stats.body.stores as Array<Record<string, unknown>>).find((s) => s.store === 'mem');
    expect(mem).toMatchObject({ maxBytes: 4096, entries: 2 });
    expect(mem?.['bytes']).toBeLessThanOrEqual(4096);
    const bad = await t.call('POST', '/api/v1/stores', {
      token: admin,
      body: { name: 'mem2', type: 'memory', cache: { maxBytes: '4KB' }, settings: { backend: 'mem' } },
    });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('maxBytes');
    const ahead = await t.call('POST', '/api/v1/stores', {
      token: admin,
      body: { name: 'mem3', type: 'memory', cache: { ttl: '1m', refreshAhead: '2m' }, settings: { backend: 'mem' } },
    });
    expect(ahead.status, ahead.text).toBe(400);
    expect(ahead.body.error.issues).toEqual([
      {
        path: 'body.cache.refreshAhead',
        message: 'refreshAhead (2m) must be shorter than ttl (1m), or every resolve would fetch the value again: e.g. refreshAhead: 30s',
      },
    ]);
  });
});

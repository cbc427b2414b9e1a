/**
 * A server that starts while another one on the same database makes a change (a rolling update
 * while an operator works): the change must reach it, whether it was committed before the new
 * server read the stored config, after it began following the change feed, or in between.
 * In one process, two servers on one SQLite file; the "in between" is made certain by running
 * the other server's change right after the new server read its stored config.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StoredConfig } from '../../src/server/stored-config.js';
import { memoryBackend } from '../support/memory-store.js';
import { startTestServer, type TestServer } from '../server/helpers.js';
import { within } from './support.js';

describe('a server starting while another changes the stored config', () => {
  const servers: TestServer[] = [];

  afterEach(async () => {
    vi.restoreAllMocks();
    for (const s of servers.splice(0).reverse()) await s.close();
  });

  it('sees a store created between its read of the stored config and its first read of the change feed', async () => {
    const memory = memoryBackend();
    const a = await startTestServer({ memory });
    servers.push(a);
    const admin = (await a.token('admin')).token;
    memory.set('app/key', 'gap-value');

    const open = StoredConfig.open.bind(StoredConfig);
    vi.spyOn(StoredConfig, 'open').mockImplementationOnce(async (sesame, backend) => {
      const stored = await open(sesame, backend);
      // The new server has read the stored config; the other one now creates a store.
      const created = await a.call('POST', '/api/v1/stores', {
        token: admin,
        body: { name: 'late', type: 'memory', settings: { backend: 'mem' } },
      });
      expect(created.status).toBe(201);
      return stored;
    });
    const b = await startTestServer({ dir: a.dir, memory });
    servers.push(b);
    expect(StoredConfig.open).toHaveBeenCalledTimes(1);

    const runtime = (await a.token('runtime')).token;
    const resolveOnB = async () => {
      const r = await b.call('POST', '/api/v1/resolve', { token: runtime, body: { reference: 'secret://late/app/key' } });
      return r.status === 200 ? r.body.value : `status ${r.status}`;
    };
    // The feed is read every 250 ms on SQLite: well within 2 s, or never.
    expect(await within(2000, async () => (await resolveOnB()) === 'gap-value')).toBeLessThan(1000);
    expect((await b.call('GET', '/api/v1/stores/late', { token: admin })).status).toBe(200);
  });
});

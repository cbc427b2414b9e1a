/**
 * Capabilities are enforced by the core for every adapter: a `?version=` on a store type without
 * versions, or a `?stage=` on one without stages, is refused before the adapter sees it (it would
 * otherwise serve the current value for a pinned one), through the resolver and through a
 * store's client alike.
 */
import { describe, expect, it } from 'vitest';
import { UnsupportedOperationError } from '../../src/errors.js';
import { createSesame } from '../../src/sesame.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import { memoryBackend, memoryStoreType } from '../support/memory-store.js';

function setup() {
  const mem = memoryBackend();
  mem.set('db/password', 'current-value-0001');
  const registry = defaultStoreTypes().register(memoryStoreType({ mem }));
  const sesame = createSesame(
    { log: { level: 'silent' }, stores: [{ name: 'mem', type: 'memory', backend: 'mem' }] },
    { registry, services: { builtin: () => Promise.reject(new Error('no database in this test')) } },
  );
  return { sesame, mem };
}

describe('capability enforcement in the core', () => {
  it('refuses ?stage= on a store type without stages, and never asks the store', async () => {
    const { sesame, mem } = setup();
    const before = mem.calls.requested;
    const err = (await sesame.resolve('secret://mem/db/password?stage=AWSPREVIOUS').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(UnsupportedOperationError);
    expect(err.message).toBe('secret://mem/db/password?stage=AWSPREVIOUS: [mem] ?stage= pins an AWS staging label; stores of type memory have no stages: pin a version with ?version= instead');
    expect(mem.calls.requested).toBe(before);
    expect(JSON.stringify(err)).not.toContain('current-value-0001');
  });

  it('refuses ?version= on a store type without versions (env), with what to do', async () => {
    process.env['SESAME_CAP_TEST'] = 'env-current-0002';
    try {
      const { sesame } = setup();
      const err = (await sesame.resolve('secret://env/SESAME_CAP_TEST?version=2').catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(UnsupportedOperationError);
      expect(err.message).toContain('[env] stores of type env keep no versions: drop ?version=');
      expect(err.message).not.toContain('env-current-0002');
      expect(await sesame.resolve('secret://env/SESAME_CAP_TEST')).toBe('env-current-0002');
    } finally {
      delete process.env['SESAME_CAP_TEST'];
    }
  });

  it('refuses through the store client too (the secrets routes use it), batched requests one by one', async () => {
    const { sesame } = setup();
    const client = await sesame.store('mem').client();
    await expect(client.get({ name: 'db/password', stage: 'AWSCURRENT', namespaces: [''] })).rejects.toBeInstanceOf(UnsupportedOperationError);
    const many = await client.getMany?.([
      { name: 'db/password', namespaces: [''] },
      { name: 'db/password', stage: 'AWSCURRENT', namespaces: [''] },
    ]);
    expect(many?.[0]).toMatchObject({ value: 'current-value-0001' });
    expect(many?.[1]).toBeInstanceOf(UnsupportedOperationError);
  });

  it('lets a type with versions take ?version=', async () => {
    const { sesame, mem } = setup();
    mem.set('db/password', 'second-value-0003');
    const client = await sesame.store('mem').client();
    await expect(client.get({ name: 'db/password', version: '1', namespaces: [''] })).resolves.toBeDefined();
  });
});

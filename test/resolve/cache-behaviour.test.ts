/**
 * The cache as a workflow platform meets it: what its statistics count, single-flight under
 * concurrency, refreshes racing fetches in flight, and its memory bound.
 */
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/redact/redactor.js';
import { createSesame, type Sesame } from '../../src/sesame.js';
import { StoreTypeRegistry } from '../../src/stores/registry.js';
import { type MemoryBackend, memoryBackend, memoryStoreType } from '../support/memory-store.js';

function setup(cache: Record<string, unknown> = {}): {
  sesame: Sesame;
  mem: MemoryBackend;
  one: MemoryBackend;
  clock: { now: number };
} {
  const mem = memoryBackend();
  const one = memoryBackend();
  const clock = { now: 1_000_000 };
  const sesame = createSesame(
    {
      stores: [
        { name: 'mem', type: 'memory', backend: 'mem', cache: { ttl: '5m', ...cache } },
        { name: 'one', type: 'memory', backend: 'one', batch: false },
      ],
    },
    {
      registry: new StoreTypeRegistry().register(memoryStoreType({ mem, one })),
      redactor: new Redactor(),
      now: () => clock.now,
    },
  );
  return { sesame, mem, one, clock };
}

const statsOf = (sesame: Sesame, store: string) => {
  const stats = sesame.cacheStats().find((s) => s.store === store);
  if (!stats) throw new Error(`no cache statistics for ${store}`);
  return stats;
};

describe('cache statistics', () => {
  it('count one store call for 50 concurrent resolves of one cold reference, and 49 coalesced', async () => {
    const { sesame, mem } = setup();
    mem.set('hot', 'hot-value-1');
    mem.delayMs = 20;
    const values = await Promise.all(Array.from({ length: 50 }, () => sesame.resolve('secret://mem/hot')));
    expect(new Set(values)).toEqual(new Set(['hot-value-1']));
    expect(mem.calls.requested).toBe(1);
    expect(statsOf(sesame, 'mem')).toMatchObject({ storeCalls: 1, misses: 1, coalesced: 49, entries: 1 });
  });

  it('count the calls the store received: one getMany for a batch, one get per secret without batching', async () => {
    const { sesame, mem, one } = setup();
    for (const n of ['a', 'b', 'c']) {
      mem.set(n, `batched-${n}`);
      one.set(n, `single-${n}`);
    }
    await sesame.resolve(['secret://mem/a', 'secret://mem/b', 'secret://mem/c']);
    await sesame.resolve(['secret://one/a', 'secret://one/b', 'secret://one/c']);
    expect(mem.calls).toMatchObject({ getMany: 1, get: 0 });
    expect(one.calls).toMatchObject({ getMany: 0, get: 3 });
    expect(statsOf(sesame, 'mem').storeCalls).toBe(1);
    expect(statsOf(sesame, 'one').storeCalls).toBe(3);
  });
});

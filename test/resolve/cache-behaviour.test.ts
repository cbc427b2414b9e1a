/**
 * The cache as a workflow platform meets it: what its statistics count, single-flight under
 * concurrency, refreshes racing fetches in flight, and its memory bound.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AccessDeniedError, ConfigError, SecretNotFoundError, StoreUnavailableError, UsageError } from '../../src/errors.js';
import { Redactor } from '../../src/redact/redactor.js';
import { createSesame, type Sesame } from '../../src/sesame.js';
import type { StoreType } from '../../src/stores/contract.js';
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

/**
 * A store that reads its value when a call starts and answers when the test opens the gate: a
 * fetch in flight across a rotation (the value changes after the store read it).
 */
function gatedStore() {
  const state = {
    value: 'v1',
    calls: 0,
    fail: undefined as Error | undefined,
    gates: [] as Array<() => void>,
    open(): void {
      for (const g of state.gates.splice(0)) g();
    },
  };
  const type = {
    type: 'gated',
    capabilities: { write: false, batch: false, versions: false, stages: false, namespaced: false, restore: false },
    settings: z.strictObject({}),
    secretSettings: [],
    hostAccess: () => [],
    create: () => ({
      async get() {
        state.calls++;
        const value = state.value;
        const fail = state.fail;
        await new Promise<void>((r) => state.gates.push(r));
        if (fail) throw fail;
        return { value };
      },
      async list() {
        return { items: [] };
      },
      async check() {
        return { ok: true, steps: [] };
      },
      async close() {},
    }),
  } satisfies StoreType<Record<string, never>>;
  const sesame = createSesame(
    { stores: [{ name: 'gated', type: 'gated' }] },
    { registry: new StoreTypeRegistry().register(type), redactor: new Redactor() },
  );
  return { sesame, state };
}

/** Let pending promise callbacks run (the resolver awaits the client before it calls get). */
const settle = () => new Promise((r) => setTimeout(r, 5));

describe('refresh while a fetch is in flight', () => {
  it('makes a resolve that starts after the refresh fetch again, not join the fetch that read the old value', async () => {
    const { sesame, state } = gatedStore();
    const before = sesame.resolve('secret://gated/db');
    await settle();
    expect(state.calls).toBe(1);
    // The secret rotates after the store read it; the rotation's hook refreshes the reference.
    state.value = 'v2';
    await sesame.refresh({ reference: 'secret://gated/db' });
    const after = sesame.resolve('secret://gated/db');
    await settle();
    state.open();
    await settle();
    state.open();
    expect(await before).toBe('v1');
    expect(await after).toBe('v2');
    expect(state.calls).toBe(2);
    // The new value is the one kept: the old fetch, settling late, does not replace it.
    expect(await sesame.resolve('secret://gated/db')).toBe('v2');
    expect(state.calls).toBe(2);
  });

  it('a refresh of all does the same', async () => {
    const { sesame, state } = gatedStore();
    const before = sesame.resolve('secret://gated/db');
    await settle();
    state.value = 'v2';
    await sesame.refresh({ all: true });
    const after = sesame.resolve('secret://gated/db');
    await settle();
    state.open();
    await settle();
    state.open();
    expect([await before, await after]).toEqual(['v1', 'v2']);
  });
});

describe('a failing single-flight fetch', () => {
  it('reaches all 50 waiters with the store error, and is not kept: the next resolve asks the store again', async () => {
    const { sesame, state } = gatedStore();
    state.fail = new AccessDeniedError('[gated] grant read on db');
    const waiters = Array.from({ length: 50 }, () => sesame.resolve({ pw: 'secret://gated/db' }).then(
      () => undefined,
      (e: unknown) => e,
    ));
    await settle();
    state.open();
    const errors = await Promise.all(waiters);
    expect(state.calls).toBe(1);
    for (const err of errors) {
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect((err as Error).message).toBe('secret://gated/db (field pw): [gated] grant read on db');
    }
    state.fail = undefined;
    const next = sesame.resolve('secret://gated/db');
    await settle();
    state.open();
    expect(await next).toBe('v1');
    expect(state.calls).toBe(2);
  });
});

describe('the memory bound', () => {
  const kib = (n: number, fill: string) => fill.repeat(n * 1024);

  it('keeps a store cache within maxBytes however many distinct references are resolved', async () => {
    const { sesame, mem } = setup({ maxEntries: 1000, maxBytes: 1_000_000 });
    for (let i = 0; i < 40; i++) mem.set(`big${i}`, kib(100, String.fromCharCode(97 + (i % 26))));
    for (let i = 0; i < 40; i++) await sesame.resolve(`secret://mem/big${i}`);
    const stats = statsOf(sesame, 'mem');
    expect(stats.bytes).toBeLessThanOrEqual(1_000_000);
    expect(stats.maxBytes).toBe(1_000_000);
    expect(stats.entries).toBe(9);
    // The most recent ones are kept, the oldest evicted.
    const calls = mem.calls.requested;
    expect(await sesame.resolve('secret://mem/big39')).toHaveLength(100 * 1024);
    expect(mem.calls.requested).toBe(calls);
    await sesame.resolve('secret://mem/big0');
    expect(mem.calls.requested).toBe(calls + 1);
  });

  it('serves a value larger than maxBytes without keeping it', async () => {
    const { sesame, mem } = setup({ maxBytes: 64 * 1024 });
    mem.set('small', 'small-value');
    await sesame.resolve('secret://mem/small');
    mem.set('huge', kib(200, 'h'));
    expect(await sesame.resolve({ v: 'secret://mem/huge' })).toEqual({ v: kib(200, 'h') });
    expect(await sesame.resolve('secret://mem/huge')).toHaveLength(200 * 1024);
    expect(mem.calls.requested).toBe(3);
    // What was cached stays: a huge value does not push everything else out.
    expect(statsOf(sesame, 'mem')).toMatchObject({ entries: 1 });
    await sesame.resolve('secret://mem/small');
    expect(mem.calls.requested).toBe(3);
  });

  it('bounds every store by 16 MiB unless told otherwise', async () => {
    const { sesame, mem } = setup();
    for (let i = 0; i < 24; i++) mem.set(`mib${i}`, kib(1024, String.fromCharCode(97 + i)));
    for (let i = 0; i < 24; i++) await sesame.resolve(`secret://mem/mib${i}`);
    const stats = statsOf(sesame, 'mem');
    expect(stats.maxBytes).toBe(16 * 1024 * 1024);
    expect(stats.bytes).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(stats.entries).toBeLessThan(16);
    expect(stats.entries).toBeGreaterThan(10);
  });

  it('counts the parsed JSON a keyed reference keeps, and evicts for it', async () => {
    const { sesame, mem } = setup({ maxBytes: 1_000_000 });
    // 40 JSON documents of 20 KiB each: 800 KiB as text, about twice that once parsed.
    const doc = (i: number) => JSON.stringify({ user: `u${i}`, blob: kib(20, String.fromCharCode(97 + (i % 26))) });
    for (let i = 0; i < 40; i++) mem.set(`doc${i}`, doc(i));
    for (let i = 0; i < 40; i++) expect(await sesame.resolve(`secret://mem/doc${i}#user`)).toBe(`u${i}`);
    const stats = statsOf(sesame, 'mem');
    expect(stats.bytes).toBeLessThanOrEqual(1_000_000);
    // Each entry counts its text and its parse: fewer than 40 fit.
    expect(stats.entries).toBeLessThan(30);
    const one = sesame.cacheStats().find((x) => x.store === 'mem');
    expect(one?.bytes).toBeGreaterThanOrEqual(stats.entries * 2 * 20 * 1024);
    // The newest are kept and answer from the cache.
    const calls = mem.calls.requested;
    expect(await sesame.resolve('secret://mem/doc39#user')).toBe('u39');
    expect(mem.calls.requested).toBe(calls);
  });

  it('counts a value by its bytes', async () => {
    const { sesame, mem } = setup({ maxBytes: 1_000_000 });
    mem.set('t', kib(10, 't'));
    await sesame.resolve('secret://mem/t');
    expect(statsOf(sesame, 'mem').bytes).toBeGreaterThanOrEqual(10 * 1024);
    expect(statsOf(sesame, 'mem').bytes).toBeLessThan(11 * 1024);
  });
});

describe('refresh of one reference', () => {
  it('refuses text that holds no reference (a bare secret name), instead of dropping nothing and saying it succeeded', async () => {
    const { sesame, mem } = setup();
    mem.set('jira-token', 'tok-value-1');
    await sesame.resolve('secret://mem/jira-token');
    for (const text of ['jira-token', 'mem/jira-token', '']) {
      const err = await sesame.refresh({ reference: text }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(text)).toBeInstanceOf(UsageError);
      expect((err as Error).message).toBe(
        `nothing to refresh: ${JSON.stringify(text)} holds no reference; write it as secret://<store>/<name>, e.g. secret://builtin/db/password`,
      );
    }
    expect((await sesame.refresh({ reference: 'secret://mem/jira-token' })).dropped).toBe(1);
    expect((await sesame.refresh({ reference: 'a {{ secret://mem/jira-token }} b' })).dropped).toBe(0);
  });
});

describe('stale-if-error while the store stays down', () => {
  it('serves the last good value at once after the first failure, asking the store again at most every 5 s in the background', async () => {
    const { sesame, mem, clock } = setup({ staleIfError: '1h' });
    mem.set('s', 'last-good-1');
    await sesame.resolve('secret://mem/s');
    clock.now += 6 * 60_000;
    mem.mode = 'unavailable';
    mem.delayMs = 300;
    // The first resolve past the TTL asks the store, waits for its failure, and serves stale.
    const first = await sesame.resolveDetailed('secret://mem/s');
    expect(first).toMatchObject({ value: 'last-good-1', stale: true });
    expect(mem.calls.requested).toBe(2);
    // Then, for 5 s, the store is not asked: 20 resolves are served stale without waiting.
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) {
      const r = await sesame.resolveDetailed('secret://mem/s');
      expect(r).toMatchObject({ value: 'last-good-1', stale: true, references: [{ outcome: 'stale' }] });
    }
    expect(performance.now() - t0).toBeLessThan(250);
    expect(mem.calls.requested).toBe(2);
    // After 5 s, a resolve is still served at once, and one refetch runs in the background.
    clock.now += 5_000;
    const t1 = performance.now();
    expect(await sesame.resolve('secret://mem/s')).toBe('last-good-1');
    expect(await sesame.resolve('secret://mem/s')).toBe('last-good-1');
    expect(performance.now() - t1).toBeLessThan(250);
    expect(mem.calls.requested).toBe(3);
    // The store comes back before that refetch answers: its answer replaces the value.
    mem.mode = 'ok';
    mem.set('s', 'after-outage-2');
    await new Promise((r) => setTimeout(r, 350));
    const back = await sesame.resolveDetailed('secret://mem/s');
    expect(back).toMatchObject({ value: 'after-outage-2', stale: false, references: [{ outcome: 'hit' }] });
    expect(mem.calls.requested).toBe(3);
    expect(statsOf(sesame, 'mem').staleServes).toBe(23);
  });

  it('stops serving stale past staleIfError, even while backing off', async () => {
    const { sesame, mem, clock } = setup({ staleIfError: '10s' });
    mem.set('s', 'last-good-1');
    await sesame.resolve('secret://mem/s');
    clock.now += 5 * 60_000 + 8_000;
    mem.mode = 'unavailable';
    expect(await sesame.resolve('secret://mem/s')).toBe('last-good-1');
    clock.now += 3_000;
    const err = await sesame.resolve('secret://mem/s').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreUnavailableError);
  });
});

describe('stale-if-error when the store comes back without the secret', () => {
  it('stops serving the stale value once the background refetch finds the secret gone', async () => {
    const { sesame, mem, clock } = setup({ staleIfError: '1h' });
    mem.set('s', 'last-good-1');
    await sesame.resolve('secret://mem/s');
    clock.now += 6 * 60_000;
    mem.mode = 'unavailable';
    expect(await sesame.resolve('secret://mem/s')).toBe('last-good-1');
    mem.mode = 'ok';
    mem.secrets.delete('s');
    clock.now += 5_000;
    expect(await sesame.resolve('secret://mem/s')).toBe('last-good-1');
    await new Promise((r) => setTimeout(r, 20));
    const err = await sesame.resolve('secret://mem/s').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SecretNotFoundError);
  });
});

describe('a refresh of one reference and fetches of others', () => {
  it('keeps what a fetch in flight for another reference brings', async () => {
    const { sesame, state } = gatedStore();
    const a = sesame.resolve('secret://gated/a');
    await settle();
    await sesame.refresh({ reference: 'secret://gated/b' });
    state.open();
    expect(await a).toBe('v1');
    expect(state.calls).toBe(1);
    const again = sesame.resolve('secret://gated/a');
    await settle();
    expect(state.calls).toBe(1);
    state.open();
    expect(await again).toBe('v1');
  });
});

describe('the compiled templates the resolver keeps', () => {
  it('stay within a bound of text however many distinct long templates are resolved', async () => {
    const { sesame, mem } = setup();
    mem.set('t', 'template-value-1');
    const filler = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 600; i++) {
      expect(await sesame.resolve(`run ${i} ${filler} {{ secret://mem/t }}`)).toMatch(/template-value-1$/);
    }
    // 600 templates of 64 KiB are 38 MiB of text; the resolver keeps at most 8 MiB of them.
    expect(sesame.resolver.compiledTemplates().chars).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(sesame.resolver.compiledTemplates().templates).toBeGreaterThan(0);
  });
});

describe('store lookups from many namespaces', () => {
  it('keep a bounded memo when callers ask from 20,000 distinct namespaces', async () => {
    const { sesame, mem } = setup();
    mem.set('k', 'lookup-value-1');
    for (let i = 0; i < 20_000; i++) sesame.resolveCached('secret://mem/k', { namespace: `acme.run-${i}` });
    expect(sesame.bindings.memoizedLookups()).toBeLessThanOrEqual(10_000);
    expect(await sesame.resolve('secret://mem/k', { namespace: 'acme.run-3' })).toBe('lookup-value-1');
  });
});

describe('refreshAhead against ttl', () => {
  it('refuses a refreshAhead as long as the ttl, under which every resolve refetched', () => {
    const make = (cache: Record<string, unknown>) => () => setup(cache);
    expect(make({ ttl: '5m', refreshAhead: '10m' })).toThrow(ConfigError);
    expect(make({ ttl: '5m', refreshAhead: '10m' })).toThrow(
      'stores[0].cache.refreshAhead: refreshAhead (10m) must be shorter than ttl (5m), or every resolve would fetch the value again: e.g. refreshAhead: 30s',
    );
    // The default ttl (5m) counts when only refreshAhead is given.
    const defaults = () =>
      createSesame(
        { stores: [{ name: 'mem', type: 'memory', backend: 'mem', cache: { refreshAhead: '5m' } }] },
        { registry: new StoreTypeRegistry().register(memoryStoreType({ mem: memoryBackend() })), redactor: new Redactor() },
      );
    expect(defaults).toThrow('refreshAhead (5m) must be shorter than ttl (5m)');
    expect(make({ ttl: '5m', refreshAhead: '1m' })).not.toThrow();
  });
});

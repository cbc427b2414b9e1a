import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultConnectionTypes } from '../../src/connections/default-types.js';
import { type ConfigFile, validateConfig } from '../../src/config/schema.js';
import { ForbiddenError, KeyNotFoundError, ReferenceSyntaxError, StoreNotFoundError } from '../../src/errors.js';
import { Redactor } from '../../src/redact/redactor.js';
import type { Principal } from '../../src/resolve/access.js';
import type { CacheOutcome } from '../../src/resolve/cache.js';
import { createSesame, type Sesame } from '../../src/sesame.js';
import { envStoreType } from '../../src/stores/env/index.js';
import { StoreTypeRegistry } from '../../src/stores/registry.js';
import { type MemoryBackend, memoryBackend, memoryStoreType } from '../support/memory-store.js';

interface Setup {
  sesame: Sesame;
  mem: MemoryBackend;
  other: MemoryBackend;
  nsMem: MemoryBackend;
  clock: { now: number };
  redactor: Redactor;
  registry: StoreTypeRegistry;
  config: ConfigFile;
  lookups: Array<[string, CacheOutcome]>;
  reconfigure(config: ConfigFile): Promise<void>;
}

function setup(cache: Record<string, unknown> = {}): Setup {
  const mem = memoryBackend();
  const other = memoryBackend();
  const nsMem = memoryBackend(true);
  const backends = { mem, other, nsMem };
  const registry = new StoreTypeRegistry()
    .register(memoryStoreType(backends))
    .register(memoryStoreType(backends, true))
    .register(envStoreType);
  const clock = { now: 1_000_000 };
  const redactor = new Redactor();
  const lookups: Array<[string, CacheOutcome]> = [];
  const config: ConfigFile = {
    stores: [
      { name: 'mem', type: 'memory', backend: 'mem', cache: { ttl: '5m', staleIfError: '1h', ...cache } },
      { name: 'scoped', type: 'memory-ns', backend: 'nsMem' },
      { name: 'env', type: 'env' },
    ],
  } as ConfigFile;
  const sesame = createSesame(config, {
    registry,
    redactor,
    now: () => clock.now,
    observer: { onLookup: (binding, outcome) => lookups.push([binding.config.name, outcome]) },
  });
  const reconfigure = (next: ConfigFile) =>
    sesame.reconfigure(validateConfig(next, { registry, connectionTypes: defaultConnectionTypes(), baseDir: process.cwd() }));
  return { sesame, mem, other, nsMem, clock, redactor, registry, config, lookups, reconfigure };
}

/** The connection of the issue: 2 literals and 5 references. */
function connection() {
  return {
    host: 'db.internal',
    port: 5432,
    user: '{{ secret://mem/db#user }}',
    password: '{{ secret://mem/db#password }}',
    token: '{{ secret://mem/api-token }}',
    region: '{{ secret://mem/region }}',
    dsn: 'postgres://{{ secret://mem/db#user }}:{{ secret://mem/db#password }}@db.internal/app',
  };
}

function fill(mem: MemoryBackend, password = 'pw-first-1234') {
  mem.set('db', JSON.stringify({ user: 'app', password }));
  mem.set('api-token', 'tok-abcdef-1');
  mem.set('region', 'eu-west-1');
}

function runtime(namespace: string, extra: Partial<Principal> = {}): Principal {
  return { kind: 'token', id: 't1', role: 'runtime', namespace, reveal: false, ...extra };
}

describe('sesame.prepare: values', () => {
  it('get() is undefined until the values are cached; then it equals what resolve() returns', async () => {
    const { sesame, mem } = setup();
    fill(mem);
    const prepared = sesame.prepare(connection());
    expect(prepared.references).toBe(4);
    expect(prepared.get()).toBeUndefined();
    const resolved = await prepared.resolve();
    const expected = {
      host: 'db.internal',
      port: 5432,
      user: 'app',
      password: 'pw-first-1234',
      token: 'tok-abcdef-1',
      region: 'eu-west-1',
      dsn: 'postgres://app:pw-first-1234@db.internal/app',
    };
    expect(resolved).toEqual(expected);
    expect(prepared.get()).toEqual(expected);
    expect(prepared.get()).toEqual(await sesame.resolve(connection()));
    expect(mem.calls.requested).toBe(3);
  });

  it('returns a new object on every call, so a caller changing one changes no other', async () => {
    const { sesame, mem } = setup();
    fill(mem);
    const prepared = sesame.prepare<Record<string, unknown>>({ a: { b: ['{{ secret://mem/region }}'] } });
    await prepared.resolve();
    const first = prepared.get() as { a: { b: string[] } };
    first.a.b[0] = 'changed';
    expect(prepared.get()).toEqual({ a: { b: ['eu-west-1'] } });
    expect(prepared.get()).not.toBe(prepared.get());
  });

  it('copies the document: changing it after prepare() changes nothing resolved', async () => {
    const { sesame, mem } = setup();
    fill(mem);
    const doc: Record<string, unknown> = { region: '{{ secret://mem/region }}', nested: { x: 'plain' } };
    const prepared = sesame.prepare(doc);
    doc['region'] = '{{ secret://mem/api-token }}';
    (doc['nested'] as Record<string, unknown>)['x'] = 'changed';
    expect(await prepared.resolve()).toEqual({ region: 'eu-west-1', nested: { x: 'plain' } });
    expect(prepared.get()).toEqual({ region: 'eu-west-1', nested: { x: 'plain' } });
  });

  it('keeps typed whole values, JSON inside strings, pointers, arrays and non-plain objects as the resolver does', async () => {
    const { sesame, mem } = setup();
    mem.set('cfg', JSON.stringify({ tls: { ca: 'CA', verify: true }, port: 6543, list: ['a', 'b'] }));
    const when = new Date(0);
    const doc = {
      tls: '{{ secret://mem/cfg#/tls }}',
      port: 'secret://mem/cfg#port',
      text: 'tls={{ secret://mem/cfg#tls }} port={{ secret://mem/cfg#port }}',
      second: ['x', '{{ secret://mem/cfg#/list/1 }}', null, true, 3.5],
      when,
      none: null,
    };
    const prepared = sesame.prepare<Record<string, unknown>>(doc);
    const viaResolve = await prepared.resolve();
    const viaGet = prepared.get() as Record<string, unknown>;
    const viaResolver = await sesame.resolve<Record<string, unknown>>(doc);
    for (const out of [viaResolve, viaGet]) {
      expect(out).toEqual(viaResolver);
      expect(out['when']).toBe(when);
    }
    expect(viaGet['tls']).toEqual({ ca: 'CA', verify: true });
    expect(viaGet['port']).toBe(6543);
    expect(viaGet['text']).toBe('tls={"ca":"CA","verify":true} port=6543');
  });

  it('keeps a "__proto__" key an own field and the output on the plain Object prototype', async () => {
    const { sesame, mem } = setup();
    fill(mem);
    const doc = JSON.parse('{"__proto__": "{{ secret://mem/region }}", "k": "v"}') as unknown;
    const prepared = sesame.prepare<Record<string, unknown>>(doc);
    await prepared.resolve();
    const out = prepared.get() as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toBe('eu-west-1');
    expect(out['k']).toBe('v');
  });

  it('copies symbol-keyed fields as they are, as the resolver does', async () => {
    const { sesame, mem } = setup();
    fill(mem);
    const tag = Symbol('tag');
    const doc = { r: '{{ secret://mem/region }}', [tag]: '{{ secret://mem/api-token }}' };
    const prepared = sesame.prepare<Record<string | symbol, unknown>>(doc);
    const viaResolve = await prepared.resolve();
    const viaGet = prepared.get() as Record<string | symbol, unknown>;
    const viaResolver = await sesame.resolve<Record<string | symbol, unknown>>(doc);
    expect(viaResolver[tag]).toBe('{{ secret://mem/api-token }}');
    for (const out of [viaResolve, viaGet]) {
      expect(out['r']).toBe('eu-west-1');
      expect(out[tag]).toBe(viaResolver[tag]);
    }
  });

  it('builds the same output without generated code when the process forbids it', async () => {
    const { sesame, mem } = setup();
    fill(mem);
    const original = globalThis.Function;
    globalThis.Function = function refuse() {
      throw new EvalError('Code generation from strings disallowed for this context');
    } as unknown as FunctionConstructor;
    const doc = { ...connection(), list: ['{{ secret://mem/region }}', 1], ['__proto__']: 'x' };
    let prepared: ReturnType<typeof sesame.prepare>;
    try {
      prepared = sesame.prepare(doc);
    } finally {
      globalThis.Function = original;
    }
    await prepared.resolve();
    const out = prepared.get() as Record<string, unknown>;
    expect(out).toEqual(await sesame.resolve(doc));
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toBe('x');
    expect(out['list']).toEqual(['eu-west-1', 1]);
    expect(out['dsn']).toBe('postgres://app:pw-first-1234@db.internal/app');
  });

  it('throws at prepare() on a reference that does not parse', () => {
    const { sesame } = setup();
    expect(() => sesame.prepare({ a: '{{ secret://mem/ }}' })).toThrow(ReferenceSyntaxError);
  });

  it('reports a missing key with the field and without the value', async () => {
    const { sesame, mem } = setup();
    mem.set('db', JSON.stringify({ user: 'app', password: 'pw-not-in-errors' }));
    const prepared = sesame.prepare({ conn: { pass: '{{ secret://mem/db#pass }}' } });
    const err = await prepared.resolve().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(KeyNotFoundError);
    expect(err?.message).toContain('conn.pass');
    expect(err?.message).not.toContain('pw-not-in-errors');
    // Now the secret is cached: get() reports the same, located the same way.
    let sync: unknown;
    try {
      prepared.get();
    } catch (e) {
      sync = e;
    }
    expect(sync).toBeInstanceOf(KeyNotFoundError);
    expect((sync as Error).message).toContain('conn.pass');
    expect((sync as Error).message).not.toContain('pw-not-in-errors');
  });
});

describe('sesame.prepare: stays correct as things change', () => {
  it('sees a refresh at once, and the rotated value after resolve()', async () => {
    const { sesame, mem } = setup();
    fill(mem);
    const prepared = sesame.prepare<Record<string, unknown>>(connection());
    await prepared.resolve();
    expect(prepared.get()?.['password']).toBe('pw-first-1234');
    mem.set('db', JSON.stringify({ user: 'app', password: 'pw-rotated-5678' }));
    // Still the cached version until something says otherwise.
    expect(prepared.get()?.['password']).toBe('pw-first-1234');
    await sesame.refresh({ reference: 'secret://mem/db' });
    expect(prepared.get()).toBeUndefined();
    const rotated = await prepared.resolve();
    expect(rotated['password']).toBe('pw-rotated-5678');
    expect(rotated['dsn']).toBe('postgres://app:pw-rotated-5678@db.internal/app');
    expect(prepared.get()?.['dsn']).toBe('postgres://app:pw-rotated-5678@db.internal/app');
  });

  it('picks up a value another caller fetched (a new cache entry) without its own fetch', async () => {
    const { sesame, mem } = setup();
    fill(mem);
    const prepared = sesame.prepare<Record<string, unknown>>({ t: '{{ secret://mem/api-token }}' });
    await prepared.resolve();
    mem.set('api-token', 'tok-second-2');
    await sesame.refresh({ store: 'mem' });
    await sesame.resolve('secret://mem/api-token');
    const calls = mem.calls.requested;
    expect(prepared.get()).toEqual({ t: 'tok-second-2' });
    expect(mem.calls.requested).toBe(calls);
  });

  it('expires with the TTL and fetches the new version after it', async () => {
    const { sesame, mem, clock } = setup();
    fill(mem);
    const prepared = sesame.prepare<Record<string, unknown>>(connection());
    await prepared.resolve();
    mem.set('region', 'us-east-2');
    clock.now += 4 * 60_000;
    expect(prepared.get()?.['region']).toBe('eu-west-1');
    clock.now += 2 * 60_000;
    expect(prepared.get()).toBeUndefined();
    expect((await prepared.resolve())['region']).toBe('us-east-2');
    expect(prepared.get()?.['region']).toBe('us-east-2');
  });

  it('serves the last good values through resolve() while the store fails past the TTL (staleIfError)', async () => {
    const { sesame, mem, clock } = setup();
    fill(mem);
    const prepared = sesame.prepare<Record<string, unknown>>(connection());
    await prepared.resolve();
    clock.now += 10 * 60_000;
    mem.mode = 'unavailable';
    expect(prepared.get()).toBeUndefined();
    const stale = await prepared.resolve();
    expect(stale['password']).toBe('pw-first-1234');
    // Stale values are never served as fresh by get().
    expect(prepared.get()).toBeUndefined();
    // Past staleIfError the failure shows.
    clock.now += 2 * 3_600_000;
    await expect(prepared.resolve()).rejects.toThrow(/connection refused/);
    mem.mode = 'ok';
    expect((await prepared.resolve())['password']).toBe('pw-first-1234');
  });

  it('refreshes ahead in the background from get() alone', async () => {
    const { sesame, mem, clock } = setup({ ttl: '5m', refreshAhead: '1m' });
    fill(mem);
    const prepared = sesame.prepare<Record<string, unknown>>({ r: '{{ secret://mem/region }}' });
    await prepared.resolve();
    const before = mem.calls.requested;
    mem.set('region', 'ap-south-1');
    clock.now += 4 * 60_000 + 30_000;
    expect(prepared.get()).toEqual({ r: 'eu-west-1' });
    expect(prepared.get()).toEqual({ r: 'eu-west-1' });
    await vi.waitFor(() => expect(prepared.get()).toEqual({ r: 'ap-south-1' }));
    expect(mem.calls.requested).toBe(before + 1);
  });

  it('follows a config change: a store declared in the namespace now shadows the root one', async () => {
    const { sesame, mem, other, config, reconfigure } = setup();
    fill(mem);
    other.set('region', 'other-region');
    const prepared = sesame.prepare<Record<string, unknown>>({ r: '{{ secret://mem/region }}' }, { namespace: 'acme.team' });
    expect(await prepared.resolve()).toEqual({ r: 'eu-west-1' });
    await reconfigure({
      ...config,
      stores: [...(config.stores ?? []), { name: 'mem', namespace: 'acme', type: 'memory', backend: 'other' }],
    } as ConfigFile);
    expect(prepared.get()).toBeUndefined();
    expect(await prepared.resolve()).toEqual({ r: 'other-region' });
    expect(prepared.get()).toEqual({ r: 'other-region' });
  });

  it('follows a namespace change: once isolated, the root store is out of reach even with the value cached', async () => {
    const { sesame, mem, config, reconfigure } = setup();
    fill(mem);
    const prepared = sesame.prepare({ r: '{{ secret://mem/region }}' }, { namespace: 'acme.team' });
    await prepared.resolve();
    expect(prepared.get()).toEqual({ r: 'eu-west-1' });
    await reconfigure({ ...config, namespaces: { 'acme.team': { isolated: true } } } as ConfigFile);
    expect(() => sesame.resolveCached({ r: '{{ secret://mem/region }}' }, { namespace: 'acme.team' })).toThrow(StoreNotFoundError);
    expect(() => prepared.get()).toThrow(StoreNotFoundError);
    await expect(prepared.resolve()).rejects.toBeInstanceOf(StoreNotFoundError);
    // Lifted again: served from the cache as before.
    await reconfigure(config);
    expect(prepared.get()).toEqual({ r: 'eu-west-1' });
  });

  it('sees an entry evicted by another secret (LRU full) at once', async () => {
    const { sesame, mem } = setup({ maxEntries: 1 });
    fill(mem);
    const prepared = sesame.prepare({ r: '{{ secret://mem/region }}' });
    await prepared.resolve();
    expect(prepared.get()).toEqual({ r: 'eu-west-1' });
    await sesame.resolve('secret://mem/api-token');
    expect(sesame.resolveCached({ r: '{{ secret://mem/region }}' })).toBeUndefined();
    expect(prepared.get()).toBeUndefined();
  });

  it('agrees with resolveCached() after any sequence of time, fetches, refreshes, rotations and config changes', async () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 200_000 }) }),
      fc.record({ kind: fc.constant('fetch' as const), which: fc.constantFrom('doc', 'region', 'api-token', 'db') }),
      fc.record({ kind: fc.constant('rotate' as const), which: fc.constantFrom('region', 'api-token', 'db') }),
      fc.record({ kind: fc.constant('refresh' as const), which: fc.constantFrom('region', 'api-token', 'db', 'store', 'all') }),
      fc.record({ kind: fc.constant('shadow' as const), on: fc.boolean() }),
      fc.record({ kind: fc.constant('get' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 25 }), fc.boolean(), async (events, ahead) => {
        const s = setup({ ttl: '5m', maxEntries: 3, ...(ahead ? { refreshAhead: '1m' } : {}) });
        fill(s.mem);
        fill(s.other, 'pw-other-0000');
        const doc = connection();
        const options = { namespace: 'acme.team' };
        const prepared = s.sesame.prepare(doc, options);
        let n = 0;
        for (const e of events) {
          if (e.kind === 'time') s.clock.now += e.ms;
          else if (e.kind === 'fetch') await s.sesame.resolve(e.which === 'doc' ? doc : `secret://mem/${e.which}`, options);
          else if (e.kind === 'rotate') {
            n++;
            if (e.which === 'db') s.mem.set('db', JSON.stringify({ user: `app${n}`, password: `pw-rotated-${n}` }));
            else s.mem.set(e.which, `${e.which}-rotated-${n}`);
          } else if (e.kind === 'refresh') {
            await s.sesame.refresh(
              e.which === 'store' ? { store: 'mem' } : e.which === 'all' ? { all: true } : { reference: `secret://mem/${e.which}` },
              options,
            );
          } else if (e.kind === 'shadow') {
            const extra = e.on ? [{ name: 'mem', namespace: 'acme', type: 'memory', backend: 'other' }] : [];
            await s.reconfigure({ ...s.config, stores: [...(s.config.stores ?? []), ...extra] } as ConfigFile);
          }
          // Let background refreshes (refresh-ahead) land before comparing.
          await new Promise((r) => setImmediate(r));
          expect(prepared.get()).toEqual(s.sesame.resolveCached(doc, options));
        }
        await s.sesame.close();
      }),
      { numRuns: 60 },
    );
  });

  it('keys a namespace-aware store by the caller namespace', async () => {
    const { sesame, nsMem } = setup();
    nsMem.set('key', 'root-value', '');
    nsMem.set('key', 'acme-value', 'acme');
    const root = sesame.prepare({ k: '{{ secret://scoped/key }}' });
    const acme = sesame.prepare({ k: '{{ secret://scoped/key }}' }, { namespace: 'acme.team' });
    expect(await root.resolve()).toEqual({ k: 'root-value' });
    expect(await acme.resolve()).toEqual({ k: 'acme-value' });
    expect(root.get()).toEqual({ k: 'root-value' });
    expect(acme.get()).toEqual({ k: 'acme-value' });
  });
});

describe('sesame.prepare: access and masking', () => {
  afterEach(() => {
    delete process.env['PREPARE_TEST_VAR'];
  });

  it('checks the principal on every get(), cache hits included', async () => {
    const { sesame, mem } = setup();
    fill(mem);
    const doc = { r: '{{ secret://mem/region }}' };
    // A trusted resolve fills the cache first.
    await sesame.resolve(doc, { namespace: 'beta' });
    const outside = sesame.prepare(doc, { namespace: 'beta', principal: runtime('acme') });
    const err = (() => {
      try {
        outside.get();
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ForbiddenError);
    expect((err as ForbiddenError).code).toBe('forbidden_namespace');
    await expect(outside.resolve()).rejects.toBeInstanceOf(ForbiddenError);

    const inside = sesame.prepare(doc, { namespace: 'acme', principal: runtime('acme') });
    expect(inside.get()).toEqual({ r: 'eu-west-1' });
  });

  it('refuses values to a token without reveal, and a host-bound root store to a scoped token, from the cache too', async () => {
    const { sesame } = setup();
    process.env['PREPARE_TEST_VAR'] = 'env-value-123456';
    const doc = { v: '{{ secret://env/PREPARE_TEST_VAR }}' };
    await sesame.resolve(doc, { namespace: 'acme' });
    const admin = sesame.prepare(doc, { namespace: 'acme', principal: runtime('acme', { role: 'admin' }) });
    expect(() => admin.get()).toThrow(expect.objectContaining({ code: 'reveal_required' }));
    const scoped = sesame.prepare(doc, { namespace: 'acme', principal: runtime('acme') });
    expect(() => scoped.get()).toThrow(expect.objectContaining({ code: 'forbidden_host_access' }));
    expect(() => sesame.resolveCached(doc, { namespace: 'acme', principal: runtime('acme') })).toThrow(
      expect.objectContaining({ code: 'forbidden_host_access' }),
    );
    const rootRuntime = sesame.prepare(doc, { namespace: 'acme', principal: runtime('') });
    expect(rootRuntime.get()).toEqual({ v: 'env-value-123456' });
  });

  it('applies the purpose: deliver needs no reveal', async () => {
    const { sesame, mem } = setup();
    fill(mem);
    const doc = { r: '{{ secret://mem/region }}' };
    await sesame.resolve(doc);
    const principal = runtime('', { role: 'admin' });
    expect(() => sesame.prepare(doc, { principal }).get()).toThrow(ForbiddenError);
    expect(sesame.prepare(doc, { principal, purpose: 'deliver' }).get()).toEqual({ r: 'eu-west-1' });
  });

  it('registers fetched values and their JSON keys with the redactor', async () => {
    const { sesame, mem, redactor } = setup();
    fill(mem, 'pw-mask-me-9876');
    const prepared = sesame.prepare(connection());
    await prepared.resolve();
    const line = `connecting as app with pw-mask-me-9876 and tok-abcdef-1 to ${JSON.stringify(prepared.get())}`;
    const masked = redactor.redact(line);
    expect(masked).not.toContain('pw-mask-me-9876');
    expect(masked).not.toContain('tok-abcdef-1');
    expect(masked).not.toContain('eu-west-1');
  });

  it('reports each lookup (one per distinct reference) to the observer and counts it as a cache hit once', async () => {
    const { sesame, mem, lookups } = setup();
    fill(mem);
    const prepared = sesame.prepare(connection());
    await prepared.resolve();
    const hitsBefore = sesame.store('mem').cache.stats.hits;
    lookups.length = 0;
    // The first get() derives each value through the resolver, the next two read the cache only.
    prepared.get();
    prepared.get();
    prepared.get();
    // 4 distinct references (db#user, db#password, api-token, region), three times.
    expect(lookups).toEqual(Array.from({ length: 12 }, () => ['mem', 'hit']));
    expect(sesame.store('mem').cache.stats.hits - hitsBefore).toBe(12);
  });
});

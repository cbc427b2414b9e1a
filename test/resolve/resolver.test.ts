import { describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  ConfigError,
  KeyNotFoundError,
  SecretNotFoundError,
  StoreNotFoundError,
  StoreUnavailableError,
  UsageError,
} from '../../src/errors.js';
import { Redactor } from '../../src/redact/redactor.js';
import { createSesame, type Sesame } from '../../src/sesame.js';
import { envStoreType } from '../../src/stores/env/index.js';
import type { StoreType } from '../../src/stores/contract.js';
import { StoreTypeRegistry } from '../../src/stores/registry.js';
import { z } from 'zod';
import { type MemoryBackend, memoryBackend, memoryStoreType } from '../support/memory-store.js';

interface Setup {
  sesame: Sesame;
  mem: MemoryBackend;
  other: MemoryBackend;
  nsMem: MemoryBackend;
  clock: { now: number };
  redactor: Redactor;
}

function setup(extra: Record<string, unknown> = {}, cache: Record<string, unknown> = {}): Setup {
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
  const sesame = createSesame(
    {
      namespaces: { 'acme.secure': { isolated: true } },
      stores: [
        { name: 'mem', type: 'memory', backend: 'mem', cache: { ttl: '5m', staleIfError: '1h', ...cache } },
        { name: 'acmeonly', namespace: 'acme', type: 'memory', backend: 'other' },
        { name: 'scoped', type: 'memory-ns', backend: 'nsMem' },
      ],
      connections: [
        {
          name: 'jira',
          namespace: 'acme',
          type: 'generic',
          fields: { baseUrl: 'https://jira.example.com', token: '{{ secret://mem/jira#token }}' },
        },
      ],
      ...extra,
    },
    { registry, redactor, now: () => clock.now },
  );
  return { sesame, mem, other, nsMem, clock, redactor };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('Resolver: values', () => {
  it('resolves a bare reference, a template and a document', async () => {
    const { sesame, mem } = setup();
    mem.set('db', JSON.stringify({ user: 'app', password: 'pw-1234', port: 5432, tls: { ca: 'CA' } }));
    expect(await sesame.resolve('secret://mem/db#password')).toBe('pw-1234');
    expect(
      await sesame.resolve('postgres://{{ secret://mem/db#user }}:{{secret://mem/db#password}}@h:5432'),
    ).toBe('postgres://app:pw-1234@h:5432');
    const doc = await sesame.resolve({
      a: ['{{ secret://mem/db#port }}'],
      b: { c: 'x' },
      n: 7,
      t: true,
      z: null,
    });
    expect(doc).toEqual({ a: [5432], b: { c: 'x' }, n: 7, t: true, z: null });
  });

  it('keeps the type of a whole-value placeholder and inserts JSON inside a string', async () => {
    const { sesame, mem } = setup();
    mem.set('cfg', JSON.stringify({ tls: { ca: 'CA', verify: true } }));
    expect(await sesame.resolve({ tls: '{{ secret://mem/cfg#/tls }}' })).toEqual({
      tls: { ca: 'CA', verify: true },
    });
    expect(await sesame.resolve('tls={{ secret://mem/cfg#tls }}')).toBe('tls={"ca":"CA","verify":true}');
  });

  it('takes a dotted key literally and a JSON Pointer into nested values', async () => {
    const { sesame, mem } = setup();
    mem.set(
      'k',
      JSON.stringify({ 'prod.jira.secret.key': 'tok', prod: { jira: 'nested' }, list: ['a', 'b'] }),
    );
    expect(await sesame.resolve('secret://mem/k#prod.jira.secret.key')).toBe('tok');
    expect(await sesame.resolve('secret://mem/k#/prod/jira')).toBe('nested');
    expect(await sesame.resolve('secret://mem/k#/list/1')).toBe('b');
  });

  it('reads a pinned version', async () => {
    const { sesame, mem } = setup();
    mem.set('rot', 'v1-value');
    mem.set('rot', 'v2-value');
    expect(await sesame.resolve('secret://mem/rot')).toBe('v2-value');
    expect(await sesame.resolve('secret://mem/rot?version=1')).toBe('v1-value');
  });

  it('leaves values without references untouched and does not call any store', async () => {
    const { sesame, mem } = setup();
    const input = { a: 'plain', b: '{{ not.a.secret }}', c: [1, 2] };
    expect(await sesame.resolve(input)).toEqual(input);
    expect(mem.calls.get + mem.calls.getMany).toBe(0);
  });
});

describe('Resolver: fetching', () => {
  it('fetches each distinct secret once per call, however many keys are taken from it', async () => {
    const { sesame, mem } = setup();
    mem.set('db', JSON.stringify({ user: 'u', password: 'p-secret' }));
    await sesame.resolve({
      a: 'secret://mem/db#user',
      b: 'secret://mem/db#password',
      c: '{{ secret://mem/db#user }}',
    });
    expect(mem.calls.requested).toBe(1);
  });

  it('batches distinct secrets of one store into one getMany call', async () => {
    const { sesame, mem } = setup();
    for (const n of ['a', 'b', 'c']) mem.set(n, `value-${n}`);
    const out = await sesame.resolve(['secret://mem/a', 'secret://mem/b', 'secret://mem/c']);
    expect(out).toEqual(['value-a', 'value-b', 'value-c']);
    expect(mem.calls.getMany).toBe(1);
    expect(mem.calls.get).toBe(0);
  });

  it('coalesces 1,000 concurrent resolves of one cold secret into one store call', async () => {
    const { sesame, mem } = setup();
    mem.set('hot', 'hot-value');
    mem.delayMs = 20;
    const results = await Promise.all(Array.from({ length: 1000 }, () => sesame.resolve('secret://mem/hot')));
    expect(new Set(results)).toEqual(new Set(['hot-value']));
    expect(mem.calls.requested).toBe(1);
  });

  it('serves from the cache until the TTL, then fetches again', async () => {
    const { sesame, mem, clock } = setup();
    mem.set('t', 'first');
    expect(await sesame.resolve('secret://mem/t')).toBe('first');
    mem.set('t', 'second');
    clock.now += 4 * 60_000;
    expect(await sesame.resolve('secret://mem/t')).toBe('first');
    clock.now += 2 * 60_000;
    expect(await sesame.resolve('secret://mem/t')).toBe('second');
    expect(mem.calls.requested).toBe(2);
  });

  it('reports cache outcomes per reference', async () => {
    const { sesame, mem } = setup();
    mem.set('x', 'xxxx-value');
    const cold = await sesame.resolveDetailed({ f: 'secret://mem/x' });
    const warm = await sesame.resolveDetailed({ f: 'secret://mem/x' });
    expect(cold.references).toEqual([expect.objectContaining({ field: 'f', store: 'mem', outcome: 'miss' })]);
    expect(warm.references[0]?.outcome).toBe('hit');
  });

  it('serves the last good value while the store is unavailable, within staleIfError, and says so', async () => {
    const { sesame, mem, clock } = setup();
    mem.set('s', 'last-good');
    await sesame.resolve('secret://mem/s');
    clock.now += 6 * 60_000;
    mem.mode = 'unavailable';
    const report = await sesame.resolveDetailed('secret://mem/s');
    expect(report.value).toBe('last-good');
    expect(report.stale).toBe(true);
    expect(report.references[0]?.outcome).toBe('stale');
    clock.now += 60 * 60_000;
    const err = await rejection(sesame.resolve('secret://mem/s'));
    expect(err).toBeInstanceOf(StoreUnavailableError);
  });

  it('never serves stale values for a secret that was deleted or denied', async () => {
    const { sesame, mem, clock } = setup();
    mem.set('gone', 'old-value');
    await sesame.resolve('secret://mem/gone');
    clock.now += 6 * 60_000;
    mem.secrets.delete('gone');
    expect(await rejection(sesame.resolve('secret://mem/gone'))).toBeInstanceOf(SecretNotFoundError);
    mem.set('gone', 'old-value');
    await sesame.refresh({ all: true });
    await sesame.resolve('secret://mem/gone');
    clock.now += 6 * 60_000;
    mem.mode = 'denied';
    expect(await rejection(sesame.resolve('secret://mem/gone'))).toBeInstanceOf(AccessDeniedError);
  });

  it('bounds the cache to maxEntries', async () => {
    const { sesame, mem } = setup({}, { maxEntries: 3 });
    for (let i = 0; i < 10; i++) mem.set(`n${i}`, `value-${i}`);
    for (let i = 0; i < 10; i++) await sesame.resolve(`secret://mem/n${i}`);
    expect(sesame.cacheStats().find((s) => s.store === 'mem')?.entries).toBe(3);
  });

  it('refreshes ahead of expiry in the background', async () => {
    const { sesame, mem, clock } = setup({}, { refreshAhead: '1m' });
    mem.set('ra', 'one');
    await sesame.resolve('secret://mem/ra');
    mem.set('ra', 'two');
    clock.now += 4 * 60_000 + 1;
    expect(await sesame.resolve('secret://mem/ra')).toBe('one');
    await new Promise((r) => setTimeout(r, 10));
    expect(await sesame.resolve('secret://mem/ra')).toBe('two');
    expect(mem.calls.requested).toBe(2);
  });
});

describe('Resolver: errors', () => {
  it('distinguishes a missing secret, a missing key and a denied read, naming reference and field', async () => {
    const { sesame, mem } = setup();
    mem.set('db', JSON.stringify({ password: 'value-never-shown' }));
    const missing = await rejection(sesame.resolve({ conn: { pw: 'secret://mem/nope' } }));
    expect(missing).toBeInstanceOf(SecretNotFoundError);
    expect(missing.message).toContain('secret://mem/nope');
    expect(missing.message).toContain('conn.pw');

    const noKey = await rejection(sesame.resolve({ pw: '{{ secret://mem/db#user }}' }));
    expect(noKey).toBeInstanceOf(KeyNotFoundError);
    expect(noKey.message).toContain('no key "user"');
    expect(noKey.message).not.toContain('value-never-shown');

    const noPointer = await rejection(sesame.resolve('secret://mem/db#/a/b'));
    expect(noPointer).toBeInstanceOf(KeyNotFoundError);
    expect(noPointer.message).toContain('/a');

    mem.mode = 'denied';
    await sesame.refresh({ all: true });
    const denied = await rejection(sesame.resolve({ pw: 'secret://mem/db#password' }));
    expect(denied).toBeInstanceOf(AccessDeniedError);
    expect(denied.message).toContain('field pw');
  });

  it('says a query written after the fragment belongs before it (the key is everything after #)', async () => {
    const { sesame, mem } = setup();
    mem.set('db', JSON.stringify({ password: 'value-never-shown' }));
    mem.set('plain', 'just-text');
    for (const ref of [
      'secret://mem/db#password?stage=AWSPREVIOUS',
      'secret://mem/db#/password?version=2',
      'secret://mem/plain#k?version=2',
    ]) {
      const err = await rejection(sesame.resolve(ref));
      expect(err).toBeInstanceOf(KeyNotFoundError);
      expect(err.message).toMatch(
        /: write \?(stage|version)=… before #, as in secret:\/\/store\/name\?(stage|version)=…#key$/,
      );
      expect(err.message).not.toMatch(/value-never-shown|just-text/);
    }
    const plain = await rejection(sesame.resolve('secret://mem/db#user'));
    expect(plain.message).not.toContain('before #');
  });

  it('says a non-JSON secret has no keys', async () => {
    const { sesame, mem } = setup();
    mem.set('plain', 'just-text');
    const err = await rejection(sesame.resolve('secret://mem/plain#k'));
    expect(err).toBeInstanceOf(KeyNotFoundError);
    expect(err.message).toContain('not JSON');
    expect(err.message).not.toContain('just-text');
  });

  it('names an unknown store and where it looked', async () => {
    const { sesame } = setup();
    const err = await rejection(sesame.resolve('secret://nowhere/x', { namespace: 'acme.devops' }));
    expect(err).toBeInstanceOf(StoreNotFoundError);
    expect(err.message).toContain('acme.devops → acme → (root)');
  });
});

describe('Resolver: namespaces', () => {
  it("finds a store in the caller's namespace or its parents", async () => {
    const { sesame, other } = setup();
    other.set('k', 'acme-value');
    expect(await sesame.resolve('secret://acmeonly/k', { namespace: 'acme.devops' })).toBe('acme-value');
    expect(await rejection(sesame.resolve('secret://acmeonly/k'))).toBeInstanceOf(StoreNotFoundError);
  });

  it('does not look upward from an isolated namespace', async () => {
    const { sesame, other, mem } = setup();
    other.set('k', 'acme-value');
    mem.set('k', 'root-value');
    expect(
      await rejection(sesame.resolve('secret://acmeonly/k', { namespace: 'acme.secure' })),
    ).toBeInstanceOf(StoreNotFoundError);
    expect(await rejection(sesame.resolve('secret://mem/k', { namespace: 'acme.secure' }))).toBeInstanceOf(
      StoreNotFoundError,
    );
  });

  it('lets a namespace-aware store serve the most specific namespace, cached per caller namespace', async () => {
    const { sesame, nsMem } = setup();
    nsMem.set('db/password', 'parent-pw', 'acme');
    expect(await sesame.resolve('secret://scoped/db/password', { namespace: 'acme.devops' })).toBe(
      'parent-pw',
    );
    nsMem.set('db/password', 'child-pw', 'acme.devops');
    expect(await sesame.resolve('secret://scoped/db/password', { namespace: 'acme.ops' })).toBe('parent-pw');
    await sesame.refresh({ namespace: 'acme.devops' });
    expect(await sesame.resolve('secret://scoped/db/password', { namespace: 'acme.devops' })).toBe(
      'child-pw',
    );
  });
});

describe('Sesame.refresh', () => {
  it('drops one reference, a connection, a store, a namespace or everything', async () => {
    const { sesame, mem } = setup();
    mem.set('jira', JSON.stringify({ token: 'tok-1' }));
    mem.set('other', 'o-1');
    const both = async () => [
      await sesame.resolve('secret://mem/jira#token'),
      await sesame.resolve('secret://mem/other'),
    ];
    await both();
    mem.set('jira', JSON.stringify({ token: 'tok-2' }));
    mem.set('other', 'o-2');
    expect(await both()).toEqual(['tok-1', 'o-1']);

    expect((await sesame.refresh({ connection: 'jira' }, { namespace: 'acme' })).dropped).toBe(1);
    expect(await both()).toEqual(['tok-2', 'o-1']);
    expect((await sesame.refresh({ reference: 'secret://mem/other' })).dropped).toBe(1);
    expect(await both()).toEqual(['tok-2', 'o-2']);
    mem.set('other', 'o-3');
    expect((await sesame.refresh({ store: 'mem' })).dropped).toBe(2);
    expect(await sesame.resolve('secret://mem/other')).toBe('o-3');
    expect((await sesame.refresh({ all: true })).dropped).toBe(1);
  });

  it("refreshes an inherited connection's references in the namespace it is used from (where a store may shadow the parent's)", async () => {
    const { sesame, mem, other } = setup({
      stores: [
        { name: 'mem', type: 'memory', backend: 'mem' },
        { name: 'mem', namespace: 'acme.devops', type: 'memory', backend: 'other' },
      ],
    });
    mem.set('jira', JSON.stringify({ token: 'root-tok-1' }));
    other.set('jira', JSON.stringify({ token: 'devops-tok-1' }));
    const token = async () =>
      (await sesame.resolveConnection('jira', { namespace: 'acme.devops' })).fields['token'];
    expect(await token()).toBe('devops-tok-1');
    other.set('jira', JSON.stringify({ token: 'devops-tok-2' }));
    expect((await sesame.refresh({ connection: 'jira' }, { namespace: 'acme.devops' })).dropped).toBe(1);
    expect(await token()).toBe('devops-tok-2');
    // From the connection's own namespace the root store is the one meant.
    expect((await sesame.resolveConnection('jira', { namespace: 'acme' })).fields['token']).toBe(
      'root-tok-1',
    );
    mem.set('jira', JSON.stringify({ token: 'root-tok-2' }));
    expect((await sesame.refresh({ connection: 'jira' }, { namespace: 'acme' })).dropped).toBe(1);
    expect((await sesame.resolveConnection('jira', { namespace: 'acme' })).fields['token']).toBe(
      'root-tok-2',
    );
    expect(await token()).toBe('devops-tok-2');
  });

  it('resolves a connection through the same path', async () => {
    const { sesame, mem } = setup();
    mem.set('jira', JSON.stringify({ token: 'tok-xyz' }));
    const conn = await sesame.resolveConnection('jira', { namespace: 'acme.devops' });
    expect(conn).toEqual({
      name: 'jira',
      namespace: 'acme',
      type: 'generic',
      fields: { baseUrl: 'https://jira.example.com', token: 'tok-xyz' },
    });
  });
});

describe('store credentials from other stores', () => {
  it('resolves a store setting from another store before creating its client, and masks it', async () => {
    const { sesame, mem, redactor } = setup({
      stores: [
        { name: 'mem', type: 'memory', backend: 'mem' },
        { name: 'guarded', type: 'memory', backend: 'other', token: '{{ secret://mem/guard-token }}' },
      ],
    });
    mem.set('guard-token', 'credential-value-1');
    await sesame.resolve('secret://guarded/missing').catch(() => undefined);
    expect(redactor.redact('x credential-value-1 y')).toBe('x *** y');
  });

  it('uses rotated credentials after a refresh of the store, of the credential, of its namespace or of all', async () => {
    // A store type whose values say which credential its client was made with.
    const made: Array<{ token: string; closed: boolean }> = [];
    const tokenEcho = {
      type: 'token-echo',
      capabilities: {
        write: false,
        batch: false,
        versions: false,
        stages: false,
        namespaced: false,
        restore: false,
      },
      settings: z.strictObject({ token: z.string() }),
      secretSettings: ['token'],
      hostAccess: () => [],
      create(s: { token: string }) {
        const client = { token: s.token, closed: false };
        made.push(client);
        return {
          get: async () => ({ value: `made-with:${client.token}` }),
          list: async () => ({ items: [] }),
          check: async () => ({ ok: true, steps: [] }),
          close: async () => {
            client.closed = true;
          },
        };
      },
    } satisfies StoreType<{ token: string }>;
    const mem = memoryBackend();
    const sesame = createSesame(
      {
        stores: [
          { name: 'mem', type: 'memory', backend: 'mem' },
          { name: 'guarded', namespace: 'acme', type: 'token-echo', token: '{{ secret://mem/guard-token }}' },
        ],
      },
      {
        registry: new StoreTypeRegistry().register(memoryStoreType({ mem })).register(tokenEcho),
        redactor: new Redactor(),
      },
    );
    // A new name each time: what matters is the client that fetches it, not the cache.
    let n = 0;
    const read = () => sesame.resolve(`secret://guarded/x-${n++}`, { namespace: 'acme' });
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['cred-2222', () => sesame.refresh({ store: 'guarded' }, { namespace: 'acme' })],
      ['cred-3333', () => sesame.refresh({ reference: 'secret://mem/guard-token' }, { namespace: 'acme' })],
      ['cred-4444', () => sesame.refresh({ namespace: 'acme' })],
      ['cred-5555', () => sesame.refresh({ all: true })],
    ];
    mem.set('guard-token', 'cred-1111');
    expect(await read()).toBe('made-with:cred-1111');
    for (const [rotated, refresh] of steps) {
      mem.set('guard-token', rotated);
      await refresh();
      expect(await read()).toBe(`made-with:${rotated}`);
    }
    // A refresh of something else keeps the client.
    await sesame.refresh({ reference: 'secret://mem/other' });
    await read();
    expect(made.map((c) => c.token)).toEqual([
      'cred-1111',
      'cred-2222',
      'cred-3333',
      'cred-4444',
      'cred-5555',
    ]);
    await sesame.close();
    expect(made.every((c) => c.closed)).toBe(true);
  });

  it('refuses credentials that form a cycle, naming it', () => {
    const cyclic = () =>
      setup({
        connections: [],
        stores: [
          { name: 'a', type: 'memory', backend: 'mem', token: '{{ secret://b/t }}' },
          { name: 'b', type: 'memory', backend: 'other', token: 'secret://a/t' },
        ],
      });
    expect(cyclic).toThrow(ConfigError);
    expect(cyclic).toThrow(/store credentials form a cycle: a → b → a/);
  });
});

describe('observer', () => {
  it('reports each lookup once with how it was served, and each store call', async () => {
    const mem = memoryBackend();
    mem.set('a', 'value-a');
    mem.set('b', 'value-b');
    const lookups: string[] = [];
    const calls: string[] = [];
    const sesame = createSesame(
      { stores: [{ name: 'mem', type: 'memory', backend: 'mem' }] },
      {
        registry: new StoreTypeRegistry().register(memoryStoreType({ mem })),
        redactor: new Redactor(),
        observer: {
          onLookup: (_b, outcome) => lookups.push(outcome),
          onStoreCall: (_b, op, ok) => calls.push(`${op}:${ok}`),
        },
      },
    );
    await sesame.resolve(['secret://mem/a', 'secret://mem/b']);
    await sesame.resolve('secret://mem/a');
    await sesame.resolve('secret://mem/missing').catch(() => undefined);
    expect(lookups).toEqual(['miss', 'miss', 'hit', 'miss']);
    expect(calls).toEqual(['getMany:true', 'get:false']);
  });
});

describe('redaction of resolved values', () => {
  it('teaches the redactor every value fetched, including values inside JSON', async () => {
    const { sesame, mem, redactor } = setup();
    mem.set('db', JSON.stringify({ user: 'appuser', password: 'pw-7788' }));
    await sesame.resolve('secret://mem/db#user');
    expect(redactor.redact('user=appuser pass=pw-7788')).toBe('user=*** pass=***');
  });
});

describe('a malformed namespace is bad input on every library path', () => {
  it('resolve, resolveCached, prepare, refresh, connections and stores refuse it with the namespace rule', async () => {
    const { sesame, mem } = setup();
    mem.set('jira', JSON.stringify({ token: 'tok-value-ns' }));
    const rule = /^namespace "Bad NS": a namespace is dotted lowercase segments/;
    const ns = { namespace: 'Bad NS' };
    const calls: Array<[string, () => unknown]> = [
      ['resolve', () => sesame.resolve('secret://mem/jira#token', ns)],
      ['resolve without a reference', () => sesame.resolve({ plain: 'x' }, ns)],
      ['resolveDetailed', () => sesame.resolveDetailed('secret://mem/jira#token', ns)],
      ['resolveCached', () => sesame.resolveCached('secret://mem/jira#token', ns)],
      ['prepare', () => sesame.prepare({ t: '{{ secret://mem/jira#token }}' }, ns)],
      ['refresh reference', () => sesame.refresh({ reference: 'secret://mem/jira' }, ns)],
      ['refresh all', () => sesame.refresh({ all: true }, ns)],
      ['refresh namespace', () => sesame.refresh({ namespace: 'a..b' })],
      ['connections', () => sesame.connections('Bad NS')],
      ['resolveConnection', () => sesame.resolveConnection('jira', ns)],
      ['testConnection', () => sesame.testConnection('jira', ns)],
    ];
    for (const [what, call] of calls) {
      let err: unknown;
      try {
        await call();
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(UsageError);
      expect((err as UsageError).message, what).toMatch(
        what === 'refresh namespace' ? /^namespace "a\.\.b": a namespace is dotted/ : rule,
      );
      expect((err as UsageError).exitCode, what).toBe(2);
      expect((err as UsageError).status, what).toBe(400);
    }
    // The same calls in a well-formed namespace work.
    expect(await sesame.resolve('secret://mem/jira#token', { namespace: 'acme.dev-ops_1' })).toBe(
      'tok-value-ns',
    );
  });
});

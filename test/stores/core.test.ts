/**
 * The store core on its own: what every adapter now relies on instead of its own copy.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AccessDeniedError,
  ConfigError,
  InvalidRequestError,
  SecretNotFoundError,
  SecretStateError,
  SesameError,
  StoreThrottledError,
  StoreUnavailableError,
  UsageError,
  ValueTooLargeError,
} from '../../src/errors.js';
import type { FetchedSecret, StoreClient, StoreContext } from '../../src/stores/contract.js';
import {
  BatchRefused,
  type Classification,
  capabilityMismatches,
  credential,
  credentialPaths,
  credentialValues,
  getManyBatched,
  lazy,
  listProviderPages,
  NameMapping,
  pageInMemory,
  runChecks,
  StoreCore,
} from '../../src/stores/core/index.js';

const context: StoreContext = {
  storeName: 'core',
  namespace: '',
  services: {},
  log: { debug() {}, info() {}, warn() {} },
};

class Provider extends Error {
  constructor(
    readonly kind: Classification['kind'],
    readonly retryAfterMs?: number,
  ) {
    super(`provider said ${kind} with token hunter2-token in the request`);
    this.name = 'ProviderError';
  }
}

function core(delays: number[] = []) {
  return new StoreCore<{ action: string }>({
    context,
    settings: { auth: { token: 'hunter2-token' } },
    credentialPaths: ['auth.token'],
    retry: { attempts: 3, sleep: async (ms) => void delays.push(ms), random: () => 0.5 },
    classify: (err, op) =>
      err instanceof Provider
        ? {
            kind: err.kind,
            message: `${op.action}: ${err.message}`,
            fix: 'do the thing',
            retryAfterMs: err.retryAfterMs,
            summary: 'ProviderError 418',
          }
        : undefined,
  });
}

describe('StoreCore.call', () => {
  it.each([
    ['not_found', SecretNotFoundError, 1],
    ['denied', AccessDeniedError, 1],
    ['unavailable', StoreUnavailableError, 3],
    ['throttled', StoreThrottledError, 3],
    ['invalid', InvalidRequestError, 1],
    ['conflict', SecretStateError, 1],
    ['config', ConfigError, 1],
  ] as const)('turns a %s failure into exactly %o after %i attempt(s)', async (kind, type, attempts) => {
    let calls = 0;
    const err = await core()
      .call({ action: 'read' }, async () => {
        calls += 1;
        throw new Provider(kind);
      })
      .catch((e: unknown) => e as SesameError);
    expect(err.constructor).toBe(type);
    expect(calls).toBe(attempts);
    expect(err.fix).toBe('do the thing');
    expect(err.message).toMatch(/\[core\] read: provider said/);
  });

  it('scrubs the credential settings from the message and keeps only a summary as the cause', async () => {
    const err = await core()
      .call({ action: 'read' }, async () => {
        throw new Provider('denied');
      })
      .catch((e: unknown) => e as SesameError);
    expect(err.message).not.toContain('hunter2-token');
    expect(err.message).toContain('[redacted]');
    expect(err.cause).not.toBeInstanceOf(Provider);
    expect(String((err.cause as Error).message)).toBe('ProviderError 418');
  });

  it('honours Retry-After, then serves the value; says how many attempts a final failure took', async () => {
    const delays: number[] = [];
    let calls = 0;
    const value = await core(delays).call({ action: 'read' }, async () => {
      calls += 1;
      if (calls === 1) throw new Provider('throttled', 1234);
      return 'ok';
    });
    expect(value).toBe('ok');
    expect(delays).toEqual([1234]);
    const err = await core()
      .call({ action: 'read' }, async () => {
        throw new Provider('unavailable');
      })
      .catch((e: unknown) => e as Error);
    expect(err.message).toMatch(/\(after 3 attempts\)$/);
  });

  it('passes a SesameError the call raised itself through, scrubbed and not retried', async () => {
    let calls = 0;
    const err = await core()
      .call({ action: 'read' }, async () => {
        calls += 1;
        throw new UsageError('bad name near hunter2-token');
      })
      .catch((e: unknown) => e as Error);
    expect(calls).toBe(1);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('bad name near [redacted]');
  });

  it('treats an error the adapter does not know as unavailable, without retrying it', async () => {
    let calls = 0;
    const err = await core()
      .call({ action: 'read' }, async () => {
        calls += 1;
        throw new TypeError('x is not a function');
      })
      .catch((e: unknown) => e as Error);
    expect(calls).toBe(1);
    expect(err.constructor).toBe(StoreUnavailableError);
  });
});

describe('StoreCore.call time budget', () => {
  /** A core on a fake clock: `sleep` and each attempt advance it; nothing waits for real. */
  function clocked(options: { requestTimeoutMs: number; budgetMs?: number; attempts?: number }) {
    let clock = 0;
    const core = new StoreCore<{ action: string }>({
      context,
      requestTimeoutMs: options.requestTimeoutMs,
      retry: {
        attempts: options.attempts ?? 3,
        ...(options.budgetMs !== undefined ? { budgetMs: options.budgetMs } : {}),
        sleep: async (ms) => {
          clock += ms;
        },
        random: () => 0.5,
        now: () => clock,
      },
      classify: (err) =>
        err instanceof Provider
          ? { kind: err.kind, message: 'no luck', retryAfterMs: err.retryAfterMs }
          : undefined,
    });
    /** An attempt that takes `ms` and fails with `err`. */
    const failing = (ms: number, err: () => Error) => {
      let calls = 0;
      const run = () =>
        core
          .call({ action: 'read' }, async () => {
            calls += 1;
            clock += ms;
            throw err();
          })
          .catch((e: unknown) => e as Error);
      return { run, calls: () => calls };
    };
    return { failing };
  }
  const noAnswer = () => Object.assign(new Provider('unavailable'), { code: 'timeout' });
  const quick = () => new Provider('unavailable');

  it.each([
    {
      title:
        'does not repeat a request that got no answer when a whole new one would pass the default budget',
      clock: { requestTimeoutMs: 15_000 },
      ms: 15_000,
      fail: noAnswer,
      calls: 1,
      message:
        "[core] no luck (after 1 attempt in 15.0 s: another attempt of up to 15 s would not fit in the call's time budget of 20 s)",
    },
    {
      title: 'counts an attempt that ran out its time limit as unanswered whatever its error says',
      clock: { requestTimeoutMs: 1_000, budgetMs: 2_500 },
      ms: 1_000,
      fail: quick,
      calls: 2,
      message:
        "[core] no luck (after 2 attempts in 2.0 s: another attempt of up to 1 s would not fit in the call's time budget of 2.5 s)",
    },
    {
      title: 'keeps every attempt of quick failures, with their backoff, inside the budget',
      clock: { requestTimeoutMs: 15_000, attempts: 4 },
      ms: 5,
      fail: quick,
      calls: 4,
      message: '[core] no luck (after 4 attempts)',
    },
    {
      title: 'stops quick failures when the next backoff (here a Retry-After) would pass the budget',
      clock: { requestTimeoutMs: 100, budgetMs: 150, attempts: 5 },
      ms: 10,
      fail: () => new Provider('throttled', 1_000),
      calls: 1,
      message:
        "[core] no luck (after 1 attempt in 0.0 s: the next backoff would not fit in the call's time budget of 150 ms)",
    },
    {
      title: 'repeats a request that got no answer while whole attempts fit in a larger budget',
      clock: { requestTimeoutMs: 1_000, budgetMs: 60_000 },
      ms: 1_000,
      fail: noAnswer,
      calls: 3,
      message: '[core] no luck (after 3 attempts in 3.1 s)',
    },
  ])('$title', async ({ clock, ms, fail, calls, message }) => {
    const failing = clocked(clock).failing(ms, fail);
    const err = await failing.run();
    expect(failing.calls()).toBe(calls);
    expect(err.constructor).toBe(message.includes('backoff') ? StoreThrottledError : StoreUnavailableError);
    expect(err.message).toBe(message);
  });
});

describe('StoreCore declarations', () => {
  it('checks a value against the declared limit, in bytes or characters, and refuses an empty one when told', () => {
    const bytes = new StoreCore({
      context,
      classify: () => undefined,
      valueLimit: { max: 4, limit: 'the limit' },
    });
    expect(() => bytes.checkValue('n', 'abcd')).not.toThrow();
    expect(() => bytes.checkValue('n', '')).not.toThrow();
    const tooBig = (() => {
      try {
        bytes.checkValue('n', 'ééé');
      } catch (err) {
        return err as Error;
      }
    })();
    expect(tooBig).toBeInstanceOf(ValueTooLargeError);
    expect(tooBig?.message).toBe(
      '[core] the value of "n" is 6 bytes, above the limit (4 bytes): it was not written',
    );
    const chars = new StoreCore({
      context,
      classify: () => undefined,
      valueLimit: { max: 3, unit: 'characters', limit: 'the limit', empty: 'no empty values here' },
    });
    expect(() => chars.checkValue('n', 'ééé')).not.toThrow();
    expect(() => chars.checkValue('n', 'abcd')).toThrow('is 4 characters, above the limit (3 characters)');
    expect(() => chars.checkValue('n', '')).toThrow(
      new InvalidRequestError('[core] no empty values here ("n")'),
    );
  });

  it('builds the declared SDK once for concurrent calls, builds it again after a failed build, disposes it on close', async () => {
    let builds = 0;
    const disposed: number[] = [];
    const c = new StoreCore<{ action: string }, { id: number }>({
      context,
      retry: { attempts: 1 },
      classify: () => ({ kind: 'unavailable', message: 'no SDK', retry: false }),
      sdk: {
        build: async () => {
          builds += 1;
          if (builds === 1) throw new Error('module failed to load');
          return { id: builds };
        },
        dispose: (sdk) => void disposed.push(sdk.id),
      },
    });
    await expect(c.withSdk({ action: 'read' }, async (sdk) => sdk.id)).rejects.toThrow('[core] no SDK');
    const ids = await Promise.all([1, 2, 3].map(() => c.withSdk({ action: 'read' }, async (sdk) => sdk.id)));
    expect(ids).toEqual([2, 2, 2]);
    expect(builds).toBe(2);
    await c.close();
    expect(disposed).toEqual([2]);
  });
});

describe('lazy', () => {
  it('builds once for concurrent callers, forgets a failed build, disposes on reset', async () => {
    let builds = 0;
    const disposed: number[] = [];
    const value = lazy(
      async () => {
        builds += 1;
        if (builds === 1) throw new Error('first build fails');
        return builds;
      },
      (v) => void disposed.push(v),
    );
    await expect(value.get()).rejects.toThrow('first build fails');
    const [a, b] = await Promise.all([value.get(), value.get()]);
    expect([a, b, builds]).toEqual([2, 2, 2]);
    await value.reset();
    expect(disposed).toEqual([2]);
    expect(await value.get()).toBe(3);
  });
});

describe('credential settings', () => {
  const schema = z.strictObject({
    url: z.string(),
    headers: z.record(z.string(), credential(z.string())).default({}),
    auth: z
      .discriminatedUnion('method', [
        z.strictObject({ method: z.literal('token'), token: credential(z.string().min(1)) }),
        z.strictObject({
          method: z.literal('basic'),
          username: z.string(),
          password: credential(z.string()).optional(),
        }),
      ])
      .default({ method: 'token', token: 'x' }),
  });

  it('derives the credential paths from the marks in the schema, through defaults, unions and records', () => {
    expect(credentialPaths(schema)).toEqual(['headers', 'auth.token', 'auth.password']);
  });

  it('marks them writeOnly in the JSON schema (OpenAPI)', () => {
    const json = JSON.stringify(z.toJSONSchema(schema, { io: 'input' }));
    expect(json.match(/"writeOnly":true/g)).toHaveLength(3);
  });

  it('reads their values out of parsed settings, every value of a record', () => {
    const parsed = schema.parse({
      url: 'u',
      headers: { 'x-key': 'header-key-1' },
      auth: { method: 'token', token: 'tok-2' },
    });
    expect(credentialValues(parsed, credentialPaths(schema))).toEqual(['header-key-1', 'tok-2']);
  });
});

describe('NameMapping', () => {
  const names = new NameMapping('[s]', {
    prefix: 'team/',
    what: 'provider id',
    encode: (full) =>
      full.includes(' ') ? { ok: false, reason: 'no spaces' } : { ok: true, id: full.replaceAll('/', '--') },
    decode: (id) => id.replaceAll('--', '/'),
    passthrough: (n) => n.startsWith('arn:'),
  });

  it('maps both ways and leaves names outside the prefix out', () => {
    expect(names.toId('db/pass')).toBe('team--db--pass');
    expect(names.fromId('team--db--pass')).toBe('db/pass');
    expect(names.fromId('other--db')).toBeUndefined();
    expect(names.toId('arn:aws:x')).toBe('arn:aws:x');
  });

  it('refuses a name without a spelling, saying why', () => {
    expect(() => names.toId('a b')).toThrow(/\[s\] "a b" cannot be mapped to a provider id: no spaces/);
  });
  it("refuses a name outside the provider's id rule, saying the prefix counts", () => {
    const ids = new NameMapping('[s]', {
      prefix: 'team-',
      what: 'secret id',
      pattern: { test: /^[a-z-]{1,8}$/, rule: 'ids are 1-8 letters and "-"' },
    });
    expect(ids.toId('db')).toBe('team-db');
    expect(() => ids.toId('database')).toThrow(
      '[s] "database" cannot be mapped to a secret id: ids are 1-8 letters and "-" (prefix "team-" included)',
    );
  });
});

describe('runChecks', () => {
  it('reports each step, prefers the error’s own fix, and stops after a failed required step', async () => {
    const denied = Object.assign(new AccessDeniedError('[s] denied'), { fix: 'grant read' });
    const report = await runChecks([
      { step: 'authenticate', run: async () => 'ok as me' },
      {
        step: 'list',
        fix: 'generic fix',
        run: async () => {
          throw denied;
        },
      },
      {
        step: 'login',
        required: true,
        fix: 'check the password',
        run: async () => {
          throw new Error('bad password');
        },
      },
      { step: 'never', run: async () => 'not reached' },
    ]);
    expect(report).toEqual({
      ok: false,
      steps: [
        { step: 'authenticate', ok: true, detail: 'ok as me' },
        { step: 'list', ok: false, detail: '[s] denied', fix: 'grant read' },
        { step: 'login', ok: false, detail: 'bad password', fix: 'check the password' },
      ],
    });
  });
});

describe('capabilityMismatches', () => {
  it('names a declared capability without its method and a method that is not declared', () => {
    const client = {
      get: async () => ({ value: '' }),
      list: async () => ({ items: [] }),
      check: async () => ({ ok: true, steps: [] }),
      close: async () => {},
      restore: async () => {},
    } as StoreClient;
    expect(
      capabilityMismatches(
        { write: true, batch: false, versions: false, stages: false, namespaced: false, restore: false },
        client,
      ),
    ).toEqual([
      'declares write but has no write()',
      'declares write but has no delete()',
      'has restore() but does not declare restore',
    ]);
  });
});

describe('listing pages', () => {
  const provider = Array.from({ length: 23 }, (_, i) => `item-${String(i).padStart(2, '0')}`);
  const fetch = async (token: string | undefined) => {
    const start = Number(token ?? 0);
    return {
      items: provider.slice(start, start + 5),
      next: start + 5 < provider.length ? String(start + 5) : undefined,
    };
  };

  it('fills pages from provider pages, resumes inside a cut provider page, and reaches every item once', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listProviderPages({
        cursor,
        limit: 3,
        fetch,
        pick: (raw) => (raw.endsWith('7') ? undefined : { name: raw }),
      });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((i) => i.name));
      cursor = page.cursor;
      pages += 1;
    } while (cursor && pages < 100);
    expect(seen).toEqual(provider.filter((n) => !n.endsWith('7')));
  });

  it('pages an in-memory list after the last name and refuses a cursor it did not make', () => {
    const items = ['c', 'a', 'b'].map((name) => ({ name }));
    const first = pageInMemory(items, { limit: 2 });
    expect(first.items.map((i) => i.name)).toEqual(['a', 'b']);
    expect(pageInMemory(items, { limit: 2, cursor: first.cursor })).toEqual({ items: [{ name: 'c' }] });
    expect(() => pageInMemory(items, { cursor: 'not-a-cursor' })).toThrow(UsageError);
  });
});

describe('getManyBatched', () => {
  it('batches by key, reads pinned requests alone, falls back to single reads when batching is refused', async () => {
    const fetched: string[][] = [];
    const singles: string[] = [];
    let refuse = false;
    const results = await getManyBatched(
      ['a', 'b', 'a', 'pinned', 'missing'].map((name) => ({
        name,
        namespaces: [''],
        ...(name === 'pinned' ? { version: '1' } : {}),
      })),
      {
        size: 2,
        key: (r) => (r.version ? undefined : r.name),
        single: async (r) => {
          singles.push(r.name);
          return { value: `single-${r.name}` };
        },
        fetch: async (keys) => {
          fetched.push(keys);
          if (refuse) throw new BatchRefused();
          return new Map(
            keys.filter((k) => k !== 'missing').map((k) => [k, { value: `batch-${k}` } as FetchedSecret]),
          );
        },
        missing: (key) => new SecretNotFoundError(`no ${key}`),
      },
    );
    expect(results.map((r) => (r instanceof Error ? r.constructor.name : r.value))).toEqual([
      'batch-a',
      'batch-b',
      'batch-a',
      'single-pinned',
      'SecretNotFoundError',
    ]);
    expect(fetched).toEqual([['a', 'b'], ['missing']]);
    refuse = true;
    const fallback = await getManyBatched([{ name: 'x', namespaces: [''] }], {
      size: 20,
      key: (r) => r.name,
      single: async (r) => ({ value: `single-${r.name}` }),
      fetch: async () => {
        throw new BatchRefused();
      },
      missing: () => new Error('unused'),
    });
    expect(fallback).toEqual([{ value: 'single-x' }]);
    expect(singles).toEqual(['pinned']);
  });
});

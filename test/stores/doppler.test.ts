/**
 * The doppler store against the local Doppler API emulator: the shared contract (batched reads
 * included), computed values, service and personal tokens, every mapped error, `stores test`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOutboundLookup } from '../support/outbound-lookup.js';
import {
  AccessDeniedError,
  ConfigError,
  SecretNotFoundError,
  StoreThrottledError,
  StoreUnavailableError,
} from '../../src/errors.js';
import type { FetchedSecret, StoreContext } from '../../src/stores/contract.js';
import { DopplerStore, type DopplerSettings, dopplerStoreType } from '../../src/stores/doppler/index.js';
import { type DopplerEmulator, startDopplerEmulator } from '../emulators/doppler/index.js';
import { runStoreContract, runStoreFaultContract } from './contract.js';
import { answer, httpListener, type Listener } from './network-faults.js';

const ns = [''] as const;
const context: StoreContext = {
  storeName: 'doppler',
  namespace: '',
  services: {},
  log: { debug() {}, info() {}, warn() {} },
};
const fast = { baseDelayMs: 1, maxDelayMs: 2 };

let dp: DopplerEmulator;
let token: string;
const open: DopplerStore[] = [];

function store(settings: Partial<DopplerSettings> & Record<string, unknown> = {}) {
  const parsed = dopplerStoreType.settings.parse({
    apiUrl: dp.url,
    project: 'backend',
    config: 'prd',
    auth: { method: 'service-token', token },
    ...settings,
  });
  const client = new DopplerStore(parsed, context, { retry: fast });
  open.push(client);
  return client;
}
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as Error,
  );

beforeAll(async () => {
  dp = await startDopplerEmulator();
  dp.setSecret('backend', 'prd', 'DB_USER', 'app');
  dp.setSecret('backend', 'prd', 'DB_HOST', 'db.internal');
  dp.setSecret('backend', 'prd', 'DB_PASSWORD', 'doppler-db-pass-31f');
  dp.setSecret('backend', 'prd', 'DATABASE_URL', 'postgres://${DB_USER}:${DB_PASSWORD}@${DB_HOST}/app');
  dp.setSecret('backend', 'stg', 'SHARED', 'from-staging');
  dp.setSecret('backend', 'prd', 'FROM_STG', '${stg.SHARED}');
  token = dp.issueToken({ project: 'backend', config: 'prd' });
});
afterAll(async () => {
  for (const c of open) await c.close();
  await dp?.stop();
});

const dopplerContract = {
  label: 'doppler (emulator)',
  storeType: dopplerStoreType as never,
  slashNames: false,
  name: (base: string) => base.toUpperCase(),
  harness: async () => {
    const t = dp.issueToken({ project: 'contract', config: 'dev' });
    const settings = { apiUrl: dp.url, auth: { method: 'service-token', token: t } };
    const make = (s: Record<string, unknown>) =>
      new DopplerStore(dopplerStoreType.settings.parse(s), context, { retry: fast });
    return {
      client: make(settings),
      seed: async (name: string, value: string) => dp.setSecret('contract', 'dev', name, value),
      faults: dp.faults,
      settings,
      prefixed: { prefix: 'PFX_', client: make({ ...settings, prefix: 'PFX_' }) },
    };
  },
};
runStoreContract(dopplerContract);
runStoreFaultContract(dopplerContract);

describe('doppler settings', () => {
  it('defaults apiUrl to the public API, is strict and marks the token as a credential', () => {
    const parsed = dopplerStoreType.settings.parse({ auth: { method: 'service-token', token: 'dp.st.x' } });
    expect(parsed.apiUrl).toBe('https://api.doppler.com');
    expect(dopplerStoreType.hostAccess(parsed)).toEqual([
      { kind: 'address', setting: 'apiUrl', url: 'https://api.doppler.com' },
    ]);
    expect(dopplerStoreType.settings.safeParse({ auth: { method: 'token', token: 'x' } }).success).toBe(
      false,
    );
    expect(dopplerStoreType.secretSettings).toEqual(['auth.token']);
  });
});

describe('doppler values', () => {
  it('serves the computed value, references expanded across configs', async () => {
    expect((await store().get({ name: 'DATABASE_URL', namespaces: ns })).value).toBe(
      'postgres://app:doppler-db-pass-31f@db.internal/app',
    );
    expect((await store().get({ name: 'FROM_STG', namespaces: ns })).value).toBe('from-staging');
  });

  it('a service token needs no project or config; a personal token reads any config it names', async () => {
    expect(
      (await store({ project: undefined, config: undefined }).get({ name: 'DB_USER', namespaces: ns })).value,
    ).toBe('app');
    const personal = dp.issueToken('personal');
    expect(
      (
        await store({ config: 'stg', auth: { method: 'service-token', token: personal } }).get({
          name: 'SHARED',
          namespaces: ns,
        })
      ).value,
    ).toBe('from-staging');
  });

  it('a restricted secret is read with a service token; a personal token is denied saying to use a service token', async () => {
    dp.setSecret('backend', 'sec', 'SIGNING_KEY', 'doppler-signing-key-8e1');
    dp.setVisibility('backend', 'sec', 'SIGNING_KEY', 'restricted');
    const service = dp.issueToken({ project: 'backend', config: 'sec' });
    const byService = store({ config: 'sec', auth: { method: 'service-token', token: service } });
    expect((await byService.get({ name: 'SIGNING_KEY', namespaces: ns })).value).toBe(
      'doppler-signing-key-8e1',
    );
    const personal = store({
      config: 'sec',
      auth: { method: 'service-token', token: dp.issueToken('personal') },
    });
    const err = await failure(personal.get({ name: 'SIGNING_KEY', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe(
      '[doppler] "SIGNING_KEY" in backend/sec is restricted: Doppler gives its value to service tokens only, not to personal or CLI tokens',
    );
    expect((err as AccessDeniedError).fix).toBe(
      'set auth.token to a service token of backend/sec (Doppler: project → config → Access → Generate)',
    );
    const [many] = await personal.getMany([{ name: 'SIGNING_KEY', namespaces: ns }]);
    expect(many).toBeInstanceOf(AccessDeniedError);
  });

  it('reads several secrets in one call, with a per-name not found', async () => {
    const before = dp.calls['secrets-list'] ?? 0;
    const got = await store().getMany([
      { name: 'DB_USER', namespaces: ns },
      { name: 'NOPE', namespaces: ns },
      { name: 'DATABASE_URL', namespaces: ns },
      { name: 'DOPPLER_CONFIG', namespaces: ns },
    ]);
    expect((dp.calls['secrets-list'] ?? 0) - before).toBe(1);
    expect((got[0] as FetchedSecret).value).toBe('app');
    expect(got[1]).toBeInstanceOf(SecretNotFoundError);
    expect((got[1] as Error).message).toBe(
      '[doppler] reading "NOPE" in backend/prd: Could not find requested secret',
    );
    expect((got[2] as FetchedSecret).value).toContain('doppler-db-pass-31f');
    // Doppler's managed secrets read the same one by one and in a batch.
    expect((got[3] as FetchedSecret).value).toBe(
      (await store().get({ name: 'DOPPLER_CONFIG', namespaces: ns })).value,
    );
  });

  it("lists names without Doppler's managed DOPPLER_* secrets", async () => {
    const names = (await store().list({ namespaces: ns })).items.map((i) => i.name);
    expect(names).toEqual(['DATABASE_URL', 'DB_HOST', 'DB_PASSWORD', 'DB_USER', 'FROM_STG']);
    expect((await store().list({ namespaces: ns, prefix: 'DB_' })).items).toHaveLength(3);
  });
});

describe('doppler errors', () => {
  it("a missing secret is not found with Doppler's words", async () => {
    const err = await failure(store().get({ name: 'MISSING', namespaces: ns }));
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect(err.message).toBe('[doppler] reading "MISSING" in backend/prd: Could not find requested secret');
  });

  it('a wrong token is 401 → access denied with the fix, the token scrubbed', async () => {
    const wrong = 'dp.st.prd.wrongwrongwrong0000';
    const err = await failure(
      store({ auth: { method: 'service-token', token: wrong } }).get({ name: 'DB_USER', namespaces: ns }),
    );
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe(
      '[doppler] reading "DB_USER" in backend/prd: Doppler refused the token (401 Invalid Auth token)',
    );
    expect((err as AccessDeniedError).fix).toBe(
      'set auth.token to a service token of backend/prd (Doppler: project → config → Access → Generate)',
    );
    expect(err.message).not.toContain(wrong);
  });

  it('a service token of another config is 403 → access denied', async () => {
    const err = await failure(store({ config: 'stg' }).get({ name: 'SHARED', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toContain('This token does not have access to requested project or config (403)');
  });

  it('a personal token without project and config is a config error', async () => {
    const err = await failure(
      store({
        project: undefined,
        config: undefined,
        auth: { method: 'service-token', token: dp.issueToken('personal') },
      }).get({ name: 'X', namespaces: ns }),
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).fix).toBe(
      'check project and config (required unless the token is a service token)',
    );
  });

  it('429 is retried after Retry-After, then throttled; 5xx unavailable; unreachable names the cause', async () => {
    dp.throttle(1, 0);
    expect((await store().get({ name: 'DB_USER', namespaces: ns })).value).toBe('app');
    dp.throttle(3, 0);
    expect(await failure(store().get({ name: 'DB_USER', namespaces: ns }))).toBeInstanceOf(
      StoreThrottledError,
    );
    dp.failNext(3, 502);
    const failing = await failure(store().get({ name: 'DB_USER', namespaces: ns }));
    expect(failing).toBeInstanceOf(StoreUnavailableError);
    expect(failing.message).toMatch(/\(HTTP 502\) \(?after 3 attempts/);
    const down = await failure(
      store({ apiUrl: 'http://127.0.0.1:9' }).get({ name: 'DB_USER', namespaces: ns }),
    );
    expect(down.message).toMatch(
      /^\[doppler\] reading "DB_USER" in backend\/prd: 127\.0\.0\.1:\d+ refused the connection: nothing listens on port \d+ \(ECONNREFUSED\) \(?after 3 attempts\)?$/,
    );
  });
});

describe('doppler store answered 400/401/403 by another service at apiUrl', () => {
  // Doppler's errors always carry `{"messages": [...], "success": false}` (its CLI reads exactly
  // that); a gateway's, a proxy's or another API's refusal is not Doppler's word on the token.
  const foreign: Array<[string, number, string, string]> = [
    ['an API gateway', 401, '{"message":"Unauthorized"}', 'application/json'],
    ['a proxy', 403, 'Forbidden', 'text/plain'],
    [
      'another JSON service',
      400,
      '{"status":400,"error":"Bad Request","path":"/v3/configs"}',
      'application/json',
    ],
    ['a gateway without a body', 401, '', 'application/json'],
    ["a service with `messages` but not Doppler's shape", 403, '{"messages":"denied"}', 'application/json'],
    [
      "Cloudflare's error envelope",
      403,
      '{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}',
      'application/json',
    ],
  ];
  const listeners: Listener[] = [];
  afterAll(async () => {
    for (const l of listeners) await l.close();
  });

  it.each(foreign)(
    '%s answering %i is "does not answer like Doppler" naming apiUrl, never a token refusal',
    async (_who, status, body, type) => {
      const l = await httpListener(answer(status, body, type));
      listeners.push(l);
      const client = store({ apiUrl: l.url });
      const err = await failure(client.get({ name: 'DB_USER', namespaces: ns }));
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toBe(
        `[doppler] reading "DB_USER" in backend/prd: 127.0.0.1:${l.port} does not answer like Doppler: HTTP ${status} ${type}, not Doppler's error`,
      );
      expect((err as StoreUnavailableError).fix).toBe(
        "check that apiUrl is the address of Doppler's API, and that no proxy or sign-in page answers in its place",
      );
      const [many] = await client.getMany([{ name: 'DB_USER', namespaces: ns }]);
      expect(many).toBeInstanceOf(StoreUnavailableError);
      expect((many as Error).message).toContain(
        `127.0.0.1:${l.port} does not answer like Doppler: HTTP ${status}`,
      );
      const report = await client.check({ namespaces: ns });
      expect(report.ok).toBe(false);
      expect(JSON.stringify(report.steps[0])).toContain('does not answer like Doppler');
      expect(JSON.stringify(report)).not.toContain(token);
    },
  );

  it('a 503 whose `messages` is not a list is unavailable, never a crash', async () => {
    const l = await httpListener(answer(503, '{"messages":"maintenance"}'));
    listeners.push(l);
    const err = await failure(store({ apiUrl: l.url }).get({ name: 'DB_USER', namespaces: ns }));
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toMatch(/^\[doppler\] reading "DB_USER" in backend\/prd: .*HTTP 503/);
  });

  it("a Doppler error body without `success` is still Doppler's", async () => {
    const l = await httpListener(answer(401, '{"messages":["Invalid Auth token"]}'));
    listeners.push(l);
    const err = await failure(store({ apiUrl: l.url }).get({ name: 'DB_USER', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe(
      '[doppler] reading "DB_USER" in backend/prd: Doppler refused the token (401 Invalid Auth token)',
    );
  });

  it("Doppler's own 400, 401 and 403 keep Doppler's words and fixes", async () => {
    const personal = dp.issueToken('personal');
    const noScope = await failure(
      store({
        project: undefined,
        config: undefined,
        auth: { method: 'service-token', token: personal },
      }).get({
        name: 'X',
        namespaces: ns,
      }),
    );
    expect(noScope).toBeInstanceOf(ConfigError);
    expect(noScope.message).toContain(
      '[doppler] reading "X": You must specify a project and config (HTTP 400)',
    );
    const wrong = await failure(
      store({ auth: { method: 'service-token', token: 'dp.st.prd.nottheone' } }).get({
        name: 'DB_USER',
        namespaces: ns,
      }),
    );
    expect(wrong).toBeInstanceOf(AccessDeniedError);
    const other = await failure(store({ config: 'stg' }).get({ name: 'SHARED', namespaces: ns }));
    expect(other).toBeInstanceOf(AccessDeniedError);
  });
});

describe('doppler check', () => {
  it('reports the token, the names and the sample read, never the value', async () => {
    const report = await store().check({ namespaces: ns, sample: 'DB_PASSWORD' });
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => `${s.step}: ${s.detail}`)).toEqual([
      'authenticate: token "prd-token" (service_token) of workplace Emulator Workplace',
      'list: 5 secret name(s) in backend/prd',
      'read: read "DB_PASSWORD" (19 bytes)',
    ]);
    expect(JSON.stringify(report)).not.toContain('doppler-db-pass-31f');
  });
});

describe('doppler outbound lookup', () => {
  it('resolves host names through the context lookup (the outbound policy), and fails closed when it refuses', async () => {
    const port = new URL(dp.url).port;
    await expectOutboundLookup(
      (host, lookup) =>
        new DopplerStore(
          dopplerStoreType.settings.parse({
            ...{ project: 'backend', config: 'prd', auth: { method: 'service-token', token } },
            apiUrl: `http://${host}:${port}`,
          }),
          { ...context, lookup },
          { retry: fast },
        ),
      { name: 'DB_USER', namespaces: ns },
    );
  });
});

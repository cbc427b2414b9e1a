/**
 * The conjur store against the local Conjur emulator: the shared contract (with pinned
 * versions), api-key and authn-jwt authentication, token reuse and re-authentication, every
 * mapped error, listing by Conjur's pages and `stores test`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectOutboundLookup } from '../support/outbound-lookup.js';
import {
  AccessDeniedError,
  ConfigError,
  InvalidRequestError,
  SecretNotFoundError,
  StoreUnavailableError,
} from '../../src/errors.js';
import { ConjurStore, type ConjurSettings, conjurStoreType } from '../../src/stores/conjur/index.js';
import type { StoreContext } from '../../src/stores/contract.js';
import { type ConjurEmulator, startConjurEmulator } from '../emulators/conjur/index.js';
import { runStoreContract, runStoreFaultContract } from './contract.js';

const ns = [''] as const;
const dir = mkdtempSync(path.join(tmpdir(), 'sesame-conjur-'));
const context: StoreContext = {
  storeName: 'conjur',
  namespace: '',
  services: {},
  baseDir: dir,
  log: { debug() {}, info() {}, warn() {} },
};
const fast = { baseDelayMs: 1, maxDelayMs: 2 };

let cj: ConjurEmulator;
let apiKey: string;
const open: ConjurStore[] = [];

function store(settings: Partial<ConjurSettings> & Record<string, unknown> = {}) {
  const parsed = conjurStoreType.settings.parse({
    url: cj.url,
    account: 'acme',
    auth: { method: 'api-key', login: 'host/apps/sesame', apiKey },
    ...settings,
  });
  const client = new ConjurStore(parsed, context, { retry: fast });
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
  cj = await startConjurEmulator({ account: 'acme' });
  apiKey = cj.addRole('host/apps/sesame', { execute: ['prod/*'], read: ['prod/*', 'visible/*'] });
  cj.addRole('host/k8s/ci-runner', { execute: ['prod/*'] });
  cj.setVariable('prod/db/password', 'conjur-old-pass');
  cj.setVariable('prod/db/password', 'conjur-db-pass-4d1');
  cj.setVariable('visible/no-exec', 'cannot-fetch-this-1');
  cj.setVariable('other/hidden', 'hidden-value-9c9');
  cj.declareVariable('prod/empty');
  cj.enableJwt('k8s', { identityClaim: 'sub', identityPath: 'k8s' });
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  for (const c of open) await c.close();
  await cj?.stop();
});

const conjurContract = {
  label: 'conjur (emulator)',
  storeType: conjurStoreType as never,
  binary: true,
  harness: async () => {
    const key = cj.addRole('host/contract', { execute: ['contract/*'] });
    const settings = {
      url: cj.url,
      account: 'acme',
      prefix: 'contract/',
      auth: { method: 'api-key', login: 'host/contract', apiKey: key },
    };
    const make = (s: Record<string, unknown>) =>
      new ConjurStore(conjurStoreType.settings.parse(s), context, { retry: fast });
    return {
      client: make(settings),
      seed: async (name: string, value: string) => void cj.setVariable(`contract/${name}`, value),
      seedBinary: async (name: string, value: Uint8Array) =>
        void cj.setVariable(`contract/${name}`, Buffer.from(value)),
      faults: cj.faults,
      settings,
      prefixed: { prefix: 'pfx/', client: make({ ...settings, prefix: 'contract/pfx/' }) },
    };
  },
};
runStoreContract(conjurContract);
runStoreFaultContract(conjurContract);

describe('conjur settings', () => {
  it('takes api-key or authn-jwt (with one JWT source), marks the API key, declares files and env it reads', () => {
    const parse = (auth: unknown) =>
      conjurStoreType.settings.safeParse({ url: 'https://c', account: 'a', auth });
    expect(parse({ method: 'api-key', login: 'host/x', apiKey: 'k' }).success).toBe(true);
    expect(parse({ method: 'authn-jwt', serviceId: 'k8s', jwtFile: '/t' }).success).toBe(true);
    expect(parse({ method: 'authn-jwt', serviceId: 'k8s' }).success).toBe(false);
    expect(parse({ method: 'authn-jwt', serviceId: '..', jwtFile: '/t' }).success).toBe(false);
    expect(
      conjurStoreType.settings.safeParse({
        url: 'https://c',
        account: '..',
        auth: { method: 'api-key', login: 'h', apiKey: 'k' },
      }).success,
    ).toBe(false);
    expect(parse({ method: 'authn-jwt', serviceId: 'k8s', jwtFile: '/t', jwtEnv: 'JWT' }).success).toBe(
      false,
    );
    expect(conjurStoreType.secretSettings).toEqual(['auth.apiKey']);
    const jwt = conjurStoreType.settings.parse({
      url: 'https://c',
      account: 'a',
      caFile: 'ca.pem',
      auth: { method: 'authn-jwt', serviceId: 'k8s', jwtEnv: 'CONJUR_JWT' },
    });
    expect(conjurStoreType.hostAccess(jwt)).toEqual([
      { kind: 'address', setting: 'url', url: 'https://c' },
      { kind: 'files', setting: 'caFile', path: 'ca.pem' },
      { kind: 'environment', detail: 'auth.jwtEnv reads CONJUR_JWT' },
    ]);
  });
});

describe('conjur authentication', () => {
  it('api-key: authenticates once, reuses the token, authenticates again after 6 minutes', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const client = store();
    const before = cj.calls.authn ?? 0;
    expect((await client.get({ name: 'prod/db/password', namespaces: ns })).value).toBe('conjur-db-pass-4d1');
    await client.get({ name: 'prod/db/password', namespaces: ns });
    expect((cj.calls.authn ?? 0) - before).toBe(1);
    vi.setSystemTime(Date.now() + 6 * 60_000 + 1);
    await client.get({ name: 'prod/db/password', namespaces: ns });
    expect((cj.calls.authn ?? 0) - before).toBe(2);
  });

  it('api-key: after a 401 for a token Conjur no longer takes, authenticates once and retries', async () => {
    const client = store();
    await client.get({ name: 'prod/db/password', namespaces: ns });
    cj.rotateTokenKey();
    const before = cj.calls.authn ?? 0;
    expect((await client.get({ name: 'prod/db/password', namespaces: ns })).value).toBe('conjur-db-pass-4d1');
    expect((cj.calls.authn ?? 0) - before).toBe(1);
  });

  it('api-key: concurrent reads share one authentication, also when the token is renewed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const client = store();
    const before = cj.calls.authn ?? 0;
    const read = () => client.get({ name: 'prod/db/password', namespaces: ns });
    await Promise.all([read(), read(), read(), read()]);
    expect((cj.calls.authn ?? 0) - before).toBe(1);
    vi.setSystemTime(Date.now() + 6 * 60_000 + 1);
    await Promise.all([read(), read(), read(), read()]);
    expect((cj.calls.authn ?? 0) - before).toBe(2);
  });

  it('api-key: a wrong key is access denied naming the login, the key never shown', async () => {
    const wrong = 'wrong-conjur-api-key-0001';
    const err = await failure(
      store({ auth: { method: 'api-key', login: 'host/apps/sesame', apiKey: wrong } }).get({
        name: 'prod/db/password',
        namespaces: ns,
      }),
    );
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe('[conjur] Conjur refused the API key of host/apps/sesame (HTTP 401)');
    expect((err as AccessDeniedError).fix).toBe(
      'check auth.login (host/<id> for a host) and auth.apiKey (a rotated key stops working)',
    );
  });

  it('authn-jwt: a JWT from a file (read at each login) or from the environment; the host from the claim or from hostId', async () => {
    writeFileSync(path.join(dir, 'jwt'), `${cj.signJwt('k8s', { sub: 'ci-runner' })}\n`);
    const fromFile = store({ auth: { method: 'authn-jwt', serviceId: 'k8s', jwtFile: 'jwt' } });
    expect((await fromFile.get({ name: 'prod/db/password', namespaces: ns })).value).toBe(
      'conjur-db-pass-4d1',
    );
    process.env.SESAME_TEST_CONJUR_JWT = cj.signJwt('k8s', { sub: 'whoever' });
    try {
      const fromEnv = store({
        auth: {
          method: 'authn-jwt',
          serviceId: 'k8s',
          hostId: 'host/k8s/ci-runner',
          jwtEnv: 'SESAME_TEST_CONJUR_JWT',
        },
      });
      expect((await fromEnv.get({ name: 'prod/db/password', namespaces: ns })).value).toBe(
        'conjur-db-pass-4d1',
      );
    } finally {
      delete process.env.SESAME_TEST_CONJUR_JWT;
    }
  });

  it('authn-jwt: an expired JWT is denied with what to check; a missing file is a config error', async () => {
    writeFileSync(path.join(dir, 'old-jwt'), cj.signJwt('k8s', { sub: 'ci-runner' }, -10));
    const err = await failure(
      store({ auth: { method: 'authn-jwt', serviceId: 'k8s', jwtFile: 'old-jwt' } }).get({
        name: 'prod/db/password',
        namespaces: ns,
      }),
    );
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe('[conjur] Conjur refused the JWT at authn-jwt/k8s (HTTP 401)');
    const missing = await failure(
      store({ auth: { method: 'authn-jwt', serviceId: 'k8s', jwtFile: 'nope' } }).get({
        name: 'prod/db/password',
        namespaces: ns,
      }),
    );
    expect(missing).toBeInstanceOf(ConfigError);
    expect(missing.message).toMatch(
      /^config stores\.conjur\.auth\.jwtFile: file \S+nope does not exist \(point jwtFile at the token the platform mounts, or set jwtEnv\)$/,
    );
  });
});

describe('conjur variables and errors', () => {
  it('pins a version; unknown versions and empty variables are not found; a non-number is refused', async () => {
    expect((await store().get({ name: 'prod/db/password', version: '1', namespaces: ns })).value).toBe(
      'conjur-old-pass',
    );
    const none = await failure(store().get({ name: 'prod/db/password', version: '7', namespaces: ns }));
    expect(none).toBeInstanceOf(SecretNotFoundError);
    expect(none.message).toBe(
      '[conjur] fetching "prod/db/password" in account acme: CONJ00076E Variable acme:variable:prod/db/password is empty or not found.',
    );
    expect(await failure(store().get({ name: 'prod/empty', namespaces: ns }))).toBeInstanceOf(
      SecretNotFoundError,
    );
    expect(
      await failure(store().get({ name: 'prod/db/password', version: 'v1', namespaces: ns })),
    ).toBeInstanceOf(InvalidRequestError);
  });

  it('refuses "." and ".." as ids (one URL path segment each); slashes inside an id are escaped', async () => {
    expect(await failure(store().get({ name: '..', namespaces: ns }))).toBeInstanceOf(InvalidRequestError);
    expect(await failure(store().get({ name: '.', namespaces: ns }))).toBeInstanceOf(InvalidRequestError);
    expect(await failure(store().get({ name: 'prod/../other/hidden', namespaces: ns }))).toBeInstanceOf(
      SecretNotFoundError,
    );
  });

  it('a visible variable without execute is 403 naming the permit to add; a hidden one is not found', async () => {
    const err = await failure(store().get({ name: 'visible/no-exec', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe(
      '[conjur] fetching "visible/no-exec" in account acme: host/apps/sesame is not allowed (403 Forbidden)',
    );
    expect((err as AccessDeniedError).fix).toContain(
      'privileges: [ read, execute ], resource: !variable visible/no-exec',
    );
    const hidden = await failure(store().get({ name: 'other/hidden', namespaces: ns }));
    expect(hidden).toBeInstanceOf(SecretNotFoundError);
    // Conjur answers a variable the role has no privilege on as it answers a missing one.
    expect((hidden as SecretNotFoundError).fix).toBe(
      'check the variable id and that it has a value; Conjur answers the same for a variable the role has no privilege on: - !permit { role: !host apps/sesame, privileges: [ read, execute ], resource: !variable other/hidden }',
    );
  });

  it('a 403 fix names the role that logged in: a user as !user, a host as !host', async () => {
    const aliceKey = cj.addRole('alice', { execute: [], read: ['visible/*'] });
    const asAlice = store({ auth: { method: 'api-key', login: 'alice', apiKey: aliceKey } });
    const user = await failure(asAlice.get({ name: 'visible/no-exec', namespaces: ns }));
    expect((user as AccessDeniedError).fix).toBe(
      'permit it in policy: - !permit { role: !user alice, privileges: [ read, execute ], resource: !variable visible/no-exec }',
    );
    const host = await failure(store().get({ name: 'visible/no-exec', namespaces: ns }));
    expect((host as AccessDeniedError).fix).toBe(
      'permit it in policy: - !permit { role: !host apps/sesame, privileges: [ read, execute ], resource: !variable visible/no-exec }',
    );
  });

  it('lists visible variables by prefix, paging with a cursor', async () => {
    const names = (await store().list({ namespaces: ns })).items.map((i) => i.name);
    expect(names).toEqual(['prod/db/password', 'prod/empty', 'visible/no-exec']);
    const first = await store().list({ namespaces: ns, prefix: 'prod/', limit: 1 });
    expect(first.items.map((i) => i.name)).toEqual(['prod/db/password']);
    expect(first.items[0]?.version).toBe('2');
    const rest = await store().list({ namespaces: ns, prefix: 'prod/', cursor: first.cursor });
    expect(rest.items.map((i) => i.name)).toEqual(['prod/empty']);
  });

  it('5xx is retried then unavailable; an unreachable Conjur names the cause', async () => {
    cj.failNext(3, 502);
    expect(await failure(store().get({ name: 'prod/db/password', namespaces: ns }))).toBeInstanceOf(
      StoreUnavailableError,
    );
    const down = await failure(
      store({ url: 'http://127.0.0.1:9' }).get({ name: 'prod/db/password', namespaces: ns }),
    );
    expect(down.message).toMatch(
      /^\[conjur\] fetching "prod\/db\/password" in account acme: 127\.0\.0\.1:\d+ refused the connection: nothing listens on port \d+ \(ECONNREFUSED\) \(?after 3 attempts\)?$/,
    );
  });
});

describe('conjur check', () => {
  it('reports whoami, the list and the sample read', async () => {
    const report = await store().check({ namespaces: ns, sample: 'prod/db/password' });
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => `${s.step}: ${s.detail}`)).toEqual([
      'authenticate: authenticated as host/apps/sesame in account acme',
      'list: 3 variable(s) visible (first page)',
      'read: read "prod/db/password" (18 bytes)',
    ]);
    expect(JSON.stringify(report)).not.toContain('conjur-db-pass');
  });
});

describe('conjur outbound lookup', () => {
  it('resolves host names through the context lookup (the outbound policy), and fails closed when it refuses', async () => {
    const port = new URL(cj.url).port;
    await expectOutboundLookup(
      (host, lookup) =>
        new ConjurStore(
          conjurStoreType.settings.parse({
            ...{ account: 'acme', auth: { method: 'api-key', login: 'host/apps/sesame', apiKey } },
            url: `http://${host}:${port}`,
          }),
          { ...context, lookup },
          { retry: fast },
        ),
      { name: 'prod/db/password', namespaces: ns },
    );
  });
});

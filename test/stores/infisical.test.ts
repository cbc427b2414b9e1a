/**
 * The infisical store against the local Infisical emulator: the shared contract (with pinned
 * versions), universal-auth login and re-login, token auth, folders, every mapped error and
 * `stores test`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectOutboundLookup } from '../support/outbound-lookup.js';
import {
  AccessDeniedError,
  ConfigError,
  InvalidRequestError,
  SecretNotFoundError,
  StoreUnavailableError,
} from '../../src/errors.js';
import type { StoreContext } from '../../src/stores/contract.js';
import {
  InfisicalStore,
  type InfisicalSettings,
  infisicalStoreType,
} from '../../src/stores/infisical/index.js';
import { type InfisicalEmulator, startInfisicalEmulator } from '../emulators/infisical/index.js';
import { runStoreContract, runStoreFaultContract } from './contract.js';

const ns = [''] as const;
const context: StoreContext = {
  storeName: 'inf',
  namespace: '',
  services: {},
  log: { debug() {}, info() {}, warn() {} },
};
const fast = { baseDelayMs: 1, maxDelayMs: 2 };

let inf: InfisicalEmulator;
let project: string;
let creds: { identityId: string; clientId: string; clientSecret: string };
const open: InfisicalStore[] = [];

function store(settings: Partial<InfisicalSettings> & Record<string, unknown> = {}) {
  const parsed = infisicalStoreType.settings.parse({
    siteUrl: inf.url,
    projectId: project,
    environment: 'prod',
    auth: { method: 'universal-auth', clientId: creds.clientId, clientSecret: creds.clientSecret },
    ...settings,
  });
  const client = new InfisicalStore(parsed, context, { retry: fast });
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
  inf = await startInfisicalEmulator();
  project = inf.addProject(['dev', 'prod']);
  inf.setSecret(project, 'prod', '/', 'DB_PASSWORD', 'infisical-old-pass');
  inf.setSecret(project, 'prod', '/', 'DB_PASSWORD', 'infisical-db-pass-5e2');
  inf.setSecret(project, 'prod', '/apps/api', 'API_KEY', 'infisical-api-key-9f0');
  inf.setSecret(project, 'dev', '/', 'DEV_ONLY', 'dev-value');
  creds = inf.addIdentity({ [project]: ['prod'] }, { accessTokenTtlSeconds: 600 });
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  for (const c of open) await c.close();
  await inf?.stop();
});

const infisicalContract = {
  label: 'infisical (emulator)',
  storeType: infisicalStoreType as never,
  harness: async () => {
    const contractProject = inf.addProject(['test']);
    const id = inf.addIdentity({ [contractProject]: ['*'] });
    const settings = {
      siteUrl: inf.url,
      projectId: contractProject,
      environment: 'test',
      secretPath: '/sesame',
      auth: { method: 'universal-auth', clientId: id.clientId, clientSecret: id.clientSecret },
    };
    const make = (s: Record<string, unknown>) =>
      new InfisicalStore(infisicalStoreType.settings.parse(s), context, { retry: fast });
    const seed = async (name: string, value: string) => {
      const at = name.lastIndexOf('/');
      inf.setSecret(
        contractProject,
        'test',
        `/sesame/${name.slice(0, Math.max(at, 0))}`,
        name.slice(at + 1),
        value,
      );
    };
    // secretPath is Infisical's prefix: a folder below the contract's.
    return {
      client: make(settings),
      seed,
      faults: inf.faults,
      settings,
      prefixed: { prefix: 'pfx/', client: make({ ...settings, secretPath: '/sesame/pfx' }) },
    };
  },
};
runStoreContract(infisicalContract);
runStoreFaultContract(infisicalContract);

describe('infisical settings', () => {
  it('defaults siteUrl and secretPath, takes two auth methods, marks the secrets as credentials', () => {
    const parsed = infisicalStoreType.settings.parse({
      projectId: 'p',
      environment: 'prod',
      auth: { method: 'token', token: 't' },
    });
    expect(parsed).toMatchObject({ siteUrl: 'https://app.infisical.com', secretPath: '/' });
    expect(
      infisicalStoreType.settings.safeParse({
        projectId: 'p',
        environment: 'prod',
        secretPath: 'apps',
        auth: { method: 'token', token: 't' },
      }).success,
    ).toBe(false);
    expect(
      infisicalStoreType.settings.safeParse({
        projectId: 'p',
        environment: 'prod',
        auth: { method: 'universal-auth', clientId: 'c' },
      }).success,
    ).toBe(false);
    expect(infisicalStoreType.secretSettings).toEqual(['auth.clientSecret', 'auth.token']);
  });
});

describe('infisical auth', () => {
  it('universal-auth: logs in once and reuses the access token', async () => {
    const client = store();
    const before = inf.calls.login ?? 0;
    expect((await client.get({ name: 'DB_PASSWORD', namespaces: ns })).value).toBe('infisical-db-pass-5e2');
    expect((await client.get({ name: 'apps/api/API_KEY', namespaces: ns })).value).toBe(
      'infisical-api-key-9f0',
    );
    expect((inf.calls.login ?? 0) - before).toBe(1);
  });

  it('universal-auth: logs in again before the token expires', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const client = store();
    await client.get({ name: 'DB_PASSWORD', namespaces: ns });
    const before = inf.calls.login ?? 0;
    vi.setSystemTime(Date.now() + 500_000); // past 80% of the 600 s token
    await client.get({ name: 'DB_PASSWORD', namespaces: ns });
    expect((inf.calls.login ?? 0) - before).toBe(1);
  });

  it('universal-auth: concurrent reads share one login, also when the token is renewed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const client = store();
    const before = inf.calls.login ?? 0;
    await Promise.all(Array.from({ length: 5 }, () => client.get({ name: 'DB_PASSWORD', namespaces: ns })));
    expect((inf.calls.login ?? 0) - before).toBe(1);
    vi.setSystemTime(Date.now() + 500_000);
    await Promise.all(Array.from({ length: 5 }, () => client.get({ name: 'DB_PASSWORD', namespaces: ns })));
    expect((inf.calls.login ?? 0) - before).toBe(2);
  });

  it('universal-auth: after Infisical calls the token expired (403 TokenError), logs in once and retries', async () => {
    const short = inf.addIdentity({ [project]: ['prod'] }, { accessTokenTtlSeconds: 1 });
    const client = store({
      auth: { method: 'universal-auth', clientId: short.clientId, clientSecret: short.clientSecret },
    });
    vi.useFakeTimers({ toFake: ['Date'] });
    await client.get({ name: 'DB_PASSWORD', namespaces: ns });
    // The store renews at 80% of 1 s; a clock that jumps to exactly 0.9 s keeps the token while the server expires it later.
    vi.setSystemTime(Date.now() + 790);
    const before = inf.calls.login ?? 0;
    inf.expireAll();
    expect((await client.get({ name: 'DB_PASSWORD', namespaces: ns })).value).toBe('infisical-db-pass-5e2');
    expect((inf.calls.login ?? 0) - before).toBe(1);
  });

  it('universal-auth: wrong credentials are access denied with the fix, the secret scrubbed', async () => {
    const wrong = 'wrong-client-secret-0000';
    const err = await failure(
      store({ auth: { method: 'universal-auth', clientId: creds.clientId, clientSecret: wrong } }).get({
        name: 'DB_PASSWORD',
        namespaces: ns,
      }),
    );
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe('[inf] universal-auth login failed (401 Invalid credentials)');
    expect((err as AccessDeniedError).fix).toBe(
      'check auth.clientId and auth.clientSecret (a client secret can expire or run out of uses)',
    );
  });

  it('token: uses the given access token; an unknown one is denied saying to set a valid one', async () => {
    const token = inf.issueToken(creds.identityId);
    expect(
      (await store({ auth: { method: 'token', token } }).get({ name: 'DB_PASSWORD', namespaces: ns })).value,
    ).toBe('infisical-db-pass-5e2');
    const err = await failure(
      store({ auth: { method: 'token', token: 'not-a-token-123' } }).get({
        name: 'DB_PASSWORD',
        namespaces: ns,
      }),
    );
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toContain(
      'Infisical refused the access token (403 The provided access token is malformed.',
    );
    expect((err as AccessDeniedError).fix).toBe(
      'set auth.token to a valid access token of the machine identity',
    );
    expect(err.message).not.toContain('not-a-token-123');
  });
});

describe('infisical names, versions and errors', () => {
  it('pins a version; a version that does not exist is not found; a non-number is refused', async () => {
    expect(await store().get({ name: 'DB_PASSWORD', version: '1', namespaces: ns })).toEqual({
      value: 'infisical-old-pass',
      version: '1',
    });
    expect((await store().get({ name: 'DB_PASSWORD', namespaces: ns })).version).toBe('2');
    expect(await failure(store().get({ name: 'DB_PASSWORD', version: '9', namespaces: ns }))).toBeInstanceOf(
      SecretNotFoundError,
    );
    expect(
      await failure(store().get({ name: 'DB_PASSWORD', version: 'latest', namespaces: ns })),
    ).toBeInstanceOf(InvalidRequestError);
  });

  it('expands references as Infisical clients do (${KEY}, ${env.folder.KEY}); an unreadable one is 403 naming it', async () => {
    const refs = inf.addProject(['prod', 'dev']);
    const id = inf.addIdentity({ [refs]: ['prod'] });
    inf.setSecret(refs, 'prod', '/', 'DB_HOST', 'db.internal');
    inf.setSecret(refs, 'prod', '/shared', 'DB_USER', 'app');
    inf.setSecret(refs, 'prod', '/', 'DB_URL', 'postgres://${prod.shared.DB_USER}@${DB_HOST}/main');
    inf.setSecret(refs, 'prod', '/', 'FROM_DEV', 'x-${dev.TOKEN}');
    const client = store({
      projectId: refs,
      auth: { method: 'universal-auth', clientId: id.clientId, clientSecret: id.clientSecret },
    });
    expect((await client.get({ name: 'DB_URL', namespaces: ns })).value).toBe(
      'postgres://app@db.internal/main',
    );
    const denied = await failure(client.get({ name: 'FROM_DEV', namespaces: ns }));
    expect(denied).toBeInstanceOf(AccessDeniedError);
    expect(denied.message).toBe(
      "[inf] reading \"FROM_DEV\" in prod:/: You do not have permission to read secret 'TOKEN' in environment 'dev' at path '/', which is referenced by secret 'FROM_DEV' in environment 'prod' at path '/'. (403)",
    );
  });

  it('reads and lists the secrets a folder imports (the folder own ones first, then the last import), as Infisical clients do', async () => {
    const withImports = inf.addProject(['prod']);
    const id = inf.addIdentity({ [withImports]: ['prod'] });
    inf.setSecret(withImports, 'prod', '/shared', 'SMTP_HOST', 'smtp.internal');
    inf.setSecret(withImports, 'prod', '/shared', 'LOG_LEVEL', 'info');
    inf.setSecret(withImports, 'prod', '/app', 'LOG_LEVEL', 'debug');
    inf.setSecret(withImports, 'prod', '/app/jobs', 'CRON', '5 * * * *');
    inf.addImport(withImports, 'prod', '/app', { environment: 'prod', secretPath: '/shared' });
    // An import of a subfolder is that folder's: readable as jobs/KEY, never a key of /app.
    inf.setSecret(withImports, 'prod', '/batch', 'QUEUE', 'jobs-queue');
    inf.addImport(withImports, 'prod', '/app/jobs', { environment: 'prod', secretPath: '/batch' });
    const client = store({
      projectId: withImports,
      secretPath: '/app',
      auth: { method: 'universal-auth', clientId: id.clientId, clientSecret: id.clientSecret },
    });
    expect(await client.get({ name: 'SMTP_HOST', namespaces: ns })).toEqual({
      value: 'smtp.internal',
      version: '1',
    });
    expect((await client.get({ name: 'LOG_LEVEL', namespaces: ns })).value).toBe('debug');
    expect((await client.get({ name: 'jobs/QUEUE', namespaces: ns })).value).toBe('jobs-queue');
    expect(await failure(client.get({ name: 'QUEUE', namespaces: ns }))).toBeInstanceOf(SecretNotFoundError);
    expect((await client.list({ namespaces: ns })).items.map((i) => i.name)).toEqual([
      'LOG_LEVEL',
      'SMTP_HOST',
      'jobs/CRON',
    ]);
  });

  it('secretPath roots the names; a missing secret and a missing folder are not found', async () => {
    expect((await store({ secretPath: '/apps' }).get({ name: 'api/API_KEY', namespaces: ns })).value).toBe(
      'infisical-api-key-9f0',
    );
    const missing = await failure(store().get({ name: 'NOPE', namespaces: ns }));
    expect(missing).toBeInstanceOf(SecretNotFoundError);
    expect(missing.message).toBe('[inf] reading "NOPE" in prod:/: Secret with name \'NOPE\' not found');
    expect(await failure(store().get({ name: 'nowhere/X', namespaces: ns }))).toBeInstanceOf(
      SecretNotFoundError,
    );
  });

  it('a secretPath that is no folder: listing is a config error saying to check secretPath (a read under it stays not found)', async () => {
    const client = store({ secretPath: '/nowhere' });
    const err = await failure(client.list({ namespaces: ns }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      "config [inf] listing in prod:/nowhere: Folder with path '/nowhere' in environment 'prod' was not found. Please ensure the environment slug and secret path is correct. (check secretPath: it is a folder of environment prod, e.g. / or /apps/api)",
    );
    expect(await failure(client.get({ name: 'X', namespaces: ns }))).toBeInstanceOf(SecretNotFoundError);
  });

  it('refuses names whose key would address another endpoint (".", "..", a trailing slash)', async () => {
    for (const name of ['..', 'apps/..', '.', 'apps/']) {
      const err = await failure(store().get({ name, namespaces: ns }));
      expect(err, name).toBeInstanceOf(InvalidRequestError);
    }
  });

  it('an environment the identity may not read is 403 naming the role to grant', async () => {
    const err = await failure(store({ environment: 'dev' }).get({ name: 'DEV_ONLY', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe(
      '[inf] reading "DEV_ONLY" in dev:/: You are not allowed to read on secrets (403)',
    );
    expect((err as AccessDeniedError).fix).toContain(
      'give the machine identity a project role that reads secrets in environment dev',
    );
  });

  it('an unknown environment is a config error', async () => {
    const any = inf.addIdentity({ [project]: ['*'] });
    const err = await failure(
      store({
        environment: 'qa',
        auth: { method: 'universal-auth', clientId: any.clientId, clientSecret: any.clientSecret },
      }).get({ name: 'X', namespaces: ns }),
    );
    expect(err).toBeInstanceOf(ConfigError);
  });

  it('lists folder/KEY names under secretPath, values hidden', async () => {
    const page = await store().list({ namespaces: ns });
    expect(page.items.map((i) => i.name)).toEqual(['DB_PASSWORD', 'apps/api/API_KEY']);
    expect(JSON.stringify(page)).not.toContain('infisical-db-pass');
    expect((await store({ secretPath: '/apps' }).list({ namespaces: ns })).items.map((i) => i.name)).toEqual([
      'api/API_KEY',
    ]);
  });

  it('5xx is retried then unavailable; an unreachable site names the cause', async () => {
    inf.failNext(3, 503);
    expect(await failure(store().get({ name: 'DB_PASSWORD', namespaces: ns }))).toBeInstanceOf(
      StoreUnavailableError,
    );
    const down = await failure(
      store({ siteUrl: 'http://127.0.0.1:9' }).get({ name: 'DB_PASSWORD', namespaces: ns }),
    );
    expect(down).toBeInstanceOf(StoreUnavailableError);
    expect(down.message).toMatch(
      /^\[inf\] reading "DB_PASSWORD" in prod:\/: 127\.0\.0\.1:\d+ refused the connection: nothing listens on port \d+ \(ECONNREFUSED\) \(?after 3 attempts\)?$/,
    );
  });
});

describe('infisical check', () => {
  it('reports login, list and the sample read', async () => {
    const report = await store().check({ namespaces: ns, sample: 'DB_PASSWORD' });
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => s.step)).toEqual(['authenticate', 'list', 'read']);
    expect(report.steps[2]?.detail).toBe('read "DB_PASSWORD" (21 bytes, version 2)');
    expect(JSON.stringify(report)).not.toContain('infisical-db-pass');
  });

  it('stops at a failed login', async () => {
    const report = await store({
      auth: { method: 'universal-auth', clientId: creds.clientId, clientSecret: 'bad-secret-1234' },
    }).check({ namespaces: ns });
    expect(report.steps).toHaveLength(1);
    expect(report.steps[0]).toMatchObject({ step: 'authenticate', ok: false });
  });
});

describe('infisical outbound lookup', () => {
  it('resolves host names through the context lookup (the outbound policy), and fails closed when it refuses', async () => {
    const port = new URL(inf.url).port;
    await expectOutboundLookup(
      (host, lookup) =>
        new InfisicalStore(
          infisicalStoreType.settings.parse({
            ...{
              projectId: project,
              environment: 'prod',
              auth: { method: 'universal-auth', clientId: creds.clientId, clientSecret: creds.clientSecret },
            },
            siteUrl: `http://${host}:${port}`,
          }),
          { ...context, lookup },
          { retry: fast },
        ),
      { name: 'DB_PASSWORD', namespaces: ns },
    );
  });
});

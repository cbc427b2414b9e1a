/**
 * Every store type with an address, pointed at a broken address: each says what failed in the
 * core's words (host, port, cause) and names its own settings in the fix — the address setting,
 * and the CA setting where the type has one, else NODE_EXTRA_CA_CERTS.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SesameError, StoreUnavailableError } from '../../src/errors.js';
import {
  type AwsSecretsManagerSettings,
  AwsSecretsManagerStore,
  awsSecretsManagerStoreType,
} from '../../src/stores/aws/index.js';
import {
  type AzureKeyVaultSettings,
  AzureKeyVaultStoreClient,
  azureKeyVaultStoreType,
} from '../../src/stores/azure/index.js';
import type { StoreContext } from '../../src/stores/contract.js';
import type { StoreCoreTuning } from '../../src/stores/core/index.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import { type GcpSecretManagerSettings, GcpSecretManagerStoreClient } from '../../src/stores/gcp/index.js';
import { type VaultSettings, VaultStore } from '../../src/stores/vault/index.js';
import {
  answer,
  closedPort,
  httpListener,
  httpsListener,
  type Listener,
  LOGIN_PAGE,
  OTHER_SERVICE_404,
  silentListener,
} from './network-faults.js';
import { OTHER_HOST_CERT, SELF_SIGNED_CERT, SERVER_KEY, TEST_CA_CERT } from './network-tls-fixture.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sesame-network-'));
writeFileSync(path.join(dir, 'ca.pem'), TEST_CA_CERT);

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const gcpKey = JSON.stringify({
  type: 'service_account',
  project_id: 'acme-prod',
  private_key_id: 'k1',
  private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
  client_email: 'sesame@acme-prod.iam.gserviceaccount.com',
});

interface Case {
  type: string;
  /** The setting holding the address, as the fix names it. */
  address: string;
  /** The CA setting, when the type has one. */
  ca?: string;
  settings(url: string): Record<string, unknown>;
  /** How messages name the provider: `does not answer like ${provider}`. */
  provider: string;
}

/** Stores on the core's HTTP transport. */
const ON_TRANSPORT: readonly Case[] = [
  {
    type: 'vault',
    provider: 'Vault',
    address: 'address',
    ca: 'caFile',
    settings: (url) => ({ address: url, kvVersion: 2, auth: { method: 'token', token: 'hvs.testtoken1' } }),
  },
  {
    type: 'http',
    provider: 'a secret service',
    address: 'url',
    ca: 'caFile',
    settings: (url) => ({ url: `${url}/s/{name}` }),
  },
  {
    type: 'conjur',
    provider: 'Conjur',
    address: 'url',
    ca: 'caFile',
    settings: (url) => ({
      url,
      account: 'acme',
      auth: { method: 'api-key', login: 'host/sesame', apiKey: 'test-api-key' },
    }),
  },
  {
    type: 'infisical',
    provider: 'Infisical',
    address: 'siteUrl',
    settings: (url) => ({
      siteUrl: url,
      projectId: 'p1',
      environment: 'prod',
      auth: { method: 'token', token: 'test-token' },
    }),
  },
  {
    type: 'doppler',
    provider: 'Doppler',
    address: 'apiUrl',
    settings: (url) => ({
      apiUrl: url,
      project: 'backend',
      config: 'prd',
      auth: { method: 'service-token', token: 'dp.st.test' },
    }),
  },
  {
    type: '1password-connect',
    provider: '1Password Connect',
    address: 'url',
    settings: (url) => ({ url, vault: 'Prod', auth: { method: 'token', token: 'test-token' } }),
  },
];

/** Stores on a cloud SDK. */
const ON_SDK: readonly Case[] = [
  {
    type: 'aws-secrets-manager',
    provider: 'Secrets Manager',
    address: 'endpoint',
    settings: (url) => ({
      region: 'eu-west-1',
      endpoint: url,
      auth: { method: 'static', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'test-secret-key' },
    }),
  },
  {
    type: 'azure-key-vault',
    provider: 'Key Vault',
    address: 'vaultUrl (or vaultName)',
    settings: (url) => ({
      vaultUrl: url,
      allowInsecureConnection: url.startsWith('http:'),
      disableChallengeResourceVerification: true,
      auth: { method: 'client-secret', tenantId: 'tenant', clientId: 'client', clientSecret: 'test-secret' },
    }),
  },
  {
    type: 'gcp-secret-manager',
    provider: 'Secret Manager',
    address: 'apiEndpoint',
    settings: (url) => ({
      project: 'acme-prod',
      apiEndpoint: url,
      auth: { method: 'service-account-json', json: gcpKey },
    }),
  },
];

const ADDRESSED: readonly Case[] = [...ON_TRANSPORT, ...ON_SDK];

const context: StoreContext = {
  storeName: 'net',
  namespace: '',
  services: {},
  baseDir: dir,
  log: { debug() {}, info() {}, warn() {} },
};

const open: Listener[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) await l.close();
});

/** The error of one read through a store of `c`'s type at `url` (`extra` settings added). */
async function readFailure(c: Case, url: string, extra: Record<string, unknown> = {}): Promise<SesameError> {
  const type = defaultStoreTypes().get(c.type);
  const settings = type.settings.parse({ ...c.settings(url), ...extra });
  const client = await type.create(settings, context);
  try {
    const err = await client.get({ name: 'db', namespaces: [''] }).then(
      () => new Error('expected the read to fail'),
      (e: unknown) => e,
    );
    if (!(err instanceof SesameError)) throw err;
    return err;
  } finally {
    await client.close?.();
  }
}

describe.each(ADDRESSED)('$type store at a broken address', (c) => {
  it('a refused connection names host, port and the address setting', async () => {
    const port = await closedPort();
    const err = await readFailure(c, `http://127.0.0.1:${port}`);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toContain(
      `127.0.0.1:${port} refused the connection: nothing listens on port ${port} (ECONNREFUSED)`,
    );
    expect(err.fix).toBe(`check the port in ${c.address} and that the store is running`);
  });

  it("a self-signed certificate names the type's CA setting, or NODE_EXTRA_CA_CERTS", async () => {
    const l = await httpsListener(answer(200, '{}'), { cert: SELF_SIGNED_CERT });
    open.push(l);
    const err = await readFailure(c, l.url);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toContain(
      `the certificate of 127.0.0.1:${l.port} is not signed by a CA this process trusts (DEPTH_ZERO_SELF_SIGNED_CERT)`,
    );
    expect(err.message).not.toContain('after');
    expect(err.fix).toBe(
      c.ca
        ? `set ${c.ca} to a PEM file of the CA that signed it`
        : 'this store type has no CA setting: put a PEM file of the CA that signed it in NODE_EXTRA_CA_CERTS, in the environment of the process that runs sesame',
    );
  });
});

describe.each(ADDRESSED)('$type store at an address where something else answers', (c) => {
  it('a sign-in page answered with 200 is "does not answer like" the provider, never a value or a parse error', async () => {
    const l = await httpListener(LOGIN_PAGE);
    open.push(l);
    const err = await readFailure(c, l.url);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    // The Key Vault and Secret Manager SDKs keep neither the status nor the content type.
    expect(err.message).toMatch(
      new RegExp(
        `127\\.0\\.0\\.1:${l.port} does not answer like ${c.provider}: (HTTP 200 text/html|an answer its client cannot read)$`,
      ),
    );
    expect(err.message).not.toMatch(/Sign in|DOCTYPE|<|JSON/);
    expect(err.message).not.toContain('after');
    expect(err.fix).toBe(
      `check that ${c.address} is the address of ${c.provider}'s API, and that no proxy or sign-in page answers in its place`,
    );
  });
});

describe.each(
  ADDRESSED.filter((c) =>
    ['vault', 'infisical', '1password-connect', 'gcp-secret-manager', 'doppler'].includes(c.type),
  ),
)('$type store at an address where another JSON service answers', (c) => {
  it('a 200 JSON answer without the provider\'s fields is "does not answer like", never a crash, a value or not found', async () => {
    const l = await httpListener(answer(200, '{"status":"UP"}'));
    open.push(l);
    const err = await readFailure(c, l.url);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toContain(`127.0.0.1:${l.port} does not answer like ${c.provider}`);
    expect(err.fix).toContain(`check that ${c.address} is the address of ${c.provider}'s API`);
  });
});

describe.each(
  ADDRESSED.filter((c) =>
    [
      'vault',
      'aws-secrets-manager',
      'azure-key-vault',
      'gcp-secret-manager',
      'infisical',
      '1password-connect',
      'conjur',
      'doppler',
    ].includes(c.type),
  ),
)('$type store answered 404 by another JSON service', (c) => {
  it('says the address does not answer like the provider, not "not found"', async () => {
    const l = await httpListener(OTHER_SERVICE_404);
    open.push(l);
    const err = await readFailure(c, l.url);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toContain(`127.0.0.1:${l.port} does not answer like ${c.provider}: HTTP 404`);
    expect(err.fix).toContain(`check that ${c.address} is the address of ${c.provider}'s API`);
  });
});

describe('aws-secrets-manager store whose STS calls reach something else', () => {
  // STS speaks XML (the query protocol): the SDK names an untyped 404 "NotFound" with the message
  // "Unknown", and a JSON body fails its XML parser. Seen with an endpoint where a web server
  // answers: `stores test` said "sts:GetCallerIdentity failed (NotFound): Unknown" and told to
  // check that Secrets Manager is reachable.
  it.each([
    ['an empty 404', answer(404, '', 'text/plain'), 'HTTP 404'],
    ['a 403 web page', answer(403, '<html><body>Forbidden</body></html>', 'text/html'), 'HTTP 403'],
    ["another service's JSON 404", OTHER_SERVICE_404, 'HTTP 404'],
    ['a sign-in page answered with 200', LOGIN_PAGE, ''],
  ])('%s: the authenticate step says the address does not answer like STS', async (_what, listener, status) => {
    const l = await httpListener(listener);
    open.push(l);
    const aws = ON_SDK.find((c) => c.type === 'aws-secrets-manager') as Case;
    const type = defaultStoreTypes().get('aws-secrets-manager');
    const client = await type.create(type.settings.parse(aws.settings(l.url)), context);
    try {
      const report = await client.check({ namespaces: [''] });
      const step = report.steps[0]!;
      expect(step.ok).toBe(false);
      expect(step.detail).toContain(`127.0.0.1:${l.port} does not answer like STS`);
      expect(step.detail).toContain(status);
      expect(step.detail).not.toMatch(/Unknown|NotFound|XML parse|<html/);
      expect(step.fix).toBe("check that endpoint is the address of STS's API, and that no proxy or sign-in page answers in its place");
    } finally {
      await client.close?.();
    }
  });
});

describe.each(ADDRESSED.filter((c) => c.ca))('$type store with its CA trusted', (c) => {
  it('a certificate for another host says what it covers', async () => {
    const l = await httpsListener(answer(200, '{}'), { cert: OTHER_HOST_CERT });
    open.push(l);
    const err = await readFailure(c, l.url, { [c.ca as string]: 'ca.pem' });
    expect(err.message).toContain(
      `the certificate of 127.0.0.1:${l.port} is for secrets.other.example, not 127.0.0.1 (ERR_TLS_CERT_ALTNAME_INVALID)`,
    );
    expect(err.fix).toContain(`use a host name the certificate covers in ${c.address}`);
  });
});

describe('gcp-secret-manager store at an HTTPS address that is not gRPC', () => {
  it('says the endpoint does not offer HTTP/2, which gRPC needs', async () => {
    // An HTTP/1.1-only TLS server (a web front end, a proxy): gRPC's ALPN h2 is refused.
    const server = createHttpsServer({ key: SERVER_KEY, cert: SELF_SIGNED_CERT }, answer(200, '{}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const gcp = ADDRESSED.find((c) => c.type === 'gcp-secret-manager') as Case;
      const err = await readFailure(gcp, `https://127.0.0.1:${port}`);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toBe(
        `[net] Secret Manager: 127.0.0.1:${port} does not offer HTTP/2 over TLS, which gRPC needs (it is not a gRPC endpoint) (ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL)`,
      );
      expect(err.fix).toBe("point apiEndpoint at the service's gRPC endpoint");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('aws-secrets-manager store at a listener that never answers', () => {
  it('gives up after its request timeout and says how long it waited', { timeout: 10_000 }, async () => {
    const l = await silentListener();
    open.push(l);
    const aws = ADDRESSED.find((c) => c.type === 'aws-secrets-manager') as Case;
    const settings = awsSecretsManagerStoreType.settings.parse(aws.settings(l.url));
    const client = new AwsSecretsManagerStore(settings, context, {
      requestTimeoutMs: 300,
      retry: { attempts: 1 },
    });
    try {
      const t0 = Date.now();
      const err = await client.get({ name: 'db', namespaces: [''] }).then(
        () => new Error('expected the read to fail'),
        (e: unknown) => e as Error,
      );
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toBe(
        `[net] Secrets Manager call secretsmanager:GetSecretValue: 127.0.0.1:${l.port} did not answer within 300 ms (ETIMEDOUT)`,
      );
    } finally {
      await client.close();
    }
  });
});

describe('azure-key-vault store at a listener that never answers', () => {
  it('gives up after its request timeout and says how long it waited', { timeout: 10_000 }, async () => {
    const l = await silentListener();
    open.push(l);
    const azure = ADDRESSED.find((c) => c.type === 'azure-key-vault') as Case;
    const settings = azureKeyVaultStoreType.settings.parse(azure.settings(l.url));
    const client = new AzureKeyVaultStoreClient(settings, context, {
      requestTimeoutMs: 300,
      retry: { attempts: 1 },
    });
    const t0 = Date.now();
    const err = await client.get({ name: 'db', namespaces: [''] }).then(
      () => new Error('expected the read to fail'),
      (e: unknown) => e as Error,
    );
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toBe(
      `[net] Key Vault ${l.url}: 127.0.0.1:${l.port} did not answer within 300 ms (ETIMEDOUT)`,
    );
  });
});

/** A client of `type` at `url`, constructed directly with core tuning (a 300 ms time limit, a budget). */
function clientOf(type: string, url: string, tuning: StoreCoreTuning) {
  const c = ADDRESSED.find((a) => a.type === type) as Case;
  const settings = defaultStoreTypes().get(type).settings.parse(c.settings(url));
  switch (type) {
    case 'vault':
      return new VaultStore(settings as VaultSettings, context, tuning);
    case 'aws-secrets-manager':
      return new AwsSecretsManagerStore(settings as AwsSecretsManagerSettings, context, tuning);
    case 'azure-key-vault':
      return new AzureKeyVaultStoreClient(settings as AzureKeyVaultSettings, context, tuning);
    default:
      return new GcpSecretManagerStoreClient(settings as GcpSecretManagerSettings, context, tuning);
  }
}

describe.each([
  ['vault', 'read secret/db at Vault', 3],
  ['aws-secrets-manager', 'Secrets Manager call secretsmanager:GetSecretValue', 3],
  ['azure-key-vault', 'Key Vault', 4],
  ['gcp-secret-manager', 'Secret Manager', 4],
] as const)('%s store at a listener that never answers, within its time budget', (type, what, attempts) => {
  /** A client with a 300 ms request time limit, and `budgetMs` when given (default: 300 ms + 5 s). */
  async function silentRead(budgetMs?: number) {
    const l = await silentListener();
    open.push(l);
    const options = { requestTimeoutMs: 300, retry: budgetMs === undefined ? {} : { budgetMs } };
    const client = clientOf(type, l.url, options);
    try {
      const t0 = Date.now();
      const err = await client.get({ name: 'db', namespaces: [''] }).then(
        () => new Error('expected the read to fail'),
        (e: unknown) => e as Error,
      );
      return { err, tookMs: Date.now() - t0, listener: l };
    } finally {
      await client.close();
    }
  }

  it('does not repeat a request that got no answer when a whole new one would pass the budget', async () => {
    const { err, tookMs, listener } = await silentRead(500);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toMatch(
      new RegExp(
        `^\\[net\\] ${what}( http://127\\.0\\.0\\.1:\\d+)?: 127\\.0\\.0\\.1:${listener.port} did not answer within 300 ms \\((ETIMEDOUT|timeout)\\) ` +
          "\\(after 1 attempt in \\d+\\.\\d s: another attempt of up to 300 ms would not fit in the call's time budget of 500 ms\\)$",
      ),
    );
    expect(listener.connections()).toBeGreaterThanOrEqual(1);
    // One 300 ms attempt; the bound only catches a retry loop, not a slow machine.
    expect(tookMs).toBeLessThan(10_000);
  });

  it('repeats it while whole attempts fit in the default budget (the time limit plus 5 s)', async () => {
    const { err, listener } = await silentRead();
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toMatch(
      new RegExp(
        `did not answer within 300 ms \\((ETIMEDOUT|timeout)\\) \\(after ${attempts} attempts in \\d+\\.\\d s\\)$`,
      ),
    );
    expect(listener.connections()).toBeGreaterThanOrEqual(attempts);
  });
});

describe('a proxy in the environment (HTTPS_PROXY)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('azure-key-vault, whose SDK goes through it, names the proxy that refused, never its password', async () => {
    const proxyPort = await closedPort();
    vi.stubEnv('HTTPS_PROXY', `http://sesame:proxy-pass-77@127.0.0.1:${proxyPort}`);
    const l = await httpListener(answer(200, '{}'));
    open.push(l);
    const azure = ADDRESSED.find((c) => c.type === 'azure-key-vault') as Case;
    const err = await readFailure(azure, l.url);
    expect(err.message).toContain(
      `the proxy 127.0.0.1:${proxyPort} (HTTPS_PROXY) refused the connection: nothing listens on port ${proxyPort} (ECONNREFUSED)`,
    );
    expect(`${err.message} ${err.fix}`).not.toContain('proxy-pass-77');
    expect(err.fix).toBe('check HTTPS_PROXY, or add 127.0.0.1 to NO_PROXY to connect directly');
  });

  it.each(['vault', 'aws-secrets-manager'])(
    '%s, which connects directly, says it does not use the proxy',
    async (type) => {
      vi.stubEnv('HTTPS_PROXY', 'http://proxy.internal:3128');
      const port = await closedPort();
      const c = ADDRESSED.find((a) => a.type === type) as Case;
      const err = await readFailure(c, `http://127.0.0.1:${port}`);
      expect(err.fix).toBe(
        `check the port in ${c.address} and that the store is running (HTTPS_PROXY is set, but this store type does not use a proxy: it connects to 127.0.0.1:${port} directly)`,
      );
    },
  );
});

describe('logging in at an address where another JSON service answers 200', () => {
  it('conjur refuses an authenticate answer that is not a Conjur access token (never serves what follows)', async () => {
    const l = await httpListener(answer(200, '{"status":"UP"}'));
    open.push(l);
    const conjur = ADDRESSED.find((c) => c.type === 'conjur') as Case;
    const err = await readFailure(conjur, l.url);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toContain(
      `127.0.0.1:${l.port} does not answer like Conjur: HTTP 200 application/json, not a Conjur access token`,
    );
  });

  it('infisical refuses a universal-auth login answer without an access token', async () => {
    const l = await httpListener(answer(200, '{"status":"UP"}'));
    open.push(l);
    const infisical = ADDRESSED.find((c) => c.type === 'infisical') as Case;
    const err = await readFailure(infisical, l.url, {
      auth: { method: 'universal-auth', clientId: 'client-id', clientSecret: 'client-secret-1' },
    });
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toContain(
      `127.0.0.1:${l.port} does not answer like Infisical: HTTP 200 application/json, not a login answer`,
    );
  });
});

describe('conjur store logged in, then answered 404 by another JSON service', () => {
  it('a read is "does not answer like Conjur", not "not found"', async () => {
    // Something that hands out a token-shaped answer, then answers every read with its own 404.
    const token = JSON.stringify({ protected: 'e30', payload: 'e30', signature: 'c2ln' });
    const l = await httpListener((req, res) =>
      req.method === 'POST' ? answer(200, token)(req, res) : OTHER_SERVICE_404(req, res),
    );
    open.push(l);
    const conjur = ADDRESSED.find((c) => c.type === 'conjur') as Case;
    const err = await readFailure(conjur, l.url);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toContain(
      `127.0.0.1:${l.port} does not answer like Conjur: HTTP 404 application/json, not Conjur's error`,
    );
    expect(err.fix).toContain("check that url is the address of Conjur's API");
  });
});

describe('doppler store reading several secrets where another JSON service answers 200', () => {
  it('each read is "does not answer like Doppler", never "not found"', async () => {
    const l = await httpListener(answer(200, '{"status":"UP"}'));
    open.push(l);
    const doppler = ADDRESSED.find((c) => c.type === 'doppler') as Case;
    const type = defaultStoreTypes().get('doppler');
    const client = await type.create(type.settings.parse(doppler.settings(l.url)), context);
    try {
      const got = await client.getMany?.([
        { name: 'A', namespaces: [''] },
        { name: 'B', namespaces: [''] },
      ]);
      expect(got).toHaveLength(2);
      for (const err of got ?? []) {
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect((err as Error).message).toContain(
          `127.0.0.1:${l.port} does not answer like Doppler: HTTP 200 application/json, not secrets`,
        );
      }
    } finally {
      await client.close?.();
    }
  });
});

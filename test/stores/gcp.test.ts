import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  ConfigError,
  SecretNotFoundError,
  SecretStateError,
  SesameError,
  StoreUnavailableError,
  UsageError,
  ValueTooLargeError,
} from '../../src/errors.js';
import type { StoreContext } from '../../src/stores/contract.js';
import { crc32c } from '../../src/stores/gcp/crc32c.js';
import { classifyGcp } from '../../src/stores/gcp/errors.js';
import {
  type GcpSecretManagerSettings,
  GcpSecretManagerStoreClient,
  gcpSecretManagerStoreType,
} from '../../src/stores/gcp/index.js';
import {
  emulatorCrc32c,
  type GcpSecretManagerEmulator,
  startGcpSecretManagerEmulator,
} from '../emulators/gcp/index.js';
import { runStoreContract, runStoreFaultContract } from './contract.js';

const context = (storeName = 'gcp'): StoreContext => ({
  storeName,
  namespace: '',
  log: { debug() {}, info() {}, warn() {} },
  services: {},
});

/** A fresh service-account key, registered with the emulator, as the JSON text a user downloads. */
function serviceAccount(em: GcpSecretManagerEmulator, name = 'sesame'): { json: string; email: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const email = `${name}@${em.controls.project}.iam.gserviceaccount.com`;
  const keyId = `${name}-${Math.random().toString(16).slice(2)}`;
  em.controls.registerServiceAccount({
    email,
    keyId,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  });
  const json = JSON.stringify({
    type: 'service_account',
    project_id: em.controls.project,
    private_key_id: keyId,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: email,
    client_id: '100000000000000000001',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
    universe_domain: 'googleapis.com',
  });
  return { json, email };
}

function parse(input: Record<string, unknown>): GcpSecretManagerSettings {
  return gcpSecretManagerStoreType.settings.parse(input);
}

function clientFor(
  em: GcpSecretManagerEmulator,
  json: string,
  overrides: Record<string, unknown> = {},
  delays: number[] = [],
) {
  const settings = parse({
    project: em.controls.project,
    apiEndpoint: em.url,
    auth: { method: 'service-account-json', json },
    ...overrides,
  });
  return new GcpSecretManagerStoreClient(settings, context(), {
    retry: {
      sleep: async (ms) => {
        delays.push(ms);
      },
    },
  });
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const result = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(result instanceof Error)) throw new Error('expected the call to fail');
  return result;
}

const gcpContract = {
  label: 'gcp-secret-manager (service account JSON, REST emulator)',
  storeType: gcpSecretManagerStoreType,
  slashNames: false,
  binary: true,
  harness: async () => {
    const em = await startGcpSecretManagerEmulator({ pageSize: 3 });
    const { json } = serviceAccount(em);
    return {
      client: clientFor(em, json, { prefix: 'ct_' }),
      seed: async (name: string, value: string) => void em.controls.seed(`ct_${name}`, value),
      seedBinary: async (name: string, value: Uint8Array) => void em.controls.seed(`ct_${name}`, value),
      faults: em.faults,
      settings: {
        project: em.controls.project,
        apiEndpoint: em.url,
        prefix: 'ct_',
        auth: { method: 'service-account-json', json },
      },
      prefixed: { prefix: 'pfx_', client: clientFor(em, json, { prefix: 'ct_pfx_' }) },
      close: () => em.stop(),
    };
  },
};
runStoreContract(gcpContract);
runStoreFaultContract(gcpContract);

describe('crc32c', () => {
  it('matches the published check value and the service’s checksum for a known payload', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    // A real AccessSecretVersionResponse: data "czNjcjN0" (s3cr3t) with dataCrc32c "825573743".
    expect(crc32c(Buffer.from('s3cr3t'))).toBe(825573743);
    expect(crc32c(new Uint8Array())).toBe(0);
  });

  it('agrees with the emulator’s independent implementation', () => {
    for (const text of ['', 'a', 'pässwörd', 'x'.repeat(70_000)])
      expect(crc32c(Buffer.from(text))).toBe(emulatorCrc32c(Buffer.from(text)));
  });
});

describe('gcp-secret-manager regional secrets', () => {
  it('addresses secrets under projects/<p>/locations/<location> when location is set', async () => {
    const em = await startGcpSecretManagerEmulator({ location: 'me-central2' });
    try {
      const { json } = serviceAccount(em);
      em.controls.seed('regional_db', 'regional-value');
      const client = clientFor(em, json, { location: 'me-central2' });
      expect(await client.get({ name: 'regional_db', namespaces: [''] })).toEqual({
        value: 'regional-value',
        version: '1',
      });
      const written = await client.write('regional_new', 'v', { namespace: '' });
      expect(written.version).toBe('1');
      expect(em.controls.secretIds().sort()).toEqual(['regional_db', 'regional_new']);
      const listed = await client.list({ namespaces: [''] });
      expect(listed.items.map((i) => i.name).sort()).toEqual(['regional_db', 'regional_new']);
    } finally {
      await em.stop();
    }
  });

  it('defaults apiEndpoint to the location’s regional endpoint and checks the location’s spelling', () => {
    const settings = parse({ project: 'acme-prod', location: 'me-central2' });
    expect(settings.location).toBe('me-central2');
    expect(gcpSecretManagerStoreType.hostAccess(settings)).toContainEqual({
      kind: 'address',
      setting: 'apiEndpoint',
      url: 'https://secretmanager.me-central2.rep.googleapis.com',
    });
    expect(() => parse({ project: 'acme-prod', location: 'Me Central' })).toThrow(/location/);
    // A regional endpoint without its location would address global names it does not serve.
    const regional = 'https://secretmanager.me-central2.rep.googleapis.com';
    expect(() => parse({ project: 'acme-prod', apiEndpoint: regional })).toThrow(/set location/);
    expect(() => parse({ project: 'acme-prod', apiEndpoint: regional, location: 'us-east1' })).toThrow(
      /set location/,
    );
    expect(parse({ project: 'acme-prod', apiEndpoint: regional, location: 'me-central2' }).location).toBe(
      'me-central2',
    );
  });
});

describe('classifyGcp over gRPC', () => {
  // Over gRPC google-gax promotes the status's ErrorInfo to `reason` and `errorInfoMetadata`.
  const grpcError = (code: number, reason?: string, consumer?: string) =>
    Object.assign(new Error('7 PERMISSION_DENIED: …'), {
      code,
      ...(reason ? { reason, domain: 'googleapis.com' } : {}),
      ...(consumer ? { errorInfoMetadata: { consumer, service: 'secretmanager.googleapis.com' } } : {}),
    });
  const ctx = {
    project: 'acme-prod',
    operation: 'access' as const,
    name: 'db',
    id: 'db',
    authMethod: 'default',
  };

  it('reads SERVICE_DISABLED and the consumer project from the promoted ErrorInfo', () => {
    const c = classifyGcp(grpcError(7, 'SERVICE_DISABLED', 'projects/123'), ctx);
    expect(c.kind).toBe('denied');
    expect(c.fix).toBe('gcloud services enable secretmanager.googleapis.com --project 123');
    expect(c.summary).toBe('Error PERMISSION_DENIED SERVICE_DISABLED');
  });

  it('does not send auth method default to a service account key it does not have', () => {
    const c = classifyGcp(grpcError(16), ctx);
    expect(c.kind).toBe('denied');
    expect(c.fix).toBe(
      'refresh the application default credentials (gcloud auth application-default login, or the key file GOOGLE_APPLICATION_CREDENTIALS names), or check the service account this host runs as',
    );
    expect(classifyGcp(grpcError(16), { ...ctx, authMethod: 'service-account-json' }).fix).toBe(
      'check that the service account key is still active (IAM & Admin → Service accounts → Keys)',
    );
  });

  it('keeps the role for a PERMISSION_DENIED without a reason', () => {
    expect(classifyGcp(grpcError(7), ctx).fix).toBe(
      'grant roles/secretmanager.secretAccessor to the service account',
    );
  });
});

describe('gcp-secret-manager store', () => {
  let em: GcpSecretManagerEmulator;
  let sa: { json: string; email: string };

  beforeAll(async () => {
    em = await startGcpSecretManagerEmulator({ pageSize: 2 });
    sa = serviceAccount(em);
  });
  afterAll(async () => {
    await em.stop();
  });

  describe('settings', () => {
    it('requires a project and rejects unknown keys', () => {
      expect(gcpSecretManagerStoreType.settings.safeParse({}).success).toBe(false);
      expect(
        gcpSecretManagerStoreType.settings.safeParse({ project: 'acme-prod', region: 'eu' }).success,
      ).toBe(false);
      expect(parse({ project: 'acme-prod' }).auth).toEqual({ method: 'default' });
    });

    it('needs exactly one of json and file for service-account-json, and declares json a credential', () => {
      const both = {
        project: 'acme-prod',
        auth: { method: 'service-account-json', json: '{}', file: '/k.json' },
      };
      const neither = { project: 'acme-prod', auth: { method: 'service-account-json' } };
      expect(gcpSecretManagerStoreType.settings.safeParse(both).success).toBe(false);
      expect(gcpSecretManagerStoreType.settings.safeParse(neither).success).toBe(false);
      expect(gcpSecretManagerStoreType.secretSettings).toEqual(['auth.json']);
    });

    it('validates labels as Secret Manager does', () => {
      expect(
        gcpSecretManagerStoreType.settings.safeParse({ project: 'acme-prod', labels: { Team: 'x' } }).success,
      ).toBe(false);
      expect(
        gcpSecretManagerStoreType.settings.safeParse({ project: 'acme-prod', labels: { team: 'core' } })
          .success,
      ).toBe(true);
    });

    it('says the key is not JSON without echoing it', async () => {
      const text = 'not-json-private-key-material-12';
      const err = await failure(clientFor(em, text).get({ name: 'x', namespaces: [''] }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain('not valid JSON');
      expect(err.message).not.toContain(text);
    });

    it('reads the key from a file', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'sesame-gcp-'));
      writeFileSync(path.join(dir, 'key.json'), sa.json);
      em.controls.seed('from_file', 'file-ok');
      const settings = parse({
        project: em.controls.project,
        apiEndpoint: em.url,
        auth: { method: 'service-account-json', file: 'key.json' },
      });
      const client = new GcpSecretManagerStoreClient(settings, { ...context(), baseDir: dir });
      expect((await client.get({ name: 'from_file', namespaces: [''] })).value).toBe('file-ok');
      await client.close();
    });

    it('names a key file that cannot be read', async () => {
      const settings = parse({
        project: em.controls.project,
        apiEndpoint: em.url,
        auth: { method: 'service-account-json', file: '/nonexistent/key.json' },
      });
      const err = await failure(
        new GcpSecretManagerStoreClient(settings, context()).get({ name: 'x', namespaces: [''] }),
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toMatch(
        /^config stores\.[\w-]+\.auth\.file: file \/nonexistent\/key\.json does not exist \(the JSON key of a service account\)$/,
      );
    });
  });

  describe('reads', () => {
    it('signs its own JWT with the service account key, no token endpoint involved', async () => {
      em.controls.seed('jwt_signed', 'v');
      const before = em.controls.calls['metadata-token'] ?? 0;
      await clientFor(em, sa.json).get({ name: 'jwt_signed', namespaces: [''] });
      expect(em.controls.principals).toContain(sa.email);
      expect(em.controls.calls['metadata-token'] ?? 0).toBe(before);
    });

    it('reads latest by default and a pinned version number', async () => {
      em.controls.seed('versioned', 'one');
      em.controls.seed('versioned', 'two');
      const client = clientFor(em, sa.json);
      expect(await client.get({ name: 'versioned', namespaces: [''] })).toEqual({
        value: 'two',
        version: '2',
      });
      expect(await client.get({ name: 'versioned', version: '1', namespaces: [''] })).toEqual({
        value: 'one',
        version: '1',
      });
      expect(await client.get({ name: 'versioned', version: 'latest', namespaces: [''] })).toEqual({
        value: 'two',
        version: '2',
      });
    });

    it('refuses a version that is neither a number nor latest', async () => {
      const err = await failure(
        clientFor(em, sa.json).get({ name: 'versioned', version: 'v1', namespaces: [''] }),
      );
      expect(err).toBeInstanceOf(UsageError);
    });

    it('serves binary payloads as bytes', async () => {
      em.controls.seed('binary', new Uint8Array([0xff, 0x00, 0xfe]));
      const got = await clientFor(em, sa.json).get({ name: 'binary', namespaces: [''] });
      expect(got.value).toEqual(new Uint8Array([0xff, 0x00, 0xfe]));
    });

    it('reports a missing secret and a missing version as not found', async () => {
      const client = clientFor(em, sa.json);
      const missing = await failure(client.get({ name: 'nowhere', namespaces: [''] }));
      expect(missing).toBeInstanceOf(SecretNotFoundError);
      expect(missing.message).toBe(`[gcp] no secret "nowhere" in project ${em.controls.project}`);
      em.controls.seed('one_version', 'v');
      const version = await failure(client.get({ name: 'one_version', version: '7', namespaces: [''] }));
      expect(version).toBeInstanceOf(SecretNotFoundError);
      // A missing version is not fixed by creating the secret: it exists.
      expect((version as SesameError).fix).toBe(
        'pin a version the secret has (`sesame secrets versions one_version` lists them), or leave ?version= out for the latest',
      );
    });

    it('refuses a name that cannot be a secret id', async () => {
      const err = await failure(clientFor(em, sa.json).get({ name: 'db/password', namespaces: [''] }));
      expect(err).toBeInstanceOf(UsageError);
      expect(err.message).toContain('letters, digits, "_" and "-"');
    });

    it('reports disabled and destroyed versions as state errors saying which', async () => {
      em.controls.seed('stateful', 'first-value-9a');
      em.controls.seed('stateful', 'second-value-9b');
      em.controls.disable('stateful', 2);
      em.controls.destroy('stateful', 1);
      const client = clientFor(em, sa.json);
      const disabled = await failure(client.get({ name: 'stateful', namespaces: [''] }));
      expect(disabled).toBeInstanceOf(SecretStateError);
      // `latest` is the newest version whatever its state: the message says which one that is.
      expect(disabled.message).toBe(
        '[gcp] "stateful" in project sesame-test: its latest version, 2, is disabled: enable it (gcloud secrets versions enable 2 --secret=stateful --project=sesame-test), or pin another version with ?version=',
      );
      const destroyed = await failure(client.get({ name: 'stateful', version: '1', namespaces: [''] }));
      expect(destroyed).toBeInstanceOf(SecretStateError);
      expect(destroyed.message).toBe(
        '[gcp] "stateful" version 1 in project sesame-test is destroyed: its payload is gone for good: pin another version with ?version=',
      );
      em.controls.destroy('stateful', 2);
      const latestDestroyed = await failure(client.get({ name: 'stateful', namespaces: [''] }));
      expect(latestDestroyed.message).toBe(
        '[gcp] "stateful" in project sesame-test: its latest version, 2, is destroyed: its payload is gone for good: write a new version, or pin another version with ?version=',
      );
      for (const err of [disabled, destroyed]) {
        expect(err.message).not.toContain('first-value-9a');
        expect(err.message).not.toContain('second-value-9b');
      }
    });
  });

  describe('checksums', () => {
    it('retries a payload whose CRC32C does not match, then serves the good one', async () => {
      em.controls.seed('crc_retry', 'crc-value');
      const delays: number[] = [];
      const client = clientFor(em, sa.json, {}, delays);
      em.controls.corruptChecksums(1);
      expect((await client.get({ name: 'crc_retry', namespaces: [''] })).value).toBe('crc-value');
      expect(delays).toHaveLength(1);
    });

    it('gives up on a payload that never matches its checksum, without the value', async () => {
      em.controls.seed('crc_bad', 'corrupted-value-4f');
      em.controls.corruptChecksums(10);
      try {
        const err = await failure(clientFor(em, sa.json).get({ name: 'crc_bad', namespaces: [''] }));
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect(err.message).toContain('CRC32C');
        expect(err.message).not.toContain('corrupted-value-4f');
      } finally {
        em.controls.corruptChecksums(0);
      }
    });

    it('accepts a payload without dataCrc32c', async () => {
      em.controls.seed('crc_absent', 'no-checksum');
      em.controls.omitChecksums(true);
      try {
        expect((await clientFor(em, sa.json).get({ name: 'crc_absent', namespaces: [''] })).value).toBe(
          'no-checksum',
        );
      } finally {
        em.controls.omitChecksums(false);
      }
    });
  });

  describe('denied, throttled, unavailable', () => {
    it('names roles/secretmanager.secretAccessor for a denied read', async () => {
      em.controls.seed('guarded', 'guarded-value-31');
      em.controls.deny(['secretmanager.versions.access']);
      try {
        const err = await failure(clientFor(em, sa.json).get({ name: 'guarded', namespaces: [''] }));
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect(err.message).toContain('roles/secretmanager.secretAccessor');
        expect(err.message).toContain('secretmanager.versions.access');
        expect(err.message).not.toContain('guarded-value-31');
      } finally {
        em.controls.allow();
      }
    });

    it('names roles/secretmanager.viewer for a denied listing', async () => {
      em.controls.deny(['secretmanager.secrets.list']);
      try {
        const err = await failure(clientFor(em, sa.json).list({ namespaces: [''] }));
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect(err.message).toContain('roles/secretmanager.viewer');
      } finally {
        em.controls.allow();
      }
    });

    it('keeps the written value out of a denied write’s error and cause', async () => {
      em.controls.deny(['secretmanager.versions.add', 'secretmanager.secrets.create']);
      try {
        const value = 'written-value-never-shown-77';
        const err = await failure(clientFor(em, sa.json).write('denied_write', value, { namespace: '' }));
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect(err.message).toContain('roles/secretmanager');
        const base64 = Buffer.from(value).toString('base64');
        for (const text of [
          err.message,
          String((err as Error & { cause?: Error }).cause?.message),
          JSON.stringify(err),
        ]) {
          expect(text).not.toContain(value);
          expect(text).not.toContain(base64);
        }
      } finally {
        em.controls.allow();
      }
    });

    it('retries RESOURCE_EXHAUSTED with backoff and then succeeds', async () => {
      em.controls.seed('quota', 'quota-ok');
      const delays: number[] = [];
      em.controls.throttle(2);
      const got = await clientFor(em, sa.json, {}, delays).get({ name: 'quota', namespaces: [''] });
      expect(got.value).toBe('quota-ok');
      expect(delays).toHaveLength(2);
    });

    it('reports persistent UNAVAILABLE as the store being unavailable after retries', async () => {
      em.controls.seed('down', 'v');
      em.controls.fail(10);
      try {
        const err = await failure(clientFor(em, sa.json).get({ name: 'down', namespaces: [''] }));
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect(err.message).toContain('UNAVAILABLE');
        expect(err.message).toContain('after 4 attempts');
      } finally {
        em.controls.fail(0);
      }
    });

    it('reports persistent RESOURCE_EXHAUSTED as unavailable', async () => {
      em.controls.seed('quota_out', 'v');
      em.controls.throttle(10);
      try {
        const err = await failure(clientFor(em, sa.json).get({ name: 'quota_out', namespaces: [''] }));
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect(err.message).toContain('RESOURCE_EXHAUSTED');
      } finally {
        em.controls.throttle(0);
      }
    });

    it('reports an unreachable endpoint as unavailable', async () => {
      const err = await failure(
        clientFor(em, sa.json, { apiEndpoint: 'http://127.0.0.1:1' }).get({ name: 'x', namespaces: [''] }),
      );
      expect(err).toBeInstanceOf(StoreUnavailableError);
    });

    it('says to enable the Secret Manager API when it is off in the project, not to grant a role', async () => {
      em.controls.seed('api_off', 'api-off-value-12');
      em.controls.disableApi(true);
      try {
        const err = await failure(clientFor(em, sa.json).get({ name: 'api_off', namespaces: [''] }));
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect(err.message).toBe(
          `[gcp] the Secret Manager API is not enabled in project ${em.controls.projectNumber}: enable it (gcloud services enable secretmanager.googleapis.com --project ${em.controls.projectNumber}), wait a few minutes, then retry`,
        );
        expect((err as SesameError).fix).toBe(
          `gcloud services enable secretmanager.googleapis.com --project ${em.controls.projectNumber}`,
        );
        expect(err.message).not.toContain('roles/');
      } finally {
        em.controls.disableApi(false);
      }
    });

    it('says a project that does not exist is one, not that a role is missing', async () => {
      const client = clientFor(em, sa.json, { project: 'no-such-project' });
      const err = await failure(client.get({ name: 'anything', namespaces: [''] }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toBe(
        'config [gcp] project no-such-project does not exist or cannot be used (CONSUMER_INVALID) (check the project setting: the id or number of an existing project that owns the secrets)',
      );
      expect(err.message).not.toContain('roles/');
    });

    it('reports a key the service does not know as rejected credentials', async () => {
      const stranger = JSON.parse(serviceAccount(em, 'stranger').json) as Record<string, string>;
      stranger.private_key_id = 'unknown-key-id';
      const err = await failure(clientFor(em, JSON.stringify(stranger)).get({ name: 'x', namespaces: [''] }));
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect(err.message).toContain('rejected the credentials');
      expect(err.message).not.toContain('PRIVATE KEY');
    });
  });

  describe('writes', () => {
    it('creates the secret with labels on first write, then adds versions', async () => {
      const client = clientFor(em, sa.json, { labels: { application: 'sesame', team: 'core' } });
      const first = await client.write('created', 'v1', { namespace: '', tags: { team: 'payments' } });
      const second = await client.write('created', 'v2', { namespace: '' });
      expect([first.version, second.version]).toEqual(['1', '2']);
      expect(em.controls.labelsOf('created')).toEqual({ application: 'sesame', team: 'payments' });
      expect((await client.describe('created')).tags).toEqual({ application: 'sesame', team: 'payments' });
    });

    it('puts a write’s tags on an existing secret as labels instead of dropping them', async () => {
      em.controls.seed('relabel', 'v1', { application: 'other', team: 'core' });
      const client = clientFor(em, sa.json, { labels: { application: 'sesame' } });
      const written = await client.write('relabel', 'v2', { namespace: '', tags: { team: 'payments' } });
      expect(written.version).toBe('2');
      // The write's tags merge onto the secret's labels; the store's default labels are for creation.
      expect(em.controls.labelsOf('relabel')).toEqual({ application: 'other', team: 'payments' });
      const before = em.controls.calls.patch ?? 0;
      await client.write('relabel', 'v3', { namespace: '' });
      expect(em.controls.calls.patch ?? 0).toBe(before);
    });

    it('says the value was written when the labels of an existing secret cannot be updated', async () => {
      em.controls.seed('relabel_denied', 'v1');
      em.controls.deny(['secretmanager.secrets.update']);
      try {
        const err = await failure(
          clientFor(em, sa.json).write('relabel_denied', 'v2', { namespace: '', tags: { team: 'x' } }),
        );
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect(err.message).toBe(
          'the value was written (version 2), but its labels could not be updated: [gcp] Secret Manager refused update on "relabel_denied" in project sesame-test (permission secretmanager.secrets.update): grant roles/secretmanager.admin to the service account',
        );
      } finally {
        em.controls.allow();
      }
    });

    it('refuses a value over Secret Manager’s 64 KiB payload limit, saying so, before anything is created', async () => {
      const value = `oversized-${'v'.repeat(64 * 1024)}`;
      const err = await failure(clientFor(em, sa.json).write('too_big', value, { namespace: '' }));
      expect(err).toBeInstanceOf(ValueTooLargeError);
      expect(err.message).toBe(
        `[gcp] the value of "too_big" is ${Buffer.byteLength(value)} bytes, above Secret Manager's payload limit of 64 KiB (65536 bytes): it was not written`,
      );
      expect(err.message).not.toContain('oversized-');
      expect(em.controls.secretIds()).not.toContain('too_big');
    });

    it('refuses labels Secret Manager would refuse', async () => {
      const err = await failure(
        clientFor(em, sa.json).write('badlabel', 'v', { namespace: '', tags: { Team: 'X' } }),
      );
      expect(err).toBeInstanceOf(UsageError);
    });

    it('checks the expected version before writing', async () => {
      const client = clientFor(em, sa.json);
      const first = await client.write('cas', 'a', { namespace: '' });
      await client.write('cas', 'b', { namespace: '', expectedVersion: first.version });
      const err = await failure(client.write('cas', 'c', { namespace: '', expectedVersion: first.version }));
      // A changed secret is a state conflict (409) as in every store, not a usage error.
      expect(err).toBeInstanceOf(SecretStateError);
      expect(err.message).toBe('[gcp] secret "cas" changed: its current version is 2, not 1');
      expect((err as SesameError).fix).toBe('read "cas" again and write with its current version');
      expect((await client.versions('cas')).length).toBe(2);
    });

    it('disables, enables and destroys versions', async () => {
      const client = clientFor(em, sa.json);
      await client.write('lifecycle', 'a', { namespace: '' });
      await client.write('lifecycle', 'b', { namespace: '' });
      await client.disableVersion('lifecycle', '2');
      expect(em.controls.stateOf('lifecycle', 2)).toBe('DISABLED');
      await expect(client.get({ name: 'lifecycle', namespaces: [''] })).rejects.toBeInstanceOf(
        SecretStateError,
      );
      await client.enableVersion('lifecycle', '2');
      expect((await client.get({ name: 'lifecycle', namespaces: [''] })).value).toBe('b');
      await client.destroyVersion('lifecycle', '1');
      const versions = await client.versions('lifecycle');
      expect(versions.map((v) => [v.version, v.enabled, v.destroyed])).toEqual([
        ['2', true, false],
        ['1', false, true],
      ]);
      await expect(client.disableVersion('lifecycle', 'latest')).rejects.toBeInstanceOf(UsageError);
    });

    it('deletes the whole secret', async () => {
      const client = clientFor(em, sa.json);
      await client.write('doomed', 'v', { namespace: '' });
      await client.delete('doomed', { namespace: '' });
      expect(em.controls.secretIds()).not.toContain('doomed');
      const again = await failure(client.delete('doomed', { namespace: '' }));
      expect(again).toBeInstanceOf(SecretNotFoundError);
      expect((again as SesameError).fix).toBe('nothing to delete: check the name and the store prefix');
    });

    it('lists by prefix and label, paging with a cursor, without values', async () => {
      const client = clientFor(em, sa.json, { prefix: 'app_' });
      for (const n of ['a', 'b', 'c'])
        await client.write(`pg_${n}`, `value-${n}-hidden`, {
          namespace: '',
          tags: { tier: n === 'b' ? 'gold' : 'base' },
        });
      const first = await client.list({ namespaces: [''], prefix: 'pg_', limit: 2 });
      expect(first.items.map((i) => i.name)).toEqual(['pg_a', 'pg_b']);
      const second = await client.list({ namespaces: [''], prefix: 'pg_', limit: 2, cursor: first.cursor });
      expect(second.items.map((i) => i.name)).toEqual(['pg_c']);
      const gold = await client.list({ namespaces: [''], tags: { tier: 'gold' } });
      expect(gold.items.map((i) => i.name)).toEqual(['pg_b']);
      expect(JSON.stringify([first, second, gold])).not.toContain('hidden');
    });
  });

  describe('check', () => {
    it('reports authentication, list and read', async () => {
      em.controls.seed('sample', 'sample-value-x1');
      const report = await clientFor(em, sa.json).check({ namespaces: [''], sample: 'sample' });
      expect(report.steps.map((s) => [s.step, s.ok])).toEqual([
        ['authenticate', true],
        ['list', true],
        ['read', true],
      ]);
      expect(JSON.stringify(report)).not.toContain('sample-value-x1');
    });

    it('names the role missing for the read when only the read is denied', async () => {
      em.controls.seed('sample_denied', 'v');
      em.controls.deny(['secretmanager.versions.access']);
      try {
        const report = await clientFor(em, sa.json).check({ namespaces: [''], sample: 'sample_denied' });
        expect(report.ok).toBe(false);
        expect(report.steps.find((s) => s.step === 'list')?.ok).toBe(true);
        expect(report.steps.find((s) => s.step === 'read')?.fix).toBe(
          'grant roles/secretmanager.secretAccessor to the service account',
        );
      } finally {
        em.controls.allow();
      }
    });

    it('stops at authentication when the key cannot sign', async () => {
      const key = JSON.parse(sa.json) as Record<string, string>;
      key.private_key = '-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n';
      const report = await clientFor(em, JSON.stringify(key)).check({ namespaces: [''] });
      expect(report.ok).toBe(false);
      expect(report.steps).toHaveLength(1);
      expect(report.steps[0]?.step).toBe('authenticate');
      expect(JSON.stringify(report)).not.toContain('not-a-key');
    });
  });

  it('makes every error a SesameError', async () => {
    const client = clientFor(em, sa.json);
    const errors = await Promise.all([
      failure(client.get({ name: 'missing_x', namespaces: [''] })),
      failure(client.versions('missing_y')),
    ]);
    for (const err of errors) expect(err).toBeInstanceOf(SesameError);
  });
});

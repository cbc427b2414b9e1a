import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configErrorFrom } from '../../src/config/schema.js';
import {
  AccessDeniedError,
  ConfigError,
  InvalidRequestError,
  SecretNotFoundError,
  SecretStateError,
  SesameError,
  StoreUnavailableError,
  UnsupportedOperationError,
  UsageError,
  ValueTooLargeError,
} from '../../src/errors.js';
import { classifyAzure } from '../../src/stores/azure/errors.js';
import {
  type AzureKeyVaultSettings,
  AzureKeyVaultStoreClient,
  type AzureKeyVaultTestHooks,
  azureKeyVaultStoreType,
} from '../../src/stores/azure/index.js';
import { toKeyVaultName } from '../../src/stores/azure/names.js';
import type { StoreContext } from '../../src/stores/contract.js';
import {
  AZURE_CLIENT_CERTIFICATE_PATH,
  type AzureKeyVaultEmulator,
  startAzureKeyVaultEmulator,
} from '../emulators/azure/index.js';
import { runStoreContract, runStoreFaultContract } from './contract.js';

const APP_ID = '5b1c2a4e-0000-4000-8000-00000000a001';
const APP_SECRET = 'app-secret-value-do-not-leak-91c2';
const CERT_APP_ID = '5b1c2a4e-0000-4000-8000-00000000a002';

interface RecordingLog {
  warnings: string[];
  log: StoreContext['log'];
}

function recordingLog(): RecordingLog {
  const warnings: string[] = [];
  return { warnings, log: { debug() {}, info() {}, warn: (msg) => warnings.push(msg) } };
}

const context = (storeName = 'azure', log = recordingLog().log): StoreContext => ({
  storeName,
  namespace: '',
  log,
  services: {},
});

function kv(name: string): string {
  const mapped = toKeyVaultName(name);
  if (!mapped.ok) throw new Error(mapped.reason);
  return mapped.name;
}

/** Parse settings through the store type's schema, as the core does. */
function parse(input: Record<string, unknown>): AzureKeyVaultSettings {
  return azureKeyVaultStoreType.settings.parse(input);
}

function clientFor(
  em: AzureKeyVaultEmulator,
  overrides: Record<string, unknown> = {},
  hooks: AzureKeyVaultTestHooks & { delays?: number[] } = {},
  ctx: StoreContext = context(),
): AzureKeyVaultStoreClient {
  const delays = hooks.delays ?? [];
  const settings = parse({
    vaultUrl: em.url,
    authorityHost: em.authorityHost,
    disableChallengeResourceVerification: true,
    auth: {
      method: 'client-secret',
      tenantId: em.controls.tenantId,
      clientId: APP_ID,
      clientSecret: APP_SECRET,
    },
    ...overrides,
  });
  return new AzureKeyVaultStoreClient(settings, ctx, {
    pipeline: { tlsOptions: { ca: em.ca } },
    retry: {
      sleep: async (ms) => {
        delays.push(ms);
      },
      ...hooks.retry,
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

const azureContract = {
  label: 'azure-key-vault (client secret, emulator)',
  storeType: azureKeyVaultStoreType,
  harness: async () => {
    const em = await startAzureKeyVaultEmulator({ pageSize: 3 });
    em.controls.registerApp({ clientId: APP_ID, secret: APP_SECRET });
    const fast = { retry: { sleep: async () => {} } };
    return {
      client: clientFor(em, {}, fast),
      seed: async (name: string, value: string) => void em.controls.seed(kv(name), value),
      faults: em.faults,
      settings: {
        vaultUrl: em.url,
        authorityHost: em.authorityHost,
        disableChallengeResourceVerification: true,
        auth: {
          method: 'client-secret',
          tenantId: em.controls.tenantId,
          clientId: APP_ID,
          clientSecret: APP_SECRET,
        },
      },
      // The Sesame's client trusts the emulator's certificate, as NODE_EXTRA_CA_CERTS would.
      create: (settings: never, ctx: StoreContext) =>
        new AzureKeyVaultStoreClient(settings, ctx, { pipeline: { tlsOptions: { ca: em.ca } } }),
      prefixed: { prefix: 'pfx/', client: clientFor(em, { prefix: 'pfx/' }, fast) },
      close: () => em.stop(),
    };
  },
};
runStoreContract(azureContract);
runStoreFaultContract(azureContract);

describe('azure-key-vault store', () => {
  let em: AzureKeyVaultEmulator;

  beforeAll(async () => {
    em = await startAzureKeyVaultEmulator({ pageSize: 2 });
    em.controls.registerApp({ clientId: APP_ID, secret: APP_SECRET });
  });
  afterAll(async () => {
    await em.stop();
  });

  describe('settings', () => {
    it('needs exactly one of vaultUrl and vaultName', () => {
      expect(azureKeyVaultStoreType.settings.safeParse({}).success).toBe(false);
      expect(
        azureKeyVaultStoreType.settings.safeParse({ vaultUrl: em.url, vaultName: 'acme-prod' }).success,
      ).toBe(false);
      expect(parse({ vaultName: 'acme-prod' }).auth).toEqual({ method: 'default' });
    });

    it('turns a vault name into the public cloud URL', () => {
      const client = new AzureKeyVaultStoreClient(parse({ vaultName: 'acme-prod' }), context());
      expect(client.vaultUrl).toBe('https://acme-prod.vault.azure.net');
    });

    it('rejects unknown keys, in auth too', () => {
      expect(azureKeyVaultStoreType.settings.safeParse({ vaultName: 'acme-prod', region: 'x' }).success).toBe(
        false,
      );
      const badAuth = { vaultName: 'acme-prod', auth: { method: 'managed-identity', clientSecret: 'x' } };
      expect(azureKeyVaultStoreType.settings.safeParse(badAuth).success).toBe(false);
      expect(
        azureKeyVaultStoreType.settings.safeParse({ vaultName: 'acme-prod', auth: { method: 'password' } })
          .success,
      ).toBe(false);
    });

    it('requires tenant, client and secret for client-secret auth, and declares the secret a credential', () => {
      const partial = {
        vaultName: 'acme-prod',
        auth: { method: 'client-secret', tenantId: 't', clientId: 'c' },
      };
      expect(azureKeyVaultStoreType.settings.safeParse(partial).success).toBe(false);
      expect(azureKeyVaultStoreType.secretSettings).toEqual(['auth.clientSecret']);
    });

    it('refuses an http authority host, which MSAL would refuse later', () => {
      const parsed = azureKeyVaultStoreType.settings.safeParse({
        vaultName: 'acme-prod',
        authorityHost: 'http://login.example',
      });
      expect(parsed.success).toBe(false);
    });

    it('refuses a plain-http vault unless allowInsecureConnection is on, and warns when it is', () => {
      const plain = azureKeyVaultStoreType.settings.safeParse({ vaultUrl: em.httpUrl });
      const err = plain.error && configErrorFrom(plain.error, ['stores', 0]);
      expect(err).toBeInstanceOf(ConfigError);
      expect(err?.path).toBe('stores[0].vaultUrl');
      expect(err?.message).toContain('set allowInsecureConnection: true');
      const { warnings, log } = recordingLog();
      new AzureKeyVaultStoreClient(
        parse({ vaultUrl: em.httpUrl, allowInsecureConnection: true }),
        context('azure', log),
      );
      expect(warnings.some((w) => w.includes('allowInsecureConnection'))).toBe(true);
    });

    it('refuses a prefix that cannot be part of a Key Vault name, naming the character', () => {
      const odd = azureKeyVaultStoreType.settings.safeParse({ vaultName: 'acme-prod', prefix: 'team #1/' });
      const err = odd.error && configErrorFrom(odd.error, ['stores', 0]);
      expect(err?.path).toBe('stores[0].prefix');
      expect(err?.message).toContain('prefix cannot be part of a Key Vault name');
      expect(err?.message).toContain('U+0020');
    });

    it('warns when challenge resource verification is off and stays quiet by default', () => {
      const off = recordingLog();
      new AzureKeyVaultStoreClient(
        parse({ vaultUrl: em.url, disableChallengeResourceVerification: true }),
        context('azure', off.log),
      );
      expect(off.warnings.some((w) => w.includes('disableChallengeResourceVerification'))).toBe(true);
      const quiet = recordingLog();
      new AzureKeyVaultStoreClient(parse({ vaultUrl: em.url }), context('azure', quiet.log));
      expect(quiet.warnings).toEqual([]);
    });
  });

  describe('full secret identifiers', () => {
    it('reads a secret by its identifier URL in this vault, with or without a version', async () => {
      const version = em.controls.seed('by-identifier', 'identifier-value-5d');
      em.controls.seed('by-identifier', 'identifier-value-newer');
      const client = clientFor(em, { prefix: 'ignored/' });
      const latest = await client.get({ name: `${em.url}/secrets/by-identifier`, namespaces: [''] });
      expect(latest.value).toBe('identifier-value-newer');
      const pinned = await client.get({
        name: `${em.url}/secrets/by-identifier/${version}`,
        namespaces: [''],
      });
      expect(pinned.value).toBe('identifier-value-5d');
    });

    it('refuses an identifier of another vault, naming both', async () => {
      const err = await failure(
        clientFor(em).get({ name: 'https://other-vault.vault.azure.net/secrets/x', namespaces: [''] }),
      );
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err.message).toContain('https://other-vault.vault.azure.net is not this store');
    });
  });

  describe('names', () => {
    it('stores Sesame paths under mapped Key Vault names and lists them back', async () => {
      const client = clientFor(em, { prefix: 'team/' });
      await client.write('db/app_password.v2', 'pw', { namespace: '' });
      expect(em.controls.names()).toContain('team--sdb--sapp--upassword--dv2');
      const listed = await client.list({ namespaces: [''], prefix: 'db/' });
      expect(listed.items.map((i) => i.name)).toEqual(['db/app_password.v2']);
    });

    it('reads a secret another tool created under a dashed name as itself', async () => {
      em.controls.seed('prod-jira-token', 'jira-1');
      const got = await clientFor(em).get({ name: 'prod-jira-token', namespaces: [''] });
      expect(got.value).toBe('jira-1');
    });

    it('leaves names outside the mapping out of listings', async () => {
      em.controls.seed('odd--zname', 'x');
      const listed = await clientFor(em).list({ namespaces: [''] });
      expect(listed.items.some((i) => i.name.includes('zname'))).toBe(false);
    });

    it('refuses a name with a character Key Vault cannot spell, naming it', async () => {
      const err = await failure(clientFor(em).get({ name: 'db password', namespaces: [''] }));
      expect(err).toBeInstanceOf(UsageError);
      expect(err.message).toContain('U+0020');
      expect(err.message).toContain('cannot be mapped to a Key Vault secret name');
    });
  });

  describe('reads', () => {
    it('reads the latest version and a pinned one', async () => {
      const first = em.controls.seed('pinned', 'one');
      em.controls.seed('pinned', 'two');
      const client = clientFor(em);
      expect(await client.get({ name: 'pinned', namespaces: [''] })).toMatchObject({ value: 'two' });
      expect(await client.get({ name: 'pinned', version: first, namespaces: [''] })).toEqual({
        value: 'one',
        version: first,
      });
    });

    it('reports a missing secret as not found, naming the vault and the mapped name', async () => {
      const err = await failure(clientFor(em).get({ name: 'nope/here', namespaces: [''] }));
      expect(err).toBeInstanceOf(SecretNotFoundError);
      expect(err.message).toBe(
        `[azure] no secret "nope/here" (Key Vault name "nope--shere") in Key Vault ${em.url}`,
      );
    });

    it('reports a disabled secret as a state error, not as denied', async () => {
      em.controls.seed('switched-off', 'disabled-value-3e1');
      em.controls.disable('switched-off');
      const err = await failure(clientFor(em).get({ name: 'switched-off', namespaces: [''] }));
      expect(err).toBeInstanceOf(SecretStateError);
      expect(err).not.toBeInstanceOf(AccessDeniedError);
      expect(err.message).toContain('is disabled');
      expect(err.message).not.toContain('disabled-value-3e1');
    });
  });

  describe('denied', () => {
    it('names the RBAC role and the access-policy permission for a denied read', async () => {
      em.controls.seed('guarded', 'guarded-value-77');
      em.controls.deny({ operations: ['get'], model: 'rbac' });
      try {
        const err = await failure(clientFor(em).get({ name: 'guarded', namespaces: [''] }));
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect(err.message).toContain('"Key Vault Secrets User" role');
        expect(err.message).not.toContain('guarded-value-77');
      } finally {
        em.controls.allow();
      }
    });

    it('names the List permission when an access policy refuses a listing', async () => {
      em.controls.deny({ operations: ['list'], model: 'access-policy' });
      try {
        const err = await failure(clientFor(em).list({ namespaces: [''] }));
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect(err.message).toContain('secret permission "List"');
        expect(err.message).toContain('access policy');
      } finally {
        em.controls.allow();
      }
    });

    it('names only the access-policy permission when the refusal comes as ForbiddenByPolicy', async () => {
      em.controls.seed('policy-guarded', 'v');
      em.controls.deny({ operations: ['get'], model: 'access-policy', policyCode: 'ForbiddenByPolicy' });
      try {
        const err = await failure(clientFor(em).get({ name: 'policy-guarded', namespaces: [''] }));
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect((err as SesameError).fix).toBe(
          'add the secret permission "Get" to the identity\'s access policy',
        );
      } finally {
        em.controls.allow();
      }
    });

    it('says a first-party service token was refused, not that an access policy lacks a permission', async () => {
      em.controls.seed('first-party', 'v');
      em.controls.deny({ operations: ['get'], model: 'first-party' });
      try {
        const err = await failure(clientFor(em).get({ name: 'first-party', namespaces: [''] }));
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect(err.message).toBe(
          `[azure] Key Vault ${em.url} refused the token as one of a first-party (Microsoft) service: sign in with an identity of the vault's tenant (not a personal Microsoft account); behind the firewall's trusted-services exception, allow this host under Networking instead`,
        );
        expect(err.message).not.toMatch(/access policy|role/);
      } finally {
        em.controls.allow();
      }
    });

    it('names the Set permission when a write is refused', async () => {
      em.controls.deny({ operations: ['set'] });
      try {
        const err = await failure(clientFor(em).write('w/denied', 'write-value-5d', { namespace: '' }));
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect(err.message).toContain('"Key Vault Secrets Officer" role');
        expect(err.message).not.toContain('write-value-5d');
      } finally {
        em.controls.allow();
      }
    });
  });

  describe('throttling and outages', () => {
    it('retries a 429 after the Retry-After the vault asked for', async () => {
      em.controls.seed('busy', 'busy-1');
      const delays: number[] = [];
      const client = clientFor(em, {}, { delays });
      await client.get({ name: 'busy', namespaces: [''] }); // token acquired, challenge done
      em.controls.throttle(2, 3);
      const got = await client.get({ name: 'busy', namespaces: [''] });
      expect(got.value).toBe('busy-1');
      expect(delays).toEqual([3000, 3000]);
    });

    it('gives up on persistent throttling with an unavailable error', async () => {
      em.controls.seed('busier', 'busier-1');
      const client = clientFor(em);
      await client.get({ name: 'busier', namespaces: [''] });
      em.controls.throttle(10, 1);
      try {
        const err = await failure(client.get({ name: 'busier', namespaces: [''] }));
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect(err.message).toContain('HTTP 429');
        expect(err.message).toContain('after 4 attempts');
      } finally {
        em.controls.throttle(0);
      }
    });

    it('retries 5xx answers with backoff, then reports the store unavailable', async () => {
      em.controls.seed('flaky', 'flaky-1');
      const delays: number[] = [];
      const client = clientFor(em, {}, { delays });
      await client.get({ name: 'flaky', namespaces: [''] });
      em.controls.fail(1, 503);
      expect((await client.get({ name: 'flaky', namespaces: [''] })).value).toBe('flaky-1');
      expect(delays).toHaveLength(1);
      em.controls.fail(10, 500);
      try {
        const err = await failure(client.get({ name: 'flaky', namespaces: [''] }));
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect(err.message).toContain('HTTP 500');
      } finally {
        em.controls.fail(0);
      }
    });

    it('reports an unreachable vault as unavailable', async () => {
      const client = clientFor(em, { vaultUrl: 'https://127.0.0.1:1' });
      const err = await failure(client.get({ name: 'x', namespaces: [''] }));
      expect(err).toBeInstanceOf(StoreUnavailableError);
    });
  });

  describe('writes and soft delete', () => {
    it('merges default tags under the write’s own tags', async () => {
      const client = clientFor(em, { tags: { application: 'sesame', team: 'core' } });
      await client.write('tagged', 'v', { namespace: '', tags: { team: 'payments' } });
      const listed = await client.list({ namespaces: [''], prefix: 'tagged' });
      expect(listed.items[0]?.tags).toEqual({ application: 'sesame', team: 'payments' });
      const byTag = await client.list({ namespaces: [''], tags: { team: 'payments' } });
      expect(byTag.items.map((i) => i.name)).toContain('tagged');
    });

    it('recovers a soft-deleted name when it is written again instead of failing with Conflict', async () => {
      const client = clientFor(em);
      await client.write('reborn', 'old', { namespace: '' });
      await client.delete('reborn', { namespace: '' });
      expect(em.controls.deletedNames()).toContain('reborn');
      const written = await client.write('reborn', 'new', { namespace: '' });
      expect(em.controls.deletedNames()).not.toContain('reborn');
      expect(await client.get({ name: 'reborn', namespaces: [''] })).toEqual({
        value: 'new',
        version: written.version,
      });
      expect((await client.versions('reborn')).length).toBe(2);
    });

    it('says a read of a soft-deleted secret is soft-deleted and how to restore it; a name never written stays a plain not found', async () => {
      const client = clientFor(em);
      await client.write('in-the-bin', 'v', { namespace: '' });
      await client.delete('in-the-bin', { namespace: '' });
      for (const version of [undefined, 'abc123']) {
        const err = await failure(client.get({ name: 'in-the-bin', version, namespaces: [''] }));
        expect(err).toBeInstanceOf(SecretNotFoundError);
        expect(err.message).toBe(
          `[azure] "in-the-bin"${version ? ` version ${version}` : ''} in Key Vault ${em.url} is soft-deleted: restore it with \`sesame secrets restore in-the-bin\`, or write it again (a write recovers it first)`,
        );
      }
      const never = await failure(client.get({ name: 'never-written', namespaces: [''] }));
      expect(never.message).toBe(`[azure] no secret "never-written" in Key Vault ${em.url}`);
      await client.restore('in-the-bin');
      expect((await client.get({ name: 'in-the-bin', namespaces: [''] })).value).toBe('v');
    });

    it('lists soft-deleted secrets with their purge date when asked', async () => {
      const client = clientFor(em);
      await client.write('binned', 'v', { namespace: '' });
      await client.delete('binned', { namespace: '' });
      const normal = await client.list({ namespaces: [''], prefix: 'binned' });
      expect(normal.items).toEqual([]);
      const withDeleted = await client.list({ namespaces: [''], prefix: 'binned', includeDeleted: true });
      expect(withDeleted.items[0]?.deletedAt).toBeDefined();
      expect(withDeleted.items[0]?.purgeAt).toBeDefined();
    });

    it('purges when the delete is forced, so it cannot be restored', async () => {
      const client = clientFor(em);
      await client.write('gone-for-good', 'v', { namespace: '' });
      await client.delete('gone-for-good', { namespace: '', force: true });
      expect(em.controls.deletedNames()).not.toContain('gone-for-good');
      const err = await failure(client.restore('gone-for-good'));
      expect(err).toBeInstanceOf(SecretNotFoundError);
      expect(err.message).toContain('no soft-deleted secret');
    });

    it('says there is nothing to delete or restore for a missing secret, instead of telling to create it', async () => {
      const client = clientFor(em);
      const restore = await failure(client.restore('never-was'));
      expect(restore).toBeInstanceOf(SecretNotFoundError);
      expect(restore.message).toBe(`[azure] no soft-deleted secret "never-was" in Key Vault ${em.url}`);
      expect((restore as SesameError).fix).toBe(
        'nothing to restore: no deleted secret has this name (purged, past the retention period, or never created); check the name and the store prefix',
      );
      for (const force of [false, true]) {
        const del = await failure(client.delete('never-was', { namespace: '', force }));
        expect(del).toBeInstanceOf(SecretNotFoundError);
        expect((del as SesameError).fix).toBe('nothing to delete: check the name and the store prefix');
      }
    });

    it('purges a secret that is already soft-deleted', async () => {
      const client = clientFor(em);
      await client.write('half-gone', 'v', { namespace: '' });
      await client.delete('half-gone', { namespace: '' });
      await client.delete('half-gone', { namespace: '', force: true });
      expect(em.controls.deletedNames()).not.toContain('half-gone');
    });

    it('says purge protection keeps a forced delete soft, not that a permission is missing', async () => {
      const client = clientFor(em);
      await client.write('protected', 'v', { namespace: '' });
      em.controls.protectFromPurge(true);
      try {
        const err = await failure(client.delete('protected', { namespace: '', force: true }));
        expect(err).toBeInstanceOf(SecretStateError);
        expect(err.message).toBe(
          `[azure] "protected" in Key Vault ${em.url} is soft-deleted and cannot be purged: the vault has purge protection, so Key Vault purges it itself when the retention period ends`,
        );
        expect((err as SesameError).fix).toBe(
          'delete without --force (purge protection cannot be turned off); `secrets restore` brings it back until then',
        );
        expect(err.message).not.toMatch(/role|permission/i);
        expect(em.controls.deletedNames()).toContain('protected');
      } finally {
        em.controls.protectFromPurge(false);
      }
    });

    it('refuses a value over Key Vault’s 25 KB before sending it', async () => {
      em.controls.reset();
      const value = `oversized-${'v'.repeat(25 * 1024)}`;
      const err = await failure(clientFor(em).write('too-big', value, { namespace: '' }));
      expect(err).toBeInstanceOf(ValueTooLargeError);
      expect(err.message).toBe(
        `[azure] the value of "too-big" is ${Buffer.byteLength(value)} bytes, above Key Vault's limit of 25 KB (25600 bytes): it was not written`,
      );
      expect(em.controls.calls.set ?? 0).toBe(0);
    });

    it('reports a write Key Vault refuses with 400 as invalid, with the size limit, not as an outage', () => {
      const rest = Object.assign(new Error('Bad request'), {
        name: 'RestError',
        statusCode: 400,
        code: 'BadParameter',
      });
      const c = classifyAzure(rest, {
        vaultUrl: 'https://acme.vault.azure.net',
        operation: 'set',
        name: 'db',
        id: 'db',
        bytes: 25_300,
        auth: { method: 'default' },
      });
      expect(c.kind).toBe('invalid');
      expect(c.retry).toBeUndefined();
      expect(c.message).toBe(
        'Key Vault refused to write "db" in Key Vault https://acme.vault.azure.net as invalid (HTTP 400 BadParameter): a Key Vault secret value is at most 25 KB, and this one is 25300 bytes',
      );
    });

    it('reports any other 400 as invalid too, never as an outage', () => {
      const rest = Object.assign(new Error('Bad request'), {
        name: 'RestError',
        statusCode: 400,
        code: 'BadParameter',
      });
      const c = classifyAzure(rest, {
        vaultUrl: 'https://acme.vault.azure.net',
        operation: 'get',
        name: 'db',
        id: 'db',
        version: 'not-a-version',
        auth: { method: 'default' },
      });
      expect(c.kind).toBe('invalid');
      expect(c.message).toBe(
        'Key Vault refused to read "db" version not-a-version in Key Vault https://acme.vault.azure.net as invalid (HTTP 400 BadParameter): check the name and the version id (the 32-character id Key Vault shows)',
      );
    });

    it('says there is no check-and-set instead of ignoring the expected version', async () => {
      const err = await failure(clientFor(em).write('cas', 'v', { namespace: '', expectedVersion: 'abc' }));
      expect(err).toBeInstanceOf(UnsupportedOperationError);
    });

    it('describes a secret from its newest version without reading the value', async () => {
      const client = clientFor(em);
      await client.write('described', 'a', { namespace: '' });
      const second = await client.write('described', 'b', { namespace: '' });
      const before = em.controls.calls.get ?? 0;
      const meta = await client.describe('described');
      expect(meta).toMatchObject({ name: 'described', version: second.version });
      expect(em.controls.calls.get ?? 0).toBe(before);
    });

    it('pages a listing with an opaque cursor', async () => {
      const client = clientFor(em);
      for (const n of ['pg/a', 'pg/b', 'pg/c']) await client.write(n, 'v', { namespace: '' });
      const first = await client.list({ namespaces: [''], prefix: 'pg/', limit: 2 });
      expect(first.items.map((i) => i.name)).toEqual(['pg/a', 'pg/b']);
      const second = await client.list({ namespaces: [''], prefix: 'pg/', limit: 2, cursor: first.cursor });
      expect(second.items.map((i) => i.name)).toEqual(['pg/c']);
      expect(second.cursor).toBeUndefined();
      await expect(client.list({ namespaces: [''], cursor: 'garbage' })).rejects.toBeInstanceOf(UsageError);
    });
  });

  describe('authentication', () => {
    it('authenticates with a client certificate (signed assertion)', async () => {
      const { readFileSync } = await import('node:fs');
      em.controls.registerApp({
        clientId: CERT_APP_ID,
        certificatePem: readFileSync(AZURE_CLIENT_CERTIFICATE_PATH, 'utf8'),
      });
      em.controls.seed('by-cert', 'cert-ok');
      const client = clientFor(em, {
        auth: {
          method: 'client-certificate',
          tenantId: em.controls.tenantId,
          clientId: CERT_APP_ID,
          certificatePath: AZURE_CLIENT_CERTIFICATE_PATH,
        },
      });
      expect((await client.get({ name: 'by-cert', namespaces: [''] })).value).toBe('cert-ok');
      expect(em.controls.principals).toContain(CERT_APP_ID);
    });

    it('says which file is missing for client-certificate auth', async () => {
      const client = clientFor(em, {
        auth: {
          method: 'client-certificate',
          tenantId: em.controls.tenantId,
          clientId: CERT_APP_ID,
          certificatePath: '/nonexistent/app.pem',
        },
      });
      const err = await failure(client.get({ name: 'x', namespaces: [''] }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain('/nonexistent/app.pem');
    });

    it('uses the environment credential for auth method default', async () => {
      const saved = { ...process.env };
      Object.assign(process.env, {
        AZURE_TENANT_ID: em.controls.tenantId,
        AZURE_CLIENT_ID: APP_ID,
        AZURE_CLIENT_SECRET: APP_SECRET,
      });
      try {
        em.controls.seed('by-default', 'default-ok');
        const client = clientFor(em, { auth: { method: 'default' } });
        expect((await client.get({ name: 'by-default', namespaces: [''] })).value).toBe('default-ok');
      } finally {
        for (const k of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET']) {
          if (saved[k] === undefined) delete process.env[k];
          else process.env[k] = saved[k];
        }
      }
    });

    it('says the client secret expired and where to make a new one, without the secret', async () => {
      const expiring = '5b1c2a4e-0000-4000-8000-00000000a003';
      const secret = 'expiring-secret-value-8a1';
      em.controls.registerApp({ clientId: expiring, secret });
      em.controls.expireClientSecret(expiring);
      const client = clientFor(em, {
        auth: {
          method: 'client-secret',
          tenantId: em.controls.tenantId,
          clientId: expiring,
          clientSecret: secret,
        },
      });
      const err = await failure(client.get({ name: 'anything', namespaces: [''] }));
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect(err.message).toContain('client secret');
      expect(err.message).toContain('has expired');
      expect(err.message).toContain('Microsoft Entra ID → App registrations');
      expect(err.message).toContain('Certificates & secrets');
      expect(err.message).not.toContain(secret);
      expect(String((err as Error & { cause?: Error }).cause?.message)).not.toContain(secret);
    });

    it('says the client secret is wrong, pointing at the secret Value', async () => {
      const client = clientFor(em, {
        auth: {
          method: 'client-secret',
          tenantId: em.controls.tenantId,
          clientId: APP_ID,
          clientSecret: 'wrong-secret-0b',
        },
      });
      const err = await failure(client.get({ name: 'anything', namespaces: [''] }));
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect(err.message).toContain('AADSTS7000215');
      expect(err.message).not.toContain('wrong-secret-0b');
    });

    it('explains the challenge mismatch a private endpoint or emulator causes', async () => {
      const client = clientFor(em, { disableChallengeResourceVerification: false });
      const err = await failure(client.get({ name: 'anything', namespaces: [''] }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toContain('disableChallengeResourceVerification: true');
    });

    it('talks to a plain-http vault when allowInsecureConnection is on', async () => {
      em.controls.seed('over-http', 'http-ok');
      const client = clientFor(em, { vaultUrl: em.httpUrl, allowInsecureConnection: true });
      expect((await client.get({ name: 'over-http', namespaces: [''] })).value).toBe('http-ok');
    });
  });

  describe('check', () => {
    it('reports token, list and read steps', async () => {
      em.controls.seed('check-sample', 'check-value-41');
      const report = await clientFor(em).check({ namespaces: [''], sample: 'check-sample' });
      expect(report.steps.map((s) => [s.step, s.ok])).toEqual([
        ['authenticate', true],
        ['list', true],
        ['read', true],
      ]);
      expect(JSON.stringify(report)).not.toContain('check-value-41');
    });

    it('says which permission is missing when list works and read does not', async () => {
      em.controls.seed('check-guarded', 'v');
      em.controls.deny({ operations: ['get'] });
      try {
        const report = await clientFor(em).check({ namespaces: [''], sample: 'check-guarded' });
        expect(report.ok).toBe(false);
        const read = report.steps.find((s) => s.step === 'read');
        expect(read?.ok).toBe(false);
        expect(read?.fix).toContain('Key Vault Secrets User');
        expect(report.steps.find((s) => s.step === 'list')?.ok).toBe(true);
      } finally {
        em.controls.allow();
      }
    });

    it('stops at authentication when no token can be had', async () => {
      const client = clientFor(em, {
        auth: {
          method: 'client-secret',
          tenantId: em.controls.tenantId,
          clientId: 'unknown-app',
          clientSecret: 'x-unknown-9',
        },
      });
      const report = await client.check({ namespaces: [''], sample: 'x' });
      expect(report.ok).toBe(false);
      expect(report.steps).toHaveLength(1);
      expect(report.steps[0]?.step).toBe('authenticate');
      expect(report.steps[0]?.detail).toContain('AADSTS700016');
      expect(JSON.stringify(report)).not.toContain('x-unknown-9');
    });
  });

  it('makes every error a SesameError', async () => {
    const client = clientFor(em);
    const errors = await Promise.all([
      failure(client.get({ name: 'missing-one', namespaces: [''] })),
      failure(client.restore('never-deleted')),
    ]);
    for (const err of errors) expect(err).toBeInstanceOf(SesameError);
  });
});

/**
 * Managed identity through the App Service style endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER),
 * which MSAL reads from the environment: kept in its own file so the variables cannot leak into
 * the other Azure tests (each test file runs in its own process).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessDeniedError } from '../../src/errors.js';
import { AzureKeyVaultStoreClient, azureKeyVaultStoreType } from '../../src/stores/azure/index.js';
import type { StoreContext } from '../../src/stores/contract.js';
import { type AzureKeyVaultEmulator, startAzureKeyVaultEmulator } from '../emulators/azure/index.js';

const context: StoreContext = {
  storeName: 'azure-mi',
  namespace: '',
  log: { debug() {}, info() {}, warn() {} },
  services: {},
};

describe('azure-key-vault store with a managed identity', () => {
  let em: AzureKeyVaultEmulator;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    em = await startAzureKeyVaultEmulator();
    for (const k of ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER']) saved[k] = process.env[k];
    process.env.IDENTITY_ENDPOINT = em.identityEndpoint;
    process.env.IDENTITY_HEADER = em.identityHeader;
  });
  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await em.stop();
  });

  const client = (auth: Record<string, unknown>) =>
    new AzureKeyVaultStoreClient(
      azureKeyVaultStoreType.settings.parse({
        vaultUrl: em.url,
        disableChallengeResourceVerification: true,
        auth,
      }),
      context,
      { pipeline: { tlsOptions: { ca: em.ca } }, retry: { sleep: async () => {} } },
    );

  it('reads with the system-assigned identity', async () => {
    em.controls.seed('mi-secret', 'mi-value');
    const got = await client({ method: 'managed-identity' }).get({ name: 'mi-secret', namespaces: [''] });
    expect(got.value).toBe('mi-value');
    expect(em.controls.calls.msi).toBeGreaterThan(0);
    expect(em.controls.principals).toContain('msi:system');
  });

  it('reads with a user-assigned identity chosen by client id', async () => {
    const clientId = '1e2d3c4b-0000-4000-8000-00000000b001';
    em.controls.registerManagedIdentity(clientId);
    em.controls.seed('mi-user', 'user-assigned-value');
    const got = await client({ method: 'managed-identity', clientId }).get({
      name: 'mi-user',
      namespaces: [''],
    });
    expect(got.value).toBe('user-assigned-value');
    expect(em.controls.principals).toContain(`msi:${clientId}`);
  });

  it('reports an identity that is not assigned as a credential problem', async () => {
    em.controls.seed('mi-other', 'other-value-6c');
    const err = await client({ method: 'managed-identity', clientId: '1e2d3c4b-0000-4000-8000-00000000dead' })
      .get({ name: 'mi-other', namespaces: [''] })
      .then(
        () => new Error('expected a failure'),
        (e: unknown) => e as Error,
      );
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toContain('token');
    expect(err.message).not.toContain('other-value-6c');
  });

  it('checks itself with the managed identity', async () => {
    em.controls.seed('mi-sample', 'sample-value');
    const report = await client({ method: 'managed-identity' }).check({
      namespaces: [''],
      sample: 'mi-sample',
    });
    expect(report.ok).toBe(true);
    expect(report.steps[0]).toMatchObject({ step: 'authenticate', ok: true });
  });
});

/**
 * Azure Key Vault end to end: a `sesame.yaml` pointing an `azure-key-vault` store at the local
 * Key Vault + Entra ID emulator, and the real `sesame` bin. Every auth method resolves (client
 * secret, client certificate, managed identity, default), Sesame names map to Key Vault names,
 * `stores test` prints the role or access-policy permission to add for each 403, and failures
 * exit 1 without a value on stderr.
 *
 * The emulator serves the vault and the authority over TLS with a self-signed certificate: the
 * CLI trusts it the way an operator trusts a private CA, with NODE_EXTRA_CA_CERTS.
 * Needs `npm run build`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withEmulator } from '../support/with-emulator.js';
import { type AzureKeyVaultEmulator, AZURE_CLIENT_CERTIFICATE_PATH, startAzureKeyVaultEmulator } from '../emulators/azure/index.js';
import {
  expectFailure,
  expectNoSecrets,
  expectValue,
  failedStep,
  okStep,
  sesame,
  show,
  type Workdir,
} from './support.js';

const APP_ID = '5b1c2a4e-0000-4000-8000-00000000e2e1';
const APP_SECRET = 'azure-app-secret-e2e-4f81c0';
const CERT_APP_ID = '5b1c2a4e-0000-4000-8000-00000000e2e2';
const USER_MI = '1e2d3c4b-0000-4000-8000-00000000e2e3';
const DB = 'azure-db-password-9a7c31';
const JIRA = JSON.stringify({ 'prod.jira.secret.key': 'azure-jira-token-2c6e8d' });
const VALUES = [DB, 'azure-jira-token-2c6e8d'];

describe('azure-key-vault through the CLI', () => {
  let em: AzureKeyVaultEmulator;
  let wd: Workdir;
  /** Trust the emulator's TLS certificate (vault and authority). */
  let tls: Record<string, string>;

  const store = (auth: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    stores: [
      {
        name: 'azure',
        type: 'azure-key-vault',
        vaultUrl: em.url,
        authorityHost: em.authorityHost,
        disableChallengeResourceVerification: true,
        auth,
        ...extra,
      },
    ],
  });
  const clientSecret = () => ({ method: 'client-secret', tenantId: em.controls.tenantId, clientId: APP_ID, clientSecret: APP_SECRET });
  const mi = () => ({ ...tls, IDENTITY_ENDPOINT: em.identityEndpoint, IDENTITY_HEADER: em.identityHeader });

  withEmulator('azure', startAzureKeyVaultEmulator, (started, dir) => {
    em = started;
    wd = dir;
    em.controls.registerApp({ clientId: APP_ID, secret: APP_SECRET });
    em.controls.registerApp({ clientId: CERT_APP_ID, certificatePem: readFileSync(AZURE_CLIENT_CERTIFICATE_PATH, 'utf8') });
    em.controls.registerManagedIdentity(USER_MI);
    // Seeded under their Key Vault names: `prod/db/password` is spelled prod--sdb--spassword.
    em.controls.seed('prod--sdb--spassword', DB);
    em.controls.seed('prod-jira-credentials', JIRA);
    tls = { NODE_EXTRA_CA_CERTS: wd.file('emulator-ca.pem', em.ca) };
  });

  describe('resolve prints the value with each auth method', () => {
    it('client-secret (an app registration), with a Sesame path mapped to a Key Vault name', async () => {
      wd.config(store(clientSecret()));
      expectValue(await sesame(wd, ['resolve', 'secret://azure/prod/db/password'], { env: tls }), DB);
      expectValue(
        await sesame(wd, ['resolve', 'secret://azure/prod-jira-credentials#prod.jira.secret.key'], { env: tls }),
        'azure-jira-token-2c6e8d',
      );
      expect(em.controls.principals).toContain(APP_ID);
    });

    it('client-certificate: a PEM next to the config, by relative path', async () => {
      wd.file('sesame-app.pem', readFileSync(AZURE_CLIENT_CERTIFICATE_PATH, 'utf8'));
      wd.config(
        store({ method: 'client-certificate', tenantId: em.controls.tenantId, clientId: CERT_APP_ID, certificatePath: './sesame-app.pem' }),
      );
      expectValue(await sesame(wd, ['resolve', 'secret://azure/prod/db/password'], { env: tls }), DB);
      expect(em.controls.principals).toContain(CERT_APP_ID);
    });

    it('managed-identity, system-assigned (App Service IDENTITY_ENDPOINT)', async () => {
      wd.config(store({ method: 'managed-identity' }, { authorityHost: undefined }));
      const before = em.controls.calls.msi ?? 0;
      expectValue(await sesame(wd, ['resolve', 'secret://azure/prod/db/password'], { env: mi() }), DB);
      expect(em.controls.calls.msi ?? 0).toBeGreaterThan(before);
      expect(em.controls.principals).toContain('msi:system');
    });

    it('managed-identity, user-assigned by client id', async () => {
      wd.config(store({ method: 'managed-identity', clientId: USER_MI }, { authorityHost: undefined }));
      expectValue(await sesame(wd, ['resolve', 'secret://azure/prod/db/password'], { env: mi() }), DB);
      expect(em.controls.principals).toContain(`msi:${USER_MI}`);
    });

    it('default: DefaultAzureCredential from AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET', async () => {
      wd.config(store({ method: 'default' }));
      const env = { ...tls, AZURE_TENANT_ID: em.controls.tenantId, AZURE_CLIENT_ID: APP_ID, AZURE_CLIENT_SECRET: APP_SECRET };
      const [tokens, msi] = [em.controls.calls.token ?? 0, em.controls.calls.msi ?? 0];
      const r = await sesame(wd, ['resolve', 'secret://azure/prod/db/password'], { env });
      expectValue(r, DB);
      expectNoSecrets(r, [APP_SECRET]);
      expect(em.controls.calls.token ?? 0).toBeGreaterThan(tokens);
      expect(em.controls.calls.msi ?? 0).toBe(msi);
    });

    it('default: DefaultAzureCredential falls through to the managed identity', async () => {
      wd.config(store({ method: 'default' }, { authorityHost: undefined }));
      const [tokens, msi] = [em.controls.calls.token ?? 0, em.controls.calls.msi ?? 0];
      expectValue(await sesame(wd, ['resolve', 'secret://azure/prod/db/password'], { env: mi() }), DB);
      expect(em.controls.calls.msi ?? 0).toBeGreaterThan(msi);
      expect(em.controls.calls.token ?? 0).toBe(tokens);
    });

    it('a plain-http vault with allowInsecureConnection', async () => {
      wd.config(store(clientSecret(), { vaultUrl: em.httpUrl, allowInsecureConnection: true }));
      const r = await sesame(wd, ['resolve', 'secret://azure/prod/db/password'], { env: tls });
      expectValue(r, DB);
      // The store warns that the setting is on (a log line on stderr), without any credential.
      expect(r.stderr).toContain('allowInsecureConnection is on');
      expectNoSecrets(r, [APP_SECRET]);
    });

    it('a wrong client secret exits 1 with the AADSTS code, without the secret', async () => {
      const wrong = 'wrong-azure-secret-77b1';
      wd.config(store({ ...clientSecret(), clientSecret: wrong }));
      const r = await sesame(wd, ['resolve', 'secret://azure/prod/db/password'], { env: tls });
      const line = expectFailure(r, 1, [...VALUES, wrong, APP_SECRET]);
      expect(line).toContain('secret://azure/prod/db/password');
      expect(line).toContain('AADSTS7000215');
    });
  });

  describe('failures', () => {
    it('a missing secret exits 1 naming the reference', async () => {
      wd.config(store(clientSecret()));
      const r = await sesame(wd, ['resolve', 'secret://azure/prod/nope'], { env: tls });
      const line = expectFailure(r, 1, [...VALUES, APP_SECRET]);
      expect(line).toContain('secret://azure/prod/nope');
      expect(line).toMatch(/not found|no secret/i);
    });

    it('?stage= (an AWS staging label) is refused with exit 2, not ignored', async () => {
      wd.config(store(clientSecret()));
      const r = await sesame(wd, ['resolve', 'secret://azure/prod/db/password?stage=AWSPREVIOUS'], { env: tls });
      expect(expectFailure(r, 2, [...VALUES, APP_SECRET])).toContain('stores of type azure-key-vault have no stages: pin a version with ?version= instead');
    });

    it('a read denied by RBAC exits 1 and names the role to assign', async () => {
      wd.config(store(clientSecret()));
      em.controls.deny({ operations: ['get'], model: 'rbac' });
      try {
        const r = await sesame(wd, ['resolve', 'secret://azure/prod/db/password'], { env: tls });
        const line = expectFailure(r, 1, [...VALUES, APP_SECRET]);
        expect(line).toContain('secret://azure/prod/db/password');
        expect(line).toContain('assign the "Key Vault Secrets User" role on the vault (Azure RBAC) to the identity');
      } finally {
        em.controls.allow();
      }
    });

    it('a read denied by an access policy exits 1 and names the permission to add', async () => {
      wd.config(store(clientSecret()));
      em.controls.deny({ operations: ['get'], model: 'access-policy' });
      try {
        const r = await sesame(wd, ['resolve', 'secret://azure/prod/db/password'], { env: tls });
        const line = expectFailure(r, 1, [...VALUES, APP_SECRET]);
        expect(line).toContain(`add the secret permission "Get" to the identity's access policy`);
      } finally {
        em.controls.allow();
      }
    });

    it('stores test: everything allowed is ready, exit 0, no value printed', async () => {
      wd.config(store(clientSecret()));
      const r = await sesame(wd, ['stores', 'test', 'azure', '--sample', 'prod/db/password'], { env: tls });
      expect(r.code, show(r)).toBe(0);
      for (const step of ['authenticate', 'list', 'read']) expect(okStep(r, step), show(r)).toBeDefined();
      expectNoSecrets(r, [...VALUES, APP_SECRET]);
    });

    it('stores test: get → 403 gives FAIL read with the role and the access-policy permission, exit 1', async () => {
      wd.config(store(clientSecret()));
      em.controls.deny({ operations: ['get'] });
      try {
        const r = await sesame(wd, ['stores', 'test', 'azure', '--sample', 'prod/db/password'], { env: tls });
        expect(r.code, show(r)).toBe(1);
        // The fix the classification gave, for the permission model the vault answered with (RBAC).
        expect(failedStep(r, 'read').fix).toBe('assign the "Key Vault Secrets User" role on the vault (Azure RBAC) to the identity');
        expect(okStep(r, 'list'), show(r)).toBeDefined();
        expectNoSecrets(r, [...VALUES, APP_SECRET]);
      } finally {
        em.controls.allow();
      }
    });

    it('stores test: list → 403 gives FAIL list with the permission "List", exit 1', async () => {
      wd.config(store(clientSecret()));
      em.controls.deny({ operations: ['list'], model: 'access-policy' });
      try {
        const r = await sesame(wd, ['stores', 'test', 'azure', '--sample', 'prod/db/password'], { env: tls });
        expect(r.code, show(r)).toBe(1);
        // An access-policy refusal names no permission model: both ways to grant List are given.
        expect(failedStep(r, 'list').fix).toBe(
          'assign the "Key Vault Secrets User" role on the vault (Azure RBAC), or add the secret permission "List" to the identity\'s access policy',
        );
        expect(okStep(r, 'read'), show(r)).toBeDefined();
        expectNoSecrets(r, [...VALUES, APP_SECRET]);
      } finally {
        em.controls.allow();
      }
    });

    it('stores test: a credential that gets no token stops at authenticate, exit 1', async () => {
      const wrong = 'wrong-azure-secret-9f00';
      wd.config(store({ ...clientSecret(), clientSecret: wrong }));
      const r = await sesame(wd, ['stores', 'test', 'azure', '--sample', 'prod/db/password'], { env: tls });
      expect(r.code, show(r)).toBe(1);
      expect(failedStep(r, 'authenticate').fix).toBe('fix the credentials of the configured auth method (see the detail)');
      expect(r.stdout).not.toContain('ok   list');
      expectNoSecrets(r, [...VALUES, wrong, APP_SECRET]);
    });
  });
});

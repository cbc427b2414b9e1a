/**
 * GCP Secret Manager end to end: a `sesame.yaml` pointing a `gcp-secret-manager` store at the
 * local Secret Manager emulator (REST over plain HTTP through `apiEndpoint`), and the real
 * `sesame` bin. Service-account keys (inline JSON and file) and application default credentials
 * (a key file in GOOGLE_APPLICATION_CREDENTIALS, and the metadata server of a VM) resolve;
 * `stores test` names the role to grant for each PERMISSION_DENIED; failures exit 1 without a
 * value. Needs `npm run build`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { withEmulator } from '../support/with-emulator.js';
import { type GcpSecretManagerEmulator, startGcpSecretManagerEmulator } from '../emulators/gcp/index.js';
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

const DB = 'gcp-db-password-4b8e2f';
const JIRA = JSON.stringify({ 'prod.jira.secret.key': 'gcp-jira-token-71ac3d', nested: { a: ['x', 'gcp-nested-9d'] } });
const VALUES = [DB, 'gcp-jira-token-71ac3d', 'gcp-nested-9d'];

/** A service-account key registered with the emulator, as the JSON a user downloads. */
function serviceAccount(em: GcpSecretManagerEmulator, name: string): { json: string; email: string; privateKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const email = `${name}@${em.controls.project}.iam.gserviceaccount.com`;
  const keyId = `${name}-key-1`;
  em.controls.registerServiceAccount({ email, keyId, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const json = JSON.stringify({
    type: 'service_account',
    project_id: em.controls.project,
    private_key_id: keyId,
    private_key: pem,
    client_email: email,
    client_id: '100000000000000000042',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
    universe_domain: 'googleapis.com',
  });
  // The base64 body of the key: enough to catch the key leaking in any form of its PEM.
  const body = pem.split('\n')[5] ?? pem;
  return { json, email, privateKey: body };
}

describe('gcp-secret-manager through the CLI', () => {
  let em: GcpSecretManagerEmulator;
  let wd: Workdir;
  let sa: ReturnType<typeof serviceAccount>;
  /** No gcloud config, no metadata server: only what a test passes authenticates. */
  let bare: Record<string, string>;

  const store = (auth: Record<string, unknown>) => ({
    stores: [{ name: 'gcp', type: 'gcp-secret-manager', project: em.controls.project, apiEndpoint: em.url, auth }],
  });

  withEmulator('gcp', startGcpSecretManagerEmulator, (started, dir) => {
    em = started;
    wd = dir;
    em.controls.seed('prod-db-password', DB);
    em.controls.seed('prod-jira-credentials', JIRA);
    sa = serviceAccount(em, 'sesame-e2e');
    bare = { CLOUDSDK_CONFIG: wd.dir, METADATA_SERVER_DETECTION: 'none' };
  });

  describe('resolve prints the value with each auth method', () => {
    it('service-account-json with the key JSON inline (here from ${env:…})', async () => {
      wd.config(store({ method: 'service-account-json', json: '${env:GCP_SA_KEY}' }));
      const r = await sesame(wd, ['resolve', 'secret://gcp/prod-db-password'], { env: { ...bare, GCP_SA_KEY: sa.json } });
      expectValue(r, DB);
      expectNoSecrets(r, [sa.privateKey]);
      expect(em.controls.principals).toContain(sa.email);
    });

    it('service-account-json with a key file next to the config', async () => {
      wd.file('sa-key.json', sa.json);
      wd.config(store({ method: 'service-account-json', file: './sa-key.json' }));
      expectValue(
        await sesame(wd, ['resolve', 'secret://gcp/prod-jira-credentials#prod.jira.secret.key'], { env: bare }),
        'gcp-jira-token-71ac3d',
      );
      expectValue(await sesame(wd, ['resolve', 'secret://gcp/prod-jira-credentials#/nested/a/1'], { env: bare }), 'gcp-nested-9d');
      expectValue(await sesame(wd, ['resolve', 'secret://gcp/prod-db-password?version=1'], { env: bare }), DB);
    });

    it('default: application default credentials from GOOGLE_APPLICATION_CREDENTIALS', async () => {
      const other = serviceAccount(em, 'sesame-adc');
      const keyFile = wd.file('adc-key.json', other.json);
      wd.config(store({ method: 'default' }));
      expectValue(
        await sesame(wd, ['resolve', 'secret://gcp/prod-db-password'], { env: { ...bare, GOOGLE_APPLICATION_CREDENTIALS: keyFile } }),
        DB,
      );
      expect(em.controls.principals).toContain(other.email);
    });

    it('default: a VM token from the metadata server', async () => {
      wd.config(store({ method: 'default' }));
      const before = em.controls.calls['metadata-token'] ?? 0;
      const env = { CLOUDSDK_CONFIG: wd.dir, GCE_METADATA_HOST: em.metadataHost, METADATA_SERVER_DETECTION: 'assume-present' };
      expectValue(await sesame(wd, ['resolve', 'secret://gcp/prod-db-password'], { env }), DB);
      expect(em.controls.calls['metadata-token'] ?? 0).toBeGreaterThan(before);
      expect(em.controls.principals).toContain('metadata');
    });

    it('default with no credentials anywhere exits 1 and says where they can come from', async () => {
      wd.config(store({ method: 'default' }));
      const r = await sesame(wd, ['resolve', 'secret://gcp/prod-db-password'], { env: bare });
      const line = expectFailure(r, 1, VALUES);
      expect(line).toContain('secret://gcp/prod-db-password');
      expect(line).toContain('GOOGLE_APPLICATION_CREDENTIALS');
    });
  });

  describe('failures', () => {
    const keyFile = () => {
      wd.file('sa-key.json', sa.json);
      return { method: 'service-account-json', file: './sa-key.json' };
    };

    it('a missing secret exits 1 naming the reference', async () => {
      wd.config(store(keyFile()));
      const r = await sesame(wd, ['resolve', 'secret://gcp/prod-nope'], { env: bare });
      const line = expectFailure(r, 1, [...VALUES, sa.privateKey]);
      expect(line).toContain('secret://gcp/prod-nope');
      expect(line).toContain('no secret "prod-nope" in project sesame-test');
    });

    it('?stage= (an AWS staging label) is refused with exit 2, not ignored', async () => {
      wd.config(store(keyFile()));
      const r = await sesame(wd, ['resolve', 'secret://gcp/prod-db-password?stage=AWSPREVIOUS'], { env: bare });
      expect(expectFailure(r, 2, [...VALUES, sa.privateKey])).toContain('stores of type gcp-secret-manager have no stages: pin a version with ?version= instead');
    });

    it('a denied read (PERMISSION_DENIED) exits 1 and names the role to grant', async () => {
      wd.config(store(keyFile()));
      em.controls.deny(['secretmanager.versions.access']);
      try {
        const r = await sesame(wd, ['resolve', 'secret://gcp/prod-db-password'], { env: bare });
        const line = expectFailure(r, 1, [...VALUES, sa.privateKey]);
        expect(line).toContain('secret://gcp/prod-db-password');
        expect(line).toContain('grant roles/secretmanager.secretAccessor to the service account');
      } finally {
        em.controls.allow();
      }
    });

    it('stores test: everything allowed is ready, exit 0, no value printed', async () => {
      wd.config(store(keyFile()));
      const r = await sesame(wd, ['stores', 'test', 'gcp', '--sample', 'prod-db-password'], { env: bare });
      expect(r.code, show(r)).toBe(0);
      for (const step of ['authenticate', 'list', 'read']) expect(okStep(r, step), show(r)).toBeDefined();
      expectNoSecrets(r, [...VALUES, sa.privateKey]);
    });

    it('stores test: versions.access denied → FAIL read, grant roles/secretmanager.secretAccessor, exit 1', async () => {
      wd.config(store(keyFile()));
      em.controls.deny(['secretmanager.versions.access']);
      try {
        const r = await sesame(wd, ['stores', 'test', 'gcp', '--sample', 'prod-db-password'], { env: bare });
        expect(r.code, show(r)).toBe(1);
        expect(failedStep(r, 'read').fix).toBe('grant roles/secretmanager.secretAccessor to the service account');
        expect(okStep(r, 'list'), show(r)).toBeDefined();
        expectNoSecrets(r, [...VALUES, sa.privateKey]);
      } finally {
        em.controls.allow();
      }
    });

    it('stores test: secrets.list denied → FAIL list, grant roles/secretmanager.viewer, exit 1', async () => {
      wd.config(store(keyFile()));
      em.controls.deny(['secretmanager.secrets.list']);
      try {
        const r = await sesame(wd, ['stores', 'test', 'gcp', '--sample', 'prod-db-password'], { env: bare });
        expect(r.code, show(r)).toBe(1);
        expect(failedStep(r, 'list').fix).toBe('grant roles/secretmanager.viewer to the service account');
        expect(okStep(r, 'read'), show(r)).toBeDefined();
        expectNoSecrets(r, [...VALUES, sa.privateKey]);
      } finally {
        em.controls.allow();
      }
    });

    it('stores test: a key the service does not know fails list and read with exit 1', async () => {
      const stranger = JSON.parse(sa.json) as Record<string, string>;
      stranger.private_key_id = 'revoked-key-id';
      wd.file('revoked.json', JSON.stringify(stranger));
      wd.config(store({ method: 'service-account-json', file: './revoked.json' }));
      const r = await sesame(wd, ['stores', 'test', 'gcp', '--sample', 'prod-db-password'], { env: bare });
      expect(r.code, show(r)).toBe(1);
      // The key signs its own tokens, so authentication passes locally; the service refuses them.
      expect(okStep(r, 'authenticate'), show(r)).toBeDefined();
      expect(failedStep(r, 'list').detail).toContain('rejected the credentials');
      expect(failedStep(r, 'read').detail).toContain('rejected the credentials');
      expectNoSecrets(r, [...VALUES, sa.privateKey]);
    });
  });
});

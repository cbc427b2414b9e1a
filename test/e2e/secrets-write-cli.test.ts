/**
 * Writes through the CLI: `printf v | sesame secrets set NAME --store <store>` writes through to
 * AWS Secrets Manager, Vault, Azure Key Vault and GCP Secret Manager (their emulators), and
 * `sesame resolve` in a new process reads the value back. The write prints names and versions,
 * never the value. A read-only store refuses with exit 2. Needs `npm run build`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AzureKeyVaultEmulator, startAzureKeyVaultEmulator } from '../emulators/azure/index.js';
import { type GcpSecretManagerEmulator, startGcpSecretManagerEmulator } from '../emulators/gcp/index.js';
import { startHttpStoreEmulator, type HttpStoreEmulator } from '../emulators/http/index.js';
import {
  AWS_EMULATOR_CREDENTIALS,
  type AwsEmulator,
  startAwsEmulator,
  startVaultEmulator,
  type VaultEmulator,
} from '../emulators/index.js';
import { type CliResult, expectFailure, expectNoSecrets, expectValue, sesame, show, type Workdir, workdir } from './support.js';

const AZURE_APP = '5b1c2a4e-0000-4000-8000-00000000e2f1';
const AZURE_SECRET = 'azure-writer-secret-6d20ab';

describe('sesame secrets set through the CLI', () => {
  let aws: AwsEmulator;
  let vault: VaultEmulator;
  let azure: AzureKeyVaultEmulator;
  let gcp: GcpSecretManagerEmulator;
  let http: HttpStoreEmulator;
  let wd: Workdir;
  let env: Record<string, string>;

  beforeAll(async () => {
    [aws, vault, azure, gcp, http] = await Promise.all([
      startAwsEmulator(),
      startVaultEmulator(),
      startAzureKeyVaultEmulator(),
      startGcpSecretManagerEmulator(),
      startHttpStoreEmulator(),
    ]);
    azure.controls.registerApp({ clientId: AZURE_APP, secret: AZURE_SECRET });
    wd = workdir('secrets-write');
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const email = `writer@${gcp.controls.project}.iam.gserviceaccount.com`;
    gcp.controls.registerServiceAccount({ email, keyId: 'writer-key', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string });
    wd.file(
      'gcp-key.json',
      JSON.stringify({
        type: 'service_account',
        project_id: gcp.controls.project,
        private_key_id: 'writer-key',
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
        client_email: email,
      }),
    );
    env = {
      NODE_EXTRA_CA_CERTS: wd.file('azure-ca.pem', azure.ca),
      CLOUDSDK_CONFIG: wd.dir,
      METADATA_SERVER_DETECTION: 'none',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    wd.config({
      stores: [
        {
          name: 'aws',
          type: 'aws-secrets-manager',
          region: 'us-east-1',
          endpoint: aws.url,
          auth: { method: 'static', ...AWS_EMULATOR_CREDENTIALS },
          tags: { application: 'sesame' },
        },
        { name: 'vault', type: 'vault', address: vault.url, auth: { method: 'token', token: vault.rootToken } },
        {
          name: 'azure',
          type: 'azure-key-vault',
          vaultUrl: azure.url,
          authorityHost: azure.authorityHost,
          disableChallengeResourceVerification: true,
          auth: { method: 'client-secret', tenantId: azure.controls.tenantId, clientId: AZURE_APP, clientSecret: AZURE_SECRET },
        },
        {
          name: 'gcp',
          type: 'gcp-secret-manager',
          project: gcp.controls.project,
          apiEndpoint: gcp.url,
          auth: { method: 'service-account-json', file: './gcp-key.json' },
        },
        { name: 'custom', type: 'http', url: `${http.url}/v1/secrets/{+name}`, valuePath: '/data/value' },
      ],
    });
  });
  afterAll(async () => {
    await Promise.all([aws?.stop(), vault?.stop(), azure?.stop(), gcp?.stop(), http?.stop()]);
    wd?.remove();
  });

  /** `printf <value> | sesame secrets set <name> --store <store>`: exit 0, the value nowhere in the output. */
  async function set(store: string, name: string, value: string): Promise<CliResult> {
    const r = await sesame(wd, ['secrets', 'set', name, '--store', store], { env, input: value });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^wrote ${name.replace(/[/.]/g, '\\$&')} version \\S+ .*\\(store ${store}\\)\\n$`));
    expectNoSecrets(r, [value]);
    return r;
  }
  const resolve = (reference: string) => sesame(wd, ['resolve', reference], { env });

  it('aws: set creates the secret, a second set adds a version, resolve reads both', async () => {
    await set('aws', 'written/jira-token', 'aws-written-value-1a2b3c');
    expect(aws.secretNames()).toContain('written/jira-token');
    expectValue(await resolve('secret://aws/written/jira-token'), 'aws-written-value-1a2b3c');
    // Created with the store's default tags; the listing shows names and tags, never values.
    const listed = await sesame(wd, ['secrets', 'list', '--store', 'aws', '--prefix', 'written/', '--json'], { env });
    expect(listed.code, show(listed)).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ items: [{ name: 'written/jira-token', tags: { application: 'sesame' } }] });
    expectNoSecrets(listed, ['aws-written-value-1a2b3c']);
    const first = (await sesame(wd, ['secrets', 'versions', 'written/jira-token', '--store', 'aws', '--json'], { env })).stdout;
    const firstVersion = (JSON.parse(first) as { versions: Array<{ version: string }> }).versions[0]?.version as string;

    await set('aws', 'written/jira-token', 'aws-written-value-2d4e6f');
    expectValue(await resolve('secret://aws/written/jira-token'), 'aws-written-value-2d4e6f');
    expectValue(await resolve(`secret://aws/written/jira-token?version=${firstVersion}`), 'aws-written-value-1a2b3c');
    expectValue(await resolve('secret://aws/written/jira-token?stage=AWSPREVIOUS'), 'aws-written-value-1a2b3c');
  });

  it('vault: set writes the KV entry, resolve reads it back (text and JSON)', async () => {
    await set('vault', 'written/db', 'vault-written-value-7a8b9c');
    expect(vault.readSecret('written/db')).toEqual({ value: 'vault-written-value-7a8b9c' });
    expectValue(await resolve('secret://vault/written/db'), 'vault-written-value-7a8b9c');

    await set('vault', 'written/json', '{"password":"vault-json-pass-0d1e","user":"app"}');
    expect(vault.readSecret('written/json')).toEqual({ password: 'vault-json-pass-0d1e', user: 'app' });
    expectValue(await resolve('secret://vault/written/json#password'), 'vault-json-pass-0d1e');
    expectValue(await resolve('secret://vault/written/json?version=1#user'), 'app');
  });

  it('azure: set writes under the mapped Key Vault name, resolve reads it back', async () => {
    await set('azure', 'written/db_password', 'azure-written-value-3c4d5e');
    expect(azure.controls.names()).toContain('written--sdb--upassword');
    expectValue(await resolve('secret://azure/written/db_password'), 'azure-written-value-3c4d5e');
  });

  it('gcp: set creates the secret and its first version, resolve reads it back', async () => {
    await set('gcp', 'written-db-password', 'gcp-written-value-6f7a8b');
    expect(gcp.controls.secretIds()).toContain('written-db-password');
    expectValue(await resolve('secret://gcp/written-db-password'), 'gcp-written-value-6f7a8b');
    await set('gcp', 'written-db-password', 'gcp-written-value-9c0d1e');
    expectValue(await resolve('secret://gcp/written-db-password'), 'gcp-written-value-9c0d1e');
    expectValue(await resolve('secret://gcp/written-db-password?version=1'), 'gcp-written-value-6f7a8b');
  });

  it('a read-only store (http) refuses the write with exit 2 and says which stores can write', async () => {
    const r = await sesame(wd, ['secrets', 'set', 'written/x', '--store', 'custom'], { env, input: 'http-never-written-5e' });
    const line = expectFailure(r, 2, ['http-never-written-5e']);
    expect(line).toContain('store custom cannot write secrets');
    expect(http.controls.calls).toEqual({});
  });
});

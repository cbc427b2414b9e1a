/**
 * End to end, at the user's level: a `sesame.yaml` pointing a store at a local emulator, and the
 * real `sesame` bin. For AWS Secrets Manager and HashiCorp Vault: `sesame resolve` prints the
 * value with every auth method; `sesame stores test --sample` prints the fix for each permission
 * the emulator can deny and exits 1; a missing secret and a denied read exit 1 naming the
 * reference and what to grant. No failing command prints a secret value anywhere.
 *
 * Azure Key Vault, GCP Secret Manager and the custom http store have their own files
 * (azure-cli, gcp-cli, http-cli) so they run in parallel with this one.
 *
 * Needs `npm run build` (the bin runs dist/).
 */
import { describe, expect, it } from 'vitest';
import { withEmulator } from '../support/with-emulator.js';
import {
  AWS_EMULATOR_ACCOUNT,
  AWS_EMULATOR_CREDENTIALS,
  AWS_EMULATOR_USER_ARN,
  type AwsEmulator,
  startAwsEmulator,
  startVaultEmulator,
  type VaultEmulator,
} from '../emulators/index.js';
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

describe('aws-secrets-manager through the CLI', () => {
  const PROFILE_USER = {
    accessKeyId: 'AKIASESAMEPROFILE0001',
    secretAccessKey: 'profile/Emulator+Secret/Key000000000000001',
    userName: 'sesame-profile',
  };
  const ROLE_ARN = `arn:aws:iam::${AWS_EMULATOR_ACCOUNT}:role/sesame-reader`;
  const EXTERNAL_ROLE_ARN = `arn:aws:iam::${AWS_EMULATOR_ACCOUNT}:role/sesame-partner`;
  const EXTERNAL_ID = 'acme-partner-7f3e';
  const JIRA = JSON.stringify({ 'prod.jira.secret.key': 'jira-token-3b9f1c', user: 'svc-jira' });
  const DB = 'db-password-aws-51d0e7';
  const CREDENTIALS = [AWS_EMULATOR_CREDENTIALS.secretAccessKey, PROFILE_USER.secretAccessKey];
  const VALUES = ['jira-token-3b9f1c', DB];

  let aws: AwsEmulator;
  let wd: Workdir;
  /** The process environment of the default credential chain: the emulator's IAM user. */
  let chainEnv: Record<string, string>;

  const store = (auth: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    stores: [{ name: 'aws', type: 'aws-secrets-manager', region: 'us-east-1', endpoint: aws.url, auth, ...extra }],
  });
  /** No ambient credentials: nothing but what a test passes can authenticate. */
  const bare = () => ({
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SHARED_CREDENTIALS_FILE: wd.file('empty-credentials', ''),
    AWS_CONFIG_FILE: wd.file('empty-config', ''),
  });

  const startAws = () =>
    startAwsEmulator({
      users: [PROFILE_USER],
      roles: [{ arn: ROLE_ARN }, { arn: EXTERNAL_ROLE_ARN, externalId: EXTERNAL_ID }],
    });
  withEmulator('aws', startAws, (started, dir) => {
    aws = started;
    wd = dir;
    aws.seed('prod-jira-credentials', JIRA);
    aws.seed('prod/db/password', DB);
    chainEnv = {
      ...bare(),
      AWS_ACCESS_KEY_ID: AWS_EMULATOR_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: AWS_EMULATOR_CREDENTIALS.secretAccessKey,
    };
  });

  describe('resolve prints the value with each auth method', () => {
    it('default: the SDK chain finds AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY', async () => {
      wd.config(store({ method: 'default' }));
      const before = aws.calls.GetSecretValue ?? 0;
      expectValue(
        await sesame(wd, ['resolve', 'secret://aws/prod-jira-credentials#prod.jira.secret.key'], { env: chainEnv }),
        'jira-token-3b9f1c',
      );
      expect(aws.calls.GetSecretValue ?? 0).toBe(before + 1);
      const test = await sesame(wd, ['stores', 'test', 'aws'], { env: chainEnv });
      expect(okStep(test, 'authenticate'), show(test)).toContain(AWS_EMULATOR_USER_ARN);
    });

    it('default without any credentials fails with exit 1 and says where credentials come from', async () => {
      wd.config(store({ method: 'default' }));
      const r = await sesame(wd, ['resolve', 'secret://aws/prod/db/password'], { env: bare() });
      const line = expectFailure(r, 1, [...VALUES, ...CREDENTIALS]);
      expect(line).toContain('secret://aws/prod/db/password');
      expect(line).toContain('AWS_ACCESS_KEY_ID');
    });

    it('static: keys in the store settings, nothing in the environment', async () => {
      wd.config(store({ method: 'static', ...AWS_EMULATOR_CREDENTIALS }));
      expectValue(await sesame(wd, ['resolve', 'secret://aws/prod/db/password'], { env: bare() }), DB);
      const test = await sesame(wd, ['stores', 'test', 'aws'], { env: bare() });
      expect(okStep(test, 'authenticate'), show(test)).toContain(AWS_EMULATOR_USER_ARN);
      expectNoSecrets(test, [...VALUES, ...CREDENTIALS]);
    });

    it('static: the secret key may come from ${env:…} and the template form works too', async () => {
      wd.config(
        store({
          method: 'static',
          accessKeyId: AWS_EMULATOR_CREDENTIALS.accessKeyId,
          secretAccessKey: '${env:AWS_EMU_SECRET_KEY}',
        }),
      );
      expectValue(
        await sesame(wd, ['resolve', 'postgres://app:{{ secret://aws/prod/db/password }}@db:5432/app'], {
          env: { ...bare(), AWS_EMU_SECRET_KEY: AWS_EMULATOR_CREDENTIALS.secretAccessKey },
        }),
        `postgres://app:${DB}@db:5432/app`,
      );
    });

    it('assume-role: STS AssumeRole from the default chain, then reads as the role session', async () => {
      wd.config(store({ method: 'assume-role', roleArn: ROLE_ARN, sessionName: 'sesame-e2e' }));
      const assumed = aws.calls.AssumeRole ?? 0;
      expectValue(
        await sesame(wd, ['resolve', 'secret://aws/prod-jira-credentials#user'], { env: chainEnv }),
        'svc-jira',
      );
      expect(aws.calls.AssumeRole ?? 0).toBe(assumed + 1);
      const test = await sesame(wd, ['stores', 'test', 'aws'], { env: chainEnv });
      expect(okStep(test, 'authenticate'), show(test)).toContain(
        `arn:aws:sts::${AWS_EMULATOR_ACCOUNT}:assumed-role/sesame-reader/sesame-e2e`,
      );
    });

    it('assume-role with an external id and static source keys', async () => {
      wd.config(
        store({
          method: 'assume-role',
          roleArn: EXTERNAL_ROLE_ARN,
          externalId: EXTERNAL_ID,
          source: { method: 'static', ...AWS_EMULATOR_CREDENTIALS },
        }),
      );
      expectValue(await sesame(wd, ['resolve', 'secret://aws/prod/db/password'], { env: bare() }), DB);
    });

    it('assume-role with the wrong external id exits 1 and says to fix the trust policy', async () => {
      wd.config(
        store({
          method: 'assume-role',
          roleArn: EXTERNAL_ROLE_ARN,
          externalId: 'not-the-partner-id',
          source: { method: 'static', ...AWS_EMULATOR_CREDENTIALS },
        }),
      );
      const r = await sesame(wd, ['resolve', 'secret://aws/prod/db/password'], { env: bare() });
      const line = expectFailure(r, 1, [...VALUES, ...CREDENTIALS]);
      expect(line).toContain('sts:AssumeRole');
      expect(line).toContain('trust policy');
    });

    it('profile: a named profile of AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE', async () => {
      const credentials = wd.file(
        'aws-credentials',
        `[default]\naws_access_key_id = AKIANOTTHISONE000001\naws_secret_access_key = wrong\n\n[sesame-e2e]\naws_access_key_id = ${PROFILE_USER.accessKeyId}\naws_secret_access_key = ${PROFILE_USER.secretAccessKey}\n`,
      );
      const config = wd.file('aws-config', '[profile sesame-e2e]\nregion = us-east-1\n');
      wd.config(store({ method: 'profile', profile: 'sesame-e2e' }));
      const env = { AWS_EC2_METADATA_DISABLED: 'true', AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_CONFIG_FILE: config };
      expectValue(await sesame(wd, ['resolve', 'secret://aws/prod/db/password'], { env }), DB);
      const test = await sesame(wd, ['stores', 'test', 'aws'], { env });
      expect(okStep(test, 'authenticate'), show(test)).toContain(`user/${PROFILE_USER.userName}`);
    });
  });

  describe('failures', () => {
    const auth = () => ({ method: 'static', ...AWS_EMULATOR_CREDENTIALS });

    it('a missing secret exits 1 naming the reference, with nothing on stdout', async () => {
      wd.config(store(auth()));
      const r = await sesame(wd, ['resolve', 'secret://aws/prod/nope#password'], { env: bare() });
      const line = expectFailure(r, 1, [...VALUES, ...CREDENTIALS]);
      expect(line).toContain('secret://aws/prod/nope#password');
      expect(line).toContain('not found');
    });

    it('a missing key of an existing JSON secret exits 1 without quoting the secret', async () => {
      wd.config(store(auth()));
      const r = await sesame(wd, ['resolve', 'secret://aws/prod-jira-credentials#nope'], { env: bare() });
      const line = expectFailure(r, 1, [...VALUES, ...CREDENTIALS, 'svc-jira']);
      expect(line).toContain('secret://aws/prod-jira-credentials#nope');
    });

    it('a denied read exits 1 and names the permission to grant', async () => {
      wd.config(store(auth()));
      aws.deny('secretsmanager:GetSecretValue', { secret: 'prod/db/password' });
      try {
        const r = await sesame(wd, ['resolve', 'secret://aws/prod/db/password'], { env: bare() });
        const line = expectFailure(r, 1, [...VALUES, ...CREDENTIALS]);
        expect(line).toContain('secret://aws/prod/db/password');
        expect(line).toContain('grant secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:');
        expect(line).toContain(`to ${AWS_EMULATOR_USER_ARN}`);
      } finally {
        aws.allowAll();
      }
    });

    it('stores test: everything allowed is ready, exit 0, the sample value is not printed', async () => {
      wd.config(store(auth()));
      const r = await sesame(wd, ['stores', 'test', 'aws', '--sample', 'prod/db/password'], { env: bare() });
      expect(r.code, show(r)).toBe(0);
      for (const step of ['authenticate', 'list', 'read', 'batch']) expect(okStep(r, step), show(r)).toBeDefined();
      expect(r.stdout).toContain('store aws is ready');
      expectNoSecrets(r, [...VALUES, ...CREDENTIALS]);
    });

    it('stores test: GetSecretValue denied → FAIL read with the grant to make, exit 1', async () => {
      wd.config(store(auth()));
      aws.deny('secretsmanager:GetSecretValue');
      try {
        const r = await sesame(wd, ['stores', 'test', 'aws', '--sample', 'prod/db/password'], { env: bare() });
        expect(r.code, show(r)).toBe(1);
        const read = failedStep(r, 'read');
        expect(read.fix).toMatch(
          new RegExp(
            `^grant secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:${AWS_EMULATOR_ACCOUNT}:secret:prod/db/password-\\w{6} to ${AWS_EMULATOR_USER_ARN}$`,
          ),
        );
        expect(okStep(r, 'list'), show(r)).toBeDefined();
        expect(r.stdout).toContain('store aws has problems');
        expectNoSecrets(r, [...VALUES, ...CREDENTIALS]);
      } finally {
        aws.allowAll();
      }
    });

    it('stores test: ListSecrets denied → FAIL list with the grant to make, exit 1', async () => {
      wd.config(store(auth()));
      aws.deny('secretsmanager:ListSecrets');
      try {
        const r = await sesame(wd, ['stores', 'test', 'aws', '--sample', 'prod/db/password'], { env: bare() });
        expect(r.code, show(r)).toBe(1);
        expect(failedStep(r, 'list').fix).toBe(`grant secretsmanager:ListSecrets on * to ${AWS_EMULATOR_USER_ARN}`);
        expect(okStep(r, 'read'), show(r)).toBeDefined();
        expectNoSecrets(r, [...VALUES, ...CREDENTIALS]);
      } finally {
        aws.allowAll();
      }
    });

    it('stores test: BatchGetSecretValue denied is not a failure, but says what batching needs', async () => {
      wd.config(store(auth()));
      aws.deny('secretsmanager:BatchGetSecretValue');
      try {
        const r = await sesame(wd, ['stores', 'test', 'aws', '--sample', 'prod/db/password'], { env: bare() });
        expect(r.code, show(r)).toBe(0);
        expect(okStep(r, 'batch'), show(r)).toContain('grant secretsmanager:BatchGetSecretValue to batch');
      } finally {
        aws.allowAll();
      }
    });

    it('stores test: bad credentials stop at authenticate, exit 1, without echoing the key', async () => {
      const wrong = 'wrong/Secret+Key/000000000000000000000000';
      wd.config(store({ method: 'static', accessKeyId: AWS_EMULATOR_CREDENTIALS.accessKeyId, secretAccessKey: wrong }));
      const r = await sesame(wd, ['stores', 'test', 'aws', '--sample', 'prod/db/password'], { env: bare() });
      expect(r.code, show(r)).toBe(1);
      expect(failedStep(r, 'authenticate').fix).toContain('check the store credentials');
      expectNoSecrets(r, [...VALUES, ...CREDENTIALS, wrong]);
    });
  });
});

describe('vault through the CLI', () => {
  const DB = JSON.stringify({ password: 'vault-db-pass-8c21f0', username: 'app' });
  const PLAIN = 'vault-plain-value-6e4d2a';
  const USER_PASSWORD = 'john-password-7c1e9a';
  const SECRET_ID = 'secret-id-5678-abcd-e2e';
  const VALUES = ['vault-db-pass-8c21f0', PLAIN];
  const CREDENTIALS = [USER_PASSWORD, SECRET_ID];

  let vault: VaultEmulator;
  let wd: Workdir;
  let readerToken: string;
  let listOnlyToken: string;
  let readOnlyToken: string;

  const store = (auth: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    stores: [{ name: 'vault', type: 'vault', address: vault.url, auth, ...extra }],
  });

  const startVault = () =>
    startVaultEmulator({
      policies: {
        reader: [
          { path: 'secret/data/app/*', capabilities: ['read'] },
          { path: 'secret/metadata/*', capabilities: ['list'] },
        ],
        'list-only': [{ path: 'secret/metadata/*', capabilities: ['list'] }],
        'read-only': [{ path: 'secret/data/app/*', capabilities: ['read'] }],
      },
      users: { john: { password: USER_PASSWORD, policies: ['reader'] } },
      approles: { ci: { roleId: 'role-id-ci-1234', secretId: SECRET_ID, policies: ['reader'] } },
    });
  withEmulator('vault', startVault, (started, dir) => {
    vault = started;
    wd = dir;
    vault.writeSecret('app/db', JSON.parse(DB) as Record<string, unknown>);
    vault.writeSecret('app/plain', { value: PLAIN });
    readerToken = vault.issueToken({ policies: ['reader'] });
    listOnlyToken = vault.issueToken({ policies: ['list-only'] });
    readOnlyToken = vault.issueToken({ policies: ['read-only'] });
  });

  describe('resolve prints the value with each auth method', () => {
    it('token', async () => {
      wd.config(store({ method: 'token', token: readerToken }));
      expectValue(await sesame(wd, ['resolve', 'secret://vault/app/db#password']), 'vault-db-pass-8c21f0');
      expectValue(await sesame(wd, ['resolve', 'secret://vault/app/plain']), PLAIN);
    });

    it('token from ${env:VAULT_TOKEN}', async () => {
      wd.config(store({ method: 'token', token: '${env:VAULT_TOKEN}' }));
      expectValue(
        await sesame(wd, ['resolve', 'secret://vault/app/db#username'], { env: { VAULT_TOKEN: readerToken } }),
        'app',
      );
    });

    it('userpass: logs in, then reads', async () => {
      wd.config(store({ method: 'userpass', username: 'john', password: USER_PASSWORD }));
      const logins = vault.calls['login:userpass'] ?? 0;
      expectValue(await sesame(wd, ['resolve', 'secret://vault/app/db#password']), 'vault-db-pass-8c21f0');
      expect(vault.calls['login:userpass'] ?? 0).toBe(logins + 1);
    });

    it('approle: logs in with role id and secret id, then reads', async () => {
      wd.config(store({ method: 'approle', roleId: 'role-id-ci-1234', secretId: SECRET_ID }));
      const logins = vault.calls['login:approle'] ?? 0;
      expectValue(await sesame(wd, ['resolve', 'secret://vault/app/plain']), PLAIN);
      expect(vault.calls['login:approle'] ?? 0).toBe(logins + 1);
    });

    it('a wrong userpass password exits 1 without echoing it', async () => {
      const wrong = 'not-johns-password-0a1';
      wd.config(store({ method: 'userpass', username: 'john', password: wrong }));
      const r = await sesame(wd, ['resolve', 'secret://vault/app/plain']);
      const line = expectFailure(r, 1, [...VALUES, ...CREDENTIALS, wrong]);
      expect(line).toContain('secret://vault/app/plain');
    });
  });

  describe('failures', () => {
    it('a missing secret exits 1 naming the reference', async () => {
      wd.config(store({ method: 'token', token: readerToken }));
      const r = await sesame(wd, ['resolve', 'secret://vault/app/nope#password']);
      const line = expectFailure(r, 1, [...VALUES, readerToken]);
      expect(line).toContain('secret://vault/app/nope#password');
      expect(line).toContain('not found');
    });

    it('a denied read exits 1 and names the policy to add', async () => {
      wd.config(store({ method: 'token', token: listOnlyToken }));
      const r = await sesame(wd, ['resolve', 'secret://vault/app/db#password']);
      const line = expectFailure(r, 1, [...VALUES, listOnlyToken]);
      expect(line).toContain('secret://vault/app/db#password');
      expect(line).toContain('path "secret/data/app/db" { capabilities = ["read"] }');
    });

    it('stores test: everything allowed is ready, exit 0, no value printed', async () => {
      wd.config(store({ method: 'token', token: readerToken }));
      const r = await sesame(wd, ['stores', 'test', 'vault', '--sample', 'app/db']);
      expect(r.code, show(r)).toBe(0);
      for (const step of ['authenticate', 'mount', 'capability list', 'capability read', 'read']) {
        expect(okStep(r, step), show(r)).toBeDefined();
      }
      expectNoSecrets(r, [...VALUES, readerToken]);
    });

    it('stores test: read denied → FAIL capability read and FAIL read with the policy line, exit 1', async () => {
      wd.config(store({ method: 'token', token: listOnlyToken }));
      const r = await sesame(wd, ['stores', 'test', 'vault', '--sample', 'app/db']);
      expect(r.code, show(r)).toBe(1);
      expect(failedStep(r, 'capability read').fix).toBe(
        'add to a policy of the token: path "secret/data/app/db" { capabilities = ["read"] }',
      );
      expect(failedStep(r, 'read').fix).toBe(
        'grant "read" on secret/data/app/db — policy: path "secret/data/app/db" { capabilities = ["read"] }',
      );
      expect(okStep(r, 'capability list'), show(r)).toBeDefined();
      expectNoSecrets(r, [...VALUES, listOnlyToken]);
    });

    it('stores test: list denied → FAIL capability list with the policy line, exit 1', async () => {
      wd.config(store({ method: 'token', token: readOnlyToken }));
      const r = await sesame(wd, ['stores', 'test', 'vault', '--sample', 'app/db']);
      expect(r.code, show(r)).toBe(1);
      expect(failedStep(r, 'capability list').fix).toBe(
        'add to a policy of the token: path "secret/metadata/*" { capabilities = ["list"] }',
      );
      expect(okStep(r, 'read'), show(r)).toBeDefined();
      expectNoSecrets(r, [...VALUES, readOnlyToken]);
    });

    it('stores test: an expired token stops at authenticate, exit 1', async () => {
      const token = vault.issueToken({ policies: ['reader'] });
      vault.expireToken(token);
      wd.config(store({ method: 'token', token }));
      const r = await sesame(wd, ['stores', 'test', 'vault', '--sample', 'app/db']);
      expect(r.code, show(r)).toBe(1);
      expect(failedStep(r, 'authenticate').fix).toBe('set a valid, unexpired token in auth.token');
      expectNoSecrets(r, [...VALUES, token]);
    });
  });
});

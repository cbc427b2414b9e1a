/**
 * The aws-secrets-manager store through the real SDK against the local emulator (JSON 1.1 +
 * SigV4 + STS): the shared contract, every auth method, every mapped error, and batching.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  InvalidRequestError,
  ValueTooLargeError,
  SecretNotFoundError,
  SecretStateError,
  StoreThrottledError,
  StoreUnavailableError,
  UsageError,
} from '../../src/errors.js';
import { AWS_SCRUB, classifyAws } from '../../src/stores/aws/errors.js';
import { scrubber, tokenCursor } from '../../src/stores/core/index.js';
import { AwsSecretsManagerStore, awsSecretsManagerStoreType } from '../../src/stores/aws/index.js';
import type { FetchedSecret, StoreContext } from '../../src/stores/contract.js';
import {
  AWS_EMULATOR_CREDENTIALS,
  AWS_EMULATOR_USER_ARN,
  type AwsEmulator,
  type DenyingPolicy,
  startAwsEmulator,
} from '../emulators/aws/index.js';
import { runStoreContract, runStoreFaultContract } from './contract.js';

const ns = [''] as const;
const text = (s: FetchedSecret | Error) => {
  if (s instanceof Error) throw s;
  return typeof s.value === 'string' ? s.value : Buffer.from(s.value).toString('utf8');
};

function recordingContext(storeName = 'aws-test') {
  const warnings: string[] = [];
  const context: StoreContext = {
    storeName,
    namespace: '',
    services: {},
    log: { debug() {}, info() {}, warn: (msg) => warnings.push(msg) },
  };
  return { context, warnings };
}

/** Resolve to the rejection of `p`; fail the test if it resolves. */
async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a failure, got a value');
    },
    (e: unknown) => e as Error,
  );
}

const fastRetry = { baseDelayMs: 1, maxDelayMs: 2 };
const staticAuth = {
  method: 'static' as const,
  accessKeyId: AWS_EMULATOR_CREDENTIALS.accessKeyId,
  secretAccessKey: AWS_EMULATOR_CREDENTIALS.secretAccessKey,
};

let aws: AwsEmulator;
let counter = 0;
const unique = (base: string) => `${base}-${process.pid}-${++counter}`;

function store(overrides: Record<string, unknown> = {}, storeName = 'aws-test') {
  const settings = awsSecretsManagerStoreType.settings.parse({
    region: 'us-east-1',
    endpoint: aws.url,
    auth: staticAuth,
    ...overrides,
  });
  const { context, warnings } = recordingContext(storeName);
  return { client: new AwsSecretsManagerStore(settings, context, { retry: fastRetry }), warnings };
}

beforeAll(async () => {
  aws = await startAwsEmulator();
});
afterAll(async () => {
  await aws?.stop();
});
afterEach(() => {
  aws.allowAll();
});

const awsHarness = async () => ({
  client: store({ prefix: 'contract/' }).client,
  seed: async (name: string, value: string) => void aws.seed(`contract/${name}`, value),
  seedBinary: async (name: string, value: Uint8Array) => void aws.seed(`contract/${name}`, value),
  faults: aws.faults,
  settings: { region: 'us-east-1', endpoint: aws.url, auth: staticAuth, prefix: 'contract/' },
  prefixed: { prefix: 'pfx/', client: store({ prefix: 'contract/pfx/' }).client },
});
const awsContract = {
  label: 'aws-secrets-manager (emulator)',
  storeType: awsSecretsManagerStoreType as never,
  binary: true,
  harness: awsHarness,
};
runStoreContract(awsContract);
runStoreFaultContract(awsContract);

describe('aws-secrets-manager settings', () => {
  it('is strict and knows every auth method', () => {
    const parse = (v: unknown) => awsSecretsManagerStoreType.settings.safeParse(v);
    expect(parse({ region: 'us-east-1', auth: { method: 'default' } }).success).toBe(true);
    expect(parse({ region: 'us-east-1', auth: { method: 'profile', profile: 'prod' } }).success).toBe(true);
    expect(
      parse({
        region: 'us-east-1',
        auth: { method: 'assume-role', roleArn: 'arn:aws:iam::123456789012:role/r', externalId: 'ext-1' },
      }).success,
    ).toBe(true);
    expect(parse({ region: 'us-east-1', auth: { method: 'static', accessKeyId: 'AKIA' } }).success).toBe(
      false,
    );
    expect(
      parse({ region: 'us-east-1', auth: { method: 'assume-role', roleArn: 'not-an-arn' } }).success,
    ).toBe(false);
    expect(parse({ region: 'us-east-1', auth: { method: 'default', extra: 1 } }).success).toBe(false);
    expect(parse({ region: 'us-east-1', endpoint: 'ftp://x' }).success).toBe(false);
  });

  it('defaults auth to the SDK chain and names its credential settings', () => {
    const parsed = awsSecretsManagerStoreType.settings.parse({ region: 'eu-west-1' });
    expect(parsed).toEqual({ region: 'eu-west-1', auth: { method: 'default' }, prefix: '', tags: {} });
    expect(awsSecretsManagerStoreType.secretSettings).toEqual(
      expect.arrayContaining(['auth.secretAccessKey', 'auth.sessionToken']),
    );
  });

  it('needs a region from settings or the environment', () => {
    const settings = awsSecretsManagerStoreType.settings.parse({});
    const { context } = recordingContext();
    expect(() => new AwsSecretsManagerStore(settings, context, { env: {} })).toThrow(UsageError);
    expect(
      () => new AwsSecretsManagerStore(settings, context, { env: { AWS_REGION: 'eu-central-1' } }),
    ).not.toThrow();
  });

  it("names its endpoints and the server's own identity or profile as host access", () => {
    const access = (v: unknown) =>
      awsSecretsManagerStoreType.hostAccess(awsSecretsManagerStoreType.settings.parse(v));
    const ambient = {
      kind: 'identity',
      detail:
        "uses this server's own AWS credentials (environment, shared files, instance or container role)",
    };
    const keys = { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret-key-1234' };
    const roleArn = 'arn:aws:iam::123456789012:role/r';
    expect(access({ region: 'us-east-1' })).toEqual([ambient]);
    expect(
      access({
        endpoint: 'http://127.0.0.1:4566',
        stsEndpoint: 'http://127.0.0.1:4567',
        auth: { method: 'static', ...keys },
      }),
    ).toEqual([
      { kind: 'address', setting: 'endpoint', url: 'http://127.0.0.1:4566' },
      { kind: 'address', setting: 'stsEndpoint', url: 'http://127.0.0.1:4567' },
    ]);
    expect(access({ auth: { method: 'assume-role', roleArn } })).toEqual([ambient]);
    expect(
      access({ auth: { method: 'assume-role', roleArn, source: { method: 'static', ...keys } } }),
    ).toEqual([]);
    expect(access({ auth: { method: 'profile', profile: 'prod' } })).toEqual([
      { kind: 'identity', detail: "reads profile prod from this server's shared AWS config files" },
    ]);
  });
});

describe('aws-secrets-manager auth methods', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_SHARED_CREDENTIALS_FILE',
      'AWS_CONFIG_FILE',
      'AWS_PROFILE',
    ]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it('default: signs with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment', async () => {
    const name = unique('auth-default');
    aws.seed(name, 'from-env-creds');
    process.env.AWS_ACCESS_KEY_ID = AWS_EMULATOR_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = AWS_EMULATOR_CREDENTIALS.secretAccessKey;
    const { client } = store({ auth: { method: 'default' } });
    expect(text(await client.get({ name, namespaces: ns }))).toBe('from-env-creds');
    await client.close();
  });

  it('default: a wrong secret key in the environment is a signature error that does not echo the key', async () => {
    process.env.AWS_ACCESS_KEY_ID = AWS_EMULATOR_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = 'wrong-secret-key-value-123';
    const { client } = store({ auth: { method: 'default' } });
    const err = await failure(client.get({ name: 'anything', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toMatch(/^\[aws-test\] AWS rejected the request signature/);
    expect(err.message).not.toContain('wrong-secret-key-value-123');
  });

  it('static: rejects an unknown access key with what to check', async () => {
    const { client } = store({
      auth: { method: 'static', accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'whatever-secret' },
    });
    const err = await failure(client.get({ name: 'anything', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toContain('does not recognise the credentials');
    expect(err.message).not.toContain('AKIAUNKNOWNKEY000000');
    expect(err.message).not.toContain('whatever-secret');
  });

  it('assume-role: calls STS AssumeRole once and reads with the temporary credentials', async () => {
    const name = unique('auth-role');
    aws.seed(name, 'via-role');
    aws.resetCalls();
    const before = aws.sessions().length;
    const { client } = store({
      auth: {
        method: 'assume-role',
        roleArn: 'arn:aws:iam::123456789012:role/sesame-reader',
        sessionName: 'sesame-test',
        source: staticAuth,
      },
    });
    expect(text(await client.get({ name, namespaces: ns }))).toBe('via-role');
    expect(text(await client.get({ name, namespaces: ns }))).toBe('via-role');
    expect(aws.calls.AssumeRole).toBe(1);
    expect(aws.sessions().length).toBe(before + 1);
    const report = await client.check({ namespaces: ns });
    expect(report.steps[0]?.detail).toContain('assumed-role/sesame-reader/sesame-test');
    await client.close();
  });

  it('assume-role: expired session credentials are replaced by a new AssumeRole, then the call is retried', async () => {
    const name = unique('auth-role-expired');
    aws.seed(name, 'still-readable');
    const { client } = store({
      auth: {
        method: 'assume-role',
        roleArn: 'arn:aws:iam::123456789012:role/sesame-reader',
        source: staticAuth,
      },
    });
    expect(text(await client.get({ name, namespaces: ns }))).toBe('still-readable');
    aws.resetCalls();
    aws.expireSessions();
    expect(text(await client.get({ name, namespaces: ns }))).toBe('still-readable');
    expect(aws.calls.AssumeRole).toBe(1);
    expect(aws.calls.GetSecretValue).toBe(2);
    await client.close();
  });

  it('assume-role: the source credentials default to the SDK chain (environment here)', async () => {
    const name = unique('auth-role-env');
    aws.seed(name, 'via-role-from-env');
    process.env.AWS_ACCESS_KEY_ID = AWS_EMULATOR_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = AWS_EMULATOR_CREDENTIALS.secretAccessKey;
    const { client } = store({
      auth: { method: 'assume-role', roleArn: 'arn:aws:iam::123456789012:role/sesame-reader' },
    });
    expect(text(await client.get({ name, namespaces: ns }))).toBe('via-role-from-env');
    const report = await client.check({ namespaces: ns });
    expect(report.steps[0]?.detail).toContain('assumed-role/sesame-reader/sesame-aws-test');
    await client.close();
  });

  it('static: expired session credentials are AccessDeniedError saying to refresh them (no retry possible)', async () => {
    const sts = new STSClient({
      region: 'us-east-1',
      endpoint: aws.url,
      credentials: AWS_EMULATOR_CREDENTIALS,
      maxAttempts: 1,
    });
    const { Credentials: c } = await sts.send(
      new AssumeRoleCommand({
        RoleArn: 'arn:aws:iam::123456789012:role/sesame-reader',
        RoleSessionName: 'static-session',
      }),
    );
    sts.destroy();
    const session = {
      accessKeyId: c!.AccessKeyId!,
      secretAccessKey: c!.SecretAccessKey!,
      sessionToken: c!.SessionToken!,
    };
    const { client } = store({ auth: { method: 'static', ...session } });
    await expect(client.list({ namespaces: ns, limit: 1 })).resolves.toBeDefined();
    aws.expireSessions();
    aws.resetCalls();
    const err = await failure(client.list({ namespaces: ns, limit: 1 }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toMatch(
      /^\[aws-test\] AWS credentials expired: the session credentials expired: refresh them/,
    );
    expect(aws.calls.ListSecrets).toBe(1);
    for (const secret of [session.secretAccessKey, session.sessionToken, session.accessKeyId])
      expect(err.message).not.toContain(secret);
  });

  it('assume-role: STS not activated in the region (RegionDisabledException) says so and how to fix it, not that Secrets Manager is unreachable', async () => {
    const off = await startAwsEmulator({ stsRegionDisabled: true });
    try {
      const settings = awsSecretsManagerStoreType.settings.parse({
        region: 'us-east-1',
        endpoint: off.url,
        auth: {
          method: 'assume-role',
          roleArn: 'arn:aws:iam::123456789012:role/sesame-reader',
          source: staticAuth,
        },
      });
      const client = new AwsSecretsManagerStore(settings, recordingContext().context, { retry: fastRetry });
      const err = await failure(client.get({ name: 'x', namespaces: ns }));
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect(err.message).toBe(
        '[aws-test] STS is not activated in us-east-1 for the account asked for the role credentials: an account administrator activates it (IAM console, Account settings), or set stsEndpoint to the STS endpoint of a region where it is active',
      );
      expect(off.calls.AssumeRole).toBe(1);
    } finally {
      await off.stop();
    }
  });

  it('assume-role: a wrong ExternalId is access denied naming sts:AssumeRole and the role', async () => {
    const roleAws = await startAwsEmulator({
      roles: [{ arn: 'arn:aws:iam::123456789012:role/guarded', externalId: 'right-id' }],
    });
    try {
      const settings = awsSecretsManagerStoreType.settings.parse({
        region: 'us-east-1',
        endpoint: roleAws.url,
        auth: {
          method: 'assume-role',
          roleArn: 'arn:aws:iam::123456789012:role/guarded',
          externalId: 'wrong-id',
          source: staticAuth,
        },
      });
      const client = new AwsSecretsManagerStore(settings, recordingContext().context, { retry: fastRetry });
      const err = await failure(client.get({ name: 'x', namespaces: ns }));
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect(err.message).toContain('grant sts:AssumeRole on arn:aws:iam::123456789012:role/guarded');
      expect(err.message).toContain(AWS_EMULATOR_USER_ARN);
    } finally {
      await roleAws.stop();
    }
  });

  it('profile: reads keys from AWS_SHARED_CREDENTIALS_FILE for the named profile', async () => {
    const name = unique('auth-profile');
    aws.seed(name, 'via-profile');
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-aws-'));
    const profile = `sesame-${process.pid}-${counter}`;
    writeFileSync(
      path.join(dir, 'credentials'),
      `[${profile}]\naws_access_key_id = ${AWS_EMULATOR_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${AWS_EMULATOR_CREDENTIALS.secretAccessKey}\n`,
    );
    writeFileSync(path.join(dir, 'config'), `[profile ${profile}]\nregion = us-east-1\n`);
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'credentials');
    process.env.AWS_CONFIG_FILE = path.join(dir, 'config');
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    const { client } = store({ auth: { method: 'profile', profile } });
    expect(text(await client.get({ name, namespaces: ns }))).toBe('via-profile');
    const missing = store({ auth: { method: 'profile', profile: `${profile}-absent` } }).client;
    const err = await failure(missing.get({ name, namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    // The store names a profile: the fix is that profile, not "set a profile".
    expect((err as AccessDeniedError).fix).toBe(
      `add profile ${profile}-absent to the shared AWS files (AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, default ~/.aws/credentials and ~/.aws/config), or correct auth.profile`,
    );
    expect(err.message).toBe(
      `[aws-test] AWS profile ${profile}-absent was not found: ${(err as AccessDeniedError).fix}`,
    );
  });
});

describe('aws-secrets-manager reads', () => {
  it('pins VersionId and VersionStage, and serves SecretBinary as bytes', async () => {
    const name = unique('pinned');
    const v1 = aws.seed(name, 'first');
    aws.seed(name, 'second');
    const { client } = store();
    expect(text(await client.get({ name, namespaces: ns }))).toBe('second');
    expect(await client.get({ name, version: v1, namespaces: ns })).toEqual({ value: 'first', version: v1 });
    expect(text(await client.get({ name, stage: 'AWSPREVIOUS', namespaces: ns }))).toBe('first');
    const err = await failure(client.get({ name, stage: 'AWSPENDING', namespaces: ns }));
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect(err.message).toBe(`[aws-test] secret "${name}" has no version labelled AWSPENDING`);
    expect((err as SecretNotFoundError).fix).toBe(
      `pin a label the secret has (\`sesame secrets versions ${name}\` lists them), or leave ?stage= out for the current value`,
    );

    const bin = unique('binary');
    aws.seed(bin, new Uint8Array([0, 1, 2, 255]));
    const got = await client.get({ name: bin, namespaces: ns });
    expect(got.value).toBeInstanceOf(Uint8Array);
    expect([...(got.value as Uint8Array)]).toEqual([0, 1, 2, 255]);
  });

  it('a missing version of an existing secret says so and how to list versions; a pinned read of a missing secret says the secret is missing', async () => {
    const name = unique('versioned');
    aws.seed(name, 'only');
    const { client } = store();
    const absentVersion = '00000000-0000-4000-8000-000000000000';
    const noVersion = await failure(client.get({ name, version: absentVersion, namespaces: ns }));
    expect(noVersion).toBeInstanceOf(SecretNotFoundError);
    expect(noVersion.message).toBe(
      `[aws-test] secret "${name}" has no version ${absentVersion} in us-east-1`,
    );
    expect((noVersion as SecretNotFoundError).fix).toBe(
      `pin a version the secret has (\`sesame secrets versions ${name}\` lists them), or leave ?version= out for the latest`,
    );
    // AWS answers "can't find the specified secret." when the secret itself is missing, version or not.
    const missing = unique('never-created');
    const noSecret = await failure(client.get({ name: missing, version: absentVersion, namespaces: ns }));
    expect(noSecret).toBeInstanceOf(SecretNotFoundError);
    expect(noSecret.message).toBe(`[aws-test] secret "${missing}" not found in us-east-1`);
    expect((noSecret as SecretNotFoundError).fix).toBe(
      'create the secret, or check the name, the region and the store prefix',
    );
    const noSecretStage = await failure(client.get({ name: missing, stage: 'AWSPREVIOUS', namespaces: ns }));
    expect(noSecretStage.message).toBe(`[aws-test] secret "${missing}" not found in us-east-1`);
    // CreateSecret without a value makes a secret with no version at all.
    const empty = unique('empty');
    const sdk = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: aws.url,
      credentials: { ...AWS_EMULATOR_CREDENTIALS },
    });
    await sdk.send(new CreateSecretCommand({ Name: empty }));
    sdk.destroy();
    const noValue = await failure(client.get({ name: empty, namespaces: ns }));
    expect(noValue).toBeInstanceOf(SecretNotFoundError);
    expect(noValue.message).toBe(
      `[aws-test] secret "${empty}" has no current value (no version labelled AWSCURRENT)`,
    );
    expect((noValue as SecretNotFoundError).fix).toBe(
      `write one with \`sesame secrets set ${empty}\`, or pin a version with ?version=`,
    );
  });

  it('reads by full or partial ARN without applying the prefix', async () => {
    const name = unique('by-arn');
    aws.seed(name, 'arn-value');
    const { client } = store({ prefix: 'ignored/' });
    const partialArn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}`;
    const got = await client.get({ name: partialArn, namespaces: ns });
    expect(text(got)).toBe('arn-value');
    const [viaBatch] = await client.getMany([
      { name: partialArn, namespaces: ns },
      { name: 'absent', namespaces: ns },
    ]);
    expect(text(viaBatch as FetchedSecret)).toBe('arn-value');
    await expect(client.get({ name, namespaces: ns })).rejects.toBeInstanceOf(SecretNotFoundError);
  });
});

describe('aws-secrets-manager errors', () => {
  it('ResourceNotFoundException → SecretNotFoundError naming the secret and region', async () => {
    const { client } = store();
    const err = await failure(client.get({ name: 'no/such/secret', namespaces: ns }));
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect(err.message).toBe('[aws-test] secret "no/such/secret" not found in us-east-1');
  });

  it('AccessDeniedException → AccessDeniedError naming the IAM action, the resource and the principal', async () => {
    const name = unique('denied');
    aws.seed(name, 'top-secret-denied-value');
    aws.deny('secretsmanager:GetSecretValue', { secret: name });
    const { client } = store();
    const err = await failure(client.get({ name, namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toMatch(
      new RegExp(
        `^\\[aws-test\\] access denied: grant secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-\\w{6} to ${AWS_EMULATOR_USER_ARN}$`,
      ),
    );
    expect(err.message).not.toContain('top-secret-denied-value');
  });

  it('DecryptionFailure → AccessDeniedError about kms:Decrypt on the secret key', async () => {
    const name = unique('kms');
    aws.seed(name, 'encrypted-value');
    aws.failDecryption(name);
    const err = await failure(store().client.get({ name, namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toContain(`could not decrypt secret "${name}" with its KMS key: grant kms:Decrypt`);
  });

  it('AccessDeniedException names the policy that refuses: a Deny statement is to be removed, a boundary, SCP, resource or endpoint policy to be changed, not an IAM grant', async () => {
    const name = unique('policy-denied');
    aws.seed(name, 'policy-guarded-value');
    const { client } = store();
    const action = 'secretsmanager:GetSecretValue';
    const fixFor = async (policy: DenyingPolicy, explicit: boolean) => {
      aws.allowAll();
      aws.deny(action, { secret: name, policy, explicit });
      const err = await failure(client.get({ name, namespaces: ns }));
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect(err.message).not.toContain('policy-guarded-value');
      expect(err.message).toBe(`[aws-test] access denied: ${(err as AccessDeniedError).fix}`);
      return ((err as AccessDeniedError).fix ?? '').replace(/secret:[^ ]+-\w{6}/, 'secret:<arn>');
    };
    const on = `${action} on arn:aws:secretsmanager:us-east-1:123456789012:secret:<arn>`;
    const to = `to ${AWS_EMULATOR_USER_ARN}`;
    expect(await fixFor('identity-based policy', false)).toBe(`grant ${on} ${to}`);
    expect(await fixFor('identity-based policy', true)).toBe(
      `a Deny statement in an identity-based policy refuses ${on} ${to}: remove or narrow it (an Allow does not override a Deny)`,
    );
    expect(await fixFor('resource-based policy', true)).toBe(
      `a Deny statement in the secret's resource policy refuses ${on} ${to}: remove or narrow it (an Allow does not override a Deny)`,
    );
    expect(await fixFor('service control policy', true)).toBe(
      `a Deny statement in a service control policy of the AWS Organization refuses ${on} ${to}: ask the organization's administrators to remove or narrow it (an Allow does not override a Deny)`,
    );
    expect(await fixFor('resource-based policy', false)).toBe(
      `the secret's resource policy does not allow ${on} ${to} (a caller of another account needs it there as well as in its own IAM policy): allow it there`,
    );
    expect(await fixFor('permissions boundary', false)).toBe(
      `the permissions boundary of the caller does not allow ${on} ${to}: allow it in the boundary too (an IAM policy alone is not enough)`,
    );
    expect(await fixFor('service control policy', false)).toBe(
      `no service control policy of the AWS Organization allows ${on} ${to}: ask the organization's administrators to allow it`,
    );
    expect(await fixFor('session policy', false)).toBe(
      `the session policy of these credentials does not allow ${on} ${to}: start the session without it, or with one that allows it`,
    );
    expect(await fixFor('VPC endpoint policy', false)).toBe(
      `the VPC endpoint policy does not allow ${on} ${to}: allow it in the policy of the Secrets Manager VPC endpoint`,
    );
    aws.allowAll();
  });

  it('"Access to KMS is not allowed" → AccessDeniedError naming the KMS permission, not the Secrets Manager action the caller already has', async () => {
    const name = unique('cmk');
    aws.seed(name, 'cmk-encrypted-value');
    aws.denyKms(name);
    const { client } = store();
    const read = await failure(client.get({ name, namespaces: ns }));
    expect(read).toBeInstanceOf(AccessDeniedError);
    expect(read.message).toBe(
      `[aws-test] access denied by KMS for secret "${name}": grant kms:Decrypt on the secret's KMS key to the caller (in its IAM policy and, for a key of another account, in the key policy)`,
    );
    const [batched] = await client.getMany([{ name, namespaces: ns }]);
    expect((batched as Error).message).toBe(read.message);
    const write = await failure(client.write(name, 'new-value', { namespace: '' }));
    expect(write).toBeInstanceOf(AccessDeniedError);
    expect(write.message).toBe(
      `[aws-test] access denied by KMS for secret "${name}": grant kms:GenerateDataKey and kms:Decrypt on the secret's KMS key to the caller (in its IAM policy and, for a key of another account, in the key policy)`,
    );
  });

  it('a secret scheduled for deletion reads as not found and says how to restore it; writes are a state error', async () => {
    const name = unique('scheduled');
    aws.seed(name, 'bye');
    const { client } = store();
    await client.delete(name, { namespace: '' });
    const read = await failure(client.get({ name, namespaces: ns }));
    expect(read).toBeInstanceOf(SecretNotFoundError);
    expect(read.message).toBe(
      `[aws-test] secret "${name}" is scheduled for deletion: restore it with \`sesame secrets restore ${name}\`, or \`aws secretsmanager restore-secret --secret-id ${name}\``,
    );
    const write = await failure(client.write(name, 'again', { namespace: '' }));
    expect(write).toBeInstanceOf(SecretStateError);
    expect(write.message).toContain('is scheduled for deletion');
    await client.restore(name, { namespace: '' });
    expect(text(await client.get({ name, namespaces: ns }))).toBe('bye');
  });

  it('retries ThrottlingException with backoff and then succeeds', async () => {
    const name = unique('throttled');
    aws.seed(name, 'patient');
    aws.resetCalls();
    aws.throttle('GetSecretValue', 2);
    expect(text(await store().client.get({ name, namespaces: ns }))).toBe('patient');
    expect(aws.calls.GetSecretValue).toBe(3);
  });

  it('gives up after the retry budget: StoreUnavailableError for throttling, 500s and dropped connections', async () => {
    const name = unique('down');
    aws.seed(name, 'unreachable');
    const { client } = store();
    for (const [inject, throttled] of [
      [() => aws.throttle('GetSecretValue', 3), true],
      [() => aws.fail500('GetSecretValue', 3), false],
      [() => aws.dropConnection('GetSecretValue', 3), false],
    ] as const) {
      aws.resetCalls();
      inject();
      const err = await failure(client.get({ name, namespaces: ns }));
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toMatch(
        /^\[aws-test\] Secrets Manager call secretsmanager:GetSecretValue(:| failed).* \(after 3 attempts\)$/,
      );
      expect(aws.calls.GetSecretValue).toBe(3);
      // Secrets Manager's request rates are fixed per account and region (quotas: not adjustable).
      expect(err instanceof StoreThrottledError).toBe(throttled);
      if (throttled)
        expect((err as StoreThrottledError).fix).toBe(
          "spread the calls over time (Secrets Manager's request rates per account and region cannot be raised; a longer cache ttl means fewer reads)",
        );
    }
    aws.resetCalls();
    aws.fail500('GetSecretValue', 1);
    expect(text(await client.get({ name, namespaces: ns }))).toBe('unreachable');
    expect(aws.calls.GetSecretValue).toBe(2);
  });

  it('a request signed with a clock minutes off is not a credentials problem: retried once with the clock AWS gave, else told to sync the clock', async () => {
    const ahead = await startAwsEmulator({ clockOffsetMs: 10 * 60_000 });
    try {
      ahead.seed('clock/skewed', 'on-time');
      const settings = awsSecretsManagerStoreType.settings.parse({
        region: 'us-east-1',
        endpoint: ahead.url,
        auth: staticAuth,
      });
      const client = new AwsSecretsManagerStore(settings, recordingContext().context, { retry: fastRetry });
      expect(text(await client.get({ name: 'clock/skewed', namespaces: ns }))).toBe('on-time');
      expect(ahead.calls.GetSecretValue).toBe(2);
    } finally {
      await ahead.stop();
    }
    // Without a correction to retry with (no Date from AWS), the message says what to fix.
    const expired = Object.assign(
      new Error(
        'Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z (20260101T001000Z - 5 min.)',
      ),
      { name: 'InvalidSignatureException', $metadata: { httpStatusCode: 400 } },
    );
    const c = classifyAws(
      expired,
      { action: 'secretsmanager:GetSecretValue', kind: 'read' },
      'us-east-1',
      false,
    );
    expect(c).toMatchObject({
      kind: 'denied',
      message:
        "AWS refused the request's time: this host's clock is too far from AWS's (Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z (20260101T001000Z - 5 min.)): sync this host's clock (NTP)",
      fix: "sync this host's clock (NTP)",
      retry: false,
    });
  });

  it('strips signatures, session tokens, secret keys and access key ids from messages', () => {
    const raw =
      'bad request Authorization: AWS4-HMAC-SHA256 Credential=AKIAABCDEFGHIJKLMNOP/20240101/us-east-1/secretsmanager/aws4_request, Signature=0123456789abcdef0123456789abcdef X-Amz-Security-Token=FQoGZXIvYXdzE secret=hunter2-secret key ASIAABCDEFGHIJKLMNOP';
    const clean = scrubber(['hunter2-secret'], AWS_SCRUB)(raw);
    expect(clean).not.toMatch(
      /0123456789abcdef0123|FQoGZXIvYXdzE|hunter2-secret|AKIAABCDEFGHIJKLMNOP|ASIAABCDEFGHIJKLMNOP/,
    );
    expect(clean).toContain('Signature=[redacted]');
  });
});

describe('aws-secrets-manager batching', () => {
  it('resolves 100 distinct secrets with 5 BatchGetSecretValue calls and no single reads', async () => {
    const names = Array.from({ length: 100 }, (_, i) => unique(`batch/${i}`));
    for (const n of names) aws.seed(n, `value-of-${n}`);
    aws.resetCalls();
    const results = await store().client.getMany(names.map((name) => ({ name, namespaces: ns })));
    expect(results.map(text)).toEqual(names.map((n) => `value-of-${n}`));
    expect(aws.calls.BatchGetSecretValue).toBeLessThanOrEqual(5);
    expect(aws.calls.BatchGetSecretValue).toBe(5);
    expect(aws.calls.GetSecretValue ?? 0).toBe(0);
  });

  it('maps per-secret Errors entries and reads pinned versions one by one', async () => {
    const ok = unique('b-ok');
    const denied = unique('b-denied');
    const deleted = unique('b-deleted');
    const pinned = unique('b-pinned');
    aws.seed(ok, 'fine');
    aws.seed(denied, 'nope');
    aws.seed(deleted, 'gone');
    const v1 = aws.seed(pinned, 'old');
    aws.seed(pinned, 'new');
    aws.deny('secretsmanager:GetSecretValue', { secret: denied });
    const { client } = store();
    await client.delete(deleted, { namespace: '' });
    aws.resetCalls();
    const [a, b, c, d, e, f] = await client.getMany([
      { name: ok, namespaces: ns },
      { name: denied, namespaces: ns },
      { name: deleted, namespaces: ns },
      { name: 'b-missing-entirely', namespaces: ns },
      { name: pinned, version: v1, namespaces: ns },
      { name: ok, namespaces: ns },
    ]);
    expect(text(a as FetchedSecret)).toBe('fine');
    expect(b).toBeInstanceOf(AccessDeniedError);
    expect((b as Error).message).toContain(
      `grant secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:123456789012:secret:${denied}`,
    );
    expect(c).toBeInstanceOf(SecretNotFoundError);
    expect((c as Error).message).toContain('scheduled for deletion');
    expect(d).toBeInstanceOf(SecretNotFoundError);
    expect(text(e as FetchedSecret)).toBe('old');
    expect(text(f as FetchedSecret)).toBe('fine');
    expect(aws.calls.BatchGetSecretValue).toBe(1);
    expect(aws.calls.GetSecretValue).toBe(1);
  });

  it('falls back to GetSecretValue per secret when BatchGetSecretValue is denied, and remembers it', async () => {
    const names = Array.from({ length: 25 }, (_, i) => unique(`fallback/${i}`));
    for (const n of names) aws.seed(n, `fb-${n}`);
    aws.deny('secretsmanager:BatchGetSecretValue');
    const { client, warnings } = store();
    aws.resetCalls();
    const first = await client.getMany(names.map((name) => ({ name, namespaces: ns })));
    expect(first.map(text)).toEqual(names.map((n) => `fb-${n}`));
    expect(aws.calls.GetSecretValue).toBe(25);
    const batchCallsAfterFirst = aws.calls.BatchGetSecretValue ?? 0;
    expect(batchCallsAfterFirst).toBeGreaterThanOrEqual(1);
    expect(batchCallsAfterFirst).toBeLessThanOrEqual(2);
    await client.getMany(names.slice(0, 3).map((name) => ({ name, namespaces: ns })));
    expect(aws.calls.BatchGetSecretValue).toBe(batchCallsAfterFirst);
    expect(warnings.filter((w) => w.includes('grant secretsmanager:BatchGetSecretValue'))).toHaveLength(1);
  });

  it('a throttled batch is retried, a failing one fails every secret of that batch', async () => {
    const names = Array.from({ length: 3 }, (_, i) => unique(`bt/${i}`));
    for (const n of names) aws.seed(n, n);
    const { client } = store();
    aws.resetCalls();
    aws.throttle('BatchGetSecretValue', 1);
    expect((await client.getMany(names.map((name) => ({ name, namespaces: ns })))).map(text)).toEqual(names);
    expect(aws.calls.BatchGetSecretValue).toBe(2);
    aws.fail500('BatchGetSecretValue', 3);
    const failed = await client.getMany(names.map((name) => ({ name, namespaces: ns })));
    for (const r of failed) expect(r).toBeInstanceOf(StoreUnavailableError);
  });
});

describe('aws-secrets-manager listing and writes', () => {
  it('pages through ListSecrets with NextToken as the cursor, by prefix and tags', async () => {
    const prefix = unique('paged');
    for (let i = 0; i < 130; i++)
      aws.seed(`${prefix}/s${String(i).padStart(3, '0')}`, 'v', { tags: { team: i % 2 ? 'odd' : 'even' } });
    const { client } = store();
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.list({ namespaces: ns, prefix: `${prefix}/`, limit: 50, cursor });
      expect(page.items.length).toBeLessThanOrEqual(50);
      seen.push(...page.items.map((i) => i.name));
      cursor = page.cursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(130);
    const odd = await client.list({
      namespaces: ns,
      prefix: `${prefix}/`,
      tags: { team: 'odd' },
      limit: 1000,
    });
    expect(odd.items).toHaveLength(65);
    expect(odd.items.every((i) => i.tags?.team === 'odd')).toBe(true);
  });

  it('a cursor whose page token AWS no longer accepts (InvalidNextTokenException) is an invalid request saying to list again, not Secrets Manager unreachable', async () => {
    const { client } = store();
    aws.resetCalls();
    const err = await failure(client.list({ namespaces: ns, cursor: tokenCursor.encode('expired-token') }));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.message).toBe(
      '[aws-test] invalid list cursor: Secrets Manager no longer accepts its page token (expired, or from another listing): list again from the first page',
    );
    expect(aws.calls.ListSecrets).toBe(1);
  });

  it('creates with default tags merged, updates with PutSecretValue, and lists versions with stages', async () => {
    const name = unique('written');
    const { client } = store({ tags: { application: 'sesame', team: 'default' } });
    const first = await client.write(name, 'one', {
      namespace: '',
      tags: { team: 'payments' },
      description: 'created by test',
    });
    const second = await client.write(name, 'two', { namespace: '' });
    const meta = await client.describe(name);
    expect(meta).toMatchObject({
      tags: { application: 'sesame', team: 'payments' },
      description: 'created by test',
      version: second.version,
    });
    const versions = await client.versions(name);
    expect(versions.find((v) => v.version === second.version)?.stages).toEqual(['AWSCURRENT']);
    expect(versions.find((v) => v.version === first.version)?.stages).toEqual(['AWSPREVIOUS']);
    aws.resetCalls();
    await client.write(name, 'three', { namespace: '' });
    expect(aws.calls.CreateSecret ?? 0).toBe(0);
  });

  it('updates the description and tags of an existing secret (UpdateSecret, TagResource), without a version of their own', async () => {
    const name = unique('meta');
    const { client } = store({ tags: { application: 'sesame' } });
    await client.write(name, 'one', { namespace: '', tags: { team: 'payments' }, description: 'first' });
    aws.resetCalls();
    const second = await client.write(name, 'two', {
      namespace: '',
      tags: { team: 'billing', tier: 'gold' },
      description: 'second',
    });
    expect(aws.calls).toMatchObject({ PutSecretValue: 1, UpdateSecret: 1, TagResource: 1 });
    expect(await client.describe(name)).toMatchObject({
      description: 'second',
      tags: { application: 'sesame', team: 'billing', tier: 'gold' },
      version: second.version,
    });
    expect(await client.versions(name)).toHaveLength(2);
    // A plain write leaves the metadata as it is, and calls nothing but PutSecretValue.
    aws.resetCalls();
    await client.write(name, 'three', { namespace: '' });
    expect(aws.calls).toEqual({ PutSecretValue: 1 });
    expect(await client.describe(name)).toMatchObject({ description: 'second', tags: { team: 'billing' } });
  });

  it('says the value was written when its tags cannot be updated', async () => {
    const name = unique('tagdenied');
    const { client } = store();
    await client.write(name, 'one', { namespace: '' });
    aws.deny('secretsmanager:TagResource');
    const err = await failure(client.write(name, 'two', { namespace: '', tags: { team: 'x' } }));
    expect(err.message).toMatch(
      /^the value was written \(version [^)]+\), but its tags could not be updated: /,
    );
    expect(err.message).toContain('secretsmanager:TagResource');
    expect(text(await client.get({ name, namespaces: ns }))).toBe('two');
  });

  it("a value outside SecretString's 1-65536 characters is refused before AWS is asked; a parameter AWS refuses is an invalid request, not a state conflict", async () => {
    const name = unique('sized');
    const { client } = store();
    await client.write(name, 'x'.repeat(65_536), { namespace: '' });
    aws.resetCalls();
    const big = await failure(client.write(name, 'y'.repeat(65_537), { namespace: '' }));
    expect(big).toBeInstanceOf(ValueTooLargeError);
    expect(big.message).toBe(
      `[aws-test] the value of "${name}" is 65537 characters, above Secrets Manager's limit for SecretString (65536 characters): it was not written`,
    );
    expect(big.message).not.toContain('yyyy');
    const empty = await failure(client.write(name, '', { namespace: '' }));
    expect(empty).toBeInstanceOf(InvalidRequestError);
    expect(empty.message).toBe(`[aws-test] Secrets Manager does not store an empty value ("${name}")`);
    expect(aws.calls.PutSecretValue ?? 0).toBe(0);
    // A tag key over AWS's 128 characters: TagResource answers a validation error.
    const tags = { ['k'.repeat(129)]: 'v' };
    const tagged = await failure(client.write(name, 'z', { namespace: '', tags }));
    expect(tagged).toBeInstanceOf(InvalidRequestError);
    expect(tagged.message).toMatch(/but its tags could not be updated: .*secretsmanager:TagResource refused/);
  });

  it('a name AWS cannot spell is refused before AWS is asked, naming the characters it takes; ARNs pass', async () => {
    const { client } = store({ prefix: 'app/' });
    aws.resetCalls();
    const expected = (name: string) =>
      `[aws-test] "${name}" cannot be mapped to a Secrets Manager secret name: names are 1-512 letters, digits and /_+=.@!- (prefix "app/" included)`;
    const write = await failure(client.write('db:password', 'v', { namespace: '' }));
    expect(write).toBeInstanceOf(InvalidRequestError);
    expect(write.message).toBe(expected('db:password'));
    const read = await failure(client.get({ name: 'db password', namespaces: ns }));
    expect(read).toBeInstanceOf(InvalidRequestError);
    expect(read.message).toBe(expected('db password'));
    const good = unique('app/spelled');
    aws.seed(good, 'fine');
    const [bad, ok] = await client.getMany([
      { name: 'a#b', namespaces: ns },
      { name: good.slice('app/'.length), namespaces: ns },
    ]);
    expect(bad).toBeInstanceOf(InvalidRequestError);
    expect(text(ok as FetchedSecret)).toBe('fine');
    expect(aws.calls.CreateSecret ?? 0).toBe(0);
    expect(aws.calls.PutSecretValue ?? 0).toBe(0);
    expect(aws.calls.GetSecretValue ?? 0).toBe(0);
    const arn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:${good}`;
    expect(text(await client.get({ name: arn, namespaces: ns }))).toBe('fine');
    // Secrets other services manage have "!" in their names (RDS: rds!db-<id>); AWS's answer to a
    // bad name lists "!" among the characters a name takes.
    aws.seed('rds!db-0f1e2d3c', 'managed');
    const { client: plain } = store();
    expect(text(await plain.get({ name: 'rds!db-0f1e2d3c', namespaces: ns }))).toBe('managed');
  });

  it('checks the expected version before writing', async () => {
    const name = unique('cas');
    const { client } = store();
    const v1 = await client.write(name, 'a', { namespace: '' });
    await client.write(name, 'b', { namespace: '', expectedVersion: v1.version });
    const err = await failure(client.write(name, 'c', { namespace: '', expectedVersion: v1.version }));
    expect(err).toBeInstanceOf(SecretStateError);
    expect(err.message).toContain(`not ${v1.version}`);
    expect(text(await client.get({ name, namespaces: ns }))).toBe('b');
  });

  it('deletes with a recovery window in days (7 to 30) or for good', async () => {
    const name = unique('window');
    const { client } = store();
    await client.write(name, 'x', { namespace: '' });
    await expect(
      client.delete(name, { namespace: '', recoveryWindowMs: 3 * 86_400_000 }),
    ).rejects.toBeInstanceOf(UsageError);
    await client.delete(name, { namespace: '', recoveryWindowMs: 7 * 86_400_000 });
    const listed = await client.list({ namespaces: ns, prefix: name, includeDeleted: true });
    expect(listed.items[0]?.deletedAt).toBeDefined();
    // Deleting it again is done already (AWS refuses to reschedule): the first deletion date stays.
    await client.delete(name, { namespace: '', recoveryWindowMs: 30 * 86_400_000 });
    const again = await client.list({ namespaces: ns, prefix: name, includeDeleted: true });
    expect(again.items[0]?.deletedAt).toBe(listed.items[0]?.deletedAt);
    await client.restore(name, { namespace: '' });
    await client.delete(name, { namespace: '', force: true });
    expect(aws.secretNames()).not.toContain(name);
    // AWS's forced delete does not report a name that does not exist: Sesame asks first.
    const typo = await failure(client.delete(`${name}-typo`, { namespace: '', force: true }));
    expect(typo).toBeInstanceOf(SecretNotFoundError);
    expect(typo.message).toBe(`[aws-test] secret "${name}-typo" not found in us-east-1`);
    expect((typo as SecretNotFoundError).fix).toBe(
      'nothing to delete: check the name, the region and the store prefix',
    );
    const unforced = await failure(client.delete(`${name}-typo`, { namespace: '' }));
    expect((unforced as SecretNotFoundError).fix).toBe(
      'nothing to delete: check the name, the region and the store prefix',
    );
    // Without DescribeSecret the check is skipped, and the delete is AWS's.
    aws.deny('secretsmanager:DescribeSecret');
    await client.write(name, 'y', { namespace: '' });
    await client.delete(name, { namespace: '', force: true });
    expect(aws.secretNames()).not.toContain(name);
    const gone = await failure(client.restore(name, { namespace: '' }));
    expect(gone).toBeInstanceOf(SecretNotFoundError);
    expect((gone as SecretNotFoundError).fix).toBe(
      'nothing to restore: no deleted secret has this name (deleted without recovery, past its recovery window, or never created); check the name, the region and the store prefix',
    );
  });
});

describe('aws-secrets-manager check', () => {
  it('reports identity, list, read and batch permission', async () => {
    const name = unique('check');
    aws.seed(name, 'check-value-never-shown');
    const report = await store().client.check({ namespaces: ns, sample: name });
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => s.step)).toEqual(['authenticate', 'list', 'read', 'batch']);
    expect(report.steps[0]?.detail).toBe(`authenticated as ${AWS_EMULATOR_USER_ARN} (account 123456789012)`);
    expect(JSON.stringify(report)).not.toContain('check-value-never-shown');
  });

  it('says which permission to grant when list or read is denied', async () => {
    const name = unique('check-denied');
    aws.seed(name, 'v');
    aws.deny('secretsmanager:ListSecrets');
    aws.deny('secretsmanager:GetSecretValue', { secret: name });
    aws.deny('secretsmanager:BatchGetSecretValue');
    const report = await store().client.check({ namespaces: ns, sample: name });
    expect(report.ok).toBe(false);
    const byStep = Object.fromEntries(report.steps.map((s) => [s.step, s]));
    expect(byStep.list).toMatchObject({
      ok: false,
      fix: `grant secretsmanager:ListSecrets on * to ${AWS_EMULATOR_USER_ARN}`,
    });
    expect(byStep.read?.ok).toBe(false);
    expect(byStep.read?.fix).toMatch(
      /^grant secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:123456789012:secret:/,
    );
    expect(byStep.batch).toMatchObject({ ok: true });
    expect(byStep.batch?.detail).toContain('grant secretsmanager:BatchGetSecretValue');
  });

  it('stops at authentication when the credentials are wrong', async () => {
    const { client } = store({
      auth: {
        method: 'static',
        accessKeyId: AWS_EMULATOR_CREDENTIALS.accessKeyId,
        secretAccessKey: 'bad-key-000',
      },
    });
    const report = await client.check({ namespaces: ns, sample: 'x' });
    expect(report.ok).toBe(false);
    expect(report.steps).toHaveLength(1);
    expect(report.steps[0]).toMatchObject({ step: 'authenticate', ok: false });
    expect(report.steps[0]?.fix).toContain('secret access key does not match');
    expect(JSON.stringify(report)).not.toContain('bad-key-000');
  });
});

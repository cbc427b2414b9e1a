import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AWS_EMULATOR_CREDENTIALS,
  AWS_EMULATOR_USER_ARN,
  type AwsEmulator,
  startAwsEmulator,
} from './index.js';
import {
  canonicalRequest,
  credentialScope,
  sha256Hex,
  signature,
  signingKey,
  stringToSign,
  verifySigV4,
} from './sigv4.js';

/** The error `p` rejects with; a fulfilled `p` fails the test. */
const failure = <E extends Error = Error>(p: Promise<unknown>): Promise<E> =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as E,
  );

describe('SigV4 verification', () => {
  // The worked example of the AWS General Reference (IAM ListUsers, 2015-08-30).
  const example = {
    method: 'GET',
    url: '/?Action=ListUsers&Version=2010-05-08',
    headers: {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      host: 'iam.amazonaws.com',
      'x-amz-date': '20150830T123600Z',
    },
    secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  };

  it('derives the documented signing key', () => {
    expect(signingKey(example.secret, '20150830', 'us-east-1', 'iam').toString('hex')).toBe(
      'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9',
    );
  });

  it('builds the documented canonical request and signature', () => {
    const canonical = canonicalRequest({
      method: example.method,
      rawPath: '/',
      rawQuery: 'Action=ListUsers&Version=2010-05-08',
      headers: example.headers,
      signedHeaders: ['content-type', 'host', 'x-amz-date'],
      payloadHash: sha256Hex(''),
    });
    expect(sha256Hex(canonical)).toBe('f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59');
    const toSign = stringToSign(
      '20150830T123600Z',
      credentialScope('20150830', 'us-east-1', 'iam'),
      canonical,
    );
    expect(signature(signingKey(example.secret, '20150830', 'us-east-1', 'iam'), toSign)).toBe(
      '5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
    );
  });

  it('accepts the documented request and rejects it with another secret key', () => {
    const authorization =
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7';
    const request = {
      method: 'GET',
      url: example.url,
      headers: { ...example.headers, authorization },
      body: Buffer.alloc(0),
    };
    expect(verifySigV4(request, () => example.secret).ok).toBe(true);
    expect(verifySigV4(request, () => `${example.secret}x`)).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(verifySigV4(request, () => undefined)).toMatchObject({ ok: false, reason: 'unknown-key' });
    const tampered = { ...request, url: '/?Action=ListUsers&Version=2010-05-09' };
    expect(verifySigV4(tampered, () => example.secret)).toMatchObject({ ok: false, reason: 'mismatch' });
  });
});

describe('AWS emulator through the real SDK', () => {
  let aws: AwsEmulator;
  const sm = (
    credentials: {
      accessKeyId: string;
      secretAccessKey: string;
      sessionToken?: string;
    } = AWS_EMULATOR_CREDENTIALS,
  ) => new SecretsManagerClient({ region: 'us-east-1', endpoint: aws.url, credentials, maxAttempts: 1 });

  beforeAll(async () => {
    aws = await startAwsEmulator();
  });
  afterAll(async () => {
    await aws.stop();
  });

  it('serves GetSecretValue to a correctly signed request', async () => {
    aws.seed('emu/plain', 'hello');
    const out = await sm().send(new GetSecretValueCommand({ SecretId: 'emu/plain' }));
    expect(out.SecretString).toBe('hello');
    expect(out.VersionStages).toEqual(['AWSCURRENT']);
    expect(out.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:123456789012:secret:emu\/plain-[A-Za-z0-9]{6}$/,
    );
  });

  it('answers InvalidSignatureException to a wrong secret key', async () => {
    const err = await failure(
      sm({ accessKeyId: AWS_EMULATOR_CREDENTIALS.accessKeyId, secretAccessKey: 'wrong' }).send(
        new ListSecretsCommand({}),
      ),
    );
    expect(err.name).toBe('InvalidSignatureException');
    expect(err.message).toMatch(
      /^The request signature we calculated does not match the signature you provided/,
    );
  });

  it('answers UnrecognizedClientException to an unknown access key', async () => {
    const err = await failure(
      sm({ accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' }).send(new ListSecretsCommand({})),
    );
    expect(err.name).toBe('UnrecognizedClientException');
    expect(err.message).toBe('The security token included in the request is invalid.');
  });

  it('ListSecrets tag-key/tag-value filters: case-sensitive prefixes over any tag, ANDed, negation; values validated', async () => {
    aws.seed('emu/tagged-a', 'a', { tags: { namespace: 'company.team', key: 'MY_KEY' } });
    aws.seed('emu/tagged-b', 'b', { tags: { namespace: 'company.other', owner: 'MY_KEY' } });
    const names = async (
      Filters: Array<{ Key: 'tag-key' | 'tag-value' | 'owning-service'; Values: string[] }>,
    ) =>
      ((await sm().send(new ListSecretsCommand({ Filters }))).SecretList ?? [])
        .map((s) => s.Name)
        .filter((n) => n?.startsWith('emu/tagged-'))
        .sort();
    expect(await names([{ Key: 'tag-value', Values: ['MY_K'] }])).toEqual(['emu/tagged-a', 'emu/tagged-b']);
    expect(await names([{ Key: 'tag-value', Values: ['my_key'] }])).toEqual([]);
    expect(
      await names([
        { Key: 'tag-key', Values: ['key'] },
        { Key: 'tag-value', Values: ['MY_KEY'] },
      ]),
    ).toEqual(['emu/tagged-a']);
    expect(await names([{ Key: 'tag-value', Values: ['company.team', 'company.other'] }])).toEqual([
      'emu/tagged-a',
      'emu/tagged-b',
    ]);
    expect(await names([{ Key: 'tag-key', Values: ['!key'] }])).toEqual(['emu/tagged-b']);
    expect(await names([{ Key: 'owning-service', Values: ['rds'] }])).toEqual([]);
    for (const Values of [['MY#KEY'], [], Array.from({ length: 11 }, (_, i) => `v${i}`), ['x'.repeat(513)]]) {
      const err = await failure(
        sm().send(new ListSecretsCommand({ Filters: [{ Key: 'tag-value', Values }] })),
      );
      expect(err.name).toBe('ValidationException');
    }
  });

  it('names the denying policy type in AccessDeniedException as IAM does, implicit or explicit', async () => {
    aws.seed('emu/denied', 'v');
    const message = async () =>
      (await failure(sm().send(new GetSecretValueCommand({ SecretId: 'emu/denied' })))).message;
    const user = AWS_EMULATOR_USER_ARN;
    const prefix = `User: ${user} is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:123456789012:secret:emu/denied-`;
    aws.deny('secretsmanager:GetSecretValue', { secret: 'emu/denied' });
    expect(await message()).toMatch(
      new RegExp(
        `^${prefix}\\w{6} because no identity-based policy allows the secretsmanager:GetSecretValue action$`,
      ),
    );
    aws.allowAll();
    aws.deny('secretsmanager:GetSecretValue', { secret: 'emu/denied', explicit: true });
    expect(await message()).toMatch(
      new RegExp(`^${prefix}\\w{6} with an explicit deny in an identity-based policy$`),
    );
    aws.allowAll();
    aws.deny('secretsmanager:GetSecretValue', { policy: 'permissions boundary' });
    expect(await message()).toMatch(
      new RegExp(
        `^${prefix}\\w{6} because no permissions boundary allows the secretsmanager:GetSecretValue action$`,
      ),
    );
    aws.allowAll();
  });

  it('refuses to schedule the deletion of a secret already scheduled for deletion; a forced delete goes through', async () => {
    aws.seed('emu/twice', 'v');
    await sm().send(new DeleteSecretCommand({ SecretId: 'emu/twice', RecoveryWindowInDays: 7 }));
    const err = await failure(
      sm().send(new DeleteSecretCommand({ SecretId: 'emu/twice', RecoveryWindowInDays: 30 })),
    );
    expect([err.name, err.message]).toEqual([
      'InvalidRequestException',
      "You can't perform this operation on the secret because it was already scheduled for deletion.",
    ]);
    await sm().send(new DeleteSecretCommand({ SecretId: 'emu/twice', ForceDeleteWithoutRecovery: true }));
    expect(aws.secretNames()).not.toContain('emu/twice');
    // A forced delete of a secret that does not exist is not ResourceNotFoundException; an unforced one is.
    await sm().send(new DeleteSecretCommand({ SecretId: 'emu/never', ForceDeleteWithoutRecovery: true }));
    const missing = await failure(sm().send(new DeleteSecretCommand({ SecretId: 'emu/never' })));
    expect(missing.name).toBe('ResourceNotFoundException');
  });

  it('refuses a secret name outside /_+=.@- letters and digits with ValidationException', async () => {
    const err = await failure(sm().send(new CreateSecretCommand({ Name: 'db:password', SecretString: 'v' })));
    expect([err.name, err.message]).toEqual([
      'ValidationException',
      'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
    ]);
  });

  it('refuses a SecretString outside 1-65536 characters with ValidationException, without the value', async () => {
    aws.seed('emu/sized', 'v');
    for (const [value, bound] of [
      ['', 'greater than or equal to 1'],
      ['q'.repeat(65_537), 'less than or equal to 65536'],
    ] as const) {
      const err = await failure(
        sm().send(new PutSecretValueCommand({ SecretId: 'emu/sized', SecretString: value })),
      );
      expect([err.name, err.message]).toEqual([
        'ValidationException',
        `1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length ${bound}`,
      ]);
    }
    const ok = await sm().send(
      new PutSecretValueCommand({ SecretId: 'emu/sized', SecretString: 'q'.repeat(65_536) }),
    );
    expect(ok.VersionId).toBeDefined();
  });

  it('answers AccessDeniedException "Access to KMS is not allowed" when the caller may not use the KMS key', async () => {
    aws.seed('emu/kms', 'locked');
    aws.denyKms('emu/kms');
    const err = await failure(sm().send(new GetSecretValueCommand({ SecretId: 'emu/kms' })));
    expect([err.name, err.message]).toEqual(['AccessDeniedException', 'Access to KMS is not allowed']);
    const out = await sm().send(new BatchGetSecretValueCommand({ SecretIdList: ['emu/kms'] }));
    expect(out.Errors).toEqual([
      { SecretId: 'emu/kms', ErrorCode: 'AccessDeniedException', Message: 'Access to KMS is not allowed' },
    ]);
    const put = await failure(
      sm().send(new PutSecretValueCommand({ SecretId: 'emu/kms', SecretString: 'new' })),
    );
    expect(put.name).toBe('AccessDeniedException');
  });

  it('reports per-secret errors in BatchGetSecretValue and refuses more than 20 ids', async () => {
    aws.seed('emu/b1', 'one');
    const out = await sm().send(new BatchGetSecretValueCommand({ SecretIdList: ['emu/b1', 'emu/none'] }));
    expect(out.SecretValues?.map((v) => v.SecretString)).toEqual(['one']);
    expect(out.Errors).toEqual([
      {
        SecretId: 'emu/none',
        ErrorCode: 'ResourceNotFoundException',
        Message: "Secrets Manager can't find the specified secret.",
      },
    ]);
    const ids = Array.from({ length: 21 }, (_, i) => `emu/x${i}`);
    const err = await failure(sm().send(new BatchGetSecretValueCommand({ SecretIdList: ids })));
    expect(err.name).toBe('InvalidParameterException');
  });

  it('answers AssumeRole with 403 RegionDisabledException when STS is not activated in the region', async () => {
    const off = await startAwsEmulator({ stsRegionDisabled: true });
    try {
      const sts = new STSClient({
        region: 'us-east-1',
        endpoint: off.url,
        credentials: { ...AWS_EMULATOR_CREDENTIALS },
      });
      const assume = new AssumeRoleCommand({
        RoleArn: `arn:aws:iam::123456789012:role/sesame-reader`,
        RoleSessionName: 's1',
      });
      const err = await failure<Error & { $metadata?: { httpStatusCode?: number } }>(sts.send(assume));
      expect([err.name, err.$metadata?.httpStatusCode]).toEqual(['RegionDisabledException', 403]);
      expect(err.message).toBe(
        'STS is not activated in this region for account:123456789012. Your account administrator can activate STS in this region using the IAM Console.',
      );
      sts.destroy();
    } finally {
      await off.stop();
    }
  });

  it('refuses a request signed more than 5 minutes from its clock, giving its time in the Date header', async () => {
    const ahead = await startAwsEmulator({ clockOffsetMs: 10 * 60_000 });
    try {
      ahead.seed('emu/clock', 'tick');
      // One attempt per call: the SDK's own retry would hide the refusal.
      const client = new SecretsManagerClient({
        region: 'us-east-1',
        endpoint: ahead.url,
        credentials: { ...AWS_EMULATOR_CREDENTIALS },
        maxAttempts: 1,
      });
      const err = await failure<Error & { $metadata?: { clockSkewCorrected?: boolean } }>(
        client.send(new GetSecretValueCommand({ SecretId: 'emu/clock' })),
      );
      expect(err.name).toBe('InvalidSignatureException');
      expect(err.message).toMatch(
        /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/,
      );
      expect(err.$metadata?.clockSkewCorrected).toBe(true);
      // The next call is signed with the corrected clock.
      const out = await client.send(new GetSecretValueCommand({ SecretId: 'emu/clock' }));
      expect(out.SecretString).toBe('tick');
      client.destroy();
    } finally {
      await ahead.stop();
    }
  });

  it('speaks the STS query protocol: GetCallerIdentity and AssumeRole with usable session credentials', async () => {
    const sts = new STSClient({
      region: 'us-east-1',
      endpoint: aws.url,
      credentials: AWS_EMULATOR_CREDENTIALS,
      maxAttempts: 1,
    });
    const me = await sts.send(new GetCallerIdentityCommand({}));
    expect(me).toMatchObject({ Arn: AWS_EMULATOR_USER_ARN, Account: '123456789012' });
    const assumed = await sts.send(
      new AssumeRoleCommand({
        RoleArn: 'arn:aws:iam::123456789012:role/sesame-reader',
        RoleSessionName: 'emu-test',
      }),
    );
    const c = assumed.Credentials!;
    expect(c.AccessKeyId).toMatch(/^ASIA/);
    const session = {
      accessKeyId: c.AccessKeyId!,
      secretAccessKey: c.SecretAccessKey!,
      sessionToken: c.SessionToken!,
    };
    await expect(sm(session).send(new ListSecretsCommand({}))).resolves.toBeDefined();
    const withoutToken = await failure(
      sm({
        accessKeyId: session.accessKeyId,
        secretAccessKey: session.secretAccessKey,
      }).send(new ListSecretsCommand({})),
    );
    expect(withoutToken.name).toBe('UnrecognizedClientException');
    const unknownRole = new AssumeRoleCommand({
      RoleArn: 'arn:aws:iam::123456789012:role/unknown',
      RoleSessionName: 'emu-test',
    });
    const denied = await failure(sts.send(unknownRole));
    expect(denied.name).toBe('AccessDenied');
    expect(denied.message).toContain('is not authorized to perform: sts:AssumeRole');
  });
});

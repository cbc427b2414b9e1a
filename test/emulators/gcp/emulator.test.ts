/** The GCP emulator's wire shapes, checked with raw HTTP so the SDK cannot paper over them. */
import { createSign, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorCrc32c, type GcpSecretManagerEmulator, startGcpSecretManagerEmulator } from './index.js';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('GCP Secret Manager emulator (wire)', () => {
  let em: GcpSecretManagerEmulator;
  let jwt: string;
  let publicKeyPem: string;

  beforeAll(async () => {
    em = await startGcpSecretManagerEmulator({ pageSize: 1 });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const email = 'wire@sesame-test.iam.gserviceaccount.com';
    publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    em.controls.registerServiceAccount({ email, keyId: 'wire-key', publicKeyPem });
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${b64url({ alg: 'RS256', typ: 'JWT', kid: 'wire-key' })}.${b64url({
      iss: email,
      sub: email,
      scope: 'https://www.googleapis.com/auth/cloud-platform',
      iat: now,
      exp: now + 600,
    })}`;
    jwt = `${unsigned}.${createSign('RSA-SHA256').update(unsigned).sign(privateKey).toString('base64url')}`;
  });
  afterAll(async () => {
    await em.stop();
  });

  const call = async (method: string, path: string, body?: unknown, token: string | null = jwt) => {
    const res = await fetch(`${em.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('answers google.rpc.Status UNAUTHENTICATED without credentials', async () => {
    const reply = await call('GET', '/v1/projects/sesame-test/secrets', undefined, null);
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ error: { code: 401, status: 'UNAUTHENTICATED' } });
  });

  it('answers AccessSecretVersionResponse with base64 data and an int64-as-string checksum', async () => {
    em.controls.seed('wire_secret', 's3cr3t');
    const reply = await call('GET', '/v1/projects/sesame-test/secrets/wire_secret/versions/latest:access');
    expect(reply.body).toEqual({
      name: `projects/${em.controls.projectNumber}/secrets/wire_secret/versions/1`,
      payload: { data: 'czNjcjN0', dataCrc32c: '825573743' },
    });
    expect(emulatorCrc32c(Buffer.from('s3cr3t'))).toBe(825573743);
  });

  it('answers NOT_FOUND for a secret without versions', async () => {
    const reply = await call('GET', '/v1/projects/sesame-test/secrets/nothing_here/versions/latest:access');
    expect(reply.body).toEqual({
      error: {
        code: 404,
        message: `Secret [projects/${em.controls.projectNumber}/secrets/nothing_here] not found or has no versions.`,
        status: 'NOT_FOUND',
      },
    });
  });

  it('answers FAILED_PRECONDITION for a disabled version', async () => {
    em.controls.seed('wire_disabled', 'x');
    em.controls.disable('wire_disabled');
    const reply = await call('GET', '/v1/projects/sesame-test/secrets/wire_disabled/versions/1:access');
    expect(reply.body).toMatchObject({
      error: {
        code: 400,
        status: 'FAILED_PRECONDITION',
        message: `Secret Version [projects/${em.controls.projectNumber}/secrets/wire_disabled/versions/1] is in DISABLED state.`,
      },
    });
  });

  it('creates secrets, adds versions and sends states as names or numbers as asked', async () => {
    const created = await call('POST', '/v1/projects/sesame-test/secrets?secretId=wire_new', {
      replication: { automatic: {} },
      labels: { a: 'b' },
    });
    expect(created.body).toMatchObject({
      name: `projects/${em.controls.projectNumber}/secrets/wire_new`,
      labels: { a: 'b' },
    });
    const added = await call('POST', '/v1/projects/sesame-test/secrets/wire_new:addVersion', {
      payload: { data: 'dg==' },
    });
    expect(added.body).toMatchObject({ state: 'ENABLED' });
    const numeric = await call(
      'GET',
      '/v1/projects/sesame-test/secrets/wire_new/versions/1?$alt=json%3Benum-encoding=int',
    );
    expect(numeric.body).toMatchObject({ state: 1 });
    const dup = await call('POST', '/v1/projects/sesame-test/secrets?secretId=wire_new', {
      replication: { automatic: {} },
    });
    expect(dup.body).toMatchObject({ error: { code: 409, status: 'ALREADY_EXISTS' } });
  });

  it('refuses a payload over 64 KiB with INVALID_ARGUMENT and adds no version', async () => {
    await call('POST', '/v1/projects/sesame-test/secrets?secretId=wire_big', {
      replication: { automatic: {} },
    });
    const add = (bytes: number) =>
      call('POST', '/v1/projects/sesame-test/secrets/wire_big:addVersion', {
        payload: { data: Buffer.alloc(bytes, 0x61).toString('base64') },
      });
    const big = await add(64 * 1024 + 1);
    expect(big.status).toBe(400);
    expect(big.body).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT' } });
    expect((await add(64 * 1024)).status).toBe(200);
    expect(em.controls.stateOf('wire_big', 1)).toBe('ENABLED');
    expect(em.controls.stateOf('wire_big', 2)).toBeUndefined();
  });

  it('patches a secret’s labels with an updateMask and requires the mask', async () => {
    await call('POST', '/v1/projects/sesame-test/secrets?secretId=wire_labels', {
      replication: { automatic: {} },
      labels: { a: 'b' },
    });
    const patched = await call('PATCH', '/v1/projects/sesame-test/secrets/wire_labels?updateMask=labels', {
      labels: { c: 'd' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      name: 'projects/482913337105/secrets/wire_labels',
      labels: { c: 'd' },
    });
    const unmasked = await call('PATCH', '/v1/projects/sesame-test/secrets/wire_labels', { labels: {} });
    expect(unmasked.status).toBe(400);
    expect(unmasked.body).toMatchObject({ error: { status: 'INVALID_ARGUMENT' } });
    expect(em.controls.labelsOf('wire_labels')).toEqual({ c: 'd' });
  });

  it('pages secrets with nextPageToken', async () => {
    const first = await call('GET', '/v1/projects/sesame-test/secrets?pageSize=1');
    expect((first.body.secrets as unknown[]).length).toBe(1);
    expect(typeof first.body.nextPageToken).toBe('string');
  });

  it('denies with PERMISSION_DENIED and an ErrorInfo naming the permission', async () => {
    em.controls.deny(['secretmanager.versions.access']);
    try {
      const reply = await call('GET', '/v1/projects/sesame-test/secrets/wire_secret/versions/1:access');
      expect(reply.body).toMatchObject({
        error: {
          code: 403,
          status: 'PERMISSION_DENIED',
          details: [
            {
              '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
              reason: 'IAM_PERMISSION_DENIED',
              metadata: { permission: 'secretmanager.versions.access' },
            },
          ],
        },
      });
    } finally {
      em.controls.allow();
    }
  });

  it('answers PERMISSION_DENIED with a SERVICE_DISABLED ErrorInfo while the API is off', async () => {
    em.controls.disableApi(true);
    try {
      const reply = await call('GET', '/v1/projects/sesame-test/secrets');
      expect(reply.status).toBe(403);
      expect(reply.body).toMatchObject({
        error: {
          code: 403,
          status: 'PERMISSION_DENIED',
          message: expect.stringContaining('Secret Manager API has not been used in project 482913337105'),
          details: [
            {
              '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
              reason: 'SERVICE_DISABLED',
              domain: 'googleapis.com',
              metadata: { consumer: 'projects/482913337105', service: 'secretmanager.googleapis.com' },
            },
          ],
        },
      });
    } finally {
      em.controls.disableApi(false);
    }
    expect((await call('GET', '/v1/projects/sesame-test/secrets')).status).toBe(200);
  });

  it('answers PERMISSION_DENIED with a CONSUMER_INVALID ErrorInfo for a project that does not exist', async () => {
    const reply = await call('GET', '/v1/projects/no-such-project/secrets');
    expect(reply.status).toBe(403);
    expect(reply.body).toMatchObject({
      error: {
        status: 'PERMISSION_DENIED',
        message: 'Permission denied on resource project no-such-project.',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'CONSUMER_INVALID',
            domain: 'googleapis.com',
            metadata: { consumer: 'projects/no-such-project', service: 'secretmanager.googleapis.com' },
          },
          { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage' },
        ],
      },
    });
  });

  it('as a regional endpoint, serves secrets under projects/*/locations/<location> only', async () => {
    const regional = await startGcpSecretManagerEmulator({ location: 'me-central2' });
    try {
      regional.controls.registerServiceAccount({
        email: 'wire@sesame-test.iam.gserviceaccount.com',
        keyId: 'wire-key',
        publicKeyPem: publicKeyPem,
      });
      regional.controls.seed('regional_one', 'r1');
      const get = (path: string) =>
        fetch(`${regional.url}${path}`, { headers: { authorization: `Bearer ${jwt}` } }).then(async (r) => ({
          status: r.status,
          body: (await r.json()) as Record<string, unknown>,
        }));
      const listed = await get('/v1/projects/sesame-test/locations/me-central2/secrets');
      expect(listed.status).toBe(200);
      expect(listed.body).toMatchObject({
        secrets: [{ name: 'projects/482913337105/locations/me-central2/secrets/regional_one' }],
      });
      expect((await get('/v1/projects/sesame-test/secrets')).status).toBe(404);
    } finally {
      await regional.stop();
    }
  });

  it('serves metadata tokens only with Metadata-Flavor: Google', async () => {
    const without = await fetch(
      `http://${em.metadataHost}/computeMetadata/v1/instance/service-accounts/default/token`,
    );
    expect(without.status).toBe(403);
    const withHeader = await fetch(
      `http://${em.metadataHost}/computeMetadata/v1/instance/service-accounts/default/token`,
      {
        headers: { 'metadata-flavor': 'Google' },
      },
    );
    expect(await withHeader.json()).toMatchObject({ token_type: 'Bearer', expires_in: 3599 });
  });
});

/** The Azure emulator's wire shapes, checked with raw HTTP so the SDK cannot paper over them. */
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AzureKeyVaultEmulator, startAzureKeyVaultEmulator } from './index.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

function call(
  em: AzureKeyVaultEmulator,
  method: string,
  path: string,
  options: { token?: string; form?: string; json?: unknown } = {},
) {
  return new Promise<Reply>((resolve, reject) => {
    const body = options.form ?? (options.json === undefined ? undefined : JSON.stringify(options.json));
    const req = request(
      `${em.url}${path}`,
      {
        method,
        ca: em.ca,
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(options.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? JSON.parse(text) : undefined,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('Azure Key Vault emulator (wire)', () => {
  let em: AzureKeyVaultEmulator;
  let token: string;

  beforeAll(async () => {
    em = await startAzureKeyVaultEmulator({ pageSize: 2 });
    em.controls.registerApp({ clientId: 'wire-app', secret: 'wire-secret' });
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'wire-app',
      client_secret: 'wire-secret',
      scope: 'https://vault.azure.net/.default',
    }).toString();
    const reply = await call(em, 'POST', `/${em.controls.tenantId}/oauth2/v2.0/token`, { form });
    token = (reply.body as { access_token: string }).access_token;
  });
  afterAll(async () => {
    await em.stop();
  });

  it('issues client-credentials tokens in the v2 endpoint shape', async () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  });

  it('requires api-version', async () => {
    const reply = await call(em, 'GET', '/secrets/x', { token });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: { code: 'BadParameter' } });
  });

  it('challenges a request without a token with the Key Vault WWW-Authenticate header', async () => {
    const reply = await call(em, 'GET', '/secrets/x?api-version=7.5');
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe(
      `Bearer authorization="https://login.microsoftonline.com/${em.controls.tenantId}", resource="https://vault.azure.net"`,
    );
    expect(reply.body).toEqual({
      error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' },
    });
  });

  it('answers a SecretBundle with epoch-second attributes', async () => {
    const put = await call(em, 'PUT', '/secrets/wire-one?api-version=7.5', {
      token,
      json: { value: 'v1', tags: { a: 'b' } },
    });
    expect(put.status).toBe(200);
    const got = await call(em, 'GET', '/secrets/wire-one/?api-version=7.5', { token });
    const bundle = got.body as {
      value: string;
      id: string;
      attributes: Record<string, unknown>;
      tags: Record<string, string>;
    };
    expect(bundle.value).toBe('v1');
    expect(bundle.id).toMatch(new RegExp(`^${em.url}/secrets/wire-one/[0-9a-f]{32}$`));
    expect(bundle.attributes).toMatchObject({ enabled: true, recoveryLevel: 'Recoverable+Purgeable' });
    expect(Number.isInteger(bundle.attributes.created)).toBe(true);
    expect(bundle.tags).toEqual({ a: 'b' });
  });

  it('refuses a value over 25 KB with 400 BadParameter and stores nothing', async () => {
    const big = await call(em, 'PUT', '/secrets/wire-big?api-version=7.5', {
      token,
      json: { value: 'x'.repeat(25 * 1024 + 1) },
    });
    expect(big.status).toBe(400);
    expect(big.body).toMatchObject({ error: { code: 'BadParameter' } });
    expect(em.controls.names()).not.toContain('wire-big');
    const fits = await call(em, 'PUT', '/secrets/wire-big?api-version=7.5', {
      token,
      json: { value: 'x'.repeat(25 * 1024) },
    });
    expect(fits.status).toBe(200);
  });

  it('answers SecretNotFound for a missing secret', async () => {
    const reply = await call(em, 'GET', '/secrets/wire-missing/?api-version=7.5', { token });
    expect(reply.status).toBe(404);
    expect((reply.body as { error: { code: string } }).error.code).toBe('SecretNotFound');
  });

  it('pages listings with nextLink and leaves values out', async () => {
    for (const n of ['wire-p1', 'wire-p2', 'wire-p3'])
      await call(em, 'PUT', `/secrets/${n}?api-version=7.5`, { token, json: { value: 'x' } });
    const first = await call(em, 'GET', '/secrets?api-version=7.5', { token });
    const page = first.body as { value: Array<Record<string, unknown>>; nextLink: string | null };
    expect(page.value).toHaveLength(2);
    expect(page.value[0]).not.toHaveProperty('value');
    expect(page.nextLink).toMatch(/\$skiptoken=/);
  });

  it('holds a soft-deleted name: Conflict with ObjectIsDeletedButRecoverable', async () => {
    await call(em, 'PUT', '/secrets/wire-del?api-version=7.5', { token, json: { value: 'x' } });
    const del = await call(em, 'DELETE', '/secrets/wire-del?api-version=7.5', { token });
    expect(del.body).toMatchObject({ recoveryId: `${em.url}/deletedsecrets/wire-del` });
    expect(del.body).not.toHaveProperty('value');
    const again = await call(em, 'PUT', '/secrets/wire-del?api-version=7.5', { token, json: { value: 'y' } });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      error: { code: 'Conflict', innererror: { code: 'ObjectIsDeletedButRecoverable' } },
    });
  });

  it('refuses a purge with 403 Forbidden while purge protection is on, and says Recoverable', async () => {
    await call(em, 'PUT', '/secrets/wire-kept?api-version=7.5', { token, json: { value: 'x' } });
    em.controls.protectFromPurge(true);
    try {
      const del = await call(em, 'DELETE', '/secrets/wire-kept?api-version=7.5', { token });
      expect(del.body).toMatchObject({ attributes: { recoveryLevel: 'Recoverable' } });
      const purge = await call(em, 'DELETE', '/deletedsecrets/wire-kept?api-version=7.5', { token });
      expect(purge.status).toBe(403);
      expect(purge.body).toEqual({
        error: {
          code: 'Forbidden',
          message: expect.stringMatching(
            /^Operation "purge" is not allowed because purge protection is enabled for this vault\./,
          ),
        },
      });
      expect(em.controls.deletedNames()).toContain('wire-kept');
    } finally {
      em.controls.protectFromPurge(false);
    }
  });

  it('refuses as an access policy (either inner code) or as a first-party token refusal', async () => {
    await call(em, 'PUT', '/secrets/wire-deny?api-version=7.5', { token, json: { value: 'x' } });
    const read = () => call(em, 'GET', '/secrets/wire-deny/?api-version=7.5', { token });
    try {
      em.controls.deny({ operations: ['get'], model: 'access-policy', policyCode: 'ForbiddenByPolicy' });
      expect(await read()).toMatchObject({
        status: 403,
        body: {
          error: {
            code: 'Forbidden',
            message: expect.stringContaining('does not have secrets get permission on key vault'),
            innererror: { code: 'ForbiddenByPolicy' },
          },
        },
      });
      em.controls.deny({ operations: ['get'], model: 'first-party' });
      expect(await read()).toMatchObject({
        status: 403,
        body: {
          error: {
            code: 'Forbidden',
            message: expect.stringMatching(/^Access denied to first party service\./),
            innererror: { code: 'AccessDenied' },
          },
        },
      });
    } finally {
      em.controls.allow();
    }
  });

  it('throttles with 429 and Retry-After', async () => {
    em.controls.throttle(1, 7);
    const reply = await call(em, 'GET', '/secrets?api-version=7.5', { token });
    expect(reply.status).toBe(429);
    expect(reply.headers['retry-after']).toBe('7');
  });

  it('answers AADSTS7000222 for an expired client secret', async () => {
    em.controls.registerApp({ clientId: 'wire-expired', secret: 's' });
    em.controls.expireClientSecret('wire-expired');
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'wire-expired',
      client_secret: 's',
      scope: 'https://vault.azure.net/.default',
    });
    const reply = await call(em, 'POST', `/${em.controls.tenantId}/oauth2/v2.0/token`, {
      form: form.toString(),
    });
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ error: 'invalid_client', error_codes: [7000222] });
    expect((reply.body as { error_description: string }).error_description).toMatch(
      /^AADSTS7000222: The provided client secret keys for app 'wire-expired' are expired\./,
    );
  });
});

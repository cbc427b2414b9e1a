/** The Infisical emulator answers with the Infisical API reference's paths, statuses and bodies (plain fetch). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InfisicalEmulator, startInfisicalEmulator } from './index.js';

describe('Infisical emulator wire format', () => {
  let inf: InfisicalEmulator;
  let project: string;
  let creds: { identityId: string; clientId: string; clientSecret: string };
  const call = async (method: string, path: string, options: { token?: string; body?: unknown } = {}) => {
    const res = await fetch(`${inf.url}${path}`, {
      method,
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body ? { 'content-type': 'application/json' } : {}),
      },
      body: options.body ? JSON.stringify(options.body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const login = async () =>
    (
      await call('POST', '/api/v1/auth/universal-auth/login', {
        body: { clientId: creds.clientId, clientSecret: creds.clientSecret },
      })
    ).body.accessToken as string;

  beforeAll(async () => {
    inf = await startInfisicalEmulator();
    project = inf.addProject(['prod', 'dev']);
    inf.setSecret(project, 'prod', '/', 'KEY', 'v1');
    inf.setSecret(project, 'prod', '/', 'KEY', 'v2');
    creds = inf.addIdentity({ [project]: ['prod'] }, { accessTokenTtlSeconds: 7200 });
  });
  afterAll(async () => {
    await inf.stop();
  });

  it('universal-auth login answers accessToken, expiresIn, accessTokenMaxTTL, tokenType; bad credentials 401', async () => {
    const ok = await call('POST', '/api/v1/auth/universal-auth/login', {
      body: { clientId: creds.clientId, clientSecret: creds.clientSecret },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ expiresIn: 7200, tokenType: 'Bearer' });
    expect(ok.body.accessToken).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const bad = await call('POST', '/api/v1/auth/universal-auth/login', {
      body: { clientId: creds.clientId, clientSecret: 'x' },
    });
    expect(bad).toMatchObject({
      status: 401,
      body: { statusCode: 401, message: 'Invalid credentials', error: 'UnauthorizedError' },
    });
    expect(bad.body.reqId).toEqual(expect.any(String));
  });

  it('raw secret by name, pinned version, 404 NotFound with the name', async () => {
    const token = await login();
    const q = `workspaceId=${project}&environment=prod&secretPath=/`;
    expect((await call('GET', `/api/v3/secrets/raw/KEY?${q}`, { token })).body.secret).toMatchObject({
      secretKey: 'KEY',
      secretValue: 'v2',
      version: 2,
      workspace: project,
      environment: 'prod',
      type: 'shared',
    });
    expect(
      (await call('GET', `/api/v3/secrets/raw/KEY?${q}&version=1`, { token })).body.secret,
    ).toMatchObject({ secretValue: 'v1', version: 1 });
    expect(await call('GET', `/api/v3/secrets/raw/NOPE?${q}`, { token })).toMatchObject({
      status: 404,
      body: { statusCode: 404, error: 'NotFound', message: "Secret with name 'NOPE' not found" },
    });
  });

  it('403 PermissionDenied without access; 403 TokenError for an unknown or expired token', async () => {
    const token = await login();
    expect(
      await call('GET', `/api/v3/secrets/raw?workspaceId=${project}&environment=dev`, { token }),
    ).toMatchObject({
      status: 403,
      body: { error: 'PermissionDenied', message: 'You are not allowed to read on secrets' },
    });
    expect(
      (await call('GET', `/api/v3/secrets/raw?workspaceId=${project}&environment=prod`, { token: 'x.y.z' }))
        .body,
    ).toMatchObject({ statusCode: 403, error: 'TokenError' });
    inf.expireAll();
    expect(
      (await call('GET', `/api/v3/secrets/raw?workspaceId=${project}&environment=prod`, { token })).body,
    ).toMatchObject({
      error: 'TokenError',
      message: 'Your token has expired. Please re-authenticate.',
    });
  });

  it('expands ${KEY} and ${env.folder.KEY} references (nested, a missing one kept) only with expandSecretReferences=true; an unreadable one is 403', async () => {
    const token = await login();
    inf.setSecret(project, 'prod', '/refs', 'HOST', 'db.internal');
    inf.setSecret(project, 'prod', '/refs/shared', 'NAME', 'bob');
    inf.setSecret(project, 'prod', '/refs/shared', 'USER', 'u-${NAME}');
    inf.setSecret(project, 'prod', '/refs', 'URL', 'pg://${prod.refs.shared.USER}@${HOST}/${MISSING}');
    inf.setSecret(project, 'prod', '/refs', 'LEAK', 'x-${dev.OTHER}');
    const q = `workspaceId=${project}&environment=prod&secretPath=/refs`;
    const url = (extra = '') => call('GET', `/api/v3/secrets/raw/URL?${q}${extra}`, { token });
    expect((await url()).body.secret).toMatchObject({
      secretValue: 'pg://${prod.refs.shared.USER}@${HOST}/${MISSING}',
    });
    expect((await url('&expandSecretReferences=true')).body.secret).toMatchObject({
      secretValue: 'pg://u-bob@db.internal/${MISSING}',
    });
    expect(
      await call('GET', `/api/v3/secrets/raw/LEAK?${q}&expandSecretReferences=true`, { token }),
    ).toMatchObject({
      status: 403,
      body: {
        statusCode: 403,
        error: 'ForbiddenError',
        message:
          "You do not have permission to read secret 'OTHER' in environment 'dev' at path '/', which is referenced by secret 'LEAK' in environment 'prod' at path '/refs'.",
      },
    });
  });

  it('include_imports=true: a key the folder lacks comes from its imports (the last first), listed under imports', async () => {
    const token = await login();
    inf.setSecret(project, 'prod', '/base', 'SHARED', 'from-base');
    inf.setSecret(project, 'prod', '/base', 'BOTH', 'base-both');
    inf.setSecret(project, 'prod', '/later', 'BOTH', 'later-both');
    inf.setSecret(project, 'prod', '/app', 'OWN', 'own');
    inf.addImport(project, 'prod', '/app', { environment: 'prod', secretPath: '/base' });
    inf.addImport(project, 'prod', '/app', { environment: 'prod', secretPath: '/later' });
    inf.addImport(project, 'prod', '/app', { environment: 'dev', secretPath: '/' });
    const q = `workspaceId=${project}&environment=prod&secretPath=/app`;
    const get = (key: string, extra = '') =>
      call('GET', `/api/v3/secrets/raw/${key}?${q}${extra}`, { token });
    expect((await get('SHARED')).status).toBe(404);
    expect((await get('SHARED', '&include_imports=true')).body.secret).toMatchObject({
      secretKey: 'SHARED',
      secretValue: 'from-base',
      environment: 'prod',
      secretPath: '/base',
    });
    expect((await get('BOTH', '&include_imports=true')).body.secret).toMatchObject({
      secretValue: 'later-both',
    });
    const list = await call('GET', `/api/v3/secrets/raw?${q}&include_imports=true&viewSecretValue=false`, {
      token,
    });
    expect((list.body.secrets as Array<{ secretKey: string }>).map((x) => x.secretKey)).toEqual(['OWN']);
    expect(
      (
        list.body.imports as Array<{
          secretPath: string;
          environment: string;
          secrets: Array<{ secretKey: string }>;
        }>
      ).map((i) => [i.environment, i.secretPath, i.secrets.map((x) => x.secretKey)]),
    ).toEqual([
      ['prod', '/base', ['SHARED', 'BOTH']],
      ['prod', '/later', ['BOTH']],
    ]);
    const plain = await call('GET', `/api/v3/secrets/raw?${q}`, { token });
    expect(plain.body.imports).toEqual([]);
  });

  it('the list hides values with viewSecretValue=false', async () => {
    const token = await login();
    const list = await call(
      'GET',
      `/api/v3/secrets/raw?workspaceId=${project}&environment=prod&viewSecretValue=false`,
      { token },
    );
    expect(list.body).toEqual({
      secrets: [
        expect.objectContaining({
          secretKey: 'KEY',
          secretValue: '<hidden-by-infisical>',
          secretValueHidden: true,
        }),
      ],
      imports: [],
    });
  });
});

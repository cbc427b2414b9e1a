/** The Vault emulator answers with Vault's status codes and bodies (checked with plain fetch). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultEmulator, type VaultEmulator } from './index.js';

describe('Vault emulator wire format', () => {
  let vault: VaultEmulator;
  const call = async (
    method: string,
    path: string,
    options: { token?: string; body?: unknown; namespace?: string } = {},
  ) => {
    const res = await fetch(`${vault.url}/v1/${path}`, {
      method,
      headers: {
        ...(options.token !== undefined ? { 'X-Vault-Token': options.token } : {}),
        ...(options.namespace ? { 'X-Vault-Namespace': options.namespace } : {}),
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await res.text();
    // biome-ignore lint/suspicious/noExplicitAny: the test walks arbitrary Vault JSON answers
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
  };

  beforeAll(async () => {
    vault = await startVaultEmulator({
      mounts: { secret: 2, legacy: 1 },
      policies: { narrow: [{ path: 'secret/data/allowed/*', capabilities: ['read'] }] },
      users: { ann: { password: 'pw', policies: ['narrow'], ttlSeconds: 100 } },
    });
  });
  afterAll(async () => {
    await vault.stop();
  });

  it('answers a bad token with 403 permission denied and an ACL miss with the multi-error form', async () => {
    expect(await call('GET', 'secret/data/x', { token: 'nope' })).toEqual({
      status: 403,
      body: { errors: ['permission denied'] },
    });
    const login = await call('POST', 'auth/userpass/login/ann', { body: { password: 'pw' } });
    expect(login.status).toBe(200);
    expect(login.body?.auth).toMatchObject({
      lease_duration: 100,
      renewable: true,
      policies: ['default', 'narrow'],
    });
    const token = login.body?.auth.client_token as string;
    expect(await call('GET', 'secret/data/other', { token })).toEqual({
      status: 403,
      body: { errors: ['1 error occurred:\n\t* permission denied\n\n'] },
    });
    expect((await call('POST', 'auth/userpass/login/ann', { body: { password: 'bad' } })).body).toEqual({
      errors: ['invalid username or password'],
    });
  });

  it('serves KV v2 with sorted data keys, 404 {"errors":[]} when missing, and deletion metadata when deleted', async () => {
    const token = vault.rootToken;
    expect(await call('GET', 'secret/data/none', { token })).toEqual({ status: 404, body: { errors: [] } });
    const write = await call('POST', 'secret/data/app', { token, body: { data: { b: 2, a: 1 } } });
    expect(write.body?.data).toMatchObject({ version: 1, destroyed: false, deletion_time: '' });
    const read = await call('GET', 'secret/data/app', { token });
    expect(JSON.stringify(read.body?.data.data)).toBe('{"a":1,"b":2}');
    expect(
      (await call('POST', 'secret/data/app', { token, body: { data: { a: 3 }, options: { cas: 0 } } })).body,
    ).toEqual({
      errors: ['check-and-set parameter did not match the current version'],
    });
    expect((await call('DELETE', 'secret/data/app', { token })).status).toBe(204);
    const deleted = await call('GET', 'secret/data/app', { token });
    expect(deleted.status).toBe(404);
    expect(deleted.body?.data.data).toBeNull();
    expect(deleted.body?.data.metadata.deletion_time).not.toBe('');
    expect((await call('POST', 'secret/undelete/app', { token, body: { versions: [1] } })).status).toBe(204);
    expect((await call('GET', 'secret/data/app', { token })).status).toBe(200);
    // A path under no mount: Vault's router answers 404 naming the route.
    expect(await call('GET', 'secrett/data/app', { token })).toEqual({
      status: 404,
      body: { errors: ['no handler for route "secrett/data/app". route entry not found.'] },
    });
    // A KV v1 path on a KV v2 mount: 404 without errors, the reason as a warning naming the CLI command.
    const v1Path = await call('GET', 'secret/app', { token });
    expect(v1Path.status).toBe(404);
    expect(v1Path.body?.data).toBeNull();
    expect(v1Path.body?.errors).toBeUndefined();
    expect(v1Path.body?.warnings).toEqual([
      "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.",
    ]);
    expect((await call('POST', 'secret/app', { token, body: { a: 1 } })).body?.warnings[0]).toMatch(
      /use 'vault kv put' for this operation\.$/,
    );
    expect((await call('GET', 'secret/app/?list=true', { token })).body?.warnings[0]).toMatch(
      /use 'vault kv list' for this operation\.$/,
    );
    expect((await call('GET', 'secret/metadata', { token })).body?.warnings).toEqual([
      'Non-listing operations on the root of a K/V v2 mount are not supported.',
    ]);
  });

  it('cas_required on a secret (metadata) or a mount (config): writes without options.cas are refused with 400', async () => {
    const token = vault.rootToken;
    const plain = { data: { a: 1 } };
    expect(
      (await call('POST', 'secret/metadata/locked', { token, body: { cas_required: true } })).status,
    ).toBe(204);
    expect((await call('GET', 'secret/metadata/locked', { token })).body?.data.cas_required).toBe(true);
    expect(await call('POST', 'secret/data/locked', { token, body: plain })).toEqual({
      status: 400,
      body: { errors: ['check-and-set parameter required for this call'] },
    });
    const first = await call('POST', 'secret/data/locked', {
      token,
      body: { ...plain, options: { cas: 0 } },
    });
    expect(first.body?.data.version).toBe(1);
    expect((await call('POST', 'secret/config', { token, body: { cas_required: true } })).status).toBe(204);
    expect((await call('GET', 'secret/config', { token })).body?.data).toEqual({
      cas_required: true,
      delete_version_after: '0s',
      max_versions: 0,
    });
    expect((await call('POST', 'secret/data/anything', { token, body: plain })).status).toBe(400);
    expect((await call('POST', 'secret/config', { token, body: { cas_required: false } })).status).toBe(204);
    expect((await call('POST', 'secret/data/anything', { token, body: plain })).status).toBe(200);
  });

  it('delete_version_after (secret metadata or mount config, the smaller non-zero one): a version is served until its deletion_time', async () => {
    const token = vault.rootToken;
    expect(
      (await call('POST', 'secret/metadata/timed', { token, body: { delete_version_after: '2h' } })).status,
    ).toBe(204);
    expect((await call('GET', 'secret/metadata/timed', { token })).body?.data.delete_version_after).toBe(
      '2h0m0s',
    );
    const written = await call('POST', 'secret/data/timed', { token, body: { data: { a: 1 } } });
    const { created_time, deletion_time } = written.body?.data ?? {};
    expect(Date.parse(deletion_time) - Date.parse(created_time)).toBe(2 * 3600_000);
    const live = await call('GET', 'secret/data/timed', { token });
    expect(live.status).toBe(200);
    expect(live.body?.data.metadata.deletion_time).toBe(deletion_time);
    // The mount's setting counts when it is the smaller one (90 seconds, given in seconds).
    expect((await call('POST', 'secret/config', { token, body: { delete_version_after: 90 } })).status).toBe(
      204,
    );
    expect((await call('GET', 'secret/config', { token })).body?.data.delete_version_after).toBe('1m30s');
    const second = await call('POST', 'secret/data/timed', { token, body: { data: { a: 2 } } });
    const times = second.body?.data;
    expect(Date.parse(times.deletion_time) - Date.parse(times.created_time)).toBe(90_000);
    expect(
      (await call('POST', 'secret/config', { token, body: { delete_version_after: '0s' } })).status,
    ).toBe(204);
    // A soft delete before the time moves the deletion to now.
    expect((await call('DELETE', 'secret/data/timed', { token })).status).toBe(204);
    expect((await call('GET', 'secret/data/timed', { token })).status).toBe(404);
  });

  it('lists with GET ?list=true, folders ending in "/"', async () => {
    vault.writeSecret('tree/leaf', { value: '1' });
    vault.writeSecret('tree/dir/inner', { value: '2' });
    const res = await call('GET', 'secret/metadata/tree/?list=true', { token: vault.rootToken });
    expect(res.body?.data.keys).toEqual(['dir/', 'leaf']);
    expect((await call('GET', 'secret/metadata/empty/?list=true', { token: vault.rootToken })).status).toBe(
      404,
    );
  });

  it('answers the KV preflight with the mount path and version, or 403 without access', async () => {
    const v2 = await call('GET', 'sys/internal/ui/mounts/secret/app', { token: vault.rootToken });
    expect(v2.body?.data).toMatchObject({ path: 'secret/', type: 'kv', options: { version: '2' } });
    const v1 = await call('GET', 'sys/internal/ui/mounts/legacy', { token: vault.rootToken });
    expect(v1.body?.data).toMatchObject({ path: 'legacy/', options: null });
    const token = vault.issueToken({ policies: [] });
    expect(await call('GET', 'sys/internal/ui/mounts/secret', { token })).toEqual({
      status: 403,
      body: {
        errors: [
          'preflight capability check returned 403, please ensure client\'s policies grant access to path "secret/"',
        ],
      },
    });
  });

  it('renews renewable tokens, refuses the rest, and reports capabilities per path', async () => {
    const token = vault.issueToken({ policies: ['narrow'], ttlSeconds: 50 });
    const renewed = await call('POST', 'auth/token/renew-self', { token, body: {} });
    expect(renewed.body?.auth).toMatchObject({ client_token: token, lease_duration: 50, renewable: true });
    const fixed = vault.issueToken({ renewable: false });
    expect((await call('POST', 'auth/token/renew-self', { token: fixed, body: {} })).body).toEqual({
      errors: ['lease is not renewable'],
    });
    const caps = await call('POST', 'sys/capabilities-self', {
      token,
      body: { paths: ['secret/data/allowed/x', 'secret/data/no'] },
    });
    expect(caps.body?.data).toEqual({ 'secret/data/allowed/x': ['read'], 'secret/data/no': ['deny'] });
    vault.expireToken(token);
    expect((await call('GET', 'auth/token/lookup-self', { token })).status).toBe(403);
  });

  it('is sealed with 503 and counts the calls it refused', async () => {
    vault.resetCalls();
    vault.seal();
    expect(await call('GET', 'secret/data/app', { token: vault.rootToken })).toEqual({
      status: 503,
      body: { errors: ['Vault is sealed'] },
    });
    vault.unseal();
    expect(vault.calls['kv:read']).toBe(1);
    expect(await call('GET', 'secret/data/app', { token: vault.rootToken, namespace: 'nowhere' })).toEqual({
      status: 404,
      body: { errors: ['namespace not found'] },
    });
  });
});

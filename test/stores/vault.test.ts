/**
 * The vault store over HTTP against the local Vault emulator: the shared contract, token,
 * userpass and approle auth, renewal and re-login, KV v1/v2 detection, every mapped error,
 * namespaces and caFile.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AccessDeniedError,
  ConfigError,
  InvalidRequestError,
  SecretNotFoundError,
  SecretStateError,
  StoreUnavailableError,
  UnsupportedOperationError,
} from '../../src/errors.js';
import type { StoreContext } from '../../src/stores/contract.js';
import { scrubber } from '../../src/stores/core/index.js';
import { VAULT_SCRUB } from '../../src/stores/vault/errors.js';
import {
  textToVaultData,
  VaultStore,
  type VaultSettings,
  vaultDataToText,
  vaultStoreType,
} from '../../src/stores/vault/index.js';
import { startVaultEmulator, type VaultEmulator } from '../emulators/vault/index.js';
import { EMULATOR_TLS_CERT, EMULATOR_TLS_KEY } from '../emulators/vault/tls-fixture.js';
import { runStoreContract, runStoreFaultContract } from './contract.js';

const ns = [''] as const;
const fastRetry = { baseDelayMs: 1, maxDelayMs: 2 };

function recordingContext(storeName = 'vault-test', baseDir?: string) {
  const warnings: string[] = [];
  const context: StoreContext = {
    storeName,
    namespace: '',
    services: {},
    baseDir,
    log: { debug() {}, info() {}, warn: (msg) => warnings.push(msg) },
  };
  return { context, warnings };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a failure, got a value');
    },
    (e: unknown) => e as Error,
  );
}

let vault: VaultEmulator;
/** A root-token POST straight to Vault's API (settings Sesame does not make: metadata, config). */
const vaultApi = (path: string, body: unknown) =>
  fetch(`${vault.url}/v1/${path}`, {
    method: 'POST',
    headers: { 'X-Vault-Token': vault.rootToken },
    body: JSON.stringify(body),
  });
let counter = 0;
const unique = (base: string) => `${base}-${process.pid}-${++counter}`;
const open: VaultStore[] = [];

function store(
  settings: Record<string, unknown> = {},
  options: { emulator?: VaultEmulator; storeName?: string; baseDir?: string } = {},
) {
  const emu = options.emulator ?? vault;
  const parsed = vaultStoreType.settings.parse({
    address: emu.url,
    auth: { method: 'token', token: emu.rootToken },
    ...settings,
  }) as VaultSettings;
  const { context, warnings } = recordingContext(options.storeName, options.baseDir);
  const client = new VaultStore(parsed, context, { retry: fastRetry });
  open.push(client);
  return { client, warnings };
}

beforeAll(async () => {
  vault = await startVaultEmulator({
    mounts: { secret: 2, kv1: 1 },
    namespaces: ['team-a'],
    policies: {
      reader: [
        { path: 'secret/data/app/*', capabilities: ['read'] },
        { path: 'secret/metadata/app/*', capabilities: ['list'] },
      ],
      writer: [
        { path: 'secret/data/*', capabilities: ['create', 'read', 'update', 'delete'] },
        { path: 'secret/metadata/*', capabilities: ['list', 'read', 'delete'] },
        { path: 'secret/undelete/*', capabilities: ['update'] },
        { path: 'secret/destroy/*', capabilities: ['update'] },
      ],
    },
    users: {
      john: { password: 'john-password-7c1', policies: ['reader'] },
      short: { password: 'short-password-9d2', policies: ['reader'], ttlSeconds: 60 },
      capped: { password: 'capped-password-4e1', policies: ['reader'], ttlSeconds: 60, maxTtlSeconds: 80 },
    },
    approles: { app: { roleId: 'role-id-1234', secretId: 'secret-id-5678-abcd', policies: ['writer'] } },
  });
  vault.writeSecret('app/db', { password: 'db-password-value' });
  vault.writeSecret('app/plain', { value: 'plain-text-value' });
  vault.writeSecret('other/hidden', { value: 'hidden-value-3f9' });
});
afterEach(async () => {
  vi.useRealTimers();
  vault.unseal();
  vault.standby(false);
  while (open.length) await open.pop()?.close();
});
afterAll(async () => {
  await vault?.stop();
});

const vaultContract = {
  label: 'vault kv v2 (emulator)',
  storeType: vaultStoreType as never,
  harness: async () => {
    const { client } = store({ prefix: 'contract/' });
    const prefixed = store({ prefix: 'contract/pfx/' }).client;
    open.splice(-2); // the contract closes them itself
    return {
      client,
      seed: async (name: string, value: string) => void vault.writeSecret(`contract/${name}`, { value }),
      faults: vault.faults,
      settings: {
        address: vault.url,
        kvVersion: 2,
        prefix: 'contract/',
        auth: { method: 'token', token: vault.rootToken },
      },
      prefixed: { prefix: 'pfx/', client: prefixed },
    };
  },
};
runStoreContract(vaultContract);
runStoreFaultContract(vaultContract);

describe('vault settings', () => {
  it('is strict, requires auth, and names its credential settings', () => {
    const parse = (v: unknown) => vaultStoreType.settings.safeParse(v);
    expect(parse({ address: 'https://vault:8200', auth: { method: 'token', token: 't' } }).success).toBe(
      true,
    );
    expect(parse({ address: 'https://vault:8200' }).success).toBe(false);
    expect(parse({ address: 'vault:8200', auth: { method: 'token', token: 't' } }).success).toBe(false);
    expect(
      parse({ address: 'https://vault:8200', auth: { method: 'userpass', username: 'u' } }).success,
    ).toBe(false);
    expect(
      parse({ address: 'https://vault:8200', kvVersion: 3, auth: { method: 'token', token: 't' } }).success,
    ).toBe(false);
    const parsed = vaultStoreType.settings.parse({
      address: 'https://vault:8200',
      mount: '/kv/',
      namespace: 'team-a/',
      auth: { method: 'approle', roleId: 'r', secretId: 's' },
    });
    expect(parsed).toMatchObject({ mount: 'kv', namespace: 'team-a', prefix: '', auth: { path: 'approle' } });
    expect(vaultStoreType.secretSettings).toEqual(['auth.token', 'auth.password', 'auth.secretId']);
    const authPath = (path: string) =>
      parse({
        address: 'https://vault:8200',
        auth: { method: 'userpass', username: 'u', password: 'p', path },
      }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(authPath('team/../root')).toEqual([
      'auth.path: path may not contain "." or ".." path segments (e.g. userpass)',
    ]);
    expect(authPath('user pass')).toEqual(['auth.path: path is the auth mount path, e.g. userpass']);
    expect(authPath('/team/userpass/')).toBeUndefined();
  });
});

describe('vault values', () => {
  it('maps a single "value" field to text and other maps to JSON, and back', () => {
    expect(vaultDataToText({ value: 'pw' })).toBe('pw');
    expect(vaultDataToText({ password: 'pw', user: 'u' })).toBe('{"password":"pw","user":"u"}');
    expect(textToVaultData('plain')).toEqual({ value: 'plain' });
    expect(textToVaultData('{"user":"u","password":"p"}')).toEqual({ user: 'u', password: 'p' });
    expect(textToVaultData('{"value":"x"}')).toEqual({ value: '{"value":"x"}' });
    expect(textToVaultData('[1,2]')).toEqual({ value: '[1,2]' });
  });

  it('stores JSON objects as Vault fields and reads multi-field secrets as JSON', async () => {
    const name = unique('json');
    const { client } = store();
    await client.write(name, '{"user":"app","password":"p@ss"}', { namespace: '' });
    expect(vault.readSecret(name)).toEqual({ user: 'app', password: 'p@ss' });
    expect((await client.get({ name, namespaces: ns })).value).toBe('{"password":"p@ss","user":"app"}');
  });
});

describe('vault auth methods', () => {
  it('userpass: logs in once and reads with the client token', async () => {
    vault.resetCalls();
    const { client } = store({
      auth: { method: 'userpass', username: 'john', password: 'john-password-7c1' },
      kvVersion: 2,
    });
    expect((await client.get({ name: 'app/db', namespaces: ns })).value).toBe(
      '{"password":"db-password-value"}',
    );
    expect((await client.get({ name: 'app/plain', namespaces: ns })).value).toBe('plain-text-value');
    expect(vault.calls['login:userpass']).toBe(1);
  });

  it('userpass: a wrong password is access denied without echoing it', async () => {
    const { client } = store({
      auth: { method: 'userpass', username: 'john', password: 'wrong-pass-123' },
      kvVersion: 2,
    });
    const err = await failure(client.get({ name: 'app/db', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe(
      '[vault-test] userpass login as "john" failed: invalid username or password (check auth.username and auth.password)',
    );
    expect(err.message).not.toContain('wrong-pass-123');
  });

  it('approle: logs in with role_id and secret_id, and reports bad ones', async () => {
    vault.resetCalls();
    const { client } = store({
      auth: { method: 'approle', roleId: 'role-id-1234', secretId: 'secret-id-5678-abcd' },
    });
    const name = unique('approle');
    await client.write(name, 'written-by-approle', { namespace: '' });
    expect((await client.get({ name, namespaces: ns })).value).toBe('written-by-approle');
    expect(vault.calls['login:approle']).toBe(1);
    const bad = store({
      auth: { method: 'approle', roleId: 'role-id-1234', secretId: 'not-the-secret-id' },
    }).client;
    const err = await failure(bad.get({ name, namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toContain('approle login failed: invalid role or secret ID');
    expect(err.message).not.toContain('not-the-secret-id');
  });

  it('token: an expired configured token is access denied saying to set a new one', async () => {
    const token = vault.issueToken({ policies: ['reader'], ttlSeconds: 600 });
    const { client } = store({ auth: { method: 'token', token }, kvVersion: 2 });
    expect((await client.get({ name: 'app/plain', namespaces: ns })).value).toBe('plain-text-value');
    vault.expireToken(token);
    const err = await failure(client.get({ name: 'app/plain', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe(
      '[vault-test] the Vault token is invalid or expired: set a valid, unexpired token in auth.token',
    );
    expect(err.message).not.toContain(token);
  });
});

describe('vault token lifetime', () => {
  it('renews a login token with renew-self at two thirds of its lease, without logging in again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vault.resetCalls();
    const { client } = store({
      auth: { method: 'userpass', username: 'short', password: 'short-password-9d2' },
      kvVersion: 2,
    });
    await client.get({ name: 'app/plain', namespaces: ns });
    const [token] = vault.loginTokens().slice(-1);
    await vi.advanceTimersByTimeAsync(39_000);
    expect(vault.calls['token:renew-self'] ?? 0).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    await vi.waitFor(() => expect(vault.calls['token:renew-self']).toBe(1));
    expect(vault.tokenTtl(token as string)).toBeGreaterThan(55);
    await vi.advanceTimersByTimeAsync(41_000);
    await vi.waitFor(() => expect(vault.calls['token:renew-self']).toBe(2));
    // 82 s after login: the original 60 s lease is long gone, the renewed token still works.
    expect((await client.get({ name: 'app/plain', namespaces: ns })).value).toBe('plain-text-value');
    expect(vault.calls['login:userpass']).toBe(1);
  });

  it('looks up a configured token in the background and renews it before it expires', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const token = vault.issueToken({ policies: ['reader'], ttlSeconds: 30 });
    vault.resetCalls();
    const { client } = store({ auth: { method: 'token', token }, kvVersion: 2 });
    await client.get({ name: 'app/plain', namespaces: ns });
    await vi.waitFor(() => expect(vault.calls['token:lookup-self']).toBe(1));
    await vi.advanceTimersByTimeAsync(21_000);
    await vi.waitFor(() => expect(vault.calls['token:renew-self']).toBe(1));
    await vi.advanceTimersByTimeAsync(15_000);
    expect((await client.get({ name: 'app/plain', namespaces: ns })).value).toBe('plain-text-value');
  });

  it('logs in again instead of renewing when renewals shrink near the max TTL', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vault.resetCalls();
    const { client } = store({
      auth: { method: 'userpass', username: 'capped', password: 'capped-password-4e1' },
      kvVersion: 2,
    });
    await client.get({ name: 'app/plain', namespaces: ns });
    // 40 s: renewed to 40 s (max TTL 80); ~67 s: renewed to ~13 s, under half the login lease.
    await vi.advanceTimersByTimeAsync(41_000);
    await vi.waitFor(() => expect(vault.calls['token:renew-self']).toBe(1));
    await vi.advanceTimersByTimeAsync(27_000);
    await vi.waitFor(() => expect(vault.calls['token:renew-self']).toBe(2));
    // ~76 s: a fresh login rather than a third renewal that would end at the max TTL anyway.
    await vi.advanceTimersByTimeAsync(10_000);
    await vi.waitFor(() => expect(vault.calls['login:userpass']).toBe(2));
    expect(vault.calls['token:renew-self']).toBe(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect((await client.get({ name: 'app/plain', namespaces: ns })).value).toBe('plain-text-value');
    expect(vault.calls['login:userpass']).toBe(2);
  });

  it('stops renewing once closed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vault.resetCalls();
    const { client } = store({
      auth: { method: 'userpass', username: 'short', password: 'short-password-9d2' },
      kvVersion: 2,
    });
    await client.get({ name: 'app/plain', namespaces: ns });
    await client.close();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(vault.calls['token:renew-self'] ?? 0).toBe(0);
  });

  it('logs in again after a 403 for an expired token, then retries the read once', async () => {
    vault.resetCalls();
    const { client } = store({
      auth: { method: 'userpass', username: 'john', password: 'john-password-7c1' },
      kvVersion: 2,
    });
    await client.get({ name: 'app/plain', namespaces: ns });
    vault.expireToken();
    expect((await client.get({ name: 'app/plain', namespaces: ns })).value).toBe('plain-text-value');
    expect(vault.calls['login:userpass']).toBe(2);
    expect(vault.calls['kv:read']).toBe(3);
  });

  it('does not log in again when the token is alive but lacks the capability', async () => {
    vault.resetCalls();
    const { client } = store({
      auth: { method: 'userpass', username: 'john', password: 'john-password-7c1' },
      kvVersion: 2,
    });
    const err = await failure(client.get({ name: 'other/hidden', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(vault.calls['login:userpass']).toBe(1);
    expect(vault.calls['token:lookup-self']).toBe(1);
  });
});

describe('vault errors', () => {
  it('404 → SecretNotFoundError naming the path', async () => {
    const err = await failure(store().client.get({ name: 'nowhere/nothing', namespaces: ns }));
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect(err.message).toBe('[vault-test] secret "nowhere/nothing" not found at secret/nowhere/nothing');
    expect((err as SecretNotFoundError).fix).toBe(
      'create the secret, or check the name, the mount and the store prefix',
    );
    // A pinned version is not fixed by creating the secret; restoring nothing has nothing to restore.
    const name = unique('one-version');
    vault.writeSecret(name, { value: 'x' });
    const version = await failure(store().client.get({ name, version: '9', namespaces: ns }));
    expect(version).toBeInstanceOf(SecretNotFoundError);
    expect((version as SecretNotFoundError).fix).toBe(
      `pin a version the secret has (\`sesame secrets versions ${name}\` lists them), or leave ?version= out for the latest`,
    );
    const restore = await failure(store().client.restore('nowhere/nothing'));
    expect(restore).toBeInstanceOf(SecretNotFoundError);
    expect((restore as SecretNotFoundError).fix).toBe(
      'nothing to restore: no deleted secret has this name (deleted for good, or never created); check the name, the mount and the store prefix',
    );
  });

  it('403 → AccessDeniedError naming the capability (read or list) and the exact path', async () => {
    const { client } = store({
      auth: { method: 'userpass', username: 'john', password: 'john-password-7c1' },
      kvVersion: 2,
    });
    const read = await failure(client.get({ name: 'other/hidden', namespaces: ns }));
    expect(read).toBeInstanceOf(AccessDeniedError);
    expect(read.message).toBe(
      '[vault-test] permission denied: grant "read" on secret/data/other/hidden — policy: path "secret/data/other/hidden" { capabilities = ["read"] }',
    );
    expect(read.message).not.toContain('hidden-value-3f9');
    const list = await failure(client.list({ namespaces: ns, prefix: 'other/' }));
    expect(list).toBeInstanceOf(AccessDeniedError);
    expect(list.message).toContain('grant "list" on secret/metadata/other/');
    // A write needs "create" for a new secret and "update" for an existing one: both are asked for.
    const write = await failure(client.write('app/new-one', 'v', { namespace: '' }));
    expect(write).toBeInstanceOf(AccessDeniedError);
    expect((write as AccessDeniedError).fix).toBe(
      'grant "create", "update" on secret/data/app/new-one — policy: path "secret/data/app/new-one" { capabilities = ["create", "update"] }',
    );
  });

  it('sealed (503) → retried, then StoreUnavailableError saying to unseal', async () => {
    const { client } = store({ kvVersion: 2 });
    vault.seal();
    vault.resetCalls();
    const err = await failure(client.get({ name: 'app/plain', namespaces: ns }));
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toBe(
      '[vault-test] Vault is sealed (503): unseal it (vault operator unseal) and retry (after 3 attempts)',
    );
    expect(vault.calls['kv:read']).toBe(3);
  });

  it('standby without an active node → StoreUnavailableError', async () => {
    const { client } = store({ kvVersion: 2 });
    vault.standby(true);
    const err = await failure(client.get({ name: 'app/plain', namespaces: ns }));
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toContain('Vault has no active node');
  });

  it('a passing 500 is retried with backoff', async () => {
    const { client } = store({ kvVersion: 2 });
    vault.resetCalls();
    vault.failNext('kv:read', 2, 500, 'internal error');
    expect((await client.get({ name: 'app/plain', namespaces: ns })).value).toBe('plain-text-value');
    expect(vault.calls['kv:read']).toBe(3);
  });

  it('an unreachable Vault is StoreUnavailableError naming the address', async () => {
    const gone = await startVaultEmulator();
    const { client } = store({ kvVersion: 2 }, { emulator: gone });
    await gone.stop();
    const err = await failure(client.get({ name: 'x', namespaces: ns }));
    expect(err).toBeInstanceOf(StoreUnavailableError);
    const port = new URL(gone.url).port;
    expect(err.message).toMatch(
      new RegExp(
        `^\\[vault-test\\] .+ at Vault ${gone.url}: 127\\.0\\.0\\.1:${port} refused the connection: nothing listens on port ${port} \\(ECONNREFUSED\\) \\(after 3 attempts\\)$`,
      ),
    );
    expect((err as StoreUnavailableError).fix).toBe(
      'check the port in address and that the store is running',
    );
  });

  it('check-and-set: writes with the expected version and refuses a stale one', async () => {
    const name = unique('cas');
    const { client } = store();
    const v1 = await client.write(name, 'a', { namespace: '' });
    const v2 = await client.write(name, 'b', { namespace: '', expectedVersion: v1.version });
    expect(v2.version).toBe('2');
    const err = await failure(client.write(name, 'c', { namespace: '', expectedVersion: v1.version }));
    expect(err).toBeInstanceOf(SecretStateError);
    expect(err.message).toBe(
      `[vault-test] secret "${name}" changed: its current version is not 1 (check-and-set refused the write)`,
    );
  });

  it('a secret or mount that requires check-and-set: a write without an expected version says so, one with it goes through', async () => {
    const { client } = store();
    const required = (name: string) =>
      `[vault-test] Vault requires check-and-set for secret "${name}" (cas_required): write it with an expected version`;
    // One secret's metadata requires it.
    const name = unique('cas-required');
    await client.write(name, 'a', { namespace: '' });
    expect((await vaultApi(`secret/metadata/${name}`, { cas_required: true })).status).toBe(204);
    const err = await failure(client.write(name, 'b', { namespace: '' }));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.message).toBe(required(name));
    expect((err as InvalidRequestError).fix).toBe(
      'give the newest version as the expected one (sesame secrets set --expected-version N; 0 when the secret does not exist yet): Vault refuses other writes to it',
    );
    expect((await client.write(name, 'b', { namespace: '', expectedVersion: '1' })).version).toBe('2');
    // The whole mount requires it, also for a secret that does not exist yet.
    expect((await vaultApi('secret/config', { cas_required: true })).status).toBe(204);
    try {
      const fresh = unique('cas-mount');
      expect((await failure(client.write(fresh, 'x', { namespace: '' }))).message).toBe(required(fresh));
      expect((await client.write(fresh, 'x', { namespace: '', expectedVersion: '0' })).version).toBe('1');
      const stale = await failure(client.write(fresh, 'y', { namespace: '', expectedVersion: '0' }));
      expect(stale).toBeInstanceOf(SecretStateError);
    } finally {
      expect((await vaultApi('secret/config', { cas_required: false })).status).toBe(204);
    }
  });

  it('destroyed versions are gone for good; deleted ones say how to restore', async () => {
    const name = unique('destroy');
    const { client } = store();
    await client.write(name, 'one', { namespace: '' });
    await client.write(name, 'two', { namespace: '' });
    await client.delete(name, { namespace: '' });
    const deleted = await failure(client.get({ name, namespaces: ns }));
    expect(deleted).toBeInstanceOf(SecretNotFoundError);
    expect(deleted.message).toContain(`restore it with \`sesame secrets restore ${name}\``);
    expect((deleted as SecretNotFoundError).fix).toBe(
      `restore it with \`sesame secrets restore ${name}\`, or \`vault kv undelete -versions=2 secret/${name}\``,
    );
    await client.destroy(name, ['2']);
    const destroyed = await failure(client.get({ name, namespaces: ns }));
    expect(destroyed.message).toBe(`[vault-test] secret "${name}" was destroyed and cannot be restored`);
    expect((await client.get({ name, version: '1', namespaces: ns })).value).toBe('one');
    expect((await client.versions(name)).map((v) => [v.version, v.destroyed])).toEqual([
      ['2', true],
      ['1', false],
    ]);
    await client.delete(name, { namespace: '', force: true });
    await expect(client.versions(name)).rejects.toBeInstanceOf(SecretNotFoundError);
  });

  it('a deletion Vault has scheduled (delete_version_after) is not one yet: the version is enabled, not deleted, nothing to restore', async () => {
    const name = unique('scheduled');
    const { client } = store();
    expect((await vaultApi(`secret/metadata/${name}`, { delete_version_after: '1h' })).status).toBe(204);
    await client.write(name, 'kept', { namespace: '' });
    expect((await client.get({ name, namespaces: ns })).value).toBe('kept');
    expect((await client.versions(name)).map((v) => [v.version, v.enabled, v.destroyed])).toEqual([
      ['1', true, false],
    ]);
    expect((await client.describe(name)).deletedAt).toBeUndefined();
    const nothing = await failure(client.restore(name, { namespace: '' }));
    expect(nothing).toBeInstanceOf(SecretStateError);
    expect(nothing.message).toBe(`[vault-test] secret "${name}" has no deleted version to restore`);
    // Two hours on, Vault has deleted it: now it is, and restore undeletes it.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 2 * 3600_000);
    expect((await failure(client.get({ name, namespaces: ns }))).message).toContain('was deleted at');
    expect((await client.versions(name))[0]?.enabled).toBe(false);
    expect((await client.describe(name)).deletedAt).toBeDefined();
    await client.restore(name, { namespace: '' });
    expect((await client.get({ name, namespaces: ns })).value).toBe('kept');
  });

  it('deleting a secret that does not exist is not found (Vault answers 204 either way); a token that may not read the metadata still deletes', async () => {
    const { client } = store();
    const missing = unique('never-written');
    for (const force of [false, true]) {
      const err = await failure(client.delete(missing, { namespace: '', force }));
      expect(err).toBeInstanceOf(SecretNotFoundError);
      expect(err.message).toBe(`[vault-test] secret "${missing}" not found at secret/${missing}`);
      expect((err as SecretNotFoundError).fix).toBe(
        'nothing to delete: check the name, the mount and the store prefix',
      );
    }
    const v1 = store({ mount: 'kv1' }).client;
    expect(await failure(v1.delete(unique('v1/none'), { namespace: '' }))).toBeInstanceOf(
      SecretNotFoundError,
    );
    // delete on data/ only: Vault would refuse the metadata read, so the delete goes ahead as before.
    vault.setPolicy('deleter', [{ path: 'secret/data/del/*', capabilities: ['delete'] }]);
    const name = unique('del/item');
    vault.writeSecret(name, { value: 'x' });
    const deleter = store({ auth: { method: 'token', token: vault.issueToken({ policies: ['deleter'] }) } });
    await deleter.client.delete(name, { namespace: '' });
    expect(await failure(client.get({ name, namespaces: ns }))).toBeInstanceOf(SecretNotFoundError);
  });

  it('refuses a folder as a secret path without asking Vault', async () => {
    vault.resetCalls();
    const { client } = store();
    const err = await failure(client.get({ name: 'app/', namespaces: ns }));
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect(err.message).toBe('[vault-test] "app/" is not a secret path');
    expect(vault.calls).toEqual({});
  });

  it('refuses non-numeric versions (?stage= is refused by the core: test/resolve/capabilities.test.ts)', async () => {
    const { client } = store();
    const err = await failure(client.get({ name: 'app/plain', version: 'abc', namespaces: ns }));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.message).toBe('[vault-test] Vault versions are numbers: ?version=abc cannot be one');
    expect(vault.calls['kv:read']).toBeUndefined();
  });

  it('never lets a token appear in a message', () => {
    expect(scrubber([], VAULT_SCRUB)('bad token hvs.CAESIJ0123456789abcdef and s.abcdefghij123')).toBe(
      'bad token hvs.[redacted] and s.[redacted]',
    );
  });
});

describe('vault KV versions and mounts', () => {
  it('detects KV v2 once through sys/internal/ui/mounts', async () => {
    vault.resetCalls();
    const { client } = store();
    await client.get({ name: 'app/plain', namespaces: ns });
    await client.get({ name: 'app/db', namespaces: ns });
    expect(vault.calls['sys:mounts']).toBe(1);
    const pinned = store({ kvVersion: 2 }).client;
    vault.resetCalls();
    await pinned.get({ name: 'app/plain', namespaces: ns });
    expect(vault.calls['sys:mounts'] ?? 0).toBe(0);
  });

  it('detects KV v1 and reads, writes, lists and deletes without versions', async () => {
    const { client } = store({ mount: 'kv1' });
    const name = unique('v1/item');
    const written = await client.write(name, 'v1-value', { namespace: '' });
    expect(written.version).toBe('unversioned');
    expect(vault.readSecret(name, { mount: 'kv1' })).toEqual({ value: 'v1-value' });
    expect(await client.get({ name, namespaces: ns })).toEqual({ value: 'v1-value', version: undefined });
    expect(
      (await client.list({ namespaces: ns, prefix: name.slice(0, name.indexOf('/') + 1) })).items.map(
        (i) => i.name,
      ),
    ).toContain(name);
    await expect(client.get({ name, version: '1', namespaces: ns })).rejects.toBeInstanceOf(
      UnsupportedOperationError,
    );
    await client.delete(name, { namespace: '' });
    await expect(client.get({ name, namespaces: ns })).rejects.toBeInstanceOf(SecretNotFoundError);
    await expect(client.restore(name, { namespace: '' })).rejects.toBeInstanceOf(UnsupportedOperationError);
  });

  it('kvVersion: 1 on a KV v2 mount: reads, writes and listings say to set kvVersion 2, not that nothing is there', async () => {
    const { client } = store({ kvVersion: 1 });
    const message =
      'config [vault-test] mount "secret" is KV v2, but kvVersion is 1 (Vault: invalid path for a versioned K/V secrets engine) (set kvVersion: 2, or leave kvVersion out to have it detected)';
    const read = await failure(client.get({ name: 'app/plain', namespaces: ns }));
    expect(read).toBeInstanceOf(ConfigError);
    expect(read.message).toBe(message);
    expect((await failure(client.write(unique('app/new'), 'x', { namespace: '' }))).message).toBe(message);
    expect((await failure(client.list({ namespaces: ns, prefix: 'app/' }))).message).toBe(message);
    expect((await failure(client.delete('app/plain', { namespace: '' }))).message).toBe(message);
    expect((await store({ kvVersion: 2 }).client.get({ name: 'app/plain', namespaces: ns })).value).toBe(
      'plain-text-value',
    );
  });

  it('a mount Vault does not have (with kvVersion set): reads, writes and listings say so, not that nothing is there', async () => {
    const { client } = store({ mount: 'secrett', kvVersion: 2 });
    const message =
      'config [vault-test] Vault has no secrets engine at "secrett/" (no handler for route "secrett/data/app/plain". route entry not found.) (check the mount setting: vault secrets list shows the mounts)';
    const read = await failure(client.get({ name: 'app/plain', namespaces: ns }));
    expect(read).toBeInstanceOf(ConfigError);
    expect(read.message).toBe(message);
    const list = await failure(client.list({ namespaces: ns, prefix: 'app/' }));
    expect(list).toBeInstanceOf(ConfigError);
    expect(list.message).toContain('Vault has no secrets engine at "secrett/"');
    const write = await failure(client.write(unique('app/new'), 'x', { namespace: '' }));
    expect(write).toBeInstanceOf(ConfigError);
  });

  it('a preflight 403 says to grant access or set kvVersion', async () => {
    const token = vault.issueToken({ policies: [] });
    const { client } = store({ auth: { method: 'token', token } });
    const err = await failure(client.get({ name: 'app/plain', namespaces: ns }));
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toContain('cannot detect the KV version of mount "secret"');
    expect(err.message).toContain('set kvVersion: 1 or 2');
  });

  it('refuses a mount that is not a KV engine, as a config error saying what to set', async () => {
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ data: { type: 'pki', options: null } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const { client } = store({ address: `http://127.0.0.1:${port}`, mount: 'pki' });
      const err = await failure(client.get({ name: 'app/plain', namespaces: ns }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toBe(
        'config [vault-test] mount "pki" is a pki secrets engine, not kv (set mount to a KV secrets engine path)',
      );
    } finally {
      server.close();
    }
  });

  it('lists folders recursively under the prefix, paging with a cursor', async () => {
    const base = unique('tree');
    for (const leaf of ['a', 'b/c', 'b/d/e', 'f']) vault.writeSecret(`${base}/${leaf}`, { value: leaf });
    const { client } = store({ prefix: `${base}/` });
    const first = await client.list({ namespaces: ns, limit: 3 });
    expect(first.items.map((i) => i.name)).toEqual(['a', 'b/c', 'b/d/e']);
    const second = await client.list({ namespaces: ns, limit: 3, cursor: first.cursor });
    expect(second).toEqual({ items: [{ name: 'f' }], cursor: undefined });
    expect((await client.list({ namespaces: ns, prefix: 'b/d' })).items).toEqual([{ name: 'b/d/e' }]);
  });
});

describe('vault namespaces and TLS', () => {
  it('sends X-Vault-Namespace: secrets of other namespaces are invisible', async () => {
    const name = unique('ns');
    vault.writeSecret(name, { value: 'in-team-a' }, { namespace: 'team-a' });
    const { client } = store({ namespace: 'team-a' });
    expect((await client.get({ name, namespaces: ns })).value).toBe('in-team-a');
    await expect(store().client.get({ name, namespaces: ns })).rejects.toBeInstanceOf(SecretNotFoundError);
    const err = await failure(store({ namespace: 'no-such-ns' }).client.get({ name, namespaces: ns }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('Vault namespace "no-such-ns" not found');
  });

  it('trusts a private CA from caFile (relative to the config directory), and fails without it', async () => {
    const tls = await startVaultEmulator({ tls: { cert: EMULATOR_TLS_CERT, key: EMULATOR_TLS_KEY } });
    try {
      tls.writeSecret('tls/secret', { value: 'over-tls' });
      const dir = mkdtempSync(path.join(tmpdir(), 'sesame-vault-ca-'));
      writeFileSync(path.join(dir, 'vault-ca.pem'), EMULATOR_TLS_CERT);
      const { client } = store({ caFile: 'vault-ca.pem' }, { emulator: tls, baseDir: dir });
      expect((await client.get({ name: 'tls/secret', namespaces: ns })).value).toBe('over-tls');
      const untrusted = store({ kvVersion: 2 }, { emulator: tls }).client;
      const err = await failure(untrusted.get({ name: 'tls/secret', namespaces: ns }));
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toMatch(
        /at Vault https:\/\/127\.0\.0\.1:\d+: the certificate of 127\.0\.0\.1:\d+ is not signed by a CA this process trusts \((SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT)\)$/,
      );
      expect((err as StoreUnavailableError).fix).toBe('set caFile to a PEM file of the CA that signed it');
      expect(() => store({ caFile: 'missing.pem' }, { emulator: tls, baseDir: dir })).toThrow(ConfigError);
      expect(() => store({ caFile: 'missing.pem' }, { emulator: tls, baseDir: dir })).toThrow(
        `config stores.vault-test.caFile: file ${path.join(dir, 'missing.pem')} does not exist (a PEM file with the CA that signed the Vault certificate)`,
      );
    } finally {
      await tls.stop();
    }
  });
});

describe('vault check', () => {
  it('reports login, mount, capabilities and the sample read', async () => {
    const { client } = store({
      auth: { method: 'userpass', username: 'john', password: 'john-password-7c1' },
      prefix: 'app/',
    });
    const report = await client.check({ namespaces: ns, sample: 'db' });
    expect(report.steps.map((s) => [s.step, s.ok])).toEqual([
      ['authenticate', true],
      ['mount', true],
      ['capability list', true],
      ['capability read', true],
      ['read', true],
    ]);
    expect(report.steps[0]?.detail).toContain('policies [default, reader]');
    expect(JSON.stringify(report)).not.toContain('db-password-value');
    expect(JSON.stringify(report)).not.toContain('john-password-7c1');
  });

  it('says which policy to add when list or read is missing', async () => {
    const { client } = store({
      auth: { method: 'userpass', username: 'john', password: 'john-password-7c1' },
      prefix: 'other/',
    });
    const report = await client.check({ namespaces: ns, sample: 'hidden' });
    expect(report.ok).toBe(false);
    const byStep = Object.fromEntries(report.steps.map((s) => [s.step, s]));
    expect(byStep['capability list']?.fix).toBe(
      'add to a policy of the token: path "secret/metadata/other/*" { capabilities = ["list"] }',
    );
    expect(byStep['capability read']?.fix).toBe(
      'add to a policy of the token: path "secret/data/other/hidden" { capabilities = ["read"] }',
    );
    expect(byStep.read?.ok).toBe(false);
    expect(JSON.stringify(report)).not.toContain('hidden-value-3f9');
  });

  it('kvVersion set: the mount step still finds out whether Vault has the mount (and which KV version), without a sample', async () => {
    const typo = await store({ mount: 'secrett', kvVersion: 2 }).client.check({ namespaces: ns });
    expect(typo.ok).toBe(false);
    const mount = typo.steps.find((s) => s.step === 'mount');
    expect(mount?.ok).toBe(false);
    expect(mount?.detail).toContain('Vault has no secrets engine at "secrett/"');
    const v1 = await store({ kvVersion: 1 }).client.check({ namespaces: ns });
    expect(v1.steps.find((s) => s.step === 'mount')?.detail).toContain('kvVersion is 1');
    const right = await store({ kvVersion: 2 }).client.check({ namespaces: ns });
    expect(right.steps.find((s) => s.step === 'mount')).toMatchObject({
      ok: true,
      detail: 'secret/ is KV v2 (from settings)',
    });
    // A token that may not list the mount's root: the setting is taken as it is.
    const john = store({
      kvVersion: 2,
      auth: { method: 'userpass', username: 'john', password: 'john-password-7c1' },
    });
    expect((await john.client.check({ namespaces: ns })).steps.find((s) => s.step === 'mount')?.ok).toBe(
      true,
    );
  });

  it('stops at a failed login with what to check', async () => {
    const { client } = store({
      auth: { method: 'approle', roleId: 'role-id-1234', secretId: 'bad-secret-id-000' },
    });
    const report = await client.check({ namespaces: ns, sample: 'x' });
    expect(report).toMatchObject({ ok: false, steps: [{ step: 'authenticate', ok: false }] });
    expect(report.steps[0]?.fix).toContain('check auth.roleId and auth.secretId');
    expect(JSON.stringify(report)).not.toContain('bad-secret-id-000');
  });
});

/**
 * The 1password-connect store against the local Connect emulator: the shared contract, names
 * `<vault>/<item>` and `<item>` with `vault` set, vaults by name or id, values as fields by
 * label, every mapped error, and `stores test` steps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOutboundLookup } from '../support/outbound-lookup.js';
import {
  AccessDeniedError,
  InvalidRequestError,
  SecretNotFoundError,
  SecretStateError,
  StoreUnavailableError,
} from '../../src/errors.js';
import type { StoreContext } from '../../src/stores/contract.js';
import {
  itemValue,
  OnePasswordStore,
  type OnePasswordSettings,
  onePasswordStoreType,
} from '../../src/stores/onepassword/index.js';
import { type OnePasswordEmulator, startOnePasswordEmulator } from '../emulators/onepassword/index.js';
import { runStoreContract, runStoreFaultContract } from './contract.js';

const ns = [''] as const;
const context: StoreContext = {
  storeName: 'op',
  namespace: '',
  services: {},
  log: { debug() {}, info() {}, warn() {} },
};
const fast = { baseDelayMs: 1, maxDelayMs: 2 };

let op: OnePasswordEmulator;
let token: string;
let prodId: string;
const open: OnePasswordStore[] = [];

function store(settings: Partial<OnePasswordSettings> & Record<string, unknown> = {}) {
  const parsed = onePasswordStoreType.settings.parse({
    url: op.url,
    auth: { method: 'token', token },
    ...settings,
  });
  const client = new OnePasswordStore(parsed, context, { retry: fast });
  open.push(client);
  return client;
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as Error,
  );

beforeAll(async () => {
  op = await startOnePasswordEmulator();
  prodId = op.addVault('Prod');
  op.addVault('Contract');
  op.addVault('Secret Vault');
  op.putItem('Prod', 'jira', {
    username: 'jira-bot',
    password: 'jira-pass-7c21',
    url: 'https://jira.example.com',
  });
  op.putNote('Prod', 'tls key', '-----BEGIN KEY-----');
  op.putItem('Prod', 'twin', { password: 'a' });
  op.putItem('Prod', 'twin-2', { password: 'b' });
  op.putItem('Secret Vault', 'hidden', { password: 'hidden-pass-88aa' });
  token = op.issueToken(['Prod', 'Contract']);
});
afterAll(async () => {
  for (const c of open) await c.close();
  await op?.stop();
});

const onePasswordContract = {
  label: '1password-connect (emulator)',
  storeType: onePasswordStoreType as never,
  // Without vault set, every name starts with its vault.
  name: (base: string) => `Contract/${base}`,
  harness: async () => {
    const settings = { url: op.url, auth: { method: 'token', token } };
    const make = (s: Record<string, unknown>) =>
      new OnePasswordStore(onePasswordStoreType.settings.parse(s), context, { retry: fast });
    const seed = async (name: string, value: string) => {
      const at = name.indexOf('/');
      op.putNote(name.slice(0, at), name.slice(at + 1), value);
    };
    // vault is 1Password's prefix: names of a store with vault set are item titles in it.
    return {
      client: make(settings),
      seed,
      faults: op.faults,
      settings,
      prefixed: { prefix: 'Contract/', client: make({ ...settings, vault: 'Contract' }) },
    };
  },
};
runStoreContract(onePasswordContract);
runStoreFaultContract(onePasswordContract);

describe('1password-connect settings', () => {
  it('is strict, requires the token and marks it as a credential', () => {
    expect(
      onePasswordStoreType.settings.safeParse({ url: 'http://c:8080', auth: { method: 'token', token: 't' } })
        .success,
    ).toBe(true);
    expect(onePasswordStoreType.settings.safeParse({ url: 'http://c:8080' }).success).toBe(false);
    expect(
      onePasswordStoreType.settings.safeParse({ url: 'c:8080', auth: { method: 'token', token: 't' } })
        .success,
    ).toBe(false);
    expect(
      onePasswordStoreType.settings.safeParse({
        url: 'http://c:8080',
        auth: { method: 'password', token: 't' },
      }).success,
    ).toBe(false);
    expect(onePasswordStoreType.secretSettings).toEqual(['auth.token']);
    expect(
      onePasswordStoreType.hostAccess(
        onePasswordStoreType.settings.parse({ url: 'http://c:8080', auth: { method: 'token', token: 't' } }),
      ),
    ).toEqual([{ kind: 'address', setting: 'url', url: 'http://c:8080' }]);
  });
});

describe('1password-connect names and values', () => {
  it('reads <vault>/<item> as the fields by label, with the item version', async () => {
    const got = await store().get({ name: 'Prod/jira', namespaces: ns });
    expect(JSON.parse(got.value as string)).toEqual({
      username: 'jira-bot',
      password: 'jira-pass-7c21',
      url: 'https://jira.example.com',
    });
    expect(got.version).toBe('1');
  });

  it('reads <item> when vault is set, by vault name or by vault id', async () => {
    expect(
      JSON.parse((await store({ vault: 'Prod' }).get({ name: 'jira', namespaces: ns })).value as string)
        .password,
    ).toBe('jira-pass-7c21');
    expect(
      JSON.parse((await store({ vault: prodId }).get({ name: 'jira', namespaces: ns })).value as string)
        .password,
    ).toBe('jira-pass-7c21');
  });

  it('looks vaults and items up through the API filter, and the vault once per store', async () => {
    const client = store();
    const before = { ...op.calls };
    await client.get({ name: 'Prod/jira', namespaces: ns });
    await client.get({ name: 'Prod/tls key', namespaces: ns });
    const delta = (k: string) => (op.calls[k] ?? 0) - (before[k] ?? 0);
    expect([delta('GetVaults'), delta('GetVaultItems'), delta('GetVaultItemById')]).toEqual([1, 2, 2]);
  });

  it('reads a bare Secure Note as its text; keeps the first of two fields with one label', () => {
    expect(
      itemValue({
        id: 'x',
        title: 't',
        category: 'SECURE_NOTE',
        fields: [{ label: 'notesPlain', purpose: 'NOTES', value: 'note' }],
      }),
    ).toBe('note');
    expect(
      itemValue({
        id: 'x',
        title: 't',
        category: 'LOGIN',
        fields: [{ label: 'a', value: '1' }, { label: 'a', value: '2' }, { value: 'no label' }],
      }),
    ).toBe('{"a":"1"}');
  });

  it('reads a Document item as its file (bytes kept), not as its empty field list', async () => {
    op.addVault('Docs');
    const der = Buffer.from([0x30, 0x82, 0x01, 0xff, 0x00]);
    op.putDocument('Docs', 'tls-der', 'key.der', der);
    op.putDocument('Docs', 'ca', 'ca.pem', Buffer.from('-----BEGIN CERTIFICATE-----\n'));
    const client = store({ auth: { method: 'token', token: op.issueToken(['Docs']) } });
    const binary = await client.get({ name: 'Docs/tls-der', namespaces: ns });
    expect(binary.value).toEqual(new Uint8Array(der));
    expect(binary.version).toBe('1');
    expect((await client.get({ name: 'Docs/ca', namespaces: ns })).value).toBe(
      '-----BEGIN CERTIFICATE-----\n',
    );
  });

  it('refuses a name without a vault when no vault is set', async () => {
    const err = await failure(store().get({ name: 'jira', namespaces: ns }));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err.message).toBe(
      '[op] "jira" is not <vault>/<item>: name the vault first, or set vault on the store',
    );
  });

  it("lists <vault>/<title> across the token's vaults, or titles of the set vault, by prefix", async () => {
    const all = (await store().list({ namespaces: ns })).items.map((i) => i.name);
    expect(all).toEqual(expect.arrayContaining(['Prod/jira', 'Prod/tls key']));
    expect(all.some((n) => n.startsWith('Secret Vault/'))).toBe(false);
    expect(
      (await store({ vault: 'Prod' }).list({ namespaces: ns, prefix: 'tw' })).items.map((i) => i.name),
    ).toEqual(['twin', 'twin-2']);
    const first = await store({ vault: 'Prod' }).list({ namespaces: ns, limit: 2 });
    expect(first.items).toHaveLength(2);
    const rest = await store({ vault: 'Prod' }).list({ namespaces: ns, cursor: first.cursor });
    expect([...first.items, ...rest.items].map((i) => i.name)).toEqual(['jira', 'tls key', 'twin', 'twin-2']);
  });
});

describe('1password-connect errors', () => {
  it('a wrong token is access denied saying which token to set, never echoing it', async () => {
    const wrong = 'eyJ-wrong-connect-token-000';
    const err = await failure(
      store({ auth: { method: 'token', token: wrong } }).get({ name: 'Prod/jira', namespaces: ns }),
    );
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toBe(
      `[op] finding vault "Prod" at ${op.url}: the Connect server refused the token (401 Invalid token signature)`,
    );
    expect((err as AccessDeniedError).fix).toContain('set auth.token');
    expect(err.message).not.toContain(wrong);
  });

  it("a vault outside the token's scope: by name not found, by id 403 naming the vault", async () => {
    const byName = await failure(store().get({ name: 'Secret Vault/hidden', namespaces: ns }));
    expect(byName).toBeInstanceOf(SecretNotFoundError);
    expect(byName.message).toBe('[op] no vault named "Secret Vault" in the Connect token\'s scope');
    const hiddenId = (
      (await (
        await fetch(`${op.url}/v1/vaults`, { headers: { authorization: `Bearer ${op.issueToken('all')}` } })
      ).json()) as Array<{ id: string; name: string }>
    ).find((v) => v.name === 'Secret Vault')?.id as string;
    const byId = await failure(store({ vault: hiddenId }).get({ name: 'hidden', namespaces: ns }));
    expect(byId).toBeInstanceOf(AccessDeniedError);
    expect(byId.message).toContain(`vault ${hiddenId} is not in scope (403)`);
    // `op connect token edit` only renames a token: vaults are given when a token is issued.
    expect((byId as AccessDeniedError).fix).toBe(
      "a Connect token's vaults are set when it is issued: use a token issued for this vault (op connect token create <name> --server <server> --vault <vault>), on a server that has the vault (op connect vault grant --server <server> --vault <vault>)",
    );
  });

  it('a missing item is not found; two items with one title is a conflict', async () => {
    const missing = await failure(store().get({ name: 'Prod/nope', namespaces: ns }));
    expect(missing).toBeInstanceOf(SecretNotFoundError);
    expect(missing.message).toBe('[op] no item titled "nope" in vault "Prod"');
    op.putItem('Prod', 'dup', { password: 'dup-one-1234' });
    op.putItem('Prod', 'dup', { password: 'dup-two-5678' }, { alongside: true });
    const dup = await failure(store().get({ name: 'Prod/dup', namespaces: ns }));
    expect(dup).toBeInstanceOf(SecretStateError);
    expect(dup.message).toBe('[op] 2 items titled "dup" in vault "Prod"');
    expect(dup.message).not.toContain('dup-one');
  });

  it('5xx is retried, then unavailable after the attempts; an unreachable server names the url', async () => {
    op.failNext(2, 503);
    expect(
      JSON.parse((await store().get({ name: 'Prod/jira', namespaces: ns })).value as string).username,
    ).toBe('jira-bot');
    op.failNext(3, 500);
    const err = await failure(store().get({ name: 'Prod/jira', namespaces: ns }));
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.message).toMatch(/the store is failing \(HTTP 500\) \(?after 3 attempts/);
    const down = await failure(
      store({ url: 'http://127.0.0.1:9' }).get({ name: 'Prod/jira', namespaces: ns }),
    );
    expect(down).toBeInstanceOf(StoreUnavailableError);
    expect(down.message).toMatch(
      /^\[op\] finding vault "Prod" at http:\/\/127\.0\.0\.1:9: 127\.0\.0\.1:\d+ refused the connection: nothing listens on port \d+ \(ECONNREFUSED\) \(?after 3 attempts\)?$/,
    );
  });
});

describe('1password-connect check', () => {
  it('reports authenticate, vault, list and read without the value', async () => {
    const report = await store({ vault: 'Prod' }).check({ namespaces: ns, sample: 'jira' });
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => s.step)).toEqual(['authenticate', 'vault', 'list', 'read']);
    expect(report.steps[0]?.detail).toBe('token accepted; vaults in its scope: Prod, Contract');
    expect(JSON.stringify(report)).not.toContain('jira-pass-7c21');
  });

  it('stops at a refused token with the fix', async () => {
    const report = await store({ vault: 'Prod', auth: { method: 'token', token: 'bad-token-123' } }).check({
      namespaces: ns,
    });
    expect(report.ok).toBe(false);
    expect(report.steps).toHaveLength(1);
    expect(report.steps[0]?.fix).toContain('set auth.token');
  });
});

describe('1password-connect outbound lookup', () => {
  it('resolves host names through the context lookup (the outbound policy), and fails closed when it refuses', async () => {
    const port = new URL(op.url).port;
    await expectOutboundLookup(
      (host, lookup) =>
        new OnePasswordStore(
          onePasswordStoreType.settings.parse({
            ...{ auth: { method: 'token', token } },
            url: `http://${host}:${port}`,
          }),
          { ...context, lookup },
          { retry: fast },
        ),
      { name: 'Prod/jira', namespaces: ns },
    );
  });
});

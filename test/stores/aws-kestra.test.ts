/**
 * `lookup: kestra-tags` on an aws-secrets-manager store: a Kestra key is found by the tags
 * Kestra's AWS backend writes (`namespace`, `key`, `prefix`) in the caller's namespace, through
 * the real SDK client against the emulator and through the `sesame` bin (needs
 * `npx tsc -p tsconfig.build.json`). Not found (with the tags in the fix), conflict, namespace
 * mismatch, listing, refused writes, and no value on any output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SecretNotFoundError,
  SecretStateError,
  UnsupportedOperationError,
  UsageError,
} from '../../src/errors.js';
import { createSesame } from '../../src/sesame.js';
import { AwsSecretsManagerStore, awsSecretsManagerStoreType } from '../../src/stores/aws/index.js';
import type { StoreContext } from '../../src/stores/contract.js';
import {
  expectFailure,
  expectNoSecrets,
  expectValue,
  failedStep,
  okStep,
  sesame,
  type Workdir,
  workdir,
} from '../e2e/support.js';
import { AWS_EMULATOR_CREDENTIALS, type AwsEmulator, startAwsEmulator } from '../emulators/aws/index.js';

const TEAM_VALUE = 'kestra-team-value-5d1f';
const OTHER_VALUE = 'kestra-other-team-9a2c';
const PARENT_VALUE = 'kestra-parent-value-77e0';
const DUP_A = 'kestra-dup-a-3141';
const DUP_B = 'kestra-dup-b-2718';
const NOPREFIX_VALUE = 'kestra-noprefix-6b6b';
const ODD_VALUE = 'odd-key-value-8c8c';
const VALUES = [TEAM_VALUE, OTHER_VALUE, PARENT_VALUE, DUP_A, DUP_B, NOPREFIX_VALUE, ODD_VALUE];

const context: StoreContext = {
  storeName: 'aws',
  namespace: '',
  services: {},
  log: { debug() {}, info() {}, warn() {} },
};
const staticAuth = {
  method: 'static' as const,
  accessKeyId: AWS_EMULATOR_CREDENTIALS.accessKeyId,
  secretAccessKey: AWS_EMULATOR_CREDENTIALS.secretAccessKey,
};

let aws: AwsEmulator;

function client(overrides: Record<string, unknown> = {}) {
  const settings = awsSecretsManagerStoreType.settings.parse({
    region: 'us-east-1',
    endpoint: aws.url,
    auth: staticAuth,
    lookup: 'kestra-tags',
    kestraPrefix: 'kestra',
    ...overrides,
  });
  return new AwsSecretsManagerStore(settings, context, { retry: { baseDelayMs: 1, maxDelayMs: 2 } });
}

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a failure, got a value');
    },
    (e: unknown) => e as Error,
  );
}

const text = (v: string | Uint8Array) => (typeof v === 'string' ? v : Buffer.from(v).toString('utf8'));
const kestraTags = (namespace: string, key: string, prefix = 'kestra') => ({ namespace, key, prefix });

beforeAll(async () => {
  aws = await startAwsEmulator();
  // AWS names are free-form: Kestra does not show them, flows use the `key` tag.
  aws.seed('kestra/company/team/MY_KEY', TEAM_VALUE, { tags: kestraTags('company.team', 'MY_KEY') });
  aws.seed('kestra/company/other/MY_KEY', OTHER_VALUE, { tags: kestraTags('company.other', 'MY_KEY') });
  aws.seed('kestra/company/PARENT_KEY', PARENT_VALUE, { tags: kestraTags('company', 'PARENT_KEY') });
  aws.seed('dup-one', DUP_A, { tags: kestraTags('company.team', 'DUP_KEY') });
  aws.seed('dup-two', DUP_B, { tags: kestraTags('company.team', 'DUP_KEY') });
  aws.seed('other-instance-key', NOPREFIX_VALUE, {
    tags: kestraTags('company.team', 'OTHER_PREFIX', 'staging'),
  });
  // Passes ListSecrets' filters for key CROSSED_KEY (a tag named `key`, a tag valued CROSSED_KEY)
  // without being that key: the exact match is the adapter's.
  aws.seed('crossed-tags', 'crossed-tags-value-00', {
    tags: { ...kestraTags('company.team', 'SOMETHING_ELSE'), owner: 'CROSSED_KEY' },
  });
  // `#` is outside ListSecrets' filter value pattern: found without a tag-value filter.
  aws.seed('odd-key-secret', ODD_VALUE, { tags: kestraTags('company.team', 'MY#KEY') });
  // A secret whose name is the key but which carries no Kestra tags.
  aws.seed('UNTAGGED_KEY', 'untagged-value-1234');
});
afterAll(async () => {
  await aws?.stop();
});

describe('lookup: kestra-tags through the client', () => {
  it('reads the secret tagged for the caller namespace and key, by its ARN', async () => {
    const c = client();
    const got = await c.get({ name: 'MY_KEY', namespaces: ['company.team', 'company', ''] });
    expect(text(got.value)).toBe(TEAM_VALUE);
    const other = await c.get({ name: 'MY_KEY', namespaces: ['company.other', 'company', ''] });
    expect(text(other.value)).toBe(OTHER_VALUE);
    const many = await c.getMany([
      { name: 'MY_KEY', namespaces: ['company.team'] },
      { name: 'NOPE', namespaces: ['company.team'] },
    ]);
    expect(many[0] instanceof Error ? many[0].message : text(many[0]?.value ?? '')).toBe(TEAM_VALUE);
    expect(many[1]).toBeInstanceOf(SecretNotFoundError);
    await c.close();
  });

  it('a key of another namespace, or of a parent namespace, is not found: the namespace must match exactly', async () => {
    const c = client();
    const mismatch = await failure(c.get({ name: 'MY_KEY', namespaces: ['company.sales', 'company', ''] }));
    expect(mismatch).toBeInstanceOf(SecretNotFoundError);
    expect(mismatch.message).toContain('namespace=company.sales, key=MY_KEY, prefix=kestra');
    const parent = await failure(c.get({ name: 'PARENT_KEY', namespaces: ['company.team', 'company', ''] }));
    expect(parent).toBeInstanceOf(SecretNotFoundError);
    const root = await failure(c.get({ name: 'MY_KEY', namespaces: [''] }));
    expect(root).toBeInstanceOf(SecretNotFoundError);
    expect((root as SecretNotFoundError).fix).toContain('--namespace');
    await c.close();
  });

  it('not found names the tags it looked for in the fix; a secret named like the key but untagged does not count', async () => {
    const c = client();
    const err = await failure(c.get({ name: 'UNTAGGED_KEY', namespaces: ['company.team'] }));
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect((err as SecretNotFoundError).fix).toContain(
      'namespace=company.team, key=UNTAGGED_KEY, prefix=kestra',
    );
    // ListSecrets "might not reflect changes from the last five minutes" (its API reference).
    expect((err as SecretNotFoundError).fix).toMatch(
      /; tags added in the last five minutes may not show yet \(ListSecrets is eventually consistent\)$/,
    );
    // Tags that pass AWS's filters (prefix matches, any tag's value) but are not the key's.
    const crossed = await failure(c.get({ name: 'CROSSED_KEY', namespaces: ['company.team'] }));
    expect(crossed).toBeInstanceOf(SecretNotFoundError);
    const prefixOnly = await failure(c.get({ name: 'MY_KE', namespaces: ['company.team'] }));
    expect(prefixOnly).toBeInstanceOf(SecretNotFoundError);
    await c.close();
  });

  it('a key ListSecrets cannot filter on (outside its value pattern) is still found; describe and versions go by the tags', async () => {
    const c = client();
    expect(text((await c.get({ name: 'MY#KEY', namespaces: ['company.team'] })).value)).toBe(ODD_VALUE);
    const meta = await c.describe('MY_KEY', { namespaces: ['company.team'] });
    expect(meta.tags).toEqual(kestraTags('company.team', 'MY_KEY'));
    const versions = await c.versions('MY_KEY', { namespaces: ['company.team'] });
    expect(versions).toHaveLength(1);
    expect(versions[0]?.stages).toEqual(['AWSCURRENT']);
    const pinned = await c.get({
      name: 'MY_KEY',
      namespaces: ['company.team'],
      version: versions[0]?.version,
    });
    expect(text(pinned.value)).toBe(TEAM_VALUE);
    expect(await failure(c.describe('MY_KEY', { namespaces: ['company.sales'] }))).toBeInstanceOf(
      SecretNotFoundError,
    );
    await c.close();
  });

  it('kestraPrefix selects the prefix tag; unset, any prefix matches', async () => {
    const withPrefix = client();
    expect(
      await failure(withPrefix.get({ name: 'OTHER_PREFIX', namespaces: ['company.team'] })),
    ).toBeInstanceOf(SecretNotFoundError);
    await withPrefix.close();
    const staging = client({ kestraPrefix: 'staging' });
    expect(text((await staging.get({ name: 'OTHER_PREFIX', namespaces: ['company.team'] })).value)).toBe(
      NOPREFIX_VALUE,
    );
    await staging.close();
    const any = client({ kestraPrefix: undefined });
    expect(text((await any.get({ name: 'OTHER_PREFIX', namespaces: ['company.team'] })).value)).toBe(
      NOPREFIX_VALUE,
    );
    await any.close();
  });

  it('two secrets with the same tags are a conflict that names both, never a guess', async () => {
    const c = client();
    const err = await failure(c.get({ name: 'DUP_KEY', namespaces: ['company.team'] }));
    expect(err).toBeInstanceOf(SecretStateError);
    expect(err.message).toContain('2 secrets are tagged namespace=company.team, key=DUP_KEY, prefix=kestra');
    expect(err.message).toContain('dup-one, dup-two');
    for (const v of VALUES) expect(err.message).not.toContain(v);
    await c.close();
  });

  it('lists the keys tagged for the namespace, across pages', async () => {
    const c = client();
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await c.list({ namespaces: ['company.team'], limit: 1, cursor });
      keys.push(...page.items.map((i) => i.name));
      cursor = page.cursor;
    } while (cursor);
    expect(keys.sort()).toEqual(['DUP_KEY', 'DUP_KEY', 'MY#KEY', 'MY_KEY', 'SOMETHING_ELSE']);
    const sales = await c.list({ namespaces: ['company.sales'] });
    expect(sales.items).toEqual([]);
    await c.close();
  });

  it('writes, deletes and restores are refused; a name prefix is refused with kestra-tags', async () => {
    const c = client();
    const err = await failure(c.write('MY_KEY', 'new-value-never-written', { namespace: 'company.team' }));
    expect(err).toBeInstanceOf(UnsupportedOperationError);
    expect(err.message).toContain('read-only');
    expect(await failure(c.delete('MY_KEY', { namespace: 'company.team' }))).toBeInstanceOf(
      UnsupportedOperationError,
    );
    expect(text((await c.get({ name: 'MY_KEY', namespaces: ['company.team'] })).value)).toBe(TEAM_VALUE);
    await c.close();
    expect(() => client({ prefix: 'kestra/' })).toThrow(UsageError);
    expect(awsSecretsManagerStoreType.settings.safeParse({ lookup: 'tags' }).success).toBe(false);
  });

  it('the resolver caches per caller namespace: the same reference gives each namespace its own secret', async () => {
    const sesame = createSesame({
      log: { level: 'silent' },
      stores: [
        {
          name: 'aws',
          type: 'aws-secrets-manager',
          region: 'us-east-1',
          endpoint: aws.url,
          auth: staticAuth,
          lookup: 'kestra-tags',
          kestraPrefix: 'kestra',
        },
      ],
    });
    try {
      expect(await sesame.resolve('secret://aws/MY_KEY', { namespace: 'company.team' })).toBe(TEAM_VALUE);
      expect(await sesame.resolve('secret://aws/MY_KEY', { namespace: 'company.other' })).toBe(OTHER_VALUE);
      const searches = aws.calls.ListSecrets ?? 0;
      expect(await sesame.resolve('secret://aws/MY_KEY', { namespace: 'company.team' })).toBe(TEAM_VALUE);
      expect(aws.calls.ListSecrets ?? 0).toBe(searches);
    } finally {
      await sesame.close();
    }
  });

  it('the type says reads depend on the caller namespace only with kestra-tags', () => {
    const parse = (s: Record<string, unknown>) => awsSecretsManagerStoreType.settings.parse(s);
    expect(awsSecretsManagerStoreType.readsByNamespace(parse({ lookup: 'kestra-tags' }))).toBe(true);
    expect(awsSecretsManagerStoreType.readsByNamespace(parse({}))).toBe(false);
  });
});

describe('lookup: kestra-tags through the CLI', () => {
  let wd: Workdir;
  const env = () => ({ AWS_TEST_SECRET_KEY: AWS_EMULATOR_CREDENTIALS.secretAccessKey });
  beforeAll(() => {
    wd = workdir('aws-kestra');
    wd.config({
      stores: [
        {
          name: 'aws',
          type: 'aws-secrets-manager',
          region: 'us-east-1',
          endpoint: aws.url,
          lookup: 'kestra-tags',
          kestraPrefix: 'kestra',
          auth: {
            method: 'static',
            accessKeyId: AWS_EMULATOR_CREDENTIALS.accessKeyId,
            secretAccessKey: '${env:AWS_TEST_SECRET_KEY}',
          },
        },
      ],
    });
  });
  afterAll(() => wd?.remove());

  it('resolves secret://aws/MY_KEY from the matching namespace, and a template across namespaces apart', async () => {
    expectValue(
      await sesame(wd, ['resolve', 'secret://aws/MY_KEY', '--namespace', 'company.team'], { env: env() }),
      TEAM_VALUE,
    );
    expectValue(
      await sesame(wd, ['resolve', 'secret://aws/MY_KEY', '--namespace', 'company.other'], { env: env() }),
      OTHER_VALUE,
    );
  });

  it('a namespace with no such key exits 1 naming the tags, without any value', async () => {
    const line = expectFailure(
      await sesame(wd, ['resolve', 'secret://aws/MY_KEY', '--namespace', 'company.sales'], { env: env() }),
      1,
      VALUES,
    );
    expect(line).toContain('namespace=company.sales, key=MY_KEY, prefix=kestra');
  });

  it('a conflict exits 1 naming the secrets, without any value', async () => {
    const line = expectFailure(
      await sesame(wd, ['resolve', 'secret://aws/DUP_KEY', '--namespace', 'company.team'], { env: env() }),
      1,
      VALUES,
    );
    expect(line).toContain('dup-one, dup-two');
  });

  it('secrets list shows the keys tagged for the namespace, never a value; secrets set is refused', async () => {
    const r = await sesame(wd, ['secrets', 'list', '--store', 'aws', '--namespace', 'company.team'], {
      env: env(),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('MY_KEY');
    expect(r.stdout).toContain('DUP_KEY');
    expect(r.stdout).not.toContain('PARENT_KEY');
    expectNoSecrets(r, VALUES);
    // (`secrets set` may also print a notice of its own, e.g. the first master key it made.)
    const set = await sesame(
      wd,
      ['secrets', 'set', 'MY_KEY', '--store', 'aws', '--namespace', 'company.team'],
      {
        env: env(),
        input: 'a-value-never-written-42',
      },
    );
    expect(set.code, set.stderr).toBe(2);
    expect(set.stdout).toBe('');
    expect(set.stderr).toContain('sesame: [aws] lookup: kestra-tags is read-only');
    expectNoSecrets(set, [...VALUES, 'a-value-never-written-42']);
  });

  it('stores test --sample reads a key by its tags from --namespace; a missing one fails the read step with the tags to set', async () => {
    const ok = await sesame(
      wd,
      ['stores', 'test', 'aws', '--sample', 'MY_KEY', '--namespace', 'company.team'],
      {
        env: env(),
      },
    );
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(okStep(ok, 'read')).toContain('MY_KEY');
    expectNoSecrets(ok, VALUES);
    const missing = await sesame(
      wd,
      ['stores', 'test', 'aws', '--sample', 'NOPE', '--namespace', 'company.team'],
      {
        env: env(),
      },
    );
    expect(missing.code).toBe(1);
    const { detail, fix } = failedStep(missing, 'read');
    expect(detail).toContain('no secret is tagged namespace=company.team, key=NOPE, prefix=kestra');
    expect(fix).toContain('namespace=company.team, key=NOPE, prefix=kestra');
    expectNoSecrets(missing, VALUES);
  });

  it('a resolve prints only the value asked for: none on stderr, no other on stdout', async () => {
    const r = await sesame(wd, ['resolve', 'secret://aws/MY_KEY', '--namespace', 'company.team'], {
      env: env(),
    });
    expectNoSecrets(
      r,
      VALUES.filter((v) => v !== TEAM_VALUE),
    );
    expect(r.stderr).not.toContain(TEAM_VALUE);
  });
});

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AccessDeniedError, SecretNotFoundError, SecretStateError, UsageError } from '../../src/errors.js';
import type { StoreContext } from '../../src/stores/contract.js';
import { EnvStoreClient, envStoreType } from '../../src/stores/env/index.js';
import { FileStoreClient, fileStoreType } from '../../src/stores/file/index.js';
import { runStoreContract } from './contract.js';

const log = { debug() {}, info() {}, warn() {} };
const context = (storeName: string, baseDir?: string): StoreContext => ({
  storeName,
  namespace: '',
  log,
  services: {},
  baseDir,
});

runStoreContract({
  label: 'env',
  storeType: envStoreType,
  slashNames: false,
  name: (base) => base.replace(/[^A-Za-z0-9_]/g, '_').toUpperCase(),
  harness: async () => {
    const env: NodeJS.ProcessEnv = {};
    return {
      client: new EnvStoreClient({ prefix: 'CT_' }, context('env'), env),
      seed: async (name, value) => {
        env[`CT_${name}`] = value;
      },
    };
  },
});

runStoreContract({
  label: 'file',
  storeType: fileStoreType,
  harness: async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'sesame-files-'));
    return {
      client: new FileStoreClient({ root, maxSize: 1024 * 1024 }, context('files')),
      seed: async (name, value) => {
        mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
        writeFileSync(path.join(root, name), value);
      },
    };
  },
});

describe('env store', () => {
  it('applies its prefix and refuses names that are not variable names', async () => {
    const client = new EnvStoreClient({ prefix: 'APP_' }, context('env'), {
      APP_DB_PASS: 'pw-1',
      DB_PASS: 'other',
    });
    expect((await client.get({ name: 'DB_PASS' })).value).toBe('pw-1');
    await expect(client.get({ name: 'db/pass' })).rejects.toBeInstanceOf(UsageError);
    const err = await client.get({ name: 'NOPE' }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect((err as Error).message).toBe('[env] environment variable APP_NOPE is not set');
    expect((err as SecretNotFoundError).fix).toBe(
      'set APP_NOPE in the environment of the process that runs sesame, or check the name and the store prefix (APP_)',
    );
  });

  it('check says which variable to set', async () => {
    const client = new EnvStoreClient({ prefix: '' }, context('env'), {});
    const report = await client.check({ sample: 'MISSING_ONE' });
    expect(report.ok).toBe(false);
    expect(report.steps.find((s) => s.step === 'read')?.fix).toContain('set MISSING_ONE');
  });
});

describe('file store', () => {
  function tree() {
    const base = mkdtempSync(path.join(tmpdir(), 'sesame-fs-'));
    const root = path.join(base, 'secrets');
    mkdirSync(path.join(root, 'db'), { recursive: true });
    writeFileSync(path.join(root, 'db', 'password'), 'pw-file');
    writeFileSync(path.join(base, 'outside'), 'outside-value');
    return { base, root, client: new FileStoreClient({ root, maxSize: 64 }, context('files')) };
  }

  it('reads files under the root by relative path', async () => {
    const { client } = tree();
    expect((await client.get({ name: 'db/password' })).value).toBe('pw-file');
  });

  it('refuses names with .. segments', async () => {
    const { client } = tree();
    const err = (await client.get({ name: '../outside' }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toContain('".." segment');
  });

  it('refuses a NUL in a name, saying that it is a NUL (not a ".." segment)', async () => {
    const { client } = tree();
    const err = (await client.get({ name: 'db/pass\u0000word' }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err.message).toContain('contains a NUL character');
    expect(err.message).not.toContain('..');
  });

  it('refuses a named pipe or a device under the root at once, instead of waiting on it for ever', async () => {
    const { root, client } = tree();
    execFileSync('mkfifo', [path.join(root, 'db', 'pipe')]);
    const err = (await client.get({ name: 'db/pipe' }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(SecretStateError);
    expect(err.message).toMatch(/db\/pipe is a named pipe, not a regular file/);
    // A symbolic link to a device leaves the root: refused before anything is opened.
    symlinkSync('/dev/zero', path.join(root, 'db', 'zero'));
    const zero = (await client.get({ name: 'db/zero' }).catch((e: unknown) => e)) as Error;
    expect(zero).toBeInstanceOf(AccessDeniedError);
    // Nor are they listed as secrets.
    const names = (await client.list({})).items.map((i) => i.name);
    expect(names).toEqual(['db/password']);
  });

  it('lists 12,000 files page by page to the end, with no cap and no name twice', async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'sesame-fs-many-'));
    for (let d = 0; d < 12; d++) {
      mkdirSync(path.join(base, `team${d}`));
      for (let f = 0; f < 1000; f++)
        writeFileSync(path.join(base, `team${d}`, `s${String(f).padStart(4, '0')}`), 'v');
    }
    const client = new FileStoreClient({ root: base, maxSize: 64 }, context('files'));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.list({ limit: 5000, cursor });
      seen.push(...page.items.map((i) => i.name));
      cursor = page.cursor;
      pages++;
    } while (cursor !== undefined && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(12_000);
    expect(new Set(seen).size).toBe(12_000);
    // Walk order: each directory's entries sorted (team0, team1, team10, team11, team2, …).
    const dirs = Array.from({ length: 12 }, (_, d) => `team${d}`).sort((a, b) => a.localeCompare(b));
    expect(seen).toEqual(
      dirs.flatMap((d) => Array.from({ length: 1000 }, (_, f) => `${d}/s${String(f).padStart(4, '0')}`)),
    );
    // A prefix pages too.
    const first = await client.list({ prefix: 'team3/', limit: 600 });
    const rest = await client.list({ prefix: 'team3/', limit: 600, cursor: first.cursor });
    expect([...first.items, ...rest.items].map((i) => i.name)).toHaveLength(1000);
    expect(rest.cursor).toBeUndefined();
    await expect(client.list({ cursor: 'not-a-cursor' })).rejects.toThrow('invalid list cursor');
  });

  it('refuses symlinks that leave the root, and follows those that stay inside', async () => {
    const { base, root, client } = tree();
    symlinkSync(path.join(base, 'outside'), path.join(root, 'escape'));
    symlinkSync(path.join(root, 'db', 'password'), path.join(root, 'alias'));
    await expect(client.get({ name: 'escape' })).rejects.toBeInstanceOf(AccessDeniedError);
    expect((await client.get({ name: 'alias' })).value).toBe('pw-file');
    const names = (await client.list({})).items.map((i) => i.name);
    expect(names).toContain('alias');
    expect(names).not.toContain('escape');
  });

  it('resolves a relative root against the config directory', async () => {
    const { base } = tree();
    const client = new FileStoreClient({ root: './secrets', maxSize: 64 }, context('files', base));
    expect((await client.get({ name: 'db/password' })).value).toBe('pw-file');
  });

  it('refuses files above maxSize and directories', async () => {
    const { root, client } = tree();
    writeFileSync(path.join(root, 'big'), 'x'.repeat(65));
    await expect(client.get({ name: 'big' })).rejects.toBeInstanceOf(SecretStateError);
    await expect(client.get({ name: 'db' })).rejects.toBeInstanceOf(SecretStateError);
  });

  it('check reports a missing root with what to do', async () => {
    const client = new FileStoreClient(
      { root: '/nonexistent/sesame/secrets', maxSize: 64 },
      context('files'),
    );
    const report = await client.check({});
    expect(report.ok).toBe(false);
    expect(report.steps[0]?.fix).toContain('create or mount /nonexistent/sesame/secrets');
  });
});

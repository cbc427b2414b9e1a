/**
 * Behaviour of builtin secrets through the store client, on SQLite and PostgreSQL: versions,
 * namespaces, tags, soft delete, listing, limits and tampering.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SecretIntegrityError } from '../../src/encrypted-store/index.js';
import {
  SecretNotFoundError,
  SecretStateError,
  SesameError,
  UsageError,
  ValueTooLargeError,
} from '../../src/errors.js';
import { type BuiltinStoreClient, builtinStoreType } from '../../src/stores/builtin/index.js';
import type { FetchedSecret } from '../../src/stores/contract.js';
import { builtinClient, DIALECTS, tempDir, useDatabases } from './helpers.js';

const databases = useDatabases();
const ROOT = [''];

async function setup(dialect: (typeof DIALECTS)[number], settings: Record<string, unknown> = {}) {
  const dir = tempDir();
  const { client, close } = await builtinClient(
    {
      database: await databases.url(dialect),
      masterKey: { file: path.join(dir, 'master.key') },
      embedded: true,
    },
    settings,
  );
  return { client, close, db: client.backend.database.kysely };
}

const textOf = (s: FetchedSecret) => s.value as string;

describe('builtinStoreType settings', () => {
  it('defaults to no tags, 64 KiB values and a 7 day recovery window', () => {
    expect(builtinStoreType.settings.parse({})).toEqual({
      tags: {},
      maxValueSize: 65536,
      recoveryWindow: 7 * 86_400_000,
    });
  });

  it('parses a recovery window written as a duration', () => {
    expect(builtinStoreType.settings.parse({ recoveryWindow: '12h' }).recoveryWindow).toBe(12 * 3_600_000);
    expect(builtinStoreType.settings.parse({ recoveryWindow: '0' }).recoveryWindow).toBe(0);
  });

  it('rejects unknown keys and malformed values', () => {
    expect(builtinStoreType.settings.safeParse({ maxValueSze: 10 }).success).toBe(false);
    expect(builtinStoreType.settings.safeParse({ recoveryWindow: 'a week' }).success).toBe(false);
    expect(builtinStoreType.settings.safeParse({ maxValueSize: -1 }).success).toBe(false);
    expect(builtinStoreType.settings.safeParse({ tags: { team: 3 } }).success).toBe(false);
  });

  it('parses its own output to the same settings', () => {
    const once = builtinStoreType.settings.parse({ recoveryWindow: '3d', tags: { a: 'b' } });
    expect(builtinStoreType.settings.parse(once)).toEqual(once);
  });
});

for (const dialect of DIALECTS) {
  describe(`builtin secrets on ${dialect}`, () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('numbers versions 1, 2, 3 and serves the newest unless one is pinned', async () => {
      const { client, close } = await setup(dialect);
      const versions = [];
      for (const value of ['v-one', 'v-two', 'v-three']) {
        versions.push((await client.write('app/token', value, { namespace: '' })).version);
      }
      expect(versions).toEqual(['1', '2', '3']);
      expect(await client.get({ name: 'app/token', namespaces: ROOT })).toEqual({
        value: 'v-three',
        version: '3',
        namespace: '',
      });
      expect(textOf(await client.get({ name: 'app/token', version: '1', namespaces: ROOT }))).toBe('v-one');
      const listed = await client.versions!('app/token', { namespaces: ROOT });
      expect(listed.map((v) => v.version)).toEqual(['3', '2', '1']);
      expect(JSON.stringify(listed)).not.toContain('v-one');
      await close();
    });

    it('reports a missing pinned version as not found, naming the newest', async () => {
      const { client, close } = await setup(dialect);
      await client.write('pinned', 'x', { namespace: '' });
      const err = await client
        .get({ name: 'pinned', version: '7', namespaces: ROOT })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretNotFoundError);
      expect((err as Error).message).toBe(
        '[builtin] secret "pinned" (root namespace) has no version 7 (the newest is 1)',
      );
      expect((err as SecretNotFoundError).fix).toBe(
        'pin a version the secret has (`sesame secrets versions pinned` lists them), or leave ?version= out for the latest',
      );
      await expect(
        client.get({ name: 'pinned', version: 'latest', namespaces: ROOT }),
      ).rejects.toBeInstanceOf(UsageError);
      await expect(client.get({ name: 'pinned', stage: 'AWSCURRENT', namespaces: ROOT })).rejects.toThrow(
        'builtin secrets have no staging labels',
      );
      await close();
    });

    it('serves the most specific namespace of the chain: children override parents', async () => {
      const { client, close } = await setup(dialect);
      await client.write('db/password', 'root-value', { namespace: '' });
      await client.write('db/password', 'acme-value', { namespace: 'acme' });
      await client.write('db/password', 'devops-value', { namespace: 'acme.devops' });
      await client.write('only/root', 'root-only', { namespace: '' });

      const chain = ['acme.devops', 'acme', ''];
      expect(await client.get({ name: 'db/password', namespaces: chain })).toMatchObject({
        value: 'devops-value',
        namespace: 'acme.devops',
      });
      expect(textOf(await client.get({ name: 'db/password', namespaces: ['acme.sales', 'acme', ''] }))).toBe(
        'acme-value',
      );
      expect(await client.get({ name: 'only/root', namespaces: chain })).toMatchObject({
        value: 'root-only',
        namespace: '',
      });
      const many = await client.getMany([
        { name: 'db/password', namespaces: chain },
        { name: 'db/password', namespaces: ['acme', ''] },
        { name: 'db/password', namespaces: ROOT },
      ]);
      expect(many.map((r) => textOf(r as FetchedSecret))).toEqual([
        'devops-value',
        'acme-value',
        'root-value',
      ]);
      await close();
    });

    it('does not reach parents that are not in the chain (isolated namespaces)', async () => {
      const { client, close } = await setup(dialect);
      await client.write('db/password', 'acme-value', { namespace: 'acme' });
      await client.write('db/password', 'root-value', { namespace: '' });
      const err = await client
        .get({ name: 'db/password', namespaces: ['acme.secure'] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretNotFoundError);
      expect((err as Error).message).toBe('[builtin] no secret "db/password" in namespace acme.secure');
      expect((err as SecretNotFoundError).fix).toBe(
        'create it with `sesame secrets set db/password --namespace acme.secure`, or check the name and the namespace',
      );
      const listed = await client.list({ namespaces: ['acme.secure'] });
      expect(listed.items).toEqual([]);
      await close();
    });

    it('lets a parent show through when the child’s secret is deleted', async () => {
      const { client, close } = await setup(dialect);
      await client.write('shared', 'parent', { namespace: 'acme' });
      await client.write('shared', 'child', { namespace: 'acme.devops' });
      await client.delete!('shared', { namespace: 'acme.devops' });
      expect(textOf(await client.get({ name: 'shared', namespaces: ['acme.devops', 'acme'] }))).toBe(
        'parent',
      );
      await close();
    });

    it('merges the store’s default tags, the secret’s tags and a write’s tags, the write winning', async () => {
      const { client, close } = await setup(dialect, { tags: { application: 'sesame', team: 'platform' } });
      await client.write('tagged', 'a', {
        namespace: '',
        tags: { team: 'devops', env: 'prod' },
        description: 'Jira token',
      });
      await client.write('tagged', 'b', { namespace: '', tags: { rotated: 'yes' } });
      const described = await client.describe!('tagged', { namespaces: ROOT });
      expect(described.tags).toEqual({ application: 'sesame', team: 'devops', env: 'prod', rotated: 'yes' });
      expect(described.description).toBe('Jira token');
      expect(described.version).toBe('2');
      await close();
    });

    it('lists by prefix and tag, in pages, with metadata and never values', async () => {
      const { client, close } = await setup(dialect);
      for (let i = 0; i < 7; i++) {
        await client.write(`team/a/secret-${i}`, `value-${i}-never-listed`, {
          namespace: i % 2 === 0 ? '' : 'acme',
          tags: { parity: i % 2 === 0 ? 'even' : 'odd' },
        });
      }
      await client.write('team/b/other', 'other-value', { namespace: '' });
      await client.write('team/a/secret-0', 'shadowing', { namespace: 'acme', tags: { parity: 'even' } });

      const chain = ['acme', ''];
      const names: string[] = [];
      const namespaces: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await client.list({ namespaces: chain, prefix: 'team/a/', limit: 3, cursor });
        expect(JSON.stringify(page)).not.toContain('never-listed');
        expect(JSON.stringify(page)).not.toContain('shadowing');
        names.push(...page.items.map((i) => i.name));
        namespaces.push(...page.items.map((i) => i.namespace ?? '?'));
        cursor = page.cursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(names).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `team/a/secret-${i}`));
      // secret-0 exists in both: the child's copy shadows the root's.
      expect(namespaces[0]).toBe('acme');

      const even = await client.list({ namespaces: chain, tags: { parity: 'even' } });
      expect(even.items.map((i) => i.name)).toEqual([
        'team/a/secret-0',
        'team/a/secret-2',
        'team/a/secret-4',
        'team/a/secret-6',
      ]);
      expect(even.items[1]?.tags).toEqual({ parity: 'even' });
      expect(even.items[1]?.version).toBe('1');

      // A prefix is not a pattern: "_" and "%" are literal, and case matters.
      expect((await client.list({ namespaces: chain, prefix: 'TEAM/' })).items).toEqual([]);
      expect((await client.list({ namespaces: chain, prefix: 'team_a' })).items).toEqual([]);
      await expect(client.list({ namespaces: chain, cursor: 'garbage' })).rejects.toThrow(
        'invalid list cursor',
      );
      await close();
    });

    it('soft-deletes for the recovery window, restores, and forgets after it', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const { client, close } = await setup(dialect, { recoveryWindow: '7d' });
      await client.write('soft', 'keep-me', { namespace: '' });

      await client.delete!('soft', { namespace: '' });
      await expect(client.get({ name: 'soft', namespaces: ROOT })).rejects.toBeInstanceOf(
        SecretNotFoundError,
      );
      const deleted = await client.list({ namespaces: ROOT, includeDeleted: true });
      expect(deleted.items).toMatchObject([
        { name: 'soft', deletedAt: '2030-01-01T00:00:00.000Z', purgeAt: '2030-01-08T00:00:00.000Z' },
      ]);
      expect((await client.list({ namespaces: ROOT })).items).toEqual([]);
      await expect(client.write('soft', 'again', { namespace: '' })).rejects.toThrow(
        '[builtin] secret "soft" (root namespace) is deleted (restorable until 2030-01-08T00:00:00.000Z): restore it first, or purge it to reuse the name',
      );

      vi.setSystemTime(new Date('2030-01-07T23:00:00Z'));
      await client.restore!('soft', { namespace: '' });
      expect(textOf(await client.get({ name: 'soft', namespaces: ROOT }))).toBe('keep-me');

      await client.delete!('soft', { namespace: '' });
      vi.setSystemTime(new Date('2030-01-15T00:00:01Z'));
      await expect(client.restore!('soft', { namespace: '' })).rejects.toBeInstanceOf(SecretNotFoundError);
      expect((await client.list({ namespaces: ROOT, includeDeleted: true })).items).toEqual([]);
      // The name is free again and starts over at version 1.
      expect((await client.write('soft', 'new life', { namespace: '' })).version).toBe('1');
      expect(await client.versions!('soft', { namespaces: ROOT })).toHaveLength(1);
      await close();
    });

    it('sweeps expired deleted secrets out of the database when it opens', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const dir = tempDir();
      const options = {
        database: await databases.url(dialect),
        masterKey: { file: path.join(dir, 'master.key') },
        embedded: true,
      };
      const first = await builtinClient(options, { recoveryWindow: '1d' });
      await first.client.write('old', 'x', { namespace: '' });
      await first.client.delete!('old', { namespace: '' });
      await first.close();
      vi.setSystemTime(new Date('2030-01-03T00:00:00Z'));
      const second = await builtinClient(options);
      const db = second.client.backend.database.kysely;
      expect(await db.selectFrom('secret_versions').selectAll().execute()).toEqual([]);
      expect(await db.selectFrom('secrets').selectAll().execute()).toEqual([]);
      await second.close();
    });

    it('sweeps expired deleted secrets out of a long-running process at the next write', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const { client, close, db } = await setup(dialect, { recoveryWindow: '1d' });
      await client.write('expiring', 'x', { namespace: '' });
      await client.delete!('expiring', { namespace: '' });
      vi.setSystemTime(new Date('2030-01-02T00:30:00Z'));
      await client.write('unrelated', 'y', { namespace: '' });
      expect(await db.selectFrom('secret_versions').select('name').execute()).toEqual([
        { name: 'unrelated' },
      ]);
      await close();
    });

    it('purges at once with force, or with a zero recovery window', async () => {
      const { client, close, db } = await setup(dialect);
      await client.write('gone', 'x', { namespace: '' });
      await client.write('gone', 'y', { namespace: '' });
      await client.delete!('gone', { namespace: '', force: true });
      expect(await db.selectFrom('secret_versions').where('name', '=', 'gone').selectAll().execute()).toEqual(
        [],
      );
      await client.write('gone-too', 'x', { namespace: '' });
      await client.delete!('gone-too', { namespace: '', recoveryWindowMs: 0 });
      await expect(client.restore!('gone-too', { namespace: '' })).rejects.toBeInstanceOf(
        SecretNotFoundError,
      );
      await client.write('purged', 'x', { namespace: '' });
      await client.delete!('purged', { namespace: '' });
      await client.purge('purged', { namespace: '' });
      expect(await db.selectFrom('secrets').where('name', '=', 'purged').selectAll().execute()).toEqual([]);
      await expect(client.delete!('never-was', { namespace: '' })).rejects.toBeInstanceOf(
        SecretNotFoundError,
      );
      await close();
    });

    it('checks and sets: a write with a stale expected version fails', async () => {
      const { client, close } = await setup(dialect);
      await client.write('cas', 'one', { namespace: '', expectedVersion: '0' });
      await client.write('cas', 'two', { namespace: '', expectedVersion: '1' });
      const err = await client
        .write('cas', 'three', { namespace: '', expectedVersion: '1' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretStateError);
      expect((err as Error).message).toContain('is at version 2, not 1');
      expect((err as Error).message).not.toContain('three');
      await close();
    });

    it('refuses a value above maxValueSize, saying the limit and how to raise it', async () => {
      const { client, close } = await setup(dialect, { maxValueSize: 16 });
      await client.write('small', '1234567890123456', { namespace: '' });
      const big = 'ü'.repeat(9);
      const err = await client.write('big', big, { namespace: '' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValueTooLargeError);
      expect((err as Error).message).toBe(
        '[builtin] the value of "big" is 18 bytes, above this store\'s limit of 16 bytes: raise maxValueSize in the settings of store "builtin" (type builtin), e.g. maxValueSize: 32',
      );
      await close();
    });

    it.each([
      ['', 'is empty'],
      ['/leading', 'starts with "/"'],
      ['trailing/', 'ends with "/"'],
      ['a//b', 'has an empty segment'],
      ['a/../b', 'has a ".." segment'],
      ['..', 'has a ".." segment'],
      ['./a', 'has a "." segment'],
      ['tab\there', 'contains a control character'],
      ['nul\u0000', 'contains a control character'],
      ['line\u2028sep', 'contains a control character'],
    ])('rejects the secret name %j: %s', async (name, why) => {
      const { client, close } = await setup(dialect);
      const err = await client.write(name, 'v', { namespace: '' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toContain(why);
      await expect(client.get({ name, namespaces: ROOT })).rejects.toBeInstanceOf(UsageError);
      await close();
    });

    it('accepts names with slashes, colons, dots and unicode', async () => {
      const { client, close } = await setup(dialect);
      for (const name of ['a/b/c', 'arn:aws:x', 'prod.jira.token', 'équipe/mot-de-passe', '.hidden/x']) {
        await client.write(name, `value of ${name}`, { namespace: '' });
        expect(textOf(await client.get({ name, namespaces: ROOT }))).toBe(`value of ${name}`);
      }
      await close();
    });

    it('rejects a namespace that is not one', async () => {
      const { client, close } = await setup(dialect);
      await expect(client.write('x', 'v', { namespace: 'Acme' })).rejects.toThrow('is not a namespace');
      await expect(client.get({ name: 'x', namespaces: ['acme..x'] })).rejects.toThrow('is not a namespace');
      await close();
    });

    it('detects a ciphertext edited in place, naming the secret and version', async () => {
      const { client, close, db } = await setup(dialect);
      await client.write('edited', 'original', { namespace: 'acme' });
      const row = await db
        .selectFrom('secret_versions')
        .selectAll()
        .where('name', '=', 'edited')
        .executeTakeFirstOrThrow();
      const tampered = Buffer.from(row.ciphertext);
      tampered[tampered.length - 20] = (tampered[tampered.length - 20] as number) ^ 0x40;
      await db
        .updateTable('secret_versions')
        .set({ ciphertext: tampered })
        .where('name', '=', 'edited')
        .execute();

      const err = await client.get({ name: 'edited', namespaces: ['acme'] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretIntegrityError);
      expect(err).toBeInstanceOf(SesameError);
      expect((err as Error).message).toBe(
        'stored secret "edited" (namespace acme) version 1 failed authentication: the row was altered or belongs elsewhere',
      );
      await close();
    });

    it('detects two rows whose ciphertexts and data keys were swapped', async () => {
      const { client, close, db } = await setup(dialect);
      await client.write('alice', 'alice-secret', { namespace: '' });
      await client.write('bob', 'bob-secret', { namespace: '' });
      const rows = await db
        .selectFrom('secret_versions')
        .selectAll()
        .where('name', 'in', ['alice', 'bob'])
        .execute();
      const alice = rows.find((r) => r.name === 'alice')!;
      const bob = rows.find((r) => r.name === 'bob')!;
      await db
        .updateTable('secret_versions')
        .set({ ciphertext: bob.ciphertext, wrapped_key: bob.wrapped_key })
        .where('name', '=', 'alice')
        .execute();
      await db
        .updateTable('secret_versions')
        .set({ ciphertext: alice.ciphertext, wrapped_key: alice.wrapped_key })
        .where('name', '=', 'bob')
        .execute();

      const results = await client.getMany([
        { name: 'alice', namespaces: ROOT },
        { name: 'bob', namespaces: ROOT },
      ]);
      expect(results[0]).toBeInstanceOf(SecretIntegrityError);
      expect(results[1]).toBeInstanceOf(SecretIntegrityError);
      expect((results[1] as Error).message).toContain(
        'stored secret "bob" (root namespace) version 1 failed authentication',
      );
      expect(JSON.stringify(results.map((r) => (r as Error).message))).not.toMatch(/alice-secret|bob-secret/);
      await close();
    });

    it('detects an old version moved into the place of the newest', async () => {
      const { client, close, db } = await setup(dialect);
      await client.write('rollback', 'old-password', { namespace: '' });
      await client.write('rollback', 'new-password', { namespace: '' });
      const v1 = await db
        .selectFrom('secret_versions')
        .selectAll()
        .where('name', '=', 'rollback')
        .where('version', '=', 1)
        .executeTakeFirstOrThrow();
      await db
        .updateTable('secret_versions')
        .set({ ciphertext: v1.ciphertext, wrapped_key: v1.wrapped_key })
        .where('name', '=', 'rollback')
        .where('version', '=', 2)
        .execute();
      await expect(client.get({ name: 'rollback', namespaces: ROOT })).rejects.toThrow(
        'version 2 failed authentication',
      );
      expect(textOf(await client.get({ name: 'rollback', version: '1', namespaces: ROOT }))).toBe(
        'old-password',
      );
      await close();
    });

    it('says what it checked, and which key is active', async () => {
      const { client, close } = await setup(dialect);
      await client.write('sample', 'sample-value', { namespace: '' });
      const report = await client.check({ namespaces: ROOT, sample: 'sample' });
      expect(report.ok).toBe(true);
      expect(report.steps.map((s) => s.step)).toEqual(['database', 'master key', 'list', 'read']);
      expect(report.steps[1]?.detail).toContain(`active master key ${client.backend.keyring.primary.id}`);
      const missing = await client.check({ namespaces: ROOT, sample: 'not-there' });
      expect(missing.ok).toBe(false);
      expect(missing.steps[3]).toMatchObject({ step: 'read', ok: false });
      expect(JSON.stringify(report)).not.toContain('sample-value');
      await close();
    });
  });
}

describe('builtin store service', () => {
  it('opens the backend once for all builtin stores and closes it with the service', async () => {
    const { createBuiltinService } = await import('../../src/stores/builtin/index.js');
    const dir = tempDir();
    let opens = 0;
    const service = createBuiltinService(
      {
        database: `sqlite:${path.join(dir, 'db.sqlite')}`,
        masterKey: { file: path.join(dir, 'k') },
        embedded: true,
        notice: () => {},
      },
      async (options) => {
        opens++;
        const { openBuiltinBackend } = await import('../../src/encrypted-store/index.js');
        return openBuiltinBackend(options);
      },
    );
    const [a, b] = await Promise.all([service(), service()]);
    expect(a).toBe(b);
    expect(opens).toBe(1);
    await service.close();
    await expect(service()).rejects.toThrow('the builtin store was closed');
  });

  it('does not remember a failed open', async () => {
    const { createBuiltinService } = await import('../../src/stores/builtin/index.js');
    const dir = tempDir();
    const keyFile = path.join(dir, 'later.key');
    writeFileSync(keyFile, 'not a key\n');
    const service = createBuiltinService({
      database: `sqlite:${path.join(dir, 'db.sqlite')}`,
      masterKey: { file: keyFile },
    });
    await expect(service()).rejects.toThrow('is not a master key');
    const { writeKeyFile } = await import('./helpers.js');
    writeKeyFile(dir, undefined, 'later.key');
    await expect(service()).resolves.toBeDefined();
    await service.close();
  });

  it('refuses to create a client without the service', async () => {
    await expect(
      builtinStoreType.create(builtinStoreType.settings.parse({}), {
        storeName: 'builtin',
        namespace: '',
        log: { debug() {}, info() {}, warn() {} },
        services: {},
      }),
    ).rejects.toThrow('services.builtin must be set');
  });

  it('keeps one client per store with its own settings over the shared backend', async () => {
    const dir = tempDir();
    const { createBuiltinService } = await import('../../src/stores/builtin/index.js');
    const service = createBuiltinService({
      database: `sqlite:${path.join(dir, 'db.sqlite')}`,
      masterKey: { file: path.join(dir, 'k') },
      embedded: true,
      notice: () => {},
    });
    const context = (storeName: string) => ({
      storeName,
      namespace: '',
      log: { debug() {}, info() {}, warn() {} },
      services: { builtin: service },
    });
    const small: BuiltinStoreClient = await builtinStoreType.create(
      builtinStoreType.settings.parse({ maxValueSize: 4 }),
      context('tiny'),
    );
    const large: BuiltinStoreClient = await builtinStoreType.create(
      builtinStoreType.settings.parse({}),
      context('builtin'),
    );
    await expect(small.write('x', '12345', { namespace: '' })).rejects.toThrow(
      '[tiny] the value of "x" is 5 bytes',
    );
    await large.write('x', '12345', { namespace: '' });
    expect(small.backend).toBe(large.backend);
    await service.close();
  });
});

/**
 * Master key rotation: reads and writes keep working while data keys are rewrapped, an
 * interrupted rotation resumes, and environment key sources rotate by putting the new key first.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import {
  type BuiltinBackend,
  generateMasterKey,
  KeyRotationInterruptedError,
  MasterKeyError,
  openValue,
  parseKeyFile,
  sealValue,
} from '../../src/encrypted-store/index.js';
import { replaceKeyFile } from '../../src/encrypted-store/master-key.js';
import { UsageError } from '../../src/errors.js';
import { DIALECTS, openBackend, tempDir, useDatabases, writeKeyFile } from './helpers.js';

const databases = useDatabases();
const ROOT = [''];

async function seed(backend: BuiltinBackend, count: number): Promise<Map<string, string>> {
  const secrets = backend.secrets();
  const values = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const name = `rot/secret-${String(i).padStart(3, '0')}`;
    const value = `value-${i}-${'x'.repeat(i % 7)}`;
    await secrets.write({ namespace: '', name, value });
    values.set(name, value);
  }
  return values;
}

async function keyIdsInUse(backend: BuiltinBackend): Promise<string[]> {
  const rows = await backend.database.kysely
    .selectFrom('secret_versions')
    .select('key_id')
    .distinct()
    .execute();
  return rows.map((r) => r.key_id).sort();
}

for (const dialect of DIALECTS) {
  describe(`master key rotation on ${dialect}`, () => {
    it('rewraps every data key to a new key while reads from this and another process keep working', async () => {
      const dir = tempDir();
      const database = await databases.url(dialect);
      const keyFile = writeKeyFile(dir);
      const backend = await openBackend({ database, masterKey: { file: keyFile } });
      const values = await seed(backend, 60);
      const oldId = backend.keyring.primary.id;
      // Another process: its own connection, holding only the old key in memory.
      const other = await openBackend({ database, masterKey: { file: keyFile } });

      let rotating = true;
      let reads = 0;
      const failures: unknown[] = [];
      const reader = async (b: BuiltinBackend) => {
        const secrets = b.secrets();
        const names = [...values.keys()];
        while (rotating) {
          const results = await secrets.readMany(names.map((name) => ({ name, namespaces: ROOT })));
          results.forEach((r, i) => {
            if (r instanceof Error) failures.push(r);
            else if (r.value !== values.get(names[i] as string))
              failures.push(new Error(`wrong value for ${names[i]}`));
          });
          reads += results.length;
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      const readers = [reader(backend), reader(other)];
      const progress: number[] = [];
      const result = await backend
        .rotateMasterKey({ batchSize: 7, onProgress: (p) => progress.push(p.rewrapped) })
        .finally(() => {
          rotating = false;
        });
      await Promise.all(readers);

      expect(failures).toEqual([]);
      expect(reads).toBeGreaterThan(0);
      expect(result).toMatchObject({ rewrapped: 60, resumed: false, retired: [oldId], keyFile });
      expect(result.keyId).not.toBe(oldId);
      expect(progress.at(-1)).toBe(60);
      expect(progress.length).toBeGreaterThan(5);
      expect(await keyIdsInUse(backend)).toEqual([result.keyId]);
      // The old key is out of the key file; both processes still read everything.
      expect(parseKeyFile(readFileSync(keyFile, 'utf8'), keyFile).map((k) => k.id)).toEqual([result.keyId]);
      const statuses = await backend.masterKeys();
      expect(statuses.map((k) => [k.id, k.state, k.dataKeys])).toEqual([
        [oldId, 'retired', 0],
        [result.keyId, 'active', 60],
      ]);
      for (const b of [backend, other]) {
        const again = await b
          .secrets()
          .readMany([...values.keys()].map((name) => ({ name, namespaces: ROOT })));
        expect(again.map((r) => (r as { value: string }).value)).toEqual([...values.values()]);
      }
      // A restart with the new key file alone reads everything.
      const restarted = await openBackend({ database, masterKey: { file: keyFile } });
      expect((await restarted.secrets().read({ name: 'rot/secret-059', namespaces: ROOT })).value).toBe(
        values.get('rot/secret-059'),
      );
    });

    it('wraps writes made by another process during the rotation with the new key', async () => {
      const dir = tempDir();
      const database = await databases.url(dialect);
      const keyFile = writeKeyFile(dir);
      const rotator = await openBackend({ database, masterKey: { file: keyFile } });
      await seed(rotator, 40);
      const writer = await openBackend({ database, masterKey: { file: keyFile } });

      let rotating = true;
      const written: Array<{ name: string; version: number; value: string }> = [];
      const writes = (async () => {
        for (let i = 0; rotating || i < 3; i++) {
          const value = `during-${i}`;
          const r = await writer.secrets().write({ namespace: '', name: `during/${i % 4}`, value });
          written.push({ ...r, value });
          // Let timers run: SQLite calls complete synchronously, so a tight loop of them would
          // starve the rotation's retry timer (real writers arrive through I/O events).
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      })();
      const rotation = rotator.rotateMasterKey({ batchSize: 5 }).finally(() => {
        rotating = false;
      });
      const [result] = await Promise.all([rotation, writes]);
      expect(written.length).toBeGreaterThanOrEqual(3);
      // A write that committed after the rotation's last batch used the new key already.
      expect(await keyIdsInUse(rotator)).toEqual([result.keyId]);
      for (const w of written) {
        const got = await rotator.secrets().read({ name: w.name, version: w.version, namespaces: ROOT });
        expect(got.value).toBe(w.value);
      }
    });

    it('resumes an interrupted rotation without making another key', async () => {
      const dir = tempDir();
      const database = await databases.url(dialect);
      const keyFile = writeKeyFile(dir);
      const backend = await openBackend({ database, masterKey: { file: keyFile } });
      const values = await seed(backend, 30);
      const oldId = backend.keyring.primary.id;

      const stop = new AbortController();
      const err = await backend
        .rotateMasterKey({
          batchSize: 10,
          signal: stop.signal,
          onProgress: (p) => {
            if (p.rewrapped >= 10) stop.abort();
          },
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyRotationInterruptedError);
      expect((err as Error).message).toMatch(/stopped after 10 of 30 data keys: run it again to finish/);

      // Mid-rotation: both keys in the file (new first), reads and writes work.
      const inFile = parseKeyFile(readFileSync(keyFile, 'utf8'), keyFile).map((k) => k.id);
      expect(inFile).toHaveLength(2);
      expect(inFile[1]).toBe(oldId);
      const newId = inFile[0] as string;
      expect((await backend.masterKeys()).map((k) => [k.id, k.state])).toEqual([
        [oldId, 'draining'],
        [newId, 'active'],
      ]);
      expect((await backend.secrets().read({ name: 'rot/secret-029', namespaces: ROOT })).value).toBe(
        values.get('rot/secret-029'),
      );
      await backend.secrets().write({ namespace: '', name: 'mid/rotation', value: 'mid' });
      await backend.close();

      // "Restart" and run it again: it finishes the same rotation.
      const restarted = await openBackend({ database, masterKey: { file: keyFile } });
      const result = await restarted.rotateMasterKey({ batchSize: 10 });
      expect(result).toMatchObject({ keyId: newId, resumed: true, rewrapped: 20, retired: [oldId] });
      expect(await keyIdsInUse(restarted)).toEqual([newId]);
      const all = await restarted
        .secrets()
        .readMany([...values.keys()].map((name) => ({ name, namespaces: ROOT })));
      expect(all.map((r) => (r as { value: string }).value)).toEqual([...values.values()]);
      expect((await restarted.secrets().read({ name: 'mid/rotation', namespaces: ROOT })).value).toBe('mid');
    });

    it('finishes a rotation interrupted right after the new key file was written', async () => {
      const dir = tempDir();
      const database = await databases.url(dialect);
      const oldKey = generateMasterKey();
      const keyFile = writeKeyFile(dir, [oldKey]);
      const backend = await openBackend({ database, masterKey: { file: keyFile } });
      await seed(backend, 5);
      const newKey = generateMasterKey();
      replaceKeyFile(keyFile, [newKey, oldKey]);
      const result = await backend.rotateMasterKey();
      expect(result).toMatchObject({ keyId: newKey.id, resumed: true, rewrapped: 5, retired: [oldKey.id] });
    });

    it('rotates an environment key when the operator puts the new key first', async () => {
      const database = await databases.url(dialect);
      const oldKey = generateMasterKey();
      const newKey = generateMasterKey();
      const b64 = (k: typeof oldKey) => k.key.toString('base64');
      const first = await openBackend({ database, masterKey: { env: 'KEY' }, env: { KEY: b64(oldKey) } });
      const values = await seed(first, 8);

      const nothing = await first.rotateMasterKey().catch((e: unknown) => e);
      expect(nothing).toBeInstanceOf(UsageError);
      expect((nothing as Error).message).toContain('put a new key first in KEY (KEY="NEW,OLD"');
      await first.close();

      const both = await openBackend({
        database,
        masterKey: { env: 'KEY' },
        env: { KEY: `${b64(newKey)},${b64(oldKey)}` },
      });
      const result = await both.rotateMasterKey();
      expect(result).toMatchObject({
        keyId: newKey.id,
        rewrapped: 8,
        retired: [oldKey.id],
        keyFile: undefined,
      });
      await both.close();

      const onlyNew = await openBackend({ database, masterKey: { env: 'KEY' }, env: { KEY: b64(newKey) } });
      expect((await onlyNew.secrets().read({ name: 'rot/secret-007', namespaces: ROOT })).value).toBe(
        values.get('rot/secret-007'),
      );
      const onlyOld = await openBackend({
        database,
        masterKey: { env: 'KEY' },
        env: { KEY: b64(oldKey) },
      }).catch((e: unknown) => e);
      expect(onlyOld).toBeInstanceOf(MasterKeyError);
      expect((onlyOld as Error).message).toContain(`is encrypted with master key ${newKey.id}`);
    });

    it('rewraps sealed rows of every table with wrapped_key and key_id columns, not only secrets', async () => {
      const dir = tempDir();
      const database = await databases.url(dialect);
      const backend = await openBackend({ database, masterKey: { file: writeKeyFile(dir) } });
      await seed(backend, 2);
      const db = backend.database.kysely;
      const binary = dialect === 'postgres' ? sql.raw('bytea') : sql.raw('blob');
      await sql`create table test_sealed (id integer primary key, ciphertext ${binary} not null, wrapped_key ${binary} not null, key_id text not null)`.execute(
        db,
      );
      const at = { namespace: 'test-sealed:', name: 'row', version: 1 };
      const sealed = sealValue(Buffer.from('sealed-elsewhere'), at, backend.keyring.primary);
      await sql`insert into test_sealed values (1, ${sealed.ciphertext}, ${sealed.wrappedKey}, ${sealed.keyId})`.execute(
        db,
      );

      const result = await backend.rotateMasterKey({ batchSize: 1 });
      expect(result.rewrapped).toBe(3);
      const row = (
        await sql<{
          ciphertext: Buffer;
          wrapped_key: Buffer;
          key_id: string;
        }>`select * from test_sealed`.execute(db)
      ).rows[0]!;
      expect(row.key_id).toBe(result.keyId);
      const opened = openValue(
        { ciphertext: row.ciphertext, wrappedKey: row.wrapped_key, keyId: row.key_id },
        at,
        backend.keyring.primary,
      );
      expect(opened.toString('utf8')).toBe('sealed-elsewhere');
    });

    it('stops on a data key that does not authenticate, saying which table, and resumes once the row is dealt with', async () => {
      const dir = tempDir();
      const database = await databases.url(dialect);
      const backend = await openBackend({ database, masterKey: { file: writeKeyFile(dir) } });
      await seed(backend, 3);
      const db = backend.database.kysely;
      const row = await db
        .selectFrom('secret_versions')
        .selectAll()
        .where('name', '=', 'rot/secret-001')
        .executeTakeFirstOrThrow();
      const broken = Buffer.from(row.wrapped_key);
      broken[20] = (broken[20] as number) ^ 1;
      await db
        .updateTable('secret_versions')
        .set({ wrapped_key: broken })
        .where('name', '=', 'rot/secret-001')
        .execute();
      await expect(backend.rotateMasterKey()).rejects.toThrow(
        /a data key in table secret_versions wrapped by master key \w+ failed authentication/,
      );
      // The rotation is resumable once the row is dealt with.
      await backend.secrets().purge('', 'rot/secret-001');
      const result = await backend.rotateMasterKey();
      expect(result.resumed).toBe(true);
      expect(await keyIdsInUse(backend)).toEqual([result.keyId]);
    });

    it('tells a process that lacks the new active key to get it, instead of writing with the old one', async () => {
      const dir = tempDir();
      const database = await databases.url(dialect);
      const oldKey = generateMasterKey();
      const keyFile = writeKeyFile(dir, [oldKey]);
      const rotator = await openBackend({ database, masterKey: { file: keyFile } });
      await seed(rotator, 3);
      // This process reads the old key from a file of its own and cannot see the new one.
      const staleDir = tempDir();
      const stale = await openBackend({ database, masterKey: { file: writeKeyFile(staleDir, [oldKey]) } });
      const result = await rotator.rotateMasterKey();
      const err = await stale
        .secrets()
        .write({ namespace: '', name: 'late', value: 'v' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MasterKeyError);
      expect((err as Error).message).toContain(`master key ${result.keyId} is now active`);
      expect((err as Error).message).toContain('give this process the new key');
      // Raised while serving (an API caller may read it): no database location, no key file path.
      expect((err as Error).message).not.toContain(stale.database.location);
      expect((err as Error).message).not.toContain(staleDir);
      expect(await keyIdsInUse(rotator)).toEqual([result.keyId]);
    });
  });
}

describe('master key rotation options', () => {
  it('keeps the old keys in the file when asked', async () => {
    const dir = tempDir();
    const keyFile = writeKeyFile(dir);
    const backend = await openBackend({
      database: `sqlite:${path.join(dir, 'db')}`,
      masterKey: { file: keyFile },
    });
    const oldId = backend.keyring.primary.id;
    await seed(backend, 2);
    const result = await backend.rotateMasterKey({ keepOldKeys: true });
    expect(parseKeyFile(readFileSync(keyFile, 'utf8'), keyFile).map((k) => k.id)).toEqual([
      result.keyId,
      oldId,
    ]);
  });

  it('rotates an empty database too', async () => {
    const dir = tempDir();
    const keyFile = writeKeyFile(dir);
    const backend = await openBackend({
      database: `sqlite:${path.join(dir, 'db')}`,
      masterKey: { file: keyFile },
    });
    const result = await backend.rotateMasterKey();
    expect(result.rewrapped).toBe(0);
    expect(backend.keyring.primary.id).toBe(result.keyId);
    await backend.secrets().write({ namespace: '', name: 'after', value: 'v' });
    expect(await keyIdsInUse(backend)).toEqual([result.keyId]);
  });
});

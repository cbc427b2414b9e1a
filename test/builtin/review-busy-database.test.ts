/**
 * Two writers on one SQLite file: one holds the write lock beyond the wait (15 s) — a backup, an
 * sqlite3 shell left in a transaction, a stuck process. What gave up (a write, a key rotation;
 * a process opening the database no longer waits, see read-while-locked.test.ts) must say that the database was busy, that nothing was written
 * and what to do; they said "[builtin] the sqlite database: database is locked" with no fix,
 * "[builtin] database is locked", and "unexpected error: SqliteError [SQLITE_BUSY]". Writers that
 * do get in each get their own version.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/errors.js';
import { DatabaseBusyError } from '../../src/encrypted-store/index.js';
import { builtinClient, openBackend, tempDir, writeKeyFile } from './helpers.js';

describe('the builtin store when its SQLite database stays busy', () => {
  it('a write, an open and a key rotation that waited past the timeout say the database is busy, that nothing was written, and what to do', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'sesame.db');
    const keyFile = writeKeyFile(dir);
    const { client, close } = await builtinClient({ database: `sqlite:${file}`, masterKey: { file: keyFile } });
    const rotating = await openBackend({ database: `sqlite:${file}`, masterKey: { file: keyFile } });
    try {
      await client.write?.('app/x', 'busy-value-1', { namespace: '' });
      const keyBefore = readFileSync(keyFile, 'utf8');
      const hold = new Database(file);
      hold.exec('begin immediate');
      const started = Date.now();
      type Failure = Error & { fix?: string; code?: string };
      const [write, open, rotation] = (await Promise.all([
        client.write?.('app/x', 'busy-value-2', { namespace: '' }).catch((e: unknown) => e),
        // Another process starting now.
        openBackend({ database: `sqlite:${file}`, masterKey: { file: keyFile } }).catch((e: unknown) => e),
        rotating.rotateMasterKey().catch((e: unknown) => e),
      ])) as Failure[];
      hold.exec('rollback');
      hold.close();
      expect(Date.now() - started).toBeGreaterThanOrEqual(14_000);

      expect(write).toBeInstanceOf(StoreUnavailableError);
      expect(write?.code).toBe('database_busy');
      expect(write?.message).toMatch(/^\[builtin\] the sqlite database stayed locked by another writer for over 15 s: nothing was written$/);
      // Opening needs no write when no migration is due (read-while-locked.test.ts): it succeeds.
      expect(open).not.toBeInstanceOf(Error);
      expect(rotation).toBeInstanceOf(DatabaseBusyError);
      expect(rotation?.message).toMatch(/during the key rotation: .*the rotation resumes where it stopped when run again$/);
      expect(rotation?.fix).toMatch(/run sesame keys rotate again/);
      for (const err of [write, rotation]) {
        expect(err?.fix).toMatch(/another process holds a write transaction on the SQLite file.*retry once it has finished/);
        // Neither a value nor where the file is (the message may reach an API caller).
        expect(`${err?.message} ${err?.fix}`).not.toContain('busy-value');
        expect(`${err?.message} ${err?.fix}`).not.toContain(dir);
      }
      // Nothing was written: the secret is still at version 1, the key file unchanged.
      expect((await client.get({ name: 'app/x', namespaces: [''] })).value).toBe('busy-value-1');
      expect(await client.versions?.('app/x', { namespaces: [''] })).toHaveLength(1);
      expect(readFileSync(keyFile, 'utf8')).toBe(keyBefore);
    } finally {
      await close();
    }
  }, 60_000);

  it('two writers of one name at once on one SQLite file: every write gets its own version, none lost', async () => {
    const dir = tempDir();
    const options = { database: `sqlite:${path.join(dir, 'sesame.db')}`, masterKey: { file: writeKeyFile(dir) } };
    const a = await builtinClient(options);
    const b = await builtinClient(options);
    try {
      const writes = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).client.write?.('app/shared', `shared-${i}`, { namespace: '' })),
      );
      const numbers = writes.map((w) => Number(w?.version)).sort((x, y) => x - y);
      expect(numbers).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      const versions = (await a.client.versions?.('app/shared', { namespaces: [''] })) ?? [];
      expect(versions).toHaveLength(40);
      const values = new Set<string>();
      for (const v of versions) values.add(String((await b.client.get({ name: 'app/shared', version: v.version, namespaces: [''] })).value));
      expect(values.size).toBe(40);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

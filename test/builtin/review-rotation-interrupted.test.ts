/**
 * `sesame keys rotate` interrupted at every step: each write transaction of the rotation in turn
 * fails (before its work, or after its work but before its commit: a killed process, a full
 * disk at COMMIT). After each interruption a process started afresh must open the database and
 * read every secret (and the audit chain key), a process that was running throughout must too,
 * and running the rotation again must finish it with the same new key, leaving the key file with
 * that key alone.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { BuiltinBackend } from '../../src/encrypted-store/index.js';
import { parseKeyFile } from '../../src/encrypted-store/index.js';
import { DIALECTS, openBackend, tempDir, useDatabases, writeKeyFile } from './helpers.js';

const databases = useDatabases();

const ROOT = [''];

const keysIn = (file: string) => parseKeyFile(readFileSync(file, 'utf8'), file).map((k) => k.id);

async function readAll(backend: BuiltinBackend, values: Map<string, string>): Promise<void> {
  for (const [name, value] of values) {
    expect((await backend.secrets().read({ name, namespaces: ROOT })).value).toBe(value);
  }
}

type Failure = { at: number; when: 'before' | 'after' };

/** Make the `at`-th write transaction of `backend` fail, before its work or after it (before COMMIT). */
function failTransaction(backend: BuiltinBackend, failure: Failure): { restore(): void; hit(): boolean } {
  const database = backend.database as { write: BuiltinBackend['database']['write'] };
  const original = database.write;
  let count = 0;
  let hit = false;
  database.write = function (this: unknown, work, options) {
    const n = ++count;
    if (n !== failure.at) return original.call(this, work, options);
    return original.call(
      this,
      async (trx) => {
        hit = true;
        if (failure.when === 'before') throw new Error('injected: process killed before this transaction');
        await work(trx);
        throw new Error('injected: process killed before COMMIT');
      },
      options,
    );
  } as typeof original;
  return {
    restore: () => {
      database.write = original;
    },
    hit: () => hit,
  };
}

for (const dialect of DIALECTS) describe(`key rotation interrupted at each step (${dialect})`, () => {
  it('leaves every secret and the audit chain readable, and a rerun finishes with the same new key', async () => {
    // Transactions of one rotation with 6 secrets in batches of 2: the flip, 3 batches, the
    // empty batch that ends the rewrap, and the finishing one(s). Fail each in turn, both ways.
    let finishedUninterrupted = false;
    for (let at = 1; at <= 10; at++) {
      for (const when of ['before', 'after'] as const) {
        const label = `transaction ${at} failing ${when} its work`;
        const dir = tempDir();
        const database = await databases.url(dialect);
        const keyFile = writeKeyFile(dir);
        const backend = await openBackend({ database, masterKey: { file: keyFile } });
        const oldId = backend.keyring.primary.id;
        const values = new Map<string, string>();
        for (let i = 0; i < 6; i++) {
          values.set(`app/s${i}`, `value-${i}`);
          await backend.secrets().write({ namespace: '', name: `app/s${i}`, value: `value-${i}` });
        }
        // A server that runs throughout, with only the old key in memory.
        const server = await openBackend({ database, masterKey: { file: keyFile } });

        const injected = failTransaction(backend, { at, when });
        const first = await backend.rotateMasterKey({ batchSize: 2 }).then(
          (r) => r,
          (e: unknown) => e as Error,
        );
        injected.restore();
        if (!injected.hit()) {
          // The rotation had fewer transactions than `at`: it finished.
          expect(first, label).not.toBeInstanceOf(Error);
          finishedUninterrupted = true;
          continue;
        }
        expect(first, label).toBeInstanceOf(Error);
        const newKeys = keysIn(keyFile).filter((id) => id !== oldId);
        expect(newKeys.length, `${label}: at most one new key`).toBeLessThanOrEqual(1);

        // A process started now opens the database (audit chain key included) and reads everything.
        const fresh = await openBackend({ database, masterKey: { file: keyFile } }).catch((e: unknown) => e as Error);
        expect(fresh, `${label}: a new process opens the database`).not.toBeInstanceOf(Error);
        await readAll(fresh as BuiltinBackend, values);
        await readAll(server, values);
        await (fresh as BuiltinBackend).secrets().write({ namespace: '', name: 'app/after-crash', value: 'after' });
        values.set('app/after-crash', 'after');

        // Running it again finishes the same rotation: no second new key.
        const rerun = await (fresh as BuiltinBackend).rotateMasterKey({ batchSize: 2 });
        if (newKeys.length === 1) expect(rerun.keyId, label).toBe(newKeys[0]);
        expect(keysIn(keyFile), `${label}: the file holds the new key alone`).toEqual([rerun.keyId]);
        const states = (await (fresh as BuiltinBackend).masterKeys()).map((k) => [k.id, k.state, k.dataKeys]);
        expect(states, label).toEqual(
          expect.arrayContaining([
            [oldId, 'retired', 0],
            [rerun.keyId, 'active', values.size],
          ]),
        );
        expect(states, label).toHaveLength(2);

        const after = await openBackend({ database, masterKey: { file: keyFile } });
        await readAll(after, values);
        await readAll(server, values);
        await Promise.all([backend.close(), server.close(), (fresh as BuiltinBackend).close(), after.close()]);
      }
    }
    // Every transaction of the rotation was failed once (the loop went past the last one).
    expect(finishedUninterrupted).toBe(true);
  }, 120_000);
});

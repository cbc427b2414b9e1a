/**
 * `sesame migrate` reports a secret that failed as `FAIL <name>: <why>`, and errors say what to
 * do. When the error carried its advice apart from its message (`SesameError.fix`: the builtin
 * store's busy or unreachable database, a missing secret), the FAIL line dropped it: "FAIL app/a:
 * [builtin] the sqlite database stayed locked by another writer for over 15 s: nothing was
 * written", and nothing about what to do. With the advice shown, a secret deleted from the source
 * between the listing and the read must not be a failure that says to create it: it has nothing
 * to copy.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrate/index.js';
import type { StoreClient } from '../../src/stores/contract.js';
import { builtinClient, tempDir, writeKeyFile } from '../builtin/helpers.js';

describe('sesame migrate: a failed secret', () => {
  it('is reported with what to do about it', async () => {
    const stores = [tempDir(), tempDir()].map((dir) => ({ dir, file: path.join(dir, 'sesame.db') }));
    const [source, destination] = await Promise.all(
      stores.map(({ dir, file }) => builtinClient({ database: `sqlite:${file}`, masterKey: { file: writeKeyFile(dir) } })),
    );
    if (!source || !destination) throw new Error('no stores');
    try {
      await source.client.write?.('app/a', 'fail-fix-value', { namespace: '' });
      await destination.client.list({ namespaces: [''] });
      const hold = new Database(stores[1]?.file as string);
      hold.exec('begin immediate');
      const run = await migrate({
        from: { name: 'src', client: source.client },
        to: { name: 'dst', client: destination.client },
        namespace: '',
      }).finally(() => {
        hold.exec('rollback');
        hold.close();
      });
      expect(run.summary).toMatchObject({ failed: 1, copied: 0 });
      const error = run.results[0]?.error ?? '';
      expect(error).toMatch(/^\[builtin\] the sqlite database stayed locked by another writer for over 15 s: nothing was written; /);
      expect(error).toMatch(/another process holds a write transaction on the SQLite file.*retry once it has finished/);
      expect(error).not.toContain('fail-fix-value');
    } finally {
      await Promise.all([source.close(), destination.close()]);
    }
  }, 60_000);

  it('deleted from the source after it was listed: nothing to copy, not a failure', async () => {
    const [source, destination] = await Promise.all(
      [tempDir(), tempDir()].map((dir) => builtinClient({ database: `sqlite:${path.join(dir, 'sesame.db')}`, masterKey: { file: writeKeyFile(dir) } })),
    );
    if (!source || !destination) throw new Error('no stores');
    try {
      await source.client.write?.('app/kept', 'kept-value', { namespace: '' });
      await source.client.write?.('app/gone', 'gone-value', { namespace: '' });
      // The listing is taken, then app/gone is deleted before migrate reads it.
      const listed = await source.client.list({ namespaces: [''] });
      await source.client.delete?.('app/gone', { namespace: '', force: true });
      const from: StoreClient = new Proxy(source.client, {
        get: (target, key) => (key === 'list' ? async () => listed : (Reflect.get(target, key, target) as unknown as { bind?: (t: unknown) => unknown })?.bind?.(target) ?? Reflect.get(target, key, target)),
      });
      const run = await migrate({ from: { name: 'src', client: from }, to: { name: 'dst', client: destination.client }, namespace: '' });
      expect(run.results).toEqual([
        { name: 'app/gone', outcome: 'skipped', versions: 0 },
        { name: 'app/kept', outcome: 'copied', versions: 1 },
      ]);
    } finally {
      await Promise.all([source.close(), destination.close()]);
    }
  });
});

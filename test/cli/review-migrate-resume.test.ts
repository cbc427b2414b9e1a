/**
 * `sesame migrate --all-versions` stopped part-way and run again (docs/migrate.md: "a resumed run
 * starts after the newest version the destination already holds, so versions are not
 * duplicated"): the destination must end with the source's history, version for version, also
 * when a value comes back in a later version (a revert, credentials alternating between two).
 * Builtin → builtin over two databases, the destination's writes failing from the Nth on.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrate/index.js';
import type { StoreClient } from '../../src/stores/contract.js';
import { builtinClient, tempDir, writeKeyFile } from '../builtin/helpers.js';

async function store(): Promise<{ client: StoreClient; close(): Promise<void> }> {
  const dir = tempDir();
  return builtinClient({ database: `sqlite:${path.join(dir, 'sesame.db')}`, masterKey: { file: writeKeyFile(dir) } });
}

async function history(client: StoreClient, name: string): Promise<string[]> {
  const versions = await client.versions?.(name, { namespaces: [''] });
  const out: string[] = [];
  for (const v of [...(versions ?? [])].sort((a, b) => Number(a.version) - Number(b.version))) {
    out.push(String((await client.get({ name, version: v.version, namespaces: [''] })).value));
  }
  return out;
}

/** `client` whose writes fail from the `from`-th on (a store that went away part-way). */
function failingFrom(client: StoreClient, from: number): StoreClient {
  let writes = 0;
  return new Proxy(client, {
    get(target, key) {
      const member = Reflect.get(target, key, target) as unknown;
      if (key === 'write') {
        return (...args: Parameters<NonNullable<StoreClient['write']>>) => {
          if (++writes >= from) return Promise.reject(new Error('the destination went away'));
          return (member as NonNullable<StoreClient['write']>).apply(target, args);
        };
      }
      return typeof member === 'function' ? member.bind(target) : member;
    },
  });
}

describe('sesame migrate --all-versions, resumed', () => {
  const HISTORIES: Record<string, string[]> = {
    'app/reverted': ['pw-one', 'pw-two', 'pw-one'],
    'app/alternating': ['blue', 'green', 'blue', 'green'],
    'app/plain': ['p1', 'p2', 'p3'],
  };

  for (const [name, values] of Object.entries(HISTORIES)) {
    for (let stopAt = 2; stopAt <= values.length; stopAt++) {
      it(`${name}: stopped at write ${stopAt} of ${values.length}, a rerun copies the rest and duplicates nothing`, async () => {
        const source = await store();
        const destination = await store();
        try {
          for (const v of values) await source.client.write?.(name, v, { namespace: '' });
          const options = { from: { name: 'src', client: source.client }, namespace: '', allVersions: true };

          const first = await migrate({ ...options, to: { name: 'dst', client: failingFrom(destination.client, stopAt) } });
          expect(first.summary.failed).toBe(1);
          expect(await history(destination.client, name)).toEqual(values.slice(0, stopAt - 1));

          const dry = await migrate({ ...options, to: { name: 'dst', client: destination.client }, dryRun: true });
          expect(dry.results).toEqual([{ name, outcome: 'would-copy', versions: values.length - stopAt + 1 }]);

          const second = await migrate({ ...options, to: { name: 'dst', client: destination.client } });
          expect(second.results).toEqual([{ name, outcome: 'copied', versions: values.length - stopAt + 1 }]);
          expect(await history(destination.client, name)).toEqual(values);

          const third = await migrate({ ...options, to: { name: 'dst', client: destination.client } });
          expect(third.summary).toMatchObject({ skipped: 1, copied: 0, failed: 0 });
          expect(await history(destination.client, name)).toEqual(values);
        } finally {
          await Promise.all([source.close(), destination.close()]);
        }
      });
    }
  }

  it('a destination already holding the current value (a plain migrate before) is left as it is', async () => {
    const source = await store();
    const destination = await store();
    try {
      for (const v of ['x1', 'x2', 'x3']) await source.client.write?.('app/x', v, { namespace: '' });
      await destination.client.write?.('app/x', 'x3', { namespace: '' });
      const run = await migrate({
        from: { name: 'src', client: source.client },
        to: { name: 'dst', client: destination.client },
        namespace: '',
        allVersions: true,
      });
      expect(run.results).toEqual([{ name: 'app/x', outcome: 'skipped', versions: 0 }]);
      expect(await history(destination.client, 'app/x')).toEqual(['x3']);
    } finally {
      await Promise.all([source.close(), destination.close()]);
    }
  });
});

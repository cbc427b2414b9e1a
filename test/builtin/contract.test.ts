/**
 * The shared store contract, run against the builtin store on SQLite and on PostgreSQL. The
 * harness reads through a namespace chain and seeds into the parent namespace, so every
 * contract read also goes through inheritance.
 */
import path from 'node:path';
import { runStoreContract } from '../stores/contract.js';
import { builtinStoreType } from '../../src/stores/builtin/index.js';
import type { StoreType } from '../../src/stores/contract.js';
import { builtinClient, type Dialect, tempDir, usePostgres } from './helpers.js';

const pg = usePostgres();

for (const dialect of ['sqlite', 'postgres'] as Dialect[]) {
  runStoreContract({
    label: `builtin on ${dialect}`,
    storeType: builtinStoreType as StoreType<unknown>,
    harness: async () => {
      const dir = tempDir();
      const database = dialect === 'sqlite' ? `sqlite:${path.join(dir, 'sesame.db')}` : await pg.databaseUrl();
      const { client, close } = await builtinClient({
        database,
        masterKey: { file: path.join(dir, 'master.key') },
        embedded: true,
      });
      return {
        client,
        namespaces: ['acme.devops', 'acme', ''],
        namespace: 'acme.devops',
        seed: async (name, value) => {
          await client.write(name, value, { namespace: 'acme' });
        },
        close,
      };
    },
  });
}

/** Shared setup for the builtin store tests: temporary directories, backends on either dialect. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import {
  type BuiltinBackend,
  formatKeyFile,
  generateMasterKey,
  type MasterKey,
  type OpenBuiltinBackendOptions,
  openBuiltinBackend,
} from '../../src/encrypted-store/index.js';
import { createBuiltinService } from '../../src/stores/builtin/index.js';
import { builtinStoreType, type BuiltinStoreClient } from '../../src/stores/builtin/index.js';
import type { StoreContext } from '../../src/stores/contract.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';

export type Dialect = 'sqlite' | 'postgres';
export const DIALECTS: Dialect[] = ['sqlite', 'postgres'];

const dirs: string[] = [];
const opened: BuiltinBackend[] = [];

// Registered when a test file imports this module, so at the file's top level (a hook
// registered from inside a test would not run): close what the file opened, then remove its
// directories.
afterAll(async () => {
  await Promise.allSettled(opened.splice(0).map((b) => b.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh directory, removed after the test file. */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sesame-builtin-'));
  dirs.push(dir);
  return dir;
}

/** Write a key file holding `keys` (newest first) and return its path. */
export function writeKeyFile(dir: string, keys: MasterKey[] = [generateMasterKey()], name = 'master.key'): string {
  const file = path.join(dir, name);
  writeFileSync(file, formatKeyFile(keys), { mode: 0o600 });
  return file;
}

/**
 * One PostgreSQL cluster per test file, started on first use. Call `usePostgres()` at the top
 * level of a test file; `databaseUrl()` then gives a fresh empty database per call.
 */
export function usePostgres(): { databaseUrl(): Promise<string> } {
  let handle: Promise<PostgresHandle> | undefined;
  afterAll(async () => {
    // Hooks run last-registered first: close this file's backends before their server goes.
    await Promise.allSettled(opened.splice(0).map((b) => b.close()));
    const h = await handle?.catch(() => undefined);
    await h?.stop();
  });
  return {
    async databaseUrl() {
      handle ??= startPostgres();
      return (await handle).createDatabase('sesame_builtin');
    },
  };
}

export interface TestDatabases {
  /** A fresh database URL of the dialect (SQLite file in a temp dir, or a new PG database). */
  url(dialect: Dialect): Promise<string>;
}

export function useDatabases(): TestDatabases {
  const pg = usePostgres();
  return {
    async url(dialect) {
      if (dialect === 'postgres') return pg.databaseUrl();
      return `sqlite:${path.join(tempDir(), 'sesame.db')}`;
    },
  };
}

/** Open a backend that is closed after the test file. Defaults: a fresh key file. */
export async function openBackend(
  options: Partial<OpenBuiltinBackendOptions> & { database: string },
): Promise<BuiltinBackend> {
  const masterKey = options.masterKey ?? { file: writeKeyFile(tempDir()) };
  const backend = await openBuiltinBackend({ notice: () => {}, ...options, masterKey });
  opened.push(backend);
  return backend;
}

export const silentLog: StoreContext['log'] = { debug() {}, info() {}, warn() {} };

/** A builtin store client the way the core makes one, over its own service. */
export async function builtinClient(
  options: OpenBuiltinBackendOptions,
  settings: Record<string, unknown> = {},
  storeName = 'builtin',
): Promise<{ client: BuiltinStoreClient; close(): Promise<void> }> {
  const service = createBuiltinService({ notice: () => {}, ...options });
  const client = await builtinStoreType.create(builtinStoreType.settings.parse(settings), {
    storeName,
    namespace: '',
    log: silentLog,
    services: { builtin: service },
  });
  return { client, close: () => service.close() };
}

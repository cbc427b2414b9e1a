/**
 * Builtin encrypted store throughput (issue: builtin store): sequential encrypted writes and
 * reads through the store client (no resolver cache), on SQLite and on a throwaway PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { builtinStoreType, createBuiltinService } from '../src/stores/builtin/index.js';
import { startPostgres } from '../test/support/postgres.js';

export interface BuiltinBenchRow {
  database: 'SQLite' | 'PostgreSQL';
  writesPerSecond: number;
  readsPerSecond: number;
  operations: number;
}

const log = { debug() {}, info() {}, warn() {} };

async function measure(database: string, label: BuiltinBenchRow['database'], baseDir: string, n: number): Promise<BuiltinBenchRow> {
  const keyVar = `SESAME_BENCH_KEY_${process.pid}`;
  process.env[keyVar] = randomBytes(32).toString('base64');
  const service = createBuiltinService({ database, masterKey: { env: keyVar }, baseDir });
  const client = await builtinStoreType.create(builtinStoreType.settings.parse({}), {
    storeName: 'builtin',
    namespace: '',
    log,
    services: { builtin: service },
  });
  const names = Array.from({ length: n }, (_, i) => `bench/secret-${i}`);
  const t0 = performance.now();
  for (const name of names) await client.write(name, JSON.stringify({ password: randomBytes(12).toString('hex') }), { namespace: 'acme' });
  const writeMs = performance.now() - t0;
  const t1 = performance.now();
  for (const name of names) await client.get({ name, namespaces: ['acme', ''] });
  const readMs = performance.now() - t1;
  await client.close();
  await service.close();
  delete process.env[keyVar];
  return { database: label, writesPerSecond: (n * 1000) / writeMs, readsPerSecond: (n * 1000) / readMs, operations: n };
}

export async function benchBuiltin(options: { operations?: number } = {}): Promise<BuiltinBenchRow[]> {
  const n = options.operations ?? 500;
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-bench-'));
  const rows: BuiltinBenchRow[] = [];
  try {
    rows.push(await measure(`sqlite:${path.join(dir, 'bench.db')}`, 'SQLite', dir, n));
    const pg = await startPostgres();
    try {
      rows.push(await measure(await pg.createDatabase('sesame_bench'), 'PostgreSQL', dir, n));
    } finally {
      await pg.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export interface ListingBench {
  secrets: number;
  /** Mean milliseconds per page of 100 when walking every page with its cursor. */
  walkPageMs: number;
  pages: number;
  firstPageMs: number;
  containsMs: number;
  tagMs: number;
  prefixMs: number;
}

/**
 * Listing a namespace of 100,000 builtin secrets the way the admin UI pages them (SQLite): the
 * first page, every page by cursor, and pages filtered by substring, tag and prefix.
 */
export async function benchListing(count = 100_000): Promise<ListingBench> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-bench-list-'));
  const keyVar = `SESAME_BENCH_LIST_KEY_${process.pid}`;
  process.env[keyVar] = randomBytes(32).toString('base64');
  const service = createBuiltinService({ database: `sqlite:${path.join(dir, 'list.db')}`, masterKey: { env: keyVar }, baseDir: dir });
  const client = await builtinStoreType.create(builtinStoreType.settings.parse({}), {
    storeName: 'builtin',
    namespace: '',
    log,
    services: { builtin: service },
  });
  try {
    for (let i = 0; i < count; i++) {
      await client.write(`team-${i % 100}/app-${i}/token`, `v${i}`, { namespace: 'acme', ...(i % 10 === 0 ? { tags: { tier: 'gold' } } : {}) });
    }
    const ns = ['acme', ''];
    const time = async (fn: () => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    const firstPageMs = await time(() => client.list({ namespaces: ns, limit: 100 }));
    let cursor: string | undefined;
    let pages = 0;
    const walkMs = await time(async () => {
      do {
        const page = await client.list({ namespaces: ns, limit: 100, cursor });
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined);
    });
    return {
      secrets: count,
      walkPageMs: walkMs / pages,
      pages,
      firstPageMs,
      containsMs: await time(() => client.list({ namespaces: ns, limit: 100, contains: 'app-9999' })),
      tagMs: await time(() => client.list({ namespaces: ns, limit: 100, tags: { tier: 'gold' } })),
      prefixMs: await time(() => client.list({ namespaces: ns, limit: 100, prefix: 'team-42/' })),
    };
  } finally {
    await client.close();
    await service.close();
    delete process.env[keyVar];
    rmSync(dir, { recursive: true, force: true });
  }
}

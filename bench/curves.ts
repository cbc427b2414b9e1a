/**
 * Cost curves (issue #17): each cost measured at three sizes, so its order of growth shows.
 *
 *  (a) builtin store listing at 1k / 10k / 100k secrets, on SQLite and on a throwaway PostgreSQL;
 *  (b) memory per cached entry at 1k / 10k / 100k entries;
 *  (c) resolve through namespace chains 1 / 5 / 20 deep;
 *  (d) server start-up with 10 / 100 / 1,000 stores and connections.
 *
 * Redaction at 100 / 10k / 100k known values is in redact.ts. `quick` runs small sizes only
 * (a check that everything runs, not figures to publish).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Insertable, sql } from 'kysely';
import { Bench } from 'tinybench';
import { type ConfigFile, validateConfig } from '../src/config/schema.js';
import { findStoreConfig } from '../src/config/visibility.js';
import type { SecretsTable, SecretTagsTable, SecretVersionsTable } from '../src/db/tables.js';
import { defaultConnectionTypes } from '../src/connections/default-types.js';
import { Redactor } from '../src/redact/redactor.js';
import { createServer } from '../src/server/app.js';
import { createSesame } from '../src/sesame.js';
import { sealValue } from '../src/encrypted-store/envelope.js';
import { builtinStoreType, createBuiltinService } from '../src/stores/builtin/index.js';
import { StoreTypeRegistry } from '../src/stores/registry.js';
import { memoryBackend, memoryStoreType } from '../test/support/memory-store.js';
import { startPostgres } from '../test/support/postgres.js';

const log = { debug() {}, info() {}, warn() {} };

/** Milliseconds of one run of `fn`, median of `runs`. */
async function medianMs(runs: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

function meanNs(bench: Bench, i: number): number {
  const r = bench.tasks[i]?.result as { latency?: { mean: number } } | undefined;
  if (!r?.latency) throw new Error(`task ${i} has no result`);
  return r.latency.mean * 1e6;
}

// ---------------------------------------------------------------------------------------------
// (a) Listing

export interface ListingCurveRow {
  database: 'SQLite' | 'PostgreSQL';
  secrets: number;
  firstPageMs: number;
  /** A page by cursor from the middle of the namespace. */
  middlePageMs: number;
  containsMs: number;
  tagMs: number;
  prefixMs: number;
}

/**
 * Seed `count` secrets in namespace `acme`: the first 200 through the store client (audit and
 * all), the rest inserted in batches of rows sealed the way a write seals them (a data key per
 * value under the active master key), without audit records — listing reads names, dates and
 * tags, never values, so what it meets is the same rows.
 */
async function seedSecrets(
  service: ReturnType<typeof createBuiltinService>,
  client: Awaited<ReturnType<typeof builtinStoreType.create>>,
  count: number,
): Promise<void> {
  const name = (i: number) => `team-${String(i % 100).padStart(2, '0')}/app-${i}/token`;
  const tagged = (i: number) => i % 10 === 0;
  const written = Math.min(200, count);
  for (let i = 0; i < written; i++) {
    await client.write!(name(i), `v${i}`, {
      namespace: 'acme',
      ...(tagged(i) ? { tags: { tier: 'gold' } } : {}),
    });
  }
  const backend = await service();
  const db = backend.database.kysely;
  const key = await backend.activeKey(db);
  const now = new Date().toISOString();
  for (let start = written; start < count; start += 500) {
    const end = Math.min(count, start + 500);
    const secrets: Insertable<SecretsTable>[] = [];
    const versions: Insertable<SecretVersionsTable>[] = [];
    const tags: Insertable<SecretTagsTable>[] = [];
    for (let i = start; i < end; i++) {
      const n = name(i);
      const sealed = sealValue(Buffer.from(`v${i}`), { namespace: 'acme', name: n, version: 1 }, key);
      secrets.push({
        namespace: 'acme',
        name: n,
        latest_version: 1,
        description: null,
        created_at: now,
        updated_at: now,
        deleted_at: null,
        purge_at: null,
      });
      versions.push({
        namespace: 'acme',
        name: n,
        version: 1,
        ciphertext: sealed.ciphertext,
        wrapped_key: sealed.wrappedKey,
        key_id: sealed.keyId,
        created_at: now,
      });
      if (tagged(i)) tags.push({ namespace: 'acme', name: n, tag: 'tier', value: 'gold' });
    }
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('secrets').values(secrets).execute();
      await trx.insertInto('secret_versions').values(versions).execute();
      if (tags.length > 0) await trx.insertInto('secret_tags').values(tags).execute();
    });
  }
  // Fresh statistics, as autovacuum would have after a real load.
  if (backend.database.kind === 'postgres') await sql`ANALYZE`.execute(db);
}

async function listingRow(
  database: string,
  label: ListingCurveRow['database'],
  baseDir: string,
  count: number,
): Promise<ListingCurveRow> {
  const keyVar = `SESAME_BENCH_CURVE_KEY_${process.pid}`;
  process.env[keyVar] = randomBytes(32).toString('base64');
  const service = createBuiltinService({ database, masterKey: { env: keyVar }, baseDir });
  const client = await builtinStoreType.create(builtinStoreType.settings.parse({}), {
    storeName: 'builtin',
    namespace: '',
    log,
    services: { builtin: service },
  });
  try {
    await seedSecrets(service, client, count);
    const ns = ['acme', ''];
    const first = await client.list({ namespaces: ns, limit: 100 });
    if (first.items.length !== 100)
      throw new Error(`listing ${count} secrets gave a first page of ${first.items.length}`);
    // The cursor the page before the middle one would return (the store's cursor format).
    const names = Array.from(
      { length: count },
      (_, i) => `team-${String(i % 100).padStart(2, '0')}/app-${i}/token`,
    ).sort();
    const at = Math.max(0, Math.min(Math.floor(count / 2), count - 101));
    const middle = Buffer.from(JSON.stringify([names[at], 'acme']), 'utf8').toString('base64url');
    const middlePage = await client.list({ namespaces: ns, limit: 100, cursor: middle });
    if (middlePage.items.length !== Math.min(100, count - at - 1))
      throw new Error('the middle page is not what the cursor points at');
    const runs = 5;
    // One unmeasured run of each query first (statement preparation, JIT, page cache).
    await client.list({ namespaces: ns, limit: 100, contains: 'app-999/' });
    await client.list({ namespaces: ns, limit: 100, tags: { tier: 'gold' } });
    await client.list({ namespaces: ns, limit: 100, prefix: 'team-42/' });
    return {
      database: label,
      secrets: count,
      firstPageMs: await medianMs(runs, () => client.list({ namespaces: ns, limit: 100 })),
      middlePageMs: await medianMs(runs, () => client.list({ namespaces: ns, limit: 100, cursor: middle })),
      containsMs: await medianMs(runs, () =>
        client.list({ namespaces: ns, limit: 100, contains: 'app-999/' }),
      ),
      tagMs: await medianMs(runs, () => client.list({ namespaces: ns, limit: 100, tags: { tier: 'gold' } })),
      prefixMs: await medianMs(runs, () => client.list({ namespaces: ns, limit: 100, prefix: 'team-42/' })),
    };
  } finally {
    await client.close();
    await service.close();
    delete process.env[keyVar];
  }
}

export async function benchListingCurve(sizes: number[]): Promise<ListingCurveRow[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-bench-curve-'));
  const rows: ListingCurveRow[] = [];
  try {
    for (const n of sizes)
      rows.push(await listingRow(`sqlite:${path.join(dir, `list-${n}.db`)}`, 'SQLite', dir, n));
    const pg = await startPostgres();
    try {
      for (const n of sizes)
        rows.push(await listingRow(await pg.createDatabase('sesame_curve'), 'PostgreSQL', dir, n));
    } finally {
      await pg.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// (b) Memory per cached entry

export interface CacheMemoryRow {
  entries: number;
  bytesPerEntry: number;
  totalMiB: number;
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with node --expose-gc (npm run bench does)');
  collect();
  collect();
}

/**
 * Heap held by the cache for N entries of 32-character values: the heap with the entries cached
 * minus the heap once they are dropped (the same process, the same compiled references), so
 * the figure is the cache's own (entry, key string, LRU slots), not the store's or the resolver's.
 */
export async function benchCacheMemory(sizes: number[]): Promise<CacheMemoryRow[]> {
  const rows: CacheMemoryRow[] = [];
  for (const n of sizes) {
    const mem = memoryBackend();
    const registry = new StoreTypeRegistry().register(memoryStoreType({ mem }));
    const sesame = createSesame(
      { stores: [{ name: 'mem', type: 'memory', backend: 'mem', cache: { ttl: '1h', maxEntries: n } }] },
      { registry, redactor: new Redactor() },
    );
    const refs: string[] = [];
    for (let i = 0; i < n; i++) {
      mem.set(`app/secret-${i}`, randomBytes(16).toString('hex'));
      refs.push(`secret://mem/app/secret-${i}`);
    }
    // Warm everything that is not the cache (compiled references, the store client, the redactor
    // holding the values) so that only the entries differ between the two heap readings.
    for (let i = 0; i < n; i += 1000) await sesame.resolve(refs.slice(i, i + 1000));
    // Median of 5 drop/fill cycles: small sizes are near the heap's own noise.
    const deltas: number[] = [];
    for (let cycle = 0; cycle < 5; cycle++) {
      await sesame.refresh({ all: true });
      gc();
      const empty = process.memoryUsage().heapUsed;
      for (let i = 0; i < n; i += 1000) await sesame.resolve(refs.slice(i, i + 1000));
      const cached = sesame.cacheStats()[0]?.entries ?? 0;
      if (cached !== n) throw new Error(`expected ${n} cached entries, found ${cached}`);
      gc();
      deltas.push(process.memoryUsage().heapUsed - empty);
    }
    const delta = [...deltas].sort((a, b) => a - b)[2] as number;
    rows.push({ entries: n, bytesPerEntry: delta / n, totalMiB: delta / 2 ** 20 });
    await sesame.close();
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// (c) Namespace chains

export interface NamespaceChainRow {
  depth: number;
  /** `resolveCached` of one reference to a root store from the deepest namespace. */
  warmNs: number;
  /** A resolve whose cache was dropped: a namespace-aware store walks the chain to the root value. */
  coldUs: number;
  /** Which store a name means from the deepest namespace, worked out from the config (first use after a change). */
  lookupNs: number;
}

export async function benchNamespaceChains(depths: number[], time: number): Promise<NamespaceChainRow[]> {
  const rows: NamespaceChainRow[] = [];
  for (const depth of depths) {
    const namespace = Array.from({ length: depth }, (_, i) => `n${i + 1}`).join('.');
    const mem = memoryBackend();
    const nsMem = memoryBackend(true);
    const registry = new StoreTypeRegistry()
      .register(memoryStoreType({ mem, nsMem }))
      .register(memoryStoreType({ mem, nsMem }, true));
    const config = {
      stores: [
        { name: 'mem', type: 'memory', backend: 'mem' },
        { name: 'scoped', type: 'memory-ns', backend: 'nsMem' },
      ],
    };
    const sesame = createSesame(config, { registry, redactor: new Redactor() });
    mem.set('db/password', 'pw-0123456789');
    nsMem.set('db/password', 'pw-root-0123456789', '');
    const warmDoc = '{{ secret://mem/db/password }}';
    const coldDoc = '{{ secret://scoped/db/password }}';
    await sesame.resolve(warmDoc, { namespace });
    if ((await sesame.resolve(coldDoc, { namespace })) !== 'pw-root-0123456789')
      throw new Error('the chain did not reach the root value');
    const validated = validateConfig(config, {
      registry,
      connectionTypes: defaultConnectionTypes(),
      baseDir: process.cwd(),
    });
    let sink: unknown;
    const bench = new Bench({ time, warmup: true, warmupTime: Math.min(200, time / 3) });
    bench
      .add('warm', () => {
        sink = sesame.resolveCached(warmDoc, { namespace });
      })
      .add('cold', async () => {
        await sesame.refresh({ store: 'scoped' });
        sink = await sesame.resolve(coldDoc, { namespace });
      })
      .add('lookup', () => {
        sink = findStoreConfig(validated, 'mem', namespace);
      });
    await bench.run();
    if (!sink) throw new Error('namespace bench produced nothing');
    rows.push({
      depth,
      warmNs: meanNs(bench, 0),
      coldUs: meanNs(bench, 1) / 1000,
      lookupNs: meanNs(bench, 2),
    });
    await sesame.close();
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// (d) Server start-up

export interface StartupRow {
  stores: number;
  connections: number;
  /** Config validated, Sesame created, server created (database opened and migrated), listening, first /healthz answered. */
  totalMs: number;
  createSesameMs: number;
  createServerMs: number;
  listenAndFirstRequestMs: number;
}

export async function benchStartup(sizes: number[], runsPerSize = 5): Promise<StartupRow[]> {
  const rows: StartupRow[] = [];
  for (const n of sizes) {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-bench-start-'));
    try {
      const config: ConfigFile = {
        database: 'sqlite:./sesame.db',
        log: { level: 'warn' as const },
        stores: Array.from({ length: n }, (_, i) => ({ name: `env${i}`, type: 'env', prefix: `APP${i}_` })),
        connections: Array.from({ length: n }, (_, i) => ({
          name: `conn${i}`,
          type: 'generic',
          fields: { host: `db${i}.internal`, password: `{{ secret://env${i}/DB_PASSWORD }}` },
        })),
      };
      const runs = n >= 1000 ? Math.min(3, runsPerSize) : runsPerSize;
      const parts = {
        createSesameMs: [] as number[],
        createServerMs: [] as number[],
        listenMs: [] as number[],
        totalMs: [] as number[],
      };
      for (let run = 0; run < runs; run++) {
        // A fresh database each run: start-up includes migrating it.
        rmSync(path.join(dir, 'sesame.db'), { force: true });
        rmSync(path.join(dir, 'sesame.db-wal'), { force: true });
        rmSync(path.join(dir, 'sesame.db-shm'), { force: true });
        const t0 = performance.now();
        const sesame = createSesame(config, { baseDir: dir });
        const t1 = performance.now();
        const server = await createServer({ sesame, rateLimit: false });
        const t2 = performance.now();
        const url = await server.listen({ host: '127.0.0.1', port: 0 });
        const res = await fetch(`${url}/healthz`);
        await res.text();
        const t3 = performance.now();
        if (res.status !== 200) throw new Error(`healthz answered ${res.status}`);
        if (sesame.connections('').length !== n) throw new Error('not every connection was loaded');
        await server.close();
        await sesame.close();
        parts.createSesameMs.push(t1 - t0);
        parts.createServerMs.push(t2 - t1);
        parts.listenMs.push(t3 - t2);
        parts.totalMs.push(t3 - t0);
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
      rows.push({
        stores: n,
        connections: n,
        totalMs: median(parts.totalMs),
        createSesameMs: median(parts.createSesameMs),
        createServerMs: median(parts.createServerMs),
        listenAndFirstRequestMs: median(parts.listenMs),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Growth

/**
 * The order of growth of `y` over `x` from the log-log slope between the two largest sizes (where
 * the growing term dominates fixed costs): ~0 constant, ~1 linear, ~2 quadratic.
 */
export function growth(points: Array<{ x: number; y: number }>): string {
  const a = points[points.length - 2];
  const b = points[points.length - 1];
  if (!a || !b || a.x === b.x || a.y <= 0 || b.y <= 0) return 'n/a';
  const slope = Math.log(b.y / a.y) / Math.log(b.x / a.x);
  let words: string;
  if (slope < 0.2) words = 'O(1)';
  else if (slope < 0.8) words = 'sublinear';
  else if (slope < 1.25) words = 'O(n)';
  else if (slope < 1.75) words = 'between O(n) and O(n²)';
  else words = `O(n^${slope.toFixed(1)})`;
  return `${words} (slope ${slope.toFixed(2)})`;
}

/**
 * Server benchmark: requests/s and p99 latency of POST /api/v1/resolve (a runtime token, a warm
 * builtin secret, the token checked against the database and an audit record committed for
 * every request, as in production) against a bare Fastify route answering a JSON body of the
 * same size, in the same run, on the same machine, with the same load.
 *
 * The load comes from autocannon, in this process (both targets share that cost equally).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { fastify } from 'fastify';
import { createServer } from '../src/server/app.js';
import { createSesame } from '../src/sesame.js';

export interface LoadFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export interface ServerBenchResult {
  tool: 'autocannon';
  connections: number;
  durationMs: number;
  bare: LoadFigures;
  resolve: LoadFigures;
  /** resolve requests/s ÷ bare requests/s. */
  throughputRatio: number;
  /** Audit records the resolve run committed (one per request). */
  auditRecords: number;
}

interface LoadOptions {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string | undefined;
  connections: number;
  durationMs: number;
  warmupMs: number;
}

async function measure(options: LoadOptions): Promise<LoadFigures> {
  const base = {
    url: options.url,
    method: options.method,
    headers: options.headers,
    body: options.body,
    connections: options.connections,
  };
  // Warm up (JIT, connection pools, caches) with a short run that is not counted.
  await autocannon({ ...base, duration: options.warmupMs / 1000 });
  const r = await autocannon({ ...base, duration: options.durationMs / 1000 });
  return { requestsPerSecond: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.non2xx + r.errors };
}

/**
 * Run both measurements. `connections` concurrent clients for `durationMs` each (after a
 * warm-up), first against the bare route, then against resolve.
 */
export async function benchServer(options: { connections?: number; durationMs?: number; warmupMs?: number } = {}): Promise<ServerBenchResult> {
  const connections = options.connections ?? 32;
  const durationMs = options.durationMs ?? 5000;
  const warmupMs = options.warmupMs ?? 1000;
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-bench-server-'));
  const sesame = createSesame({ database: 'sqlite:./sesame.db', log: { level: 'warn' } }, { baseDir: dir });
  const server = await createServer({ sesame, rateLimit: false });
  const bare = fastify();
  try {
    const { token: runtime } = await server.services.tokens.create({ role: 'runtime', createdBy: 'bench' });
    const secret = 'bench-secret-value-0123456789';
    const client = await sesame.store('builtin').client();
    await client.write?.('bench/db-password', secret, { namespace: '' });
    const url = await server.listen({ host: '127.0.0.1', port: 0 });
    const body = JSON.stringify({ reference: 'secret://builtin/bench/db-password' });
    const headers = { authorization: `Bearer ${runtime}`, 'content-type': 'application/json' };
    // Warm the cache and check the route answers before measuring.
    const check = await fetch(`${url}/api/v1/resolve`, { method: 'POST', headers, body });
    const answer = await check.text();
    if (check.status !== 200) throw new Error(`resolve answered ${check.status}: ${answer}`);

    bare.post('/resolve', async () => JSON.parse(answer) as unknown);
    await bare.listen({ host: '127.0.0.1', port: 0 });
    const bareAddress = bare.server.address();
    const barePort = typeof bareAddress === 'object' && bareAddress ? bareAddress.port : 0;

    const common = { method: 'POST' as const, headers, body, connections, durationMs, warmupMs };
    const bareFigures = await measure({ ...common, url: `http://127.0.0.1:${barePort}/resolve` });
    const before = (await server.services.audit.verify()).records;
    const resolveFigures = await measure({ ...common, url: `${url}/api/v1/resolve` });
    const after = await server.services.audit.verify();
    if (!after.ok) throw new Error('the audit chain does not verify after the benchmark');
    return {
      tool: 'autocannon',
      connections,
      durationMs,
      bare: bareFigures,
      resolve: resolveFigures,
      throughputRatio: resolveFigures.requestsPerSecond / bareFigures.requestsPerSecond,
      auditRecords: after.records - before,
    };
  } finally {
    await bare.close();
    await server.close();
    await sesame.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Markdown for bench/RESULTS.md. */
export function formatServerBench(r: ServerBenchResult): string {
  const f = (n: number, d = 0) => n.toFixed(d);
  return [
    '## Server: POST /api/v1/resolve',
    '',
    `${r.connections} keep-alive connections for ${f(r.durationMs / 1000)} s each (load from ${r.tool} in the same process).`,
    'The resolve route checks the bearer token against the database, resolves a warm builtin secret and',
    'commits an audit record per request (group commit, SQLite WAL with synchronous=FULL). The bare route is',
    'a Fastify handler returning the same JSON body.',
    '',
    '| route | requests/s | p50 | p99 | non-2xx |',
    '|---|---|---|---|---|',
    `| bare Fastify | ${f(r.bare.requestsPerSecond)} | ${f(r.bare.p50Ms, 2)} ms | ${f(r.bare.p99Ms, 2)} ms | ${r.bare.errors} |`,
    `| Sesame resolve | ${f(r.resolve.requestsPerSecond)} | ${f(r.resolve.p50Ms, 2)} ms | ${f(r.resolve.p99Ms, 2)} ms | ${r.resolve.errors} |`,
    '',
    `Resolve runs at ${f(r.throughputRatio * 100)}% of the bare route's throughput; ${r.auditRecords} audit records were committed and the chain verifies.`,
    '',
  ].join('\n');
}

/**
 * A closed-loop HTTP load generator in a worker thread (so it does not share the event loop of
 * the server under test): `connections` keep-alive connections, each sending the next request
 * as soon as the previous answer arrived, for `durationMs`. Reports the requests completed, the
 * non-2xx answers, and the latencies. Used by bench/server.ts when autocannon is not installed.
 */
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface LoadOptions {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  durationMs: number;
  warmupMs: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  elapsedMs: number;
  /** Latencies in milliseconds of the requests completed after the warm-up. */
  latenciesMs: number[];
}

async function run(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const url = new URL(options.url);
  const body = Buffer.from(options.body, 'utf8');
  const headers = { ...options.headers, 'content-length': String(body.length) };
  const once = () =>
    new Promise<number>((resolve, reject) => {
      const req = request(
        { agent, host: url.hostname, port: url.port, path: url.pathname, method: options.method, headers },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const warmEnd = performance.now() + options.warmupMs;
  const end = warmEnd + options.durationMs;
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  const loop = async () => {
    for (;;) {
      const start = performance.now();
      if (start >= end) return;
      const status = await once().catch(() => 0);
      const done = performance.now();
      if (start < warmEnd) continue;
      requests++;
      if (status < 200 || status >= 300) errors++;
      latencies.push(done - start);
    }
  };
  await Promise.all(Array.from({ length: options.connections }, loop));
  agent.destroy();
  return { requests, errors, elapsedMs: options.durationMs, latenciesMs: latencies };
}

if (parentPort) {
  const port = parentPort;
  run(workerData as LoadOptions).then(
    (result) => port.postMessage(result),
    (err: unknown) => port.postMessage({ error: String(err) }),
  );
}

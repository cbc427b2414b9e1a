/**
 * Sesame side by side with Powertools for AWS Lambda (Parameters) in the same run, both through
 * the official SDK against the AWS emulator (test/emulators/aws):
 *
 *  (a) a warm connection of 5 secrets: Sesame's `prepare().get()`, `resolveCached()` and
 *      `await resolve()`, against Powertools' `SecretsProvider.get()` for the 5 names (its cache
 *      warm, maxAge 5 minutes like Sesame's TTL);
 *  (b) 1,000 concurrent cold reads of one secret: store calls and wall time.
 */
import { performance } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { Redactor } from '../src/redact/redactor.js';
import { createSesame } from '../src/sesame.js';
import { AWS_EMULATOR_CREDENTIALS, callsSince, startAwsEmulator } from '../test/emulators/index.js';

export interface PowertoolsBenchResult {
  latencyMs: number;
  warm: { preparedNs: number; cachedNs: number; resolveNs: number; powertoolsNs: number };
  cold: { concurrent: number; sesameCalls: number; sesameMs: number; powertoolsCalls: number; powertoolsMs: number };
}

const LATENCY_MS = 10;
const NAMES = ['host', 'user', 'password', 'token', 'region'];

export async function benchPowertools(options: { quick?: boolean } = {}): Promise<PowertoolsBenchResult> {
  const aws = await startAwsEmulator({ latencyMs: LATENCY_MS });
  const credentials = { ...AWS_EMULATOR_CREDENTIALS };
  const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const { SecretsProvider } = await import('@aws-lambda-powertools/parameters/secrets');
  const makeSesame = () =>
    createSesame(
      {
        stores: [
          {
            name: 'aws',
            type: 'aws-secrets-manager',
            region: aws.region,
            endpoint: aws.url,
            auth: { method: 'static', accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
            cache: { ttl: '5m' },
          },
        ],
      },
      { redactor: new Redactor() },
    );
  const clients: Array<{ destroy(): void }> = [];
  const makePowertools = () => {
    const client = new SecretsManagerClient({ region: aws.region, endpoint: aws.url, credentials });
    clients.push(client);
    return new SecretsProvider({ awsSdkV3Client: client });
  };
  try {
    for (const n of NAMES) aws.seed(`conn/${n}`, `value-of-${n}`);
    aws.seed('hot', 'hot-value');
    aws.seed('warmup', 'warmup-value');

    // (a) warm connection
    const sesame = makeSesame();
    const connection = { type: 'postgres', port: 5432, ...Object.fromEntries(NAMES.map((n) => [n, `{{ secret://aws/conn/${n} }}`])) };
    const prepared = sesame.prepare<Record<string, unknown>>(connection);
    await prepared.resolve();
    const provider = makePowertools();
    const maxAge = 300;
    const powertoolsConnection = async () => {
      const values = await Promise.all(NAMES.map((n) => provider.get(`conn/${n}`, { maxAge })));
      return {
        type: 'postgres',
        port: 5432,
        host: values[0],
        user: values[1],
        password: values[2],
        token: values[3],
        region: values[4],
      };
    };
    const expected = JSON.stringify(await powertoolsConnection());
    if (JSON.stringify(prepared.get()) !== expected) throw new Error('Sesame and Powertools resolve the connection differently');
    const since = callsSince(aws.calls);
    let sink: unknown;
    const time = options.quick ? 300 : 1500;
    const bench = new Bench({ time, warmup: true, warmupTime: Math.min(300, time / 3) });
    bench
      .add('sesame prepared.get()', () => {
        sink = prepared.get();
      })
      .add('sesame resolveCached()', () => {
        sink = sesame.resolveCached(connection);
      })
      .add('sesame await resolve()', async () => {
        sink = await sesame.resolve(connection);
      })
      .add('powertools await 5 x get()', async () => {
        sink = await powertoolsConnection();
      });
    await bench.run();
    if (!sink) throw new Error('the warm bench produced nothing');
    if (since().total !== 0) throw new Error('a warm read reached the emulator');
    const mean = (i: number) => {
      const r = bench.tasks[i]?.result as { latency?: { mean: number } } | undefined;
      if (!r?.latency) throw new Error(`task ${i} has no result`);
      return r.latency.mean * 1e6;
    };
    const warm = { preparedNs: mean(0), cachedNs: mean(1), resolveNs: mean(2), powertoolsNs: mean(3) };
    await sesame.close();

    // (b) 1,000 concurrent cold reads of one secret, each side on a fresh client and cache,
    // after one read of another secret (SDK loaded, connection open).
    const concurrent = options.quick ? 200 : 1000;
    const coldSesame = makeSesame();
    await coldSesame.resolve('secret://aws/warmup');
    let calls = callsSince(aws.calls);
    let t0 = performance.now();
    const sesameValues = await Promise.all(Array.from({ length: concurrent }, () => coldSesame.resolve('secret://aws/hot')));
    const sesameMs = performance.now() - t0;
    const sesameCalls = calls().total;
    if (sesameValues.some((v) => v !== 'hot-value')) throw new Error('sesame: wrong value under concurrency');
    await coldSesame.close();

    const coldProvider = makePowertools();
    await coldProvider.get('warmup');
    calls = callsSince(aws.calls);
    t0 = performance.now();
    const powertoolsValues = await Promise.all(Array.from({ length: concurrent }, () => coldProvider.get('hot', { maxAge })));
    const powertoolsMs = performance.now() - t0;
    const powertoolsCalls = calls().total;
    if (powertoolsValues.some((v) => v !== 'hot-value')) throw new Error('powertools: wrong value under concurrency');

    return { latencyMs: LATENCY_MS, warm, cold: { concurrent, sesameCalls, sesameMs, powertoolsCalls, powertoolsMs } };
  } finally {
    for (const c of clients) c.destroy();
    await aws.stop();
  }
}

/**
 * Core benchmarks (issue: foundation):
 *  (a) warm resolve of a connection with 5 references vs. the same job by hand (5 Map.get into a
 *      new object);
 *  (b) 1,000 concurrent resolves of one cold secret from a store answering in 50 ms.
 */
import { Bench } from 'tinybench';
import { Redactor } from '../src/redact/redactor.js';
import { createSesame } from '../src/sesame.js';
import { StoreTypeRegistry } from '../src/stores/registry.js';
import { memoryBackend, memoryStoreType } from '../test/support/memory-store.js';

export interface CoreBenchResult {
  warm: { sesameNs: number; sesameSyncNs: number; handNs: number; ratio: number; ratioSync: number };
  /** The connection of issue #17: 2 literals + 5 `{{ secret://… }}` fields. */
  prepared: {
    handNs: number;
    preparedNs: number;
    preparedAsyncNs: number;
    cachedNs: number;
    ratio: number;
    ratioCached: number;
  };
  cold: { concurrent: number; storeCalls: number; wallMs: number; storeLatencyMs: number };
}

function setup() {
  const mem = memoryBackend();
  const registry = new StoreTypeRegistry().register(memoryStoreType({ mem }));
  const sesame = createSesame(
    { stores: [{ name: 'mem', type: 'memory', backend: 'mem', batch: true }] },
    { registry, redactor: new Redactor() },
  );
  return { sesame, mem };
}

/**
 * `sesame.prepare()` on the connection of issue #17 (2 literals + 5 references), against the same
 * object built by hand with 5 `Map.get` and against `resolveCached()` of the same document.
 */
async function benchPrepared(time: number): Promise<CoreBenchResult['prepared']> {
  const { sesame, mem } = setup();
  const names = ['host', 'user', 'password', 'token', 'region'];
  for (const n of names) mem.set(`conn/${n}`, `value-of-${n}`);
  const connection = {
    type: 'postgres',
    port: 5432,
    ...Object.fromEntries(names.map((n) => [n, `{{ secret://mem/conn/${n} }}`])),
  };
  const prepared = sesame.prepare<Record<string, unknown>>(connection);
  await prepared.resolve();
  const byHand = new Map(names.map((n) => [`secret://mem/conn/${n}`, `value-of-${n}`]));
  let sink: unknown;
  const tasks: Array<[string, () => unknown]> = [
    [
      'by hand: 2 literals + 5 x Map.get into a new object',
      () => {
        sink = {
          type: 'postgres',
          port: 5432,
          host: byHand.get('secret://mem/conn/host'),
          user: byHand.get('secret://mem/conn/user'),
          password: byHand.get('secret://mem/conn/password'),
          token: byHand.get('secret://mem/conn/token'),
          region: byHand.get('secret://mem/conn/region'),
        };
      },
    ],
    [
      'prepared.get()',
      () => {
        sink = prepared.get();
      },
    ],
    [
      'await prepared.resolve()',
      async () => {
        sink = await prepared.resolve();
      },
    ],
    [
      'sesame.resolveCached() of the same document',
      () => {
        sink = sesame.resolveCached(connection);
      },
    ],
  ];
  // Short alternating rounds, median per task: on a shared machine a slow spell then lands on
  // every task instead of on one.
  const rounds = 7;
  const perRound: number[][] = tasks.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time: time / rounds, warmup: true, warmupTime: Math.min(100, time / rounds) });
    for (const [name, fn] of tasks) bench.add(name, fn);
    await bench.run();
    tasks.forEach((_, i) => {
      const r = bench.tasks[i]?.result as { latency?: { mean: number } } | undefined;
      if (!r?.latency) throw new Error(`task ${i} has no result`);
      (perRound[i] as number[]).push(r.latency.mean * 1e6);
    });
  }
  if (!sink || JSON.stringify(prepared.get()) !== JSON.stringify(sesame.resolveCached(connection))) {
    throw new Error('prepared.get() and resolveCached() disagree');
  }
  const mean = (i: number) => {
    const xs = [...(perRound[i] as number[])].sort((a, b) => a - b);
    return xs[Math.floor(xs.length / 2)] as number;
  };
  await sesame.close();
  const handNs = mean(0);
  const preparedNs = mean(1);
  const cachedNs = mean(3);
  return {
    handNs,
    preparedNs,
    preparedAsyncNs: mean(2),
    cachedNs,
    ratio: preparedNs / handNs,
    ratioCached: cachedNs / handNs,
  };
}

export async function benchCore(options: { quick?: boolean } = {}): Promise<CoreBenchResult> {
  const { sesame, mem } = setup();
  const names = ['host', 'user', 'password', 'token', 'region'];
  for (const n of names) mem.set(`conn/${n}`, `value-of-${n}`);
  const connection = Object.fromEntries(names.map((n) => [n, `{{ secret://mem/conn/${n} }}`]));
  await sesame.resolve(connection);
  const byHand = new Map(names.map((n) => [`secret://mem/conn/${n}`, `value-of-${n}`]));
  let sink: unknown;

  const time = options.quick ? 300 : 1500;
  const bench = new Bench({ time, warmup: true, warmupTime: Math.min(300, time / 3) });
  bench
    .add('sesame.resolve (warm, 5 refs)', async () => {
      sink = await sesame.resolve(connection);
    })
    .add('sesame.resolveCached (warm, 5 refs, sync)', () => {
      sink = sesame.resolveCached(connection);
    })
    .add('by hand: 5 x Map.get into a new object', () => {
      sink = {
        host: byHand.get('secret://mem/conn/host'),
        user: byHand.get('secret://mem/conn/user'),
        password: byHand.get('secret://mem/conn/password'),
        token: byHand.get('secret://mem/conn/token'),
        region: byHand.get('secret://mem/conn/region'),
      };
    });
  await bench.run();
  if (!sink) throw new Error('benchmark produced nothing');
  const mean = (i: number) => {
    const r = bench.tasks[i]?.result as { latency?: { mean: number } } | undefined;
    if (!r?.latency) throw new Error(`task ${i} has no result`);
    return r.latency.mean * 1e6;
  };
  const sesameNs = mean(0);
  const sesameSyncNs = mean(1);
  const handNs = mean(2);

  // (b) cold secret, store latency 50 ms, 1,000 concurrent callers.
  const cold = setup();
  cold.mem.set('cold', 'cold-value');
  cold.mem.delayMs = 50;
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: 1000 }, () => cold.sesame.resolve('secret://mem/cold')),
  );
  const wallMs = performance.now() - t0;
  if (results.some((r) => r !== 'cold-value')) throw new Error('wrong value under concurrency');

  await sesame.close();
  await cold.sesame.close();
  const prepared = await benchPrepared(time);
  return {
    prepared,
    warm: { sesameNs, sesameSyncNs, handNs, ratio: sesameNs / handNs, ratioSync: sesameSyncNs / handNs },
    cold: {
      concurrent: 1000,
      storeCalls: cold.mem.calls.get + cold.mem.calls.getMany,
      wallMs,
      storeLatencyMs: 50,
    },
  };
}

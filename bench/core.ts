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

export async function benchCore(): Promise<CoreBenchResult> {
  const { sesame, mem } = setup();
  const names = ['host', 'user', 'password', 'token', 'region'];
  for (const n of names) mem.set(`conn/${n}`, `value-of-${n}`);
  const connection = Object.fromEntries(names.map((n) => [n, `{{ secret://mem/conn/${n} }}`]));
  await sesame.resolve(connection);
  const byHand = new Map(names.map((n) => [`secret://mem/conn/${n}`, `value-of-${n}`]));
  let sink: unknown;

  const bench = new Bench({ time: 1500, warmup: true, warmupTime: 300 });
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
  const results = await Promise.all(Array.from({ length: 1000 }, () => cold.sesame.resolve('secret://mem/cold')));
  const wallMs = performance.now() - t0;
  if (results.some((r) => r !== 'cold-value')) throw new Error('wrong value under concurrency');

  await sesame.close();
  await cold.sesame.close();
  return {
    warm: { sesameNs, sesameSyncNs, handNs, ratio: sesameNs / handNs, ratioSync: sesameSyncNs / handNs },
    cold: { concurrent: 1000, storeCalls: cold.mem.calls.get + cold.mem.calls.getMany, wallMs, storeLatencyMs: 50 },
  };
}

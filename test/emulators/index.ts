/**
 * Local emulators of cloud secret stores, for tests and benchmarks: each speaks its service's
 * wire protocol on 127.0.0.1 and counts calls per operation.
 *
 * @example
 * const aws = await startAwsEmulator();
 * const delta = callsSince(aws.calls);
 * await store.getMany(requests);
 * delta(); // → { total: 5, byOperation: { BatchGetSecretValue: 5 } }
 */
export * from './aws/index.js';
export * from './conjur/index.js';
export * from './doppler/index.js';
export * from './infisical/index.js';
export * from './onepassword/index.js';
export * from './vault/index.js';

export interface CallDelta {
  total: number;
  byOperation: Record<string, number>;
}

/** Total calls in an emulator's `calls`, optionally only for some operations. */
export function countCalls(calls: Readonly<Record<string, number>>, operations?: readonly string[]): number {
  return Object.entries(calls)
    .filter(([op]) => !operations || operations.includes(op))
    .reduce((sum, [, n]) => sum + n, 0);
}

/** Snapshot an emulator's counters; the returned function gives the calls made since. */
export function callsSince(calls: Readonly<Record<string, number>>): () => CallDelta {
  const before = { ...calls };
  return () => {
    const byOperation: Record<string, number> = {};
    for (const [op, n] of Object.entries(calls)) {
      const d = n - (before[op] ?? 0);
      if (d > 0) byOperation[op] = d;
    }
    return { total: countCalls(byOperation), byOperation };
  };
}

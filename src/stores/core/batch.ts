/**
 * `getMany` for backends with a batch read: requests for the same current value share one
 * entry, entries are fetched in chunks of the backend's size with bounded concurrency, pinned
 * requests (and everything, once the backend refused batching) are read one by one, and an
 * entry the batch answer left out gets the adapter's "missing" error. One result per request,
 * in order.
 */
import type { FetchedSecret, SecretRequest } from '../contract.js';

/** Thrown by {@link BatchPlan.fetch} when the caller may not batch: its requests are read one by one. */
export class BatchRefused extends Error {
  override readonly name = 'BatchRefused';
}

export interface BatchPlan {
  /** Entries per backend call. */
  size: number;
  /** Backend calls at once (default 8). */
  concurrency?: number;
  /** The batch key of a request (the backend id), or undefined to read it alone (pinned versions). */
  key(request: SecretRequest): string | undefined;
  /** Read one request alone. */
  single(request: SecretRequest): Promise<FetchedSecret>;
  /** Fetch one chunk: an outcome per key it answered (see {@link BatchRefused}). */
  fetch(keys: string[]): Promise<Map<string, FetchedSecret | Error>>;
  /** The error of a key the answer left out. */
  missing(key: string): Error;
}

/** Run `run` over `items` with at most `limit` at once. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await run(items[next++] as T);
  });
  await Promise.all(workers);
}

export async function getManyBatched(
  requests: readonly SecretRequest[],
  plan: BatchPlan,
): Promise<Array<FetchedSecret | Error>> {
  const results: Array<FetchedSecret | Error> = new Array(requests.length);
  const alone: number[] = [];
  const byKey = new Map<string, number[]>();
  for (const [i, request] of requests.entries()) {
    const key = plan.key(request);
    if (key === undefined) alone.push(i);
    else byKey.set(key, [...(byKey.get(key) ?? []), i]);
  }
  const single = async (i: number) => {
    results[i] = await plan.single(requests[i] as SecretRequest).catch((err: unknown) => err as Error);
  };
  const keys = [...byKey.keys()];
  const chunks: string[][] = [];
  for (let i = 0; i < keys.length; i += plan.size) chunks.push(keys.slice(i, i + plan.size));
  const concurrency = plan.concurrency ?? 8;
  type Job = { chunk: string[] } | { index: number };
  const jobs: Job[] = [...chunks.map((chunk) => ({ chunk })), ...alone.map((index) => ({ index }))];
  await pool(jobs, concurrency, async (job) => {
    if ('index' in job) return single(job.index);
    let answered: Map<string, FetchedSecret | Error>;
    try {
      answered = await plan.fetch(job.chunk);
    } catch (err) {
      const indexes = job.chunk.flatMap((key) => byKey.get(key) ?? []);
      if (err instanceof BatchRefused) return pool(indexes, concurrency, single);
      for (const i of indexes) results[i] = err as Error;
      return;
    }
    for (const key of job.chunk) {
      const outcome = answered.get(key) ?? plan.missing(key);
      for (const i of byKey.get(key) ?? []) results[i] = outcome;
    }
  });
  return results;
}

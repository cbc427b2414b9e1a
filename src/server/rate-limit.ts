/**
 * Per-token rate limiting: a token bucket per key (a token id, or the client address for
 * requests without a valid token) holding `max` requests that refills continuously over
 * `window`. Written by hand because it is a few lines and keys by the authenticated token
 * rather than by address; the keys are bounded by an LRU so a flood of addresses cannot grow it.
 */
import { LRUCache } from 'lru-cache';

export interface RateLimit {
  /** Requests allowed per window (and the burst size). */
  max: number;
  windowMs: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { max: 1000, windowMs: 1000 };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class RateLimiter {
  readonly #buckets = new LRUCache<string, Bucket>({ max: 50_000 });
  readonly #perMs: number;

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.#perMs = limit.max / limit.windowMs;
  }

  /** Take one request from `key`'s bucket: undefined when allowed, else seconds to wait. */
  take(key: string): number | undefined {
    const now = this.now();
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.limit.max, updatedAt: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.limit.max, bucket.tokens + (now - bucket.updatedAt) * this.#perMs);
      bucket.updatedAt = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000));
  }
}

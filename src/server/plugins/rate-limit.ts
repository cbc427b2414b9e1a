/**
 * Rate limiting as a plugin: decorates the server with `rateLimit(key)`, which throws
 * `RateLimitedError` (429 with Retry-After) when `key` (a token id, or `ip:<address>` for
 * requests without a valid token) has used its budget. The auth plugin calls it once it knows
 * who sends a request. Per process: see docs/deploy.md for several nodes.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { RateLimitedError } from '../errors.js';
import { type RateLimit, RateLimiter } from '../rate-limit.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Take one request from `key`'s budget; throws RateLimitedError when it is spent. */
    rateLimit(key: string): void;
  }
}

export interface RateLimitOptions {
  /** undefined: no limit. */
  limit: RateLimit | undefined;
  now: () => number;
}

async function rateLimit(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  const { limit } = options;
  if (limit === undefined) {
    app.decorate('rateLimit', () => {});
    return;
  }
  const limiter = new RateLimiter(limit, options.now);
  app.decorate('rateLimit', (key: string) => {
    const wait = limiter.take(key);
    if (wait !== undefined) throw new RateLimitedError(wait, limit);
  });
}

export const rateLimitPlugin = fp(rateLimit, { name: 'sesame-rate-limit' });

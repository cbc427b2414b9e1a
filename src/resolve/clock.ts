/**
 * A millisecond clock read once per millisecond: `Date.now()` costs about as much as a whole
 * warm cache lookup, and TTLs need no finer resolution (lru-cache's `ttlResolution` does the same).
 */
let cached = 0;

const reset = () => {
  cached = 0;
};

export function coarseNow(): number {
  if (cached === 0) {
    cached = Date.now();
    setTimeout(reset, 1).unref();
  }
  return cached;
}

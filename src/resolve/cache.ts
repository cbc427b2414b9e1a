/**
 * The per-store secret cache: lru-cache for the bounded map, plus what lru-cache does not do the
 * way a secrets layer needs it — stale-if-error only for a store that is unavailable (never for
 * a secret that is gone or denied), request coalescing that also covers batched fetches, and
 * refresh-ahead. Keys hold store binding, namespace, name and version/stage, never a value.
 * Values live in memory only.
 */
import { LRUCache } from 'lru-cache';
import { StoreUnavailableError } from '../errors.js';
import type { CacheSettings } from '../config/schema.js';
import type { FetchedSecret } from '../stores/contract.js';
import { coarseNow } from './clock.js';

export interface CacheEntry {
  secret: FetchedSecret;
  /** The value as text (binary values: UTF-8 when valid, else base64). */
  text: string;
  /** Parsed JSON, filled on first keyed access: undefined = not parsed yet. */
  json: { ok: true; value: unknown } | { ok: false } | undefined;
  fetchedAt: number;
  /** Last time the LRU recency of this entry was refreshed. */
  touchedAt: number;
  freshUntil: number;
  staleUntil: number;
  /**
   * Set when this entry was served stale because its store failed: until then the store is not
   * asked for it again, and after it, once, in the background (0: the store has not failed).
   */
  retryAt: number;
}

/**
 * How long after a store failed for an entry its stale value is served without asking again.
 * Without it every resolve past the TTL waited for the failing store (its retries and time
 * limit: a second or more) before being served stale, for the whole outage.
 */
const STALE_RETRY_MS = 5_000;

const RECENCY_GRANULARITY_MS = 1000;

export type CacheOutcome = 'hit' | 'miss' | 'stale' | 'coalesced';

export interface CacheStats {
  entries: number;
  maxEntries: number;
  /** Bytes of the values held (see {@link entryBytes}). */
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
  staleServes: number;
  coalesced: number;
  /** Calls the store received (a getMany counts once), counted by the caller of the store. */
  storeCalls: number;
  storeErrors: number;
  refreshes: number;
}

export function secretText(secret: FetchedSecret): string {
  if (typeof secret.value === 'string') return secret.value;
  const bytes = Buffer.from(secret.value.buffer, secret.value.byteOffset, secret.value.byteLength);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('base64');
  }
}

/**
 * What an entry counts against `maxBytes`: the value's bytes as text, plus the raw bytes of a
 * binary value (held beside its text), plus the key, plus — once a keyed reference parsed it — its
 * parsed JSON, counted as the text's bytes again (V8's objects for a JSON text take about that or
 * more: its strings again, and the objects around them).
 */
export function entryBytes(entry: CacheEntry, key: string): number {
  const raw = entry.secret.value;
  const text = Buffer.byteLength(entry.text);
  return text + (typeof raw === 'string' ? 0 : raw.byteLength) + key.length + (entry.json?.ok ? text : 0);
}

export interface LoadResult {
  entry: CacheEntry;
  outcome: CacheOutcome;
}

export class SecretCache {
  readonly #lru: LRUCache<string, CacheEntry>;
  readonly #inflight = new Map<string, Promise<LoadResult>>();
  readonly #settings: CacheSettings;
  readonly #now: () => number;
  readonly stats: Omit<CacheStats, 'entries' | 'maxEntries' | 'bytes' | 'maxBytes'> = {
    hits: 0,
    misses: 0,
    staleServes: 0,
    coalesced: 0,
    storeCalls: 0,
    storeErrors: 0,
    refreshes: 0,
  };
  /** Entries being refreshed ahead, so one refetch runs at a time per entry. */
  readonly #refreshing = new WeakSet<CacheEntry>();
  /** Bumped when an entry is stored or dropped, so a prepared resolver (prepare.ts) knows its entries still stand. */
  changes = 0;

  constructor(settings: CacheSettings, now: () => number = coarseNow) {
    this.#settings = settings;
    this.#now = now;
    // Bounded by entries and by bytes: 1000 entries of a 1 MiB file would otherwise hold a GiB.
    // lru-cache does not keep a value larger than maxSize (nor evicts others for it); the caller
    // still gets it, from the fetch (LoadResult.entry), and the next resolve fetches again.
    this.#lru = new LRUCache<string, CacheEntry>({
      max: settings.maxEntries,
      maxSize: settings.maxBytes,
      sizeCalculation: entryBytes,
    });
  }

  get settings(): CacheSettings {
    return this.#settings;
  }

  /** A fresh entry, or undefined. The warm path: one map lookup and one clock read. */
  fresh(key: string): CacheEntry | undefined {
    return this.freshAt(key, this.#now());
  }

  /** {@link fresh} with the clock read once by the caller for a whole resolve. */
  freshAt(key: string, now: number): CacheEntry | undefined {
    // `peek` skips lru-cache's recency bookkeeping, which costs as much as the rest of a warm
    // resolve; recency is refreshed at most once per second per entry, plenty for eviction order.
    const entry = this.#lru.peek(key);
    if (entry !== undefined && now < entry.freshUntil) {
      if (now - entry.touchedAt >= RECENCY_GRANULARITY_MS) {
        this.#lru.get(key);
        entry.touchedAt = now;
      }
      this.stats.hits++;
      return entry;
    }
    return undefined;
  }

  /**
   * `entry` grew (a keyed reference parsed its JSON): count it again against maxBytes, which may
   * evict older entries, or this one if it no longer fits (it is fetched again when next asked).
   */
  resize(key: string, entry: CacheEntry): void {
    if (this.#lru.peek(key) !== entry) return;
    // lru-cache sizes a value when it is set, and ignores a set of the same value.
    this.#lru.delete(key);
    this.#lru.set(key, entry);
    this.changes++;
  }

  /** The cache's clock. */
  now(): number {
    return this.#now();
  }

  /** An entry that is past its TTL but may still be served while the store fails. */
  #stale(key: string): CacheEntry | undefined {
    const entry = this.#lru.peek(key);
    return entry !== undefined && this.#now() < entry.staleUntil ? entry : undefined;
  }

  /** True when the entry should be refetched in the background (refresh-ahead). */
  wantsRefreshAhead(entry: CacheEntry, now: number = this.#now()): boolean {
    const ahead = this.#settings.refreshAheadMs;
    return ahead > 0 && now >= entry.freshUntil - ahead && !this.#refreshing.has(entry);
  }

  /**
   * Refetch one key in the background; the current entry keeps being served meanwhile and stays
   * if the refetch fails.
   */
  refreshInBackground(key: string, fetch: () => Promise<Array<FetchedSecret | Error>>): void {
    const current = this.#lru.peek(key);
    if (this.#inflight.has(key) || (current && this.#refreshing.has(current))) return;
    if (current) this.#refreshing.add(current);
    this.stats.refreshes++;
    fetch().then(
      ([outcome]) => {
        if (outcome && !(outcome instanceof Error)) {
          // Kept only in place of the entry it refreshed: a refresh that dropped that entry
          // meanwhile (or a newer fetch that replaced it) wins.
          this.#store(key, outcome, this.#lru.peek(key) === current);
          return;
        }
        this.stats.storeErrors++;
        // A value served stale because its store failed is never served for a secret now gone
        // or denied: drop it, so the next resolve asks and gets that answer.
        if (current && current.retryAt !== 0 && !(outcome instanceof StoreUnavailableError)) {
          if (this.#lru.peek(key) === current) {
            this.#lru.delete(key);
            this.changes++;
          }
        }
      },
      () => {
        this.stats.storeErrors++;
      },
    ).finally(() => {
      if (current) this.#refreshing.delete(current);
    });
  }

  /** An entry for `secret`, put in the cache when `keep`. */
  #store(key: string, secret: FetchedSecret, keep: boolean): CacheEntry {
    const now = this.#now();
    const entry: CacheEntry = {
      secret,
      text: secretText(secret),
      json: undefined,
      fetchedAt: now,
      touchedAt: now,
      freshUntil: now + this.#settings.ttlMs,
      staleUntil: now + this.#settings.ttlMs + this.#settings.staleIfErrorMs,
      retryAt: 0,
    };
    if (keep && this.#settings.ttlMs > 0) {
      this.#lru.set(key, entry);
      this.changes++;
    }
    return entry;
  }

  /** The outcome of a fetch failure: serve stale when the store is unavailable, else rethrow. */
  #onError(key: string, err: unknown): LoadResult {
    this.stats.storeErrors++;
    if (err instanceof StoreUnavailableError) {
      const stale = this.#stale(key);
      if (stale) {
        this.stats.staleServes++;
        stale.retryAt = this.#now() + STALE_RETRY_MS;
        return { entry: stale, outcome: 'stale' };
      }
    }
    throw err;
  }

  /**
   * An entry whose store failed a moment ago and that may still be served stale: served at once
   * (the store is known to be failing), with one background refetch once `retryAt` has passed.
   */
  #staleWhileFailing(
    key: string,
    fetch: (keys: readonly string[]) => Promise<Array<FetchedSecret | Error>>,
  ): LoadResult | undefined {
    const entry = this.#lru.peek(key);
    if (entry === undefined || entry.retryAt === 0) return undefined;
    const now = this.#now();
    if (now >= entry.staleUntil) return undefined;
    if (now >= entry.retryAt && !this.#refreshing.has(entry)) {
      entry.retryAt = now + STALE_RETRY_MS;
      this.refreshInBackground(key, () => fetch([key]));
    }
    this.stats.staleServes++;
    return { entry, outcome: 'stale' };
  }

  /**
   * Load several keys, coalescing with fetches already in flight. `fetch` receives only the keys
   * nobody is fetching yet and returns one secret or error per key, in order.
   */
  loadMany(
    keys: readonly string[],
    fetch: (keys: readonly string[]) => Promise<Array<FetchedSecret | Error>>,
  ): Array<Promise<LoadResult>> {
    const results: Array<Promise<LoadResult> | undefined> = new Array(keys.length);
    const toFetch: string[] = [];
    const resolvers = new Map<string, { resolve: (r: LoadResult) => void; reject: (e: unknown) => void }>();
    const mine = new Map<string, Promise<LoadResult>>();
    keys.forEach((key, i) => {
      const pending = this.#inflight.get(key);
      if (pending) {
        this.stats.coalesced++;
        results[i] = pending.then((r) => ({ entry: r.entry, outcome: r.outcome === 'stale' ? 'stale' : 'coalesced' }));
        return;
      }
      const stale = this.#staleWhileFailing(key, fetch);
      if (stale) {
        results[i] = Promise.resolve(stale);
        return;
      }
      this.stats.misses++;
      const promise = new Promise<LoadResult>((resolve, reject) => {
        resolvers.set(key, { resolve, reject });
      });
      // Callers may attach later; an unobserved rejection must not crash the process.
      promise.catch(() => {});
      this.#inflight.set(key, promise);
      mine.set(key, promise);
      toFetch.push(key);
      results[i] = promise;
    });
    if (toFetch.length > 0) {
      // `storeCalls` is counted by whoever calls the store (the resolver's #fetch), once per call
      // the store receives: one getMany, or one get per secret when the store does not batch.
      const settle = (key: string, outcome: FetchedSecret | Error) => {
        const r = resolvers.get(key)!;
        // A refresh of this key let go of this fetch (it may have read the value before the
        // change the refresh is for): its answer goes to its waiters but is not kept, and a newer
        // fetch of the key stays registered. A refresh of other keys does not touch it.
        const current = this.#inflight.get(key) === mine.get(key);
        if (current) this.#inflight.delete(key);
        if (outcome instanceof Error) {
          try {
            r.resolve(this.#onError(key, outcome));
          } catch (err) {
            r.reject(err);
          }
        } else {
          r.resolve({ entry: this.#store(key, outcome, current), outcome: 'miss' });
        }
      };
      fetch(toFetch).then(
        (outcomes) => {
          toFetch.forEach((key, i) => {
            settle(key, outcomes[i] ?? new StoreUnavailableError('the store returned fewer results than asked'));
          });
        },
        (err: unknown) => {
          const error = err instanceof Error ? err : new StoreUnavailableError(String(err));
          for (const key of toFetch) settle(key, error);
        },
      );
    }
    return results as Array<Promise<LoadResult>>;
  }

  /**
   * Drop entries; all when no predicate is given. Returns how many were dropped. Fetches in
   * flight for the dropped keys are let go too: they may have read the value before the change
   * the refresh is for, so a resolve that starts after the refresh fetches again rather than
   * joining them (their own waiters still get their answer, which is not kept).
   */
  invalidate(predicate?: (key: string) => boolean): number {
    this.changes++;
    this.stats.refreshes++;
    if (!predicate) {
      const n = this.#lru.size;
      this.#lru.clear();
      this.#inflight.clear();
      return n;
    }
    for (const key of [...this.#inflight.keys()]) if (predicate(key)) this.#inflight.delete(key);
    let n = 0;
    for (const key of [...this.#lru.keys()]) {
      if (predicate(key)) {
        this.#lru.delete(key);
        n++;
      }
    }
    return n;
  }

  snapshot(): CacheStats {
    return {
      entries: this.#lru.size,
      maxEntries: this.#settings.maxEntries,
      bytes: this.#lru.calculatedSize,
      maxBytes: this.#settings.maxBytes,
      ...this.stats,
    };
  }
}

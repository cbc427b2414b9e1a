/**
 * The redactor knows every value resolved in this process and masks it — and its base64,
 * base64url, URL-encoded and JSON-escaped forms, base64 of the value inside longer data (see
 * forms.ts), and each line of a multi-line value such as a PEM — with `***` in any text. Values
 * shorter than {@link MIN_MASK_LENGTH} characters are not masked: masking `a` or `on` everywhere
 * would destroy logs without protecting anything.
 *
 * Matching: Aho–Corasick automata over every form (automaton.ts), extended incrementally as values
 * are added (matcher.ts), long forms by their head and confirmed by hashes (long-forms.ts); cost
 * per scan is linear in the text and independent of how many values are known. Where forms overlap, the union of every matched span is masked.
 *
 * Fails closed and never throws: if masking fails for any reason, `redact()` returns
 * {@link MASKING_FAILED} (never the text, never an error message) and a stream writes that notice
 * and withholds the rest. Streams hold back a partial match until the next chunk or the end of the
 * stream (a partial of at most 3 characters: 50 ms), so no more than 3 characters of a value reach
 * the output whatever the timing — see stream.ts.
 */
import type { Transform } from 'node:stream';
import { sha256Hex } from '../sha256.js';
import type { MatchSink } from './automaton.js';
import { maskedForms } from './forms.js';
import { FormMatcher, formCost, type MatcherSnapshot, matchAll } from './matcher.js';
import { createMaskingStream, type MaskingStreamOptions } from './stream.js';

export const MASK = '***';
export const MIN_MASK_LENGTH = 4;
/** What `redact()` returns, and a stream writes, when masking failed. */
export const MASKING_FAILED = '[sesame: output withheld: masking failed]';

/** Values up to this length are remembered as they are; longer ones by their sha256. */
const KEY_AS_IS = 64;

/** The set key of a value: itself when short, its SHA-256 otherwise (long values are not kept twice). */
const keyOf = (value: string): string => (value.length <= KEY_AS_IS ? value : `#${sha256Hex(value)}`);

/** What a bounded redactor dropped to stay within its memory limit (counts only, never values). */
export interface Compaction {
  dropped: number;
  kept: number;
  limitBytes: number;
}

interface Known {
  value: string;
  /** What its masked forms cost the matcher, about, in bytes ({@link formCost}). */
  cost: number;
  pinned: boolean;
}

export class Redactor {
  protected readonly matcher: FormMatcher;
  /**
   * Values added, by key (long ones by hash), oldest first: adding one again is cheap and makes it
   * the newest. The value itself is kept so a bounded redactor can rebuild its matcher.
   */
  #values = new Map<string, Known>();
  #formCost = 0;
  /** Cost of the forms added since the matcher was last built (a bounded redactor builds early). */
  #pendingCost = 0;
  /** The bound, and the matcher size above which the next scan compacts (twice what pinned values alone hold, at least the bound). */
  #limit: { bytes: number; above: number; onCompact: (c: Compaction) => void } | undefined;
  #failures = 0;
  /** An add failed part-way: a value may be unknown, so everything is withheld until clear(). */
  #broken = false;

  constructor() {
    this.matcher = this.createMatcher();
  }

  /** The matcher (tests override this to make matching fail). */
  protected createMatcher(): FormMatcher {
    return new FormMatcher();
  }

  /** Number of distinct forms being masked (for stats; never the forms themselves). */
  get size(): number {
    return this.matcher.size;
  }

  /** How many times masking failed (and output was withheld). */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Bound the memory of the matcher (a long-running server: it learns every value it resolves, and
   * a 4 KB value costs it about 35 KiB). When a scan finds the matcher above `bytes`, it is rebuilt
   * with the most recently added values that fit in half of it, pinned ones, and always the value
   * added last (even alone over the bound: it is the one being served): the others are
   * no longer masked, and `onCompact` is told how many (called later, never inside a scan). A
   * process that must mask everything it ever saw (`sesame run`) leaves its redactor unbounded.
   */
  bound(bytes: number, onCompact: (c: Compaction) => void = () => {}): void {
    this.#limit = { bytes, above: bytes, onCompact };
  }

  /**
   * Remember a secret value; returns true when it added something new. Never throws. `pin` keeps
   * it through compactions of a bounded redactor (the server's own credentials).
   */
  add(value: string, options: { pin?: boolean } = {}): boolean {
    if (typeof value !== 'string' || value.length < MIN_MASK_LENGTH) return false;
    try {
      const key = keyOf(value);
      const known = this.#values.get(key);
      if (known) {
        // Seen again: the newest, so a compaction keeps it first.
        this.#values.delete(key);
        this.#values.set(key, { ...known, pinned: known.pinned || options.pin === true });
        return false;
      }
      let cost = 0;
      for (const form of maskedForms(value, MIN_MASK_LENGTH)) {
        this.matcher.add(form);
        cost += formCost(form.length);
      }
      this.#values.set(key, { value, cost, pinned: options.pin === true });
      this.#formCost += cost;
      this.#pendingCost += cost;
      this.#settleEarly();
      return true;
    } catch {
      this.#broken = true;
      this.#failures++;
      return false;
    }
  }

  /**
   * A bounded redactor does not wait for a scan to apply its bound: values can arrive with no scan
   * between them (resolves are not logged), and their forms would wait unbuilt, unbounded. Once
   * the forms added since the last build could cost a quarter of the bound, build (and compact).
   */
  #settleEarly(): void {
    const limit = this.#limit;
    if (limit === undefined || this.#pendingCost <= limit.bytes / 4) return;
    this.#snapshot();
  }

  /** Whether `value` was added, or is one of the masked forms of a value. */
  has(value: string): boolean {
    try {
      const key = keyOf(value);
      return this.#values.has(key) || this.matcher.has(value);
    } catch {
      return false;
    }
  }

  clear(): void {
    this.matcher.clear();
    this.#values = new Map();
    this.#formCost = 0;
    this.#pendingCost = 0;
    this.#broken = false;
  }

  #snapshot(): MatcherSnapshot {
    if (this.#broken) throw new Error('a value could not be added');
    const snapshot = this.matcher.snapshot();
    this.#pendingCost = 0;
    const limit = this.#limit;
    if (limit === undefined || this.matcher.bytes <= limit.above) return snapshot;
    this.#compact(limit.bytes);
    const rebuilt = this.matcher.snapshot();
    // Pinned values alone above the bound would otherwise rebuild the matcher at every scan.
    limit.above = Math.max(limit.bytes, 2 * this.matcher.bytes);
    return rebuilt;
  }

  /**
   * Rebuild the matcher with the pinned values and the newest others that fit in half of `limit`
   * (at the bytes per unit of estimated cost the matcher holds now). A failure part-way leaves the
   * redactor broken: every scan withholds its text until clear().
   */
  #compact(limit: number): void {
    const perCost = this.matcher.bytes / Math.max(1, this.#formCost);
    const budget = limit / 2 / perCost;
    const kept = new Map<string, Known>();
    let cost = 0;
    for (const [key, known] of this.#values) {
      if (!known.pinned) continue;
      kept.set(key, known);
      cost += known.cost;
    }
    const newestFirst = [...this.#values].reverse();
    let dropped = 0;
    let newest = true;
    for (const [key, known] of newestFirst) {
      if (known.pinned) continue;
      // The value learnt last (the one being served now) stays whatever its size: dropping it
      // would leave unmasked the very value in flight.
      const last = newest;
      newest = false;
      if (!last && cost + known.cost > budget) {
        dropped++;
        continue;
      }
      kept.set(key, known);
      cost += known.cost;
    }
    try {
      this.matcher.clear();
      // Oldest first again, so recency survives the rebuild.
      const order = [...this.#values.keys()].filter((k) => kept.has(k));
      for (const key of order)
        for (const form of maskedForms(kept.get(key)!.value, MIN_MASK_LENGTH)) this.matcher.add(form);
      this.#values = new Map(order.map((k) => [k, kept.get(k)!]));
      this.#formCost = cost;
    } catch (err) {
      this.#broken = true;
      throw err;
    }
    const { onCompact, bytes } = this.#limit!;
    // A rebuild that dropped nothing (pinned values alone over the bound) is not news.
    const report = { dropped, kept: kept.size, limitBytes: bytes };
    if (dropped > 0) queueMicrotask(() => onCompact(report));
  }

  /** The masking itself; throws on failure (callers go through redact()). */
  #mask(text: string): string {
    const snapshot = this.#snapshot();
    if ((snapshot.levels.length === 0 && snapshot.heads.length === 0) || text.length < MIN_MASK_LENGTH) return text;
    const sink: MatchSink = { best: undefined };
    matchAll(snapshot, text, sink);
    const best = sink.best;
    if (best === undefined) return text;
    // Union of spans: spans arrive by end position; one starting inside earlier ones swallows them.
    const starts: number[] = [];
    const ends: number[] = [];
    for (let i = 0; i < best.length; i++) {
      const o = best[i]!;
      if (o === 0) continue;
      let s = i - o + 1;
      while (ends.length > 0 && ends[ends.length - 1]! >= s) {
        s = Math.min(s, starts.pop()!);
        ends.pop();
      }
      starts.push(s);
      ends.push(i);
    }
    let out = '';
    let at = 0;
    for (let k = 0; k < starts.length; k++) {
      out += text.slice(at, starts[k]) + MASK;
      at = ends[k]! + 1;
    }
    return out + text.slice(at);
  }

  /** Mask every known value in `text`. Never throws: on failure, returns {@link MASKING_FAILED}. */
  redact(text: string): string {
    try {
      return this.#mask(text);
    } catch {
      this.#failures++;
      return MASKING_FAILED;
    }
  }

  /**
   * Deep-copy a JSON-like value with every string redacted, keys included; bytes (Buffer, typed
   * arrays, ArrayBuffer) become their redacted UTF-8 text and an error `{ name, message }`. Never throws: on failure (of masking,
   * or of the walk, e.g. a cycle) the whole value is replaced by {@link MASKING_FAILED}.
   */
  redactValue<T>(value: T): T {
    try {
      return this.#deep(value);
    } catch {
      this.#failures++;
      return MASKING_FAILED as T;
    }
  }

  #deep<T>(value: T): T {
    if (typeof value === 'string') return this.#mask(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.#deep(v)) as T;
    if (value !== null && typeof value === 'object') {
      // Bytes would otherwise come out as their numbers, one per byte: show them as masked text.
      if (ArrayBuffer.isView(value)) {
        return this.#mask(
          Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'),
        ) as T;
      }
      if (value instanceof ArrayBuffer) return this.#mask(Buffer.from(value).toString('utf8')) as T;
      const out: Record<string, unknown> = {};
      // An error's name and message are not own enumerable properties: keep them, masked.
      if (value instanceof Error) {
        out['name'] = this.#mask(value.name);
        out['message'] = this.#mask(value.message);
      }
      for (const [k, v] of Object.entries(value)) {
        // Keys are output too; defined, not assigned, so a "__proto__" key stays an own key.
        Object.defineProperty(out, this.#mask(k), {
          value: this.#deep(v),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out as T;
    }
    return value;
  }

  /**
   * A stream that masks what passes through, even when a value is split across chunks: a tail
   * that could begin a value is held until the next chunk or the end of the stream (one of at
   * most 3 characters: `releaseAfterMs`, 50 ms), so at most 3 characters of a value get through
   * whatever the timing. On a masking failure it writes {@link MASKING_FAILED} and withholds the
   * rest; it never emits 'error'. Values added while it runs are masked from then on.
   */
  createStream(options: MaskingStreamOptions = {}): Transform {
    return createMaskingStream(
      {
        snapshot: () => this.#snapshot(),
        mask: MASK,
        notice: MASKING_FAILED,
        failed: () => {
          this.#failures++;
        },
      },
      options,
    );
  }
}

/** The process-wide redactor: the resolver feeds it, the logger and `sesame run` use it. */
export const processRedactor = new Redactor();

/**
 * Long forms: found by their head, confirmed by hashes.
 *
 * An automaton costs 14 bytes for every character of every form, and a value has about ten forms:
 * a 1 MB certificate bundle cost the matcher about 134 MiB, twice the bound of a server's
 * redactor, so learning one dropped every other value from masking. A form longer than
 * {@link HEAD} characters is therefore indexed by its first {@link HEAD} characters only (its
 * head, in an automaton of heads); where a head matches, the text that follows is compared with
 * the rest of the form by polynomial hashes of the text's prefixes. What a long form keeps is a
 * few numbers: its length, and the hashes of its prefixes of HEAD·2^k characters (probes) and of
 * the whole form.
 *
 * Hashes decide, without comparing characters: two different texts with equal hashes (random
 * bases chosen per process, two moduli near 2^26) would mask text that is not a value, never
 * unmask one, since equal texts always hash equal. Every check costs O(1) after one pass over the
 * text, so a text full of heads stays linear; a stream learns at each probe whether a held match
 * still holds, so text that only starts like a value is written after at most about twice the
 * length it shares with it.
 *
 * Heads that repeat inside themselves (a period under HEAD/2, as in `aaaa…` or a repeated block)
 * could match at every position of a repetitive text, and more than {@link MAX_PER_HEAD} forms
 * sharing one head would make each match a long check: such forms are indexed whole, as before.
 */
import { randomInt } from 'node:crypto';

/** Forms longer than this are indexed by their first HEAD characters. */
export const HEAD = 128;
/** At most this many long forms share a head; more are indexed whole. */
export const MAX_PER_HEAD = 16;

const M1 = 67_108_859;
const M2 = 67_108_837;
const B1 = randomInt(1 << 16, M1 - 1);
const B2 = randomInt(1 << 16, M2 - 1);
const I1 = 1 / M1;
const I2 = 1 / M2;

/**
 * x mod M1 and x mod M2 for 0 <= x < 2^53, by the reciprocal (about twice as fast as `%` on
 * doubles); the quotient's rounding is off by at most one, corrected.
 */
const mod1 = (x: number): number => {
  const r = x - Math.floor(x * I1) * M1;
  return r < 0 ? r + M1 : r >= M1 ? r - M1 : r;
};
const mod2 = (x: number): number => {
  const r = x - Math.floor(x * I2) * M2;
  return r < 0 ? r + M2 : r >= M2 ? r - M2 : r;
};

/** The character as the automaton reads it (`-` as `+`, `_` as `/`), plus one. */
const code = (c: number): number => (c === 45 ? 44 : c === 95 ? 48 : c + 1);

/** A prefix of a long form: its length, its hashes and B^length (to compare a text segment). */
export interface Probe {
  length: number;
  h1: number;
  h2: number;
  p1: number;
  p2: number;
}

export interface LongForm {
  /** The first HEAD characters (normalized). */
  head: string;
  length: number;
  /** Prefixes of HEAD·2, HEAD·4, … characters shorter than the form, then the whole form. */
  probes: readonly Probe[];
}

/** The prefix hashes and probes of a normalized form longer than HEAD. O(its length). */
export function longForm(form: string): LongForm {
  const probes: Probe[] = [];
  let h1 = 0;
  let h2 = 0;
  let p1 = 1;
  let p2 = 1;
  let next = 2 * HEAD;
  const n = form.length;
  for (let i = 0; i < n; i++) {
    const c = code(form.charCodeAt(i));
    h1 = mod1(h1 * B1 + c);
    h2 = mod2(h2 * B2 + c);
    p1 = mod1(p1 * B1);
    p2 = mod2(p2 * B2);
    const length = i + 1;
    if (length === next && length < n) {
      probes.push({ length, h1, h2, p1, p2 });
      next *= 2;
    }
  }
  probes.push({ length: n, h1, h2, p1, p2 });
  return { head: form.slice(0, HEAD), length: n, probes };
}

/** Whether a head repeats inside itself with a period under HEAD/2 (from its prefix function). */
export function repetitiveHead(head: string): boolean {
  const n = head.length;
  const pi = new Int32Array(n);
  for (let i = 1; i < n; i++) {
    let k = pi[i - 1]!;
    while (k > 0 && head.charCodeAt(i) !== head.charCodeAt(k)) k = pi[k - 1]!;
    if (head.charCodeAt(i) === head.charCodeAt(k)) k++;
    pi[i] = k;
  }
  return n - pi[n - 1]! < n / 2;
}

/**
 * Polynomial hashes of a text's prefixes, from absolute position `origin` on: `at(i)` is the
 * hash of the text from origin to i. Grows as text is appended; the part before a position no
 * longer needed is dropped lazily (amortized O(1) per character).
 */
export class PrefixHashes {
  #h1 = new Float64Array(1024);
  #h2 = new Float64Array(1024);
  /** Absolute position of index 0 of the arrays. */
  #base: number;
  /** Absolute position up to which hashes are known (`at(end)` is defined). */
  end: number;

  constructor(origin: number) {
    this.#base = origin;
    this.end = origin;
  }

  /** Append the characters of `text`, which start at absolute position `this.end`. */
  append(text: string, from = 0, to = text.length): void {
    const count = to - from;
    if (count <= 0) return;
    let used = this.end - this.#base + 1;
    if (used + count > this.#h1.length) {
      const grown = Math.max(this.#h1.length * 2, used + count);
      const h1 = new Float64Array(grown);
      const h2 = new Float64Array(grown);
      h1.set(this.#h1.subarray(0, used));
      h2.set(this.#h2.subarray(0, used));
      this.#h1 = h1;
      this.#h2 = h2;
    }
    const a1 = this.#h1;
    const a2 = this.#h2;
    let h1 = a1[used - 1]!;
    let h2 = a2[used - 1]!;
    for (let i = from; i < to; i++) {
      const c = code(text.charCodeAt(i));
      h1 = mod1(h1 * B1 + c);
      h2 = mod2(h2 * B2 + c);
      a1[used] = h1;
      a2[used] = h2;
      used++;
    }
    this.end += count;
  }

  /** Whether the text from `start` is `probe.length` characters matching that prefix's hashes. */
  matches(start: number, probe: Probe): boolean {
    const i = start - this.#base;
    const j = i + probe.length;
    if (i < 0 || start + probe.length > this.end) return false;
    const s1 = mod1(this.#h1[j]! - mod1(this.#h1[i]! * probe.p1) + M1);
    if (s1 !== probe.h1) return false;
    const s2 = mod2(this.#h2[j]! - mod2(this.#h2[i]! * probe.p2) + M2);
    return s2 === probe.h2;
  }

  /** Forget what lies before absolute position `from` (kept while it is a small part). */
  dropBefore(from: number): void {
    const drop = from - this.#base;
    const used = this.end - this.#base + 1;
    if (drop <= 0 || drop < used / 2 || drop < 4096) return;
    this.#h1.copyWithin(0, drop, used);
    this.#h2.copyWithin(0, drop, used);
    this.#base = from;
  }
}

/** The long forms by head: what the matcher built in, looked up where a head matched. */
export class LongForms {
  readonly #byHead = new Map<string, LongForm[]>();
  #count = 0;

  get size(): number {
    return this.#count;
  }

  /** Long forms with this head, longest first. */
  withHead(head: string): readonly LongForm[] | undefined {
    return this.#byHead.get(head);
  }

  /** How many forms share this head. */
  sharing(head: string): number {
    return this.#byHead.get(head)?.length ?? 0;
  }

  /** Add a form; false when the same form is there already. */
  add(form: LongForm): boolean {
    const list = this.#byHead.get(form.head);
    if (list === undefined) {
      this.#byHead.set(form.head, [form]);
      this.#count++;
      return true;
    }
    if (list.some((f) => same(f, form))) return false;
    list.push(form);
    list.sort((a, b) => b.length - a.length);
    this.#count++;
    return true;
  }

  has(form: LongForm): boolean {
    return this.#byHead.get(form.head)?.some((f) => same(f, form)) ?? false;
  }

  /** Bytes held, about: each form's head is in an automaton (counted there), the rest is numbers. */
  get bytes(): number {
    let n = 0;
    for (const list of this.#byHead.values()) for (const f of list) n += 64 + 48 * f.probes.length;
    return n;
  }
}

function same(a: LongForm, b: LongForm): boolean {
  const x = a.probes[a.probes.length - 1]!;
  const y = b.probes[b.probes.length - 1]!;
  return a.length === b.length && x.h1 === y.h1 && x.h2 === y.h2;
}

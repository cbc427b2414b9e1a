/**
 * The set of masked forms, extended incrementally.
 *
 * Forms of up to {@link HEAD} characters are built into Aho–Corasick automata; a longer form into
 * an automaton of heads (its first HEAD characters) and the hashes that confirm the rest where a
 * head matches (long-forms.ts), so a long value costs the matcher a few kilobytes, not 14 bytes
 * for every character of every form.
 *
 * Automata are kept as a binary counter of immutable automata (the "logarithmic method"): added
 * forms wait in a small set; the next scan builds them into a new automaton and merges it with the
 * last ones while those are at most twice its size. Sizes therefore fall by more than half from one
 * automaton to the next (at most log2 of the total of them), every character is rebuilt at most
 * log2(total) times whatever the order of adds and scans, and nothing grows with a pattern built
 * from values. A scan runs each automaton once over the text: linear in the text.
 */
import { Automaton, type MatchSink, normalizeForm } from './automaton.js';
import {
  HEAD,
  type LongForm,
  LongForms,
  longForm,
  MAX_PER_HEAD,
  PrefixHashes,
  repetitiveHead,
} from './long-forms.js';

export interface MatcherSnapshot {
  /** Changes whenever the automata or the long forms do (a stream then rescans what it holds). */
  readonly generation: number;
  /** Automata of the forms of up to HEAD characters (and of long forms indexed whole). */
  readonly levels: readonly Automaton[];
  /** Automata of the heads of long forms. */
  readonly heads: readonly Automaton[];
  readonly long: LongForms;
}

/** What a form costs the matcher, about, in bytes (automaton.ts: 14 bytes a node). */
export function formCost(length: number): number {
  return 14 * Math.min(length, HEAD) + (length > HEAD ? 64 + 48 * Math.log2(length / HEAD) : 0);
}

/** A binary counter of immutable automata over a growing set of forms. */
class AutomatonStack {
  levels: Automaton[] = [];
  pending = new Set<string>();

  has(form: string): boolean {
    return this.pending.has(form) || this.levels.some((a) => a.includes(form));
  }

  get size(): number {
    let n = this.pending.size;
    for (const a of this.levels) n += a.forms;
    return n;
  }

  get bytes(): number {
    let n = 0;
    for (const a of this.levels) n += a.bytes;
    return n;
  }

  settle(): void {
    if (this.pending.size === 0) return;
    const forms = [...this.pending].sort();
    let acc = Automaton.fromSorted(forms);
    const levels = [...this.levels];
    while (levels.length > 0 && levels[levels.length - 1]!.nodes <= 2 * acc.nodes) {
      acc = Automaton.merge(levels.pop()!, acc);
    }
    levels.push(acc);
    // Only now, so a failure above leaves the forms pending (and every scan fails closed).
    this.levels = levels;
    this.pending = new Set();
  }
}

export class FormMatcher {
  #full = new AutomatonStack();
  #heads = new AutomatonStack();
  #long = new LongForms();
  /** Long forms added since the last build, and how many of them share each head. */
  #pendingLong: LongForm[] = [];
  #pendingHeads = new Map<string, number>();
  #generation = 0;

  /** Remember a form (any length; the caller decides what is worth masking). */
  add(form: string): void {
    if (form.length === 0) return;
    const n = normalizeForm(form);
    if (n.length > HEAD) {
      const head = n.slice(0, HEAD);
      const sharing = this.#long.sharing(head) + (this.#pendingHeads.get(head) ?? 0);
      if (sharing < MAX_PER_HEAD && !repetitiveHead(head)) {
        this.#pendingLong.push(longForm(n));
        this.#pendingHeads.set(head, (this.#pendingHeads.get(head) ?? 0) + 1);
        return;
      }
    }
    this.#full.pending.add(n);
  }

  /** Whether `form` is known. */
  has(form: string): boolean {
    const n = normalizeForm(form);
    if (n.length > HEAD && (this.#long.sharing(n.slice(0, HEAD)) > 0 || this.#pendingLong.length > 0)) {
      const f = longForm(n);
      if (this.#long.has(f) || this.#pendingLong.some((p) => sameForm(p, f))) return true;
    }
    return this.#full.has(n);
  }

  /** Number of forms (a form added through two values before they were merged counts twice). */
  get size(): number {
    return this.#full.size + this.#long.size + this.#pendingLong.length;
  }

  get empty(): boolean {
    return this.size === 0;
  }

  /** Bytes held by the automata and the long forms (the forms waiting to be built are not counted). */
  get bytes(): number {
    return this.#full.bytes + this.#heads.bytes + this.#long.bytes;
  }

  clear(): void {
    this.#full = new AutomatonStack();
    this.#heads = new AutomatonStack();
    this.#long = new LongForms();
    this.#pendingLong = [];
    this.#pendingHeads = new Map();
    this.#generation++;
  }

  /** The automata and long forms, with every added form built in. */
  snapshot(): MatcherSnapshot {
    if (this.#full.pending.size > 0 || this.#pendingLong.length > 0) this.#settle();
    return { generation: this.#generation, levels: this.#full.levels, heads: this.#heads.levels, long: this.#long };
  }

  #settle(): void {
    // Heads first: a failure leaves the long forms pending, and every scan fails closed.
    const fresh = this.#pendingLong.filter((f) => !this.#long.has(f));
    for (const f of fresh) this.#heads.pending.add(f.head);
    this.#heads.settle();
    for (const f of fresh) this.#long.add(f);
    this.#pendingLong = [];
    this.#pendingHeads = new Map();
    this.#full.settle();
    this.#generation++;
  }

  /** Longest form ending at each index of `text` into `sink`. */
  scan(text: string, sink: MatchSink): void {
    matchAll(this.snapshot(), text, sink);
  }
}

function sameForm(a: LongForm, b: LongForm): boolean {
  const x = a.probes[a.probes.length - 1]!;
  const y = b.probes[b.probes.length - 1]!;
  return a.length === b.length && x.h1 === y.h1 && x.h2 === y.h2;
}

/** Record a form of `length` characters ending at index `end` of a text of `n` characters. */
export function record(sink: MatchSink, end: number, length: number, n: number): void {
  let best = sink.best;
  if (best === undefined) {
    best = new Int32Array(n);
    sink.best = best;
  }
  if (best[end]! < length) best[end] = length;
}

/** Longest form (short or long) ending at each index of a whole `text` into `sink`. */
export function matchAll(snapshot: MatcherSnapshot, text: string, sink: MatchSink): void {
  for (const a of snapshot.levels) a.run(text, 0, sink);
  if (snapshot.heads.length === 0) return;
  const heads: MatchSink = { best: undefined };
  for (const a of snapshot.heads) a.run(text, 0, heads);
  const hits = heads.best;
  if (hits === undefined) return;
  let hashes: PrefixHashes | undefined;
  for (let i = HEAD - 1; i < hits.length; i++) {
    if (hits[i] === 0) continue;
    const start = i - HEAD + 1;
    const forms = snapshot.long.withHead(normalizeForm(text.slice(start, i + 1)));
    if (forms === undefined) throw new Error('a head matched without its long forms');
    // Hashes of the text from this head to the end of its longest form: a text with few long
    // values is hashed only around them (and in all no more than once).
    if (hashes === undefined || start > hashes.end) hashes = new PrefixHashes(start);
    const needed = Math.min(text.length, start + forms[0]!.length);
    if (hashes.end < needed) hashes.append(text, hashes.end, needed);
    // Longest first: the first that matches covers the others starting here.
    for (const f of forms) {
      if (hashes.matches(start, f.probes[f.probes.length - 1]!)) {
        record(sink, start + f.length - 1, f.length, text.length);
        break;
      }
    }
  }
}

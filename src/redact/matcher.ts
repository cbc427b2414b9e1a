/**
 * The set of masked forms, extended incrementally: a binary counter of immutable Aho–Corasick
 * automata (the "logarithmic method"). Added forms wait in a small set; the next scan builds them
 * into a new automaton and merges it with the last ones while those are at most twice its size.
 * Sizes therefore fall by more than half from one automaton to the next (at most log2 of the total
 * of them), every character is rebuilt at most log2(total) times whatever the order of adds and
 * scans, and nothing grows with a pattern built from values. A scan runs each automaton once over
 * the text: linear in the text.
 */
import { Automaton, type MatchSink, normalizeForm } from './automaton.js';

export interface MatcherSnapshot {
  /** Changes whenever `levels` does (a stream then rescans what it holds). */
  readonly generation: number;
  readonly levels: readonly Automaton[];
}

export class FormMatcher {
  #levels: Automaton[] = [];
  #pending = new Set<string>();
  #generation = 0;

  /** Remember a form (any length; the caller decides what is worth masking). */
  add(form: string): void {
    if (form.length > 0) this.#pending.add(normalizeForm(form));
  }

  /** Whether `form` is known. */
  has(form: string): boolean {
    const n = normalizeForm(form);
    return this.#pending.has(n) || this.#levels.some((a) => a.includes(n));
  }

  /** Number of forms (a form added through two values before they were merged counts twice). */
  get size(): number {
    let n = this.#pending.size;
    for (const a of this.#levels) n += a.forms;
    return n;
  }

  get empty(): boolean {
    return this.#pending.size === 0 && this.#levels.length === 0;
  }

  /** Bytes held by the automata (the forms waiting to be built are not counted). */
  get bytes(): number {
    let n = 0;
    for (const a of this.#levels) n += a.bytes;
    return n;
  }

  clear(): void {
    this.#levels = [];
    this.#pending = new Set();
    this.#generation++;
  }

  /** The automata, with every added form built in. */
  snapshot(): MatcherSnapshot {
    if (this.#pending.size > 0) this.#settle();
    return { generation: this.#generation, levels: this.#levels };
  }

  #settle(): void {
    const forms = [...this.#pending].sort();
    let acc = Automaton.fromSorted(forms);
    const levels = [...this.#levels];
    while (levels.length > 0 && levels[levels.length - 1]!.nodes <= 2 * acc.nodes) {
      acc = Automaton.merge(levels.pop()!, acc);
    }
    levels.push(acc);
    // Only now, so a failure above leaves the forms pending (and every scan fails closed).
    this.#levels = levels;
    this.#pending = new Set();
    this.#generation++;
  }

  /** Longest form ending at each index of `text` into `sink`. */
  scan(text: string, sink: MatchSink): void {
    for (const a of this.snapshot().levels) a.run(text, 0, sink);
  }
}

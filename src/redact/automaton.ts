/**
 * A static Aho–Corasick automaton over UTF-16 code units, stored compactly.
 *
 * Hand-written on purpose: no well-kept npm package offers Aho–Corasick over JS (UTF-16) strings
 * that can be extended as values arrive, reports the longest form ending at each position, and
 * keeps a 1 MB form in flat typed arrays rather than one object per character. Extension is done
 * one level up ({@link FormMatcher}): automata are immutable and merged like a binary counter.
 *
 * Layout (nodes numbered in breadth-first order, so a node's children are contiguous and sorted by
 * character, and every node deeper than another has a larger number):
 * - `ch[v]`     the character on the edge into v
 * - `first[v]`  the first child of v; v's children are `first[v] .. first[v + 1] - 1`
 * - `fail[v]`   the node of the longest proper suffix of v's string that is also a trie node
 * - `out[v]`    the length of the longest form that is a suffix of v's string (0: none)
 * - `levels[d]` the first node at depth d (depth of a node by binary search, only needed per chunk)
 * 14 bytes per node, plus a 65,536-entry table of the root's children for larger automata.
 *
 * Characters `-` and `_` are read as `+` and `/` (forms and text alike), so one base64 form also
 * matches its base64url spelling; the price is that `a-b_c` also masks `a+b/c`, which is harmless.
 */

const ROOT_TABLE_MIN_NODES = 2048;
/** Children lists longer than this are binary-searched. */
const LINEAR_CHILDREN = 8;
const NO_CHAR = 0x10000;

/** Map `-` to `+` and `_` to `/`, as the automaton reads text. */
export function normalizeForm(form: string): string {
  return form.includes('-') || form.includes('_') ? form.replaceAll('-', '+').replaceAll('_', '/') : form;
}

/** Where a scan records matches: `best[i]` = length of the longest form ending at index i. */
export interface MatchSink {
  best: Int32Array | undefined;
}

export class Automaton {
  readonly #ch: Uint16Array;
  readonly #first: Int32Array;
  readonly #fail: Int32Array;
  readonly #out: Int32Array;
  readonly #levels: Int32Array;
  readonly #root: Int32Array | undefined;
  /** Number of nodes (the root included). */
  readonly nodes: number;
  /** Number of distinct forms. */
  readonly forms: number;

  private constructor(ch: Uint16Array, first: Int32Array, out: Int32Array, levels: Int32Array, forms: number) {
    this.nodes = ch.length;
    this.#ch = ch;
    this.#first = first;
    this.#out = out;
    this.#levels = levels;
    this.forms = forms;
    if (this.nodes >= ROOT_TABLE_MIN_NODES) {
      const root = new Int32Array(NO_CHAR);
      for (let v = first[0]!; v < first[1]!; v++) root[ch[v]!] = v;
      this.#root = root;
    }
    this.#fail = new Int32Array(this.nodes);
    this.#computeFailureLinks();
  }

  /** Build from distinct, non-empty, normalized forms sorted by UTF-16 code units. O(total length). */
  static fromSorted(forms: readonly string[]): Automaton {
    const m = forms.length;
    // Exact node count: each form adds its characters past the prefix it shares with the previous.
    let total = 1;
    for (let i = 0; i < m; i++) {
      const s = forms[i]!;
      const prev = i > 0 ? forms[i - 1]! : '';
      let l = 0;
      const max = Math.min(s.length, prev.length);
      while (l < max && s.charCodeAt(l) === prev.charCodeAt(l)) l++;
      total += s.length - l;
    }
    const ch = new Uint16Array(total);
    const first = new Int32Array(total + 1);
    const out = new Int32Array(total);
    const levels: number[] = [];
    let curLo = new Int32Array(m + 1);
    let curHi = new Int32Array(m + 1);
    let nxtLo = new Int32Array(m + 1);
    let nxtHi = new Int32Array(m + 1);
    curLo[0] = 0;
    curHi[0] = m;
    let begin = 0;
    let end = 1;
    let next = 1;
    let terminals = 0;
    for (let d = 0; begin < end; d++) {
      levels.push(begin);
      let w = 0;
      for (let v = begin; v < end; v++) {
        let lo = curLo[v - begin]!;
        const hi = curHi[v - begin]!;
        first[v] = next;
        // Sorted: the form equal to this node's string (if any) comes first in its range.
        if (lo < hi && forms[lo]!.length === d) {
          if (d > 0) {
            out[v] = d;
            terminals++;
          }
          lo++;
        }
        while (lo < hi) {
          const c = forms[lo]!.charCodeAt(d);
          let j = lo + 1;
          while (j < hi && forms[j]!.charCodeAt(d) === c) j++;
          ch[next] = c;
          nxtLo[w] = lo;
          nxtHi[w] = j;
          w++;
          next++;
          lo = j;
        }
      }
      [curLo, nxtLo] = [nxtLo, curLo];
      [curHi, nxtHi] = [nxtHi, curHi];
      begin = end;
      end = next;
    }
    first[total] = total;
    levels.push(total);
    return new Automaton(ch, first, out, Int32Array.from(levels), terminals);
  }

  /** One automaton holding the forms of both. O(a.nodes + b.nodes). */
  static merge(a: Automaton, b: Automaton): Automaton {
    const cap = a.nodes + b.nodes - 1;
    let ch = new Uint16Array(cap);
    let first = new Int32Array(cap + 1);
    let out = new Int32Array(cap);
    const levels: number[] = [];
    const width = a.#maxWidth() + b.#maxWidth() + 1;
    let curA = new Int32Array(width);
    let curB = new Int32Array(width);
    let nxtA = new Int32Array(width);
    let nxtB = new Int32Array(width);
    const [aCh, aFirst, aOut, bCh, bFirst, bOut] = [a.#ch, a.#first, a.#out, b.#ch, b.#first, b.#out];
    curA[0] = 0;
    curB[0] = 0;
    let begin = 0;
    let end = 1;
    let next = 1;
    let terminals = 0;
    for (let d = 0; begin < end; d++) {
      levels.push(begin);
      let w = 0;
      for (let v = begin; v < end; v++) {
        const na = curA[v - begin]!;
        const nb = curB[v - begin]!;
        first[v] = next;
        if (d > 0 && ((na >= 0 && aOut[na] === d) || (nb >= 0 && bOut[nb] === d))) {
          out[v] = d;
          terminals++;
        }
        let ia = na >= 0 ? aFirst[na]! : 0;
        const ea = na >= 0 ? aFirst[na + 1]! : 0;
        let ib = nb >= 0 ? bFirst[nb]! : 0;
        const eb = nb >= 0 ? bFirst[nb + 1]! : 0;
        while (ia < ea || ib < eb) {
          const ca = ia < ea ? aCh[ia]! : NO_CHAR;
          const cb = ib < eb ? bCh[ib]! : NO_CHAR;
          if (ca < cb) {
            ch[next] = ca;
            nxtA[w] = ia++;
            nxtB[w] = -1;
          } else if (cb < ca) {
            ch[next] = cb;
            nxtA[w] = -1;
            nxtB[w] = ib++;
          } else {
            ch[next] = ca;
            nxtA[w] = ia++;
            nxtB[w] = ib++;
          }
          w++;
          next++;
        }
      }
      [curA, nxtA] = [nxtA, curA];
      [curB, nxtB] = [nxtB, curB];
      begin = end;
      end = next;
    }
    if (next < cap) {
      ch = ch.slice(0, next);
      first = first.slice(0, next + 1);
      out = out.slice(0, next);
    }
    first[next] = next;
    levels.push(next);
    return new Automaton(ch, first, out, Int32Array.from(levels), terminals);
  }

  #maxWidth(): number {
    let max = 0;
    const levels = this.#levels;
    for (let d = 0; d + 1 < levels.length; d++) max = Math.max(max, levels[d + 1]! - levels[d]!);
    return max;
  }

  /** The child of `s` on character `c`, or 0 (the root is nobody's child). */
  child(s: number, c: number): number {
    if (s === 0 && this.#root !== undefined) return this.#root[c]!;
    const ch = this.#ch;
    let lo = this.#first[s]!;
    let hi = this.#first[s + 1]!;
    if (hi - lo <= LINEAR_CHILDREN) {
      for (; lo < hi; lo++) if (ch[lo] === c) return lo;
      return 0;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const x = ch[mid]!;
      if (x === c) return mid;
      if (x < c) lo = mid + 1;
      else hi = mid;
    }
    return 0;
  }

  #computeFailureLinks(): void {
    const { nodes } = this;
    const ch = this.#ch;
    const first = this.#first;
    const fail = this.#fail;
    const out = this.#out;
    // Breadth-first order: a node's failure target is shallower, so already final.
    for (let u = 0; u < nodes; u++) {
      const end = first[u + 1]!;
      for (let v = first[u]!; v < end; v++) {
        let target = 0;
        if (u !== 0) {
          const c = ch[v]!;
          let f = fail[u]!;
          for (;;) {
            const t = this.child(f, c);
            if (t !== 0) {
              target = t;
              break;
            }
            if (f === 0) break;
            f = fail[f]!;
          }
        }
        fail[v] = target;
        if (out[v] === 0) out[v] = out[target]!;
      }
    }
  }

  /**
   * Run `text` through the automaton from `state`; for each index i where a form ends, record the
   * longest such form in `sink.best[i]` (allocated on the first match). Returns the final state.
   * Linear in the text: each character moves at most one step deeper, failure links only up.
   */
  run(text: string, state: number, sink: MatchSink): number {
    const ch = this.#ch;
    const first = this.#first;
    const fail = this.#fail;
    const out = this.#out;
    const root = this.#root;
    const n = text.length;
    let s = state;
    for (let i = 0; i < n; i++) {
      let c = text.charCodeAt(i);
      if (c === 45) c = 43;
      else if (c === 95) c = 47;
      for (;;) {
        if (s === 0 && root !== undefined) {
          s = root[c]!;
          break;
        }
        let lo = first[s]!;
        let hi = first[s + 1]!;
        let t = 0;
        if (hi - lo <= LINEAR_CHILDREN) {
          for (; lo < hi; lo++) {
            if (ch[lo] === c) {
              t = lo;
              break;
            }
          }
        } else {
          while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            const x = ch[mid]!;
            if (x === c) {
              t = mid;
              break;
            }
            if (x < c) lo = mid + 1;
            else hi = mid;
          }
        }
        if (t !== 0) {
          s = t;
          break;
        }
        if (s === 0) break;
        s = fail[s]!;
      }
      const o = out[s]!;
      if (o !== 0) {
        let best = sink.best;
        if (best === undefined) {
          best = new Int32Array(n);
          sink.best = best;
        }
        if (best[i]! < o) best[i] = o;
      }
    }
    return s;
  }

  /** Depth of a state: the length of the text suffix it stands for. */
  depth(state: number): number {
    const levels = this.#levels;
    let lo = 0;
    let hi = levels.length - 1;
    // Largest d with levels[d] <= state.
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (levels[mid]! <= state) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Whether `form` (normalized) is one of the forms. */
  includes(form: string): boolean {
    let s = 0;
    for (let i = 0; i < form.length; i++) {
      s = this.child(s, form.charCodeAt(i));
      if (s === 0) return false;
    }
    return form.length > 0 && this.#out[s] === form.length;
  }

  /** Bytes held by the typed arrays. */
  get bytes(): number {
    return (
      this.#ch.byteLength +
      this.#first.byteLength +
      this.#fail.byteLength +
      this.#out.byteLength +
      this.#levels.byteLength +
      (this.#root?.byteLength ?? 0)
    );
  }
}

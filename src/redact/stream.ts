/**
 * Masking a stream whose chunks may cut a value anywhere, bounded by length, not by time.
 *
 * Each automaton keeps its state from chunk to chunk, so a value split over any number of chunks
 * is recognised exactly as in one string. After each chunk, the text that could still be the start
 * of a form (the deepest automaton state: the longest suffix of the output so far that is a prefix
 * of some form) is held back, together with any masked span it overlaps; everything before it is
 * written. Text that cannot begin a form, such as a `Password: ` prompt, is written at once.
 *
 * How long a held partial match waits: until the next chunk or the end of the stream, however
 * long that takes — writing out a partial match of 4 or more characters would let that many
 * characters of a value through if the rest followed later (the old 50 ms flush printed `s3cr3t`
 * for `printf s3c; sleep 0.1; printf r3t`). Exception: a held partial match of at most
 * {@link SHORT_PREFIX} (3) characters is written after `releaseAfterMs` (50 ms by default) so
 * interactive output keeps flowing; the automaton still follows it, so if the value completes later
 * the rest is masked and at most those 3 characters were shown (`s3c***`). At the end of the stream
 * a held partial match that never completed is written as it is (it is not a value; `redact()` of
 * the same text would not mask it either).
 *
 * Bytes pass through unchanged except where a value is masked: what is not UTF-8 (binary output)
 * is carried through the text as escapes and written back as the same bytes (bytes.ts).
 *
 * A failure inside masking (a bug, memory) fails closed: one notice line is written and everything
 * after it is swallowed (still read, so the writer never blocks); the stream never emits 'error'.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { type Automaton, type MatchSink, normalizeForm } from './automaton.js';
import { ByteTextDecoder, bytesOfText } from './bytes.js';
import { HEAD, type LongForm, PrefixHashes } from './long-forms.js';
import type { MatcherSnapshot } from './matcher.js';
import { timerDelay } from '../timers.js';

export const SHORT_PREFIX = 3;

export interface MaskingStreamOptions {
  /** Delay before a held partial match of at most 3 characters is written (default 50 ms). */
  releaseAfterMs?: number;
}

export interface MaskingEngine {
  /** The automata (throws when masking cannot be done). */
  snapshot(): MatcherSnapshot;
  mask: string;
  notice: string;
  failed(): void;
}

export function createMaskingStream(engine: MaskingEngine, options: MaskingStreamOptions = {}): Transform {
  const releaseAfter = options.releaseAfterMs ?? 50;
  const decoder = new ByteTextDecoder();
  const { mask } = engine;
  let generation = -1;
  let snapshot: MatcherSnapshot | undefined;
  let levels: readonly Automaton[] = [];
  let states = new Int32Array(0);
  let heads: readonly Automaton[] = [];
  let headStates = new Int32Array(0);
  // Long forms whose head matched at `start`, confirmed or refuted probe by probe as text arrives
  // (long-forms.ts); the held text reaches back to the earliest of them.
  let pending: { start: number; form: LongForm; probe: number }[] = [];
  let hashes: PrefixHashes | undefined;
  // `buf` is the text from `bufStart` to `pos`. Text before `heldStart` was written; it is kept
  // (at most 3 characters, after a timed release) only while a partial match runs through it, so a
  // rescan after new values were added starts where that match starts.
  let buf = '';
  let bufStart = 0;
  let heldStart = 0;
  let pos = 0;
  // Masked spans (inclusive, absolute positions) in the held text, sorted and disjoint.
  const starts: number[] = [];
  const ends: number[] = [];
  let failed = false;
  let timer: NodeJS.Timeout | undefined;

  /** Mark [s, e] masked, united with the spans it overlaps. */
  const addSpan = (s: number, e: number): void => {
    let lo = ends.length;
    while (lo > 0 && ends[lo - 1]! >= s) lo--;
    let hi = lo;
    while (hi < starts.length && starts[hi]! <= e) hi++;
    if (hi > lo) {
      s = Math.min(s, starts[lo]!);
      e = Math.max(e, ends[hi - 1]!);
    }
    starts.splice(lo, hi - lo, s);
    ends.splice(lo, hi - lo, e);
  };

  /** Check the pending long forms against the text that arrived: confirmed ones are masked. */
  const confirm = (): void => {
    if (pending.length === 0) {
      hashes = undefined;
      return;
    }
    if (hashes === undefined) hashes = new PrefixHashes(bufStart);
    hashes.append(buf, hashes.end - bufStart);
    const still: typeof pending = [];
    for (const p of pending) {
      const probes = p.form.probes;
      let refuted = false;
      while (p.probe < probes.length && p.start + probes[p.probe]!.length <= pos) {
        if (!hashes.matches(p.start, probes[p.probe]!)) {
          refuted = true;
          break;
        }
        p.probe++;
      }
      if (refuted) continue;
      if (p.probe === probes.length) addSpan(Math.max(p.start, heldStart), p.start + p.form.length - 1);
      else still.push(p);
    }
    pending = still;
  };

  const scan = (text: string): void => {
    const snap = engine.snapshot();
    let scanText = text;
    let scanFrom = pos;
    if (snap.generation !== generation) {
      // New automata: run the kept text through them from the start.
      generation = snap.generation;
      snapshot = snap;
      levels = snap.levels;
      states = new Int32Array(levels.length);
      heads = snap.heads;
      headStates = new Int32Array(heads.length);
      pending = [];
      hashes = undefined;
      scanText = buf + text;
      scanFrom = bufStart;
      starts.length = 0;
      ends.length = 0;
    }
    buf += text;
    pos += text.length;
    const sink: MatchSink = { best: undefined };
    for (let l = 0; l < levels.length; l++) states[l] = levels[l]!.run(scanText, states[l]!, sink);
    const best = sink.best;
    if (best !== undefined) {
      for (let i = 0; i < best.length; i++) {
        const o = best[i]!;
        if (o === 0) continue;
        const e = scanFrom + i;
        // What lies before heldStart was written already (masked, or at most 3 released characters).
        addSpan(Math.max(e - o + 1, heldStart), e);
      }
    }
    if (heads.length > 0) {
      const headSink: MatchSink = { best: undefined };
      for (let l = 0; l < heads.length; l++) headStates[l] = heads[l]!.run(scanText, headStates[l]!, headSink);
      const hits = headSink.best;
      if (hits !== undefined) {
        for (let i = 0; i < hits.length; i++) {
          if (hits[i] === 0) continue;
          const start = scanFrom + i - HEAD + 1;
          // A head is held while it matches partially: its text is still in buf.
          if (start < bufStart) throw new Error('a matched head is no longer held');
          const head = normalizeForm(buf.slice(start - bufStart, start - bufStart + HEAD));
          const forms = snapshot!.long.withHead(head);
          if (forms === undefined) throw new Error('a head matched without its long forms');
          for (const form of forms) pending.push({ start, form, probe: 0 });
        }
      }
    }
    confirm();
  };

  /**
   * Where held text must begin: the longest partial match over all automata, or the earliest long
   * form still unconfirmed.
   */
  const partialStart = (): number => {
    let depth = 0;
    for (let l = 0; l < levels.length; l++) depth = Math.max(depth, levels[l]!.depth(states[l]!));
    for (let l = 0; l < heads.length; l++) depth = Math.max(depth, heads[l]!.depth(headStates[l]!));
    let start = pos - depth;
    for (const p of pending) start = Math.min(start, p.start);
    return start;
  };

  /** The held text up to `upTo`, masked; it is no longer held. */
  const release = (upTo: number, partial: number): string => {
    let out = '';
    let at = heldStart;
    let k = 0;
    for (; k < starts.length && starts[k]! < upTo; k++) {
      out += buf.slice(at - bufStart, starts[k]! - bufStart) + mask;
      at = ends[k]! + 1;
    }
    if (at < upTo) out += buf.slice(at - bufStart, upTo - bufStart);
    starts.splice(0, k);
    ends.splice(0, k);
    heldStart = Math.max(upTo, at);
    const keepFrom = Math.min(heldStart, partial);
    buf = buf.slice(keepFrom - bufStart);
    bufStart = keepFrom;
    hashes?.dropBefore(keepFrom);
    return out;
  };

  /** After a chunk: write what cannot be part of a value, hold the rest. */
  const settle = (): string => {
    const partial = partialStart();
    let cut = Math.max(partial, heldStart);
    for (let k = 0; k < starts.length; k++) {
      if (starts[k]! < cut && ends[k]! >= cut) cut = starts[k]!;
    }
    return release(cut, partial);
  };

  const clearTimer = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };

  const armTimer = (stream: Transform) => {
    if (heldStart >= pos || pos - partialStart() > SHORT_PREFIX) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (failed) return;
      try {
        scan('');
        if (heldStart < pos && pos - partialStart() <= SHORT_PREFIX) {
          const out = release(pos, partialStart());
          if (out) stream.push(bytesOfText(out));
        }
      } catch {
        stream.push(bytesOfText(fail()));
      }
    }, timerDelay(releaseAfter));
    timer.unref?.();
  };

  const fail = (): string => {
    failed = true;
    clearTimer();
    buf = '';
    pending = [];
    hashes = undefined;
    starts.length = 0;
    ends.length = 0;
    try {
      engine.failed();
    } catch {
      // Counting the failure must not undo failing closed.
    }
    return `\n${engine.notice}\n`;
  };

  const stream: Transform = new Transform({
    transform(chunk: Buffer | string, _enc, done: TransformCallback) {
      if (failed) return done();
      clearTimer();
      let out: string;
      try {
        scan(typeof chunk === 'string' ? chunk : decoder.decode(chunk));
        out = settle();
        armTimer(stream);
      } catch {
        out = fail();
      }
      done(null, out ? bytesOfText(out) : undefined);
    },
    flush(done: TransformCallback) {
      clearTimer();
      if (failed) return done();
      let out: string;
      try {
        scan(decoder.end());
        out = release(pos, pos);
      } catch {
        out = fail();
      }
      done(null, out ? bytesOfText(out) : undefined);
    },
  });
  return stream;
}

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
import type { Automaton, MatchSink } from './automaton.js';
import { ByteTextDecoder, bytesOfText } from './bytes.js';
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
  let levels: readonly Automaton[] = [];
  let states = new Int32Array(0);
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

  const scan = (text: string): void => {
    const snap = engine.snapshot();
    let scanText = text;
    let scanFrom = pos;
    if (snap.generation !== generation) {
      // New automata: run the kept text through them from the start.
      generation = snap.generation;
      levels = snap.levels;
      states = new Int32Array(levels.length);
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
    if (best === undefined) return;
    for (let i = 0; i < best.length; i++) {
      const o = best[i]!;
      if (o === 0) continue;
      const e = scanFrom + i;
      // What lies before heldStart was written already (masked, or at most 3 released characters).
      let s = Math.max(e - o + 1, heldStart);
      while (ends.length > 0 && ends[ends.length - 1]! >= s) {
        s = Math.min(s, starts.pop()!);
        ends.pop();
      }
      starts.push(s);
      ends.push(e);
    }
  };

  /** Longest partial match over all automata, as a start position. */
  const partialStart = (): number => {
    let depth = 0;
    for (let l = 0; l < levels.length; l++) depth = Math.max(depth, levels[l]!.depth(states[l]!));
    return pos - depth;
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

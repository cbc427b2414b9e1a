/**
 * Output bytes as text and back without losing a byte, so masking a command's output changes
 * nothing but the values it masks: a `pg_dump -Fc`, a `tar` or an image on stdout comes out as it
 * went in. UTF-8 is decoded as usual; each byte that is not part of a well-formed UTF-8 sequence
 * becomes one of 128 lone low surrogates U+DC80..U+DCFF (Python's "surrogateescape"), which no
 * UTF-8 decoder ever produces, and is turned back into that byte when the text is written.
 * `TextDecoder` would replace such bytes with U+FFFD instead (and corrupt binary output); it is
 * still what decodes each well-formed run, which keeps the common case native.
 *
 * Imports nothing but Node: `sesame run`'s start-up path bundles it (src/cli/commands/run-child.ts).
 */

import { isUtf8 } from 'node:buffer';

const ESCAPE_BASE = 0xdc00;
const utf8 = new TextDecoder('utf-8');

/** Where `bytes` stops holding whole sequences: before a lead byte whose sequence the end cuts. */
function completeEnd(bytes: Uint8Array): number {
  for (let k = 1; k <= Math.min(3, bytes.length); k++) {
    const b = bytes[bytes.length - k] as number;
    if (b < 0x80) return bytes.length;
    if (b >= 0xc0) {
      const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return k < length ? bytes.length - k : bytes.length;
    }
  }
  return bytes.length;
}

/** The length of the well-formed UTF-8 sequence starting at `i`, 0 if it is not one, -1 if cut short by the end. */
function sequenceAt(bytes: Uint8Array, i: number): number {
  const b = bytes[i] as number;
  if (b < 0x80) return 1;
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) need = 1;
  else if (b >= 0xe0 && b <= 0xef) {
    need = 2;
    if (b === 0xe0) lo = 0xa0;
    else if (b === 0xed) hi = 0x9f; // UTF-16 surrogates are not characters
  } else if (b >= 0xf0 && b <= 0xf4) {
    need = 3;
    if (b === 0xf0) lo = 0x90;
    else if (b === 0xf4) hi = 0x8f; // nothing above U+10FFFF
  } else return 0;
  for (let k = 1; k <= need; k++) {
    if (i + k >= bytes.length) return -1;
    const c = bytes[i + k] as number;
    if (c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return 0;
  }
  return need + 1;
}

/**
 * A streaming decoder: `decode(chunk)` gives the text of the bytes so far, keeping a sequence cut
 * by the chunk's end for the next chunk; `end()` gives what is kept, escaped.
 */
export class ByteTextDecoder {
  #pending: Uint8Array = new Uint8Array(0);

  decode(chunk: Uint8Array): string {
    const bytes = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = new Uint8Array(0);
    // The usual case, text: checked and decoded natively, a sequence cut by the end kept.
    const end = completeEnd(bytes);
    if (isUtf8(bytes.subarray(0, end))) {
      this.#pending = Uint8Array.from(bytes.subarray(end));
      return utf8.decode(bytes.subarray(0, end));
    }
    let out = '';
    let run = 0;
    let i = 0;
    while (i < bytes.length) {
      const n = sequenceAt(bytes, i);
      if (n > 0) {
        i += n;
        continue;
      }
      if (run < i) out += utf8.decode(bytes.subarray(run, i));
      if (n === -1) {
        this.#pending = Uint8Array.from(bytes.subarray(i));
        return out;
      }
      out += String.fromCharCode(ESCAPE_BASE + (bytes[i] as number));
      i += 1;
      run = i;
    }
    if (run < i) out += utf8.decode(bytes.subarray(run, i));
    return out;
  }

  /** The bytes of a sequence the stream ended inside, escaped one by one. */
  end(): string {
    const rest = this.#pending;
    this.#pending = new Uint8Array(0);
    let out = '';
    for (const b of rest) out += String.fromCharCode(ESCAPE_BASE + b);
    return out;
  }
}

/** The text of `bytes` as {@link ByteTextDecoder} reads them in one piece. */
export function textOfBytes(bytes: Uint8Array): string {
  const decoder = new ByteTextDecoder();
  return decoder.decode(bytes) + decoder.end();
}

/** An escaped byte: U+DC80..U+DCFF not preceded by a high surrogate (which would make it half of a character). */
const ESCAPED = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/** The bytes of `text`: UTF-8, each escaped byte as the byte it stands for. */
export function bytesOfText(text: string): Buffer {
  if (!ESCAPED.test(text)) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc80 || c > 0xdcff) continue;
    const prev = i > 0 ? text.charCodeAt(i - 1) : 0;
    if (prev >= 0xd800 && prev <= 0xdbff) continue;
    if (run < i) parts.push(Buffer.from(text.slice(run, i), 'utf8'));
    parts.push(Buffer.of(c - ESCAPE_BASE));
    run = i + 1;
  }
  if (run < text.length) parts.push(Buffer.from(text.slice(run), 'utf8'));
  return Buffer.concat(parts);
}

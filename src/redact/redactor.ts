/**
 * The redactor knows every value resolved in this process and masks it — and its base64,
 * base64url, URL-encoded and JSON-escaped forms, and each line of a multi-line value such as a
 * PEM — with `***` in any text. Values shorter than {@link MIN_MASK_LENGTH} characters are not
 * masked: masking `a` or `on` everywhere would destroy logs without protecting anything.
 */
import { Transform, type TransformCallback } from 'node:stream';

export const MASK = '***';
export const MIN_MASK_LENGTH = 4;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class Redactor {
  readonly #forms = new Set<string>();
  #pattern: RegExp | undefined;
  #dirty = false;
  #longest = 0;

  /** Number of distinct forms being masked (for stats; never the forms themselves). */
  get size(): number {
    return this.#forms.size;
  }

  /** Remember a secret value; returns true when it added something new. */
  add(value: string): boolean {
    if (value.length < MIN_MASK_LENGTH) return false;
    const before = this.#forms.size;
    const add = (form: string) => {
      if (form.length >= MIN_MASK_LENGTH) this.#forms.add(form);
    };
    add(value);
    const buf = Buffer.from(value, 'utf8');
    add(buf.toString('base64'));
    add(buf.toString('base64').replace(/=+$/, ''));
    add(buf.toString('base64url'));
    add(encodeURIComponent(value));
    add(JSON.stringify(value).slice(1, -1));
    if (value.includes('\n')) {
      for (const line of value.split(/\r?\n/)) add(line.trim());
    }
    if (this.#forms.size !== before) {
      this.#dirty = true;
      return true;
    }
    return false;
  }

  has(value: string): boolean {
    return this.#forms.has(value);
  }

  clear(): void {
    this.#forms.clear();
    this.#pattern = undefined;
    this.#dirty = false;
    this.#longest = 0;
  }

  #compile(): RegExp | undefined {
    if (this.#dirty || (!this.#pattern && this.#forms.size > 0)) {
      // Longest first so a value wins over its own lines.
      const forms = [...this.#forms].sort((a, b) => b.length - a.length);
      this.#longest = forms[0]?.length ?? 0;
      this.#pattern = forms.length ? new RegExp(forms.map(escapeRegExp).join('|'), 'g') : undefined;
      this.#dirty = false;
    }
    return this.#pattern;
  }

  /** Mask every known value in `text`. */
  redact(text: string): string {
    if (this.#forms.size === 0 || text.length < MIN_MASK_LENGTH) return text;
    const pattern = this.#compile();
    return pattern ? text.replace(pattern, MASK) : text;
  }

  /** Deep-copy a JSON-like value with every string redacted. */
  redactValue<T>(value: T): T {
    if (typeof value === 'string') return this.redact(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.redactValue(v)) as T;
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.redactValue(v);
      return out as T;
    }
    return value;
  }

  /**
   * Length of the longest suffix of `text` that could be the start of a known form: that much
   * must wait for the next chunk before it can be written.
   */
  #pendingSuffix(text: string): number {
    this.#compile();
    const max = Math.min(this.#longest - 1, text.length);
    for (let k = max; k > 0; k--) {
      const suffix = text.slice(text.length - k);
      for (const form of this.#forms) if (form.length > k && form.startsWith(suffix)) return k;
    }
    return 0;
  }

  /**
   * A stream that masks what passes through, even when a value is split across chunks. A tail
   * that could begin a value is held until the next chunk, or for `flushAfterMs` at most.
   */
  createStream(options: { flushAfterMs?: number } = {}): Transform {
    const flushAfter = options.flushAfterMs ?? 50;
    let pending = '';
    let timer: NodeJS.Timeout | undefined;
    const decoder = new TextDecoder('utf-8');
    const redactor = this;
    const stream: Transform = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        if (timer) clearTimeout(timer);
        const text = pending + decoder.decode(chunk, { stream: true });
        let cut = text.length - redactor.#pendingSuffix(text);
        const pattern = redactor.#compile();
        let out = '';
        let last = 0;
        if (pattern) {
          pattern.lastIndex = 0;
          for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
            const end = m.index + m[0].length;
            if (m.index >= cut) break;
            // A match crossing the cut is complete: write it masked and move the cut past it.
            if (end > cut) cut = end;
            out += text.slice(last, m.index) + MASK;
            last = end;
          }
        }
        out += text.slice(last, cut);
        pending = text.slice(cut);
        if (pending) {
          timer = setTimeout(() => {
            const rest = redactor.redact(pending);
            pending = '';
            stream.push(rest);
          }, flushAfter);
          timer.unref?.();
        }
        done(null, out);
      },
      flush(done: TransformCallback) {
        if (timer) clearTimeout(timer);
        const rest = redactor.redact(pending + decoder.decode());
        pending = '';
        done(null, rest);
      },
    });
    return stream;
  }
}

/** The process-wide redactor: the resolver feeds it, the logger and `sesame run` use it. */
export const processRedactor = new Redactor();

/**
 * Rewrite a document's dialect references into `secret://` ones: comments, quoting and layout stay
 * as they were, and nothing is resolved. A YAML or JSON file is read by a YAML parser, scalar by
 * scalar, and a `.env` file as `sesame run --env-file` reads it, so that convert sees the values
 * the resolver sees (convert-document.ts, convert-env.ts, `convertFile`); any other text
 * (scripts, templates) is read as text here (`convertDialects`).
 *
 * - A `{{ … }}` dialect placeholder keeps its braces: `{{ secret('X') }}` → `{{ secret://builtin/X }}`.
 * - A vals expression or an `op://` reference that is a whole value (a YAML/JSON scalar, an
 *   `.env` value, quoted or not) becomes a bare `secret://…`; one inside other text becomes a
 *   `{{ secret://… }}` placeholder.
 *
 * Linear in the text: each scan moves forward only.
 */
import path from 'node:path';
import { ReferenceSyntaxError, UsageError } from '../../errors.js';
import { formatReference, type Reference } from '../reference.js';
import { isBlank } from '../scan.js';
import { convertDocument, type DocumentFormat } from './convert-document.js';
import { convertEnv } from './convert-env.js';
import type { DialectSet } from './index.js';
import type { DialectName } from './settings.js';

export interface Conversion {
  /** 1-based line of the reference in the original text. */
  line: number;
  dialect: DialectName;
  /** The canonical reference it became. */
  reference: string;
}

export interface ConvertResult {
  text: string;
  conversions: Conversion[];
}

/**
 * How `refs convert` reads a file: `.yaml`/`.yml` as YAML, `.json` as JSON, `.env`, `.env.*` and
 * `*.env` as sesame run --env-file does, anything else as text.
 */
export type FileFormat = DocumentFormat | 'env' | 'text';

/** The formats `refs convert --as` names. */
export const FILE_FORMATS: readonly FileFormat[] = ['yaml', 'json', 'env', 'text'];

export function formatOfFile(file: string): FileFormat {
  const ext = path.extname(file).toLowerCase();
  const base = path.basename(file).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.json') return 'json';
  if (base === '.env' || base.startsWith('.env.') || ext === '.env') return 'env';
  return 'text';
}

/**
 * Convert a file's dialect references: a YAML or JSON document scalar by scalar, as a parser and
 * the resolver read it (convert-document.ts); a `.env` file entry by entry, as `sesame run
 * --env-file` reads it (convert-env.ts); any other text (scripts, templates) as text.
 */
export function convertFile(
  text: string,
  dialects: DialectSet,
  file: string,
  format: FileFormat = formatOfFile(file),
): ConvertResult {
  if (format === 'text') return convertDialects(text, dialects, file);
  if (format === 'env') return convertEnv(text, dialects, file);
  return convertDocument(text, dialects, { file, format });
}

/** 1-based line numbers by offset, computed once. */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

const QUOTES = new Set(['"', "'"]);

/**
 * Is `text[start, end)` a whole value? Right after an opening quote and right before the same
 * quote; or, unquoted, after a line start, `:`, `=`, `-`, `[` or `,` (blanks between) and before
 * a line end, `,`, `]`, `}` or ` #` (blanks between).
 */
function isWholeValue(text: string, start: number, end: number): boolean {
  const open = start > 0 ? (text[start - 1] as string) : '\n';
  if (QUOTES.has(open)) return text[end] === open;
  let b = start - 1;
  while (b >= 0 && isBlank(text, b)) b--;
  const before = b < 0 ? '\n' : (text[b] as string);
  if (!['\n', '\r', ':', '=', '-', '[', ','].includes(before)) return false;
  let a = end;
  while (a < text.length && isBlank(text, a)) a++;
  const after = a >= text.length ? '\n' : (text[a] as string);
  return ['\n', '\r', ',', ']', '}'].includes(after) || (after === '#' && a > end);
}

/**
 * Is `at` inside a bare `secret://…` reference (no blank or quote since its scheme)? Its text is a
 * name, not a place for another reference. Looks back at most 1 KiB, so the scan stays linear.
 */
function insideSecretReference(text: string, at: number): boolean {
  const window = text.slice(Math.max(0, at - 1024), at);
  const scheme = window.lastIndexOf('secret://');
  return scheme !== -1 && !/[\s"']/.test(window.slice(scheme));
}

/**
 * Convert every dialect reference in `text`. A malformed one throws a `UsageError` naming the
 * file, line and what was expected.
 */
export function convertDialects(text: string, dialects: DialectSet, file = 'the document'): ConvertResult {
  const lineOf = lineIndex(text);
  const conversions: Conversion[] = [];
  const failAt = (err: unknown, offset: number, dialect: DialectName): never => {
    if (err instanceof ReferenceSyntaxError) {
      throw new UsageError(`${file}:${lineOf(offset + err.offset)}: malformed ${dialect} reference: expected ${err.expected}`);
    }
    throw err;
  };

  // Pass 1: `{{ … }}` placeholders written in a dialect keep their braces.
  const out: string[] = [];
  let copied = 0;
  let cursor = 0;
  // Offsets in the pass-1 output map back to the input through these pairs (for line numbers).
  for (;;) {
    const open = text.indexOf('{{', cursor);
    if (open === -1) break;
    cursor = open + 2;
    if (open > 0 && text.charCodeAt(open - 1) === 0x5c) continue;
    let at = open + 2;
    while (isBlank(text, at)) at++;
    const dialect = dialects.openerAt(text, at);
    if (dialect === undefined) continue;
    const close = text.indexOf('}}', at);
    if (close === -1) throw new UsageError(`${file}:${lineOf(open)}: a ${dialect} placeholder without "}}" to close it`);
    let end = close;
    while (end > at && isBlank(text, end - 1)) end--;
    let ref: Reference;
    try {
      ref = dialects.parseBraced(dialect, text.slice(at, end), undefined);
    } catch (err) {
      return failAt(err, at, dialect);
    }
    const reference = formatReference(ref);
    out.push(text.slice(copied, open), `{{ ${reference} }}`);
    conversions.push({ line: lineOf(open), dialect, reference });
    copied = cursor = close + 2;
  }
  out.push(text.slice(copied));
  const first = out.join('');

  if (!dialects.vals && !dialects.op) return { text: first, conversions };

  // Pass 2: vals expressions and bare op:// references, on the text pass 1 produced. Line
  // numbers stay right: pass 1 never adds or removes a line break.
  const lineOf2 = lineIndex(first);
  const found: Array<{ start: number; end: number; next: number; dialect: DialectName }> = [];
  if (dialects.vals) {
    for (let m = dialects.findVals(first, 0); m !== undefined; m = dialects.findVals(first, m.next)) {
      // In a quoted scalar the expression ends at the closing quote (vals reads values, not text).
      // A `"` ends it too: JSON strings in the text (vals itself never ends an expression with one).
      const quote = m.start > 0 ? (first[m.start - 1] as string) : '';
      // Looked for inside the match only, so each character is scanned once.
      let close = m.start;
      const opened = QUOTES.has(quote) ? quote : '"';
      while (close < m.end && first[close] !== '"' && first[close] !== opened) close++;
      if (close < m.end) {
        // Cut there, then drop a closing quote or comma as vals does at the end of an expression.
        let end = close;
        while (end > m.start && /["',]/.test(first[end - 1] as string)) end--;
        m = { start: m.start, end, next: end };
      }
      if (!insideSecretReference(first, m.start)) found.push({ ...m, dialect: 'vals' });
    }
  }
  if (dialects.op) {
    // The next search starts after the last token scanned, so a line of many `op://` is read once.
    let scanned = 0;
    for (let i = first.indexOf('op://'); i !== -1; i = first.indexOf('op://', Math.max(i + 5, scanned))) {
      const prev = i > 0 ? first.charCodeAt(i - 1) : 0x0a;
      // A word character before it (e.g. `myop://`) or a `secret://` name: not a reference.
      if (/[A-Za-z0-9_/+]/.test(String.fromCharCode(prev))) continue;
      let end = i + 5;
      // 1Password names hold no quotes: a quote ends the reference (JSON, quoted YAML and .env).
      while (end < first.length && first[end] !== '\n' && first[end] !== '\r' && first[end] !== '"' && first[end] !== "'" && !first.startsWith('{{', end)) end++;
      // Unquoted, trailing blanks and a comma are not part of it; quoted, everything up to the quote is.
      if (!QUOTES.has(first[end] ?? '')) while (end > i + 5 && /[\s,]/.test(first[end - 1] as string)) end--;
      scanned = end;
      // op:// is read as a whole value only (or in braces, pass 1): elsewhere it is text.
      if (isWholeValue(first, i, end)) found.push({ start: i, end, next: end, dialect: 'op' });
    }
    found.sort((a, b) => a.start - b.start);
  }
  const out2: string[] = [];
  let copied2 = 0;
  for (const m of found) {
    if (m.start < copied2) continue;
    const raw = first.slice(m.start, m.end);
    let ref: Reference;
    try {
      ref = m.dialect === 'vals' ? dialects.parseVals(raw) : dialects.parseOp(raw);
    } catch (err) {
      if (err instanceof ReferenceSyntaxError) {
        throw new UsageError(`${file}:${lineOf2(m.start)}: malformed ${m.dialect} reference: expected ${err.expected}`);
      }
      throw err;
    }
    const reference = formatReference(ref);
    const whole = isWholeValue(first, m.start, m.next);
    if (!whole && first[m.start - 1] === '\\') {
      throw new UsageError(
        `${file}:${lineOf2(m.start)}: the ${m.dialect} reference after a backslash cannot become {{ ${reference} }} (a backslash before {{ makes it literal text): put another character between them, then convert again`,
      );
    }
    out2.push(first.slice(copied2, m.start), whole ? reference : `{{ ${reference} }}`);
    conversions.push({ line: lineOf2(m.start), dialect: m.dialect, reference });
    copied2 = m.next;
  }
  out2.push(first.slice(copied2));
  conversions.sort((a, b) => a.line - b.line);
  return { text: out2.join(''), conversions };
}

/**
 * `refs convert` of a `.env` file, read as `sesame run --env-file` reads it: Node's
 * `util.parseEnv`, where an unquoted value ends at the first `#` (so `A=op://v/i/f#x` is
 * `op://v/i/f`), double quotes expand `\n`, and single quotes and backticks keep text as is.
 *
 * parseEnv gives values, not where they are written, so each `NAME=value` entry is located here
 * and its value decoded; an entry is converted only when its decoded value is the one parseEnv
 * reads. References in each value are found by `compileTemplate`, the resolver's finder. A
 * changed value is written back in its quoting when that can hold it (an unquoted value that now
 * holds `#`, e.g. `secret://op/item#field`, is quoted, or parseEnv would cut it). Comments and
 * other lines stay as written. Fail closed: parseEnv reads the result again, and it must be the
 * original values with exactly the converted ones changed and no dialect reference left.
 */
import { isDeepStrictEqual, parseEnv } from 'node:util';
import { ReferenceSyntaxError, SesameError, UsageError } from '../../errors.js';
import { compileTemplate, type ReferenceSlot } from '../template.js';
import type { Conversion, ConvertResult } from './convert.js';
import { dialectAt } from './convert-document.js';
import type { DialectSet } from './index.js';
import type { DialectName } from './settings.js';

interface Entry {
  name: string;
  /** The value as written, quotes included: `text.slice(start, end)`. */
  start: number;
  end: number;
  quote: '"' | "'" | '`' | '';
  value: string;
}

const QUOTES = new Set(['"', "'", '`']);
/** The names `sesame run --env-file` accepts (cli/commands/run.ts). */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Trim spaces (not tabs) at both ends, as parseEnv does. */
const trimSpaces = (s: string): string => s.replace(/^ +| +$/g, '');

/**
 * Every `NAME=value` entry of a `.env` text, in order, with where its value is written: a port of
 * the reading of Node 20's parseEnv (src/node_dotenv.cc), which is line-based only in part — `#`
 * starts a comment only as the first character of a line (`  # x=1` is an entry named `# x`), a
 * line without `=` runs into the next entry's name, and `\r` is dropped everywhere first. Other
 * Node versions read some odd files differently: `convertEnv` checks what parseEnv itself reads.
 */
function entries(text: string): Entry[] {
  // Node drops every `\r` first: scan the text without them, map offsets back to the input.
  const at: number[] = [];
  for (let i = 0; i < text.length; i++) if (text[i] !== '\r') at.push(i);
  at.push(text.length);
  const s = text.replaceAll('\r', '');
  const span = (start: number, end: number): [number, number] => [
    at[start] as number,
    end > start ? (at[end - 1] as number) + 1 : (at[start] as number),
  ];
  const out: Entry[] = [];
  let p = s.search(/[^ ]/);
  if (p === -1) return out;
  const nextLine = (from: number): number => {
    const nl = s.indexOf('\n', from);
    return nl === -1 ? s.length : nl + 1;
  };
  while (p < s.length) {
    if (s[p] === '\n' || s[p] === '#') {
      p = nextLine(p);
      continue;
    }
    const eq = s.indexOf('=', p);
    if (eq === -1) break;
    let name = trimSpaces(s.slice(p, eq));
    if (name.startsWith('export ')) name = trimSpaces(name.slice(7));
    let v = eq + 1;
    if (v >= s.length || s[v] === '\n') {
      p = v;
      continue;
    }
    while (s[v] === ' ') v++;
    const quote = s[v] ?? '';
    if (QUOTES.has(quote)) {
      const close = s.indexOf(quote, v + 1);
      if (close !== -1) {
        const raw = s.slice(v + 1, close);
        const value = quote === '"' ? raw.replaceAll('\\n', '\n') : raw;
        const [start, end] = span(v, close + 1);
        out.push({ name, start, end, quote: quote as Entry['quote'], value });
        p = nextLine(close + 1);
        continue;
      }
      // An unclosed quote: the rest of the line as it is; on the last line, no value, and the
      // text from the quote on is read again as an entry (`A='=x` is an entry named `'`).
      const nl = s.indexOf('\n', v);
      if (nl === -1) {
        p = v;
        continue;
      }
      const [start, end] = span(v, nl);
      out.push({ name, start, end, quote: '', value: s.slice(v, nl) });
      p = nl;
      continue;
    }
    const nl = s.indexOf('\n', v);
    const lineEnd = nl === -1 ? s.length : nl;
    const hash = s.indexOf('#', v);
    const value = trimSpaces(s.slice(v, hash !== -1 && hash < lineEnd ? hash : lineEnd));
    const [start, end] = span(v, v + value.length);
    out.push({ name, start, end, quote: '', value });
    p = nl === -1 ? s.length : nl + 1;
  }
  return out;
}

/**
 * The value written in a quoting that parseEnv reads back as it: the entry's own when it can
 * hold it, else single quotes, double quotes or backticks; undefined when none can.
 */
function spelled(value: string, quote: Entry['quote']): string | undefined {
  const fits: Record<Entry['quote'], () => boolean> = {
    '': () =>
      value !== '' &&
      value === trimSpaces(value) &&
      !/[#\n\r]/.test(value) &&
      !QUOTES.has(value[0] as string),
    "'": () => !/['\r]/.test(value),
    '"': () => !/["\r]/.test(value) && !value.includes('\\n'),
    '`': () => !/[`\r]/.test(value),
  };
  for (const q of [quote, "'", '"', '`'] as const) {
    if (fits[q]()) return q === '"' ? `"${value.replaceAll('\n', '\\n')}"` : `${q}${value}${q}`;
  }
  return undefined;
}

/** Convert every dialect reference in the values of a `.env` text. */
export function convertEnv(text: string, dialects: DialectSet, file = 'the file'): ConvertResult {
  // Entries come in order: lines are counted forward once.
  let counted = 0;
  let line = 1;
  const lineOf = (offset: number): number => {
    for (let i = text.indexOf('\n', counted); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
    counted = Math.max(counted, offset);
    return line;
  };
  const read = parseEnv(text) as Record<string, string>;
  const expected: Record<string, string> = { ...read };
  const conversions: Conversion[] = [];
  const out: string[] = [];
  let copied = 0;
  const all = entries(text);
  // parseEnv keeps the last of several entries of one name: only that one is read.
  const last = new Map(all.map((e, i) => [e.name, i]));
  for (const [index, entry] of all.entries()) {
    const line = lineOf(entry.start);
    let compiled: ReturnType<typeof compileTemplate>;
    try {
      compiled = compileTemplate(entry.value, entry.name, undefined, dialects);
    } catch (err) {
      if (err instanceof ReferenceSyntaxError) {
        const dialect = dialectAt(entry.value, err.offset, dialects);
        throw new UsageError(
          `${file}:${line}: malformed ${dialect ? `${dialect} ` : ''}reference: expected ${err.expected}`,
        );
      }
      throw err;
    }
    const slots = compiled.parts.filter(
      (p): p is ReferenceSlot & { dialect: DialectName } => typeof p !== 'string' && p.dialect !== undefined,
    );
    if (slots.length === 0) continue;
    if (!VARIABLE_NAME.test(entry.name)) {
      // The name is not echoed: it may be a comment or a stray line of the file.
      throw new UsageError(
        `${file}:${line}: sesame run --env-file reads this line as a variable whose name is not valid (for Node's parseEnv only a # first on its line starts a comment, and a line without = runs into the next name): fix it, then convert again`,
      );
    }
    const live = last.get(entry.name) === index;
    if (live && read[entry.name] !== entry.value) throw differently(file, line, entry.name);
    const pieces: string[] = [];
    let from = 0;
    for (const slot of slots) {
      const bare = slot === compiled.whole && !entry.value.startsWith('{{', slot.start);
      if (!bare && entry.value[slot.start - 1] === '\\') {
        throw new UsageError(
          `${file}:${line}: the ${slot.dialect} reference after a backslash cannot become {{ ${slot.raw} }} (a backslash before {{ makes it literal text): put another character between them, then convert again`,
        );
      }
      pieces.push(entry.value.slice(from, slot.start), bare ? slot.raw : `{{ ${slot.raw} }}`);
      from = slot.end;
      conversions.push({ line, dialect: slot.dialect, reference: slot.raw });
    }
    pieces.push(entry.value.slice(from));
    const value = pieces.join('');
    const written = spelled(value, entry.quote);
    if (written === undefined) throw differently(file, line, entry.name);
    out.push(text.slice(copied, entry.start), written);
    copied = entry.end;
    if (live) expected[entry.name] = value;
  }
  if (conversions.length === 0) return { text, conversions };
  out.push(text.slice(copied));
  const result = out.join('');
  const again = parseEnv(result) as Record<string, string>;
  const left = Object.values(again).some((v) =>
    compileTemplate(v, undefined, undefined, dialects).parts.some(
      (p) => typeof p !== 'string' && p.dialect !== undefined,
    ),
  );
  if (!isDeepStrictEqual({ ...again }, expected) || left) {
    // E.g. a quote written where an unclosed one above now finds it and reads on.
    throw new SesameError(
      `${file}:${conversions[0]?.line}: refs convert could not write the converted references back so that sesame run --env-file reads them as converted (quotes left open nearby?); nothing was written`,
      { fix: 'close the quotes in the file, or convert the references by hand' },
    );
  }
  return { text: result, conversions };
}

function differently(file: string, line: number, name: string): UsageError {
  return new UsageError(
    `${file}:${line}: ${name} is read differently by sesame run --env-file (Node's parseEnv) than it is written here (a quote left open, or quotes of every kind in it): fix the line, then convert again`,
  );
}

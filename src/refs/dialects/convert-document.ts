/**
 * `refs convert` of YAML and JSON documents, through the `yaml` package's Document API rather
 * than the raw text, so that convert reads exactly the scalars the resolver reads:
 *
 * - every scalar spelling the parser reads — double-quoted with escapes (`\"`, `\\`, `\u0022`,
 *   `\x22`), single-quoted with `''`, block scalars (`|`, `>`), flow collections, multi-line plain
 *   scalars — is read as its value; comments and keys are not values and stay as written (the
 *   resolver reads values only); an anchored value is converted once and its aliases follow it.
 * - references are found in each value by `compileTemplate`, the resolver's own finder, which
 *   also says where each one is written in the value (`start`, `end`).
 * - only changed scalars are rewritten, each in a spelling that parses to the converted value:
 *   a block scalar is edited in place, line by line (its header, indentation, line ends and other
 *   lines kept); a flow scalar keeps its quoting style when that style can hold the new text (a
 *   plain scalar that cannot, e.g. `{{` in a flow collection, becomes double-quoted). Every other
 *   byte of the file stays as it was (comments, layout, CRLF line ends).
 * - fail closed: the result is parsed again and must equal the original document with exactly the
 *   converted values changed, and hold no dialect reference any more; otherwise nothing is written.
 *
 * The yaml package rewrites whole documents (`Document.toString`) or CST tokens
 * (`CST.setScalarValue`, which re-indents block scalars and re-escapes whole strings); neither
 * leaves the rest of a changed block scalar as written, so the splicing is done here.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  type Document,
  isCollection,
  isPair,
  LineCounter,
  type Node,
  parseAllDocuments,
  type Scalar,
  visit,
  type YAMLError,
} from 'yaml';
import { jsonSyntaxError, ReferenceSyntaxError, SesameError, UsageError } from '../../errors.js';
import { collectReferences, compileTemplate, type ReferenceSlot } from '../template.js';
import type { Conversion, ConvertResult } from './convert.js';
import type { DialectSet } from './index.js';
import type { DialectName } from './settings.js';

export type DocumentFormat = 'yaml' | 'json';

interface Edit {
  start: number;
  end: number;
  text: string;
}

/** A dialect slot found in a scalar's value. */
type DialectSlot = ReferenceSlot & { dialect: DialectName };

/**
 * Convert every dialect reference in a YAML (`format: 'yaml'`, several documents allowed) or JSON
 * document. Bad input (not YAML/JSON, a malformed reference) is a `UsageError` naming the file
 * and line; nothing is converted then.
 */
export function convertDocument(
  text: string,
  dialects: DialectSet,
  options: { file?: string; format: DocumentFormat },
): ConvertResult {
  const file = options.file ?? 'the document';
  const json = options.format === 'json';
  const lines = new LineCounter();
  const lineOf = (offset: number): number => lines.linePos(offset).line;
  const jsonValue = json ? parseJson(text, file) : undefined;
  // The resolver's options (config/load.ts); JSON keeps duplicate keys as JSON.parse does.
  const docs = parseAllDocuments(text, { keepSourceTokens: true, uniqueKeys: !json, lineCounter: lines });
  if (!Array.isArray(docs)) return { text, conversions: [] }; // an empty stream: nothing to read
  const bad = docs.flatMap((d) => d.errors)[0];
  if (bad !== undefined) throw notValid(bad, file, json ? 'JSON' : 'YAML', text);
  if (json && !(docs.length === 1 && isDeepStrictEqual(docs[0]?.toJS(), jsonValue))) {
    throw new UsageError(
      `${file}: JSON that a YAML parser reads differently (duplicate keys?): fix it, then convert again`,
    );
  }

  const edits: Edit[] = [];
  const conversions: Conversion[] = [];
  const changed: Array<[Scalar, string]> = [];
  for (const doc of docs) {
    visit(doc, {
      Scalar(key, node, path) {
        if (typeof node.value !== 'string' || key === 'key' || inKey(path, node)) return;
        const found = dialectSlots(node, dialects, file, lineOf);
        if (found.slots.length === 0) return;
        let value: string;
        let where: { edits: Edit[]; lines: number[] };
        try {
          value = converted(node.value, found.slots, found.whole);
          const inFlow = json || path.some((p) => isCollection(p) && p.flow === true);
          where = rewrite(text, node, value, found, inFlow, json, file, lineOf);
        } catch (err) {
          if (!(err instanceof BackslashBeforePlaceholder)) throw err;
          throw new UsageError(
            `${file}:${lineOf(node.range?.[0] ?? 0)}: the ${err.slot.dialect} reference after a backslash cannot become {{ ${err.slot.raw} }} (a backslash before {{ makes it literal text): put another character between them, then convert again`,
          );
        }
        edits.push(...where.edits);
        found.slots.forEach((slot, i) => {
          conversions.push({ line: where.lines[i] as number, dialect: slot.dialect, reference: slot.raw });
        });
        changed.push([node, value]);
      },
    });
  }
  if (edits.length === 0) return { text, conversions: [] };
  const out = splice(text, edits);
  verify(out, docs, changed, dialects, json, file);
  conversions.sort((a, b) => a.line - b.line);
  return { text: out, conversions };
}

/** Is `node` inside a key (a complex key's scalars included)? The resolver reads values only. */
function inKey(path: readonly unknown[], node: Node): boolean {
  for (let i = 0; i < path.length; i++) {
    const p = path[i];
    if (isPair(p) && p.key === (path[i + 1] ?? node)) return true;
  }
  return false;
}

/** The dialect references in a scalar's value, found as the resolver finds them. */
function dialectSlots(
  node: Scalar,
  dialects: DialectSet,
  file: string,
  lineOf: (offset: number) => number,
): { slots: DialectSlot[]; whole: ReferenceSlot | undefined } {
  const value = node.value as string;
  try {
    const compiled = compileTemplate(value, undefined, undefined, dialects);
    const slots = compiled.parts.filter(
      (p): p is DialectSlot => typeof p !== 'string' && p.dialect !== undefined,
    );
    return { slots, whole: compiled.whole };
  } catch (err) {
    if (err instanceof ReferenceSyntaxError) {
      const dialect = dialectAt(value, err.offset, dialects);
      throw new UsageError(
        `${file}:${lineOf(node.range?.[0] ?? 0)}: malformed ${dialect ?? ''}${dialect ? ' ' : ''}reference: expected ${err.expected}`,
      );
    }
    throw err;
  }
}

/** Which dialect the malformed reference at `offset` is written in, for the message. */
export function dialectAt(value: string, offset: number, dialects: DialectSet): DialectName | undefined {
  const open = value.lastIndexOf('{{', offset);
  if (open !== -1) {
    let at = open + 2;
    while (value[at] === ' ' || value[at] === '\t') at++;
    const braced = dialects.openerAt(value, at);
    if (braced !== undefined) return braced;
  }
  const vals = value.lastIndexOf('ref+', offset);
  if (dialects.vals && vals !== -1 && vals <= offset) return 'vals';
  if (dialects.op && value.startsWith('op://')) return 'op';
  return undefined;
}

/**
 * The value with each dialect reference replaced: a placeholder keeps its braces; a vals
 * expression or `op://` reference that is the whole value becomes a bare `secret://…`, one inside
 * other text a `{{ secret://… }}` placeholder.
 */
function converted(value: string, slots: readonly DialectSlot[], whole: ReferenceSlot | undefined): string {
  const out: string[] = [];
  let copied = 0;
  for (const slot of slots) {
    out.push(value.slice(copied, slot.start), replacement(value, slot, whole));
    copied = slot.end;
  }
  out.push(value.slice(copied));
  return out.join('');
}

/**
 * The text that replaces one slot of `value`. A new `{{` right after a backslash would read as the
 * escape `\\{{` (literal text), and the grammar has no way to write a backslash before a
 * placeholder: refused (`BackslashBeforePlaceholder`).
 */
function replacement(value: string, slot: DialectSlot, whole: ReferenceSlot | undefined): string {
  if (slot === whole && !value.startsWith('{{', slot.start)) return slot.raw;
  if (value[slot.start - 1] === '\\') throw new BackslashBeforePlaceholder(slot);
  return `{{ ${slot.raw} }}`;
}

/** A reference after a `\\` cannot become a placeholder; the caller names the line. */
class BackslashBeforePlaceholder extends Error {
  constructor(readonly slot: DialectSlot) {
    super('a backslash before a placeholder');
  }
}

/**
 * Where a slot of a flow scalar is written in the source, for its line: the n-th occurrence of
 * its opening text (`{{`, `ref+`, `op://`…) in the scalar's source, n counted in the value.
 * Folding and quoting never split or add one; an escape spelling one could (`\x7b{`), and
 * then the scalar's first line is given.
 */
function writtenAt(text: string, start: number, end: number, value: string, slot: DialectSlot): number {
  const opener =
    value.slice(slot.start, slot.start + 2) === '{{' ? '{{' : value.slice(slot.start, slot.start + 4);
  let n = 0;
  for (
    let i = value.indexOf(opener);
    i !== -1 && i < slot.start;
    i = value.indexOf(opener, i + opener.length)
  )
    n++;
  let at = text.indexOf(opener, start);
  for (; at !== -1 && at < end && n > 0; n--) at = text.indexOf(opener, at + opener.length);
  return at !== -1 && at < end ? at : start;
}

/** The edits that make `node` read `value`, and the line of each slot. */
function rewrite(
  text: string,
  node: Scalar,
  value: string,
  found: { slots: readonly DialectSlot[]; whole: ReferenceSlot | undefined },
  inFlow: boolean,
  json: boolean,
  file: string,
  lineOf: (offset: number) => number,
): { edits: Edit[]; lines: number[] } {
  const [start, end] = node.range ?? [];
  if (start === undefined || end === undefined) throw unfaithful(file, 1);
  if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') {
    return rewriteBlock(text, node, found, file, lineOf);
  }
  const lines = found.slots.map((slot) => lineOf(writtenAt(text, start, end, node.value as string, slot)));
  if (json || node.type === 'QUOTE_DOUBLE')
    return { edits: [{ start, end, text: doubleQuoted(value) }], lines };
  if (node.type === 'QUOTE_SINGLE') {
    // A line break in a single-quoted scalar is spelled by folding: double quotes say it plainly.
    const spelled = value.includes('\n') ? doubleQuoted(value) : `'${value.replaceAll("'", "''")}'`;
    return { edits: [{ start, end, text: spelled }], lines };
  }
  return { edits: [{ start, end, text: canBePlain(value, inFlow) ? value : doubleQuoted(value) }], lines };
}

/**
 * A JSON string, which YAML reads the same; the few characters JSON leaves raw that YAML wants
 * escaped (DEL, C1 controls, line and paragraph separators, BOM) are escaped too.
 */
function doubleQuoted(value: string): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029\ufeff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * Can `value` be written as a one-line plain scalar that reads back as this string? Conservative:
 * no indicator first, no `: ` or ` #`, no blanks at either end, and in a flow collection none of
 * `,[]{}`. (Every converted value holds `secret://`, so it never reads as a number, bool or null;
 * and the result is parsed again before anything is written.)
 */
function canBePlain(value: string, inFlow: boolean): boolean {
  if (value === '' || value !== value.trim() || /[\n\r\t]/.test(value)) return false;
  if (/^[-?:,[\]{}#&*!|>'"%@`]/.test(value)) return false;
  if (value.includes(': ') || value.includes(' #') || value.endsWith(':')) return false;
  return !(inFlow && /[,[\]{}]/.test(value));
}

/**
 * Edit a block scalar's body in place. Each content line of the body (after the scalar's
 * indentation) is a piece of the value, in order: in a literal scalar the pieces are separated
 * by line breaks; in a folded one a single line break between two plain lines reads as one
 * space. A reference inside one line is replaced there; one that a folded scalar splits across
 * lines is replaced with the break, which joins the lines (the value is the same).
 */
function rewriteBlock(
  text: string,
  node: Scalar,
  { slots, whole }: { slots: readonly DialectSlot[]; whole: ReferenceSlot | undefined },
  file: string,
  lineOf: (offset: number) => number,
): { edits: Edit[]; lines: number[] } {
  const value = node.value as string;
  const token = node.srcToken;
  const bodyEnd = node.range?.[1] ?? 0;
  if (token?.type !== 'block-scalar') throw unfaithful(file, lineOf(node.range?.[0] ?? 0));
  const bodyStart = bodyEnd - token.source.length;
  if (text.slice(bodyStart, bodyEnd) !== token.source) throw unfaithful(file, lineOf(bodyStart));

  // Source lines of the body, without their line ends.
  const body: Array<{ at: number; line: string }> = [];
  for (let at = bodyStart; at < bodyEnd; ) {
    let nl = text.indexOf('\n', at);
    if (nl === -1 || nl > bodyEnd) nl = bodyEnd;
    const line = text.slice(at, text[nl - 1] === '\r' && nl > at ? nl - 1 : nl);
    body.push({ at, line });
    at = nl + 1;
  }
  // The indentation: where the first line with text has it, less the blanks that start its line
  // in the value (lines of blanks before it may be content, e.g. under an indentation indicator).
  const firstSource = body.find((b) => b.line.trim() !== '');
  const text0 = value.search(/[^ \t\n]/);
  if (firstSource === undefined || text0 === -1) throw unfaithful(file, lineOf(bodyStart));
  const indent = firstSource.line.search(/[^ \t]/) - (text0 - (value.lastIndexOf('\n', text0) + 1));
  if (indent < 0) throw unfaithful(file, lineOf(firstSource.at));

  // Pieces: [value offset, source offset, length], in order.
  const pieces: Array<[number, number, number]> = [];
  let p = 0;
  for (const { at, line } of body) {
    const content = line.length > indent ? line.slice(indent) : '';
    if (content === '') continue;
    if (line.slice(0, indent).trim() !== '') throw unfaithful(file, lineOf(at));
    if (value[p] === ' ' && content[0] !== ' ' && content[0] !== '\t') p++;
    else while (value[p] === '\n') p++;
    if (!value.startsWith(content, p)) throw unfaithful(file, lineOf(at));
    pieces.push([p, at + indent, content.length]);
    p += content.length;
  }
  if (!/^\n*$/.test(value.slice(p))) throw unfaithful(file, lineOf(bodyStart));

  /** The source offset of value offset `v`; `closing`: `v` ends a span (may be a piece's end). */
  // Slots come in order, so the piece cursor only moves forward (linear in lines + slots).
  let k = 0;
  const sourceOf = (v: number, closing: boolean): number => {
    for (; k < pieces.length; k++) {
      const [vs, ss, len] = pieces[k] as [number, number, number];
      if (closing ? v <= vs + len : v < vs + len) {
        if (v < vs) break;
        return ss + v - vs;
      }
    }
    throw unfaithful(file, lineOf(bodyStart));
  };
  const edits: Edit[] = [];
  const lines: number[] = [];
  for (const slot of slots) {
    const start = sourceOf(slot.start, false);
    edits.push({ start, end: sourceOf(slot.end, true), text: replacement(value, slot, whole) });
    lines.push(lineOf(start));
  }
  return { edits, lines };
}

/** Apply non-overlapping edits to `text`. */
function splice(text: string, edits: Edit[]): string {
  edits.sort((a, b) => a.start - b.start);
  const out: string[] = [];
  let copied = 0;
  for (const e of edits) {
    if (e.start < copied) throw new SesameError('refs convert: two rewrites overlap; nothing was written');
    out.push(text.slice(copied, e.start), e.text);
    copied = e.end;
  }
  out.push(text.slice(copied));
  return out.join('');
}

/**
 * Parse the result again: it must be the original documents with exactly the converted values
 * changed (aliases follow their anchors), and hold no dialect reference any more.
 */
function verify(
  out: string,
  docs: readonly Document.Parsed[],
  changed: ReadonlyArray<[Scalar, string]>,
  dialects: DialectSet,
  json: boolean,
  file: string,
): void {
  for (const [node, value] of changed) node.value = value;
  const expected = docs.map((d) => d.toJS());
  const again = parseAllDocuments(out, { uniqueKeys: !json });
  const ok =
    Array.isArray(again) &&
    again.every((d) => d.errors.length === 0) &&
    isDeepStrictEqual(
      again.map((d) => d.toJS()),
      expected,
    ) &&
    (!json || isDeepStrictEqual(safeJson(out), expected[0])) &&
    expected.every((doc) =>
      collectReferences(doc, '', undefined, dialects).every((s) => s.dialect === undefined),
    );
  if (!ok) throw unfaithful(file);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function unfaithful(file: string, line?: number): SesameError {
  return new SesameError(
    `${file}${line === undefined ? '' : `:${line}`}: refs convert could not write the converted references back so that the document reads as converted; nothing was written`,
    { fix: 'convert the references in that scalar by hand' },
  );
}

/** JSON.parse, its error as a one-line usage error with the line (never the text). */
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    // V8 may quote the document in its message: only what is wrong, and where.
    const { reason: plain, position } = jsonSyntaxError(err);
    const line = position === undefined ? undefined : text.slice(0, position).split('\n').length;
    throw new UsageError(
      `${file}${line === undefined ? '' : `:${line}`}: not valid JSON: ${plain}: fix it, then convert again`,
    );
  }
}

function notValid(err: YAMLError, file: string, kind: 'YAML' | 'JSON', text: string): UsageError {
  const line = err.linePos?.[0].line ?? text.slice(0, err.pos[0]).split('\n').length;
  const plain = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?\s*$/, '');
  return new UsageError(`${file}:${line}: not valid ${kind}: ${plain}: fix it, then convert again`);
}

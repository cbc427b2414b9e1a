/**
 * Limits on the documents Sesame walks for references (connection fields, store settings, the
 * body of `POST /resolve`, `sesame resolve --file`).
 *
 * Without them a request could cost far more than its size: a document nested 10,000 deep
 * overflowed the stack of the recursive walk (a 500, or "Maximum call stack size exceeded" on the
 * CLI), and YAML aliases or a shared sub-object can make a small document a huge tree to walk.
 * The checks here are iterative (an explicit stack) and stop at the first limit crossed, so the
 * work done is bounded by the limits, never by the shape of the input.
 */
import { UsageError } from '../errors.js';
import type { DialectSet } from './dialects/index.js';
import { countPlaceholders } from './scan.js';

export interface DocumentLimits {
  /** Most levels of nested objects/arrays; the root object is level 1. Scalars add no level. */
  maxDepth: number;
  /** Most `{{ secret://… }}` placeholders (and bare references) in one document, and in one string. */
  maxPlaceholders: number;
  /** Most UTF-16 code units in one string value or object key. */
  maxStringLength: number;
  /** Most values (objects, arrays, scalars, the root included) in one document. */
  maxNodes: number;
}

/**
 * The defaults, chosen well above any real document and well below what would hurt:
 *
 * - `maxDepth: 64` — connection fields and store settings are a handful of levels deep; 64 leaves
 *   room for generated documents while keeping every walker (here, the resolver's own recursive
 *   walk, JSON.stringify of the answer) hundreds of frames below V8's stack limit (~10k frames).
 * - `maxPlaceholders: 10_000` — a connection holds a few dozen references; each distinct one can
 *   cost a store call, so ten thousand is already a very large batch.
 * - `maxStringLength: 1_048_576` (1 MiB) — the server's default body limit is 1 MiB, so no string
 *   sent over HTTP can legitimately exceed it; stores cap secret values far lower (AWS 64 KiB,
 *   GCP 64 KiB, Azure 25 KiB). It also bounds what one template compile may scan.
 * - `maxNodes: 100_000` — a 1 MiB JSON body holds at most ~350k values (`[0,0,…]`), and real
 *   documents hold hundreds; 100k bounds the walk of documents whose tree is much larger than
 *   their text (YAML aliases, shared sub-objects in library calls) to a few milliseconds.
 */
export const DOCUMENT_LIMITS: Readonly<DocumentLimits> = Object.freeze({
  maxDepth: 64,
  maxPlaceholders: 10_000,
  maxStringLength: 1_048_576,
  maxNodes: 100_000,
});

export type DocumentLimitName = keyof DocumentLimits;

/** The defaults with `overrides` applied (undefined entries keep the default). */
export function resolveLimits(overrides?: Partial<DocumentLimits>): DocumentLimits {
  if (overrides === undefined) return DOCUMENT_LIMITS;
  const out = { ...DOCUMENT_LIMITS };
  for (const name of Object.keys(DOCUMENT_LIMITS) as DocumentLimitName[]) {
    const v = overrides[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

const WHAT: Record<DocumentLimitName, (max: number, key: boolean) => string> = {
  maxDepth: (max) => `document too deep at %s: more than ${max} levels of nesting (limit maxDepth); flatten the document`,
  maxNodes: (max) =>
    `document too large at %s: more than ${max} values (limit maxNodes); split it into smaller documents`,
  maxStringLength: (max, key) =>
    `${key ? 'key' : 'string'} too long at %s: more than ${max} characters (limit maxStringLength); ` +
    (key ? 'use a shorter key' : 'keep large values in a secret and reference it, or split the string'),
  maxPlaceholders: (max) =>
    `too many secret references at %s: more than ${max} placeholders (limit maxPlaceholders); ` +
    'split the document into smaller ones',
};

const MAX_SHOWN_PATH = 200;

/** The field path as shown in a message: control characters replaced, long paths shortened. */
function showPath(field: string | undefined): string {
  if (!field) return 'the top level';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point
  let shown = field.replace(/[\u0000-\u001f\u007f]/g, '?');
  if (shown.length > MAX_SHOWN_PATH) shown = `${shown.slice(0, 120)}…${shown.slice(-60)}`;
  return shown;
}

/**
 * A document (or one string in it) crosses one of {@link DOCUMENT_LIMITS}. Bad input: HTTP 400,
 * exit 2. The message names the limit, its value and the field path, never a value.
 */
export class DocumentLimitError extends UsageError {
  override readonly code = 'document_limit';
  /** Which limit was crossed. */
  readonly limit: DocumentLimitName;
  /** The limit's value. */
  readonly max: number;
  /** Where in the document, e.g. `fields.a.b[3]`; undefined at the top level. */
  readonly field: string | undefined;

  constructor(args: { limit: DocumentLimitName; max: number; field?: string | undefined; key?: boolean }) {
    super(WHAT[args.limit](args.max, args.key === true).replace('%s', () => showPath(args.field)));
    this.limit = args.limit;
    this.max = args.max;
    this.field = args.field || undefined;
  }
}

/**
 * Walk a JSON-like value depth-first (objects in key order, arrays in index order) without
 * recursion, enforcing `maxDepth`, `maxNodes` and `maxStringLength` (values and keys), and call
 * `onString` for every string with its field path. Paths are spelled `a.b[0].c`, starting from
 * `base`. Cycles end at `maxDepth`.
 */
export function walkDocument(
  value: unknown,
  limits: DocumentLimits,
  base: string,
  onString: (s: string, path: string) => void,
): void {
  const { maxDepth, maxNodes, maxStringLength } = limits;
  // Parallel stacks: value, its path, and how many containers enclose it.
  const values: unknown[] = [value];
  const paths: string[] = [base];
  const depths: number[] = [0];
  let visited = 0;
  while (values.length > 0) {
    const v = values.pop();
    const p = paths.pop() as string;
    const depth = depths.pop() as number;
    visited++;
    if (typeof v === 'string') {
      if (v.length > maxStringLength) throw new DocumentLimitError({ limit: 'maxStringLength', max: maxStringLength, field: p });
      onString(v, p);
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > maxDepth) throw new DocumentLimitError({ limit: 'maxDepth', max: maxDepth, field: p });
    if (Array.isArray(v)) {
      // Everything already visited or waiting, plus these children, must fit.
      if (visited + values.length + v.length > maxNodes) {
        throw new DocumentLimitError({ limit: 'maxNodes', max: maxNodes, field: p });
      }
      for (let i = v.length - 1; i >= 0; i--) {
        values.push(v[i]);
        paths.push(`${p}[${i}]`);
        depths.push(depth + 1);
      }
    } else {
      const keys = Object.keys(v);
      if (visited + values.length + keys.length > maxNodes) {
        throw new DocumentLimitError({ limit: 'maxNodes', max: maxNodes, field: p });
      }
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i] as string;
        if (k.length > maxStringLength) {
          throw new DocumentLimitError({ limit: 'maxStringLength', max: maxStringLength, field: p, key: true });
        }
        values.push((v as Record<string, unknown>)[k]);
        paths.push(p ? `${p}.${k}` : k);
        depths.push(depth + 1);
      }
    }
  }
}

/**
 * Check a JSON-like value against the document limits without resolving anything; throws
 * {@link DocumentLimitError} naming the limit and the field path. For layers that walk documents
 * themselves (the resolver, the server) to call before their walk.
 *
 * @param limits overrides of {@link DOCUMENT_LIMITS}
 * @param field the path of `value` in a larger document, used as the prefix of paths in errors
 * @param dialects the declared dialects, whose references count as placeholders too
 */
export function checkDocumentLimits(value: unknown, limits?: Partial<DocumentLimits>, field = '', dialects?: DialectSet): void {
  const l = resolveLimits(limits);
  let placeholders = 0;
  walkDocument(value, l, field, (s, p) => {
    const n = countPlaceholders(s, dialects);
    if (n === 0) return;
    placeholders += n;
    if (placeholders > l.maxPlaceholders) {
      throw new DocumentLimitError({ limit: 'maxPlaceholders', max: l.maxPlaceholders, field: p });
    }
  });
}

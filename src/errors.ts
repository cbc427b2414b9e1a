/**
 * Typed errors. Every message is safe to log: it names stores, references, fields and config
 * paths, never a secret value. `exitCode` is what the CLI exits with: 2 for bad usage or bad
 * input, 1 for a failure to do the job.
 */

export interface ReferenceContext {
  /** The reference as written, e.g. `secret://aws/prod#key`. */
  reference?: string;
  /** Where the reference sits in the resolved document, e.g. `fields.token`. */
  field?: string;
}

export class SesameError extends Error {
  readonly exitCode: 1 | 2 = 1;
  /** A short machine-readable code for APIs (`not_found`, `access_denied`, …). */
  readonly code: string = 'error';
  /** HTTP status the server maps this error to. */
  readonly status: number = 500;
  /** What the operator should do about it, when the raiser knows (shown by `stores test`). */
  fix: string | undefined;

  constructor(message: string, options?: { cause?: unknown; fix?: string | undefined }) {
    super(message, options);
    this.name = new.target.name;
    this.fix = options?.fix;
  }
}

/** Something the user typed or configured is wrong: exit 2. */
export class UsageError extends SesameError {
  override readonly exitCode = 2 as const;
  override readonly code: string = 'bad_request';
  override readonly status: number = 400;
}

export class ReferenceSyntaxError extends UsageError {
  override readonly code = 'reference_syntax';
  readonly field: string | undefined;
  readonly offset: number;
  readonly expected: string;
  readonly input: string;

  constructor(args: { input: string; offset: number; expected: string; field?: string | undefined }) {
    const where = args.field ? ` in field ${args.field}` : '';
    super(`malformed reference${where} at offset ${args.offset}: expected ${args.expected}`);
    this.field = args.field;
    this.offset = args.offset;
    this.expected = args.expected;
    this.input = args.input;
  }

  /** The same error located inside a larger document. */
  at(field: string, baseOffset = 0): ReferenceSyntaxError {
    return new ReferenceSyntaxError({
      input: this.input,
      offset: this.offset + baseOffset,
      expected: this.expected,
      field,
    });
  }
}

export class ConfigError extends UsageError {
  override readonly code = 'config';
  /** Path inside the config file, e.g. `stores[1].cache.ttl`. */
  readonly path: string | undefined;

  constructor(message: string, options?: { path?: string | undefined; hint?: string; cause?: unknown }) {
    const where = options?.path ? `${options.path}: ` : '';
    const hint = options?.hint ? ` (${options.hint})` : '';
    super(`config ${where}${message}${hint}`, options);
    this.path = options?.path;
  }
}

function describeRef(ctx: ReferenceContext): string {
  const parts: string[] = [];
  if (ctx.reference) parts.push(ctx.reference);
  if (ctx.field) parts.push(`(field ${ctx.field})`);
  return parts.join(' ');
}

/** Base for errors about one reference; they carry the reference and field, never a value. */
export abstract class ResolutionError extends SesameError {
  reference: string | undefined;
  field: string | undefined;
  /** The message without the reference prefix, so it can be re-located. */
  readonly detail: string;

  constructor(detail: string, ctx: ReferenceContext = {}, options?: { cause?: unknown; fix?: string | undefined }) {
    const prefix = describeRef(ctx);
    super(prefix ? `${prefix}: ${detail}` : detail, options);
    this.detail = detail;
    this.reference = ctx.reference;
    this.field = ctx.field;
  }

  /** Attach where the failing reference was used (the message is rebuilt). */
  locate(ctx: ReferenceContext): this {
    const copy = Object.create(Object.getPrototypeOf(this)) as this;
    Object.assign(copy, this);
    copy.reference = ctx.reference ?? this.reference;
    copy.field = ctx.field ?? this.field;
    const prefix = describeRef(copy);
    copy.message = prefix ? `${prefix}: ${this.detail}` : this.detail;
    copy.stack = `${copy.name}: ${copy.message}`;
    if (this.cause !== undefined) copy.cause = this.cause;
    return copy;
  }
}

/** The store answered: there is no such secret (or version). Not a failure of the store. */
export class SecretNotFoundError extends ResolutionError {
  override readonly code = 'not_found';
  override readonly status = 404;
}

/** The secret exists but has no such key / JSON Pointer target, or is not JSON. */
export class KeyNotFoundError extends ResolutionError {
  override readonly code = 'key_not_found';
  override readonly status = 404;
}

/** The store refused the read: the detail says which permission to grant. */
export class AccessDeniedError extends ResolutionError {
  override readonly code = 'access_denied';
  override readonly status = 403;
}

/** The store could not be reached or failed; retrying later may work. */
export class StoreUnavailableError extends ResolutionError {
  override readonly code: string = 'store_unavailable';
  override readonly status = 503;
}

/**
 * The store refused for now because of its request rate or quota (HTTP 429, ThrottlingException,
 * RESOURCE_EXHAUSTED) after the retries. A kind of unavailability: stale-if-error applies.
 */
export class StoreThrottledError extends StoreUnavailableError {
  override readonly code = 'store_throttled';
}

/** The store refused the request as malformed (a name or version it cannot take): fix the request. */
export class InvalidRequestError extends UsageError {
  override readonly code = 'invalid_request';
}

/** The store (or a named store) does not exist in the caller's namespace. */
export class StoreNotFoundError extends UsageError {
  override readonly code = 'store_not_found';
  override readonly status = 404;
}

/** A secret exists but cannot be served as asked (disabled, scheduled for deletion, too large…). */
export class SecretStateError extends ResolutionError {
  override readonly code = 'secret_state';
  override readonly status = 409;
}

/** A value above the store's size limit. */
export class ValueTooLargeError extends UsageError {
  override readonly code = 'value_too_large';
  override readonly status = 413;
}

/** A write, delete or restore in a store configured `readOnly: true`. */
export class ReadOnlyStoreError extends UsageError {
  override readonly code = 'read_only';
  override readonly status = 403;
}

/** The requested operation is not offered by this store type. */
export class UnsupportedOperationError extends UsageError {
  override readonly code = 'unsupported';
  override readonly status = 405;
}

export type ForbiddenCode =
  | 'forbidden_role'
  | 'forbidden_namespace'
  | 'reveal_required'
  | 'forwarded_request'
  | 'forbidden_host_access'
  | 'forbidden_destination'
  | 'csrf_required';

/**
 * The caller is known but may not do this: the message says what is missing. Raised by the
 * authorization point of the resolve path (`resolve/access.ts`) and by the server's routes.
 */
export class ForbiddenError extends SesameError {
  override readonly code: ForbiddenCode;
  override readonly status = 403;
  /** The namespace that was asked for, when that is what was refused. */
  readonly namespace: string | undefined;

  constructor(code: ForbiddenCode, message: string, namespace?: string) {
    super(message);
    this.code = code;
    this.namespace = namespace;
  }
}

/** Quoted text longer than this is hidden by {@link describeUnexpected}: masked output shows at most 3 characters of a value. */
const SHOWN_QUOTE = 3;

/**
 * One line describing an error that is not a {@link SesameError} (a library's TypeError, V8's
 * SyntaxError, a Node system error), safe to print or log: its name, its code, and the first
 * line of its message with quoted text hidden. Node's argument errors quote what they received
 * (`… Received 'the value'`, cut at 128 characters and escaped) and V8 quotes the JSON it could
 * not parse (`Unexpected token …, "…" is not valid JSON`): escaped or cut, such a quote is not
 * the value the redactor knows, so it would pass masking. Anything else thrown is described by
 * its type.
 *
 * @example
 * describeUnexpected(new TypeError("… must be a string without null bytes. Received 'hunter2\\x00'"))
 * // "TypeError: … must be a string without null bytes"
 */
export function describeUnexpected(err: unknown): string {
  if (!(err instanceof Error)) return `a thrown ${err === null ? 'null' : typeof err}`;
  const { code, syscall, path, dest } = err as {
    code?: unknown;
    syscall?: unknown;
    path?: unknown;
    dest?: unknown;
  };
  const name = `${err.name}${typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? ` [${code}]` : ''}`;
  // A system error (ENOENT, EACCES…) quotes the file it was given: a path, kept.
  const paths =
    typeof syscall === 'string' ? [path, dest].filter((p): p is string => typeof p === 'string') : [];
  const message = safeErrorText(err.message, paths);
  return message ? `${name}: ${message}` : name;
}

/**
 * The first line of an error message without what it quotes (see {@link describeUnexpected});
 * `keep`: quoted texts known to be safe (the path of a system error).
 */
export function safeErrorText(message: string, keep: readonly string[] = []): string {
  return (message.split('\n')[0] ?? '')
    .replace(/\.?\s*Received\b.*$/, '')
    .replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/, ' (not valid JSON)')
    .replace(/(['"`])([^'"`]*)\1/g, (quoted, quote: string, inner: string) =>
      inner.length > SHOWN_QUOTE && !keep.includes(inner) ? `${quote}…${quote}` : quoted,
    )
    .trim();
}

/**
 * What `JSON.parse` found wrong, without the text V8 quotes around the fault (it quotes the
 * document, values included: `Unexpected token 'p', "{"a": pw-secr"... is not valid JSON`), and
 * where, when V8 says so (`… in JSON at position 6`, with `(line 1 column 7)` from Node 22).
 *
 * @example
 * jsonSyntaxError(new SyntaxError('Expected \',\' or \'}\' after property value in JSON at position 6'))
 * // { reason: "Expected ',' or '}' after property value", position: 6 }
 */
export function jsonSyntaxError(err: unknown): { reason: string; position?: number } {
  const message = err instanceof Error ? err.message : String(err);
  const reason =
    (message.split('"')[0] ?? '')
      .split('\n')[0]!
      .replace(/ in JSON at position \d+.*$/s, '')
      .replace(/[\s,.(]+$/, '') || 'not valid JSON';
  const position = /at position (\d+)/.exec(message)?.[1];
  return position === undefined ? { reason } : { reason, position: Number(position) };
}

/**
 * An error's stack for a debugging print: its first line from {@link describeUnexpected} (a
 * stack begins with the message) and the frames, which are code locations.
 */
export function unexpectedStack(err: unknown): string {
  const frames = err instanceof Error ? (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)) : [];
  return [describeUnexpected(err), ...frames].join('\n');
}

/**
 * Errors the server adds to the typed errors of `src/errors.ts`, and the one place every error
 * becomes an HTTP response: `{ error: { code, message, fix?, issues? } }` with the error's status.
 * Messages are safe to return and log: they never hold a value, and they pass the redactor.
 */
import type { z } from 'zod';
import { diagnoseClosedConnection, isDatabaseUnreachable } from '../db/errors.js';
import { describeZodIssue } from '../config/issues.js';
import { MAX_NAME_LENGTH } from '../encrypted-store/names.js';
import { SesameError, UsageError } from '../errors.js';
import type { Redactor } from '../redact/redactor.js';

/** No token, or a token that is unknown, expired or revoked. */
export class UnauthorizedError extends SesameError {
  override readonly code = 'unauthorized';
  override readonly status = 401;
}

export { type ForbiddenCode, ForbiddenError } from '../errors.js';

export class NotFoundError extends UsageError {
  override readonly code = 'not_found';
  override readonly status = 404;
}

/** The change conflicts with what exists (a name taken, a config-file entry, a reference to it). */
export class ConflictError extends UsageError {
  override readonly code = 'conflict';
  override readonly status = 409;
}

export interface Issue {
  /** Where: `body.settings.region`, `query.limit`, `params.name`. */
  path: string;
  message: string;
}

/** The request does not match the route's schema. */
export class ValidationError extends UsageError {
  override readonly code = 'validation';
  override readonly status = 400;
  readonly issues: Issue[];

  constructor(issues: Issue[]) {
    const [first, ...rest] = issues;
    const head = first ? `${first.path}: ${first.message}` : 'invalid request';
    super(rest.length > 0 ? `${head} (and ${rest.length} more: see issues)` : head);
    this.issues = issues;
  }
}

export class PayloadTooLargeError extends UsageError {
  override readonly code = 'payload_too_large';
  override readonly status = 413;
}

export class RateLimitedError extends SesameError {
  override readonly code = 'rate_limited';
  override readonly status = 429;
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number, limit: { max: number; windowMs: number }) {
    super(
      `too many requests for this token: at most ${limit.max} per ${limit.windowMs / 1000}s (server.rateLimit); retry after ${retryAfterSeconds}s`,
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The audit trail could not record the request, so its result is withheld. */
export class AuditUnavailableError extends SesameError {
  override readonly code = 'audit_unavailable';
  override readonly status = 503;
}

/** `a.b[0].c` from a zod issue path, under a request part (`body`, `query`, `params`). */
export function issuePath(part: string, path: ReadonlyArray<PropertyKey>): string {
  let out = part;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return out;
}

/** Zod issues as `{ path, message }`; unknown keys are named, values are never repeated. */
export function issuesFrom(part: string, error: z.ZodError): Issue[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      // A schema may say where such fields belong (its `error` option); zod's own text adds nothing.
      const hint = issue.message.startsWith('Unrecognized key') ? '' : `: ${issue.message}`;
      return {
        path: issuePath(part, issue.path),
        message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}${hint}`,
      };
    }
    // Plain words, not zod's own text; a union's closest branch may name a key further down.
    const plain = describeZodIssue(issue);
    const below = plain.path.slice(issue.path.length);
    return { path: issuePath(part, issue.path), message: below.length > 0 ? `${issuePath('', below).replace(/^\./, '')}: ${plain.message}` : plain.message };
  });
}

export interface ErrorBody {
  error: { code: string; message: string; fix?: string | undefined; issues?: Issue[] | undefined; requestId?: string | undefined };
}

/** The body of a 500: no exception text, only the request id to find the (redacted) log line by. */
export function internalError(requestId: string): ErrorBody {
  return {
    error: {
      code: 'internal',
      message: `internal error (request ${requestId}): the server log has the details under this request id`,
      requestId,
    },
  };
}

/**
 * Status and body for any error. A typed error's message is safe to return (it never holds a
 * value) and passes the redactor all the same; anything else, and any 5xx that is not one of
 * ours, says "internal error" with the request id and nothing of its internals.
 */
/**
 * The longest path segment the router takes (Fastify's default is 100 characters, below the names
 * stores take: the builtin's 512, an AWS ARN). Room for a name of 512 characters of four UTF-8
 * bytes each, percent-encoded; a longer URL is refused by Node before (431) anyway.
 */
export const MAX_PATH_SEGMENT = 8192;

export function errorResponse(err: unknown, redactor: Redactor, requestId = 'unknown'): { status: number; body: ErrorBody } {
  if (err instanceof SesameError) {
    if (err.status >= 500 && err.code === 'error') return { status: err.status, body: internalError(requestId) };
    const body: ErrorBody = { error: { code: err.code, message: redactor.redact(err.message) } };
    // What to do about it, when the raiser knows (a store's not-found, denied or unreachable).
    if (err.fix) body.error.fix = redactor.redact(err.fix);
    if (err instanceof ValidationError) body.error.issues = redactor.redactValue(err.issues);
    return { status: err.status, body };
  }
  const fastify = fastifyError(err);
  if (fastify && fastify.status < 500) {
    const { code, message, fix } = fastify;
    return { status: fastify.status, body: { error: { code, message, ...(fix ? { fix } : {}) } } };
  }
  // The server closed the connection under the statement: say so, and what to do, not "does not answer".
  const closed = diagnoseClosedConnection(err);
  if (closed) return errorResponse(closed, redactor, requestId);
  if (isDatabaseUnreachable(err)) {
    const message = 'the database does not answer (down or restarting): retry shortly; GET /readyz says when it is back';
    return { status: 503, body: { error: { code: 'database_unavailable', message } } };
  }
  return { status: 500, body: internalError(requestId) };
}

/**
 * Fastify's own errors (body parsing, limits, media types) with messages of ours: a JSON parse
 * error's message quotes the body, which may hold a value.
 */
function fastifyError(err: unknown): { status: number; code: string; message: string; fix?: string } | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (!e || typeof e.code !== 'string' || !e.code.startsWith('FST_')) return undefined;
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'payload_too_large', message: 'request body is too large (server.bodyLimit)' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, code: 'invalid_json', message: 'request body is not valid JSON' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'invalid_json', message: 'request body is empty but Content-Type is application/json: send a JSON body' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'unsupported_media_type', message: 'send JSON with Content-Type: application/json' };
    // The router's two refusals (see `frameworkErrors` in app.ts); neither echoes the path.
    case 'FST_ERR_BAD_URL':
      return {
        status: 400,
        code: 'bad_url',
        message: 'the request path is not valid percent-encoding',
        fix: 'encode each name in the path as encodeURIComponent does (a % must start %XX of UTF-8 bytes)',
      };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return {
        status: 414,
        code: 'uri_too_long',
        message: `a segment of the request path is longer than ${MAX_PATH_SEGMENT} characters`,
        fix: `names are at most ${MAX_NAME_LENGTH} characters in the builtin store (each store has its own limit): check the name`,
      };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, code: 'bad_request', message: 'Content-Length does not match the body' };
    default:
      return { status, code: status < 500 ? 'bad_request' : 'internal', message: status < 500 ? 'bad request' : 'internal error: see the server log' };
  }
}

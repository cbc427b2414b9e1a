/**
 * Routes as data: each route names its method, path, access, and zod schemas for params, query,
 * body and response. The same schemas validate requests (400 with field paths) and, through
 * `z.toJSONSchema`, make the OpenAPI document — so the document cannot drift from the checks.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuditEvent } from '../audit/index.js';
import { NAMESPACE, NAMESPACE_RULE } from '../namespaces.js';
import type { Access, Principal } from './auth.js';
import { type Issue, issuesFrom, ValidationError } from './errors.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a handler gets besides the validated input. */
export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The caller; a placeholder for public routes. */
  principal: Principal;
  request: FastifyRequest;
  reply: FastifyReply;
  /** The namespace the request acts in: `given`, else the token's scope. 403 outside the scope. */
  namespace(given: string | undefined): string;
  /** Throw 403 unless the token's scope covers `namespace`. */
  requireNamespace(namespace: string): void;
  /**
   * Run `work` and record it in the audit trail with its outcome (the error code when it
   * throws). The result is returned only after the record is committed.
   */
  audited<T>(event: Omit<AuditEvent, 'actor' | 'outcome' | 'detail'>, work: () => Promise<T>): Promise<T>;
  /**
   * Like {@link audited}, for work that can commit its change and its `ok` record in one
   * transaction: `work` gets the complete `ok` event and says whether it recorded it itself
   * (`recorded: true`); when it did not, the record is committed after, as `audited` does. A
   * failure is recorded as `audited` records it.
   */
  auditedWith<T>(
    event: Omit<AuditEvent, 'actor' | 'outcome' | 'detail'>,
    work: (ok: AuditEvent) => Promise<{ value: T; recorded: boolean }>,
  ): Promise<T>;
}

export interface RouteSpec<
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType,
  R extends z.ZodType,
> {
  method: Method;
  /** Under /api/v1 unless `root`; `{name}` for parameters. */
  path: string;
  /** Mounted at the server root (health, metrics) instead of under /api/v1. */
  root?: boolean;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  /** Served by `sesame serve --agent` too. */
  agent?: boolean;
  /** Not rate limited (health checks, metrics). */
  unlimited?: boolean;
  /**
   * Successful requests are logged at debug level, not info: for hot routes whose every request
   * is in the audit trail already. Failed and slow ones are logged at info as usual.
   */
  quiet?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * A cheaper check for a hot route's most common body: the body as `body` would parse it when
   * it is certainly valid, else undefined, and the schema decides (and words the 400). Must
   * never accept what `body` refuses, nor answer differently (a test per route checks).
   */
  fastBody?: (body: unknown) => z.output<B> | undefined;
  response: R;
  /** Success status (default 200). */
  status?: number;
  /**
   * Statuses this route answers beyond those its access and input imply (a public route that
   * checks a session: 401), each with what it means; the body is the error body.
   */
  errors?: Readonly<Record<number, string>>;
  /** Other statuses answered with the route's own response body (readiness: 503 when not ready). */
  alsoAnswers?: Readonly<Record<number, string>>;
  /** Response content type when not JSON (metrics). */
  produces?: string;
  handler(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<z.input<R>>;
}

// biome-ignore lint/suspicious/noExplicitAny: a list of routes of any schema; each route is typed where it is defined
export type AnyRoute = RouteSpec<any, any, any, any>;

/** Define a route with its handler typed by its schemas. */
export function route<
  P extends z.ZodType = z.ZodUndefined,
  Q extends z.ZodType = z.ZodUndefined,
  B extends z.ZodType = z.ZodUndefined,
  R extends z.ZodType = z.ZodType,
>(spec: RouteSpec<P, Q, B, R>): AnyRoute {
  return spec as AnyRoute;
}

export const API_PREFIX = '/api/v1';

export function fullPath(r: Pick<AnyRoute, 'path' | 'root'>): string {
  return r.root ? r.path : `${API_PREFIX}${r.path}`;
}

/** `/secrets/{name}` → `/secrets/:name` for Fastify. */
export function fastifyPath(r: Pick<AnyRoute, 'path' | 'root'>): string {
  return fullPath(r).replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/** Parse one part of a request with its schema; issues are collected, not thrown one by one. */
export function parsePart(
  part: 'params' | 'query' | 'body',
  schema: z.ZodType | undefined,
  input: unknown,
  issues: Issue[],
): unknown {
  if (!schema) return undefined;
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  issues.push(...issuesFrom(part, parsed.error));
  return undefined;
}

export function validateRequest(
  r: AnyRoute,
  request: { params: unknown; query: unknown; body: unknown },
): { params: unknown; query: unknown; body: unknown } {
  const issues: Issue[] = [];
  const params = parsePart('params', r.params, request.params, issues);
  const query = parsePart('query', r.query, request.query ?? {}, issues);
  const body = r.fastBody?.(request.body) ?? parsePart('body', r.body, request.body, issues);
  if (issues.length > 0) throw new ValidationError(issues);
  return { params, query, body };
}

// Building blocks shared by routes.

/** A query flag: `true`/`false` (or `1`/`0`). */
export const queryFlag = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1')
  .optional();

export const limitParam = z.coerce
  .number()
  .int()
  .min(1)
  .max(1000)
  .optional()
  .describe('page size (1–1000, default 100)');

export const cursorParam = z.string().min(1).max(2000).optional().describe('cursor from the previous page');

export const namespaceParam = z
  .string()
  // The one namespace rule (src/namespaces.ts), with the root (''): a pattern the OpenAPI document shows.
  .regex(new RegExp(`^$|${NAMESPACE.source}`), NAMESPACE_RULE)
  .describe("namespace; default: the token's namespace");

export function page<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    cursor: z.string().optional().describe('present when there are more items: pass it back as ?cursor='),
  });
}

export const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    fix: z.string().optional().describe('what to do about it, when the server knows'),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    requestId: z.string().optional().describe('on a 500: the id of the request in the server log'),
  }),
});

/** Page through an in-memory list sorted by `key`; the cursor is the last key, opaque to clients. */
export function pageOf<T>(
  items: readonly T[],
  key: (item: T) => string,
  limit = 100,
  cursor?: string,
): { items: T[]; cursor?: string } {
  const after = cursor === undefined ? undefined : Buffer.from(cursor, 'base64url').toString('utf8');
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((i) => key(i) > after);
  const out = rest.slice(0, limit);
  const last = out[out.length - 1];
  return rest.length > limit && last !== undefined
    ? { items: out, cursor: Buffer.from(key(last), 'utf8').toString('base64url') }
    : { items: out };
}

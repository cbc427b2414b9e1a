/**
 * Status-driven classification, for providers that report a failure as a status (an HTTP status,
 * a gRPC status) rather than as an error name. The adapter writes a table — status → kind,
 * message, fix — and keeps in code only what a status alone does not say (an inner error code,
 * a credential failure before any request); {@link classifyStatus} turns a row into a
 * {@link Classification}. Statuses of gRPC APIs, and of their REST transports that answer with
 * an HTTP status only, share one vocabulary: the canonical names of `google.rpc.Code`
 * ({@link grpcStatusName}, {@link grpcStatusOfHttp}).
 *
 * @example
 * const RULES: StatusRules<Op> = {
 *   404: { kind: 'not_found', message: (op) => `no secret "${op.name}"`, fix: 'create it' },
 *   403: { kind: 'denied', fix: (op) => `grant ${ROLE[op.action]}`, message: (op, fix) => `refused: ${fix}` },
 *   '5xx': { kind: 'unavailable', message: () => 'the store is failing' },
 *   default: { kind: 'invalid', message: () => 'refused as invalid' },
 * };
 * classifyStatus(err.status, RULES, op, { summary: `HTTP ${err.status}` });
 */
import type { Classification, ErrorKind } from './errors.js';

/** The canonical status names of `google.rpc.Code`, indexed by their number. */
export const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

export type GrpcStatus = (typeof GRPC_STATUS_NAMES)[number];

/**
 * HTTP statuses back to gRPC statuses: the inverse of the HTTP mapping `google.rpc.Code`
 * documents. Where several codes share a status, 400 reads as INVALID_ARGUMENT, 409 as ABORTED
 * and 500 as INTERNAL.
 */
const FROM_HTTP: Readonly<Record<number, GrpcStatus>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** The name of a numeric gRPC status of a failure (1-16), or undefined for anything else. */
export function grpcStatusName(code: unknown): Exclude<GrpcStatus, 'OK'> | undefined {
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 1) return undefined;
  return GRPC_STATUS_NAMES[code] as Exclude<GrpcStatus, 'OK'> | undefined;
}

/** The gRPC status an HTTP status stands for; other 5xx are INTERNAL, anything else UNKNOWN. */
export function grpcStatusOfHttp(status: number): GrpcStatus {
  return FROM_HTTP[status] ?? (status >= 500 ? 'INTERNAL' : 'UNKNOWN');
}

/** One row of a status table. */
export interface StatusRule<C> {
  kind: ErrorKind;
  /** What to do about it; a function when it depends on the operation (the role to grant). */
  fix?: string | ((c: C) => string) | undefined;
  /** What happened; `fix` is the row's fix, for messages that end with it. */
  message(c: C, fix: string | undefined): string;
  /** Override the kind's retry rule ({@link Classification.retry}). */
  retry?: boolean | ((c: C) => boolean) | undefined;
}

/**
 * Rows by status (`404`, `'NOT_FOUND'`), by HTTP status class (`'5xx'`), and `default` for a
 * status no other row names: every table says what an unexpected status means.
 */
export type StatusRules<C> = Readonly<Record<string, StatusRule<C>> & { default: StatusRule<C> }>;

/**
 * The classification `rules` give `status`: the row of the status itself, else the row of its
 * HTTP class (`'5xx'` for 503), else `default`. `extra` adds what the error says beyond its
 * status: the summary kept as the cause and a Retry-After delay.
 */
export function classifyStatus<C>(
  status: string | number,
  rules: StatusRules<C>,
  c: C,
  extra: Pick<Classification, 'summary' | 'retryAfterMs'> = {},
): Classification {
  const range = typeof status === 'number' ? `${Math.floor(status / 100)}xx` : undefined;
  const rule = rules[String(status)] ?? (range ? rules[range] : undefined) ?? rules.default;
  const fix = typeof rule.fix === 'function' ? rule.fix(c) : rule.fix;
  const retry = typeof rule.retry === 'function' ? rule.retry(c) : rule.retry;
  return {
    kind: rule.kind,
    message: rule.message(c, fix),
    ...(fix === undefined ? {} : { fix }),
    ...(retry === undefined ? {} : { retry }),
    ...(extra.retryAfterMs === undefined ? {} : { retryAfterMs: extra.retryAfterMs }),
    ...(extra.summary === undefined ? {} : { summary: extra.summary }),
  };
}

/** A secret as messages name it; `id` is the provider's spelling of `name`. */
export interface SecretSubject {
  name?: string | undefined;
  version?: string | undefined;
  id?: string | undefined;
}

/**
 * How a message names what a request was about: `"db/pass" version 3 (secret id "app-db-pass")
 * in project acme`. The provider's id is said only when it differs from the name (a prefix, an
 * escaped spelling), the version only when one was asked for, and without a name the container
 * alone (`project acme`).
 */
export function secretSubject(container: string, secret: SecretSubject, idLabel: string): string {
  if (!secret.name) return container;
  const id = secret.id && secret.id !== secret.name ? ` (${idLabel} "${secret.id}")` : '';
  return `"${secret.name}"${secret.version ? ` version ${secret.version}` : ''}${id} in ${container}`;
}

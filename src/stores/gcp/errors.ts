/**
 * Secret Manager errors → Sesame errors.
 *
 * Two shapes reach the adapter: over gRPC a `GoogleError` whose `code` is the numeric
 * `google.rpc.Code`; over the REST transport (gax 5 + google-auth-library 10) a `GaxiosError`
 * whose `status` is the HTTP status and whose message is the `google.rpc.Status` JSON body. Both
 * are reduced to the canonical status name. A `GaxiosError` carries the request, and an
 * `addVersion` request body holds the value (base64): the core never keeps an SDK error as the
 * cause, only the summary (name and status) given here.
 */
import type { Classification } from '../core/index.js';
import { NETWORK_ERROR_CODES } from '../core/network.js';

const GRPC_STATUS = [
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

const HTTP_STATUS: Record<number, string> = {
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

/** The payload failed its CRC32C check: corrupted in transit, worth a retry. */
export class ChecksumMismatch extends Error {
  override readonly name = 'ChecksumMismatch';
}

export interface GcpStatus {
  /** Canonical `google.rpc.Code` name, e.g. `NOT_FOUND`. */
  status: string;
  /** The service's message, only used to read details such as a version state. Never shown. */
  serviceMessage: string;
}

/** Reduce any SDK error to its canonical status, or undefined when it is not an RPC failure. */
export function gcpStatus(err: unknown): GcpStatus | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { code?: unknown; status?: unknown };
  if (err.name === 'GaxiosError' || 'config' in err) {
    if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code))
      return { status: 'UNAVAILABLE', serviceMessage: '' };
    try {
      const body = JSON.parse(err.message) as { error?: { status?: unknown; message?: unknown } };
      if (typeof body.error?.status === 'string') {
        return {
          status: body.error.status,
          serviceMessage: typeof body.error.message === 'string' ? body.error.message : '',
        };
      }
    } catch {
      // not a JSON body
    }
    const http = typeof e.status === 'number' ? e.status : typeof e.code === 'number' ? e.code : undefined;
    if (http !== undefined)
      return { status: HTTP_STATUS[http] ?? (http >= 500 ? 'INTERNAL' : 'UNKNOWN'), serviceMessage: '' };
    return { status: 'UNAVAILABLE', serviceMessage: '' };
  }
  if (typeof e.code === 'number' && Number.isInteger(e.code) && e.code > 0 && e.code < GRPC_STATUS.length) {
    return { status: GRPC_STATUS[e.code] as string, serviceMessage: err.message };
  }
  return undefined;
}

export type GcpOperation =
  | 'access'
  | 'list'
  | 'versions'
  | 'describe'
  | 'write'
  | 'create'
  | 'delete'
  | 'disable'
  | 'enable'
  | 'destroy'
  | 'token';

export interface GcpErrorContext {
  project: string;
  operation: GcpOperation;
  name?: string | undefined;
  secretId?: string | undefined;
  version?: string | undefined;
  authMethod: string;
}

/** The predefined role that grants an operation, for messages and `check` fixes. */
export function roleFor(operation: GcpOperation): string {
  switch (operation) {
    case 'access':
    case 'token':
      return 'roles/secretmanager.secretAccessor';
    case 'list':
    case 'versions':
    case 'describe':
      return 'roles/secretmanager.viewer';
    case 'write':
      return 'roles/secretmanager.secretVersionAdder';
    case 'disable':
    case 'enable':
    case 'destroy':
      return 'roles/secretmanager.secretVersionManager';
    case 'create':
    case 'delete':
      return 'roles/secretmanager.admin';
  }
}

function where(ctx: GcpErrorContext): string {
  if (!ctx.name) return `project ${ctx.project}`;
  const id = ctx.secretId && ctx.secretId !== ctx.name ? ` (secret id "${ctx.secretId}")` : '';
  return `"${ctx.name}"${ctx.version ? ` version ${ctx.version}` : ''}${id} in project ${ctx.project}`;
}

/** Classify anything the Secret Manager client throws. */
export function classifyGcp(err: unknown, ctx: GcpErrorContext): Classification {
  if (err instanceof ChecksumMismatch) {
    return {
      kind: 'unavailable',
      message: `the payload of ${where(ctx)} failed its CRC32C check: it was corrupted in transit`,
      retry: true,
    };
  }
  const rpc = gcpStatus(err);
  const name = err instanceof Error ? err.name : 'error';
  if (!rpc) {
    const message = err instanceof Error ? err.message : String(err);
    if (/Could not load the default credentials/i.test(message)) {
      const fix =
        'set GOOGLE_APPLICATION_CREDENTIALS, run on Google Cloud with a service account, or use auth method service-account-json';
      return { kind: 'denied', message: `no Google credentials found for auth method default: ${fix}`, fix };
    }
    if (/private key|DECODER|PEM|asn1|secretOrPrivateKey/i.test(message)) {
      const fix = 'download a new JSON key from IAM & Admin → Service accounts → Keys';
      return { kind: 'config', message: "the service account's private_key cannot sign requests", fix };
    }
    return { kind: 'unavailable', message: `request to Secret Manager failed (${name})`, retry: false };
  }
  const summary = `${name} ${rpc.status}`;
  const reachable = 'check that Secret Manager is reachable from this host';
  switch (rpc.status) {
    case 'NOT_FOUND':
      return {
        kind: 'not_found',
        message: `no secret ${where(ctx)}`,
        fix: 'create the secret, or check the name and the store prefix',
        summary,
      };
    case 'PERMISSION_DENIED': {
      const permission = /Permission '([a-z.]+)' denied/.exec(rpc.serviceMessage)?.[1];
      const extra =
        ctx.operation === 'write' ? '; creating a new secret also needs roles/secretmanager.admin' : '';
      const fix = `grant ${roleFor(ctx.operation)} to the service account`;
      return {
        kind: 'denied',
        message: `Secret Manager refused ${ctx.operation} on ${where(ctx)}${permission ? ` (permission ${permission})` : ''}: ${fix}${extra}`,
        fix,
        summary,
      };
    }
    case 'UNAUTHENTICATED': {
      const fix =
        'check that the service account key is still active (IAM & Admin → Service accounts → Keys)';
      return {
        kind: 'denied',
        message: `Secret Manager rejected the credentials of auth method ${ctx.authMethod}: ${fix}`,
        fix,
        summary,
      };
    }
    case 'FAILED_PRECONDITION': {
      const state = /is in ([A-Z]+) state/.exec(rpc.serviceMessage)?.[1];
      const fix =
        state === 'DESTROYED'
          ? 'its payload is gone for good: pin another version with ?version='
          : state === 'DISABLED'
            ? 'enable it (gcloud secrets versions enable) or pin another version with ?version='
            : 'check the version state';
      return {
        kind: 'conflict',
        message: `${where(ctx)} is ${state ? state.toLowerCase() : 'not accessible in its current state'}: ${fix}`,
        fix,
        summary,
      };
    }
    case 'RESOURCE_EXHAUSTED':
      return {
        kind: 'throttled',
        message: 'Secret Manager quota exhausted (RESOURCE_EXHAUSTED): slow down or raise the quota',
        fix: 'slow down or raise the quota',
        summary,
      };
    case 'UNAVAILABLE':
    case 'DEADLINE_EXCEEDED':
    case 'INTERNAL':
      return {
        kind: 'unavailable',
        message: `Secret Manager is unavailable (${rpc.status})`,
        fix: reachable,
        summary,
      };
    case 'INVALID_ARGUMENT':
      return {
        kind: 'invalid',
        message: `Secret Manager refused the request for ${where(ctx)} as invalid (INVALID_ARGUMENT)`,
        summary,
      };
    case 'ALREADY_EXISTS':
      return { kind: 'conflict', message: `${where(ctx)} already exists`, summary };
    default:
      return {
        kind: 'unavailable',
        message: `Secret Manager answered ${rpc.status} to ${ctx.operation} on ${where(ctx)}`,
        fix: reachable,
        retry: false,
        summary,
      };
  }
}

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
import {
  type Classification,
  classifyStatus,
  grpcStatusName,
  grpcStatusOfHttp,
  networkCode,
  notFoundFix,
  type StatusRule,
  type StatusRules,
  type StoreEndpoint,
  secretSubject,
  withFix,
} from '../core/index.js';

/** The payload failed its CRC32C check: corrupted in transit, worth a retry. */
export class ChecksumMismatch extends Error {
  override readonly name = 'ChecksumMismatch';
}

export interface GcpStatus {
  /** Canonical `google.rpc.Code` name, e.g. `NOT_FOUND`. */
  status: string;
  /** The service's message, only used to read details such as a version state. Never shown. */
  serviceMessage: string;
  /** `reason` of the `google.rpc.ErrorInfo` detail (`SERVICE_DISABLED`, `CONSUMER_INVALID`…). */
  reason?: string | undefined;
  /** Its `metadata.consumer`: the project a Service Infrastructure refusal is about (`projects/123`). */
  consumer?: string | undefined;
  /** Set when a REST answer below 500 has no `google.rpc.Status` body: it came from another service. */
  foreign?: string | undefined;
}

type ErrorInfo = { reason?: unknown; metadata?: { consumer?: unknown } | null };
const isErrorInfo = (d: unknown): d is ErrorInfo =>
  typeof d === 'object' &&
  d !== null &&
  String((d as Record<string, unknown>)['@type']).endsWith('.ErrorInfo');

/** The ErrorInfo's reason and consumer, from a GoogleError's promoted fields or a JSON body's details. */
function errorInfo(info: ErrorInfo | undefined): Pick<GcpStatus, 'reason' | 'consumer'> {
  const reason = typeof info?.reason === 'string' ? info.reason : undefined;
  const consumer = info?.metadata?.consumer;
  return { reason, consumer: typeof consumer === 'string' ? consumer : undefined };
}

/** Reduce any SDK error to its canonical status, or undefined when it is not an RPC failure. */
export function gcpStatus(err: unknown): GcpStatus | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { code?: unknown; status?: unknown };
  if (err.name === 'GaxiosError' || 'config' in err) {
    if (networkCode(err)) return { status: 'UNAVAILABLE', serviceMessage: '' };
    try {
      const body = JSON.parse(err.message) as {
        error?: { status?: unknown; message?: unknown; details?: unknown };
      };
      const { status, message, details } = body.error ?? {};
      const info = Array.isArray(details) ? details.find(isErrorInfo) : undefined;
      if (typeof status === 'string')
        return { status, serviceMessage: typeof message === 'string' ? message : '', ...errorInfo(info) };
    } catch {
      // not a JSON body
    }
    const http = typeof e.status === 'number' ? e.status : typeof e.code === 'number' ? e.code : undefined;
    const foreign = http !== undefined && http < 500 ? `HTTP ${http} without a google.rpc.Status` : undefined;
    return {
      status: http === undefined ? 'UNAVAILABLE' : grpcStatusOfHttp(http),
      serviceMessage: '',
      foreign,
    };
  }
  const status = grpcStatusName(e.code);
  const promoted = err as Error & { reason?: unknown; errorInfoMetadata?: { consumer?: unknown } | null };
  const info = errorInfo({ reason: promoted.reason, metadata: promoted.errorInfoMetadata });
  return status ? { status, serviceMessage: err.message, ...info } : undefined;
}

/** The predefined role that grants each operation, for messages and fixes. */
const ROLES = {
  access: 'roles/secretmanager.secretAccessor',
  token: 'roles/secretmanager.secretAccessor',
  list: 'roles/secretmanager.viewer',
  versions: 'roles/secretmanager.viewer',
  describe: 'roles/secretmanager.viewer',
  write: 'roles/secretmanager.secretVersionAdder',
  disable: 'roles/secretmanager.secretVersionManager',
  enable: 'roles/secretmanager.secretVersionManager',
  destroy: 'roles/secretmanager.secretVersionManager',
  create: 'roles/secretmanager.admin',
  update: 'roles/secretmanager.admin',
  delete: 'roles/secretmanager.admin',
} as const;

export type GcpOperation = keyof typeof ROLES;

export interface GcpErrorContext {
  project: string;
  operation: GcpOperation;
  name?: string | undefined;
  /** The secret id of `name` (prefix applied). */
  id?: string | undefined;
  version?: string | undefined;
  authMethod: string;
  /** The endpoint called, when the settings name one (`apiEndpoint`, or `location`'s). */
  endpoint?: string | undefined;
}

const where = (c: GcpErrorContext) => secretSubject(`project ${c.project}`, c, 'secret id');

type Failure = GcpErrorContext & GcpStatus;

/** The state a FAILED_PRECONDITION names (`Secret version … is in DISABLED state`). */
const versionState = (c: Failure) => /is in ([A-Z]+) state/.exec(c.serviceMessage)?.[1];
/** The version number the message names (`Secret Version [projects/…/versions/4] is in …`). */
const stateVersion = (c: Failure) => /\/versions\/(\d+)\] is in/.exec(c.serviceMessage)?.[1];
/** No version asked for: `latest`, the newest version whatever its state. */
const ofLatest = (c: Failure) => (c.version === undefined ? stateVersion(c) : undefined);

const STATE_FIXES: Readonly<Record<string, (c: Failure) => string>> = {
  DESTROYED: (c) =>
    `its payload is gone for good: ${ofLatest(c) ? 'write a new version, or ' : ''}pin another version with ?version=`,
  DISABLED: (c) => {
    const n = stateVersion(c) ?? c.version;
    const command = n ? ` ${n} --secret=${c.id ?? c.name} --project=${c.project}` : '';
    return `enable it (gcloud secrets versions enable${command}), or pin another version with ?version=`;
  },
};

const REACHABLE = 'check that Secret Manager is reachable from this host';
const UNAVAILABLE: StatusRule<Failure> = {
  kind: 'unavailable',
  fix: REACHABLE,
  message: (c) => `Secret Manager is unavailable (${c.status})`,
};

/** The project a Service Infrastructure refusal names (`projects/123` → `123`), else the store's. */
const consumerOf = (c: Failure) => c.consumer?.replace(/^projects\//, '') || c.project;
const ENABLE_API = (c: Failure) =>
  `gcloud services enable secretmanager.googleapis.com --project ${consumerOf(c)}`;

const PROJECT_REASONS: ReadonlySet<string> = new Set(['SERVICE_DISABLED', 'CONSUMER_INVALID']);

/** Secret Manager failures by canonical status; a PERMISSION_DENIED is refined by its ErrorInfo reason. */
const RULES: StatusRules<Failure> = {
  CONSUMER_INVALID: {
    kind: 'config',
    fix: 'check the project setting: the id or number of an existing project that owns the secrets',
    message: (c) => `project ${consumerOf(c)} does not exist or cannot be used (CONSUMER_INVALID)`,
  },
  SERVICE_DISABLED: {
    kind: 'denied',
    fix: ENABLE_API,
    message: (c, fix) =>
      `the Secret Manager API is not enabled in project ${consumerOf(c)}: enable it (${fix}), wait a few minutes, then retry`,
  },
  NOT_FOUND: {
    kind: 'not_found',
    fix: (c) => {
      if (c.operation === 'delete') return notFoundFix('delete');
      // "Secret Version [projects/…/versions/7] not found.": the secret exists, that version does not.
      if (c.version !== undefined && /Secret Version \[[^\]]*\] not found/.test(c.serviceMessage))
        return notFoundFix('version', { name: c.name });
      return notFoundFix('read');
    },
    message: (c) => `no secret ${where(c)}`,
  },
  PERMISSION_DENIED: {
    kind: 'denied',
    fix: (c) => `grant ${ROLES[c.operation]} to the service account`,
    message: (c, fix) => {
      const permission = /Permission '([a-z.]+)' denied/.exec(c.serviceMessage)?.[1];
      const extra =
        c.operation === 'write' ? '; creating a new secret also needs roles/secretmanager.admin' : '';
      return `Secret Manager refused ${c.operation} on ${where(c)}${permission ? ` (permission ${permission})` : ''}: ${fix}${extra}`;
    },
  },
  UNAUTHENTICATED: {
    kind: 'denied',
    fix: (c) =>
      c.authMethod === 'default'
        ? 'refresh the application default credentials (gcloud auth application-default login, or the key file GOOGLE_APPLICATION_CREDENTIALS names), or check the service account this host runs as'
        : 'check that the service account key is still active (IAM & Admin → Service accounts → Keys)',
    message: (c, fix) => `Secret Manager rejected the credentials of auth method ${c.authMethod}: ${fix}`,
  },
  FAILED_PRECONDITION: {
    kind: 'conflict',
    fix: (c) => STATE_FIXES[versionState(c) ?? '']?.(c) ?? 'check the version state',
    message: (c, fix) => {
      const state = versionState(c)?.toLowerCase() ?? 'not accessible in its current state';
      const latest = ofLatest(c);
      return latest
        ? `${where(c)}: its latest version, ${latest}, is ${state}: ${fix}`
        : `${where(c)} is ${state}: ${fix}`;
    },
  },
  RESOURCE_EXHAUSTED: {
    kind: 'throttled',
    fix: 'slow down or raise the quota',
    message: (_, fix) => `Secret Manager quota exhausted (RESOURCE_EXHAUSTED): ${fix}`,
  },
  UNAVAILABLE,
  DEADLINE_EXCEEDED: UNAVAILABLE,
  INTERNAL: UNAVAILABLE,
  INVALID_ARGUMENT: {
    kind: 'invalid',
    message: (c) => `Secret Manager refused the request for ${where(c)} as invalid (INVALID_ARGUMENT)`,
  },
  ALREADY_EXISTS: { kind: 'conflict', message: (c) => `${where(c)} already exists` },
  default: {
    kind: 'unavailable',
    fix: REACHABLE,
    message: (c) => `Secret Manager answered ${c.status} to ${c.operation} on ${where(c)}`,
    retry: false,
  },
};

/**
 * Where Secret Manager's calls go, for the core's network classification: no answer, or a failed
 * TLS handshake (gRPC says UNAVAILABLE / DEADLINE_EXCEEDED, code 14 / 4, with Node's text in
 * `details`; REST a GaxiosError with the socket's code), or a REST answer below 500 without a
 * `google.rpc.Status` body, which came from another service.
 */
export const gcpEndpoint: StoreEndpoint<GcpErrorContext> = {
  at: (ctx) => ({
    url: ctx.endpoint ?? 'https://secretmanager.googleapis.com',
    settings: {
      address: ctx.endpoint ? 'apiEndpoint' : 'apiEndpoint (unset: the public endpoint)',
      provider: 'Secret Manager',
    },
    what: 'Secret Manager',
  }),
  answered: (err) => {
    const code = (err as { code?: unknown } | undefined)?.code;
    return err instanceof ChecksumMismatch || (typeof code === 'number' && code !== 14 && code !== 4);
  },
  foreign: (err) => gcpStatus(err)?.foreign,
  // The REST transport's time limit (gaxios `timeout`) ends a request with an abort; Sesame
  // cancels no call of its own, so an abort is that limit.
  timedOut: (err) => {
    const e = err as { name?: unknown; cause?: { name?: unknown } } | undefined;
    return e?.name === 'AbortError' || e?.cause?.name === 'AbortError';
  },
};

/** Classify anything the Secret Manager client throws (below HTTP: {@link gcpEndpoint}). */
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
  if (rpc) {
    // A project-level refusal (API off, no such project) is a PERMISSION_DENIED no role fixes.
    const { status, reason } = rpc;
    const key = status === 'PERMISSION_DENIED' && reason && PROJECT_REASONS.has(reason) ? reason : status;
    const summary = `${name} ${status}${reason ? ` ${reason}` : ''}`;
    return classifyStatus(key, RULES, { ...ctx, ...rpc }, { summary });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/Could not load the default credentials/i.test(message)) {
    const fix =
      'set GOOGLE_APPLICATION_CREDENTIALS, run on Google Cloud with a service account, or use auth method service-account-json';
    return withFix('denied', 'no Google credentials found for auth method default', fix);
  }
  if (/private key|DECODER|PEM|asn1|secretOrPrivateKey/i.test(message)) {
    const fix = 'download a new JSON key from IAM & Admin → Service accounts → Keys';
    return { kind: 'config', message: "the service account's private_key cannot sign requests", fix };
  }
  return { kind: 'unavailable', message: `request to Secret Manager failed (${name})`, retry: false };
}

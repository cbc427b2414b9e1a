/**
 * A local GCP Secret Manager emulator for the REST (HTTP/1.1 JSON) transport of
 * `@google-cloud/secret-manager`, plus the GCE metadata server's token endpoint.
 *
 * Wire shapes follow the v1 REST reference (`/v1/projects/*\/secrets/*\/versions/*:access` →
 * AccessSecretVersionResponse `{name, payload: {data (base64), dataCrc32c (int64 as a string)}}`,
 * `secrets.create`, `:addVersion`, `:disable`, `:destroy`, lists with `pageToken`) and errors are
 * `google.rpc.Status` JSON: `{"error":{"code":404,"message":"…","status":"NOT_FOUND"}}`. Resource
 * names in answers use the project number, as the service does. When the client asks for numeric
 * enums (`$alt=json;enum-encoding=int`, which the SDK always does) states are sent as numbers.
 *
 * Authentication: service accounts sign their own JWT (`google-auth-library` does so whenever
 * the Secret Manager client sets `useJWTAccessWithScope`, which it always does), so the emulator
 * verifies RS256 JWTs against the registered service-account public keys. The GCE metadata token
 * endpoint issues opaque tokens for `auth: default` on a "VM".
 *
 * Messages that are this emulator's own start with "[emulator]".
 */
import { createPublicKey, type KeyObject, randomBytes, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FaultControls, Faults } from '../faults.js';

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
/** SecretPayload.data: "Must be no larger than 64KiB." (v1 reference). */
const MAX_PAYLOAD_BYTES = 64 * 1024;

/** CRC32C (Castagnoli), kept separate from the adapter's so a bug in one is caught by the other. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();
export function emulatorCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) crc = (CRC_TABLE[(crc ^ b) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

type State = 'ENABLED' | 'DISABLED' | 'DESTROYED';
const STATE_NUMBER: Record<State, number> = { ENABLED: 1, DISABLED: 2, DESTROYED: 3 };

interface Version {
  number: number;
  data: Buffer | undefined;
  state: State;
  createTime: string;
  destroyTime?: string | undefined;
}

interface Secret {
  id: string;
  labels: Record<string, string>;
  createTime: string;
  versions: Version[];
}

export type GcpPermission =
  | 'secretmanager.versions.access'
  | 'secretmanager.secrets.list'
  | 'secretmanager.secrets.get'
  | 'secretmanager.secrets.create'
  | 'secretmanager.secrets.delete'
  | 'secretmanager.secrets.update'
  | 'secretmanager.versions.add'
  | 'secretmanager.versions.list'
  | 'secretmanager.versions.get'
  | 'secretmanager.versions.disable'
  | 'secretmanager.versions.enable'
  | 'secretmanager.versions.destroy';

export interface GcpEmulatorControls {
  readonly project: string;
  readonly projectNumber: string;
  /** Trust RS256 JWTs signed by this key as `email`. */
  registerServiceAccount(sa: { email: string; keyId: string; publicKeyPem: string }): void;
  /** Answer 403 PERMISSION_DENIED to requests needing these permissions (all when omitted). */
  deny(permissions?: GcpPermission[]): void;
  allow(): void;
  /**
   * Turn the Secret Manager API off in the project (or on again): every API request is answered
   * 403 PERMISSION_DENIED with an ErrorInfo of reason SERVICE_DISABLED, as Service Usage does.
   */
  disableApi(disabled: boolean): void;
  /** Answer the next `times` API requests with 429 RESOURCE_EXHAUSTED. */
  throttle(times: number): void;
  /** Answer the next `times` API requests with 503 UNAVAILABLE. */
  fail(times: number): void;
  /** Send a wrong `dataCrc32c` with the next `times` access answers. */
  corruptChecksums(times: number): void;
  /** Leave `dataCrc32c` out of access answers (older versions of the service did). */
  omitChecksums(omit: boolean): void;
  disable(secretId: string, version?: number): void;
  destroy(secretId: string, version?: number): void;
  /** Add a version directly (creating the secret); returns its number. */
  seed(secretId: string, value: string | Uint8Array, labels?: Record<string, string>): number;
  secretIds(): string[];
  labelsOf(secretId: string): Record<string, string> | undefined;
  stateOf(secretId: string, version: number): State | undefined;
  /** Requests by kind: method names (`access`, `list`…), `metadata-token`, `unauthenticated`… */
  readonly calls: Record<string, number>;
  /** Principals whose credentials were accepted (SA emails, `metadata`). */
  readonly principals: string[];
  reset(): void;
}

export interface GcpSecretManagerEmulator {
  /** Base URL for `apiEndpoint`, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** `host:port` for `GCE_METADATA_HOST`. */
  metadataHost: string;
  controls: GcpEmulatorControls;
  /** Faults for API requests (after authentication), answered as google.rpc.Status. */
  faults: FaultControls;
  stop(): Promise<void>;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

const STATUS_HTTP: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

function rpcError(
  res: ServerResponse,
  status: keyof typeof STATUS_HTTP,
  message: string,
  details?: unknown[],
): void {
  const code = STATUS_HTTP[status] as number;
  send(res, code, { error: { code, message, status, ...(details ? { details } : {}) } });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

const b64url = (s: string) => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');

export async function startGcpSecretManagerEmulator(
  options: {
    project?: string;
    projectNumber?: string;
    pageSize?: number;
    /** Act as the regional endpoint of this location: secrets are `projects/*\/locations/<location>/secrets/*`. */
    location?: string;
  } = {},
): Promise<GcpSecretManagerEmulator> {
  const faultPlan = new Faults();
  const project = options.project ?? 'sesame-test';
  const projectNumber = options.projectNumber ?? '482913337105';
  const pageSize = options.pageSize ?? 25;
  const secrets = new Map<string, Secret>();
  const serviceAccounts = new Map<string, { email: string; key: KeyObject }>();
  const tokens = new Map<string, { principal: string; expires: number }>();
  const calls: Record<string, number> = {};
  const principals: string[] = [];
  let denied: Set<GcpPermission> | 'all' | undefined;
  let apiDisabled = false;
  let throttleLeft = 0;
  let failLeft = 0;
  let corruptLeft = 0;
  let omitChecksums = false;

  const count = (kind: string) => {
    calls[kind] = (calls[kind] ?? 0) + 1;
  };
  const now = () => new Date().toISOString();
  const location = options.location;
  const parentPath = `projects/${projectNumber}${location ? `/locations/${location}` : ''}`;
  const secretPath = (id: string) => `${parentPath}/secrets/${id}`;

  const authenticate = (req: IncomingMessage): string | undefined => {
    const header = req.headers.authorization;
    if (!header?.startsWith('Bearer ')) return undefined;
    const token = header.slice('Bearer '.length);
    const issued = tokens.get(token);
    if (issued) return issued.expires > Date.now() ? issued.principal : undefined;
    const [h, p, s] = token.split('.');
    if (!h || !p || !s) return undefined;
    try {
      const head = JSON.parse(b64url(h).toString('utf8')) as { alg?: string; kid?: string };
      const claims = JSON.parse(b64url(p).toString('utf8')) as {
        iss?: string;
        sub?: string;
        scope?: string;
        aud?: string;
        exp?: number;
      };
      const sa = head.kid ? serviceAccounts.get(head.kid) : undefined;
      if (!sa || head.alg !== 'RS256') return undefined;
      if (!verify('sha256', Buffer.from(`${h}.${p}`), sa.key, b64url(s))) return undefined;
      if (claims.iss !== sa.email || claims.sub !== sa.email) return undefined;
      const scoped = claims.scope?.split(' ').includes(CLOUD_PLATFORM) ?? false;
      const audienced = claims.aud === 'https://secretmanager.googleapis.com/';
      if (!scoped && !audienced) return undefined;
      if (!claims.exp || claims.exp * 1000 < Date.now()) return undefined;
      return sa.email;
    } catch {
      return undefined;
    }
  };

  const numericEnums = (url: URL) => (url.searchParams.get('$alt') ?? '').includes('enum-encoding=int');

  const versionJson = (url: URL, secret: Secret, v: Version) => ({
    name: `${secretPath(secret.id)}/versions/${v.number}`,
    createTime: v.createTime,
    ...(v.destroyTime ? { destroyTime: v.destroyTime } : {}),
    state: numericEnums(url) ? STATE_NUMBER[v.state] : v.state,
    replicationStatus: { automatic: {} },
    etag: `"${v.number.toString(16).padStart(14, '0')}"`,
    clientSpecifiedPayloadChecksum: true,
  });

  const secretJson = (secret: Secret) => ({
    name: secretPath(secret.id),
    replication: { automatic: {} },
    createTime: secret.createTime,
    ...(Object.keys(secret.labels).length > 0 ? { labels: secret.labels } : {}),
    etag: `"${secret.createTime.length.toString(16).padStart(14, '0')}"`,
  });

  const denyIfNeeded = (res: ServerResponse, permission: GcpPermission, resource: string): boolean => {
    if (!denied || (denied !== 'all' && !denied.has(permission))) return false;
    count('denied');
    rpcError(
      res,
      'PERMISSION_DENIED',
      `Permission '${permission}' denied for resource '${resource}' (or it may not exist).`,
      [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'IAM_PERMISSION_DENIED',
          domain: 'secretmanager.googleapis.com',
          metadata: { permission, resource },
        },
      ],
    );
    return true;
  };

  const addVersion = (secret: Secret, data: Buffer): Version => {
    const version: Version = {
      number: (secret.versions.at(-1)?.number ?? 0) + 1,
      data,
      state: 'ENABLED',
      createTime: now(),
    };
    secret.versions.push(version);
    return version;
  };

  const findVersion = (secret: Secret, ref: string): Version | undefined =>
    ref === 'latest' ? secret.versions.at(-1) : secret.versions.find((v) => String(v.number) === ref);

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const principal = authenticate(req);
    if (!principal) {
      count('unauthenticated');
      const missing = !req.headers.authorization;
      rpcError(
        res,
        'UNAUTHENTICATED',
        missing
          ? 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.'
          : 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      );
      return;
    }
    principals.push(principal);
    if (apiDisabled) {
      // The recorded answer of a call to a project where the API is off; the ErrorInfo is the
      // SERVICE_DISABLED example of google/api/error_reason.proto.
      count('service-disabled');
      rpcError(
        res,
        'PERMISSION_DENIED',
        `Secret Manager API has not been used in project ${projectNumber} before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/secretmanager.googleapis.com/overview?project=${projectNumber} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.`,
        [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'SERVICE_DISABLED',
            domain: 'googleapis.com',
            metadata: { consumer: `projects/${projectNumber}`, service: 'secretmanager.googleapis.com' },
          },
        ],
      );
      return;
    }
    const injected = await faultPlan.next();
    if (injected === 'denied') {
      rpcError(
        res,
        'PERMISSION_DENIED',
        "Permission 'secretmanager.versions.access' denied for resource (or it may not exist).",
      );
      return;
    }
    if (injected === 'throttled') {
      rpcError(
        res,
        'RESOURCE_EXHAUSTED',
        "Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute'.",
      );
      return;
    }
    if (injected === 'unavailable') {
      rpcError(res, 'UNAVAILABLE', 'The service is currently unavailable.');
      return;
    }
    if (throttleLeft > 0) {
      throttleLeft -= 1;
      count('throttled');
      rpcError(
        res,
        'RESOURCE_EXHAUSTED',
        `Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute' of service 'secretmanager.googleapis.com' for consumer 'project_number:${projectNumber}'.`,
      );
      return;
    }
    if (failLeft > 0) {
      failLeft -= 1;
      count('failed');
      rpcError(res, 'UNAVAILABLE', 'The service is currently unavailable.');
      return;
    }

    // /v1/projects/{p}[/locations/{l}]/secrets[/{id}[/versions[/{v}]]][:verb]
    const match =
      /^\/v1\/projects\/([^/]+)(?:\/locations\/([^/]+))?\/secrets(?:\/([^/:]+)(?:\/versions(?:\/([^/:]+))?)?)?(?::([A-Za-z]+))?$/.exec(
        url.pathname,
      );
    // A regional endpoint serves its location's secrets, the global one secrets without a location.
    if (!match || match[2] !== location) {
      rpcError(res, 'NOT_FOUND', `[emulator] no route for ${req.method} ${url.pathname}`);
      return;
    }
    const [, projectRef, , rawId, versionRef, verb] = match;
    if (projectRef !== project && projectRef !== projectNumber) {
      // A project that does not exist: the recorded answer, with the CONSUMER_INVALID ErrorInfo
      // of google/api/error_reason.proto.
      const message = `Permission denied on resource project ${projectRef}.`;
      rpcError(res, 'PERMISSION_DENIED', message, [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'CONSUMER_INVALID',
          domain: 'googleapis.com',
          metadata: {
            consumer: `projects/${projectRef}`,
            containerInfo: projectRef,
            service: 'secretmanager.googleapis.com',
          },
        },
        { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
      ]);
      return;
    }
    const id = rawId === undefined ? undefined : decodeURIComponent(rawId);
    const hasVersions = url.pathname.includes('/versions');
    const method = req.method ?? 'GET';
    const secret = id === undefined ? undefined : secrets.get(id);
    const resource = `projects/${projectRef}/secrets/${id ?? ''}${versionRef ? `/versions/${versionRef}` : ''}`;

    // secrets.list / secrets.create
    if (id === undefined) {
      if (method === 'GET') {
        count('list');
        if (denyIfNeeded(res, 'secretmanager.secrets.list', `projects/${projectRef}`)) return;
        const all = [...secrets.values()].sort((a, b) => a.id.localeCompare(b.id));
        const start = Number(url.searchParams.get('pageToken') || '0');
        const size = Math.min(Number(url.searchParams.get('pageSize') || pageSize), pageSize);
        const page = all.slice(start, start + size);
        send(res, 200, {
          ...(page.length > 0 ? { secrets: page.map(secretJson) } : {}),
          ...(start + size < all.length ? { nextPageToken: String(start + size) } : {}),
          totalSize: all.length,
        });
        return;
      }
      if (method === 'POST') {
        count('create');
        const secretId = url.searchParams.get('secretId') ?? '';
        if (denyIfNeeded(res, 'secretmanager.secrets.create', `projects/${projectRef}`)) return;
        if (!SECRET_ID.test(secretId)) {
          rpcError(
            res,
            'INVALID_ARGUMENT',
            `[emulator] secretId "${secretId}" must match [A-Za-z0-9_-]{1,255}.`,
          );
          return;
        }
        if (secrets.has(secretId)) {
          rpcError(res, 'ALREADY_EXISTS', `Secret [${secretPath(secretId)}] already exists.`);
          return;
        }
        const body = await readJson(req);
        const created: Secret = {
          id: secretId,
          labels: (body.labels as Record<string, string>) ?? {},
          createTime: now(),
          versions: [],
        };
        secrets.set(secretId, created);
        send(res, 200, secretJson(created));
        return;
      }
    }

    // secrets.get / secrets.delete / :addVersion
    if (id !== undefined && !hasVersions) {
      if (verb === 'addVersion' && method === 'POST') {
        count('addVersion');
        if (denyIfNeeded(res, 'secretmanager.versions.add', resource)) return;
        if (!secret) {
          rpcError(res, 'NOT_FOUND', `Secret [${secretPath(id)}] not found.`);
          return;
        }
        const body = (await readJson(req)) as { payload?: { data?: string; dataCrc32c?: string | number } };
        const data = Buffer.from(body.payload?.data ?? '', 'base64');
        if (data.length > MAX_PAYLOAD_BYTES) {
          // The limit is documented, the service's wording for it is not: INVALID_ARGUMENT, own text.
          rpcError(res, 'INVALID_ARGUMENT', '[emulator] Secret payload is larger than 64KiB.');
          return;
        }
        if (
          body.payload?.dataCrc32c !== undefined &&
          String(emulatorCrc32c(data)) !== String(body.payload.dataCrc32c)
        ) {
          rpcError(
            res,
            'INVALID_ARGUMENT',
            '[emulator] Checksum mismatch: dataCrc32c does not match the payload.',
          );
          return;
        }
        send(res, 200, versionJson(url, secret, addVersion(secret, data)));
        return;
      }
      if (method === 'GET' && !verb) {
        count('get');
        if (denyIfNeeded(res, 'secretmanager.secrets.get', resource)) return;
        if (!secret) {
          rpcError(res, 'NOT_FOUND', `Secret [${secretPath(id)}] not found.`);
          return;
        }
        send(res, 200, secretJson(secret));
        return;
      }
      if (method === 'PATCH' && !verb) {
        // secrets.patch: the fields named by the required updateMask are taken from the body.
        count('patch');
        if (denyIfNeeded(res, 'secretmanager.secrets.update', resource)) return;
        const body = (await readJson(req)) as { labels?: Record<string, string> };
        const mask = (url.searchParams.get('updateMask') ?? '').split(',').filter(Boolean);
        if (mask.length === 0) {
          rpcError(res, 'INVALID_ARGUMENT', '[emulator] updateMask is required.');
          return;
        }
        if (mask.some((path) => path !== 'labels')) {
          rpcError(
            res,
            'INVALID_ARGUMENT',
            `[emulator] only labels can be updated here, not ${mask.join(',')}.`,
          );
          return;
        }
        if (!secret) {
          rpcError(res, 'NOT_FOUND', `Secret [${secretPath(id)}] not found.`);
          return;
        }
        secret.labels = body.labels ?? {};
        send(res, 200, secretJson(secret));
        return;
      }
      if (method === 'DELETE') {
        count('delete');
        if (denyIfNeeded(res, 'secretmanager.secrets.delete', resource)) return;
        if (!secret) {
          rpcError(res, 'NOT_FOUND', `Secret [${secretPath(id)}] not found.`);
          return;
        }
        secrets.delete(id);
        send(res, 200, {});
        return;
      }
    }

    // versions.list
    if (id !== undefined && hasVersions && versionRef === undefined && method === 'GET') {
      count('listVersions');
      if (denyIfNeeded(res, 'secretmanager.versions.list', resource)) return;
      if (!secret) {
        rpcError(res, 'NOT_FOUND', `Secret [${secretPath(id)}] not found.`);
        return;
      }
      const all = [...secret.versions].reverse();
      send(res, 200, {
        ...(all.length > 0 ? { versions: all.map((v) => versionJson(url, secret, v)) } : {}),
        totalSize: all.length,
      });
      return;
    }

    // versions.access / get / disable / enable / destroy
    if (id !== undefined && versionRef !== undefined) {
      const kind = verb ?? 'getVersion';
      count(kind);
      const permission: GcpPermission =
        verb === 'access'
          ? 'secretmanager.versions.access'
          : verb === 'disable'
            ? 'secretmanager.versions.disable'
            : verb === 'enable'
              ? 'secretmanager.versions.enable'
              : verb === 'destroy'
                ? 'secretmanager.versions.destroy'
                : 'secretmanager.versions.get';
      if (denyIfNeeded(res, permission, resource)) return;
      if (!secret || secret.versions.length === 0) {
        rpcError(res, 'NOT_FOUND', `Secret [${secretPath(id)}] not found or has no versions.`);
        return;
      }
      const version = findVersion(secret, versionRef);
      if (!version) {
        rpcError(res, 'NOT_FOUND', `Secret Version [${secretPath(id)}/versions/${versionRef}] not found.`);
        return;
      }
      if (verb === 'access' && method === 'GET') {
        if (version.state !== 'ENABLED') {
          rpcError(
            res,
            'FAILED_PRECONDITION',
            `Secret Version [${secretPath(id)}/versions/${version.number}] is in ${version.state} state.`,
          );
          return;
        }
        const data = version.data ?? Buffer.alloc(0);
        let crc = emulatorCrc32c(data);
        if (corruptLeft > 0) {
          corruptLeft -= 1;
          crc = (crc + 1) >>> 0;
        }
        send(res, 200, {
          name: `${secretPath(id)}/versions/${version.number}`,
          payload: { data: data.toString('base64'), ...(omitChecksums ? {} : { dataCrc32c: String(crc) }) },
        });
        return;
      }
      if (method === 'POST' && (verb === 'disable' || verb === 'enable' || verb === 'destroy')) {
        await readJson(req);
        if (version.state === 'DESTROYED' && verb !== 'destroy') {
          rpcError(
            res,
            'FAILED_PRECONDITION',
            `Secret Version [${secretPath(id)}/versions/${version.number}] is in DESTROYED state.`,
          );
          return;
        }
        if (verb === 'disable') version.state = 'DISABLED';
        if (verb === 'enable') version.state = 'ENABLED';
        if (verb === 'destroy') {
          version.state = 'DESTROYED';
          version.data = undefined;
          version.destroyTime = now();
        }
        send(res, 200, versionJson(url, secret, version));
        return;
      }
      if (method === 'GET' && !verb) {
        send(res, 200, versionJson(url, secret, version));
        return;
      }
    }
    rpcError(res, 'NOT_FOUND', `[emulator] no route for ${method} ${url.pathname}`);
  }

  function handleMetadata(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.headers['metadata-flavor'] !== 'Google') {
      res.writeHead(403, { 'content-type': 'text/html' });
      res.end('Missing Metadata-Flavor:Google header.');
      return;
    }
    const flavor = { 'metadata-flavor': 'Google' };
    if (url.pathname === '/computeMetadata/v1/instance/service-accounts/default/token') {
      count('metadata-token');
      const token = `ya29.${randomBytes(24).toString('base64url')}`;
      tokens.set(token, { principal: 'metadata', expires: Date.now() + 3_600_000 });
      send(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' }, flavor);
      return;
    }
    if (url.pathname === '/computeMetadata/v1/project/project-id') {
      res.writeHead(200, { 'content-type': 'application/text', ...flavor });
      res.end(project);
      return;
    }
    if (url.pathname === '/computeMetadata/v1/instance' || url.pathname === '/computeMetadata/v1/instance/') {
      res.writeHead(200, { 'content-type': 'application/text', ...flavor });
      res.end('attributes/\nhostname\nservice-accounts/\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/html', ...flavor });
    res.end('Not Found');
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (url.pathname.startsWith('/computeMetadata/')) {
      handleMetadata(req, res, url);
      return;
    }
    handleApi(req, res, url).catch((err: unknown) =>
      rpcError(res, 'INTERNAL', `[emulator] ${(err as Error).message}`),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;

  const mustGet = (id: string) => {
    const secret = secrets.get(id);
    if (!secret) throw new Error(`[emulator] no secret ${id}`);
    return secret;
  };
  const pick = (id: string, version?: number) => {
    const secret = mustGet(id);
    const v =
      version === undefined ? secret.versions.at(-1) : secret.versions.find((x) => x.number === version);
    if (!v) throw new Error(`[emulator] no version ${version} of ${id}`);
    return v;
  };

  const controls: GcpEmulatorControls = {
    project,
    projectNumber,
    registerServiceAccount(sa) {
      serviceAccounts.set(sa.keyId, { email: sa.email, key: createPublicKey(sa.publicKeyPem) });
    },
    deny(permissions) {
      denied = permissions ? new Set(permissions) : 'all';
    },
    allow() {
      denied = undefined;
    },
    disableApi(disabled) {
      apiDisabled = disabled;
    },
    throttle(times) {
      throttleLeft = times;
    },
    fail(times) {
      failLeft = times;
    },
    corruptChecksums(times) {
      corruptLeft = times;
    },
    omitChecksums(omit) {
      omitChecksums = omit;
    },
    disable(id, version) {
      pick(id, version).state = 'DISABLED';
    },
    destroy(id, version) {
      const v = pick(id, version);
      v.state = 'DESTROYED';
      v.data = undefined;
    },
    seed(id, value, labels = {}) {
      if (!SECRET_ID.test(id)) throw new Error(`[emulator] ${id} is not a secret id`);
      const secret = secrets.get(id) ?? { id, labels, createTime: now(), versions: [] };
      secrets.set(id, secret);
      return addVersion(secret, Buffer.from(value)).number;
    },
    secretIds: () => [...secrets.keys()],
    labelsOf: (id) => secrets.get(id)?.labels,
    stateOf: (id, version) => secrets.get(id)?.versions.find((v) => v.number === version)?.state,
    calls,
    principals,
    reset() {
      denied = undefined;
      apiDisabled = false;
      throttleLeft = 0;
      failLeft = 0;
      corruptLeft = 0;
      omitChecksums = false;
      for (const k of Object.keys(calls)) delete calls[k];
      principals.length = 0;
    },
  };

  return {
    url: `http://127.0.0.1:${port}`,
    metadataHost: `127.0.0.1:${port}`,
    controls,
    faults: faultPlan,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/**
 * A local Azure Key Vault (secrets) + Microsoft Entra ID emulator that speaks the wire protocol
 * the official SDKs use, so the adapter is tested through `@azure/keyvault-secrets` and
 * `@azure/identity` unchanged.
 *
 * Shapes follow the public REST reference and recorded service responses:
 * - Key Vault: `api-version` query parameter required; a request without a token gets 401 with
 *   `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/{tenant}",
 *   resource="https://vault.azure.net"` (the SDK's challenge flow); SecretBundle /
 *   DeletedSecretBundle / SecretItem JSON with `attributes.created` etc. in epoch seconds; lists
 *   paged with `nextLink`; errors as `{"error":{"code","message","innererror"?}}`.
 * - Entra ID: `/{tenant}/v2.0/.well-known/openid-configuration` and the v2 token endpoint for the
 *   client-credentials grant (secret or certificate assertion), with AADSTS error bodies.
 * - Managed identity: the App Service style endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`),
 *   which MSAL supports on a local plain-HTTP address.
 *
 * MSAL refuses an authority that is not https, so the vault and the authority are served over
 * TLS with the test certificate in `fixtures/` (trust it through `ca`); the same vault is also
 * served over plain HTTP (`httpUrl`) to exercise `allowInsecureConnection`.
 *
 * Messages that are this emulator's own (not copied from a documented response) start with
 * "[emulator]".
 */
import { createHash, createPublicKey, randomBytes, randomUUID, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type FaultControls, Faults } from '../faults.js';

const fixture = (file: string) =>
  readFileSync(fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url)), 'utf8');

/** The PEM (certificate + private key) of the test app registration used for certificate auth. */
export const AZURE_CLIENT_CERTIFICATE_PATH = fileURLToPath(
  new URL('./fixtures/client-certificate.pem', import.meta.url),
);

const VAULT_RESOURCE = 'https://vault.azure.net';
const VAULT_SCOPE = `${VAULT_RESOURCE}/.default`;
const KEY_VAULT_NAME = /^[0-9a-zA-Z-]{1,127}$/;
/** "a maximum size of 25 KB each" (About Azure Key Vault secrets). */
const MAX_VALUE_BYTES = 25 * 1024;

export type KeyVaultOperation = 'get' | 'list' | 'set' | 'delete' | 'recover' | 'purge';
type DenyModel = 'rbac' | 'access-policy' | 'first-party';

interface SecretVersion {
  id: string;
  value: string;
  enabled: boolean;
  created: number;
  updated: number;
  contentType?: string | undefined;
  tags?: Record<string, string> | undefined;
}

interface StoredSecret {
  name: string;
  versions: SecretVersion[];
}

interface DeletedSecret {
  secret: StoredSecret;
  deletedDate: number;
  scheduledPurgeDate: number;
}

interface AppRegistration {
  clientId: string;
  secret?: string | undefined;
  secretExpired: boolean;
  certificate?: X509Certificate | undefined;
}

export interface AzureEmulatorControls {
  readonly tenantId: string;
  /** Register an app (service principal) for client-secret or client-certificate auth. */
  registerApp(app: { clientId: string; secret?: string; certificatePem?: string }): void;
  /** Register a user-assigned managed identity; the system-assigned one always exists. */
  registerManagedIdentity(clientId: string): void;
  /**
   * Answer 403 to these operations (all when omitted), as RBAC or as an access policy would (an
   * access-policy refusal comes with inner code `AccessDenied` or `ForbiddenByPolicy`: both are
   * recorded), or as Key Vault refuses a first-party service's token (`first-party`, described
   * in the Key Vault SDK troubleshooting guide).
   */
  deny(options?: {
    operations?: KeyVaultOperation[];
    model?: DenyModel;
    policyCode?: 'AccessDenied' | 'ForbiddenByPolicy';
  }): void;
  /** Stop denying. */
  allow(): void;
  /** Answer the next `times` vault requests with 429 and `Retry-After: retryAfterSeconds`. */
  throttle(times: number, retryAfterSeconds?: number): void;
  /** Answer the next `times` vault requests with this 5xx status. */
  fail(times: number, status?: number): void;
  /**
   * Turn the vault's purge protection on (it cannot be turned off on a real vault; here it can,
   * for tests): purging answers 403 Forbidden, and bundles say `recoveryLevel: Recoverable`.
   */
  protectFromPurge(on: boolean): void;
  /** Disable a secret's latest version (or the given one). */
  disable(name: string, version?: string): void;
  /** Make the app's client secret expired: the token endpoint answers AADSTS7000222. */
  expireClientSecret(clientId: string): void;
  /** Put a secret version straight into the vault (Key Vault name, no mapping). */
  seed(name: string, value: string, options?: { tags?: Record<string, string> }): string;
  /** Names currently stored (Key Vault names, original case). */
  names(): string[];
  /** Soft-deleted names. */
  deletedNames(): string[];
  /** Requests seen, by kind: `challenge`, `token`, `msi`, `openid`, and one per vault operation. */
  readonly calls: Record<string, number>;
  /** Tokens the vault accepted, by who they were issued to (client id or `msi:<id>`). */
  readonly principals: string[];
  /** The `Retry-After`-honouring tests read this to see what was asked of the client. */
  reset(): void;
}

export interface AzureKeyVaultEmulator {
  /** The vault over TLS, e.g. `https://127.0.0.1:41234`. */
  url: string;
  /** The same vault over plain HTTP (needs `allowInsecureConnection`). */
  httpUrl: string;
  /** The Entra ID authority host (TLS), for `authorityHost`. */
  authorityHost: string;
  /** App Service style managed identity endpoint (plain HTTP) and its header secret. */
  identityEndpoint: string;
  identityHeader: string;
  /** PEM of the certificate the TLS endpoints present; trust it in clients. */
  ca: string;
  controls: AzureEmulatorControls;
  /** Faults for vault requests (after the token is checked), answered as Key Vault does. */
  faults: FaultControls;
  stop(): Promise<void>;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function vaultError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  inner?: string,
  headers?: Record<string, string>,
) {
  send(res, status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } }, headers);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function base64url(input: string): Buffer {
  return Buffer.from(input.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

export async function startAzureKeyVaultEmulator(
  options: { tenantId?: string; pageSize?: number } = {},
): Promise<AzureKeyVaultEmulator> {
  const faultPlan = new Faults();
  const tenantId = options.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const pageSize = options.pageSize ?? 25;
  const cert = fixture('tls-cert.pem');
  const key = fixture('tls-key.pem');
  const identityHeader = randomBytes(16).toString('hex');

  const secrets = new Map<string, StoredSecret>();
  const deleted = new Map<string, DeletedSecret>();
  const apps = new Map<string, AppRegistration>();
  const managedIdentities = new Set<string>(['system']);
  const tokens = new Map<string, { principal: string; expires: number }>();
  const calls: Record<string, number> = {};
  const principals: string[] = [];
  let denied:
    | { operations: Set<KeyVaultOperation> | 'all'; model: DenyModel; policyCode: string }
    | undefined;
  let throttleLeft = 0;
  let throttleSeconds = 1;
  let failLeft = 0;
  let failStatus = 503;
  let purgeProtection = false;

  const count = (kind: string) => {
    calls[kind] = (calls[kind] ?? 0) + 1;
  };
  let tlsBase = '';
  let httpBase = '';

  const issueToken = (principal: string) => {
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, { principal, expires: nowSeconds() + 3600 });
    return token;
  };

  // ---------------------------------------------------------------- Key Vault
  const vaultBase = (req: IncomingMessage) =>
    (req.socket as { encrypted?: boolean }).encrypted ? tlsBase : httpBase;

  const bundle = (base: string, secret: StoredSecret, version: SecretVersion, withValue: boolean) => ({
    ...(withValue ? { value: version.value } : {}),
    id: `${base}/secrets/${secret.name}/${version.id}`,
    ...(version.contentType ? { contentType: version.contentType } : {}),
    attributes: {
      enabled: version.enabled,
      created: version.created,
      updated: version.updated,
      // DeletionRecoveryLevel: "Recoverable" is soft delete with purge protection.
      recoveryLevel: purgeProtection ? 'Recoverable' : 'Recoverable+Purgeable',
      recoverableDays: 90,
    },
    ...(version.tags ? { tags: version.tags } : {}),
  });

  const item = (base: string, secret: StoredSecret) => {
    const latest = secret.versions[secret.versions.length - 1] as SecretVersion;
    const b = bundle(base, secret, latest, false);
    return { ...b, id: `${base}/secrets/${secret.name}` };
  };

  const deletedBundle = (base: string, d: DeletedSecret) => {
    const latest = d.secret.versions[d.secret.versions.length - 1] as SecretVersion;
    return {
      recoveryId: `${base}/deletedsecrets/${d.secret.name}`,
      deletedDate: d.deletedDate,
      scheduledPurgeDate: d.scheduledPurgeDate,
      ...bundle(base, d.secret, latest, false),
    };
  };

  const notFound = (res: ServerResponse, name: string) =>
    vaultError(
      res,
      404,
      'SecretNotFound',
      `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
    );

  const forbidden = (res: ServerResponse, op: KeyVaultOperation, principal: string) => {
    const action: Record<KeyVaultOperation, string> = {
      get: 'getSecret/action',
      list: 'readMetadata/action',
      set: 'setSecret/action',
      delete: 'delete',
      recover: 'recover/action',
      purge: 'deletedSecrets/delete',
    };
    if (denied?.model === 'access-policy') {
      vaultError(
        res,
        403,
        'Forbidden',
        `The user, group or application 'appid=${principal};oid=${randomUUID()};iss=https://sts.windows.net/${tenantId}/' does not have secrets ${op} permission on key vault 'sesame-emulator;location=westeurope'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`,
        denied.policyCode,
      );
    } else if (denied?.model === 'first-party') {
      vaultError(
        res,
        403,
        'Forbidden',
        `Access denied to first party service.\r\nCaller: appid=${principal};tid=${tenantId}\r\nVault: sesame-emulator;location=westeurope`,
        'AccessDenied',
      );
    } else {
      vaultError(
        res,
        403,
        'Forbidden',
        `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=${principal}\r\nAction: 'Microsoft.KeyVault/vaults/secrets/${action[op]}'\r\nResource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/sesame/providers/microsoft.keyvault/vaults/sesame-emulator/secrets'\r\nAssignment: (not found)\r\n`,
        'ForbiddenByRbac',
      );
    }
  };

  async function handleVault(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const base = vaultBase(req);
    if (!url.searchParams.get('api-version')) {
      count('bad-api-version');
      vaultError(res, 400, 'BadParameter', 'The request URI contains an invalid API version or none.');
      return;
    }
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer ')) {
      count('challenge');
      // The SDK sends the first request without a body and without a token to get this challenge.
      await readBody(req);
      vaultError(res, 401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', undefined, {
        'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${VAULT_RESOURCE}"`,
      });
      return;
    }
    const token = tokens.get(auth.slice('Bearer '.length));
    if (!token || token.expires < nowSeconds()) {
      count('bad-token');
      vaultError(
        res,
        401,
        'Unauthorized',
        '[emulator] the access token was not issued by this emulator or has expired.',
        undefined,
        {
          'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${VAULT_RESOURCE}"`,
        },
      );
      return;
    }
    principals.push(token.principal);
    const injected = await faultPlan.next();
    if (injected === 'denied') {
      await readBody(req);
      vaultError(
        res,
        403,
        'Forbidden',
        `Caller is not authorized to perform action on resource.\r\nCaller: appid=${token.principal}\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC'`,
        'ForbiddenByRbac',
      );
      return;
    }
    if (injected === 'throttled') {
      await readBody(req);
      vaultError(
        res,
        429,
        'Throttled',
        'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
        undefined,
        { 'retry-after': '0' },
      );
      return;
    }
    if (injected === 'unavailable') {
      await readBody(req);
      vaultError(res, 503, 'ServiceUnavailable', 'The service is currently unavailable.');
      return;
    }

    // `/secrets/{name}/{version}`, `/secrets/{name}/` (latest), `/secrets/{name}/versions`, `/deletedsecrets/{name}/recover`.
    const parts = url.pathname.replace(/^\/+/, '').split('/');
    const collection = parts[0];
    const name = parts[1] ? decodeURIComponent(parts[1]) : '';
    const sub = parts[2] ?? '';
    const method = req.method ?? 'GET';

    let op: KeyVaultOperation;
    if (collection === 'secrets' && method === 'GET') op = name && sub !== 'versions' ? 'get' : 'list';
    else if (collection === 'secrets' && method === 'PUT') op = 'set';
    else if (collection === 'secrets' && method === 'DELETE') op = 'delete';
    else if (collection === 'deletedsecrets' && method === 'POST' && sub === 'recover') op = 'recover';
    else if (collection === 'deletedsecrets' && method === 'DELETE') op = 'purge';
    else if (collection === 'deletedsecrets' && method === 'GET') op = name ? 'get' : 'list';
    else {
      vaultError(res, 400, 'BadParameter', `[emulator] unsupported request ${method} ${url.pathname}`);
      return;
    }
    count(op);

    if (throttleLeft > 0) {
      throttleLeft -= 1;
      count('throttled');
      vaultError(
        res,
        429,
        'Throttled',
        '[emulator] Too many requests; retry after the interval in Retry-After.',
        undefined,
        {
          'retry-after': String(throttleSeconds),
        },
      );
      return;
    }
    if (failLeft > 0) {
      failLeft -= 1;
      count('failed');
      vaultError(res, failStatus, 'ServiceUnavailable', '[emulator] The service is temporarily unavailable.');
      return;
    }
    if (denied && (denied.operations === 'all' || denied.operations.has(op))) {
      count('denied');
      forbidden(res, op, token.principal);
      return;
    }
    if (name && !KEY_VAULT_NAME.test(name)) {
      vaultError(
        res,
        400,
        'BadParameter',
        `[emulator] The secret name '${name}' is not valid: use letters, digits and dashes.`,
      );
      return;
    }
    const key = name.toLowerCase();
    const pageOf = <T>(all: T[], path: string) => {
      const skip = Number(url.searchParams.get('$skiptoken') ?? '0');
      const size = Math.min(Number(url.searchParams.get('maxresults') ?? pageSize) || pageSize, pageSize);
      const value = all.slice(skip, skip + size);
      const apiVersion = url.searchParams.get('api-version');
      const more = skip + size < all.length;
      return {
        value,
        nextLink: more
          ? `${base}${path}?api-version=${apiVersion}&$skiptoken=${skip + size}&maxresults=${size}`
          : null,
      };
    };

    if (collection === 'secrets') {
      if (method === 'GET' && !name) {
        const all = [...secrets.values()]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((s) => item(base, s));
        send(res, 200, pageOf(all, '/secrets'));
        return;
      }
      if (method === 'GET' && sub === 'versions') {
        const secret = secrets.get(key);
        if (!secret) return notFound(res, name);
        const all = secret.versions.map((v) => bundle(base, secret, v, false));
        send(res, 200, pageOf(all, `/secrets/${secret.name}/versions`));
        return;
      }
      if (method === 'GET') {
        const secret = secrets.get(key);
        if (!secret) return notFound(res, name);
        const version = sub
          ? secret.versions.find((v) => v.id === sub)
          : secret.versions[secret.versions.length - 1];
        if (!version) return notFound(res, `${name}/${sub}`);
        if (!version.enabled) {
          vaultError(
            res,
            403,
            'Forbidden',
            'Operation get is not allowed on a disabled secret.',
            'SecretDisabled',
          );
          return;
        }
        send(res, 200, bundle(base, secret, version, true));
        return;
      }
      if (method === 'PUT') {
        const body = JSON.parse((await readBody(req)) || '{}') as {
          value?: unknown;
          tags?: Record<string, string>;
          contentType?: string;
          attributes?: { enabled?: boolean };
        };
        if (typeof body.value !== 'string') {
          vaultError(res, 400, 'BadParameter', '[emulator] value is required.');
          return;
        }
        if (Buffer.byteLength(body.value) > MAX_VALUE_BYTES) {
          // The limit is documented, the service's wording for it is not: BadParameter, own text.
          vaultError(res, 400, 'BadParameter', '[emulator] The secret value exceeds 25 KB.');
          return;
        }
        if (deleted.has(key)) {
          vaultError(
            res,
            409,
            'Conflict',
            `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
            'ObjectIsDeletedButRecoverable',
          );
          return;
        }
        const secret = secrets.get(key) ?? { name, versions: [] };
        const now = nowSeconds();
        const version: SecretVersion = {
          id: randomBytes(16).toString('hex'),
          value: body.value,
          enabled: body.attributes?.enabled ?? true,
          created: now,
          updated: now,
          contentType: body.contentType,
          tags: body.tags,
        };
        secret.versions.push(version);
        secrets.set(key, secret);
        send(res, 200, bundle(base, secret, version, true));
        return;
      }
      if (method === 'DELETE') {
        const secret = secrets.get(key);
        if (!secret) return notFound(res, name);
        secrets.delete(key);
        const now = nowSeconds();
        const entry = { secret, deletedDate: now, scheduledPurgeDate: now + 90 * 86_400 };
        deleted.set(key, entry);
        send(res, 200, deletedBundle(base, entry));
        return;
      }
    }
    if (collection === 'deletedsecrets') {
      if (method === 'GET' && !name) {
        const all = [...deleted.values()]
          .sort((a, b) => a.secret.name.localeCompare(b.secret.name))
          .map((d) => ({ ...deletedBundle(base, d), id: `${base}/secrets/${d.secret.name}` }));
        send(res, 200, pageOf(all, '/deletedsecrets'));
        return;
      }
      const entry = deleted.get(key);
      if (!entry) {
        vaultError(res, 404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
        return;
      }
      if (method === 'GET') {
        send(res, 200, deletedBundle(base, entry));
        return;
      }
      if (method === 'POST') {
        deleted.delete(key);
        secrets.set(key, entry.secret);
        const latest = entry.secret.versions[entry.secret.versions.length - 1] as SecretVersion;
        send(res, 200, bundle(base, entry.secret, latest, false));
        return;
      }
      if (method === 'DELETE') {
        if (purgeProtection) {
          // The recorded answer of a purge in a vault with purge protection (no inner error).
          vaultError(
            res,
            403,
            'Forbidden',
            'Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.\r\nVault: sesame-emulator;location=westeurope',
          );
          return;
        }
        deleted.delete(key);
        send(res, 204, undefined);
        return;
      }
    }
    vaultError(res, 400, 'BadParameter', `[emulator] unsupported request ${method} ${url.pathname}`);
  }

  // ---------------------------------------------------------------- Entra ID
  const aadError = (
    res: ServerResponse,
    status: number,
    error: string,
    code: number,
    description: string,
  ) => {
    const traceId = randomUUID();
    const correlationId = randomUUID();
    const timestamp = new Date()
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
    send(res, status, {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    });
  };

  const verifyAssertion = (assertion: string, app: AppRegistration, audience: string): string | undefined => {
    if (!app.certificate) return 'no certificate is registered for this application';
    const [h, p, s] = assertion.split('.');
    if (!h || !p || !s) return 'the client assertion is not a JWT';
    const header = JSON.parse(base64url(h).toString('utf8')) as {
      alg?: string;
      x5t?: string;
      'x5t#S256'?: string;
    };
    const payload = JSON.parse(base64url(p).toString('utf8')) as {
      aud?: string;
      iss?: string;
      sub?: string;
      exp?: number;
    };
    const der = app.certificate.raw;
    const thumbprintOk =
      header.x5t === createHash('sha1').update(der).digest('base64url') ||
      header['x5t#S256'] === createHash('sha256').update(der).digest('base64url');
    if (!thumbprintOk) return 'the assertion names a certificate that is not registered';
    const publicKey = createPublicKey(app.certificate.publicKey.export({ type: 'spki', format: 'pem' }));
    const data = Buffer.from(`${h}.${p}`);
    const signature = base64url(s);
    const ok =
      header.alg === 'PS256'
        ? verify(
            'sha256',
            data,
            { key: publicKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 },
            signature,
          )
        : header.alg === 'RS256' && verify('sha256', data, publicKey, signature);
    if (!ok) return 'the assertion signature does not verify';
    if (payload.iss !== app.clientId || payload.sub !== app.clientId)
      return 'iss and sub must be the client id';
    if (payload.aud !== audience) return `aud must be ${audience}`;
    if (!payload.exp || payload.exp < nowSeconds()) return 'the assertion has expired';
    return undefined;
  };

  async function handleEntra(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const openid = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
    if (openid && req.method === 'GET') {
      count('openid');
      const tenant = openid[1] as string;
      send(res, 200, {
        token_endpoint: `${tlsBase}/${tenant}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: [
          'client_secret_post',
          'private_key_jwt',
          'client_secret_basic',
        ],
        jwks_uri: `${tlsBase}/${tenant}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${tlsBase}/${tenant}/v2.0`,
        request_uri_parameter_supported: false,
        userinfo_endpoint: `${tlsBase}/oidc/userinfo`,
        authorization_endpoint: `${tlsBase}/${tenant}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${tlsBase}/${tenant}/oauth2/v2.0/devicecode`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: `${tlsBase}/${tenant}/oauth2/v2.0/logout`,
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid'],
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
        cloud_graph_host_name: 'graph.windows.net',
        msgraph_host: 'graph.microsoft.com',
      });
      return true;
    }
    const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
    if (token && req.method === 'POST') {
      count('token');
      const form = new URLSearchParams(await readBody(req));
      const tenant = token[1] as string;
      const clientId = form.get('client_id') ?? '';
      if (tenant !== tenantId) {
        aadError(
          res,
          400,
          'invalid_request',
          90002,
          `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        );
        return true;
      }
      const app = apps.get(clientId);
      if (!app) {
        aadError(
          res,
          400,
          'unauthorized_client',
          700016,
          `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
        );
        return true;
      }
      if (form.get('grant_type') !== 'client_credentials') {
        aadError(
          res,
          400,
          'unsupported_grant_type',
          70003,
          '[emulator] only the client_credentials grant is emulated.',
        );
        return true;
      }
      const scope = form.get('scope') ?? '';
      if (!scope.split(' ').includes(VAULT_SCOPE)) {
        aadError(res, 400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid.`);
        return true;
      }
      const assertion = form.get('client_assertion');
      if (assertion) {
        const problem = verifyAssertion(assertion, app, `${tlsBase}/${tenant}/oauth2/v2.0/token`);
        if (problem) {
          aadError(
            res,
            401,
            'invalid_client',
            700027,
            `Client assertion failed signature validation. [emulator] ${problem}`,
          );
          return true;
        }
      } else {
        const secret = form.get('client_secret');
        if (!app.secret || secret !== app.secret) {
          aadError(
            res,
            401,
            'invalid_client',
            7000215,
            `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
          );
          return true;
        }
        if (app.secretExpired) {
          aadError(
            res,
            401,
            'invalid_client',
            7000222,
            `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
          );
          return true;
        }
      }
      send(res, 200, {
        token_type: 'Bearer',
        expires_in: 3599,
        ext_expires_in: 3599,
        access_token: issueToken(clientId),
      });
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- Managed identity (App Service)
  function handleMsi(req: IncomingMessage, res: ServerResponse, url: URL): void {
    count('msi');
    if (url.pathname !== '/msi/token' || req.method !== 'GET') {
      send(res, 404, { statusCode: 404, message: '[emulator] not found' });
      return;
    }
    if (req.headers['x-identity-header'] !== identityHeader) {
      send(res, 401, { statusCode: 401, message: '[emulator] missing or wrong X-IDENTITY-HEADER' });
      return;
    }
    if (url.searchParams.get('api-version') !== '2019-08-01') {
      send(res, 400, { statusCode: 400, message: '[emulator] api-version 2019-08-01 is required' });
      return;
    }
    const resource = url.searchParams.get('resource');
    if (resource !== VAULT_RESOURCE) {
      send(res, 400, { statusCode: 400, message: `[emulator] unexpected resource ${resource}` });
      return;
    }
    const clientId = url.searchParams.get('client_id') ?? 'system';
    if (!managedIdentities.has(clientId)) {
      send(res, 400, {
        statusCode: 400,
        message:
          'No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.',
        correlationId: randomUUID(),
      });
      return;
    }
    send(res, 200, {
      access_token: issueToken(`msi:${clientId}`),
      expires_on: String(nowSeconds() + 3600),
      resource,
      token_type: 'Bearer',
      client_id: clientId === 'system' ? '00000000-0000-0000-0000-00000000aaaa' : clientId,
    });
  }

  const dispatch = (tls: boolean) => async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const url = new URL(req.url ?? '/', 'http://emulator');
      if (tls && (await handleEntra(req, res, url))) return;
      if (url.pathname.startsWith('/secrets') || url.pathname.startsWith('/deletedsecrets')) {
        await handleVault(req, res, url);
        return;
      }
      vaultError(res, 404, 'NotFound', `[emulator] no route for ${req.method} ${url.pathname}`);
    } catch (err) {
      vaultError(res, 500, 'InternalError', `[emulator] ${(err as Error).message}`);
    }
  };

  const tlsServer = createHttpsServer({ cert, key }, (req, res) => void dispatch(true)(req, res));
  const httpServer = createHttpServer((req, res) => void dispatch(false)(req, res));
  const msiServer = createHttpServer((req, res) =>
    handleMsi(req, res, new URL(req.url ?? '/', 'http://emulator')),
  );
  const listen = (server: Server) =>
    new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
    );
  const [tlsPort, httpPort, msiPort] = await Promise.all([
    listen(tlsServer),
    listen(httpServer),
    listen(msiServer),
  ]);
  tlsBase = `https://127.0.0.1:${tlsPort}`;
  httpBase = `http://127.0.0.1:${httpPort}`;

  const latestOf = (name: string) => {
    const secret = secrets.get(name.toLowerCase());
    if (!secret) throw new Error(`[emulator] no secret ${name}`);
    return secret;
  };

  const controls: AzureEmulatorControls = {
    tenantId,
    registerApp(app) {
      apps.set(app.clientId, {
        clientId: app.clientId,
        secret: app.secret,
        secretExpired: false,
        certificate: app.certificatePem ? new X509Certificate(app.certificatePem) : undefined,
      });
    },
    registerManagedIdentity(clientId) {
      managedIdentities.add(clientId);
    },
    deny(opts = {}) {
      denied = {
        operations: opts.operations ? new Set(opts.operations) : 'all',
        model: opts.model ?? 'rbac',
        policyCode: opts.policyCode ?? 'AccessDenied',
      };
    },
    allow() {
      denied = undefined;
    },
    throttle(times, retryAfterSeconds = 1) {
      throttleLeft = times;
      throttleSeconds = retryAfterSeconds;
    },
    fail(times, status = 503) {
      failLeft = times;
      failStatus = status;
    },
    protectFromPurge(on) {
      purgeProtection = on;
    },
    disable(name, version) {
      const secret = latestOf(name);
      const target = version
        ? secret.versions.find((v) => v.id === version)
        : secret.versions[secret.versions.length - 1];
      if (!target) throw new Error(`[emulator] no version ${version} of ${name}`);
      target.enabled = false;
    },
    expireClientSecret(clientId) {
      const app = apps.get(clientId);
      if (!app) throw new Error(`[emulator] no app ${clientId}`);
      app.secretExpired = true;
    },
    seed(name, value, opts = {}) {
      if (!KEY_VAULT_NAME.test(name)) throw new Error(`[emulator] ${name} is not a Key Vault name`);
      const keyName = name.toLowerCase();
      const secret = secrets.get(keyName) ?? { name, versions: [] };
      const now = nowSeconds();
      const id = randomBytes(16).toString('hex');
      secret.versions.push({ id, value, enabled: true, created: now, updated: now, tags: opts.tags });
      secrets.set(keyName, secret);
      return id;
    },
    names: () => [...secrets.values()].map((s) => s.name),
    deletedNames: () => [...deleted.values()].map((d) => d.secret.name),
    calls,
    principals,
    reset() {
      denied = undefined;
      purgeProtection = false;
      throttleLeft = 0;
      failLeft = 0;
      for (const k of Object.keys(calls)) delete calls[k];
      principals.length = 0;
    },
  };

  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });

  return {
    url: tlsBase,
    httpUrl: httpBase,
    authorityHost: tlsBase,
    identityEndpoint: `http://127.0.0.1:${msiPort}/msi/token`,
    identityHeader,
    ca: cert,
    controls,
    faults: faultPlan,
    stop: async () => {
      await Promise.all([close(tlsServer), close(httpServer), close(msiServer)]);
    },
  };
}

/**
 * Azure SDK errors → Sesame errors. Messages name the store, the Sesame name, the Key Vault name
 * and what to do; they never carry a service message verbatim (those can hold trace ids and
 * principal ids, never values, but they are noise) and never the request (a PUT body is a value).
 * The original error is replaced by a sanitized cause holding only its name, status and code.
 */
import {
  AccessDeniedError,
  ConfigError,
  type SesameError,
  SecretNotFoundError,
  SecretStateError,
  StoreUnavailableError,
} from '../../errors.js';
import { NETWORK_ERROR_CODES } from '../core/network.js';

/** What the adapter was doing, to choose the permission to name. */
export type AzureOperation = 'get' | 'list' | 'set' | 'delete' | 'recover' | 'purge' | 'versions' | 'token';

export interface AzureErrorContext {
  store: string;
  vaultUrl: string;
  operation: AzureOperation;
  /** Sesame name and its Key Vault spelling, when the operation is about one secret. */
  name?: string | undefined;
  kvName?: string | undefined;
  version?: string | undefined;
  /** Auth method and ids (never the secret), to make credential errors actionable. */
  auth: { method: string; tenantId?: string | undefined; clientId?: string | undefined };
}

interface RestErrorLike {
  name: string;
  message: string;
  statusCode?: number;
  code?: string;
  details?: unknown;
  response?: { headers: { get(name: string): string | undefined } };
}

function asRestError(err: unknown): RestErrorLike | undefined {
  if (err instanceof Error && err.name === 'RestError') return err as RestErrorLike;
  return undefined;
}

/** `error.innerError.code` from a Key Vault error body (`ObjectIsDeletedButRecoverable`, `ForbiddenByRbac`…). */
export function innerErrorCode(err: unknown): string | undefined {
  const details = asRestError(err)?.details as
    | { error?: { innerError?: { code?: unknown }; innererror?: { code?: unknown } } }
    | undefined;
  const code = details?.error?.innerError?.code ?? details?.error?.innererror?.code;
  return typeof code === 'string' ? code : undefined;
}

export function statusOf(err: unknown): number | undefined {
  return asRestError(err)?.statusCode;
}

/** A stand-in cause that keeps what helps debugging and nothing that could hold a credential or value. */
export function sanitizedCause(err: unknown): Error {
  const rest = asRestError(err);
  if (rest) {
    const parts = [
      rest.statusCode !== undefined ? `HTTP ${rest.statusCode}` : undefined,
      rest.code,
      innerErrorCode(err),
    ].filter(Boolean);
    const cause = new Error(`RestError ${parts.join(' ')}`.trim());
    cause.name = 'RestError';
    return cause;
  }
  const name = err instanceof Error ? err.name : typeof err;
  const cause = new Error(`${name}${aadstsCode(err) ? ` AADSTS${aadstsCode(err)}` : ''}`);
  cause.name = name;
  return cause;
}


/**
 * Retry policy input: a delay in ms for 429 with `Retry-After`, `true` for transient failures,
 * `false` for everything else (not found, denied, bad credentials…).
 */
export function azureRetryVerdict(err: unknown): boolean | number {
  const rest = asRestError(err);
  if (!rest) return false;
  if (rest.statusCode === 429) {
    const header = rest.response?.headers.get('retry-after');
    const seconds = header === undefined ? Number.NaN : Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = header ? Date.parse(header) : Number.NaN;
    return Number.isFinite(date) ? Math.max(0, date - Date.now()) : true;
  }
  if (rest.statusCode !== undefined && [500, 502, 503, 504].includes(rest.statusCode)) return true;
  if (rest.statusCode === undefined && rest.code && NETWORK_ERROR_CODES.has(rest.code)) return true;
  return false;
}

function aadstsCode(err: unknown): string | undefined {
  const message = err instanceof Error ? err.message : '';
  return /AADSTS(\d{4,7})/.exec(message)?.[1];
}

const IDENTITY_ERRORS = new Set([
  'AuthenticationError',
  'AuthenticationRequiredError',
  'CredentialUnavailableError',
  'AggregateAuthenticationError',
]);

function where(ctx: AzureErrorContext): string {
  if (!ctx.name) return `Key Vault ${ctx.vaultUrl}`;
  const kv = ctx.kvName && ctx.kvName !== ctx.name ? ` (Key Vault name "${ctx.kvName}")` : '';
  const version = ctx.version ? ` version ${ctx.version}` : '';
  return `"${ctx.name}"${version}${kv} in Key Vault ${ctx.vaultUrl}`;
}

/** Which data-plane permission an operation needs, for RBAC and for access policies. */
export function permissionFor(operation: AzureOperation): { role: string; policy: string } {
  switch (operation) {
    case 'get':
    case 'versions':
      return { role: 'Key Vault Secrets User', policy: operation === 'get' ? 'Get' : 'List' };
    case 'list':
      return { role: 'Key Vault Secrets User', policy: 'List' };
    case 'set':
      return { role: 'Key Vault Secrets Officer', policy: 'Set' };
    case 'delete':
      return { role: 'Key Vault Secrets Officer', policy: 'Delete' };
    case 'recover':
      return { role: 'Key Vault Secrets Officer', policy: 'Recover' };
    case 'purge':
      return { role: 'Key Vault Secrets Officer', policy: 'Purge' };
    case 'token':
      return { role: 'Key Vault Secrets User', policy: 'Get' };
  }
}

function credentialError(err: Error, ctx: AzureErrorContext): SesameError {
  const tag = `[${ctx.store}]`;
  const code = aadstsCode(err);
  const app = ctx.auth.clientId ? `app registration ${ctx.auth.clientId}` : 'the app registration';
  const cause = sanitizedCause(err);
  switch (code) {
    case '7000222':
      return new AccessDeniedError(
        `${tag} the client secret of ${app} has expired (AADSTS7000222): create a new one in Microsoft Entra ID → App registrations → ${ctx.auth.clientId ?? 'your app'} → Certificates & secrets, then update auth.clientSecret`,
        {},
        { cause },
      );
    case '7000215':
      return new AccessDeniedError(
        `${tag} Microsoft Entra ID rejected the client secret of ${app} (AADSTS7000215): use the secret's Value, not its Secret ID, from App registrations → Certificates & secrets`,
        {},
        { cause },
      );
    case '700016':
      return new AccessDeniedError(
        `${tag} ${app} does not exist in tenant ${ctx.auth.tenantId ?? '(default)'} (AADSTS700016): check auth.clientId and auth.tenantId`,
        {},
        { cause },
      );
    case '700027':
      return new AccessDeniedError(
        `${tag} Microsoft Entra ID rejected the certificate assertion of ${app} (AADSTS700027): upload this certificate's public part under App registrations → Certificates & secrets → Certificates`,
        {},
        { cause },
      );
    case '90002':
      return new AccessDeniedError(
        `${tag} tenant ${ctx.auth.tenantId ?? ''} was not found (AADSTS90002): check auth.tenantId`,
        {},
        { cause },
      );
    default:
      break;
  }
  if (err.name === 'CredentialUnavailableError') {
    const fix =
      ctx.auth.method === 'managed-identity'
        ? 'no managed identity is available here: assign one to the VM/App Service/container, or choose another auth method'
        : 'no Azure credential is available: set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, assign a managed identity, or sign in with `az login`';
    return new AccessDeniedError(`${tag} could not get a token for Key Vault: ${fix}`, {}, { cause });
  }
  return new AccessDeniedError(
    `${tag} could not get a token from Microsoft Entra ID${code ? ` (AADSTS${code})` : ''} with auth method ${ctx.auth.method}: check the credentials and that ${app} exists in the tenant`,
    {},
    { cause },
  );
}

/** Map anything the SDKs throw to the Sesame error that says what happened and what to do. */
export function mapAzureError(err: unknown, ctx: AzureErrorContext, attempts = 1): SesameError {
  const tag = `[${ctx.store}]`;
  if (err instanceof Error && IDENTITY_ERRORS.has(err.name)) return credentialError(err, ctx);
  const rest = asRestError(err);
  const cause = sanitizedCause(err);
  if (!rest) {
    const message = err instanceof Error ? err.message : String(err);
    if (/does not match the requested domain/.test(message)) {
      return new ConfigError(
        `${tag} Key Vault's challenge names resource vault.azure.net but the vault URL is ${ctx.vaultUrl}`,
        {
          hint: 'for an emulator or a private endpoint set disableChallengeResourceVerification: true',
          cause,
        },
      );
    }
    if (/AADSTS\d+/.test(message)) return credentialError(err as Error, ctx);
    return new StoreUnavailableError(
      `${tag} request to Key Vault ${ctx.vaultUrl} failed (${err instanceof Error ? err.name : 'error'})`,
      {},
      { cause },
    );
  }
  const status = rest.statusCode;
  const inner = innerErrorCode(err);
  if (status === 404) {
    const what =
      ctx.operation === 'recover' || ctx.operation === 'purge' ? 'no soft-deleted secret' : 'no secret';
    return new SecretNotFoundError(`${tag} ${what} ${where(ctx)}`, {}, { cause });
  }
  if (status === 403 && (inner === 'SecretDisabled' || /disabled secret/i.test(rest.message))) {
    return new SecretStateError(
      `${tag} ${where(ctx)} is disabled: enable it (az keyvault secret set-attributes --enabled true) or pin an enabled version with ?version=`,
      {},
      { cause },
    );
  }
  if (status === 403 && (inner === 'ForbiddenByFirewall' || inner === 'ForbiddenByConnection')) {
    return new AccessDeniedError(
      `${tag} Key Vault ${ctx.vaultUrl} refused the connection by its network rules (${inner}): allow this host's address under Networking, or reach the vault through its private endpoint`,
      {},
      { cause },
    );
  }
  if (status === 403) {
    const { role, policy } = permissionFor(ctx.operation);
    const model =
      inner === 'ForbiddenByRbac'
        ? `assign the "${role}" role on the vault (Azure RBAC) to the identity`
        : inner === 'AccessDenied'
          ? `add the secret permission "${policy}" to the identity's access policy`
          : `assign the "${role}" role on the vault (Azure RBAC), or add the secret permission "${policy}" to the identity's access policy`;
    const verbs: Record<AzureOperation, string> = {
      get: 'read',
      list: 'list',
      set: 'write',
      delete: 'delete',
      recover: 'recover',
      purge: 'purge',
      versions: 'list the versions of',
      token: 'read',
    };
    const target = ctx.operation === 'list' ? `the secrets of ${ctx.vaultUrl}` : where(ctx);
    return new AccessDeniedError(
      `${tag} Key Vault refused to ${verbs[ctx.operation]} ${target}: ${model}`,
      {},
      { cause },
    );
  }
  if (status === 401) {
    return new AccessDeniedError(
      `${tag} Key Vault ${ctx.vaultUrl} rejected the access token: the identity must belong to the vault's tenant`,
      {},
      { cause },
    );
  }
  if (status === 409) {
    const state =
      inner === 'ObjectIsBeingDeleted'
        ? 'is being deleted; try again in a few seconds'
        : inner === 'ObjectIsDeletedButRecoverable'
          ? 'is soft-deleted: restore it or purge it first'
          : `conflicts with the vault's state (${inner ?? rest.code ?? 'Conflict'})`;
    return new SecretStateError(`${tag} ${where(ctx)} ${state}`, {}, { cause });
  }
  if (status === 429) {
    return new StoreUnavailableError(
      `${tag} Key Vault ${ctx.vaultUrl} is throttling requests (HTTP 429) after ${attempts} attempt${attempts === 1 ? '' : 's'}: spread reads over time or across vaults`,
      {},
      { cause },
    );
  }
  if (status !== undefined && status >= 500) {
    return new StoreUnavailableError(
      `${tag} Key Vault ${ctx.vaultUrl} is unavailable (HTTP ${status}) after ${attempts} attempt${attempts === 1 ? '' : 's'}`,
      {},
      { cause },
    );
  }
  if (status === undefined) {
    return new StoreUnavailableError(
      `${tag} cannot reach Key Vault ${ctx.vaultUrl} (${rest.code ?? 'network error'})`,
      {},
      { cause },
    );
  }
  return new StoreUnavailableError(
    `${tag} Key Vault ${ctx.vaultUrl} answered HTTP ${status}${rest.code ? ` ${rest.code}` : ''} to ${ctx.operation} ${where(ctx)}`,
    {},
    { cause },
  );
}

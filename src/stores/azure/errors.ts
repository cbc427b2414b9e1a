/**
 * What an Azure SDK error means. Messages name the store, the Sesame name, the Key Vault name
 * and what to do; they never carry a service message verbatim (those can hold trace ids and
 * principal ids, never values, but they are noise) and never the request (a PUT body is a
 * value). The core keeps a summary (status, code, inner code) as the cause, never the error.
 */
import type { Classification } from '../core/index.js';
import { NETWORK_ERROR_CODES } from '../core/network.js';

/** What the adapter was doing, to choose the permission to name. */
export type AzureOperation = 'get' | 'list' | 'set' | 'delete' | 'recover' | 'purge' | 'versions' | 'token';

export interface AzureErrorContext {
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
  return err instanceof Error && err.name === 'RestError' ? (err as RestErrorLike) : undefined;
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

const IDENTITY_ERRORS =
  /^(AuthenticationError|AuthenticationRequiredError|CredentialUnavailableError|AggregateAuthenticationError)$/;
const CREDENTIALS_FIX = 'fix the credentials of the configured auth method (see the detail)';

function where(ctx: AzureErrorContext): string {
  if (!ctx.name) return `Key Vault ${ctx.vaultUrl}`;
  const kv = ctx.kvName && ctx.kvName !== ctx.name ? ` (Key Vault name "${ctx.kvName}")` : '';
  return `"${ctx.name}"${ctx.version ? ` version ${ctx.version}` : ''}${kv} in Key Vault ${ctx.vaultUrl}`;
}

/** Which data-plane permission an operation needs, for RBAC and for access policies. */
export function permissionFor(operation: AzureOperation): { role: string; policy: string } {
  const officer = 'Key Vault Secrets Officer';
  const user = 'Key Vault Secrets User';
  const table: Record<AzureOperation, [string, string]> = {
    get: [user, 'Get'],
    token: [user, 'Get'],
    versions: [user, 'List'],
    list: [user, 'List'],
    set: [officer, 'Set'],
    delete: [officer, 'Delete'],
    recover: [officer, 'Recover'],
    purge: [officer, 'Purge'],
  };
  const [role, policy] = table[operation];
  return { role, policy };
}

/** Microsoft Entra ID sign-in failures, by their AADSTS code. */
function credentialFailure(err: Error, ctx: AzureErrorContext, summary: string): Classification {
  const code = /AADSTS(\d{4,7})/.exec(err.message)?.[1];
  const app = ctx.auth.clientId ? `app registration ${ctx.auth.clientId}` : 'the app registration';
  const denied = (message: string, fix = CREDENTIALS_FIX): Classification => ({
    kind: 'denied',
    message,
    fix,
    summary,
  });
  const secrets = `App registrations → ${ctx.auth.clientId ?? 'your app'} → Certificates & secrets`;
  switch (code) {
    case '7000222':
      return denied(
        `the client secret of ${app} has expired (AADSTS7000222): create a new one in Microsoft Entra ID → ${secrets}, then update auth.clientSecret`,
      );
    case '7000215':
      return denied(
        `Microsoft Entra ID rejected the client secret of ${app} (AADSTS7000215): use the secret's Value, not its Secret ID, from ${secrets}`,
      );
    case '700016':
      return denied(
        `${app} does not exist in tenant ${ctx.auth.tenantId ?? '(default)'} (AADSTS700016): check auth.clientId and auth.tenantId`,
      );
    case '700027':
      return denied(
        `Microsoft Entra ID rejected the certificate assertion of ${app} (AADSTS700027): upload this certificate's public part under ${secrets} → Certificates`,
      );
    case '90002':
      return denied(`tenant ${ctx.auth.tenantId ?? ''} was not found (AADSTS90002): check auth.tenantId`);
    default:
      break;
  }
  if (err.name === 'CredentialUnavailableError') {
    const fix =
      ctx.auth.method === 'managed-identity'
        ? 'no managed identity is available here: assign one to the VM/App Service/container, or choose another auth method'
        : 'no Azure credential is available: set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, assign a managed identity, or sign in with `az login`';
    return denied(`could not get a token for Key Vault: ${fix}`, fix);
  }
  return denied(
    `could not get a token from Microsoft Entra ID${code ? ` (AADSTS${code})` : ''} with auth method ${ctx.auth.method}: check the credentials and that ${app} exists in the tenant`,
  );
}

/** Classify anything the SDKs throw. */
export function classifyAzure(err: unknown, ctx: AzureErrorContext): Classification {
  const rest = asRestError(err);
  const inner = innerErrorCode(err);
  const summary = rest
    ? ['RestError', rest.statusCode !== undefined ? `HTTP ${rest.statusCode}` : undefined, rest.code, inner]
        .filter(Boolean)
        .join(' ')
    : err instanceof Error
      ? err.name
      : typeof err;
  if (err instanceof Error && IDENTITY_ERRORS.test(err.name)) return credentialFailure(err, ctx, summary);
  if (!rest) {
    const message = err instanceof Error ? err.message : String(err);
    if (/does not match the requested domain/.test(message)) {
      return {
        kind: 'config',
        message: `Key Vault's challenge names resource vault.azure.net but the vault URL is ${ctx.vaultUrl}`,
        fix: 'for an emulator or a private endpoint set disableChallengeResourceVerification: true',
        summary,
      };
    }
    if (/AADSTS\d+/.test(message)) return credentialFailure(err as Error, ctx, summary);
    return {
      kind: 'unavailable',
      message: `request to Key Vault ${ctx.vaultUrl} failed (${summary})`,
      retry: false,
      summary,
    };
  }
  const status = rest.statusCode;
  const reachable = 'check that the vault URL is right and reachable from this host';
  if (status === 404) {
    const what =
      ctx.operation === 'recover' || ctx.operation === 'purge' ? 'no soft-deleted secret' : 'no secret';
    return {
      kind: 'not_found',
      message: `${what} ${where(ctx)}`,
      fix: 'create the secret, or check the name and the store prefix',
      summary,
    };
  }
  if (status === 403 && (inner === 'SecretDisabled' || /disabled secret/i.test(rest.message))) {
    const fix =
      'enable it (az keyvault secret set-attributes --enabled true) or pin an enabled version with ?version=';
    return { kind: 'conflict', message: `${where(ctx)} is disabled: ${fix}`, fix, summary };
  }
  if (status === 403 && (inner === 'ForbiddenByFirewall' || inner === 'ForbiddenByConnection')) {
    const fix = "allow this host's address under Networking, or reach the vault through its private endpoint";
    return {
      kind: 'denied',
      message: `Key Vault ${ctx.vaultUrl} refused the connection by its network rules (${inner}): ${fix}`,
      fix,
      summary,
    };
  }
  if (status === 403) {
    const { role, policy } = permissionFor(ctx.operation);
    const fix =
      inner === 'ForbiddenByRbac'
        ? `assign the "${role}" role on the vault (Azure RBAC) to the identity`
        : inner === 'AccessDenied'
          ? `add the secret permission "${policy}" to the identity's access policy`
          : `assign the "${role}" role on the vault (Azure RBAC), or add the secret permission "${policy}" to the identity's access policy`;
    const verb =
      {
        list: 'list',
        set: 'write',
        delete: 'delete',
        recover: 'recover',
        purge: 'purge',
        versions: 'list the versions of',
      }[ctx.operation as string] ?? 'read';
    const target = ctx.operation === 'list' ? `the secrets of ${ctx.vaultUrl}` : where(ctx);
    return { kind: 'denied', message: `Key Vault refused to ${verb} ${target}: ${fix}`, fix, summary };
  }
  if (status === 401) {
    const fix = "the identity must belong to the vault's tenant";
    return {
      kind: 'denied',
      message: `Key Vault ${ctx.vaultUrl} rejected the access token: ${fix}`,
      fix,
      summary,
    };
  }
  if (status === 409) {
    const state =
      inner === 'ObjectIsBeingDeleted'
        ? 'is being deleted; try again in a few seconds'
        : inner === 'ObjectIsDeletedButRecoverable'
          ? 'is soft-deleted: restore it or purge it first'
          : `conflicts with the vault's state (${inner ?? rest.code ?? 'Conflict'})`;
    return { kind: 'conflict', message: `${where(ctx)} ${state}`, summary };
  }
  if (status === 429) {
    const header = rest.response?.headers.get('retry-after');
    const seconds = header === undefined ? Number.NaN : Number(header);
    const date = header ? Date.parse(header) : Number.NaN;
    const retryAfterMs =
      Number.isFinite(seconds) && seconds >= 0
        ? seconds * 1000
        : Number.isFinite(date)
          ? Math.max(0, date - Date.now())
          : undefined;
    const fix = 'spread reads over time or across vaults';
    return {
      kind: 'throttled',
      message: `Key Vault ${ctx.vaultUrl} is throttling requests (HTTP 429): ${fix}`,
      fix,
      retryAfterMs,
      summary,
    };
  }
  if (status !== undefined && status >= 500) {
    return {
      kind: 'unavailable',
      message: `Key Vault ${ctx.vaultUrl} is unavailable (HTTP ${status})`,
      fix: reachable,
      retry: [500, 502, 503, 504].includes(status),
      summary,
    };
  }
  if (status === undefined) {
    const network = rest.code !== undefined && NETWORK_ERROR_CODES.has(rest.code);
    return {
      kind: 'unavailable',
      message: `cannot reach Key Vault ${ctx.vaultUrl} (${rest.code ?? 'network error'})`,
      fix: reachable,
      retry: network,
      summary,
    };
  }
  return {
    kind: 'unavailable',
    message: `Key Vault ${ctx.vaultUrl} answered HTTP ${status}${rest.code ? ` ${rest.code}` : ''} to ${ctx.operation} ${where(ctx)}`,
    fix: reachable,
    retry: false,
    summary,
  };
}

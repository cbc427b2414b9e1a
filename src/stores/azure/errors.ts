/**
 * What an Azure SDK error means. Messages name the store, the Sesame name, the Key Vault name
 * and what to do; they never carry a service message verbatim (those can hold trace ids and
 * principal ids, never values, but they are noise) and never the request (a PUT body is a
 * value). The core keeps a summary (status, code, inner code) as the cause, never the error.
 */
import {
  type Classification,
  classifyStatus,
  type NotFoundAsked,
  networkCode,
  notFoundFix,
  retryAfterMs,
  type StatusRules,
  type StoreEndpoint,
  secretSubject,
  withFix,
} from '../core/index.js';

const USER = 'Key Vault Secrets User';
const OFFICER = 'Key Vault Secrets Officer';

/** What each operation is called in messages, and the data-plane permission it needs (RBAC role, access policy). */
const OPERATIONS = {
  get: { verb: 'read', role: USER, policy: 'Get' },
  token: { verb: 'read', role: USER, policy: 'Get' },
  versions: { verb: 'list the versions of', role: USER, policy: 'List' },
  list: { verb: 'list', role: USER, policy: 'List' },
  set: { verb: 'write', role: OFFICER, policy: 'Set' },
  delete: { verb: 'delete', role: OFFICER, policy: 'Delete' },
  recover: { verb: 'recover', role: OFFICER, policy: 'Recover' },
  purge: { verb: 'purge', role: OFFICER, policy: 'Purge' },
} as const;

/** What the adapter was doing, to choose the permission to name. */
export type AzureOperation = keyof typeof OPERATIONS;

export interface AzureErrorContext {
  vaultUrl: string;
  operation: AzureOperation;
  /** Sesame name and its Key Vault spelling, when the operation is about one secret. */
  name?: string | undefined;
  id?: string | undefined;
  version?: string | undefined;
  /** The size in bytes of the value a write sends (never the value). */
  bytes?: number | undefined;
  /** Auth method and ids, to make credential errors actionable (only these are read: never a secret). */
  auth: { method: string; tenantId?: string | undefined; clientId?: string | undefined };
}

/** What is read of `@azure/core-rest-pipeline`'s RestError (the SDK is not loaded to classify). */
interface RestError extends Error {
  statusCode?: number;
  code?: string;
  details?: { error?: { innerError?: { code?: unknown }; innererror?: { code?: unknown } } };
  response?: { headers: { get(name: string): string | undefined } };
}

function asRestError(err: unknown): RestError | undefined {
  return err instanceof Error && err.name === 'RestError' ? err : undefined;
}

/** `error.innerError.code` from a Key Vault error body (`ObjectIsDeletedButRecoverable`, `ForbiddenByRbac`…). */
function innerErrorCode(rest: RestError | undefined): string | undefined {
  const code = rest?.details?.error?.innerError?.code ?? rest?.details?.error?.innererror?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The name is held by a soft-deleted secret (409 ObjectIsDeletedButRecoverable): recover it or purge it. */
export function isSoftDeleted(err: unknown): boolean {
  const rest = asRestError(err);
  return rest?.statusCode === 409 && innerErrorCode(rest) === 'ObjectIsDeletedButRecoverable';
}

const IDENTITY_ERRORS =
  /^(AuthenticationError|AuthenticationRequiredError|CredentialUnavailableError|AggregateAuthenticationError)$/;
const CREDENTIALS_FIX = 'fix the credentials of the configured auth method (see the detail)';

const where = (c: AzureErrorContext) => secretSubject(`Key Vault ${c.vaultUrl}`, c, 'Key Vault name');

/** `app` names the app registration, `secrets` where the portal manages its credentials. */
type SignInMessage = (app: string, secrets: string, tenant?: string) => string;

/** Microsoft Entra ID sign-in failures, by their AADSTS code. */
const SIGN_IN_FAILURES: Readonly<Record<string, SignInMessage>> = {
  '7000222': (app, secrets) =>
    `the client secret of ${app} has expired (AADSTS7000222): create a new one in Microsoft Entra ID → ${secrets}, then update auth.clientSecret`,
  '7000215': (app, secrets) =>
    `Microsoft Entra ID rejected the client secret of ${app} (AADSTS7000215): use the secret's Value, not its Secret ID, from ${secrets}`,
  '700016': (app, _, tenant) =>
    `${app} does not exist in tenant ${tenant ?? '(default)'} (AADSTS700016): check auth.clientId and auth.tenantId`,
  '700027': (app, secrets) =>
    `Microsoft Entra ID rejected the certificate assertion of ${app} (AADSTS700027): upload this certificate's public part under ${secrets} → Certificates`,
  '90002': (_, __, tenant) => `tenant ${tenant ?? ''} was not found (AADSTS90002): check auth.tenantId`,
};

function credentialFailure(
  name: string,
  message: string,
  ctx: AzureErrorContext,
  summary: string,
): Classification {
  const code = /AADSTS(\d{4,7})/.exec(message)?.[1];
  const { clientId, tenantId } = ctx.auth;
  const app = clientId ? `app registration ${clientId}` : 'the app registration';
  const secrets = `App registrations → ${clientId ?? 'your app'} → Certificates & secrets`;
  const known = code === undefined ? undefined : SIGN_IN_FAILURES[code]?.(app, secrets, tenantId);
  if (known) return { kind: 'denied', message: known, fix: CREDENTIALS_FIX, summary };
  if (name === 'CredentialUnavailableError') {
    const fix =
      ctx.auth.method === 'managed-identity'
        ? 'no managed identity is available here: assign one to the VM/App Service/container, or choose another auth method'
        : 'no Azure credential is available: set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, assign a managed identity, or sign in with `az login`';
    return withFix('denied', 'could not get a token for Key Vault', fix, { summary });
  }
  return {
    kind: 'denied',
    message: `could not get a token from Microsoft Entra ID${code ? ` (AADSTS${code})` : ''} with auth method ${ctx.auth.method}: check the credentials and that ${app} exists in the tenant`,
    fix: CREDENTIALS_FIX,
    summary,
  };
}

/** A failed request: the context, the HTTP status, the service's code and its inner code. */
type Failure = AzureErrorContext & { status?: number; code?: string; inner?: string; network: boolean };

const REACHABLE = 'check that the vault URL is right and reachable from this host';

/** "Key Vault refused to <verb> <what>": the secrets of the vault for a listing, else the secret. */
const refusedTo = (c: Failure) =>
  `Key Vault refused to ${OPERATIONS[c.operation].verb} ${c.operation === 'list' ? `the secrets of ${c.vaultUrl}` : where(c)}`;

/** A missing secret is fixed by creating it, except where the operation was to remove or recover it. */
const NOT_FOUND_ASKED: Partial<Record<AzureOperation, NotFoundAsked>> = {
  delete: 'delete',
  purge: 'delete',
  recover: 'restore',
};
/** Why Key Vault holds no deleted secret of a name. */
const GONE = 'purged, past the retention period, or never created';

/**
 * Key Vault failures by HTTP status; a 403 is refined by its inner code (`disabled`,
 * `firewall`) or its message (`purgeProtected`, `firstParty`), a request without an answer is `network`.
 */
const RULES: StatusRules<Failure> = {
  404: {
    kind: 'not_found',
    fix: (c) => notFoundFix(NOT_FOUND_ASKED[c.operation] ?? 'read', { gone: GONE }),
    message: (c) =>
      `${c.operation === 'recover' || c.operation === 'purge' ? 'no soft-deleted secret' : 'no secret'} ${where(c)}`,
  },
  softDeleted: {
    kind: 'not_found',
    fix: (c) =>
      notFoundFix('deleted', { name: c.name, alternative: 'write it again (a write recovers it first)' }),
    message: (c, fix) => `${where(c)} is soft-deleted: ${fix}`,
  },
  disabled: {
    kind: 'conflict',
    fix: 'enable it (az keyvault secret set-attributes --enabled true) or pin an enabled version with ?version=',
    message: (c, fix) => `${where(c)} is disabled: ${fix}`,
  },
  purgeProtected: {
    kind: 'conflict',
    fix: 'delete without --force (purge protection cannot be turned off); `secrets restore` brings it back until then',
    message: (c) =>
      `${where(c)} is soft-deleted and cannot be purged: the vault has purge protection, so Key Vault purges it itself when the retention period ends`,
  },
  firstParty: {
    kind: 'denied',
    fix: "sign in with an identity of the vault's tenant (not a personal Microsoft account); behind the firewall's trusted-services exception, allow this host under Networking instead",
    message: (c, fix) =>
      `Key Vault ${c.vaultUrl} refused the token as one of a first-party (Microsoft) service: ${fix}`,
  },
  firewall: {
    kind: 'denied',
    fix: "allow this host's address under Networking, or reach the vault through its private endpoint",
    message: (c, fix) =>
      `Key Vault ${c.vaultUrl} refused the connection by its network rules (${c.inner}): ${fix}`,
  },
  403: {
    kind: 'denied',
    fix: (c) => {
      const { role, policy } = OPERATIONS[c.operation];
      if (c.inner === 'ForbiddenByRbac')
        return `assign the "${role}" role on the vault (Azure RBAC) to the identity`;
      // An access policy's refusal comes with either inner code (both are seen in Key Vault's answers).
      if (c.inner === 'AccessDenied' || c.inner === 'ForbiddenByPolicy')
        return `add the secret permission "${policy}" to the identity's access policy`;
      return `assign the "${role}" role on the vault (Azure RBAC), or add the secret permission "${policy}" to the identity's access policy`;
    },
    message: (c, fix) => `${refusedTo(c)}: ${fix}`,
  },
  400: {
    kind: 'invalid',
    fix: (c) =>
      c.operation === 'set' && c.bytes !== undefined
        ? `a Key Vault secret value is at most 25 KB, and this one is ${c.bytes} bytes`
        : 'check the name and the version id (the 32-character id Key Vault shows)',
    message: (c, fix) => `${refusedTo(c)} as invalid (HTTP 400${c.code ? ` ${c.code}` : ''}): ${fix}`,
  },
  401: {
    kind: 'denied',
    fix: "the identity must belong to the vault's tenant",
    message: (c, fix) => `Key Vault ${c.vaultUrl} rejected the access token: ${fix}`,
  },
  409: {
    kind: 'conflict',
    message: (c) => {
      if (c.inner === 'ObjectIsBeingDeleted')
        return `${where(c)} is being deleted; try again in a few seconds`;
      if (c.inner === 'ObjectIsDeletedButRecoverable')
        return `${where(c)} is soft-deleted: restore it or purge it first`;
      return `${where(c)} conflicts with the vault's state (${c.inner ?? c.code ?? 'Conflict'})`;
    },
  },
  429: {
    kind: 'throttled',
    fix: 'spread reads over time or across vaults',
    message: (c, fix) => `Key Vault ${c.vaultUrl} is throttling requests (HTTP 429): ${fix}`,
  },
  '5xx': {
    kind: 'unavailable',
    fix: REACHABLE,
    message: (c) => `Key Vault ${c.vaultUrl} is unavailable (HTTP ${c.status})`,
    retry: (c) => [500, 502, 503, 504].includes(c.status ?? 0),
  },
  network: {
    kind: 'unavailable',
    fix: REACHABLE,
    message: (c) => `cannot reach Key Vault ${c.vaultUrl} (${c.code ?? 'network error'})`,
    retry: (c) => c.network,
  },
  default: {
    kind: 'unavailable',
    fix: REACHABLE,
    message: (c) =>
      `Key Vault ${c.vaultUrl} answered HTTP ${c.status}${c.code ? ` ${c.code}` : ''} to ${c.operation} ${where(c)}`,
    retry: false,
  },
};

/**
 * A read found no secret, and Key Vault holds one of that name soft-deleted (Get Deleted Secret
 * answered): raised by the adapter so the read says so instead of "no secret".
 */
export class SoftDeletedSecret extends Error {
  override readonly name = 'SoftDeletedSecret';
}

/** Key Vault's errors always carry a code: a 404 without one comes from another service. */
const foreign404 = (rest: RestError | undefined) => rest?.statusCode === 404 && !rest.code;

/**
 * Where the vault's calls go, for the core's network classification: no answer from the vault,
 * a failed TLS handshake, or an answer that is not Key Vault's (the core says which, and what to
 * change). Errors of the identity and the adapter's own are never network failures of the vault.
 */
export const azureEndpoint: StoreEndpoint<AzureErrorContext> = {
  at: (c) => ({
    url: c.vaultUrl,
    settings: { address: 'vaultUrl (or vaultName)', provider: 'Key Vault', proxy: 'environment' },
    what: `Key Vault ${c.vaultUrl}`,
  }),
  answered: (err) =>
    err instanceof SoftDeletedSecret ||
    (err instanceof Error && IDENTITY_ERRORS.test(err.name)) ||
    asRestError(err)?.statusCode !== undefined,
  foreign: (err) => (foreign404(asRestError(err)) ? 'HTTP 404 without a Key Vault error code' : undefined),
  // The Key Vault SDK reads a body that is not Key Vault's into a TypeError of its own.
  unreadable: (err) => err instanceof TypeError,
};

/** Classify anything the SDKs throw (below HTTP: {@link azureEndpoint}). */
export function classifyAzure(err: unknown, ctx: AzureErrorContext): Classification {
  const rest = asRestError(err);
  const inner = innerErrorCode(rest);
  const name = err instanceof Error ? err.name : typeof err;
  const message = err instanceof Error ? err.message : String(err);
  const summary = rest
    ? ['RestError', rest.statusCode !== undefined ? `HTTP ${rest.statusCode}` : undefined, rest.code, inner]
        .filter(Boolean)
        .join(' ')
    : name;
  if (err instanceof SoftDeletedSecret)
    return classifyStatus('softDeleted', RULES, { ...ctx, network: false }, { summary: 'soft-deleted' });
  if (IDENTITY_ERRORS.test(name)) return credentialFailure(name, message, ctx, summary);
  if (!rest) {
    if (/does not match the requested domain/.test(message)) {
      return {
        kind: 'config',
        message: `Key Vault's challenge names resource vault.azure.net but the vault URL is ${ctx.vaultUrl}`,
        fix: 'for an emulator or a private endpoint set disableChallengeResourceVerification: true',
        summary,
      };
    }
    if (/AADSTS\d+/.test(message)) return credentialFailure(name, message, ctx, summary);
    const failed = `request to Key Vault ${ctx.vaultUrl} failed (${summary})`;
    return { kind: 'unavailable', message: failed, retry: false, summary };
  }
  const status = rest.statusCode;
  // 403s that are not a missing role or permission, told by their inner code or their message:
  // purge protection, and a first-party token (inner code AccessDenied, as an access policy's
  // refusal may have; Key Vault's SDK troubleshooting guide) refuse whatever is granted.
  const refinements: ReadonlyArray<readonly [string, boolean]> = [
    ['disabled', inner === 'SecretDisabled' || /disabled secret/i.test(rest.message)],
    ['firewall', inner === 'ForbiddenByFirewall' || inner === 'ForbiddenByConnection'],
    ['purgeProtected', /purge protection is enabled/i.test(rest.message)],
    ['firstParty', /Access denied to first party service/i.test(rest.message)],
  ];
  const refined = refinements.find(([, applies]) => applies)?.[0];
  const key = status === 403 && refined ? refined : status;
  const delay = status === 429 ? retryAfterMs(rest.response?.headers.get('retry-after')) : undefined;
  const network = networkCode(err) !== undefined;
  const failure: Failure = { ...ctx, status, code: rest.code, inner, network };
  return classifyStatus(key ?? 'network', RULES, failure, { summary, retryAfterMs: delay });
}

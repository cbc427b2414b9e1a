/**
 * AWS errors → Sesame's typed errors. Messages start with `[store]`, say what to grant or fix,
 * and are sanitized: no signatures, session tokens, secret keys or full access key ids.
 * The SDK error itself is not kept as `cause` (its hidden `$response` may hold a body); a
 * sanitized summary is kept instead.
 */
import {
  AccessDeniedError,
  SecretNotFoundError,
  SecretStateError,
  SesameError,
  StoreUnavailableError,
} from '../../errors.js';
import { NETWORK_ERROR_CODES } from '../core/network.js';

export interface AwsCallContext {
  /** The IAM action the call needs, e.g. `secretsmanager:GetSecretValue`. */
  action: string;
  /** The name the caller asked for (without the store prefix). */
  secret?: string | undefined;
  /** The id sent to AWS (prefix applied, or an ARN). */
  secretId?: string | undefined;
  version?: string | undefined;
  stage?: string | undefined;
  /** Reads treat a secret scheduled for deletion as not found; writes as a state conflict. */
  kind: 'read' | 'write' | 'other';
}

export interface AwsErrorScope {
  store: string;
  region: string;
  /** Literal credential values to remove from any text. */
  secrets: readonly string[];
}

interface AwsLikeError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServiceError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);


const CREDENTIAL_NAMES = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'ExpiredToken',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);

/** The AWS error code (`ResourceNotFoundException`, …) or a network error code. */
export function awsErrorName(err: unknown): string {
  const e = (err ?? {}) as AwsLikeError;
  if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return e.code;
  if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
  if (typeof e.code === 'string') return e.code;
  return 'Error';
}

function rawMessage(err: unknown): string {
  const m = (err as AwsLikeError | undefined)?.message;
  return typeof m === 'string' ? m : String(err);
}

/** Throttling, 5xx and network failures: worth another attempt with backoff. */
export function isRetryableAwsError(err: unknown): boolean {
  const name = awsErrorName(err);
  if (CREDENTIAL_NAMES.has(name)) return false;
  if (RETRYABLE_NAMES.has(name) || NETWORK_ERROR_CODES.has(name)) return true;
  const e = (err ?? {}) as AwsLikeError;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) return true;
  if (e.$retryable) return true;
  return /socket hang up|ECONNRESET|ECONNREFUSED|network|fetch failed/i.test(rawMessage(err));
}

/** Remove credentials and signatures from text that may end up in a log. */
export function sanitizeAws(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out
    .replace(/(Signature=)[0-9a-f]{16,}/gi, '$1[redacted]')
    .replace(/(X-Amz-Signature=)[0-9a-f]+/gi, '$1[redacted]')
    .replace(/(X-Amz-Security-Token[=:]\s*)[^\s&,]+/gi, '$1[redacted]')
    .replace(/(Credential=)[^,\s]+/g, '$1[redacted]')
    .replace(/\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g, '$1…');
}

/** What to fix, carried by the error itself (`SesameError.fix`) for `check()` reports. */
export function fixOf(err: unknown): string | undefined {
  return err instanceof SesameError ? err.fix : undefined;
}

function withFix<E extends Error>(err: E, fix: string): E {
  if (err instanceof SesameError) err.fix = fix;
  return err;
}

const DENIED = /User: (\S+) is not authorized to perform: (\S+) on resource: (\S+)/;

function summary(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

/** Map one AWS failure (thrown by the SDK, or a `BatchGetSecretValue` `Errors` entry). */
export function mapAwsError(err: unknown, ctx: AwsCallContext, scope: AwsErrorScope): SesameError {
  const name = awsErrorName(err);
  const message = sanitizeAws(rawMessage(err), scope.secrets);
  const tag = `[${scope.store}]`;
  const cause = summary(name, message);
  const subject = ctx.secret !== undefined ? `secret "${ctx.secret}"` : 'the request';

  switch (name) {
    case 'ResourceNotFoundException': {
      let detail = `${subject} not found in ${scope.region}`;
      if (ctx.version !== undefined) detail = `${subject} has no version ${ctx.version} in ${scope.region}`;
      else if (ctx.stage !== undefined && /staging label/.test(message))
        detail = `${subject} has no version labelled ${ctx.stage}`;
      else if (/staging label/.test(message))
        detail = `${subject} has no current value (no version labelled AWSCURRENT)`;
      return withFix(
        new SecretNotFoundError(`${tag} ${detail}`, {}, { cause }),
        'check the name, the region and the store prefix',
      );
    }
    case 'AccessDeniedException':
    case 'AccessDenied': {
      const m = DENIED.exec(message);
      const action = m?.[2] ?? ctx.action;
      const resource = m?.[3] ?? ctx.secretId ?? '*';
      const principal = m?.[1];
      let fix = `grant ${action} on ${resource}${principal ? ` to ${principal}` : ''}`;
      if (action === 'sts:AssumeRole')
        fix += ' and allow that principal in the role trust policy (with the right ExternalId)';
      return withFix(new AccessDeniedError(`${tag} access denied: ${fix}`, {}, { cause }), fix);
    }
    case 'DecryptionFailure': {
      const fix = `grant kms:Decrypt on the KMS key of ${subject} to the caller, and check that the key is enabled`;
      return withFix(
        new AccessDeniedError(
          `${tag} Secrets Manager could not decrypt ${subject} with its KMS key: ${fix}`,
          {},
          { cause },
        ),
        fix,
      );
    }
    case 'InvalidRequestException': {
      if (/marked for deletion|scheduled for deletion/i.test(message)) {
        const fix = `restore it with \`sesame secrets restore ${ctx.secret ?? '<name>'}\` (or aws secretsmanager restore-secret)`;
        const text = `${tag} ${subject} is scheduled for deletion: ${fix}`;
        // A deleted secret reads as not found (the store contract: after delete, reads are not
        // found); a write to it is a state conflict.
        return withFix(
          ctx.kind === 'read'
            ? new SecretNotFoundError(text, {}, { cause })
            : new SecretStateError(text, {}, { cause }),
          fix,
        );
      }
      return withFix(
        new SecretStateError(`${tag} ${ctx.action} refused for ${subject}: ${message}`, {}, { cause }),
        message,
      );
    }
    case 'ResourceExistsException':
    case 'InvalidParameterException':
    case 'ValidationException':
    case 'ValidationError':
    case 'LimitExceededException':
    case 'EncryptionFailure':
    case 'PreconditionNotMetException':
      return withFix(
        new SecretStateError(`${tag} ${ctx.action} refused for ${subject}: ${message}`, {}, { cause }),
        message,
      );
    case 'InvalidSignatureException':
    case 'SignatureDoesNotMatch': {
      const fix = 'the secret access key does not match the access key id: check the store credentials';
      return withFix(
        new AccessDeniedError(`${tag} AWS rejected the request signature: ${fix}`, {}, { cause }),
        fix,
      );
    }
    case 'UnrecognizedClientException':
    case 'InvalidClientTokenId': {
      const fix = 'the access key id (or session token) is unknown to AWS: check the store credentials';
      return withFix(
        new AccessDeniedError(`${tag} AWS does not recognise the credentials: ${fix}`, {}, { cause }),
        fix,
      );
    }
    case 'ExpiredToken':
    case 'ExpiredTokenException': {
      const fix =
        'the session credentials expired: refresh them (new sessionToken, `aws sso login`, or a new role session)';
      return withFix(new AccessDeniedError(`${tag} AWS credentials expired: ${fix}`, {}, { cause }), fix);
    }
    case 'CredentialsProviderError': {
      const fix =
        'no AWS credentials were found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or auth.method static/assume-role in the store';
      return withFix(new AccessDeniedError(`${tag} ${fix} (${message})`, {}, { cause }), fix);
    }
    default: {
      const fix = `check that Secrets Manager is reachable in ${scope.region}${isRetryableAwsError(err) ? ' and retry later' : ''}`;
      return withFix(
        new StoreUnavailableError(
          `${tag} Secrets Manager call ${ctx.action} failed (${name}): ${message}`,
          {},
          { cause },
        ),
        fix,
      );
    }
  }
}

/**
 * What an AWS error means: its kind, a message naming the IAM action or credential to fix, and
 * the fix. The core builds the typed error, scrubs the store's keys and the patterns below
 * (signatures, session tokens, full access key ids), and keeps no SDK error as `cause` (its
 * hidden `$response` may hold a body).
 */
import {
  type Classification,
  isTransient,
  type NotFoundAsked,
  networkCode,
  notFoundFix,
  type StoreEndpoint,
  withFix,
} from '../core/index.js';

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

interface AwsLikeError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** Signatures, security tokens and full access key ids in AWS error text. */
export const AWS_SCRUB: ReadonlyArray<[RegExp, string]> = [
  [/(Signature=)[0-9a-f]{16,}/gi, '$1[redacted]'],
  [/(X-Amz-Signature=)[0-9a-f]+/gi, '$1[redacted]'],
  [/(X-Amz-Security-Token[=:]\s*)[^\s&,]+/gi, '$1[redacted]'],
  [/(Credential=)[^,\s]+/g, '$1[redacted]'],
  [/\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g, '$1…'],
];

/** The AWS error code (`ResourceNotFoundException`, …) or a network error code. */
export function awsErrorName(err: unknown): string {
  const e = (err ?? {}) as AwsLikeError;
  const network = networkCode(err);
  if (network !== undefined) return network;
  if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
  if (typeof e.code === 'string') return e.code;
  return 'Error';
}

// Codes below are matched without their `Exception` suffix: AWS spells the same error both ways
// across APIs (`AccessDeniedException` from Secrets Manager, `AccessDenied` from STS).
const THROTTLED = /^(Throttling|TooManyRequests|RequestLimitExceeded)$/;
const UNAVAILABLE = /^(InternalServiceError|InternalFailure|ServiceUnavailable|RequestTimeout|TimeoutError)$/;
const REFUSED = /^(ResourceExists|LimitExceeded|EncryptionFailure|PreconditionNotMet)$/;
/** A parameter AWS refuses (a tag too long, a bad filter): the request is to be fixed. */
const INVALID = /^(InvalidParameter|Validation(Error)?)$/;
const DENIED = /User: (\S+) is not authorized to perform: (\S+) on resource: (\S+)/;

/**
 * Where IAM says the refusal comes from: "with an explicit deny in a(n) <type>" (a Deny
 * statement) or "because no <type> allows the <action> action" (nothing allows it), per the IAM
 * User Guide's "Troubleshoot access denied error messages".
 */
const POLICY_TYPE =
  /(with an explicit deny in|because no) (?:an? )?(identity-based policy|resource-based policy|permissions boundary|session policy|service control policy|resource control policy|VPC endpoint policy)/;
const POLICY_WHERE: Record<string, string> = {
  'identity-based policy': 'an identity-based policy',
  'resource-based policy': "the secret's resource policy",
  'permissions boundary': 'the permissions boundary of the caller',
  'session policy': 'the session policy of these credentials',
  'service control policy': 'a service control policy of the AWS Organization',
  'resource control policy': 'a resource control policy of the AWS Organization',
  'VPC endpoint policy': 'the VPC endpoint policy',
};

/** What to change for a denial of `what` (`<action> on <resource> to <principal>`). */
function deniedFix(message: string, what: string, action: string): string {
  const [, how, type = 'identity-based policy'] = POLICY_TYPE.exec(message) ?? [];
  const where = POLICY_WHERE[type] ?? type;
  const organization = type.endsWith('control policy');
  if (how === 'with an explicit deny in')
    return `a Deny statement in ${where} refuses ${what}: ${organization ? "ask the organization's administrators to remove or narrow it" : 'remove or narrow it'} (an Allow does not override a Deny)`;
  switch (type) {
    case 'resource-based policy':
      return `${where} does not allow ${what} (a caller of another account needs it there as well as in its own IAM policy): allow it there`;
    case 'permissions boundary':
      return `${where} does not allow ${what}: allow it in the boundary too (an IAM policy alone is not enough)`;
    case 'session policy':
      return `${where} does not allow ${what}: start the session without it, or with one that allows it`;
    case 'VPC endpoint policy':
      return `${where} does not allow ${what}: allow it in the policy of the Secrets Manager VPC endpoint`;
    case 'service control policy':
    case 'resource control policy':
      return `no ${where.replace(/^a /, '')} allows ${what}: ask the organization's administrators to allow it`;
    default:
      return action === 'sts:AssumeRole'
        ? `grant ${what} and allow that principal in the role trust policy (with the right ExternalId)`
        : `grant ${what}`;
  }
}

/** A missing secret is fixed by creating it, except where the call was to remove or restore it. */
const NOT_FOUND_ASKED: Readonly<Record<string, NotFoundAsked>> = {
  'secretsmanager:DeleteSecret': 'delete',
  'secretsmanager:RestoreSecret': 'restore',
};

/** The fix of a secret Secrets Manager does not hold, in the region the store names. */
export const awsNotFoundFix = (asked: NotFoundAsked) =>
  notFoundFix(asked, {
    check: 'the name, the region and the store prefix',
    gone: 'deleted without recovery, past its recovery window, or never created',
  });

/** The endpoints a store calls, as its settings give them. */
export interface AwsEndpoints {
  region: string;
  endpoint?: string | undefined;
  stsEndpoint?: string | undefined;
}

/**
 * A body the SDK could not parse: JSON for Secrets Manager (a `SyntaxError`), XML for STS (its
 * query protocol: "@aws-sdk XML parse error: …"). A web page or another service's JSON.
 */
const unparsed = (err: unknown): boolean => {
  const e = err as AwsLikeError | undefined;
  return e?.name === 'SyntaxError' || (typeof e?.message === 'string' && e.message.startsWith('@aws-sdk XML parse error'));
};

/**
 * What an answer below 500 that is not AWS's says of itself, or undefined. Every AWS error names
 * its type: without one the SDK says "Unknown" (as the name for JSON, as the message for STS's
 * XML, whose name is then the status's, e.g. "NotFound"). A body STS cannot parse is not AWS's
 * either.
 */
const foreignAnswer = (err: unknown): string | undefined => {
  const e = err as AwsLikeError | undefined;
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined || status >= 500) return undefined;
  if (e?.name === 'Unknown' || e?.message === 'Unknown' || e?.message === 'UnknownError')
    return `HTTP ${status} without an AWS error type`;
  if (e?.name !== 'SyntaxError' && unparsed(err)) return `HTTP ${status} with a body that is not AWS's`;
  return undefined;
};

/**
 * Where Secrets Manager's and STS's calls go, for the core's network classification (host, cause,
 * the setting to change). Every AWS error names its type, and an answer the SDK could not parse
 * (a web page) is not AWS's either. The SDK has no CA setting here: the fix names NODE_EXTRA_CA_CERTS.
 */
export function awsEndpoint(at: AwsEndpoints): StoreEndpoint<AwsCallContext> {
  return {
    at(ctx) {
      const sts = ctx.action.startsWith('sts:');
      const configured = sts ? (at.stsEndpoint ?? at.endpoint) : at.endpoint;
      const setting = sts && at.stsEndpoint ? 'stsEndpoint' : 'endpoint';
      const url = configured ?? `https://${sts ? 'sts' : 'secretsmanager'}.${at.region}.amazonaws.com`;
      const address = configured
        ? setting
        : `region (the SDK's endpoint ${new URL(url).host}; or set ${setting})`;
      const provider = sts ? 'STS' : 'Secrets Manager';
      // The SDK's Node handler connects directly: HTTPS_PROXY is not read.
      return { url, settings: { address, provider, proxy: 'none' }, what: `${provider} call ${ctx.action}` };
    },
    answered: (err) => (err as AwsLikeError | undefined)?.$metadata?.httpStatusCode !== undefined && !unparsed(err),
    foreign: foreignAnswer,
    unreadable: unparsed,
  };
}

/** Classify one AWS failure (thrown by the SDK, or a `BatchGetSecretValue` `Errors` entry). */
export function classifyAws(
  err: unknown,
  ctx: AwsCallContext,
  region: string,
  refreshable: boolean,
): Classification {
  const name = awsErrorName(err);
  const raw = (err as AwsLikeError | undefined)?.message;
  const message = typeof raw === 'string' ? raw : String(err);
  const status = (err as AwsLikeError | undefined)?.$metadata?.httpStatusCode;
  const summary = `${name}${status ? ` HTTP ${status}` : ''}`;
  const subject = ctx.secret !== undefined ? `secret "${ctx.secret}"` : 'the request';
  const refused = (): Classification => ({
    kind: 'conflict',
    message: `${ctx.action} refused for ${subject}: ${message}`,
    fix: message,
    summary,
  });
  const code = name.replace(/Exception$/, '');
  switch (code) {
    case 'ResourceNotFound': {
      // AWS says which is missing: the secret ("can't find the specified secret."), or a value
      // of it ("… secret value for VersionId: …" / "… for staging label: …").
      const missing = (detail: string, fix: string): Classification => ({
        kind: 'not_found',
        message: detail,
        fix,
        summary,
      });
      const asked = /secret value for (VersionId|staging label): (\S+)/.exec(message);
      if (asked?.[1] === 'VersionId')
        return missing(
          `${subject} has no version ${ctx.version ?? asked[2]} in ${region}`,
          notFoundFix('version', { name: ctx.secret }),
        );
      if (asked && ctx.stage !== undefined)
        return missing(
          `${subject} has no version labelled ${ctx.stage}`,
          notFoundFix('stage', { name: ctx.secret }),
        );
      if (asked)
        return missing(
          `${subject} has no current value (no version labelled AWSCURRENT)`,
          `write one with \`sesame secrets set ${ctx.secret ?? '<name>'}\`, or pin a version with ?version=`,
        );
      return missing(
        `${subject} not found in ${region}`,
        awsNotFoundFix(NOT_FOUND_ASKED[ctx.action] ?? 'read'),
      );
    }
    case 'AccessDenied': {
      // Secrets Manager calls KMS as the caller: a customer managed key that refuses them is
      // this denial, while the Secrets Manager action itself is allowed.
      if (/^Access to KMS is not allowed/.test(message)) {
        const kms = ctx.kind === 'write' ? 'kms:GenerateDataKey and kms:Decrypt' : 'kms:Decrypt';
        const fix = `grant ${kms} on the secret's KMS key to the caller (in its IAM policy and, for a key of another account, in the key policy)`;
        return withFix('denied', `access denied by KMS for ${subject}`, fix, { summary });
      }
      const m = DENIED.exec(message);
      const action = m?.[2] ?? ctx.action;
      const what = `${action} on ${m?.[3] ?? ctx.secretId ?? '*'}${m?.[1] ? ` to ${m[1]}` : ''}`;
      const fix = deniedFix(message, what, action);
      return withFix('denied', 'access denied', fix, { summary });
    }
    case 'DecryptionFailure': {
      const fix = `grant kms:Decrypt on the KMS key of ${subject} to the caller, and check that the key is enabled`;
      return withFix('denied', `Secrets Manager could not decrypt ${subject} with its KMS key`, fix, {
        summary,
      });
    }
    case 'InvalidRequest': {
      if (!/marked for deletion|scheduled for deletion/i.test(message)) return refused();
      const fix = notFoundFix('deleted', {
        name: ctx.secret,
        alternative: `\`aws secretsmanager restore-secret --secret-id ${ctx.secretId ?? '<id>'}\``,
      });
      // A deleted secret reads as not found (after delete, reads are not found); a write to it conflicts.
      return withFix(
        ctx.kind === 'read' ? 'not_found' : 'conflict',
        `${subject} is scheduled for deletion`,
        fix,
        { summary },
      );
    }
    case 'InvalidSignature':
    case 'SignatureDoesNotMatch': {
      // A request signed too far from AWS's clock (minutes; AWS's message gives the window): the SDK takes AWS's time from the
      // answer (clockSkewCorrected), so one more attempt is signed right.
      if (/^Signature (expired|not yet current)/.test(message)) {
        const fix = "sync this host's clock (NTP)";
        const corrected = (err as { $metadata?: { clockSkewCorrected?: boolean } }).$metadata
          ?.clockSkewCorrected;
        return withFix(
          'denied',
          `AWS refused the request's time: this host's clock is too far from AWS's (${message})`,
          fix,
          { summary, retry: corrected === true },
        );
      }
      const fix = 'the secret access key does not match the access key id: check the store credentials';
      return withFix('denied', 'AWS rejected the request signature', fix, { summary });
    }
    case 'UnrecognizedClient':
    case 'InvalidClientTokenId': {
      const fix = 'the access key id (or session token) is unknown to AWS: check the store credentials';
      return withFix('denied', 'AWS does not recognise the credentials', fix, { summary });
    }
    case 'ExpiredToken': {
      const fix =
        'the session credentials expired: refresh them (new sessionToken, `aws sso login`, or a new role session)';
      // Temporary credentials can be fetched again (the adapter resets its client): one more try.
      return withFix('denied', 'AWS credentials expired', fix, { summary, retry: refreshable });
    }
    case 'InvalidNextToken': {
      // ListSecrets / ListSecretVersionIds: AWS no longer takes the page token a cursor carries.
      const fix = 'list again from the first page';
      return withFix(
        'invalid',
        `invalid list cursor: Secrets Manager no longer accepts its page token (expired, or from another listing)`,
        fix,
        { summary },
      );
    }
    case 'RegionDisabled': {
      // STS API reference: STS is not activated in the region for the account asked for credentials.
      const fix =
        'an account administrator activates it (IAM console, Account settings), or set stsEndpoint to the STS endpoint of a region where it is active';
      return withFix(
        'denied',
        `STS is not activated in ${region} for the account asked for the role credentials`,
        fix,
        { summary },
      );
    }
    case 'CredentialsProviderError': {
      // fromIni (auth.method profile): "Could not resolve credentials using profile: [name] …".
      const profile = /using profile: \[([^\]]*)\]/.exec(message)?.[1];
      if (profile !== undefined) {
        const fix = `add profile ${profile} to the shared AWS files (AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, default ~/.aws/credentials and ~/.aws/config), or correct auth.profile`;
        return withFix('denied', `AWS profile ${profile} was not found`, fix, { summary });
      }
      const fix =
        'no AWS credentials were found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or auth.method static/assume-role in the store';
      return { kind: 'denied', message: `${fix} (${message})`, fix, summary };
    }
    default:
      break;
  }
  if (INVALID.test(code)) return { ...refused(), kind: 'invalid' };
  if (REFUSED.test(code)) return refused();
  const provider = ctx.action.startsWith('sts:') ? 'STS' : 'Secrets Manager';
  const failed = `${provider} call ${ctx.action} failed (${name}): ${message}`;
  if (THROTTLED.test(code))
    return {
      kind: 'throttled',
      message: failed,
      // The quotas page lists Secrets Manager's request rates as not adjustable.
      fix: "spread the calls over time (Secrets Manager's request rates per account and region cannot be raised; a longer cache ttl means fewer reads)",
      summary,
    };
  const fix = `check that ${provider} is reachable in ${region} and retry later`;
  const transient = UNAVAILABLE.test(code) || isTransient(err, status);
  return { kind: 'unavailable', message: failed, fix, summary, retry: transient };
}

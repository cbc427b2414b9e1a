/** Settings of an `aws-secrets-manager` store, validated once by one strict schema. */
import { z } from 'zod';
import { credential } from '../core/credentials.js';

const url = z.url({ protocol: /^https?$/, error: 'an http(s) URL, e.g. http://127.0.0.1:4566' });

const staticKeys = {
  accessKeyId: z.string().min(1, 'accessKeyId is the AWS access key id (AKIA… or ASIA…)'),
  secretAccessKey: credential(z.string().min(1, 'secretAccessKey is required with method static')),
  sessionToken: credential(z.string().min(1)).optional(),
};

/**
 * `default` (the SDK's chain: env vars, shared files, SSO, container and instance roles) or `static`
 * keys: two of the auth methods, and where assume-role gets the credentials it calls STS with.
 */
const sourceCredentials = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('default') }),
  z.strictObject({ method: z.literal('static'), ...staticKeys }),
]);

export const awsAuthSettings = z.discriminatedUnion('method', [
  ...sourceCredentials.options,
  z.strictObject({
    method: z.literal('assume-role'),
    roleArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/,
        'roleArn is an IAM role ARN, arn:aws:iam::<account>:role/<name>',
      ),
    externalId: z.string().min(2).max(1224).optional(),
    sessionName: z
      .string()
      .regex(/^[\w+=,.@-]{2,64}$/, 'sessionName is 2-64 letters, digits or +=,.@_-')
      .optional(),
    source: sourceCredentials.default({ method: 'default' }),
  }),
  /** A named profile of the shared config/credentials files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE). */
  z.strictObject({ method: z.literal('profile'), profile: z.string().min(1) }),
]);

export const awsSecretsManagerSettings = z.strictObject({
  /** Defaults to AWS_REGION / AWS_DEFAULT_REGION of the process. */
  region: z
    .string()
    .regex(/^[a-z0-9-]+$/, 'region is an AWS region such as us-east-1')
    .optional(),
  /** Override for AWS-compatible services and private endpoints. */
  endpoint: url.optional(),
  /** STS endpoint for assume-role and `stores test`; defaults to `endpoint` when that is set. */
  stsEndpoint: url.optional(),
  auth: awsAuthSettings.default({ method: 'default' }),
  /** Prepended to every name (not to ARNs). */
  prefix: z.string().default(''),
  /** Tags set on secrets Sesame creates. */
  tags: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
  /**
   * How a name finds its secret. `name` (the default, also when unset): the name (with `prefix`) is the secret's name or ARN.
   * `kestra-tags`: the name is a Kestra secret key, found by the tags Kestra's AWS Secrets
   * Manager backend writes (`namespace`, `key`, `prefix`) for the caller's namespace; read-only.
   */
  lookup: z
    .enum(['name', 'kestra-tags'], { error: 'lookup is name (the default) or kestra-tags' })
    .optional(),
  /**
   * With `lookup: kestra-tags`: the value of the `prefix` tag to require (Kestra's
   * `kestra.secret.aws-secret-manager.prefix`; Kestra's docs say secrets it creates get `kestra`).
   * Unset: the `prefix` tag is not looked at.
   */
  kestraPrefix: z.string().min(1).max(256).optional(),
});

export type AwsSecretsManagerSettings = z.infer<typeof awsSecretsManagerSettings>;
export type AwsAuthSettings = z.infer<typeof awsAuthSettings>;

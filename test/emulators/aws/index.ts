/**
 * A local AWS Secrets Manager + STS emulator that speaks the wire protocols the real SDK uses:
 * Secrets Manager over JSON 1.1 (`X-Amz-Target: secretsmanager.<Op>`, errors as
 * `{"__type","message"}`), STS over the query protocol with XML answers. Every request must be
 * SigV4-signed with a known key (checked by hand in `sigv4.ts`); AssumeRole hands out temporary
 * credentials the emulator then accepts with their session token.
 *
 * Fault injection: deny an action for a principal, throttle or fail with 500 the next N calls,
 * fail decryption of one secret, expire a session, add latency. Calls are counted per operation.
 *
 * @example
 * const aws = await startAwsEmulator();
 * aws.seed('prod/db', '{"password":"x"}');
 * // point the SDK at aws.url with AWS_EMULATOR_CREDENTIALS
 * aws.calls.BatchGetSecretValue; // how many batch calls were made
 * await aws.stop();
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FaultControls, Faults } from '../faults.js';
import { verifySigV4 } from './sigv4.js';

export const AWS_EMULATOR_ACCOUNT = '123456789012';

/** Known long-term test credentials (an IAM user). */
export const AWS_EMULATOR_CREDENTIALS = {
  accessKeyId: 'AKIASESAMETEST000001',
  secretAccessKey: 'sesame/Emulator+Secret/Key0000000000000001',
} as const;

export const AWS_EMULATOR_USER_ARN = `arn:aws:iam::${AWS_EMULATOR_ACCOUNT}:user/sesame-test`;

export interface EmulatorRole {
  arn: string;
  /** When set, AssumeRole must pass this ExternalId. */
  externalId?: string;
}

export interface AwsEmulatorOptions {
  region?: string;
  /** Extra IAM users: access key → secret + user name. */
  users?: Array<{ accessKeyId: string; secretAccessKey: string; userName: string }>;
  roles?: EmulatorRole[];
  /** Added before every answer, to make round trips cost something (benchmarks). */
  latencyMs?: number;
  /** Lifetime of AssumeRole credentials. Default 1 hour. */
  sessionSeconds?: number;
  /** STS is deactivated in this region for the account: AssumeRole answers RegionDisabledException. */
  stsRegionDisabled?: boolean;
  /**
   * How far the emulator's clock is ahead of this host's (a host clock running behind). Secrets
   * Manager refuses a request signed more than 5 minutes away from its time, and every answer
   * carries its time in the Date header (which the SDK corrects its clock offset from).
   */
  clockOffsetMs?: number;
}

interface Version {
  id: string;
  string?: string | undefined;
  binary?: Buffer | undefined;
  stages: Set<string>;
  created: number;
}

interface Secret {
  name: string;
  arn: string;
  description?: string | undefined;
  tags: Array<{ Key: string; Value: string }>;
  versions: Map<string, Version>;
  created: number;
  lastChanged: number;
  deletedDate?: number | undefined;
  deletionDate?: number | undefined;
  decryptionFails?: boolean;
  /** The caller may not use the secret's KMS key (customer managed key without kms:Decrypt/GenerateDataKey). */
  kmsDenied?: boolean;
}

interface Principal {
  arn: string;
  userId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiresAt?: number;
}

/**
 * The policy types an IAM access-denied message names (IAM User Guide, "Troubleshoot access
 * denied error messages"): "because no <type> allows the <action> action" when nothing allows
 * it, "with an explicit deny in a(n) <type>" when a Deny statement refuses it.
 */
export type DenyingPolicy =
  | 'identity-based policy'
  | 'resource-based policy'
  | 'permissions boundary'
  | 'session policy'
  | 'service control policy'
  | 'resource control policy'
  | 'VPC endpoint policy';

interface Denial {
  action: string;
  principal?: string | undefined;
  resource?: string | undefined;
  policy: DenyingPolicy;
  explicit: boolean;
}

type Fault = { op: string; remaining: number; kind: 'throttle' | 'internal' | 'network' };

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface AwsEmulator {
  url: string;
  region: string;
  /** Calls received per operation (`GetSecretValue`, `AssumeRole`, …), counted before auth. */
  calls: Record<string, number>;
  resetCalls(): void;
  /** Put a secret directly (no auth, no call counted). Returns the version id. */
  seed(
    name: string,
    value: string | Uint8Array,
    options?: { tags?: Record<string, string>; description?: string },
  ): string;
  /**
   * Refuse `action` (e.g. `secretsmanager:GetSecretValue`) for a principal ARN (default: everyone),
   * optionally on one secret. The message names `policy` (default: no identity-based policy
   * allows it); `explicit` makes it a Deny statement of that policy type.
   */
  deny(
    action: string,
    options?: { principal?: string; secret?: string; policy?: DenyingPolicy; explicit?: boolean },
  ): void;
  allowAll(): void;
  /** The next `times` calls to `op` (or every op with `*`) answer ThrottlingException. */
  throttle(op: string, times: number): void;
  /** The next `times` calls to `op` answer 500 InternalServiceError. */
  fail500(op: string, times: number): void;
  /** The next `times` calls to `op` drop the connection without an answer. */
  dropConnection(op: string, times: number): void;
  /** Reads of this secret fail with DecryptionFailure (Secrets Manager cannot decrypt it with its KMS key). */
  failDecryption(name: string): void;
  /**
   * The secret's KMS key refuses the caller: reads (which need kms:Decrypt) and new values (which
   * need kms:GenerateDataKey) answer AccessDeniedException "Access to KMS is not allowed".
   */
  denyKms(name: string): void;
  /** Make every session credential issued so far expire now. */
  expireSessions(): void;
  /** Access key ids of the temporary credentials AssumeRole has issued. */
  sessions(): string[];
  secretNames(): string[];
  /** Faults for Secrets Manager calls (after authentication), answered as AWS does. */
  faults: FaultControls;
  stop(): Promise<void>;
}

const JSON_TYPE = 'application/x-amz-json-1.1';
const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

const xmlEscape = (s: string) =>
  s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string,
  );

const seconds = (ms: number) => ms / 1000;

function randomSuffix(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join('');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startAwsEmulator(options: AwsEmulatorOptions = {}): Promise<AwsEmulator> {
  const faultPlan = new Faults();
  const region = options.region ?? 'us-east-1';
  const secrets = new Map<string, Secret>();
  const principals = new Map<string, Principal>();
  principals.set(AWS_EMULATOR_CREDENTIALS.accessKeyId, {
    arn: AWS_EMULATOR_USER_ARN,
    userId: 'AIDASESAMETEST000001',
    secretAccessKey: AWS_EMULATOR_CREDENTIALS.secretAccessKey,
  });
  for (const u of options.users ?? []) {
    principals.set(u.accessKeyId, {
      arn: `arn:aws:iam::${AWS_EMULATOR_ACCOUNT}:user/${u.userName}`,
      userId: `AIDA${u.accessKeyId.slice(4)}`,
      secretAccessKey: u.secretAccessKey,
    });
  }
  const roles = options.roles ?? [{ arn: `arn:aws:iam::${AWS_EMULATOR_ACCOUNT}:role/sesame-reader` }];
  let denials: Denial[] = [];
  const faults: Fault[] = [];
  const calls: Record<string, number> = {};

  const arnFor = (name: string) =>
    `arn:aws:secretsmanager:${region}:${AWS_EMULATOR_ACCOUNT}:secret:${name}-${randomSuffix()}`;

  function find(id: string): Secret | undefined {
    if (id.startsWith('arn:')) {
      for (const s of secrets.values()) if (s.arn === id || s.arn.slice(0, -7) === id) return s;
      return undefined;
    }
    return secrets.get(id);
  }

  function putVersion(
    secret: Secret,
    value: { string?: string | undefined; binary?: Buffer | undefined },
    id: string,
  ): Version {
    for (const v of secret.versions.values()) {
      if (v.stages.has('AWSPREVIOUS')) v.stages.delete('AWSPREVIOUS');
    }
    for (const v of secret.versions.values()) {
      if (v.stages.has('AWSCURRENT')) {
        v.stages.delete('AWSCURRENT');
        v.stages.add('AWSPREVIOUS');
      }
    }
    const version: Version = { id, ...value, stages: new Set(['AWSCURRENT']), created: Date.now() };
    secret.versions.set(id, version);
    secret.lastChanged = version.created;
    return version;
  }

  function seed(
    name: string,
    value: string | Uint8Array,
    opts: { tags?: Record<string, string>; description?: string } = {},
  ) {
    let secret = secrets.get(name);
    if (!secret) {
      const now = Date.now();
      secret = {
        name,
        arn: arnFor(name),
        description: opts.description,
        tags: Object.entries(opts.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
        versions: new Map(),
        created: now,
        lastChanged: now,
      };
      secrets.set(name, secret);
    }
    const v = putVersion(
      secret,
      typeof value === 'string' ? { string: value } : { binary: Buffer.from(value) },
      randomUUID(),
    );
    return v.id;
  }

  function denied(action: string, principal: string, resource?: string): Denial | undefined {
    return denials.find(
      (d) =>
        d.action === action &&
        (d.principal === undefined || d.principal === principal) &&
        (d.resource === undefined || d.resource === resource),
    );
  }

  function authorize(action: string, principal: Principal, secretName?: string, resourceArn?: string) {
    const denial = denied(action, principal.arn, secretName);
    if (denial) {
      const resource = resourceArn ?? '*';
      const article = denial.policy.startsWith('identity') ? 'an' : 'a';
      const why = denial.explicit
        ? `with an explicit deny in ${article} ${denial.policy}`
        : `because no ${denial.policy} allows the ${action} action`;
      throw new AwsError(
        'AccessDeniedException',
        `User: ${principal.arn} is not authorized to perform: ${action} on resource: ${resource} ${why}`,
      );
    }
  }

  function resourceArn(id: string): string {
    const s = find(id);
    if (s) return s.arn;
    return id.startsWith('arn:')
      ? id
      : `arn:aws:secretsmanager:${region}:${AWS_EMULATOR_ACCOUNT}:secret:${id}`;
  }

  function takeFault(op: string): Fault | undefined {
    const f = faults.find((x) => (x.op === op || x.op === '*') && x.remaining > 0);
    if (f) f.remaining -= 1;
    return f;
  }

  /** Secrets Manager calls KMS as the caller; a key the caller may not use answers this. */
  const kmsDenied = () => new AwsError('AccessDeniedException', 'Access to KMS is not allowed');
  const notFound = () =>
    new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  const markedDeleted = () =>
    new AwsError(
      'InvalidRequestException',
      "You can't perform this operation on the secret because it was marked for deletion.",
    );

  function str(body: Record<string, unknown>, key: string): string | undefined {
    const v = body[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new AwsError('SerializationException', `Expected a string for ${key}`);
    return v;
  }

  function requireId(body: Record<string, unknown>): string {
    const id = str(body, 'SecretId');
    if (!id) throw new AwsError('InvalidParameterException', 'You must provide a SecretId.');
    return id;
  }

  function valueEntry(secret: Secret, version: Version) {
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...(version.string !== undefined ? { SecretString: version.string } : {}),
      ...(version.binary !== undefined ? { SecretBinary: version.binary.toString('base64') } : {}),
      VersionStages: [...version.stages],
      CreatedDate: seconds(version.created),
    };
  }

  /** The value lookup shared by GetSecretValue and BatchGetSecretValue. */
  function readValue(id: string, versionId?: string, stage?: string) {
    const secret = find(id);
    if (!secret) throw notFound();
    if (secret.deletedDate !== undefined) throw markedDeleted();
    if (secret.kmsDenied) throw kmsDenied();
    if (secret.decryptionFails) {
      throw new AwsError(
        'DecryptionFailure',
        "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
      );
    }
    let version: Version | undefined;
    if (versionId) {
      version = secret.versions.get(versionId);
      if (!version || (stage && !version.stages.has(stage))) {
        throw new AwsError(
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`,
        );
      }
    } else {
      const label = stage ?? 'AWSCURRENT';
      version = [...secret.versions.values()].find((v) => v.stages.has(label));
      if (!version) {
        throw new AwsError(
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for staging label: ${label}`,
        );
      }
    }
    return valueEntry(secret, version);
  }

  type Filter = { Key?: string; Values?: string[] };

  /** Filter.Values as the API reference constrains them: 1-10 items, ≤ 512 characters, this pattern. */
  const FILTER_VALUE = /^!?[a-zA-Z0-9 :_@/+=.\-!]*$/;

  function validateFilters(filters: Filter[]): void {
    filters.forEach((f, i) => {
      const values = f.Values ?? [];
      const at = `filters.${i + 1}.member.values`;
      if (values.length < 1 || values.length > 10) {
        throw new AwsError(
          'ValidationException',
          `1 validation error detected: Value at '${at}' failed to satisfy constraint: Member must have length between 1 and 10`,
        );
      }
      for (const v of values) {
        if (typeof v !== 'string' || v.length > 512 || !FILTER_VALUE.test(v)) {
          throw new AwsError(
            'ValidationException',
            `1 validation error detected: Value at '${at}' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 512, Member must satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$]`,
          );
        }
      }
    });
  }

  function matchesFilters(secret: Secret, filters: Filter[]): boolean {
    return filters.every((f) => {
      const values = f.Values ?? [];
      const test = (candidate: (v: string) => boolean) =>
        values.some((raw) => (raw.startsWith('!') ? !candidate(raw.slice(1)) : candidate(raw)));
      switch (f.Key) {
        case 'name':
          return test((v) => secret.name.startsWith(v));
        case 'description':
          return test((v) => (secret.description ?? '').toLowerCase().startsWith(v.toLowerCase()));
        case 'tag-key':
          return test((v) => secret.tags.some((t) => t.Key.startsWith(v)));
        case 'tag-value':
          return test((v) => secret.tags.some((t) => t.Value.startsWith(v)));
        // The emulator has no replicas and no secrets managed by other services: these match
        // nothing (and so every negation matches).
        case 'primary-region':
        case 'owning-service':
          return test(() => false);
        case 'all':
          return test((v) => {
            const needle = v.toLowerCase();
            return [
              secret.name,
              secret.description ?? '',
              ...secret.tags.flatMap((t) => [t.Key, t.Value]),
            ].some((h) => h.toLowerCase().includes(needle));
          });
        default:
          throw new AwsError('InvalidParameterException', `Invalid filter key: ${String(f.Key)}`);
      }
    });
  }

  function page<T>(items: T[], body: Record<string, unknown>, defaultSize: number) {
    const max = typeof body.MaxResults === 'number' ? body.MaxResults : defaultSize;
    if (max < 1 || max > 100)
      throw new AwsError('InvalidParameterException', 'MaxResults must be between 1 and 100.');
    let offset = 0;
    const token = str(body, 'NextToken');
    if (token) {
      const parsed = Number(
        Buffer.from(token, 'base64')
          .toString('utf8')
          .replace(/^offset:/, ''),
      );
      if (!Number.isInteger(parsed) || parsed < 0)
        throw new AwsError('InvalidNextTokenException', 'The NextToken value is invalid.');
      offset = parsed;
    }
    const slice = items.slice(offset, offset + max);
    const next =
      offset + max < items.length ? Buffer.from(`offset:${offset + max}`).toString('base64') : undefined;
    return { slice, next };
  }

  function listEntry(s: Secret) {
    const stages: Record<string, string[]> = {};
    for (const v of s.versions.values()) if (v.stages.size > 0) stages[v.id] = [...v.stages];
    return {
      ARN: s.arn,
      Name: s.name,
      ...(s.description !== undefined ? { Description: s.description } : {}),
      ...(s.tags.length > 0 ? { Tags: s.tags } : {}),
      CreatedDate: seconds(s.created),
      LastChangedDate: seconds(s.lastChanged),
      ...(s.deletedDate !== undefined ? { DeletedDate: seconds(s.deletedDate) } : {}),
      SecretVersionsToStages: stages,
    };
  }

  function valueFrom(body: Record<string, unknown>) {
    const string = str(body, 'SecretString');
    const binary = str(body, 'SecretBinary');
    if (string !== undefined && binary !== undefined) {
      throw new AwsError(
        'InvalidParameterException',
        'You must provide either SecretString or SecretBinary, but not both.',
      );
    }
    const bytes = binary !== undefined ? Buffer.from(binary, 'base64') : undefined;
    // SecretString and SecretBinary: 1 to 65536 (API reference, length constraints).
    const length = string?.length ?? bytes?.length;
    const field = string !== undefined ? 'secretString' : 'secretBinary';
    if (length !== undefined && (length < 1 || length > 65_536)) {
      const bound = length < 1 ? 'greater than or equal to 1' : 'less than or equal to 65536';
      throw new AwsError(
        'ValidationException',
        `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length ${bound}`,
      );
    }
    return { string, binary: bytes };
  }

  const secretsManager: Record<string, (body: Record<string, unknown>, who: Principal) => unknown> = {
    GetSecretValue(body, who) {
      const id = requireId(body);
      authorize('secretsmanager:GetSecretValue', who, find(id)?.name ?? id, resourceArn(id));
      return readValue(id, str(body, 'VersionId'), str(body, 'VersionStage'));
    },
    BatchGetSecretValue(body, who) {
      authorize('secretsmanager:BatchGetSecretValue', who, undefined, '*');
      const list = body.SecretIdList as unknown;
      const filters = body.Filters as Filter[] | undefined;
      if ((list === undefined) === (filters === undefined)) {
        throw new AwsError(
          'InvalidParameterException',
          'You must provide either SecretIdList or Filters, but not both.',
        );
      }
      if (filters !== undefined) validateFilters(filters);
      const SecretValues: unknown[] = [];
      const Errors: Array<{ SecretId: string; ErrorCode: string; Message: string }> = [];
      let ids: string[];
      let NextToken: string | undefined;
      if (Array.isArray(list)) {
        if (list.length === 0 || list.length > 20) {
          throw new AwsError(
            'InvalidParameterException',
            'SecretIdList must contain between 1 and 20 secret IDs.',
          );
        }
        if (body.MaxResults !== undefined) {
          throw new AwsError('InvalidParameterException', 'MaxResults can only be used with Filters.');
        }
        ids = list.map(String);
      } else {
        authorize('secretsmanager:ListSecrets', who, undefined, '*');
        const matching = [...secrets.values()].filter(
          (s) => s.deletedDate === undefined && matchesFilters(s, filters ?? []),
        );
        const p = page(matching, body, 20);
        ids = p.slice.map((s) => s.name);
        NextToken = p.next;
      }
      for (const id of ids) {
        try {
          authorize('secretsmanager:GetSecretValue', who, find(id)?.name ?? id, resourceArn(id));
          SecretValues.push(readValue(id));
        } catch (err) {
          if (!(err instanceof AwsError)) throw err;
          Errors.push({ SecretId: id, ErrorCode: err.type, Message: err.message });
        }
      }
      return { SecretValues, Errors, ...(NextToken ? { NextToken } : {}) };
    },
    ListSecrets(body, who) {
      authorize('secretsmanager:ListSecrets', who, undefined, '*');
      const filters = (body.Filters as Filter[] | undefined) ?? [];
      validateFilters(filters);
      const includeDeleted = body.IncludePlannedDeletion === true;
      const all = [...secrets.values()]
        .filter((s) => (includeDeleted || s.deletedDate === undefined) && matchesFilters(s, filters))
        .sort((a, b) => a.created - b.created || (a.name < b.name ? -1 : 1));
      if (body.SortOrder === 'desc') all.reverse();
      const { slice, next } = page(all, body, 100);
      return { SecretList: slice.map(listEntry), ...(next ? { NextToken: next } : {}) };
    },
    DescribeSecret(body, who) {
      const id = requireId(body);
      authorize('secretsmanager:DescribeSecret', who, find(id)?.name ?? id, resourceArn(id));
      const s = find(id);
      if (!s) throw notFound();
      const { SecretVersionsToStages, ...rest } = listEntry(s);
      return { ...rest, VersionIdsToStages: SecretVersionsToStages };
    },
    CreateSecret(body, who) {
      const name = str(body, 'Name');
      // AWS answers a name outside CreateSecret's documented characters with a ValidationException.
      if (!name || !/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
        throw new AwsError(
          'ValidationException',
          'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
        );
      }
      authorize('secretsmanager:CreateSecret', who, name, resourceArn(name));
      const existing = secrets.get(name);
      if (existing?.deletedDate !== undefined) {
        throw new AwsError(
          'InvalidRequestException',
          "You can't create this secret because a secret with this name is already scheduled for deletion.",
        );
      }
      if (existing)
        throw new AwsError(
          'ResourceExistsException',
          `The operation failed because the secret ${name} already exists.`,
        );
      const now = Date.now();
      const secret: Secret = {
        name,
        arn: arnFor(name),
        description: str(body, 'Description'),
        tags: ((body.Tags as Array<{ Key: string; Value: string }> | undefined) ?? []).map((t) => ({
          Key: t.Key,
          Value: t.Value,
        })),
        versions: new Map(),
        created: now,
        lastChanged: now,
      };
      secrets.set(name, secret);
      const value = valueFrom(body);
      if (value.string === undefined && value.binary === undefined) return { ARN: secret.arn, Name: name };
      const v = putVersion(secret, value, str(body, 'ClientRequestToken') ?? randomUUID());
      return { ARN: secret.arn, Name: name, VersionId: v.id };
    },
    PutSecretValue(body, who) {
      const id = requireId(body);
      authorize('secretsmanager:PutSecretValue', who, find(id)?.name ?? id, resourceArn(id));
      const s = find(id);
      if (!s) throw notFound();
      if (s.deletedDate !== undefined) throw markedDeleted();
      const token = str(body, 'ClientRequestToken') ?? randomUUID();
      const value = valueFrom(body);
      if (s.kmsDenied) throw kmsDenied();
      const existing = s.versions.get(token);
      if (existing) {
        if (existing.string !== value.string) {
          throw new AwsError(
            'ResourceExistsException',
            "You can't modify an existing version, you can only create a new version.",
          );
        }
        return { ARN: s.arn, Name: s.name, VersionId: existing.id, VersionStages: [...existing.stages] };
      }
      const v = putVersion(s, value, token);
      return { ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: [...v.stages] };
    },
    UpdateSecret(body, who) {
      const id = requireId(body);
      authorize('secretsmanager:UpdateSecret', who, find(id)?.name ?? id, resourceArn(id));
      const s = find(id);
      if (!s) throw notFound();
      if (s.deletedDate !== undefined) throw markedDeleted();
      const description = str(body, 'Description');
      if (description !== undefined) s.description = description;
      s.lastChanged = Date.now();
      const value = valueFrom(body);
      // Metadata only: no new version (the API creates one only with SecretString/SecretBinary).
      if (value.string === undefined && value.binary === undefined) return { ARN: s.arn, Name: s.name };
      const v = putVersion(s, value, str(body, 'ClientRequestToken') ?? randomUUID());
      return { ARN: s.arn, Name: s.name, VersionId: v.id };
    },
    TagResource(body, who) {
      const id = requireId(body);
      authorize('secretsmanager:TagResource', who, find(id)?.name ?? id, resourceArn(id));
      const s = find(id);
      if (!s) throw notFound();
      const tags = body.Tags;
      if (!Array.isArray(tags)) throw new AwsError('InvalidParameterException', 'Tags is required.');
      const next = [...s.tags];
      for (const t of tags as Array<{ Key?: unknown; Value?: unknown }>) {
        if (
          typeof t.Key !== 'string' ||
          t.Key.length < 1 ||
          t.Key.length > 127 ||
          typeof t.Value !== 'string' ||
          t.Value.length > 255
        ) {
          throw new AwsError('InvalidParameterException', 'You provided an invalid value for a parameter.');
        }
        // Appends to the existing tags; a key already there gets the new value.
        const at = next.findIndex((x) => x.Key === t.Key);
        if (at >= 0) next[at] = { Key: t.Key, Value: t.Value };
        else next.push({ Key: t.Key, Value: t.Value });
      }
      if (next.length > 50)
        throw new AwsError(
          'InvalidRequestException',
          'The number of tags on the secret exceeds the maximum of 50.',
        );
      s.tags = next;
      s.lastChanged = Date.now();
      return {};
    },
    DeleteSecret(body, who) {
      const id = requireId(body);
      authorize('secretsmanager:DeleteSecret', who, find(id)?.name ?? id, resourceArn(id));
      const s = find(id);
      const force = body.ForceDeleteWithoutRecovery === true;
      // The reference: "If you forcibly delete an already deleted or nonexistent secret, the
      // operation does not return ResourceNotFoundException" (what it returns is not documented).
      if (!s && force) return {};
      if (!s) throw notFound();
      // The API reference lists "the secret is scheduled for deletion" among DeleteSecret's
      // InvalidRequestException causes; a forced delete of a deleted secret goes through.
      if (!force && s.deletedDate !== undefined) {
        throw new AwsError(
          'InvalidRequestException',
          "You can't perform this operation on the secret because it was already scheduled for deletion.",
        );
      }
      if (force && body.RecoveryWindowInDays !== undefined) {
        throw new AwsError(
          'InvalidParameterException',
          "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        );
      }
      const days = typeof body.RecoveryWindowInDays === 'number' ? body.RecoveryWindowInDays : 30;
      if (!force && (days < 7 || days > 30)) {
        throw new AwsError(
          'InvalidParameterException',
          'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).',
        );
      }
      const now = Date.now();
      if (force) {
        secrets.delete(s.name);
        return { ARN: s.arn, Name: s.name, DeletionDate: seconds(now) };
      }
      s.deletedDate = now;
      s.deletionDate = now + days * 86_400_000;
      return { ARN: s.arn, Name: s.name, DeletionDate: seconds(s.deletionDate) };
    },
    RestoreSecret(body, who) {
      const id = requireId(body);
      authorize('secretsmanager:RestoreSecret', who, find(id)?.name ?? id, resourceArn(id));
      const s = find(id);
      if (!s) throw notFound();
      s.deletedDate = undefined;
      s.deletionDate = undefined;
      return { ARN: s.arn, Name: s.name };
    },
    ListSecretVersionIds(body, who) {
      const id = requireId(body);
      authorize('secretsmanager:ListSecretVersionIds', who, find(id)?.name ?? id, resourceArn(id));
      const s = find(id);
      if (!s) throw notFound();
      const all = [...s.versions.values()]
        .filter((v) => body.IncludeDeprecated === true || v.stages.size > 0)
        .sort((a, b) => b.created - a.created);
      const { slice, next } = page(all, body, 100);
      return {
        ARN: s.arn,
        Name: s.name,
        Versions: slice.map((v) => ({
          VersionId: v.id,
          VersionStages: [...v.stages],
          CreatedDate: seconds(v.created),
        })),
        ...(next ? { NextToken: next } : {}),
      };
    },
  };

  function stsXml(action: string, result: string): string {
    return `<${action}Response xmlns="${STS_NS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`;
  }

  const sts: Record<string, (params: URLSearchParams, who: Principal) => string> = {
    GetCallerIdentity(_params, who) {
      return stsXml(
        'GetCallerIdentity',
        `<Arn>${xmlEscape(who.arn)}</Arn><UserId>${xmlEscape(who.userId)}</UserId><Account>${AWS_EMULATOR_ACCOUNT}</Account>`,
      );
    },
    AssumeRole(params, who) {
      // STS API reference: RegionDisabled, HTTP 403, when STS is not activated in the region.
      if (options.stsRegionDisabled) {
        throw new AwsError(
          'RegionDisabledException',
          `STS is not activated in this region for account:${AWS_EMULATOR_ACCOUNT}. Your account administrator can activate STS in this region using the IAM Console.`,
          403,
        );
      }
      const roleArn = params.get('RoleArn') ?? '';
      const sessionName = params.get('RoleSessionName') ?? '';
      if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
        throw new AwsError('ValidationError', "Value at 'roleSessionName' failed to satisfy constraint", 400);
      }
      const role = roles.find((r) => r.arn === roleArn);
      const refuse = () =>
        new AwsError(
          'AccessDenied',
          `User: ${who.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
          403,
        );
      if (!role || denied('sts:AssumeRole', who.arn, roleArn) !== undefined) throw refuse();
      if (role.externalId !== undefined && params.get('ExternalId') !== role.externalId) throw refuse();
      const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
      const secretAccessKey = randomBytes(30).toString('base64');
      const sessionToken = randomBytes(48).toString('base64');
      const duration = Number(params.get('DurationSeconds') ?? options.sessionSeconds ?? 3600);
      const expiresAt = Date.now() + duration * 1000;
      const roleName = roleArn.split('/').pop() ?? 'role';
      const assumedArn = `arn:aws:sts::${AWS_EMULATOR_ACCOUNT}:assumed-role/${roleName}/${sessionName}`;
      const roleId = `AROA${randomBytes(8).toString('hex').toUpperCase()}`;
      principals.set(accessKeyId, {
        arn: assumedArn,
        userId: `${roleId}:${sessionName}`,
        secretAccessKey,
        sessionToken,
        expiresAt,
      });
      return stsXml(
        'AssumeRole',
        `<Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${xmlEscape(secretAccessKey)}</SecretAccessKey>` +
          `<SessionToken>${xmlEscape(sessionToken)}</SessionToken><Expiration>${new Date(expiresAt).toISOString()}</Expiration></Credentials>` +
          `<AssumedRoleUser><Arn>${xmlEscape(assumedArn)}</Arn><AssumedRoleId>${roleId}:${xmlEscape(sessionName)}</AssumedRoleId></AssumedRoleUser>`,
      );
    },
  };

  function sendJsonError(res: ServerResponse, err: AwsError) {
    const body = JSON.stringify({ __type: err.type, message: err.message });
    res.writeHead(err.status, {
      'content-type': JSON_TYPE,
      'x-amzn-requestid': randomUUID(),
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  function sendXmlError(res: ServerResponse, err: AwsError) {
    const type = err.status >= 500 ? 'Receiver' : 'Sender';
    const body = `<ErrorResponse xmlns="${STS_NS}"><Error><Type>${type}</Type><Code>${err.type}</Code><Message>${xmlEscape(err.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
    res.writeHead(err.status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /** Map a failed signature check to the error each protocol answers with. */
  function authError(reason: string, protocol: 'json' | 'query'): AwsError {
    const mismatch =
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
    if (protocol === 'json') {
      switch (reason) {
        case 'missing':
          return new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
        case 'incomplete':
          return new AwsError(
            'IncompleteSignatureException',
            "Authorization header requires 'Credential', 'Signature', 'SignedHeaders' parameters.",
          );
        case 'unknown-key':
        case 'bad-token':
          return new AwsError(
            'UnrecognizedClientException',
            'The security token included in the request is invalid.',
          );
        case 'expired':
          return new AwsError(
            'ExpiredTokenException',
            'The security token included in the request is expired',
          );
        default:
          return new AwsError('InvalidSignatureException', mismatch);
      }
    }
    switch (reason) {
      case 'missing':
        return new AwsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
      case 'unknown-key':
      case 'bad-token':
        return new AwsError(
          'InvalidClientTokenId',
          'The security token included in the request is invalid.',
          403,
        );
      case 'expired':
        return new AwsError('ExpiredToken', 'The security token included in the request is expired', 403);
      default:
        return new AwsError('SignatureDoesNotMatch', mismatch, 403);
    }
  }

  const FIVE_MINUTES = 5 * 60_000;
  const now = () => Date.now() + (options.clockOffsetMs ?? 0);
  /** `20240101T000000Z` of a time. */
  const amz = (ms: number) => new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
  /** Secrets Manager's answer to a request signed too far from its clock, or undefined. */
  function signedOutOfTime(req: IncomingMessage): AwsError | undefined {
    const stamp = req.headers['x-amz-date'];
    if (typeof stamp !== 'string') return undefined;
    const at = Date.parse(
      stamp.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
    );
    const t = now();
    if (at < t - FIVE_MINUTES)
      return new AwsError(
        'InvalidSignatureException',
        `Signature expired: ${stamp} is now earlier than ${amz(t - FIVE_MINUTES)} (${amz(t)} - 5 min.)`,
      );
    if (at > t + FIVE_MINUTES)
      return new AwsError(
        'InvalidSignatureException',
        `Signature not yet current: ${stamp} is still later than ${amz(t + FIVE_MINUTES)} (${amz(t)} + 5 min.)`,
      );
    return undefined;
  }

  function authenticate(req: IncomingMessage, body: Buffer, service: string): Principal | string {
    const result = verifySigV4(
      { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body },
      (akid) => principals.get(akid)?.secretAccessKey,
      service,
    );
    if (!result.ok) return result.reason;
    const who = principals.get(result.auth.accessKeyId) as Principal;
    if (who.sessionToken !== undefined) {
      const token = req.headers['x-amz-security-token'];
      if (token !== who.sessionToken) return 'bad-token';
      if (who.expiresAt !== undefined && Date.now() >= who.expiresAt) return 'expired';
    }
    return who;
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const body = await readBody(req);
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    const target = req.headers['x-amz-target'];
    res.setHeader('date', new Date(now()).toUTCString());
    if (typeof target === 'string' && target.startsWith('secretsmanager.')) {
      const op = target.slice('secretsmanager.'.length);
      calls[op] = (calls[op] ?? 0) + 1;
      const who = authenticate(req, body, 'secretsmanager');
      if (typeof who === 'string') return sendJsonError(res, authError(who, 'json'));
      const late = signedOutOfTime(req);
      if (late) return sendJsonError(res, late);
      const injected = await faultPlan.next();
      if (injected === 'denied') {
        return sendJsonError(
          res,
          new AwsError(
            'AccessDeniedException',
            `User: ${who.arn} is not authorized to perform: secretsmanager:${op} on resource: * because no identity-based policy allows the secretsmanager:${op} action`,
          ),
        );
      }
      if (injected === 'throttled')
        return sendJsonError(res, new AwsError('ThrottlingException', 'Rate exceeded'));
      if (injected === 'unavailable') {
        return sendJsonError(
          res,
          new AwsError('ServiceUnavailable', 'Service is currently unavailable.', 503),
        );
      }
      const fault = takeFault(op);
      if (fault?.kind === 'network') return req.socket.destroy();
      if (fault?.kind === 'throttle')
        return sendJsonError(res, new AwsError('ThrottlingException', 'Rate exceeded'));
      if (fault?.kind === 'internal') {
        return sendJsonError(
          res,
          new AwsError('InternalServiceError', 'An error occurred on the server side.', 500),
        );
      }
      const handler = secretsManager[op];
      if (!handler)
        return sendJsonError(res, new AwsError('UnknownOperationException', `Unknown operation ${op}`));
      let parsed: Record<string, unknown>;
      try {
        parsed = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      } catch {
        return sendJsonError(
          res,
          new AwsError('SerializationException', 'Start of structure or map found where not expected.'),
        );
      }
      try {
        const out = JSON.stringify(handler(parsed, who));
        res.writeHead(200, {
          'content-type': JSON_TYPE,
          'x-amzn-requestid': randomUUID(),
          'content-length': Buffer.byteLength(out),
        });
        return res.end(out);
      } catch (err) {
        if (err instanceof AwsError) return sendJsonError(res, err);
        throw err;
      }
    }
    const params = new URLSearchParams(body.toString('utf8'));
    const action = params.get('Action');
    if (req.method === 'POST' && action) {
      calls[action] = (calls[action] ?? 0) + 1;
      const who = authenticate(req, body, 'sts');
      if (typeof who === 'string') return sendXmlError(res, authError(who, 'query'));
      const fault = takeFault(action);
      if (fault?.kind === 'network') return req.socket.destroy();
      if (fault?.kind === 'throttle')
        return sendXmlError(res, new AwsError('Throttling', 'Rate exceeded', 400));
      if (fault?.kind === 'internal')
        return sendXmlError(res, new AwsError('InternalFailure', 'An internal error occurred.', 500));
      const handler = sts[action];
      if (!handler || params.get('Version') !== '2011-06-15') {
        return sendXmlError(
          res,
          new AwsError(
            'InvalidAction',
            `Could not find operation ${action} for version ${params.get('Version')}`,
            400,
          ),
        );
      }
      try {
        const out = handler(params, who);
        res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(out) });
        return res.end(out);
      } catch (err) {
        if (err instanceof AwsError) return sendXmlError(res, err);
        throw err;
      }
    }
    sendJsonError(res, new AwsError('UnknownOperationException', 'Missing X-Amz-Target'));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJsonError(res, new AwsError('InternalFailure', String(err), 500));
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    region,
    calls,
    faults: faultPlan,
    resetCalls() {
      for (const k of Object.keys(calls)) delete calls[k];
    },
    seed,
    deny(action, o = {}) {
      denials.push({
        action,
        principal: o.principal,
        resource: o.secret,
        policy: o.policy ?? 'identity-based policy',
        explicit: o.explicit ?? false,
      });
    },
    allowAll() {
      denials = [];
    },
    throttle(op, times) {
      faults.push({ op, remaining: times, kind: 'throttle' });
    },
    fail500(op, times) {
      faults.push({ op, remaining: times, kind: 'internal' });
    },
    dropConnection(op, times) {
      faults.push({ op, remaining: times, kind: 'network' });
    },
    failDecryption(name) {
      const s = secrets.get(name);
      if (!s) throw new Error(`no secret ${name} to fail`);
      s.decryptionFails = true;
    },
    denyKms(name) {
      const s = secrets.get(name);
      if (!s) throw new Error(`no secret ${name} to deny KMS on`);
      s.kmsDenied = true;
    },
    expireSessions() {
      for (const p of principals.values()) if (p.sessionToken !== undefined) p.expiresAt = Date.now() - 1;
    },
    sessions() {
      return [...principals.entries()].filter(([, p]) => p.sessionToken !== undefined).map(([k]) => k);
    },
    secretNames() {
      return [...secrets.keys()];
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

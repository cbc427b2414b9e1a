/**
 * `aws-secrets-manager` store: AWS Secrets Manager through the official SDK v3, loaded with
 * `import()` on first use so processes that never touch AWS do not pay for it.
 *
 * Reads use GetSecretValue (name or ARN, `?version=` → VersionId, `?stage=` → VersionStage);
 * `getMany` batches up to 20 current values per BatchGetSecretValue call and falls back to one
 * GetSecretValue per secret when the caller may not batch. The SDK's own retries are off
 * (`maxAttempts: 1`): the core's retry policy is the only one.
 *
 * With `lookup: kestra-tags` a name is a Kestra secret key: the secret is found by the tags
 * Kestra's AWS Secrets Manager backend writes (`namespace`, `key`, `prefix`; see
 * {@link AwsSecretsManagerStore.get}) and then read by its ARN. That mode is read-only.
 *
 * @example
 * const store = await awsSecretsManagerStoreType.create(
 *   awsSecretsManagerStoreType.settings.parse({ region: 'eu-west-1', auth: { method: 'default' } }),
 *   context,
 * );
 * const { value } = await store.get({ name: 'prod/jira', namespaces: [''] });
 */
import type * as SM from '@aws-sdk/client-secrets-manager';
import { AccessDeniedError, SecretNotFoundError, SecretStateError, UsageError } from '../../errors.js';
import type {
  CheckOptions,
  CheckReport,
  DeleteOptions,
  FetchedSecret,
  HostAccess,
  ListOptions,
  ListPage,
  SecretMetadata,
  SecretRequest,
  StoreClient,
  StoreContext,
  StoreType,
  VersionMetadata,
  WriteOptions,
  WriteResult,
} from '../contract.js';
import {
  addOrCreate,
  BatchRefused,
  credentialPaths,
  getManyBatched,
  hostAccessOf,
  isoTime,
  listingMatches,
  NameMapping,
  pageSize,
  StoreCore,
  type StoreCoreTuning,
  secretMetadata,
  TagLookup,
  tokenCursor,
  type ValueLimit,
} from '../core/index.js';
import { standardChecks } from '../core/standard-checks.js';
import { checkExpectedVersion, updateAfterWrite } from '../core/write-checks.js';
import {
  AWS_SCRUB,
  type AwsCallContext,
  awsEndpoint,
  awsErrorName,
  awsNotFoundFix,
  classifyAws,
} from './errors.js';
import { type AwsSecretsManagerSettings, awsSecretsManagerSettings } from './settings.js';

export type { AwsSecretsManagerSettings } from './settings.js';

type Sm = typeof SM;
/** A Secrets Manager operation by its API name, which is also its IAM action: `secretsmanager:<Op>`. */
type Op = { [K in keyof Sm]: K extends `${infer O}Command` ? (O extends '$' ? never : O) : never }[keyof Sm];
type CommandOf<O extends Op> = InstanceType<Sm[`${O}Command`]>;
type Output<O extends Op> = Awaited<ReturnType<ReturnType<CommandOf<O>['resolveMiddleware']>>>['output'];
type Credentials = NonNullable<SM.SecretsManagerClientConfig['credentials']>;
type StaticKeys = { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined };

interface Sdk {
  sm: Sm;
  client: SM.SecretsManagerClient;
  credentials: Credentials;
}

/** Construction options for tests and embedding; not part of the config file. */
export interface AwsStoreOptions extends StoreCoreTuning {
  /** Environment used for the region fallback (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** BatchGetSecretValue takes at most 20 ids per call. */
const BATCH_SIZE = 20;
const DAY_MS = 86_400_000;
/** SecretString holds 1 to 65536 characters (API reference); AWS would refuse others. */
const SECRET_STRING: ValueLimit = {
  max: 65_536,
  unit: 'characters',
  limit: "Secrets Manager's limit for SecretString",
  empty: 'Secrets Manager does not store an empty value',
};
const LIST_LAG =
  'tags added in the last five minutes may not show yet (ListSecrets is eventually consistent)';
/**
 * A secret name: ASCII letters, digits and /_+=.@- (CreateSecret's reference), and "!", which
 * AWS's own answer to a bad name lists and the secrets other services manage use (rds!db-…).
 */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@!-]{1,512}$/;
/** ListSecrets filter values accept only these characters. */
const FILTER_SAFE = /^[a-zA-Z0-9 :_@/+=.-]{1,512}$/;

type Filter = { Key: 'name' | 'tag-key' | 'tag-value'; Values: string[] };

/** An error as the SDK would throw it, for what a batch answer reports per secret. */
const awsError = (name: string, message: string) => Object.assign(new Error(message), { name });
const tagsOf = (tags: Array<{ Key?: string | undefined; Value?: string | undefined }> | undefined) =>
  tags ? Object.fromEntries(tags.map((t) => [t.Key ?? '', t.Value ?? ''])) : undefined;
/** The metadata of a ListSecrets entry or a DescribeSecret answer; its current version is the one labelled AWSCURRENT. */
const metadataOf = (name: string, s: SM.SecretListEntry, stages: Record<string, string[]> | undefined) =>
  secretMetadata(name, {
    description: s.Description,
    tags: tagsOf(s.Tags),
    createdAt: s.CreatedDate,
    updatedAt: s.LastChangedDate,
    deletedAt: s.DeletedDate,
    version: Object.entries(stages ?? {}).find(([, s]) => s.includes('AWSCURRENT'))?.[0],
  });

/**
 * Send one operation: the command class is `sm[`${op}Command`]`, and `ctx.action` becomes the
 * operation's IAM action, so a denial names what to grant.
 */
function send<O extends Op>(
  { sm, client }: Sdk,
  op: O,
  input: CommandOf<O>['input'],
  ctx: AwsCallContext,
): Promise<Output<O>> {
  ctx.action = `secretsmanager:${op}`;
  const Command = sm[`${op}Command`] as unknown as new (input: unknown) => Parameters<typeof client.send>[0];
  return client.send(new Command(input)) as Promise<Output<O>>;
}

export class AwsSecretsManagerStore implements StoreClient {
  readonly #settings: AwsSecretsManagerSettings;
  readonly #context: StoreContext;
  readonly #region: string;
  /** STS answers assume-role and the identity check of `stores test`. */
  readonly #stsEndpoint: string | undefined;
  readonly #core: StoreCore<AwsCallContext, Sdk>;
  readonly #names: NameMapping;
  /** Set once BatchGetSecretValue was denied: later getMany calls go straight to single reads. */
  #batchDenied = false;
  /** `lookup: kestra-tags`: names are Kestra keys found by tags, in the caller's namespace. */
  readonly #kestra: TagLookup | undefined;

  constructor(settings: AwsSecretsManagerSettings, context: StoreContext, options: AwsStoreOptions = {}) {
    this.#settings = settings;
    this.#context = context;
    const env = options.env ?? process.env;
    const region = settings.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (!region)
      throw new UsageError(
        `[${context.storeName}] no AWS region: set region in the store settings or AWS_REGION`,
      );
    this.#region = region;
    this.#stsEndpoint = settings.stsEndpoint ?? settings.endpoint;
    if (settings.lookup === 'kestra-tags' && settings.prefix !== '') {
      throw new UsageError(
        `[${context.storeName}] prefix names secrets, but with lookup: kestra-tags secrets are found by their tags, not their names: ` +
          "remove prefix (Kestra's own prefix is a tag: set kestraPrefix)",
      );
    }
    this.#core = new StoreCore<AwsCallContext, Sdk>({
      context,
      settings,
      credentialPaths: AWS_CREDENTIALS,
      scrub: AWS_SCRUB,
      valueLimit: SECRET_STRING,
      sdk: { build: () => this.#init(), dispose: (sdk) => sdk.client.destroy() },
      retry: options.retry,
      requestTimeoutMs: options.requestTimeoutMs,
      endpoint: awsEndpoint({ region, endpoint: settings.endpoint, stsEndpoint: settings.stsEndpoint }),
      classify: (err, op) => classifyAws(err, op, region, settings.auth.method !== 'static'),
    });
    // Names get the store prefix and must be names AWS can hold; ARNs are used as given.
    this.#names = new NameMapping(this.#core.tag, {
      prefix: settings.prefix,
      what: 'Secrets Manager secret name',
      pattern: { test: SECRET_NAME, rule: 'names are 1-512 letters, digits and /_+=.@!-' },
      passthrough: (n) => n.startsWith('arn:'),
    });
    this.#kestra = settings.lookup === 'kestra-tags' ? this.#kestraLookup(settings.kestraPrefix) : undefined;
  }

  // ---- SDK, credentials, calls -------------------------------------------------------------

  async #init(): Promise<Sdk> {
    // The SDK prints a multi-line notice about future Node versions on the first client it
    // builds; on stderr it would break the CLI's one-line-error contract. Sesame supports Node 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const sm = await import('@aws-sdk/client-secrets-manager');
    const credentials = await this.#credentials();
    const client = new sm.SecretsManagerClient({
      region: this.#region,
      endpoint: this.#settings.endpoint,
      credentials,
      maxAttempts: 1,
      requestHandler: this.#requestHandler(),
    });
    return { sm, client, credentials };
  }

  /**
   * Connection and request time limits, of Secrets Manager's and STS's clients. Without
   * throwOnRequestTimeout the SDK's handler only logs a warning at requestTimeout (on stderr)
   * and waits for ever on a listener that never answers.
   */
  #requestHandler() {
    return {
      connectionTimeout: 5_000,
      requestTimeout: this.#core.requestTimeoutMs,
      throwOnRequestTimeout: true,
    };
  }

  async #credentials(): Promise<Credentials> {
    const { auth } = this.#settings;
    const fixed = ({ accessKeyId, secretAccessKey, sessionToken }: StaticKeys) => ({
      accessKeyId,
      secretAccessKey,
      sessionToken,
    });
    if (auth.method === 'static') return fixed(auth);
    // Only credentials the SDK refreshes need its providers package.
    const providers = await import('@aws-sdk/credential-providers');
    if (auth.method === 'default') return providers.fromNodeProviderChain();
    if (auth.method === 'profile') return providers.fromIni({ profile: auth.profile });
    const { roleArn: RoleArn, externalId: ExternalId, source } = auth;
    return providers.fromTemporaryCredentials({
      masterCredentials: source.method === 'static' ? fixed(source) : providers.fromNodeProviderChain(),
      params: {
        RoleArn,
        RoleSessionName: auth.sessionName ?? `sesame-${this.#context.storeName}`,
        ExternalId,
      },
      clientConfig: {
        region: this.#region,
        endpoint: this.#stsEndpoint,
        requestHandler: this.#requestHandler(),
      },
    });
  }

  /**
   * One SDK call under the core (retries, classification). Temporary credentials the SDK still
   * holds can be revoked or expire early: on ExpiredToken the client is rebuilt (new provider,
   * fresh credentials) and the core tries once more (static keys cannot be refreshed).
   */
  #call<T>(ctx: AwsCallContext, call: (sdk: Sdk) => Promise<T>): Promise<T> {
    return this.#core.withSdk(ctx, async (sdk) => {
      try {
        return await call(sdk);
      } catch (err) {
        if (this.#settings.auth.method !== 'static' && /^ExpiredToken/.test(awsErrorName(err))) {
          this.#context.log.info(`${this.#core.tag} AWS session credentials expired: fetching new ones`);
          await this.#core.sdk.reset();
        }
        throw err;
      }
    });
  }

  /** One operation under the core (see {@link send}); `ctx` says what it is about. */
  #send<O extends Op>(
    op: O,
    input: CommandOf<O>['input'],
    about: Omit<AwsCallContext, 'action' | 'kind'> & Partial<AwsCallContext> = {},
  ): Promise<Output<O>> {
    const ctx: AwsCallContext = { kind: 'other', ...about, action: `secretsmanager:${op}` };
    return this.#call(ctx, (sdk) => send(sdk, op, input, ctx));
  }

  // ---- reads ---------------------------------------------------------------------------------

  async get(request: SecretRequest): Promise<FetchedSecret> {
    const { name, version, stage } = request;
    const secretId = await this.#secretIdFor(name, request.namespaces);
    const out = await this.#send(
      'GetSecretValue',
      { SecretId: secretId, VersionId: version || undefined, VersionStage: stage || undefined },
      { secret: name, secretId, version, stage, kind: 'read' },
    );
    const got = this.#fetched(out, name);
    if (got instanceof Error) throw got;
    return got;
  }

  /** The value of a GetSecretValue answer or a BatchGetSecretValue entry, or why there is none. */
  #fetched(
    out: { SecretString?: string; SecretBinary?: Uint8Array; VersionId?: string },
    name: string,
  ): FetchedSecret | SecretStateError {
    const value = out.SecretString ?? out.SecretBinary;
    if (value !== undefined) return { value, version: out.VersionId };
    return new SecretStateError(
      `${this.#core.tag} secret "${name}" has neither SecretString nor SecretBinary`,
    );
  }

  getMany(requests: readonly SecretRequest[]): Promise<Array<FetchedSecret | Error>> {
    // Kestra keys (each needs its own tag search first) and pinned versions are read one by one.
    const batch = !this.#kestra && !this.#batchDenied;
    return getManyBatched(requests, {
      size: BATCH_SIZE,
      // A name AWS cannot spell is read alone, where get() refuses it.
      key: (r) => {
        if (!batch || r.version !== undefined || (r.stage ?? 'AWSCURRENT') !== 'AWSCURRENT') return undefined;
        try {
          return this.#names.toId(r.name);
        } catch {
          return undefined;
        }
      },
      single: (r) => this.get(r),
      missing: (id) =>
        this.#core.error(
          awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret."),
          this.#readCtx(id),
        ),
      fetch: (ids) => this.#batchGet(ids),
    });
  }

  #readCtx(id: string): AwsCallContext {
    const secret = this.#names.fromId(id) ?? id;
    return { action: 'secretsmanager:GetSecretValue', secret, secretId: id, kind: 'read' };
  }

  /**
   * The current values of up to 20 ids by BatchGetSecretValue, which answers each id with a value
   * or an error, over rounds while it hands back a NextToken (10 at most). A denial of the batch
   * call itself turns batching off for this client (warned once): reads go one by one.
   */
  async #batchGet(ids: string[]): Promise<Map<string, FetchedSecret | Error>> {
    const answered = new Map<string, FetchedSecret | Error>();
    let token: string | undefined;
    for (let round = 0; round < 10 && (round === 0 || token) && answered.size < ids.length; round++) {
      const input = { SecretIdList: ids, NextToken: token };
      const out = await this.#send('BatchGetSecretValue', input, { kind: 'read' }).catch((err: unknown) => {
        if (!(err instanceof AccessDeniedError && /BatchGetSecretValue/.test(err.message))) throw err;
        if (!this.#batchDenied) {
          this.#context.log.warn(
            `${this.#core.tag} BatchGetSecretValue is denied: reading one secret per call; grant secretsmanager:BatchGetSecretValue to batch up to 20 per call`,
          );
        }
        this.#batchDenied = true;
        throw new BatchRefused();
      });
      for (const entry of out.SecretValues ?? []) {
        const id = ids.find(
          (c) =>
            c === entry.Name ||
            c === entry.ARN ||
            (c.startsWith('arn:') && entry.ARN?.startsWith(`${c}-`) === true),
        );
        if (id !== undefined) answered.set(id, this.#fetched(entry, this.#readCtx(id).secret ?? id));
      }
      for (const e of out.Errors ?? []) {
        if (e.SecretId === undefined || !ids.includes(e.SecretId)) continue;
        const raw = awsError(e.ErrorCode ?? 'Error', e.Message ?? e.ErrorCode ?? 'error');
        answered.set(e.SecretId, this.#core.error(raw, this.#readCtx(e.SecretId)));
      }
      token = out.NextToken;
    }
    return answered;
  }

  // ---- listing and metadata ----------------------------------------------------------------

  /**
   * One page of ListSecrets, resumed with its NextToken. Server-side filters narrow the pages;
   * exact matching is done here (AWS matches name and tag prefixes), so a page may hold fewer
   * items than asked while a cursor still follows.
   */
  async list(options: ListOptions): Promise<ListPage> {
    if (this.#kestra) return this.#kestra.list(options);
    const namePrefix = this.#names.prefix + (options.prefix ?? '');
    const filters: Filter[] = [];
    if (namePrefix && FILTER_SAFE.test(namePrefix)) filters.push({ Key: 'name', Values: [namePrefix] });
    for (const [k, v] of Object.entries(options.tags ?? {})) {
      if (FILTER_SAFE.test(k)) filters.push({ Key: 'tag-key', Values: [k] });
      if (FILTER_SAFE.test(v)) filters.push({ Key: 'tag-value', Values: [v] });
    }
    const out = await this.#listSecrets(filters, tokenCursor.decode(options.cursor), options);
    const items: SecretMetadata[] = [];
    for (const s of out.SecretList ?? []) {
      const name = this.#names.fromId(s.Name ?? '');
      if (listingMatches(name, tagsOf(s.Tags), options))
        items.push(metadataOf(name, s, s.SecretVersionsToStages));
    }
    return { items, cursor: tokenCursor.encode(out.NextToken) };
  }

  /** One ListSecrets page (100 secrets at most, the API's limit). */
  #listSecrets(
    filters: Filter[],
    token: string | undefined,
    options: Pick<ListOptions, 'limit' | 'includeDeleted'> = {},
  ) {
    return this.#send('ListSecrets', {
      MaxResults: pageSize(options.limit, 100, 100),
      Filters: filters.length ? filters : undefined,
      NextToken: token,
      IncludePlannedDeletion: options.includeDeleted || undefined,
    });
  }

  async describe(name: string, options?: { namespaces: readonly string[] }): Promise<SecretMetadata> {
    const secretId = await this.#secretIdFor(name, options?.namespaces);
    const out = await this.#send('DescribeSecret', { SecretId: secretId }, { secret: name, secretId });
    return metadataOf(name, out, out.VersionIdsToStages);
  }

  /** Every version, through the SDK's paginator (a retry starts again from the first page). */
  async versions(name: string, options?: { namespaces: readonly string[] }): Promise<VersionMetadata[]> {
    const secretId = await this.#secretIdFor(name, options?.namespaces);
    const ctx: AwsCallContext = {
      action: 'secretsmanager:ListSecretVersionIds',
      secret: name,
      secretId,
      kind: 'other',
    };
    return this.#call(ctx, async ({ sm, client }) => {
      const versions: VersionMetadata[] = [];
      const input = { SecretId: secretId, IncludeDeprecated: true };
      for await (const page of sm.paginateListSecretVersionIds({ client, pageSize: 100 }, input)) {
        for (const v of page.Versions ?? [])
          versions.push({
            version: v.VersionId ?? '',
            createdAt: isoTime(v.CreatedDate),
            stages: v.VersionStages ?? [],
          });
      }
      return versions;
    });
  }

  // ---- writes --------------------------------------------------------------------------------

  checkValue(name: string, value: string): void {
    this.#core.checkValue(name, value);
  }

  async write(name: string, value: string, options: WriteOptions): Promise<WriteResult> {
    this.#kestra?.refuse('write');
    const secretId = this.#names.toId(name);
    this.#core.checkValue(name, value);
    // Secrets Manager has no conditional write.
    await checkExpectedVersion(this.#core.tag, name, options.expectedVersion, async () => {
      return (await this.describe(name)).version;
    });
    const tagList = (tags: Record<string, string>) =>
      Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    const created = tagList({ ...this.#settings.tags, ...options.tags });
    const about = { secret: name, secretId, kind: 'write' } as const;
    const ctx: AwsCallContext = { ...about, action: 'secretsmanager:PutSecretValue' };
    // The SDK fills ClientRequestToken, the idempotency token of both calls, with a new UUID.
    const put = { SecretId: secretId, SecretString: value };
    const create = {
      Name: secretId,
      SecretString: value,
      Description: options.description || undefined,
      Tags: created.length ? created : undefined,
    };
    const written = await this.#call(ctx, (sdk) =>
      addOrCreate({
        add: () => send(sdk, 'PutSecretValue', put, ctx),
        missing: (err) => awsErrorName(err) === 'ResourceNotFoundException' && !secretId.startsWith('arn:'),
        create: () => send(sdk, 'CreateSecret', create, ctx),
        // Created by someone else between our two calls: write a new version of theirs.
        taken: (err) => awsErrorName(err) === 'ResourceExistsException',
      }),
    );
    const version = written.result.VersionId ?? '';
    // A write to an existing secret also applies the description and tags it was given
    // (UpdateSecret without a value makes no version; TagResource adds tags and replaces the
    // values of keys already there).
    const { description: Description, tags = {} } = options;
    const Tags = tagList(tags);
    if (!written.created)
      await updateAfterWrite(version, [
        Description !== undefined && [
          'description',
          () => this.#send('UpdateSecret', { SecretId: secretId, Description }, about),
        ],
        Tags.length > 0 && ['tags', () => this.#send('TagResource', { SecretId: secretId, Tags }, about)],
      ]);
    return { name, version };
  }

  async delete(name: string, options: DeleteOptions): Promise<void> {
    this.#kestra?.refuse('delete');
    const secretId = this.#names.toId(name);
    const days =
      options.recoveryWindowMs === undefined ? undefined : Math.ceil(options.recoveryWindowMs / DAY_MS);
    if (!options.force && days !== undefined && (days < 7 || days > 30)) {
      throw new UsageError(
        `${this.#core.tag} Secrets Manager keeps a deleted secret 7 to 30 days; ${days} days is out of range`,
      );
    }
    // A forced delete of a name that does not exist succeeds in AWS: ask first (a caller without
    // DescribeSecret skips the check).
    if (options.force)
      await this.describe(name).catch((err: unknown) => {
        if (!(err instanceof SecretNotFoundError)) return;
        err.fix = awsNotFoundFix('delete');
        throw err;
      });
    const window = options.force ? { ForceDeleteWithoutRecovery: true } : { RecoveryWindowInDays: days };
    const ctx: AwsCallContext = {
      action: 'secretsmanager:DeleteSecret',
      secret: name,
      secretId,
      kind: 'write',
    };
    await this.#call(ctx, (sdk) =>
      send(sdk, 'DeleteSecret', { SecretId: secretId, ...window }, ctx).catch((err: unknown) => {
        // Already scheduled (AWS refuses to schedule it again): done, its first deletion date stays.
        const scheduled = /scheduled for deletion/.test((err as Error | undefined)?.message ?? '');
        if (!options.force && awsErrorName(err) === 'InvalidRequestException' && scheduled) return;
        throw err;
      }),
    );
  }

  async restore(name: string, _options?: { namespace: string }): Promise<void> {
    this.#kestra?.refuse('restore');
    const secretId = this.#names.toId(name);
    await this.#send('RestoreSecret', { SecretId: secretId }, { secret: name, secretId, kind: 'write' });
  }

  // ---- lookup: kestra-tags -------------------------------------------------------------------
  //
  // Kestra's docs (Enterprise, "Secrets Manager", AWS) say a secret in AWS is seen by Kestra
  // through three tags: `namespace` (the Kestra namespace it appears in), `key` (the key flows
  // use in `{{ secret('KEY') }}`) and `prefix` (Kestra's configured prefix, `kestra` for secrets
  // Kestra created); the secret's AWS name is not shown in Kestra. The docs do not say whether
  // Kestra's AWS backend lets a flow read a secret tagged for a parent namespace, so Sesame
  // matches the caller's own namespace exactly and does not walk up the chain. No tag search is
  // cached here: the resolver's cache keeps values per caller namespace (the type's
  // `readsByNamespace`) for the store's cache TTL.

  /** The secret id (ARN with kestra-tags, the mapped name otherwise) a name means. */
  async #secretIdFor(name: string, namespaces: readonly string[] | undefined): Promise<string> {
    if (!this.#kestra) return this.#names.toId(name);
    try {
      return (await this.#kestra.find(name, namespaces ?? [''])).id;
    } catch (err) {
      // ListSecrets "might not reflect changes from the last five minutes" (API reference).
      if (err instanceof SecretNotFoundError && (namespaces?.[0] ?? '') !== '')
        err.fix = [err.fix, LIST_LAG].filter(Boolean).join('; ');
      throw err;
    }
  }

  /** Kestra's vocabulary for the core's tag lookup; `prefix`, when set, is a tag to require. */
  #kestraLookup(prefix: string | undefined): TagLookup {
    return new TagLookup({
      tag: this.#core.tag,
      mode: 'lookup: kestra-tags',
      otherMode: 'lookup: name',
      platform: 'Kestra',
      provider: 'AWS',
      namespaceTag: 'namespace',
      keyTag: 'key',
      ...(prefix !== undefined ? { required: { prefix } } : {}),
      // ListSecrets filters match tag keys and tag values by prefix and independently of each
      // other (a `tag-value` filter matches any tag's value): they only narrow the pages.
      page: async (narrow, token, options) => {
        const filters: Filter[] = [{ Key: 'tag-key', Values: [narrow.tag] }];
        if (FILTER_SAFE.test(narrow.value)) filters.push({ Key: 'tag-value', Values: [narrow.value] });
        const out = await this.#listSecrets(filters, token, options);
        const items = (out.SecretList ?? []).map((s) => ({
          id: s.ARN ?? '',
          label: s.Name ?? s.ARN ?? '',
          tags: tagsOf(s.Tags) ?? {},
          metadata: metadataOf('', s, s.SecretVersionsToStages),
        }));
        return { items, next: out.NextToken };
      },
    });
  }

  // ---- diagnostics ---------------------------------------------------------------------------

  check(options: CheckOptions): Promise<CheckReport> {
    const { sample, namespaces } = options;
    return standardChecks(this, options, {
      authenticate: () => this.#identity(),
      list: async () => {
        await this.#listSecrets([], undefined, { limit: 1 });
        return `secretsmanager:ListSecrets allowed in ${this.#region}`;
      },
      fix: {
        authenticate: 'check the store credentials',
        list: 'grant secretsmanager:ListSecrets on *',
        read:
          sample &&
          (this.#kestra
            ? `tag one secret ${this.#kestra.tagsText(namespaces[0] ?? '', sample)} and grant secretsmanager:GetSecretValue on it`
            : `grant secretsmanager:GetSecretValue on ${this.#names.toId(sample)}`),
      },
      // Batching is an optimisation: a refusal is reported, not a failure.
      more: [
        sample !== undefined && {
          step: 'batch',
          run: async () => {
            try {
              const SecretIdList = [await this.#secretIdFor(sample, namespaces)];
              await this.#send('BatchGetSecretValue', { SecretIdList });
              return 'secretsmanager:BatchGetSecretValue allowed: up to 20 secrets per call';
            } catch (err) {
              return err instanceof AccessDeniedError
                ? 'BatchGetSecretValue denied: Sesame reads one secret per call (grant secretsmanager:BatchGetSecretValue to batch)'
                : `BatchGetSecretValue not usable (${(err as Error).message}): Sesame reads one secret per call`;
            }
          },
        },
      ],
    });
  }

  /** Who the credentials are, from STS GetCallerIdentity. */
  async #identity(): Promise<string> {
    const sts = await import('@aws-sdk/client-sts');
    return this.#call({ action: 'sts:GetCallerIdentity', kind: 'other' }, async ({ credentials }) => {
      const client = new sts.STSClient({
        region: this.#region,
        credentials,
        maxAttempts: 1,
        endpoint: this.#stsEndpoint,
        requestHandler: this.#requestHandler(),
      });
      try {
        const out = await client.send(new sts.GetCallerIdentityCommand({}));
        return `authenticated as ${out.Arn ?? 'unknown'} (account ${out.Account ?? 'unknown'})`;
      } finally {
        client.destroy();
      }
    });
  }

  close(): Promise<void> {
    return this.#core.close();
  }
}

const AWS_CREDENTIALS = credentialPaths(awsSecretsManagerSettings);

export const awsSecretsManagerStoreType = {
  type: 'aws-secrets-manager',
  capabilities: { write: true, batch: true, versions: true, stages: true, namespaced: false, restore: true },
  settings: awsSecretsManagerSettings,
  secretSettings: AWS_CREDENTIALS,
  /** With kestra-tags, the same name means a different secret in each Kestra namespace. */
  readsByNamespace: (s: AwsSecretsManagerSettings) => s.lookup === 'kestra-tags',
  hostAccess(s: AwsSecretsManagerSettings): HostAccess[] {
    const { auth } = s;
    const ambient =
      auth.method === 'default' || (auth.method === 'assume-role' && auth.source.method === 'default');
    return hostAccessOf({
      addresses: { endpoint: s.endpoint, stsEndpoint: s.stsEndpoint },
      identity: ambient
        ? "uses this server's own AWS credentials (environment, shared files, instance or container role)"
        : auth.method === 'profile' &&
          `reads profile ${auth.profile} from this server's shared AWS config files`,
    });
  },
  create: (settings: AwsSecretsManagerSettings, context: StoreContext) =>
    new AwsSecretsManagerStore(settings, context),
} satisfies StoreType<AwsSecretsManagerSettings>;

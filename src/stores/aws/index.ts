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
import { randomUUID } from 'node:crypto';
import type { SecretsManagerClient, SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { AccessDeniedError, SecretStateError, UsageError } from '../../errors.js';
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
  BatchRefused,
  credentialPaths,
  getManyBatched,
  hostAccessOf,
  type Lazy,
  NameMapping,
  pageSize,
  type RetryPolicy,
  readSampleStep,
  runChecks,
  StoreCore,
  TagLookup,
  addOrCreate,
  tokenCursor,
} from '../core/index.js';
import { AWS_SCRUB, type AwsCallContext, awsErrorName, classifyAws } from './errors.js';
import { type AwsSecretsManagerSettings, awsSecretsManagerSettings } from './settings.js';

export type { AwsSecretsManagerSettings } from './settings.js';

type SecretsManagerModule = typeof import('@aws-sdk/client-secrets-manager');
type Credentials = NonNullable<SecretsManagerClientConfig['credentials']>;
type StaticKeys = { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined };

interface Sdk {
  sm: SecretsManagerModule;
  client: SecretsManagerClient;
  credentials: Credentials;
}

/** Construction options for tests and embedding; not part of the config file. */
export interface AwsStoreOptions {
  /** Override the core's retry policy (attempts, delays, sleep). */
  retry?: RetryPolicy;
  /** Environment used for the region fallback (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** BatchGetSecretValue takes at most 20 ids per call. */
const BATCH_SIZE = 20;
const DAY_MS = 86_400_000;
/** ListSecrets filter values accept only these characters. */
const FILTER_SAFE = /^[a-zA-Z0-9 :_@/+=.-]{1,512}$/;

type Filter = { Key: 'name' | 'tag-key' | 'tag-value'; Values: string[] };

const iso = (d: Date | undefined) => d?.toISOString();
/** An error as the SDK would throw it, for what a batch answer reports per secret. */
const awsError = (name: string, message: string) => Object.assign(new Error(message), { name });
const tagsOf = (tags: Array<{ Key?: string | undefined; Value?: string | undefined }> | undefined) =>
  tags ? Object.fromEntries(tags.map((t) => [t.Key ?? '', t.Value ?? ''])) : undefined;
/** Description, dates and current version of a ListSecrets entry or a DescribeSecret answer. */
const metadataOf = (
  s: { Description?: string; CreatedDate?: Date; LastChangedDate?: Date; DeletedDate?: Date },
  stages: Record<string, string[]> | undefined,
) => ({
  description: s.Description,
  createdAt: iso(s.CreatedDate),
  updatedAt: iso(s.LastChangedDate),
  deletedAt: iso(s.DeletedDate),
  version: Object.entries(stages ?? {}).find(([, s]) => s.includes('AWSCURRENT'))?.[0],
});

export class AwsSecretsManagerStore implements StoreClient {
  readonly #settings: AwsSecretsManagerSettings;
  readonly #context: StoreContext;
  readonly #region: string;
  readonly #core: StoreCore<AwsCallContext>;
  readonly #names: NameMapping;
  readonly #sdk: Lazy<Sdk>;
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
    if (settings.lookup === 'kestra-tags' && settings.prefix !== '') {
      throw new UsageError(
        `[${context.storeName}] prefix names secrets, but with lookup: kestra-tags secrets are found by their tags, not their names: ` +
          "remove prefix (Kestra's own prefix is a tag: set kestraPrefix)",
      );
    }
    const refreshable = settings.auth.method !== 'static';
    this.#core = new StoreCore<AwsCallContext>({
      context,
      settings,
      credentialPaths: AWS_CREDENTIALS,
      scrub: AWS_SCRUB,
      retry: options.retry,
      classify: (err, op) => classifyAws(err, op, region, refreshable),
    });
    // Names get the store prefix; ARNs are used as given.
    this.#names = new NameMapping(this.#core.tag, {
      prefix: settings.prefix,
      passthrough: (n) => n.startsWith('arn:'),
    });
    this.#sdk = this.#core.lazy(
      () => this.#init(),
      (sdk) => sdk.client.destroy(),
    );
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
      ...(this.#settings.endpoint ? { endpoint: this.#settings.endpoint } : {}),
      credentials,
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000 },
    });
    return { sm, client, credentials };
  }

  async #credentials(): Promise<Credentials> {
    const { auth } = this.#settings;
    const fixed = (k: StaticKeys) => ({
      accessKeyId: k.accessKeyId,
      secretAccessKey: k.secretAccessKey,
      ...(k.sessionToken ? { sessionToken: k.sessionToken } : {}),
    });
    switch (auth.method) {
      case 'static':
        return fixed(auth);
      case 'default': {
        const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
        return fromNodeProviderChain();
      }
      case 'profile': {
        const { fromIni } = await import('@aws-sdk/credential-providers');
        return fromIni({ profile: auth.profile });
      }
      case 'assume-role': {
        const { fromNodeProviderChain, fromTemporaryCredentials } = await import(
          '@aws-sdk/credential-providers'
        );
        const stsEndpoint = this.#settings.stsEndpoint ?? this.#settings.endpoint;
        return fromTemporaryCredentials({
          masterCredentials: auth.source.method === 'static' ? fixed(auth.source) : fromNodeProviderChain(),
          params: {
            RoleArn: auth.roleArn,
            RoleSessionName: auth.sessionName ?? `sesame-${this.#context.storeName}`,
            ...(auth.externalId ? { ExternalId: auth.externalId } : {}),
          },
          clientConfig: { region: this.#region, ...(stsEndpoint ? { endpoint: stsEndpoint } : {}) },
        });
      }
    }
  }

  /**
   * One SDK call under the core (retries, classification). Temporary credentials the SDK still
   * holds can be revoked or expire early: on ExpiredToken the client is rebuilt (new provider,
   * fresh credentials) and the core tries once more (static keys cannot be refreshed).
   */
  #call<T>(ctx: AwsCallContext, call: (sdk: Sdk) => Promise<T>): Promise<T> {
    return this.#core.call(ctx, async () => {
      const sdk = await this.#sdk.get();
      try {
        return await call(sdk);
      } catch (err) {
        if (this.#settings.auth.method !== 'static' && /^ExpiredToken/.test(awsErrorName(err))) {
          this.#context.log.info(`${this.#core.tag} AWS session credentials expired: fetching new ones`);
          await this.#sdk.reset();
        }
        throw err;
      }
    });
  }

  // ---- reads ---------------------------------------------------------------------------------

  async get(request: SecretRequest): Promise<FetchedSecret> {
    const secretId = await this.#secretIdFor(request.name, request.namespaces);
    const ctx: AwsCallContext = {
      action: 'secretsmanager:GetSecretValue',
      secret: request.name,
      secretId,
      version: request.version,
      stage: request.stage,
      kind: 'read',
    };
    const out = await this.#call(ctx, ({ sm, client }) =>
      client.send(
        new sm.GetSecretValueCommand({
          SecretId: secretId,
          ...(request.version ? { VersionId: request.version } : {}),
          ...(request.stage ? { VersionStage: request.stage } : {}),
        }),
      ),
    );
    return this.#fetched(out, request.name);
  }

  #fetched(
    out: {
      SecretString?: string | undefined;
      SecretBinary?: Uint8Array | undefined;
      VersionId?: string | undefined;
    },
    name: string,
    returnError = false,
  ): FetchedSecret {
    if (out.SecretString !== undefined) return { value: out.SecretString, version: out.VersionId };
    if (out.SecretBinary !== undefined) return { value: out.SecretBinary, version: out.VersionId };
    const err = new SecretStateError(
      `${this.#core.tag} secret "${name}" has neither SecretString nor SecretBinary`,
    );
    if (returnError) return err as unknown as FetchedSecret;
    throw err;
  }

  getMany(requests: readonly SecretRequest[]): Promise<Array<FetchedSecret | Error>> {
    const readCtx = (id: string): AwsCallContext => ({
      action: 'secretsmanager:GetSecretValue',
      secret: this.#names.fromId(id) ?? id,
      secretId: id,
      kind: 'read',
    });
    return getManyBatched(requests, {
      size: BATCH_SIZE,
      // Each Kestra key needs its own tag search first: those are read one by one.
      key: (r) =>
        this.#kestra ||
        this.#batchDenied ||
        r.version !== undefined ||
        (r.stage !== undefined && r.stage !== 'AWSCURRENT')
          ? undefined
          : this.#names.toId(r.name),
      single: (r) => this.get(r),
      missing: (id) =>
        this.#core.error(
          awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret."),
          readCtx(id),
        ),
      fetch: async (ids) => {
        const answered = new Map<string, FetchedSecret | Error>();
        let token: string | undefined;
        for (let round = 0; round < 10 && (round === 0 || token) && answered.size < ids.length; round++) {
          const out = await this.#batchGet(ids, token, 'read').catch((err: unknown) => {
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
            if (id !== undefined) answered.set(id, this.#fetched(entry, readCtx(id).secret ?? id, true));
          }
          for (const e of out.Errors ?? []) {
            if (e.SecretId === undefined || !ids.includes(e.SecretId)) continue;
            const raw = awsError(e.ErrorCode ?? 'Error', e.Message ?? e.ErrorCode ?? 'error');
            answered.set(e.SecretId, this.#core.error(raw, readCtx(e.SecretId)));
          }
          token = out.NextToken;
        }
        return answered;
      },
    });
  }

  /** One BatchGetSecretValue call (20 ids at most). */
  #batchGet(ids: string[], token: string | undefined, kind: AwsCallContext['kind']) {
    return this.#call({ action: 'secretsmanager:BatchGetSecretValue', kind }, ({ sm, client }) =>
      client.send(
        new sm.BatchGetSecretValueCommand({ SecretIdList: ids, ...(token ? { NextToken: token } : {}) }),
      ),
    );
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
    const tags = Object.entries(options.tags ?? {});
    const filters: Filter[] = [];
    if (namePrefix && FILTER_SAFE.test(namePrefix)) filters.push({ Key: 'name', Values: [namePrefix] });
    for (const [k, v] of tags) {
      if (FILTER_SAFE.test(k)) filters.push({ Key: 'tag-key', Values: [k] });
      if (FILTER_SAFE.test(v)) filters.push({ Key: 'tag-value', Values: [v] });
    }
    const out = await this.#listSecrets(filters, tokenCursor.decode(options.cursor), options);
    const items: SecretMetadata[] = [];
    for (const s of out.SecretList ?? []) {
      const name = (s.Name ?? '').startsWith(namePrefix) ? this.#names.fromId(s.Name ?? '') : undefined;
      const secretTags = tagsOf(s.Tags);
      if (name === undefined || tags.some(([k, v]) => secretTags?.[k] !== v)) continue;
      items.push({ name, ...metadataOf(s, s.SecretVersionsToStages), tags: secretTags });
    }
    return { items, cursor: tokenCursor.encode(out.NextToken) };
  }

  /** One ListSecrets page (100 secrets at most, the API's limit). */
  #listSecrets(
    filters: Filter[],
    token: string | undefined,
    options: { limit?: number | undefined; includeDeleted?: boolean | undefined } = {},
  ) {
    return this.#call({ action: 'secretsmanager:ListSecrets', kind: 'other' }, ({ sm, client }) =>
      client.send(
        new sm.ListSecretsCommand({
          MaxResults: pageSize(options.limit, 100, 100),
          ...(filters.length ? { Filters: filters } : {}),
          ...(token ? { NextToken: token } : {}),
          ...(options.includeDeleted ? { IncludePlannedDeletion: true } : {}),
        }),
      ),
    );
  }

  async describe(name: string, options?: { namespaces: readonly string[] }): Promise<SecretMetadata> {
    const secretId = await this.#secretIdFor(name, options?.namespaces);
    const out = await this.#call(
      { action: 'secretsmanager:DescribeSecret', secret: name, secretId, kind: 'other' },
      ({ sm, client }) => client.send(new sm.DescribeSecretCommand({ SecretId: secretId })),
    );
    return { name, ...metadataOf(out, out.VersionIdsToStages), tags: tagsOf(out.Tags) };
  }

  async versions(name: string, options?: { namespaces: readonly string[] }): Promise<VersionMetadata[]> {
    const secretId = await this.#secretIdFor(name, options?.namespaces);
    const versions: VersionMetadata[] = [];
    let token: string | undefined;
    do {
      const next = token;
      const out = await this.#call(
        { action: 'secretsmanager:ListSecretVersionIds', secret: name, secretId, kind: 'other' },
        ({ sm, client }) =>
          client.send(
            new sm.ListSecretVersionIdsCommand({
              SecretId: secretId,
              IncludeDeprecated: true,
              MaxResults: 100,
              ...(next ? { NextToken: next } : {}),
            }),
          ),
      );
      for (const v of out.Versions ?? [])
        versions.push({
          version: v.VersionId ?? '',
          createdAt: iso(v.CreatedDate),
          stages: v.VersionStages ?? [],
        });
      token = out.NextToken;
    } while (token);
    return versions;
  }

  // ---- writes --------------------------------------------------------------------------------

  async write(name: string, value: string, options: WriteOptions): Promise<WriteResult> {
    this.#kestra?.refuse('write');
    const secretId = this.#names.toId(name);
    if (options.expectedVersion !== undefined) {
      // Secrets Manager has no conditional write: compare the current version first. This is a
      // check, not a lock; two writers racing between the check and the put both succeed.
      const current = (await this.describe(name)).version;
      if (current !== options.expectedVersion) {
        throw new SecretStateError(
          `${this.#core.tag} secret "${name}" changed: its current version is ${current ?? 'none'}, not ${options.expectedVersion}`,
        );
      }
    }
    const ctx: AwsCallContext = {
      action: 'secretsmanager:PutSecretValue',
      secret: name,
      secretId,
      kind: 'write',
    };
    const tags = Object.entries({ ...this.#settings.tags, ...options.tags });
    const written = await this.#call(ctx, ({ sm, client }) =>
      addOrCreate({
        add: () => {
          ctx.action = 'secretsmanager:PutSecretValue';
          return client.send(
            new sm.PutSecretValueCommand({
              SecretId: secretId,
              SecretString: value,
              ClientRequestToken: randomUUID(),
            }),
          );
        },
        missing: (err) => awsErrorName(err) === 'ResourceNotFoundException' && !secretId.startsWith('arn:'),
        create: () => {
          ctx.action = 'secretsmanager:CreateSecret';
          return client.send(
            new sm.CreateSecretCommand({
              Name: secretId,
              SecretString: value,
              ClientRequestToken: randomUUID(),
              ...(options.description ? { Description: options.description } : {}),
              ...(tags.length ? { Tags: tags.map(([Key, Value]) => ({ Key, Value })) } : {}),
            }),
          );
        },
        // Created by someone else between our two calls: write a new version of theirs.
        taken: (err) => awsErrorName(err) === 'ResourceExistsException',
      }),
    );
    const version = written.result.VersionId ?? '';
    if (!written.created) await this.#updateMetadata(name, secretId, version, options);
    return { name, version };
  }

  /**
   * A write to an existing secret also applies the description and tags it was given
   * (UpdateSecret without a value makes no version; TagResource adds tags and replaces the
   * values of keys already there). The value is written first: when this part fails, the error
   * says so, with the version that was written.
   */
  async #updateMetadata(
    name: string,
    secretId: string,
    version: string,
    options: WriteOptions,
  ): Promise<void> {
    const { description: Description, tags = {} } = options;
    const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    const calls: Array<[string, string, (sdk: Sdk) => Promise<unknown>] | false> = [
      Description !== undefined && [
        'secretsmanager:UpdateSecret',
        'description',
        ({ sm, client }) => client.send(new sm.UpdateSecretCommand({ SecretId: secretId, Description })),
      ],
      Tags.length > 0 && [
        'secretsmanager:TagResource',
        'tags',
        ({ sm, client }) => client.send(new sm.TagResourceCommand({ SecretId: secretId, Tags })),
      ],
    ];
    for (const [action, what, call] of calls.filter((c) => c !== false)) {
      try {
        await this.#call({ action, secret: name, secretId, kind: 'write' }, call);
      } catch (err) {
        (err as Error).message =
          `the value was written (version ${version}), but its ${what} could not be updated: ${(err as Error).message}`;
        throw err;
      }
    }
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
    const window = options.force
      ? { ForceDeleteWithoutRecovery: true }
      : days !== undefined
        ? { RecoveryWindowInDays: days }
        : {};
    await this.#call(
      { action: 'secretsmanager:DeleteSecret', secret: name, secretId, kind: 'write' },
      ({ sm, client }) => client.send(new sm.DeleteSecretCommand({ SecretId: secretId, ...window })),
    );
  }

  async restore(name: string, _options?: { namespace: string }): Promise<void> {
    this.#kestra?.refuse('restore');
    const secretId = this.#names.toId(name);
    await this.#call(
      { action: 'secretsmanager:RestoreSecret', secret: name, secretId, kind: 'write' },
      ({ sm, client }) => client.send(new sm.RestoreSecretCommand({ SecretId: secretId })),
    );
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
    return this.#kestra ? (await this.#kestra.find(name, namespaces ?? [''])).id : this.#names.toId(name);
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
          metadata: metadataOf(s, s.SecretVersionsToStages),
        }));
        return { items, next: out.NextToken };
      },
    });
  }

  // ---- diagnostics ---------------------------------------------------------------------------

  check(options: CheckOptions): Promise<CheckReport> {
    const sample = options.sample;
    return runChecks([
      {
        step: 'authenticate',
        required: true,
        fix: 'check the store credentials',
        run: async () => {
          const { arn, account } = await this.#identity();
          return `authenticated as ${arn} (account ${account})`;
        },
      },
      {
        step: 'list',
        fix: 'grant secretsmanager:ListSecrets on *',
        run: async () => {
          await this.#listSecrets([], undefined, { limit: 1 });
          return `secretsmanager:ListSecrets allowed in ${this.#region}`;
        },
      },
      readSampleStep(
        this,
        options,
        sample &&
          (this.#kestra
            ? `tag one secret ${this.#kestra.tagsText(options.namespaces[0] ?? '', sample)} and grant secretsmanager:GetSecretValue on it`
            : `grant secretsmanager:GetSecretValue on ${this.#names.toId(sample)}`),
      ),
      sample !== undefined && {
        step: 'batch',
        // Batching is an optimisation: a refusal is reported, not a failure.
        run: async () => {
          try {
            await this.#batchGet([await this.#secretIdFor(sample, options.namespaces)], undefined, 'other');
            return 'secretsmanager:BatchGetSecretValue allowed: up to 20 secrets per call';
          } catch (err) {
            return err instanceof AccessDeniedError
              ? 'BatchGetSecretValue denied: Sesame reads one secret per call (grant secretsmanager:BatchGetSecretValue to batch)'
              : `BatchGetSecretValue not usable (${(err as Error).message}): Sesame reads one secret per call`;
          }
        },
      },
    ]);
  }

  async #identity(): Promise<{ arn: string; account: string }> {
    const sts = await import('@aws-sdk/client-sts');
    const endpoint = this.#settings.stsEndpoint ?? this.#settings.endpoint;
    return this.#call({ action: 'sts:GetCallerIdentity', kind: 'other' }, async ({ credentials }) => {
      const client = new sts.STSClient({
        region: this.#region,
        credentials,
        maxAttempts: 1,
        ...(endpoint ? { endpoint } : {}),
      });
      try {
        const out = await client.send(new sts.GetCallerIdentityCommand({}));
        return { arn: out.Arn ?? 'unknown', account: out.Account ?? 'unknown' };
      } finally {
        client.destroy();
      }
    });
  }

  async close(): Promise<void> {
    await this.#sdk.reset();
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

/**
 * `aws-secrets-manager` store: AWS Secrets Manager through the official SDK v3, loaded with
 * `import()` on first use so processes that never touch AWS do not pay for it.
 *
 * Reads use GetSecretValue (name or ARN, `?version=` → VersionId, `?stage=` → VersionStage);
 * `getMany` batches up to 20 current values per BatchGetSecretValue call and falls back to one
 * GetSecretValue per secret when the caller may not batch. The SDK's own retries are off
 * (`maxAttempts: 1`) so the shared {@link withRetry} policy is the only one.
 *
 * @example
 * const store = await awsSecretsManagerStoreType.create(
 *   awsSecretsManagerStoreType.settings.parse({ region: 'eu-west-1', auth: { method: 'default' } }),
 *   context,
 * );
 * const { value } = await store.get({ name: 'prod/jira', namespaces: [''] });
 */
import { randomUUID } from 'node:crypto';
import type {
  BatchGetSecretValueCommandOutput,
  SecretsManagerClient,
  SecretsManagerClientConfig,
} from '@aws-sdk/client-secrets-manager';
import { AccessDeniedError, SecretStateError, UsageError } from '../../errors.js';
import type {
  CheckOptions,
  CheckReport,
  CheckStep,
  DeleteOptions,
  FetchedSecret,
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
  HostAccess,
} from '../contract.js';
import { type RetryOptions, withRetry } from '../core/retry.js';
import {
  type AwsCallContext,
  type AwsErrorScope,
  awsErrorName,
  fixOf,
  isRetryableAwsError,
  mapAwsError,
} from './errors.js';
import { type AwsSecretsManagerSettings, awsSecretsManagerSettings } from './settings.js';

export type { AwsSecretsManagerSettings } from './settings.js';

type SecretsManagerModule = typeof import('@aws-sdk/client-secrets-manager');
type Credentials = NonNullable<SecretsManagerClientConfig['credentials']>;

interface Sdk {
  sm: SecretsManagerModule;
  client: SecretsManagerClient;
  credentials: Credentials;
}

/** Construction options for tests and embedding; not part of the config file. */
export interface AwsStoreOptions {
  /** Override the shared retry policy (attempts, delays, sleep). */
  retry?: Partial<Omit<RetryOptions, 'retryable'>>;
  /** Environment used for the region fallback (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** BatchGetSecretValue takes at most 20 ids per call. */
const BATCH_SIZE = 20;
/** Concurrent batch (or fallback) calls of one getMany. */
const CONCURRENCY = 8;
const DAY_MS = 86_400_000;
/** ListSecrets filter values accept only these characters. */
const FILTER_SAFE = /^[a-zA-Z0-9 :_@/+=.\-]{1,512}$/;

async function pool<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await run(item);
    }
  });
  await Promise.all(workers);
}

const iso = (d: Date | undefined) => d?.toISOString();

export class AwsSecretsManagerStore implements StoreClient {
  readonly #settings: AwsSecretsManagerSettings;
  readonly #context: StoreContext;
  readonly #options: AwsStoreOptions;
  readonly #region: string;
  readonly #scope: AwsErrorScope;
  #sdk: Promise<Sdk> | undefined;
  /** Set once BatchGetSecretValue was denied: later getMany calls go straight to single reads. */
  #batchDenied = false;

  constructor(settings: AwsSecretsManagerSettings, context: StoreContext, options: AwsStoreOptions = {}) {
    this.#settings = settings;
    this.#context = context;
    this.#options = options;
    const env = options.env ?? process.env;
    const region = settings.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (!region) {
      throw new UsageError(
        `[${context.storeName}] no AWS region: set region in the store settings or AWS_REGION`,
      );
    }
    this.#region = region;
    const secrets: string[] = [];
    const { auth } = settings;
    if (auth.method === 'static') secrets.push(auth.secretAccessKey, auth.sessionToken ?? '');
    if (auth.method === 'assume-role' && auth.source.method === 'static') {
      secrets.push(auth.source.secretAccessKey, auth.source.sessionToken ?? '');
    }
    this.#scope = { store: context.storeName, region, secrets: secrets.filter((s) => s.length > 0) };
  }

  get #tag(): string {
    return `[${this.#context.storeName}]`;
  }

  // ---- SDK, credentials, calls -------------------------------------------------------------

  #load(): Promise<Sdk> {
    this.#sdk ??= this.#init().catch((err: unknown) => {
      this.#sdk = undefined;
      throw err;
    });
    return this.#sdk;
  }

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
    const fixed = (k: {
      accessKeyId: string;
      secretAccessKey: string;
      sessionToken?: string | undefined;
    }) => ({
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

  /** One SDK call under the shared retry policy; throws the raw error. */
  async #attempt<T>(call: (sdk: Sdk) => Promise<T>): Promise<T> {
    const once = async () => {
      const sdk = await this.#load();
      return withRetry(() => call(sdk), {
        attempts: 3,
        baseDelayMs: 100,
        maxDelayMs: 2_000,
        ...this.#options.retry,
        retryable: isRetryableAwsError,
      });
    };
    try {
      return await once();
    } catch (err) {
      // Temporary credentials the SDK still holds can be revoked or expire early: fetch fresh
      // ones (a new client, a new provider) and try once more. Static keys cannot be refreshed.
      if (this.#settings.auth.method === 'static' || !/^ExpiredToken/.test(awsErrorName(err))) throw err;
      this.#context.log.info(`${this.#tag} AWS session credentials expired: fetching new ones`);
      await this.#reset();
      return once();
    }
  }

  async #reset(): Promise<void> {
    const sdk = this.#sdk;
    this.#sdk = undefined;
    if (sdk) (await sdk.catch(() => undefined))?.client.destroy();
  }

  /** One SDK call whose failure is mapped to a Sesame error. */
  async #call<T>(ctx: AwsCallContext, call: (sdk: Sdk) => Promise<T>): Promise<T> {
    try {
      return await this.#attempt(call);
    } catch (err) {
      throw this.#map(err, ctx);
    }
  }

  #map(err: unknown, ctx: AwsCallContext): Error {
    return mapAwsError(err, ctx, this.#scope);
  }

  /** Names get the store prefix; ARNs are used as given. */
  #id(name: string): string {
    return name.startsWith('arn:') ? name : this.#settings.prefix + name;
  }

  #strip(fullName: string): string {
    const { prefix } = this.#settings;
    return prefix && fullName.startsWith(prefix) ? fullName.slice(prefix.length) : fullName;
  }

  // ---- reads ---------------------------------------------------------------------------------

  async get(request: SecretRequest): Promise<FetchedSecret> {
    const secretId = this.#id(request.name);
    const out = await this.#call(
      {
        action: 'secretsmanager:GetSecretValue',
        secret: request.name,
        secretId,
        version: request.version,
        stage: request.stage,
        kind: 'read',
      },
      ({ sm, client }) =>
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
  ) {
    if (out.SecretString !== undefined) return { value: out.SecretString, version: out.VersionId };
    if (out.SecretBinary !== undefined) return { value: out.SecretBinary, version: out.VersionId };
    throw new SecretStateError(`${this.#tag} secret "${name}" has neither SecretString nor SecretBinary`);
  }

  async getMany(requests: readonly SecretRequest[]): Promise<Array<FetchedSecret | Error>> {
    const results: Array<FetchedSecret | Error | undefined> = new Array(requests.length);
    const singles: number[] = [];
    /** secret id → indexes of the requests that want its current value. */
    const current = new Map<string, number[]>();
    requests.forEach((r, i) => {
      const pinned = r.version !== undefined || (r.stage !== undefined && r.stage !== 'AWSCURRENT');
      if (pinned || this.#batchDenied) {
        singles.push(i);
        return;
      }
      const id = this.#id(r.name);
      const list = current.get(id);
      if (list) list.push(i);
      else current.set(id, [i]);
    });
    const ids = [...current.keys()];
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += BATCH_SIZE) chunks.push(ids.slice(i, i + BATCH_SIZE));

    const single = async (i: number) => {
      results[i] = await this.get(requests[i] as SecretRequest).catch((err: unknown) => err as Error);
    };
    type Job = { kind: 'single'; index: number } | { kind: 'batch'; ids: string[] };
    const jobs: Job[] = [
      ...chunks.map((c) => ({ kind: 'batch' as const, ids: c })),
      ...singles.map((index) => ({ kind: 'single' as const, index })),
    ];
    await pool(jobs, CONCURRENCY, async (job) => {
      if (job.kind === 'single') return single(job.index);
      const fallback = await this.#batch(job.ids, current, requests, results);
      if (fallback) await pool(fallback, CONCURRENCY, single);
    });
    return results.map((r) => r ?? new SecretStateError(`${this.#tag} no answer for this secret`));
  }

  /** One BatchGetSecretValue round; returns request indexes to read one by one when batching is denied. */
  async #batch(
    ids: string[],
    wanted: Map<string, number[]>,
    requests: readonly SecretRequest[],
    results: Array<FetchedSecret | Error | undefined>,
  ): Promise<number[] | undefined> {
    const indexes = ids.flatMap((id) => wanted.get(id) ?? []);
    const nameOf = (id: string) => requests[(wanted.get(id) ?? [0])[0] as number]?.name ?? id;
    const ctx: AwsCallContext = { action: 'secretsmanager:BatchGetSecretValue', kind: 'read' };
    const answered = new Set<string>();
    const settle = (id: string, outcome: FetchedSecret | Error) => {
      answered.add(id);
      for (const i of wanted.get(id) ?? []) results[i] = outcome;
    };
    let nextToken: string | undefined;
    let rounds = 0;
    do {
      let out: BatchGetSecretValueCommandOutput;
      try {
        out = await this.#attempt(({ sm, client }) =>
          client.send(
            new sm.BatchGetSecretValueCommand({
              SecretIdList: ids,
              ...(nextToken ? { NextToken: nextToken } : {}),
            }),
          ),
        );
      } catch (err) {
        const name = awsErrorName(err);
        if (
          (name === 'AccessDeniedException' || name === 'AccessDenied') &&
          /BatchGetSecretValue/.test(String((err as Error).message))
        ) {
          if (!this.#batchDenied) {
            this.#batchDenied = true;
            this.#context.log.warn(
              `${this.#tag} BatchGetSecretValue is denied: reading one secret per call; grant secretsmanager:BatchGetSecretValue to batch up to 20 per call`,
            );
          }
          return indexes.filter((i) => results[i] === undefined);
        }
        const mapped = this.#map(err, ctx);
        for (const id of ids) if (!answered.has(id)) settle(id, mapped);
        return undefined;
      }
      for (const entry of out.SecretValues ?? []) {
        const id = ids.find(
          (candidate) =>
            candidate === entry.Name ||
            candidate === entry.ARN ||
            (candidate.startsWith('arn:') && entry.ARN?.startsWith(`${candidate}-`) === true),
        );
        if (id === undefined) continue;
        try {
          settle(id, this.#fetched(entry, nameOf(id)));
        } catch (err) {
          settle(id, err as Error);
        }
      }
      for (const e of out.Errors ?? []) {
        const id = e.SecretId;
        if (id === undefined || !wanted.has(id)) continue;
        const raw = Object.assign(new Error(e.Message ?? e.ErrorCode ?? 'error'), {
          name: e.ErrorCode ?? 'Error',
        });
        settle(
          id,
          this.#map(raw, {
            action: 'secretsmanager:GetSecretValue',
            secret: nameOf(id),
            secretId: id,
            kind: 'read',
          }),
        );
      }
      nextToken = out.NextToken;
      rounds += 1;
    } while (nextToken && answered.size < ids.length && rounds < 10);
    for (const id of ids) {
      if (!answered.has(id)) {
        const raw = Object.assign(new Error("Secrets Manager can't find the specified secret."), {
          name: 'ResourceNotFoundException',
        });
        settle(
          id,
          this.#map(raw, {
            action: 'secretsmanager:GetSecretValue',
            secret: nameOf(id),
            secretId: id,
            kind: 'read',
          }),
        );
      }
    }
    return undefined;
  }

  // ---- listing and metadata ----------------------------------------------------------------

  async list(options: ListOptions): Promise<ListPage> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1_000);
    const namePrefix = this.#settings.prefix + (options.prefix ?? '');
    const tags = Object.entries(options.tags ?? {});
    const filters: Array<{ Key: 'name' | 'tag-key' | 'tag-value'; Values: string[] }> = [];
    // Server-side filters narrow the pages; exact matching is done here (AWS matches prefixes).
    if (namePrefix && FILTER_SAFE.test(namePrefix)) filters.push({ Key: 'name', Values: [namePrefix] });
    for (const [k, v] of tags) {
      if (FILTER_SAFE.test(k)) filters.push({ Key: 'tag-key', Values: [k] });
      if (FILTER_SAFE.test(v)) filters.push({ Key: 'tag-value', Values: [v] });
    }
    const items: SecretMetadata[] = [];
    let cursor = options.cursor;
    do {
      const token = cursor;
      const out = await this.#call(
        { action: 'secretsmanager:ListSecrets', kind: 'other' },
        ({ sm, client }) =>
          client.send(
            new sm.ListSecretsCommand({
              MaxResults: Math.min(100, limit - items.length),
              ...(filters.length ? { Filters: filters } : {}),
              ...(token ? { NextToken: token } : {}),
              ...(options.includeDeleted ? { IncludePlannedDeletion: true } : {}),
            }),
          ),
      );
      for (const s of out.SecretList ?? []) {
        const name = s.Name ?? '';
        if (!name.startsWith(namePrefix)) continue;
        const secretTags = Object.fromEntries((s.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
        if (tags.some(([k, v]) => secretTags[k] !== v)) continue;
        items.push({
          name: this.#strip(name),
          description: s.Description,
          tags: s.Tags ? secretTags : undefined,
          createdAt: iso(s.CreatedDate),
          updatedAt: iso(s.LastChangedDate),
          deletedAt: iso(s.DeletedDate),
          version: Object.entries(s.SecretVersionsToStages ?? {}).find(([, stages]) =>
            stages.includes('AWSCURRENT'),
          )?.[0],
        });
      }
      cursor = out.NextToken;
    } while (cursor && items.length < limit);
    return { items, cursor };
  }

  async describe(name: string, _options?: { namespaces: readonly string[] }): Promise<SecretMetadata> {
    const secretId = this.#id(name);
    const out = await this.#call(
      { action: 'secretsmanager:DescribeSecret', secret: name, secretId, kind: 'other' },
      ({ sm, client }) => client.send(new sm.DescribeSecretCommand({ SecretId: secretId })),
    );
    return {
      name,
      description: out.Description,
      tags: out.Tags ? Object.fromEntries(out.Tags.map((t) => [t.Key ?? '', t.Value ?? ''])) : undefined,
      createdAt: iso(out.CreatedDate),
      updatedAt: iso(out.LastChangedDate),
      deletedAt: iso(out.DeletedDate),
      version: Object.entries(out.VersionIdsToStages ?? {}).find(([, stages]) =>
        stages.includes('AWSCURRENT'),
      )?.[0],
    };
  }

  async versions(name: string, _options?: { namespaces: readonly string[] }): Promise<VersionMetadata[]> {
    const secretId = this.#id(name);
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
      for (const v of out.Versions ?? []) {
        versions.push({
          version: v.VersionId ?? '',
          createdAt: iso(v.CreatedDate),
          stages: v.VersionStages ?? [],
        });
      }
      token = out.NextToken;
    } while (token);
    return versions;
  }

  // ---- writes --------------------------------------------------------------------------------

  async write(name: string, value: string, options: WriteOptions): Promise<WriteResult> {
    const secretId = this.#id(name);
    if (options.expectedVersion !== undefined) {
      // Secrets Manager has no conditional write: compare the current version first. This is a
      // check, not a lock; two writers racing between the check and the put both succeed.
      const current = (await this.describe(name)).version;
      if (current !== options.expectedVersion) {
        throw new SecretStateError(
          `${this.#tag} secret "${name}" changed: its current version is ${current ?? 'none'}, not ${options.expectedVersion}`,
        );
      }
    }
    const put = () =>
      this.#attempt(({ sm, client }) =>
        client.send(
          new sm.PutSecretValueCommand({
            SecretId: secretId,
            SecretString: value,
            ClientRequestToken: randomUUID(),
          }),
        ),
      );
    const writeCtx = (action: string): AwsCallContext => ({ action, secret: name, secretId, kind: 'write' });
    let written: string | undefined;
    try {
      written = (await put()).VersionId ?? '';
    } catch (err) {
      if (awsErrorName(err) !== 'ResourceNotFoundException' || secretId.startsWith('arn:')) {
        throw this.#map(err, writeCtx('secretsmanager:PutSecretValue'));
      }
    }
    if (written !== undefined) {
      await this.#updateMetadata(name, secretId, written, options);
      return { name, version: written };
    }
    const tags = { ...this.#settings.tags, ...options.tags };
    try {
      const out = await this.#attempt(({ sm, client }) =>
        client.send(
          new sm.CreateSecretCommand({
            Name: secretId,
            SecretString: value,
            ClientRequestToken: randomUUID(),
            ...(options.description ? { Description: options.description } : {}),
            ...(Object.keys(tags).length
              ? { Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }
              : {}),
          }),
        ),
      );
      return { name, version: out.VersionId ?? '' };
    } catch (err) {
      // Created by someone else between our two calls: write a new version of theirs.
      if (awsErrorName(err) === 'ResourceExistsException') {
        const out = await put().catch((e: unknown) => {
          throw this.#map(e, writeCtx('secretsmanager:PutSecretValue'));
        });
        return { name, version: out.VersionId ?? '' };
      }
      throw this.#map(err, writeCtx('secretsmanager:CreateSecret'));
    }
  }

  /**
   * A write to an existing secret also applies the description and tags it was given
   * (UpdateSecret without a value makes no version; TagResource adds tags and replaces the
   * values of keys already there). The value is written first: when this part fails, the error
   * says so, with the version that was written.
   */
  async #updateMetadata(name: string, secretId: string, version: string, options: WriteOptions): Promise<void> {
    const calls: Array<[string, (sdk: Sdk) => Promise<unknown>]> = [];
    if (options.description !== undefined) {
      const Description = options.description;
      calls.push([
        'secretsmanager:UpdateSecret',
        ({ sm, client }) => client.send(new sm.UpdateSecretCommand({ SecretId: secretId, Description })),
      ]);
    }
    const tags = Object.entries(options.tags ?? {});
    if (tags.length > 0) {
      const Tags = tags.map(([Key, Value]) => ({ Key, Value }));
      calls.push([
        'secretsmanager:TagResource',
        ({ sm, client }) => client.send(new sm.TagResourceCommand({ SecretId: secretId, Tags })),
      ]);
    }
    for (const [action, call] of calls) {
      try {
        await this.#attempt(call);
      } catch (err) {
        const mapped = this.#map(err, { action, secret: name, secretId, kind: 'write' });
        mapped.message = `the value was written (version ${version}), but its ${action === 'secretsmanager:TagResource' ? 'tags' : 'description'} could not be updated: ${mapped.message}`;
        throw mapped;
      }
    }
  }

  async delete(name: string, options: DeleteOptions): Promise<void> {
    const secretId = this.#id(name);
    let window:
      | { ForceDeleteWithoutRecovery: true }
      | { RecoveryWindowInDays: number }
      | Record<string, never> = {};
    if (options.force) window = { ForceDeleteWithoutRecovery: true };
    else if (options.recoveryWindowMs !== undefined) {
      const days = Math.ceil(options.recoveryWindowMs / DAY_MS);
      if (days < 7 || days > 30) {
        throw new UsageError(
          `${this.#tag} Secrets Manager keeps a deleted secret 7 to 30 days; ${days} days is out of range`,
        );
      }
      window = { RecoveryWindowInDays: days };
    }
    await this.#call(
      { action: 'secretsmanager:DeleteSecret', secret: name, secretId, kind: 'write' },
      ({ sm, client }) => client.send(new sm.DeleteSecretCommand({ SecretId: secretId, ...window })),
    );
  }

  async restore(name: string, _options?: { namespace: string }): Promise<void> {
    const secretId = this.#id(name);
    await this.#call(
      { action: 'secretsmanager:RestoreSecret', secret: name, secretId, kind: 'write' },
      ({ sm, client }) => client.send(new sm.RestoreSecretCommand({ SecretId: secretId })),
    );
  }

  // ---- diagnostics ---------------------------------------------------------------------------

  async check(options: CheckOptions): Promise<CheckReport> {
    const steps: CheckStep[] = [];
    const failed = (step: string, err: unknown, fallbackFix: string): CheckStep => ({
      step,
      ok: false,
      detail: err instanceof Error ? err.message : String(err),
      fix: fixOf(err) ?? fallbackFix,
    });

    try {
      const identity = await this.#identity();
      steps.push({
        step: 'authenticate',
        ok: true,
        detail: `authenticated as ${identity.arn} (account ${identity.account})`,
      });
    } catch (err) {
      steps.push(failed('authenticate', err, 'check the store credentials'));
      return { ok: false, steps };
    }

    try {
      await this.#call({ action: 'secretsmanager:ListSecrets', kind: 'other' }, ({ sm, client }) =>
        client.send(new sm.ListSecretsCommand({ MaxResults: 1 })),
      );
      steps.push({ step: 'list', ok: true, detail: `secretsmanager:ListSecrets allowed in ${this.#region}` });
    } catch (err) {
      steps.push(failed('list', err, 'grant secretsmanager:ListSecrets on *'));
    }

    if (options.sample) {
      const sample = options.sample;
      try {
        const got = await this.get({ name: sample, namespaces: options.namespaces });
        const size = typeof got.value === 'string' ? Buffer.byteLength(got.value) : got.value.byteLength;
        steps.push({
          step: 'read',
          ok: true,
          detail: `read "${sample}" (${size} bytes, version ${got.version ?? 'unknown'})`,
        });
      } catch (err) {
        steps.push(failed('read', err, `grant secretsmanager:GetSecretValue on ${this.#id(sample)}`));
      }
      try {
        await this.#attempt(({ sm, client }) =>
          client.send(new sm.BatchGetSecretValueCommand({ SecretIdList: [this.#id(sample)] })),
        );
        steps.push({
          step: 'batch',
          ok: true,
          detail: 'secretsmanager:BatchGetSecretValue allowed: up to 20 secrets per call',
        });
      } catch (err) {
        const denied = this.#map(err, { action: 'secretsmanager:BatchGetSecretValue', kind: 'other' });
        steps.push({
          step: 'batch',
          ok: true,
          detail:
            denied instanceof AccessDeniedError
              ? 'BatchGetSecretValue denied: Sesame reads one secret per call (grant secretsmanager:BatchGetSecretValue to batch)'
              : `BatchGetSecretValue not usable (${denied.message}): Sesame reads one secret per call`,
        });
      }
    }
    return { ok: steps.every((s) => s.ok), steps };
  }

  async #identity(): Promise<{ arn: string; account: string }> {
    const ctx: AwsCallContext = { action: 'sts:GetCallerIdentity', kind: 'other' };
    const { credentials } = await this.#load().catch((err: unknown) => {
      throw this.#map(err, ctx);
    });
    const sts = await import('@aws-sdk/client-sts');
    const endpoint = this.#settings.stsEndpoint ?? this.#settings.endpoint;
    const client = new sts.STSClient({
      region: this.#region,
      credentials,
      maxAttempts: 1,
      ...(endpoint ? { endpoint } : {}),
    });
    try {
      const out = await withRetry(() => client.send(new sts.GetCallerIdentityCommand({})), {
        attempts: 3,
        ...this.#options.retry,
        retryable: isRetryableAwsError,
      });
      return { arn: out.Arn ?? 'unknown', account: out.Account ?? 'unknown' };
    } catch (err) {
      throw this.#map(err, ctx);
    } finally {
      client.destroy();
    }
  }

  async close(): Promise<void> {
    await this.#reset();
  }
}

export const awsSecretsManagerStoreType = {
  type: 'aws-secrets-manager',
  capabilities: { write: true, batch: true, versions: true, stages: true, namespaced: false, restore: true },
  settings: awsSecretsManagerSettings,
  secretSettings: [
    'auth.secretAccessKey',
    'auth.sessionToken',
    'auth.source.secretAccessKey',
    'auth.source.sessionToken',
  ],
  hostAccess(s: AwsSecretsManagerSettings): HostAccess[] {
    const out: HostAccess[] = [];
    if (s.endpoint) out.push({ kind: 'address', setting: 'endpoint', url: s.endpoint });
    if (s.stsEndpoint) out.push({ kind: 'address', setting: 'stsEndpoint', url: s.stsEndpoint });
    const auth = s.auth;
    if (auth.method === 'default' || (auth.method === 'assume-role' && auth.source.method === 'default')) {
      out.push({ kind: 'identity', detail: "uses this server's own AWS credentials (environment, shared files, instance or container role)" });
    } else if (auth.method === 'profile') {
      out.push({ kind: 'identity', detail: `reads profile ${auth.profile} from this server's shared AWS config files` });
    }
    return out;
  },
  create: (settings: AwsSecretsManagerSettings, context: StoreContext) =>
    new AwsSecretsManagerStore(settings, context),
} satisfies StoreType<AwsSecretsManagerSettings>;

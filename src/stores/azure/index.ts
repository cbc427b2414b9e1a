/**
 * `azure-key-vault` store: secrets in an Azure Key Vault, through `@azure/keyvault-secrets` and
 * `@azure/identity`, both loaded with `import()` the first time a store of this type is used.
 *
 * Sesame names map to Key Vault names by the reversible scheme in `names.ts`. Versions are Key
 * Vault version ids. Deletes are soft deletes (restore = recover; `force` purges); writing a name
 * that is soft-deleted recovers it first instead of failing with Conflict. The SDK's own retries
 * are off so the core's backoff decides (429 honours `Retry-After`).
 *
 * @example
 * stores:
 *   - name: azure
 *     type: azure-key-vault
 *     vaultName: acme-prod
 *     auth: { method: managed-identity }
 */
import type { TokenCredential } from '@azure/identity';
import type {
  PagedAsyncIterableIterator,
  SecretClient,
  SecretClientOptions,
  SecretProperties,
} from '@azure/keyvault-secrets';
import { InvalidRequestError, SecretNotFoundError, UnsupportedOperationError } from '../../errors.js';
import type {
  CheckOptions,
  CheckReport,
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
} from '../contract.js';
import {
  credentialPaths,
  hostAccessOf,
  listingMatches,
  listProviderPages,
  NameMapping,
  StoreCore,
  type StoreCoreTuning,
  secretMetadata,
  settingFile,
  standardChecks,
} from '../core/index.js';
import {
  type AzureErrorContext,
  type AzureOperation,
  azureEndpoint,
  classifyAzure,
  isSoftDeleted,
  SoftDeletedSecret,
} from './errors.js';
import { keyVaultSpelling } from './names.js';
import { type AzureKeyVaultSettings, azureKeyVaultSettings } from './settings.js';

export type { AzureKeyVaultSettings } from './settings.js';

/** Hooks for tests: trust the emulator's certificate, tune the core. Not reachable from config. */
export interface AzureKeyVaultTestHooks extends StoreCoreTuning {
  /** Extra Azure pipeline options (e.g. `tlsOptions: { ca }`) for the vault client and credential. */
  pipeline?: { tlsOptions?: { ca?: string | undefined } };
}

type AdditionalPolicy = NonNullable<SecretClientOptions['additionalPolicies']>[number];

/**
 * A time limit on every request of the vault client and the credential: the Azure pipeline has
 * none by default and waits for ever on a listener that never answers. Its own abort at the limit
 * becomes an ETIMEDOUT error, which the core tells as a timeout.
 */
function requestTimeoutPolicy(ms: number): AdditionalPolicy {
  return {
    position: 'perCall',
    policy: {
      name: 'sesameRequestTimeout',
      async sendRequest(request, next) {
        if (!request.timeout) request.timeout = ms;
        try {
          return await next(request);
        } catch (err) {
          if ((err as Error | undefined)?.name !== 'AbortError' || request.abortSignal?.aborted) throw err;
          throw Object.assign(new Error(`no answer within ${ms} ms`), {
            name: 'TimeoutError',
            code: 'ETIMEDOUT',
          });
        }
      },
    },
  };
}

interface Sdk {
  client: SecretClient;
  credential: TokenCredential;
}

/** A list item as Key Vault's generated client returns it (before the SDK's public mapping). */
interface RawItem {
  id?: string;
  attributes?: { created?: Date; updated?: Date };
  tags?: Record<string, string>;
  deletedDate?: Date;
  scheduledPurgeDate?: Date;
}
type RawListing = (o: { maxresults?: number }) => PagedAsyncIterableIterator<RawItem>;
/** The generated client a SecretClient holds as `client`. */
type RawClient = Record<'getSecrets' | 'getDeletedSecrets', RawListing>;

/** The token scope of the cloud a vault lives in (the Key Vault challenge confirms it at runtime). */
function vaultScope(vaultUrl: string): string {
  const host = new URL(vaultUrl).hostname;
  for (const suffix of ['vault.azure.cn', 'vault.usgovcloudapi.net', 'vault.microsoftazure.de']) {
    if (host.endsWith(`.${suffix}`)) return `https://${suffix}/.default`;
  }
  return 'https://vault.azure.net/.default';
}

/** Secrets are "sequences of octets … with a maximum size of 25 KB each" (About Key Vault secrets). */
const VALUE_LIMIT = { max: 25 * 1024, limit: "Key Vault's limit of 25 KB" };

const PUBLIC_AUTHORITIES =
  /^login\.(microsoftonline\.com|microsoftonline\.us|chinacloudapi\.cn|partner\.microsoftonline\.cn)$/;

export class AzureKeyVaultStoreClient implements StoreClient {
  readonly vaultUrl: string;
  readonly #settings: AzureKeyVaultSettings;
  /** Options of every Azure SDK client: the tests' TLS options, and no retries (the core's backoff decides). */
  readonly #pipeline: AzureKeyVaultTestHooks['pipeline'] & {
    retryOptions: { maxRetries: number };
    additionalPolicies: AdditionalPolicy[];
  };
  readonly #core: StoreCore<AzureErrorContext, Sdk>;
  readonly #names: NameMapping;

  constructor(settings: AzureKeyVaultSettings, context: StoreContext, hooks: AzureKeyVaultTestHooks = {}) {
    this.#settings = settings;
    const vaultUrl = settings.vaultUrl ?? `https://${settings.vaultName}.vault.azure.net`;
    this.vaultUrl = vaultUrl.replace(/\/+$/, '');
    const warn = (what: string) => context.log.warn(what, { store: context.storeName });
    if (settings.allowInsecureConnection)
      warn('allowInsecureConnection is on: Key Vault traffic may go over plain http (emulators only)');
    if (settings.disableChallengeResourceVerification)
      warn(
        'disableChallengeResourceVerification is on: tokens are sent to whatever host the vault URL names (emulators and private endpoints only)',
      );
    this.#core = new StoreCore<AzureErrorContext, Sdk>({
      context,
      settings,
      credentialPaths: AZURE_CREDENTIALS,
      retry: { attempts: 4, baseDelayMs: 200, ...hooks.retry },
      requestTimeoutMs: hooks.requestTimeoutMs,
      endpoint: azureEndpoint,
      valueLimit: VALUE_LIMIT,
      sdk: { build: () => this.#createSdk() },
      classify: classifyAzure,
    });
    this.#pipeline = {
      ...hooks.pipeline,
      retryOptions: { maxRetries: 0 },
      additionalPolicies: [requestTimeoutPolicy(this.#core.requestTimeoutMs)],
    };
    this.#names = new NameMapping(this.#core.tag, {
      prefix: settings.prefix,
      what: 'Key Vault secret name',
      ...keyVaultSpelling,
    });
  }

  /** `id` is the Key Vault spelling of `name` unless given (a full identifier names it directly). */
  #ctx(operation: AzureOperation, name?: string, version?: string, id?: string): AzureErrorContext {
    id ??= name === undefined ? undefined : this.#names.toId(name);
    return {
      vaultUrl: this.vaultUrl,
      operation,
      name,
      id,
      version,
      auth: this.#settings.auth,
    };
  }

  async #createSdk(): Promise<Sdk> {
    const [identity, secrets] = await Promise.all([
      import('@azure/identity'),
      import('@azure/keyvault-secrets'),
    ]);
    const credential = this.#credential(identity);
    const client = new secrets.SecretClient(this.vaultUrl, credential, {
      ...this.#pipeline,
      allowInsecureConnection: this.#settings.allowInsecureConnection,
      disableChallengeResourceVerification: this.#settings.disableChallengeResourceVerification,
    });
    return { client, credential };
  }

  #credential(identity: typeof import('@azure/identity')): TokenCredential {
    const { auth, authorityHost } = this.#settings;
    // Instance discovery asks login.microsoftonline.com about the authority; a custom authority
    // (private cloud, emulator) is not in its list, so discovery is skipped for it.
    const authority = authorityHost
      ? { authorityHost, disableInstanceDiscovery: !PUBLIC_AUTHORITIES.test(new URL(authorityHost).hostname) }
      : {};
    const options = { ...this.#pipeline, ...authority };
    switch (auth.method) {
      case 'default':
        return new identity.DefaultAzureCredential(options);
      case 'managed-identity':
        return new identity.ManagedIdentityCredential({
          ...this.#pipeline,
          ...(auth.clientId ? { clientId: auth.clientId } : {}),
        });
      case 'client-secret':
        return new identity.ClientSecretCredential(auth.tenantId, auth.clientId, auth.clientSecret, options);
    }
    // The SDK reads the file at each token request, so a rotated certificate is picked up.
    const certificatePath = settingFile(
      this.#core.context,
      'auth.certificatePath',
      auth.certificatePath,
      'a PEM file with the certificate and its private key',
    );
    const { tenantId, clientId } = auth;
    return new identity.ClientCertificateCredential(tenantId, clientId, { certificatePath }, options);
  }

  /** One SDK call under the core's retries and classification, given the Key Vault name `ctx` is about. */
  #call<T>(ctx: AzureErrorContext, operation: (sdk: Sdk & { kvName: string }) => Promise<T>): Promise<T> {
    return this.#core.withSdk(ctx, (sdk) => operation({ ...sdk, kvName: ctx.id ?? '' }));
  }

  async get(request: SecretRequest): Promise<FetchedSecret> {
    const id = this.#identifier(request.name);
    const version = request.version ?? id?.version;
    if (id?.version && request.version && id.version !== request.version) {
      throw new InvalidRequestError(
        `${this.#core.tag} the identifier pins version ${id.version} and ?version= asks for ${request.version}: keep one`,
      );
    }
    const ctx = this.#ctx('get', request.name, version, id?.kvName);
    const secret = await this.#call(ctx, ({ client, kvName }) =>
      client.getSecret(kvName, version ? { version } : {}),
    ).catch((err: unknown) => this.#whenSoftDeleted(err, ctx));
    return { value: secret.value ?? '', version: secret.properties.version };
  }

  /**
   * A read that found no secret: when the name is soft-deleted (Get Deleted Secret answers), the
   * error says so and how to restore it. One more request, on this path only; when that request
   * fails too (no such deleted secret, or no permission to see deleted ones), the read's own
   * not-found stands.
   */
  async #whenSoftDeleted(err: unknown, ctx: AzureErrorContext): Promise<never> {
    if (!(err instanceof SecretNotFoundError) || ctx.id === undefined) throw err;
    try {
      const { client } = await this.#core.sdk.get();
      await client.getDeletedSecret(ctx.id);
    } catch {
      throw err;
    }
    throw this.#core.error(new SoftDeletedSecret(), ctx);
  }

  /**
   * A full secret identifier (`https://<vault>.vault.azure.net/secrets/<name>[/<version>]`, as
   * the portal and Atlan's agent give it) names a Key Vault secret directly, without the prefix
   * or the name spelling — when it belongs to this store's vault.
   */
  #identifier(name: string): { kvName: string; version?: string | undefined } | undefined {
    if (!/^https?:\/\//i.test(name)) return undefined;
    const url = new URL(name);
    const vault = new URL(this.vaultUrl);
    if (url.origin !== vault.origin) {
      throw new InvalidRequestError(
        `${this.#core.tag} ${url.origin} is not this store's vault (${vault.origin}): use a store configured for that vault`,
      );
    }
    const m = /^\/secrets\/([0-9A-Za-z-]{1,127})(?:\/([0-9A-Za-z]{1,64}))?\/?$/.exec(url.pathname);
    if (!m || url.search || url.hash) {
      throw new InvalidRequestError(
        `${this.#core.tag} not a secret identifier: expected ${vault.origin}/secrets/<name>[/<version>]`,
      );
    }
    return { kvName: m[1] as string, version: m[2] };
  }

  /**
   * Key Vault's listing, paged with its nextLink. The SDK's public pager drops the continuation
   * token of the pages it maps, so the pages of its generated client (which keep it) are read.
   * Prefix and tags are matched here (Key Vault filters nothing server-side). With
   * `includeDeleted`, the soft-deleted secrets follow the active ones.
   */
  list(options: ListOptions): Promise<ListPage> {
    const phases = options.includeDeleted ? 2 : 1;
    return listProviderPages<RawItem>({
      ...options,
      phases,
      fetch: (token, phase) =>
        this.#call(this.#ctx('list'), async ({ client }) => {
          const raw = (client as unknown as { client?: RawClient }).client;
          if (!raw)
            throw new UnsupportedOperationError(
              `${this.#core.tag} this @azure/keyvault-secrets version cannot page`,
            );
          const listing = raw[phase === 1 ? 'getDeletedSecrets' : 'getSecrets']({ maxresults: 25 });
          const page = (await listing.byPage({ continuationToken: token }).next()).value;
          return { items: page ?? [], next: page?.continuationToken };
        }),
      pick: (item) => {
        const name = this.#names.fromId(new URL(item.id ?? '', this.vaultUrl).pathname.split('/')[2] ?? '');
        if (!listingMatches(name, item.tags, options)) return undefined;
        return secretMetadata(name, {
          tags: item.tags,
          createdAt: item.attributes?.created,
          updatedAt: item.attributes?.updated,
          deletedAt: item.deletedDate,
          purgeAt: item.scheduledPurgeDate,
        });
      },
    });
  }

  checkValue(name: string, value: string): void {
    this.#core.checkValue(name, value);
  }

  async write(name: string, value: string, options: WriteOptions): Promise<WriteResult> {
    if (options.expectedVersion !== undefined) {
      throw new UnsupportedOperationError(
        `${this.#core.tag} Key Vault has no check-and-set: write without an expected version`,
      );
    }
    this.#core.checkValue(name, value);
    const ctx = { ...this.#ctx('set', name), bytes: Buffer.byteLength(value) };
    const tags = { ...this.#settings.tags, ...options.tags };
    const setOptions = Object.keys(tags).length > 0 ? { tags } : {};
    const written = await this.#call(ctx, async ({ client, kvName }) => {
      ctx.operation = 'set';
      try {
        return await client.setSecret(kvName, value, setOptions);
      } catch (err) {
        if (!isSoftDeleted(err)) throw err;
        // The name is held by a soft-deleted secret: bring it back, then add the new version to it.
        this.#core.context.log.info('recovering a soft-deleted Key Vault secret before writing it', {
          name,
          kvName,
        });
        ctx.operation = 'recover';
        await (await client.beginRecoverDeletedSecret(kvName)).pollUntilDone();
        ctx.operation = 'set';
        return client.setSecret(kvName, value, setOptions);
      }
    });
    return { name, version: written.properties.version ?? '' };
  }

  async delete(name: string, options: DeleteOptions): Promise<void> {
    try {
      await this.#call(this.#ctx('delete', name), async ({ client, kvName }) =>
        (await client.beginDeleteSecret(kvName)).pollUntilDone(),
      );
    } catch (err) {
      // Already soft-deleted and asked to purge: go on to the purge.
      if (!(options.force && err instanceof SecretNotFoundError)) throw err;
    }
    if (options.force) {
      await this.#call(this.#ctx('purge', name), ({ client, kvName }) => client.purgeDeletedSecret(kvName));
    } else if (options.recoveryWindowMs !== undefined) {
      this.#core.context.log.debug(
        'Key Vault keeps soft-deleted secrets for the vault-wide retention period; recoveryWindowMs is ignored',
        { name },
      );
    }
  }

  async restore(name: string): Promise<void> {
    await this.#call(this.#ctx('recover', name), async ({ client, kvName }) =>
      (await client.beginRecoverDeletedSecret(kvName)).pollUntilDone(),
    );
  }

  async #versionProperties(name: string): Promise<SecretProperties[]> {
    return this.#call(this.#ctx('versions', name), async ({ client, kvName }) => {
      const found: SecretProperties[] = [];
      for await (const props of client.listPropertiesOfSecretVersions(kvName)) found.push(props);
      // Newest first; among versions created in the same second, the one listed last.
      return found.reverse().sort((a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0));
    });
  }

  async versions(name: string): Promise<VersionMetadata[]> {
    return (await this.#versionProperties(name)).map((props) => ({
      version: props.version ?? '',
      ...(props.createdOn ? { createdAt: props.createdOn.toISOString() } : {}),
      enabled: props.enabled ?? true,
    }));
  }

  async describe(name: string): Promise<SecretMetadata> {
    const newest = (await this.#versionProperties(name))[0];
    if (!newest)
      throw new SecretNotFoundError(`${this.#core.tag} no secret "${name}" in Key Vault ${this.vaultUrl}`);
    const { version, tags, createdOn, updatedOn } = newest;
    return secretMetadata(name, { version, tags, createdAt: createdOn, updatedAt: updatedOn });
  }

  check(options: CheckOptions): Promise<CheckReport> {
    return standardChecks(this, options, {
      authenticate: async () => {
        await this.#call(this.#ctx('token'), ({ credential }) =>
          credential.getToken(vaultScope(this.vaultUrl)),
        );
        return `got a Key Vault token with auth method ${this.#settings.auth.method}`;
      },
      list: async () => {
        await this.list({ namespaces: [], limit: 1 });
        return `listing secrets of ${this.vaultUrl} is allowed`;
      },
    });
  }

  close(): Promise<void> {
    return this.#core.close();
  }
}

const AZURE_CREDENTIALS = credentialPaths(azureKeyVaultSettings);

export const azureKeyVaultStoreType = {
  type: 'azure-key-vault',
  capabilities: {
    write: true,
    batch: false,
    versions: true,
    stages: false,
    namespaced: false,
    restore: true,
  },
  settings: azureKeyVaultSettings,
  secretSettings: AZURE_CREDENTIALS,
  hostAccess: ({ vaultUrl, authorityHost, auth }: AzureKeyVaultSettings) =>
    hostAccessOf({
      addresses: { vaultUrl, authorityHost },
      identity:
        (auth.method === 'default' || auth.method === 'managed-identity') &&
        `with auth ${auth.method} uses this server's own Azure identity`,
      files: {
        'auth.certificatePath': auth.method === 'client-certificate' ? auth.certificatePath : undefined,
      },
    }),
  create: (s: AzureKeyVaultSettings, context: StoreContext) => new AzureKeyVaultStoreClient(s, context),
} satisfies StoreType<AzureKeyVaultSettings>;

/**
 * `azure-key-vault` store: secrets in an Azure Key Vault, through `@azure/keyvault-secrets` and
 * `@azure/identity`, both loaded with `import()` the first time a store of this type is used.
 *
 * Sesame names map to Key Vault names by the reversible scheme in `names.ts`. Versions are Key
 * Vault version ids. Deletes are soft deletes (restore = recover; `force` purges); writing a name
 * that is soft-deleted recovers it first instead of failing with Conflict. The SDK's own retries
 * are off so the shared backoff in `../retry.ts` decides (429 honours `Retry-After`).
 *
 * @example
 * stores:
 *   - name: azure
 *     type: azure-key-vault
 *     vaultName: acme-prod
 *     auth: { method: managed-identity }
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TokenCredential } from '@azure/identity';
import type { SecretClient, SecretProperties } from '@azure/keyvault-secrets';
import { z } from 'zod';
import {
  ConfigError,
  SecretNotFoundError,
  SesameError,
  UnsupportedOperationError,
  UsageError,
} from '../../errors.js';
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
import { pageInMemory as pageSorted } from '../core/paging.js';
import { type RetryOptions, withRetry } from '../core/retry.js';
import {
  type AzureErrorContext,
  type AzureOperation,
  azureRetryVerdict,
  innerErrorCode,
  mapAzureError,
  permissionFor,
  statusOf,
} from './errors.js';
import { fromKeyVaultName, toKeyVaultName } from './names.js';

const nonEmpty = (what: string) => z.string().min(1, `${what} must not be empty`);

const authSchema = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('default') }),
  z.strictObject({ method: z.literal('managed-identity'), clientId: nonEmpty('clientId').optional() }),
  z.strictObject({
    method: z.literal('client-secret'),
    tenantId: nonEmpty('tenantId'),
    clientId: nonEmpty('clientId'),
    clientSecret: nonEmpty('clientSecret'),
  }),
  z.strictObject({
    method: z.literal('client-certificate'),
    tenantId: nonEmpty('tenantId'),
    clientId: nonEmpty('clientId'),
    /** PEM file holding the certificate and its private key. */
    certificatePath: nonEmpty('certificatePath'),
  }),
]);

const settings = z
  .strictObject({
    /** `https://<vault>.vault.azure.net` (or a sovereign cloud / private endpoint / emulator URL). */
    vaultUrl: z
      .url({ protocol: /^https?$/, message: 'vaultUrl is a URL such as https://my-vault.vault.azure.net' })
      .optional(),
    /** Short form for the public cloud: `my-vault` means `https://my-vault.vault.azure.net`. */
    vaultName: z
      .string()
      .regex(
        /^[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]$/,
        'a vault name is 3-24 letters, digits and single dashes, starting with a letter',
      )
      .optional(),
    /** Microsoft Entra ID authority, e.g. https://login.microsoftonline.us (must be https). */
    authorityHost: z
      .url({
        protocol: /^https$/,
        message: 'authorityHost is an https URL such as https://login.microsoftonline.com',
      })
      .optional(),
    /** Allow an http:// vaultUrl (emulators only). */
    allowInsecureConnection: z.boolean().default(false),
    /** Skip checking that the challenge's resource matches the vault's domain (emulators, private endpoints). */
    disableChallengeResourceVerification: z.boolean().default(false),
    /** Prepended to every Sesame name before it is mapped to a Key Vault name. */
    prefix: z.string().default(''),
    /** Tags put on every secret Sesame writes (merged under the write's own tags). */
    tags: z.record(z.string(), z.string()).default({}),
    auth: authSchema.default({ method: 'default' }),
  })
  .refine((s) => (s.vaultUrl === undefined) !== (s.vaultName === undefined), {
    message: 'give exactly one of vaultUrl or vaultName',
    path: ['vaultUrl'],
  });

export type AzureKeyVaultSettings = z.infer<typeof settings>;

/**
 * Hooks for tests: trust the emulator's certificate and replace the backoff sleep. Not reachable
 * from config.
 */
export interface AzureKeyVaultTestHooks {
  /** Extra Azure pipeline options (e.g. `tlsOptions: { ca }`) for the vault client and credential. */
  pipeline?: { tlsOptions?: { ca?: string | undefined } };
  retry?: Pick<RetryOptions, 'sleep' | 'random' | 'attempts'>;
}

interface Sdk {
  client: SecretClient;
  credential: TokenCredential;
}

const MAX_LIST = 10_000;
const RETRY_ATTEMPTS = 4;

/** The token scope of the cloud a vault lives in (the Key Vault challenge confirms it at runtime). */
function vaultScope(vaultUrl: string): string {
  const host = new URL(vaultUrl).hostname;
  for (const suffix of ['vault.azure.cn', 'vault.usgovcloudapi.net', 'vault.microsoftazure.de']) {
    if (host.endsWith(`.${suffix}`)) return `https://${suffix}/.default`;
  }
  return 'https://vault.azure.net/.default';
}

const PUBLIC_AUTHORITIES = new Set([
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
]);


export class AzureKeyVaultStoreClient implements StoreClient {
  readonly vaultUrl: string;
  #sdk: Promise<Sdk> | undefined;

  constructor(
    private readonly settings: AzureKeyVaultSettings,
    private readonly context: StoreContext,
    private readonly hooks: AzureKeyVaultTestHooks = {},
  ) {
    this.vaultUrl = (settings.vaultUrl ?? `https://${settings.vaultName}.vault.azure.net`).replace(
      /\/+$/,
      '',
    );
    const at = `stores.${context.storeName}`;
    if (this.vaultUrl.startsWith('http://') && !settings.allowInsecureConnection) {
      throw new ConfigError(`vaultUrl ${this.vaultUrl} is plain http`, {
        path: `${at}.vaultUrl`,
        hint: 'use https, or set allowInsecureConnection: true for a local emulator',
      });
    }
    const prefix = settings.prefix ? toKeyVaultName(settings.prefix) : { ok: true as const, name: '' };
    if (!prefix.ok)
      throw new ConfigError(`prefix cannot be part of a Key Vault name: ${prefix.reason}`, {
        path: `${at}.prefix`,
      });
    if (settings.allowInsecureConnection) {
      context.log.warn(
        'allowInsecureConnection is on: Key Vault traffic may go over plain http (emulators only)',
        { store: context.storeName },
      );
    }
    if (settings.disableChallengeResourceVerification) {
      context.log.warn(
        'disableChallengeResourceVerification is on: tokens are sent to whatever host the vault URL names (emulators and private endpoints only)',
        {
          store: context.storeName,
        },
      );
    }
  }

  get #tag(): string {
    return `[${this.context.storeName}]`;
  }

  #authInfo(): AzureErrorContext['auth'] {
    const auth = this.settings.auth;
    return {
      method: auth.method,
      tenantId: 'tenantId' in auth ? auth.tenantId : undefined,
      clientId: 'clientId' in auth ? auth.clientId : undefined,
    };
  }

  #context(operation: AzureOperation, name?: string, kvName?: string, version?: string): AzureErrorContext {
    return {
      store: this.context.storeName,
      vaultUrl: this.vaultUrl,
      operation,
      name,
      kvName,
      version,
      auth: this.#authInfo(),
    };
  }

  /** The Key Vault name for a Sesame name (prefix applied), or a clear refusal. */
  #kvName(name: string): string {
    const mapped = toKeyVaultName(this.settings.prefix + name);
    if (!mapped.ok) {
      throw new UsageError(
        `${this.#tag} "${name}" cannot be mapped to a Key Vault secret name: ${mapped.reason}`,
      );
    }
    return mapped.name;
  }

  /** The Sesame name for a Key Vault name, or undefined when it is outside the mapping or the prefix. */
  #sesameName(kvName: string): string | undefined {
    const full = fromKeyVaultName(kvName);
    if (full === undefined || !full.startsWith(this.settings.prefix)) return undefined;
    const name = full.slice(this.settings.prefix.length);
    return name.length > 0 ? name : undefined;
  }

  #load(): Promise<Sdk> {
    this.#sdk ??= this.#createSdk().catch((err: unknown) => {
      this.#sdk = undefined;
      throw err;
    });
    return this.#sdk;
  }

  async #createSdk(): Promise<Sdk> {
    const [identity, secrets] = await Promise.all([
      import('@azure/identity'),
      import('@azure/keyvault-secrets'),
    ]);
    const { auth, authorityHost } = this.settings;
    const pipeline = { ...this.hooks.pipeline, retryOptions: { maxRetries: 0 } };
    // Instance discovery asks login.microsoftonline.com about the authority; a custom authority
    // (private cloud, emulator) is not in its list, so discovery is skipped for it.
    const authority = authorityHost
      ? { authorityHost, disableInstanceDiscovery: !PUBLIC_AUTHORITIES.has(new URL(authorityHost).hostname) }
      : {};
    let credential: TokenCredential;
    switch (auth.method) {
      case 'default':
        credential = new identity.DefaultAzureCredential({ ...pipeline, ...authority });
        break;
      case 'managed-identity':
        credential = new identity.ManagedIdentityCredential({
          ...pipeline,
          ...(auth.clientId ? { clientId: auth.clientId } : {}),
        });
        break;
      case 'client-secret':
        credential = new identity.ClientSecretCredential(auth.tenantId, auth.clientId, auth.clientSecret, {
          ...pipeline,
          ...authority,
        });
        break;
      case 'client-certificate': {
        const certificatePath = path.resolve(this.context.baseDir ?? process.cwd(), auth.certificatePath);
        if (!existsSync(certificatePath)) {
          throw new ConfigError(`certificate file ${certificatePath} does not exist`, {
            path: `stores.${this.context.storeName}.auth.certificatePath`,
            hint: 'a PEM file with the certificate and its private key',
          });
        }
        credential = new identity.ClientCertificateCredential(
          auth.tenantId,
          auth.clientId,
          { certificatePath },
          { ...pipeline, ...authority },
        );
        break;
      }
    }
    const client = new secrets.SecretClient(this.vaultUrl, credential, {
      ...pipeline,
      allowInsecureConnection: this.settings.allowInsecureConnection,
      disableChallengeResourceVerification: this.settings.disableChallengeResourceVerification,
    });
    return { client, credential };
  }

  /** Run one SDK call with the shared backoff, mapping the final failure. */
  async #call<T>(ctx: AzureErrorContext, operation: (sdk: Sdk) => Promise<T>): Promise<T> {
    let attempts = 0;
    try {
      const sdk = await this.#load();
      return await withRetry(
        () => {
          attempts += 1;
          return operation(sdk);
        },
        {
          attempts: RETRY_ATTEMPTS,
          baseDelayMs: 200,
          maxDelayMs: 2_000,
          retryable: azureRetryVerdict,
          ...this.hooks.retry,
        },
      );
    } catch (err) {
      if (err instanceof SesameError) throw err;
      throw mapAzureError(err, ctx, attempts);
    }
  }

  async get(request: SecretRequest): Promise<FetchedSecret> {
    // ?version= and ?stage= the type does not have are refused by the core (resolve/bindings.ts).
    const kvName = this.#kvName(request.name);
    const secret = await this.#call(
      this.#context('get', request.name, kvName, request.version),
      ({ client }) => client.getSecret(kvName, request.version ? { version: request.version } : {}),
    );
    return { value: secret.value ?? '', version: secret.properties.version };
  }

  #metadata(props: SecretProperties, name: string): SecretMetadata {
    return {
      name,
      ...(props.version ? { version: props.version } : {}),
      ...(props.tags && Object.keys(props.tags).length > 0 ? { tags: { ...props.tags } } : {}),
      ...(props.createdOn ? { createdAt: props.createdOn.toISOString() } : {}),
      ...(props.updatedOn ? { updatedAt: props.updatedOn.toISOString() } : {}),
    };
  }

  async list(options: ListOptions): Promise<ListPage> {
    const wanted = (name: string, tags: Record<string, string> | undefined) =>
      (!options.prefix || name.startsWith(options.prefix)) &&
      Object.entries(options.tags ?? {}).every(([k, v]) => tags?.[k] === v);
    const items = await this.#call(this.#context('list'), async ({ client }) => {
      const found: SecretMetadata[] = [];
      let seen = 0;
      for await (const props of client.listPropertiesOfSecrets()) {
        if (++seen > MAX_LIST) break;
        const name = this.#sesameName(props.name);
        if (name !== undefined && wanted(name, props.tags)) found.push(this.#metadata(props, name));
      }
      if (options.includeDeleted) {
        for await (const deleted of client.listDeletedSecrets()) {
          if (++seen > MAX_LIST) break;
          const name = this.#sesameName(deleted.properties.name);
          if (name === undefined || !wanted(name, deleted.properties.tags)) continue;
          found.push({
            ...this.#metadata(deleted.properties, name),
            ...(deleted.properties.deletedOn
              ? { deletedAt: deleted.properties.deletedOn.toISOString() }
              : {}),
            ...(deleted.properties.scheduledPurgeDate
              ? { purgeAt: deleted.properties.scheduledPurgeDate.toISOString() }
              : {}),
          });
        }
      }
      return found;
    });
    return pageSorted(items, options);
  }

  async write(name: string, value: string, options: WriteOptions): Promise<WriteResult> {
    if (options.expectedVersion !== undefined) {
      throw new UnsupportedOperationError(
        `${this.#tag} Key Vault has no check-and-set: write without an expected version`,
      );
    }
    const kvName = this.#kvName(name);
    const tags = { ...this.settings.tags, ...options.tags };
    const setOptions = Object.keys(tags).length > 0 ? { tags } : {};
    const ctx = this.#context('set', name, kvName);
    const written = await this.#call(ctx, async ({ client }) => {
      ctx.operation = 'set';
      try {
        return await client.setSecret(kvName, value, setOptions);
      } catch (err) {
        if (statusOf(err) !== 409 || innerErrorCode(err) !== 'ObjectIsDeletedButRecoverable') throw err;
        // The name is held by a soft-deleted secret: bring it back, then add the new version to it.
        this.context.log.info('recovering a soft-deleted Key Vault secret before writing it', {
          name,
          kvName,
        });
        ctx.operation = 'recover';
        const poller = await client.beginRecoverDeletedSecret(kvName);
        await poller.pollUntilDone();
        ctx.operation = 'set';
        return client.setSecret(kvName, value, setOptions);
      }
    });
    return { name, version: written.properties.version ?? '' };
  }

  async #recover(name: string, kvName: string): Promise<void> {
    await this.#call(this.#context('recover', name, kvName), async ({ client }) => {
      const poller = await client.beginRecoverDeletedSecret(kvName);
      await poller.pollUntilDone();
    });
  }

  async delete(name: string, options: DeleteOptions): Promise<void> {
    const kvName = this.#kvName(name);
    try {
      await this.#call(this.#context('delete', name, kvName), async ({ client }) => {
        const poller = await client.beginDeleteSecret(kvName);
        await poller.pollUntilDone();
      });
    } catch (err) {
      // Already soft-deleted and asked to purge: go on to the purge.
      if (!(options.force && err instanceof SecretNotFoundError)) throw err;
    }
    if (options.force) {
      await this.#call(this.#context('purge', name, kvName), ({ client }) =>
        client.purgeDeletedSecret(kvName),
      );
    } else if (options.recoveryWindowMs !== undefined) {
      this.context.log.debug(
        'Key Vault keeps soft-deleted secrets for the vault-wide retention period; recoveryWindowMs is ignored',
        { name },
      );
    }
  }

  async restore(name: string): Promise<void> {
    await this.#recover(name, this.#kvName(name));
  }

  async versions(name: string): Promise<VersionMetadata[]> {
    const kvName = this.#kvName(name);
    const versions = await this.#call(this.#context('versions', name, kvName), async ({ client }) => {
      const found: VersionMetadata[] = [];
      for await (const props of client.listPropertiesOfSecretVersions(kvName)) {
        found.push({
          version: props.version ?? '',
          ...(props.createdOn ? { createdAt: props.createdOn.toISOString() } : {}),
          enabled: props.enabled ?? true,
        });
      }
      return found;
    });
    return versions.sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
  }

  async describe(name: string): Promise<SecretMetadata> {
    const kvName = this.#kvName(name);
    const newest = await this.#call(this.#context('versions', name, kvName), async ({ client }) => {
      let latest: SecretProperties | undefined;
      for await (const props of client.listPropertiesOfSecretVersions(kvName)) {
        if (!latest || (props.createdOn?.getTime() ?? 0) >= (latest.createdOn?.getTime() ?? 0))
          latest = props;
      }
      return latest;
    });
    if (!newest)
      throw new SecretNotFoundError(`${this.#tag} no secret "${name}" in Key Vault ${this.vaultUrl}`);
    return this.#metadata(newest, name);
  }

  async check(options: CheckOptions): Promise<CheckReport> {
    const steps: CheckStep[] = [];
    const fixFor = (err: unknown, operation: AzureOperation): string => {
      const code = (err as SesameError).code;
      if (code === 'access_denied') {
        const { role, policy } = permissionFor(operation);
        return operation === 'token'
          ? 'fix the credentials of the configured auth method (see the detail)'
          : `assign the "${role}" role on the vault, or the access-policy secret permission "${policy}"`;
      }
      if (code === 'not_found') return `create the secret, or test with a sample that exists`;
      if (code === 'config') return 'fix the store settings (see the detail)';
      return 'check that the vault URL is right and reachable from this host';
    };
    try {
      const { credential } = await this.#load();
      await credential.getToken(vaultScope(this.vaultUrl));
      steps.push({
        step: 'authenticate',
        ok: true,
        detail: `got a Key Vault token with auth method ${this.settings.auth.method}`,
      });
    } catch (err) {
      const mapped = err instanceof SesameError ? err : mapAzureError(err, this.#context('token'));
      steps.push({ step: 'authenticate', ok: false, detail: mapped.message, fix: fixFor(mapped, 'token') });
      return { ok: false, steps };
    }
    try {
      await this.#call(this.#context('list'), async ({ client }) => {
        const pages = client.listPropertiesOfSecrets().byPage({ maxPageSize: 1 });
        await pages.next();
      });
      steps.push({ step: 'list', ok: true, detail: `listing secrets of ${this.vaultUrl} is allowed` });
    } catch (err) {
      steps.push({ step: 'list', ok: false, detail: (err as Error).message, fix: fixFor(err, 'list') });
    }
    if (options.sample) {
      try {
        await this.get({ name: options.sample, namespaces: [] });
        steps.push({ step: 'read', ok: true, detail: `"${options.sample}" is readable` });
      } catch (err) {
        steps.push({ step: 'read', ok: false, detail: (err as Error).message, fix: fixFor(err, 'get') });
      }
    }
    return { ok: steps.every((s) => s.ok), steps };
  }

  async close(): Promise<void> {
    this.#sdk = undefined;
  }
}

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
  settings,
  secretSettings: ['auth.clientSecret'],
  hostAccess(s: AzureKeyVaultSettings): HostAccess[] {
    const out: HostAccess[] = [];
    if (s.vaultUrl) out.push({ kind: 'address', setting: 'vaultUrl', url: s.vaultUrl });
    if (s.authorityHost) out.push({ kind: 'address', setting: 'authorityHost', url: s.authorityHost });
    if (s.auth.method === 'default' || s.auth.method === 'managed-identity') {
      out.push({ kind: 'identity', detail: `with auth ${s.auth.method} uses this server's own Azure identity` });
    } else if (s.auth.method === 'client-certificate') {
      out.push({ kind: 'files', setting: 'auth.certificatePath', path: s.auth.certificatePath });
    }
    return out;
  },
  create: (s: AzureKeyVaultSettings, context: StoreContext) => new AzureKeyVaultStoreClient(s, context),
} satisfies StoreType<AzureKeyVaultSettings>;

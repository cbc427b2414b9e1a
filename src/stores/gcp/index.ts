/**
 * `gcp-secret-manager` store: secrets in Google Cloud Secret Manager through
 * `@google-cloud/secret-manager`, loaded with `import()` the first time a store of this type is
 * used.
 *
 * A Sesame name (after the prefix) is a secret id, `[A-Za-z0-9_-]{1,255}`. Versions are version
 * numbers; no version means `latest`. Payloads are checked against `dataCrc32c` when the service
 * sends it. The SDK's retries are off so the core's backoff decides. Listings page with the
 * service's pageToken.
 *
 * `apiEndpoint` is a URL: `https://host[:port]` keeps the gRPC transport on that host (regional
 * or private endpoints); `http://host:port` selects the REST transport over plain HTTP (local
 * emulators).
 *
 * Service-account keys sign their own JWTs (the Secret Manager client turns on
 * `useJWTAccessWithScope`), so no token endpoint is called for them and the key file's
 * `token_uri` plays no part.
 *
 * @example
 * stores:
 *   - name: gcp
 *     type: gcp-secret-manager
 *     project: acme-prod
 *     auth: { method: service-account-json, file: /etc/sesame/gcp-key.json }
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { ConfigError, UsageError } from '../../errors.js';
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
  isoTime,
  type Lazy,
  listingMatches,
  listProviderPages,
  NameMapping,
  type ProtobufTimestamp,
  type RetryPolicy,
  readSampleStep,
  runChecks,
  StoreCore,
  secretMetadata,
} from '../core/index.js';
import { crc32c } from './crc32c.js';
import {
  ChecksumMismatch,
  classifyGcp,
  type GcpErrorContext,
  type GcpOperation,
  gcpStatus,
} from './errors.js';
import { type GcpSecretManagerSettings, gcpLabels, gcpSecretManagerSettings } from './settings.js';

export type { GcpSecretManagerSettings } from './settings.js';

const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;

/** Hooks for tests: replace the backoff sleep. Not reachable from config. */
export interface GcpSecretManagerTestHooks {
  retry?: RetryPolicy;
}

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string | undefined;
  project_id?: string | undefined;
}

/** Turn the SDK's own retries off; `withRetry` owns backoff. */
const NO_SDK_RETRY = { retry: { retryCodes: [] }, timeout: 30_000 };

function lastSegment(resource: string | null | undefined): string {
  return (resource ?? '').split('/').pop() ?? '';
}

/** `state` arrives as a number (numeric enums over REST) or as its name (gRPC). */
function stateName(state: unknown): string {
  if (typeof state === 'string') return state;
  return ['STATE_UNSPECIFIED', 'ENABLED', 'DISABLED', 'DESTROYED'][Number(state)] ?? 'STATE_UNSPECIFIED';
}

export class GcpSecretManagerStoreClient implements StoreClient {
  readonly #core: StoreCore<GcpErrorContext>;
  readonly #names: NameMapping;
  readonly #client: Lazy<SecretManagerServiceClient>;

  constructor(
    private readonly settings: GcpSecretManagerSettings,
    private readonly context: StoreContext,
    hooks: GcpSecretManagerTestHooks = {},
  ) {
    this.#core = new StoreCore<GcpErrorContext>({
      context,
      settings,
      credentialPaths: GCP_CREDENTIALS,
      // A key file's private key appears in no message the core builds; scrub it all the same.
      scrub: [
        [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[private key]'],
      ],
      retry: { attempts: 4, baseDelayMs: 200, ...hooks.retry },
      classify: classifyGcp,
    });
    this.#names = new NameMapping(this.#core.tag, {
      prefix: settings.prefix,
      what: 'Secret Manager secret id',
      encode: (id) =>
        SECRET_ID.test(id)
          ? { ok: true, id }
          : {
              ok: false,
              reason: `ids are 1-255 letters, digits, "_" and "-"${settings.prefix ? ` (prefix "${settings.prefix}" included)` : ''}`,
            },
    });
    this.#client = this.#core.lazy(
      () => this.#create(),
      (client) => client.close(),
    );
  }

  #ctx(operation: GcpOperation, name?: string, secretId?: string, version?: string): GcpErrorContext {
    return {
      project: this.settings.project,
      operation,
      name,
      secretId,
      version,
      authMethod: this.settings.auth.method,
    };
  }

  #secretPath(secretId: string): string {
    return `projects/${this.settings.project}/secrets/${secretId}`;
  }

  #serviceAccountKey(): ServiceAccountKey | undefined {
    const auth = this.settings.auth;
    if (auth.method !== 'service-account-json') return undefined;
    const at = `stores.${this.context.storeName}.auth.${auth.file !== undefined ? 'file' : 'json'}`;
    let text = auth.json as string;
    if (auth.file !== undefined) {
      const file = path.resolve(this.context.baseDir ?? process.cwd(), auth.file);
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw new ConfigError(`cannot read the service account key file ${file} (${code})`, { path: at });
      }
    }
    let key: Partial<ServiceAccountKey> & { type?: unknown };
    try {
      key = JSON.parse(text) as typeof key;
    } catch {
      // Never echo the text: it holds a private key.
      throw new ConfigError('the service account key is not valid JSON', { path: at });
    }
    const { client_email, private_key, private_key_id, project_id } = key;
    if (
      key.type !== 'service_account' ||
      typeof client_email !== 'string' ||
      typeof private_key !== 'string'
    ) {
      throw new ConfigError(
        'the service account key needs "type": "service_account", "client_email" and "private_key"',
        { path: at, hint: 'download a JSON key from IAM & Admin → Service accounts → Keys' },
      );
    }
    return {
      client_email,
      private_key,
      private_key_id: typeof private_key_id === 'string' ? private_key_id : undefined,
      project_id: typeof project_id === 'string' ? project_id : undefined,
    };
  }

  async #create(): Promise<SecretManagerServiceClient> {
    const key = this.#serviceAccountKey();
    const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
    const options: NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]> = {
      projectId: this.settings.project,
    };
    if (this.settings.apiEndpoint) {
      const url = new URL(this.settings.apiEndpoint);
      if (url.protocol === 'http:') {
        Object.assign(options, {
          fallback: 'rest',
          protocol: 'http',
          apiEndpoint: url.hostname,
          port: Number(url.port || 80),
        });
      } else {
        Object.assign(options, { apiEndpoint: url.hostname, port: Number(url.port || 443) });
      }
    }
    if (key) options.credentials = key;
    const client = new SecretManagerServiceClient(options);
    // Resolve credentials before the first call: the SDK would otherwise build its service stub
    // on a rejected promise and leave one unhandled rejection per method behind.
    await client.auth.getClient();
    return client;
  }

  #call<T>(ctx: GcpErrorContext, operation: (client: SecretManagerServiceClient) => Promise<T>): Promise<T> {
    return this.#core.call(ctx, async () => operation(await this.#client.get()));
  }

  async get(request: SecretRequest): Promise<FetchedSecret> {
    // ?version= and ?stage= the type does not have are refused by the core (resolve/bindings.ts).
    const secretId = this.#names.toId(request.name);
    const version = request.version ?? 'latest';
    if (!/^(latest|[1-9][0-9]*)$/.test(version)) {
      throw new UsageError(
        `${this.#core.tag} "${version}" is not a Secret Manager version: use a version number or "latest"`,
      );
    }
    const ctx = this.#ctx('access', request.name, secretId, request.version);
    const { bytes, served } = await this.#call(ctx, async (client) => {
      const name = `${this.#secretPath(secretId)}/versions/${version}`;
      const [{ payload, name: servedName }] = await client.accessSecretVersion({ name }, NO_SDK_RETRY);
      const raw = payload?.data;
      const bytes = raw instanceof Uint8Array ? raw : Buffer.from(String(raw ?? ''), 'base64');
      const expected = payload?.dataCrc32c;
      if (expected !== undefined && expected !== null && String(expected) !== String(crc32c(bytes)))
        throw new ChecksumMismatch('dataCrc32c does not match the payload');
      return { bytes, served: lastSegment(servedName) || undefined };
    });
    try {
      return { value: new TextDecoder('utf-8', { fatal: true }).decode(bytes), version: served };
    } catch {
      return { value: new Uint8Array(bytes), version: served };
    }
  }

  /** One page of secrets.list per provider page, resumed with its pageToken; prefix and labels matched here. */
  list(options: ListOptions): Promise<ListPage> {
    type Raw = { name?: string | null; labels?: unknown; createTime?: unknown };
    return listProviderPages<Raw>({
      ...options,
      fetch: (token) =>
        this.#call(this.#ctx('list'), async (client) => {
          const [secrets, , response] = await client.listSecrets(
            {
              parent: `projects/${this.settings.project}`,
              pageSize: 100,
              ...(token ? { pageToken: token } : {}),
            },
            { ...NO_SDK_RETRY, autoPaginate: false },
          );
          return {
            items: secrets as Raw[],
            next: (response as { nextPageToken?: string } | undefined)?.nextPageToken || undefined,
          };
        }),
      pick: (secret) => {
        const name = this.#names.fromId(lastSegment(secret.name));
        const tags = secret.labels as Record<string, string> | null | undefined;
        if (!listingMatches(name, tags, options)) return undefined;
        return secretMetadata(name, { tags, createdAt: secret.createTime as ProtobufTimestamp });
      },
    });
  }

  #labels(tags: Record<string, string> | undefined): Record<string, string> {
    const merged = { ...this.settings.labels, ...tags };
    const parsed = gcpLabels.safeParse(merged);
    if (!parsed.success) {
      throw new UsageError(
        `${this.#core.tag} Secret Manager labels must be lowercase: ${parsed.error.issues[0]?.message ?? 'invalid label'}`,
      );
    }
    return merged;
  }

  async write(name: string, value: string, options: WriteOptions): Promise<WriteResult> {
    const secretId = this.#names.toId(name);
    const secretLabels = this.#labels(options.tags);
    if (options.expectedVersion !== undefined) {
      const latest = (await this.versions(name))[0]?.version;
      if (latest !== options.expectedVersion) {
        throw new UsageError(
          `${this.#core.tag} "${name}" is at version ${latest ?? '(none)'}, not ${options.expectedVersion}: read it again before writing`,
        );
      }
    }
    const data = Buffer.from(value, 'utf8');
    const payload = { data, dataCrc32c: crc32c(data) };
    const parent = this.#secretPath(secretId);
    const ctx = this.#ctx('write', name, secretId);
    const version = await this.#call(ctx, async (client) => {
      ctx.operation = 'write';
      try {
        const [added] = await client.addSecretVersion({ parent, payload }, NO_SDK_RETRY);
        return added;
      } catch (err) {
        if (gcpStatus(err)?.status !== 'NOT_FOUND') throw err;
        // First write of this name: create the secret, then add the version.
        ctx.operation = 'create';
        await client
          .createSecret(
            {
              parent: `projects/${this.settings.project}`,
              secretId,
              secret: { replication: { automatic: {} }, labels: secretLabels },
            },
            NO_SDK_RETRY,
          )
          .catch((createErr: unknown) => {
            if (gcpStatus(createErr)?.status !== 'ALREADY_EXISTS') throw createErr;
          });
        ctx.operation = 'write';
        const [added] = await client.addSecretVersion({ parent, payload }, NO_SDK_RETRY);
        return added;
      }
    });
    return { name, version: lastSegment(version.name) };
  }

  /** Deletes the secret and all its versions. Secret Manager has no soft delete. */
  async delete(name: string, _options: DeleteOptions): Promise<void> {
    const secretId = this.#names.toId(name);
    await this.#call(this.#ctx('delete', name, secretId), (client) =>
      client.deleteSecret({ name: this.#secretPath(secretId) }, NO_SDK_RETRY),
    );
  }

  async #versionAction(
    action: 'disable' | 'enable' | 'destroy',
    name: string,
    version: string,
  ): Promise<void> {
    const secretId = this.#names.toId(name);
    if (!/^[1-9][0-9]*$/.test(version))
      throw new UsageError(`${this.#core.tag} ${action} needs a version number, not "${version}"`);
    const request = { name: `${this.#secretPath(secretId)}/versions/${version}` };
    await this.#call(this.#ctx(action, name, secretId, version), (client) => {
      if (action === 'disable') return client.disableSecretVersion(request, NO_SDK_RETRY);
      if (action === 'enable') return client.enableSecretVersion(request, NO_SDK_RETRY);
      return client.destroySecretVersion(request, NO_SDK_RETRY);
    });
  }

  /** Disable a version: reads of it fail until it is enabled again. */
  disableVersion(name: string, version: string): Promise<void> {
    return this.#versionAction('disable', name, version);
  }

  enableVersion(name: string, version: string): Promise<void> {
    return this.#versionAction('enable', name, version);
  }

  /** Destroy a version's payload for good. */
  destroyVersion(name: string, version: string): Promise<void> {
    return this.#versionAction('destroy', name, version);
  }

  async versions(name: string): Promise<VersionMetadata[]> {
    const secretId = this.#names.toId(name);
    const found = await this.#call(this.#ctx('versions', name, secretId), async (client) => {
      const out: VersionMetadata[] = [];
      for await (const v of client.listSecretVersionsAsync(
        { parent: this.#secretPath(secretId) },
        NO_SDK_RETRY,
      )) {
        const state = stateName(v.state);
        const createdAt = isoTime(v.createTime as ProtobufTimestamp);
        out.push({
          version: lastSegment(v.name),
          ...(createdAt ? { createdAt } : {}),
          enabled: state === 'ENABLED',
          destroyed: state === 'DESTROYED',
        });
      }
      return out;
    });
    return found.sort((a, b) => Number(b.version) - Number(a.version));
  }

  async describe(name: string): Promise<SecretMetadata> {
    const secretId = this.#names.toId(name);
    const [secret] = await this.#call(this.#ctx('describe', name, secretId), (client) =>
      client.getSecret({ name: this.#secretPath(secretId) }, NO_SDK_RETRY),
    );
    const tags = secret.labels as Record<string, string> | null | undefined;
    return secretMetadata(name, { tags, createdAt: secret.createTime as ProtobufTimestamp });
  }

  check(options: CheckOptions): Promise<CheckReport> {
    return runChecks([
      {
        step: 'authenticate',
        required: true,
        run: async () => {
          await this.#call(this.#ctx('token'), (client) => client.auth.getRequestHeaders());
          return `credentials of auth method ${this.settings.auth.method} can sign requests`;
        },
      },
      {
        step: 'list',
        run: async () => {
          await this.#call(this.#ctx('list'), (client) =>
            client.listSecrets(
              { parent: `projects/${this.settings.project}`, pageSize: 1 },
              { ...NO_SDK_RETRY, autoPaginate: false },
            ),
          );
          return `listing secrets of project ${this.settings.project} is allowed`;
        },
      },
      readSampleStep(this, options),
    ]);
  }

  async close(): Promise<void> {
    await this.#client.reset();
  }
}

const GCP_CREDENTIALS = credentialPaths(gcpSecretManagerSettings);

export const gcpSecretManagerStoreType = {
  type: 'gcp-secret-manager',
  capabilities: {
    write: true,
    batch: false,
    versions: true,
    stages: false,
    namespaced: false,
    restore: false,
  },
  settings: gcpSecretManagerSettings,
  secretSettings: GCP_CREDENTIALS,
  hostAccess: ({ apiEndpoint, auth }: GcpSecretManagerSettings) =>
    hostAccessOf({
      addresses: { apiEndpoint },
      identity:
        auth.method === 'default' &&
        "uses this server's own Google credentials (application default credentials)",
      files: { 'auth.file': auth.method === 'default' ? undefined : auth.file },
    }),
  create: (s: GcpSecretManagerSettings, context: StoreContext) => new GcpSecretManagerStoreClient(s, context),
} satisfies StoreType<GcpSecretManagerSettings>;

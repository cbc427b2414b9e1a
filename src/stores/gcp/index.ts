/**
 * `gcp-secret-manager` store: secrets in Google Cloud Secret Manager through
 * `@google-cloud/secret-manager`, loaded with `import()` the first time a store of this type is
 * used.
 *
 * A Sesame name (after the prefix) is a secret id, `[A-Za-z0-9_-]{1,255}`. Versions are version
 * numbers; no version means `latest`. Payloads are checked against `dataCrc32c` when the service
 * sends it.
 *
 * `apiEndpoint` is a URL: `https://host[:port]` keeps the gRPC transport on that host (private
 * endpoints); `http://host:port` selects the REST transport over plain HTTP (local emulators).
 * Regional secrets (`location`) are `projects/<p>/locations/<l>/secrets/<id>`, served by the
 * regional endpoint `secretmanager.<l>.rep.googleapis.com`, the default endpoint then.
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
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { z } from 'zod';
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
  addOrCreate,
  credentialPaths,
  ForeignAnswerError,
  hostAccessOf,
  isoTime,
  listingMatches,
  listProviderPages,
  NameMapping,
  type ProtobufTimestamp,
  readSettingFile,
  StoreCore,
  type StoreCoreTuning,
  secretMetadata,
  standardChecks,
  valueOfBytes,
} from '../core/index.js';
import { checkExpectedVersion, updateAfterWrite } from '../core/write-checks.js';
import { crc32c } from './crc32c.js';
import {
  ChecksumMismatch,
  classifyGcp,
  type GcpErrorContext,
  type GcpOperation,
  gcpEndpoint,
  gcpStatus,
} from './errors.js';
import { type GcpSecretManagerSettings, gcpLabels, gcpSecretManagerSettings } from './settings.js';

export type { GcpSecretManagerSettings } from './settings.js';

const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
/** SecretPayload.data "must be no larger than 64KiB". */
const PAYLOAD_LIMIT = { max: 64 * 1024, limit: "Secret Manager's payload limit of 64 KiB" };

/** The fields of a service-account key the client signs with (the others play no part). */
const serviceAccountKey = z.object({
  type: z.literal('service_account'),
  client_email: z.string(),
  private_key: z.string(),
  private_key_id: z.string().optional().catch(undefined),
  project_id: z.string().optional().catch(undefined),
});

function lastSegment(resource: string | null | undefined): string {
  return (resource ?? '').split('/').pop() ?? '';
}

/** A version's `state` by its number (numeric enums over REST; gRPC sends the name). */
const STATES = ['STATE_UNSPECIFIED', 'ENABLED', 'DISABLED', 'DESTROYED'];

export class GcpSecretManagerStoreClient implements StoreClient {
  readonly #core: StoreCore<GcpErrorContext, SecretManagerServiceClient>;
  readonly #names: NameMapping;
  readonly #parent: string;
  /** Call options of every RPC: the SDK's own retries off (the core owns backoff), the core's time limit. */
  readonly #gax: { retry: { retryCodes: number[] }; timeout: number };
  readonly #onePage: { retry: { retryCodes: number[] }; timeout: number; autoPaginate: false };

  constructor(
    private readonly settings: GcpSecretManagerSettings,
    private readonly context: StoreContext,
    /** For tests and embedding: tune the core. Not reachable from config. */
    hooks: StoreCoreTuning = {},
  ) {
    const { project, location } = settings;
    this.#parent = `projects/${project}${location ? `/locations/${location}` : ''}`;
    this.#core = new StoreCore<GcpErrorContext, SecretManagerServiceClient>({
      context,
      settings,
      credentialPaths: GCP_CREDENTIALS,
      // A key file's private key appears in no message the core builds; scrub it all the same.
      scrub: [
        [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[private key]'],
      ],
      retry: { attempts: 4, baseDelayMs: 200, ...hooks.retry },
      requestTimeoutMs: hooks.requestTimeoutMs,
      endpoint: gcpEndpoint,
      valueLimit: PAYLOAD_LIMIT,
      sdk: { build: () => this.#create(), dispose: (client) => client.close() },
      classify: classifyGcp,
    });
    this.#gax = { retry: { retryCodes: [] }, timeout: this.#core.requestTimeoutMs };
    this.#onePage = { ...this.#gax, autoPaginate: false };
    this.#names = new NameMapping(this.#core.tag, {
      prefix: settings.prefix,
      what: 'Secret Manager secret id',
      pattern: { test: SECRET_ID, rule: 'ids are 1-255 letters, digits, "_" and "-"' },
    });
  }

  /** The context of an operation; with a name, its secret id (refused here when the name has none). */
  #ctx(operation: GcpOperation, name?: string, version?: string): GcpErrorContext & { path: string } {
    const id = name === undefined ? undefined : this.#names.toId(name);
    const { project, auth } = this.settings;
    const path = id === undefined ? this.#parent : `${this.#parent}/secrets/${id}`;
    const endpoint = apiEndpointOf(this.settings);
    return {
      project,
      operation,
      name,
      id,
      version,
      authMethod: auth.method,
      path,
      endpoint,
    };
  }

  #serviceAccountKey(): z.infer<typeof serviceAccountKey> | undefined {
    const auth = this.settings.auth;
    if (auth.method !== 'service-account-json') return undefined;
    const at = `stores.${this.context.storeName}.auth.${auth.file !== undefined ? 'file' : 'json'}`;
    const text =
      auth.file === undefined
        ? (auth.json as string)
        : readSettingFile(this.context, 'auth.file', auth.file, 'the JSON key of a service account');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // Never echo the text: it holds a private key.
      throw new ConfigError('the service account key is not valid JSON', { path: at });
    }
    const key = serviceAccountKey.safeParse(json);
    if (key.success) return key.data;
    throw new ConfigError(
      'the service account key needs "type": "service_account", "client_email" and "private_key"',
      { path: at, hint: 'download a JSON key from IAM & Admin → Service accounts → Keys' },
    );
  }

  async #create(): Promise<SecretManagerServiceClient> {
    const key = this.#serviceAccountKey();
    const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
    const options: NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]> = {
      projectId: this.settings.project,
    };
    const endpoint = apiEndpointOf(this.settings);
    if (endpoint) {
      const url = new URL(endpoint);
      const http = url.protocol === 'http:';
      Object.assign(options, {
        ...(http ? { fallback: 'rest', protocol: 'http' } : {}),
        apiEndpoint: url.hostname,
        port: Number(url.port || (http ? 80 : 443)),
      });
    }
    if (key) options.credentials = key;
    // The REST transport (http:// endpoints) sends through the auth client's gaxios, which has no
    // time limit of its own: the call's deadline reaches only gRPC.
    options.clientOptions = { transporterOptions: { timeout: this.#core.requestTimeoutMs } };
    const client = new SecretManagerServiceClient(options);
    // Resolve credentials before the first call: the SDK would otherwise build its service stub
    // on a rejected promise and leave one unhandled rejection per method behind.
    await client.auth.getClient();
    return client;
  }

  async get(request: SecretRequest): Promise<FetchedSecret> {
    // ?version= and ?stage= the type does not have are refused by the core (resolve/bindings.ts).
    const ctx = this.#ctx('access', request.name, request.version);
    const version = request.version ?? 'latest';
    if (!/^(latest|[1-9][0-9]*)$/.test(version)) {
      throw new UsageError(
        `${this.#core.tag} "${version}" is not a Secret Manager version: use a version number or "latest"`,
      );
    }
    const { bytes, served } = await this.#core.withSdk(ctx, async (client) => {
      const name = `${ctx.path}/versions/${version}`;
      const [{ payload, name: servedName }] = await client.accessSecretVersion({ name }, this.#gax);
      // Secret Manager names the version it served; an answer without it is not Secret Manager's.
      if (!servedName) throw new ForeignAnswerError('an answer without the version it served');
      const raw = payload?.data;
      const bytes = raw instanceof Uint8Array ? raw : Buffer.from(String(raw ?? ''), 'base64');
      const expected = payload?.dataCrc32c;
      if (expected !== undefined && expected !== null && String(expected) !== String(crc32c(bytes)))
        throw new ChecksumMismatch('dataCrc32c does not match the payload');
      return { bytes, served: lastSegment(servedName) || undefined };
    });
    return { value: valueOfBytes(bytes), version: served };
  }

  /** One page of secrets.list per provider page, resumed with its pageToken; prefix and labels matched here. */
  list(options: ListOptions): Promise<ListPage> {
    type Raw = { name?: string | null; labels?: unknown; createTime?: unknown };
    return listProviderPages<Raw>({
      ...options,
      fetch: (token) =>
        this.#core.withSdk(this.#ctx('list'), async (client) => {
          const request = { parent: this.#parent, pageSize: 100, ...(token ? { pageToken: token } : {}) };
          const [secrets, , response] = await client.listSecrets(request, this.#onePage);
          const next = (response as { nextPageToken?: string } | undefined)?.nextPageToken;
          return { items: secrets as Raw[], next: next || undefined };
        }),
      pick: (secret) => {
        const name = this.#names.fromId(lastSegment(secret.name));
        const tags = secret.labels as Record<string, string> | null | undefined;
        if (!listingMatches(name, tags, options)) return undefined;
        return secretMetadata(name, { tags, createdAt: secret.createTime as ProtobufTimestamp });
      },
    });
  }

  checkValue(name: string, value: string): void {
    this.#core.checkValue(name, value);
  }

  async write(name: string, value: string, options: WriteOptions): Promise<WriteResult> {
    const ctx = this.#ctx('write', name);
    const labels = { ...this.settings.labels, ...options.tags };
    const parsed = gcpLabels.safeParse(labels);
    if (!parsed.success) {
      throw new UsageError(
        `${this.#core.tag} Secret Manager labels must be lowercase: ${parsed.error.issues[0]?.message ?? 'invalid label'}`,
      );
    }
    // Refused here: the service would refuse it only after a first write had created the secret.
    this.#core.checkValue(name, value);
    // `latest` is the newest version whatever its state, so the newest number is the current one.
    await checkExpectedVersion(
      this.#core.tag,
      name,
      options.expectedVersion,
      async () => (await this.versions(name))[0]?.version,
    );
    const data = Buffer.from(value, 'utf8');
    const request = { parent: ctx.path, payload: { data, dataCrc32c: crc32c(data) } };
    // A regional secret lives in its location: it has no replication policy.
    const secret = { ...(this.settings.location ? {} : { replication: { automatic: {} } }), labels };
    const { result, created } = await this.#core.withSdk(ctx, (client) =>
      addOrCreate({
        add: async () => {
          ctx.operation = 'write';
          return (await client.addSecretVersion(request, this.#gax))[0];
        },
        missing: (err) => gcpStatus(err)?.status === 'NOT_FOUND',
        // First write of this name: create the secret, then add the version.
        create: async () => {
          ctx.operation = 'create';
          await client.createSecret({ parent: this.#parent, secretId: ctx.id, secret }, this.#gax);
          return undefined;
        },
        taken: (err) => gcpStatus(err)?.status === 'ALREADY_EXISTS',
      }),
    );
    const version = lastSegment(result.name);
    // A secret that existed keeps its labels; the write's own tags are merged onto them.
    const tags = options.tags ?? {};
    if (!created && Object.keys(tags).length > 0)
      await updateAfterWrite(version, [['labels', () => this.#relabel(name, tags)]]);
    return { name, version };
  }

  async #relabel(name: string, tags: Record<string, string>): Promise<void> {
    const ctx = this.#ctx('update', name);
    await this.#core.withSdk(ctx, async (client) => {
      const [secret] = await client.getSecret({ name: ctx.path }, this.#gax);
      const labels = { ...(secret.labels as Record<string, string> | null | undefined), ...tags };
      const update = { secret: { name: ctx.path, labels }, updateMask: { paths: ['labels'] } };
      await client.updateSecret(update, this.#gax);
    });
  }

  /** Deletes the secret and all its versions. Secret Manager has no soft delete. */
  async delete(name: string, _options: DeleteOptions): Promise<void> {
    const ctx = this.#ctx('delete', name);
    await this.#core.withSdk(ctx, (client) => client.deleteSecret({ name: ctx.path }, this.#gax));
  }

  async #versionAction(
    action: 'disable' | 'enable' | 'destroy',
    name: string,
    version: string,
  ): Promise<void> {
    const ctx = this.#ctx(action, name, version);
    if (!/^[1-9][0-9]*$/.test(version))
      throw new UsageError(`${this.#core.tag} ${action} needs a version number, not "${version}"`);
    const request = { name: `${ctx.path}/versions/${version}` };
    await this.#core.withSdk(ctx, (client) => {
      if (action === 'disable') return client.disableSecretVersion(request, this.#gax);
      if (action === 'enable') return client.enableSecretVersion(request, this.#gax);
      return client.destroySecretVersion(request, this.#gax);
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
    const ctx = this.#ctx('versions', name);
    const found = await this.#core.withSdk(ctx, async (client) => {
      const out: VersionMetadata[] = [];
      for await (const v of client.listSecretVersionsAsync({ parent: ctx.path }, this.#gax)) {
        const state = typeof v.state === 'string' ? v.state : STATES[Number(v.state)];
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
    const ctx = this.#ctx('describe', name);
    const [secret] = await this.#core.withSdk(ctx, (client) =>
      client.getSecret({ name: ctx.path }, this.#gax),
    );
    const tags = secret.labels as Record<string, string> | null | undefined;
    return secretMetadata(name, { tags, createdAt: secret.createTime as ProtobufTimestamp });
  }

  check(options: CheckOptions): Promise<CheckReport> {
    return standardChecks(this, options, {
      authenticate: async () => {
        await this.#core.withSdk(this.#ctx('token'), (client) => client.auth.getRequestHeaders());
        return `credentials of auth method ${this.settings.auth.method} can sign requests`;
      },
      list: async () => {
        const list = { parent: this.#parent, pageSize: 1 };
        await this.#core.withSdk(this.#ctx('list'), (client) => client.listSecrets(list, this.#onePage));
        return `listing secrets of project ${this.settings.project} is allowed`;
      },
    });
  }

  close(): Promise<void> {
    return this.#core.close();
  }
}

const GCP_CREDENTIALS = credentialPaths(gcpSecretManagerSettings);

/** `apiEndpoint`, or the regional endpoint of `location` (regional secrets are served only there). */
function apiEndpointOf({ apiEndpoint, location }: GcpSecretManagerSettings): string | undefined {
  return apiEndpoint ?? (location ? `https://secretmanager.${location}.rep.googleapis.com` : undefined);
}

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
  hostAccess: (settings: GcpSecretManagerSettings) =>
    hostAccessOf({
      addresses: { apiEndpoint: apiEndpointOf(settings) },
      identity:
        settings.auth.method === 'default' &&
        "uses this server's own Google credentials (application default credentials)",
      files: { 'auth.file': settings.auth.method === 'default' ? undefined : settings.auth.file },
    }),
  create: (s: GcpSecretManagerSettings, context: StoreContext) => new GcpSecretManagerStoreClient(s, context),
} satisfies StoreType<GcpSecretManagerSettings>;

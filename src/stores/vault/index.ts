/**
 * `vault` store: HashiCorp Vault KV (v1 or v2) over its HTTP API.
 *
 * A Sesame secret is text; a Vault secret is a map. Reading, a map whose only key is `value`
 * (a string) gives that string, any other map gives its JSON (so `#key` picks a field). Writing,
 * a JSON object becomes the map's fields and any other text is stored as `{ "value": text }`.
 * Vault orders map keys, so a JSON object written here reads back with sorted keys.
 *
 * @example
 * const store = await vaultStoreType.create(
 *   vaultStoreType.settings.parse({ address: 'https://vault:8200', auth: { method: 'approle', roleId, secretId } }),
 *   context,
 * );
 * const { value } = await store.get({ name: 'app/db', namespaces: [''] });
 */
import {
  AccessDeniedError,
  ConfigError,
  InvalidRequestError,
  SecretNotFoundError,
  SecretStateError,
  UnsupportedOperationError,
} from '../../errors.js';
import type {
  CheckOptions,
  DeleteOptions,
  ListOptions,
  SecretRequest,
  StoreClient,
  StoreContext,
  StoreType,
  WriteOptions,
} from '../contract.js';
import {
  credentialPaths,
  expectOk,
  type HttpAnswer,
  type HttpRequest,
  HttpStatusError,
  HttpTransport,
  hostAccessOf,
  jsonWith,
  lazy,
  NameMapping,
  type NotFoundAsked,
  notFoundFix,
  numberedVersion,
  pageFolderTree,
  pageSize,
  readSampleStep,
  readSettingFile,
  runChecks,
  StoreCore,
  type StoreCoreTuning,
  secretMetadata,
} from '../core/index.js';
import {
  classifyVault,
  errorText,
  missedRoute,
  policyLine,
  VAULT_ADDRESS,
  VAULT_SCRUB,
  type VaultOp,
  vaultEndpoint,
} from './errors.js';
import { type VaultSession, vaultSession } from './session.js';
import { type VaultSettings, vaultSettings } from './settings.js';

export type { VaultSettings } from './settings.js';

type KvMount = { mount: string; version: 1 | 2 };
/** KV v2 metadata of one version, and of a secret. */
type VersionMeta = { created_time?: string; deletion_time?: string; destroyed?: boolean; version?: number };
type Metadata = {
  current_version?: number;
  created_time?: string;
  updated_time?: string;
  versions?: Record<string, VersionMeta>;
};
/**
 * The KV requests, one table for both versions: KV v2 puts each under its own segment of the
 * mount (`secret/data/app/db`, `secret/metadata/app/db`…) where v1 has none; `capabilities` is
 * what a policy must grant on that path, `also` the statuses besides 2xx the caller reads itself.
 */
const KV = {
  read: { method: 'GET', under: 'data', capabilities: ['read'], also: [404] },
  metadata: { method: 'GET', under: 'metadata', capabilities: ['read'], also: [404] },
  list: { method: 'GET', under: 'metadata', capabilities: ['list'], also: [404] },
  write: { method: 'POST', under: 'data', capabilities: ['create', 'update'], also: [400] },
  delete: { method: 'DELETE', under: 'data', capabilities: ['delete'], also: [404] },
  purge: { method: 'DELETE', under: 'metadata', capabilities: ['delete'], also: [404] },
  undelete: { method: 'POST', under: 'undelete', capabilities: ['update'], also: [] },
  destroy: { method: 'POST', under: 'destroy', capabilities: ['update'], also: [] },
} as const;
type KvOp = keyof typeof KV;

/**
 * Deleted: a deletion_time that has passed. `delete_version_after` gives every new version a
 * deletion_time ahead, and Vault serves the version until then.
 */
const isDeleted = (v: VersionMeta) => !!v.deletion_time && Date.parse(v.deletion_time) <= Date.now();

/** The policy path of a KV request on `full`, a path under the mount. */
const kvPath = (kv: KvMount, op: KvOp, full: string) =>
  kv.version === 1 ? `${kv.mount}/${full}` : `${kv.mount}/${KV[op].under}/${full}`;

const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

/** Map ↔ text, see the module comment. */
export function vaultDataToText(data: Record<string, unknown>): string {
  const keys = Object.keys(data);
  if (keys.length === 1 && keys[0] === 'value' && typeof data.value === 'string') return data.value;
  return JSON.stringify(data);
}

export function textToVaultData(text: string): Record<string, unknown> {
  try {
    const map: unknown = text.trimStart().startsWith('{') ? JSON.parse(text) : undefined;
    // Fields only when they read back as the JSON written (a lone string `value` would not).
    if (map && typeof map === 'object' && !Array.isArray(map) && Object.keys(map).length > 0) {
      const fields = map as Record<string, unknown>;
      if (vaultDataToText(fields) !== fields.value) return fields;
    }
  } catch {
    // Not JSON: stored as text.
  }
  return { value: text };
}

export class VaultStore implements StoreClient {
  readonly #settings: VaultSettings;
  readonly #http: HttpTransport;
  readonly #session: VaultSession;
  readonly #core: StoreCore<VaultOp>;
  readonly #names: NameMapping;
  readonly #where: string;
  /** The mount and its KV version, detected once (a failed detection is tried again at the next use). */
  readonly #mount = lazy(() => this.#detect());

  constructor(
    settings: VaultSettings,
    context: StoreContext,
    /** For tests and embedding: tune the core. Not reachable from config. */
    options: StoreCoreTuning = {},
  ) {
    this.#settings = settings;
    this.#where = settings.namespace ? ` in namespace "${settings.namespace}"` : '';
    const hint = 'a PEM file with the CA that signed the Vault certificate';
    const ca = settings.caFile && readSettingFile(context, 'caFile', settings.caFile, hint);
    this.#core = new StoreCore({
      context,
      settings,
      credentialPaths: VAULT_CREDENTIALS,
      scrub: VAULT_SCRUB,
      retry: options.retry,
      requestTimeoutMs: options.requestTimeoutMs,
      endpoint: vaultEndpoint(settings.address),
      classify: (err, op) => classifyVault(err, op, settings, this.#core.scrub),
    });
    const timeoutMs = this.#core.requestTimeoutMs;
    this.#http = new HttpTransport({ ca, lookup: context.lookup, timeoutMs, settings: VAULT_ADDRESS });
    this.#names = new NameMapping(this.#core.tag, { prefix: settings.prefix });
    const send = (op: VaultOp, m: string, p: string, r: HttpRequest) => this.#send(op, m, p, r, false);
    this.#session = vaultSession(settings.auth, send, this.#core, context.log);
  }

  get #tag(): string {
    return this.#core.tag;
  }

  // ---- requests ------------------------------------------------------------------------------

  /**
   * One request, retried by the core on network errors, 5xx and 429; an answer neither 2xx nor in
   * `op.also` is thrown for errors.ts to classify. Sent with the session's token (after a 403 for a
   * dead token, one fresh login and one more try), except the session's own requests.
   */
  #send(op: VaultOp, method: string, path: string, request: HttpRequest = {}, token = true) {
    const base = new URL(this.#settings.address);
    const url = new URL(`${base.pathname.replace(/\/+$/, '')}/v1/${path}`, base);
    const { namespace } = this.#settings;
    const send = (t?: string) => {
      const headers = {
        ...(namespace && { 'X-Vault-Namespace': namespace }),
        ...(t && { 'X-Vault-Token': t }),
      };
      return this.#http.request(method, url, { ...request, headers: { ...headers, ...request.headers } });
    };
    return this.#core.call(op, async () => {
      const res = await (token ? this.#session.use(send) : send());
      // A 404 about the namespace, the mount or the KV version is never a missing secret.
      if (missedRoute(res, this.#core.scrub)) throw new HttpStatusError(res);
      return expectOk(res, op.also);
    });
  }

  /** A KV request (see {@link KV}) on `full`, a path under the mount. */
  #kv(op: KvOp, kv: KvMount, full: string, request?: HttpRequest): Promise<HttpAnswer> {
    const { method, capabilities, also } = KV[op];
    const path = kvPath(kv, op, full);
    const action = `${op} ${kv.mount}/${full}`;
    return this.#send({ action, path, capabilities, also }, method, encodePath(path), request);
  }

  /** Nothing at `full`: the fix follows what was `asked` of `name` (the core's not-found fixes). */
  #missing(what: string, kv: KvMount, full: string, asked: NotFoundAsked, name: string): SecretNotFoundError {
    const err = new SecretNotFoundError(
      `${this.#tag} ${what} not found at ${kv.mount}/${full}${this.#where}`,
    );
    const check = this.#settings.namespace
      ? 'the name, the mount, the store prefix and the namespace'
      : 'the name, the mount and the store prefix';
    err.fix = notFoundFix(asked, { check, name });
    return err;
  }

  // ---- KV mount and paths --------------------------------------------------------------------

  /** KV v1 keeps no versions: what needs them is refused, saying `why`. */
  #needsV2(kv: KvMount, why: string): void {
    if (kv.version === 1)
      throw new UnsupportedOperationError(`${this.#tag} mount "${kv.mount}" is KV v1${why}`);
  }

  async #detect(): Promise<KvMount> {
    const { mount, kvVersion } = this.#settings;
    if (kvVersion) return { mount, version: kvVersion };
    const op = { action: `detecting the KV version of mount "${mount}"`, also: [403, 404] };
    const res = await this.#send(op, 'GET', `sys/internal/ui/mounts/${encodePath(mount)}`);
    if (res.status === 404) return { mount, version: 1 }; // Vault before the preflight endpoint: KV v1.
    if (res.status === 403) {
      const fix = `grant the token a capability under ${mount}/, or set kvVersion: 1 or 2 in the store settings`;
      const why = `${this.#where} (${errorText(res, this.#core.scrub)})`;
      const message = `cannot detect the KV version of mount "${mount}"${why}: ${fix}`;
      throw this.#core.fail({ kind: 'denied', message, fix });
    }
    const data = res.json<{ data?: { type?: string; options?: { version?: string } | null } }>()?.data;
    if (!data)
      throw this.#core.fail({ kind: 'unavailable', message: `${op.action}: Vault answered no mount` });
    if (data.type !== 'kv' && data.type !== 'generic') {
      const message = `mount "${mount}" is a ${data.type} secrets engine, not kv`;
      throw this.#core.fail({ kind: 'config', message, fix: 'set mount to a KV secrets engine path' });
    }
    return { mount, version: data.options?.version === '2' ? 2 : 1 };
  }

  /** The mount of a secret and its path under the mount (checked before Vault is asked anything). */
  async #at(name: string): Promise<{ kv: KvMount; full: string }> {
    const full = this.#names.toId(name).replace(/^\/+/, '');
    if (!full || full.endsWith('/'))
      throw new SecretNotFoundError(`${this.#tag} "${name}" is not a secret path`);
    return { kv: await this.#mount.get(), full };
  }

  // ---- reads ---------------------------------------------------------------------------------

  async get(request: SecretRequest) {
    // ?version= and ?stage= the type does not have are refused by the core (resolve/bindings.ts).
    const { kv, full } = await this.#at(request.name);
    const which = `${request.version ? `version ${request.version} of ` : ''}secret "${request.name}"`;
    if (request.version !== undefined) {
      this.#needsV2(kv, ', which keeps no versions: drop ?version=');
      numberedVersion(this.#tag, 'Vault', request.version);
    }
    const query = request.version ? { version: request.version } : undefined;
    const res = await this.#kv('read', kv, full, { query });
    type Body = Record<string, unknown> & { data?: Record<string, unknown> | null; metadata?: VersionMeta };
    if (res.status !== 404) {
      // Vault answers every read with `data`: a 200 without it comes from something else.
      let body: Body | undefined;
      try {
        body = res.expectJson<{ data: Body }>(jsonWith('data'), 'a Vault read answer').data;
      } catch (err) {
        throw this.#core.error(err, { action: `read ${kv.mount}/${full}`, path: full, capabilities: [] });
      }
      // KV v2 answers the fields under `data` beside the version's metadata; v1 the fields alone.
      const data = kv.version === 2 ? body?.data : body;
      if (!data) throw new SecretNotFoundError(`${this.#tag} ${which} has no data${this.#where}`);
      const version = kv.version === 2 ? body?.metadata?.version : undefined;
      return { value: vaultDataToText(data), version: version?.toString() };
    }
    // Vault's 404 is `{"errors": []}`, or a deleted KV v2 version's `data`: anything else is not Vault.
    try {
      res.expectJson(
        (b) => jsonWith('data')(b) || Array.isArray((b as { errors?: unknown } | null)?.errors),
        "Vault's errors",
      );
    } catch (err) {
      throw this.#core.error(err, { action: `read ${kv.mount}/${full}`, path: full, capabilities: [] });
    }
    const meta = res.json<{ data?: Body }>()?.data?.metadata;
    if (meta?.destroyed)
      throw new SecretNotFoundError(`${this.#tag} ${which} was destroyed and cannot be restored`);
    if (meta?.deletion_time) {
      const ns = this.#settings.namespace ? ` -namespace=${this.#settings.namespace}` : '';
      const undelete = `vault kv undelete${ns} -versions=${meta.version ?? '<n>'} ${kv.mount}/${full}`;
      const fix = notFoundFix('deleted', { name: request.name, alternative: `\`${undelete}\`` });
      const err = new SecretNotFoundError(
        `${this.#tag} ${which} was deleted at ${meta.deletion_time}: ${fix}`,
      );
      err.fix = fix;
      throw err;
    }
    throw this.#missing(which, kv, full, request.version ? 'version' : 'read', request.name);
  }

  /** The KV v2 metadata of a secret (none on KV v1); `asked` is for the fix when there is none. */
  async #metadata(
    name: string,
    asked: NotFoundAsked = 'read',
  ): Promise<{ kv: KvMount; full: string; meta: Metadata | undefined }> {
    const { kv, full } = await this.#at(name);
    if (kv.version === 1) return { kv, full, meta: undefined };
    const res = await this.#kv('metadata', kv, full);
    if (res.status === 404) throw this.#missing(`secret "${name}"`, kv, full, asked, name);
    return { kv, full, meta: res.json<{ data?: Metadata }>()?.data ?? {} };
  }

  /** Vault lists one folder at a time, without page tokens: the core's folder-tree paging. */
  async list(options: ListOptions) {
    if (options.tags && Object.keys(options.tags).length > 0) {
      throw new UnsupportedOperationError(`${this.#tag} Vault KV secrets have no tags to list by`);
    }
    const kv = await this.#mount.get();
    return pageFolderTree({
      prefix: `${this.#names.prefix}${options.prefix ?? ''}`.replace(/^\/+/, ''),
      cursor: options.cursor,
      limit: pageSize(options.limit, 1_000, 10_000),
      listFolder: async (dir) => {
        const res = await this.#kv('list', kv, dir, { query: { list: 'true' } });
        const keys = res.status === 200 ? res.json<{ data?: { keys?: unknown } }>()?.data?.keys : undefined;
        return Array.isArray(keys) ? keys.map(String) : [];
      },
      pick: (full) => {
        const name = this.#names.fromId(full);
        return name === undefined ? undefined : { name };
      },
    });
  }

  async describe(name: string, _options?: { namespaces: readonly string[] }) {
    const { kv, meta } = await this.#metadata(name);
    if (kv.version === 1) {
      await this.get({ name, namespaces: [] });
      return { name };
    }
    const version = meta?.current_version?.toString();
    const times = { createdAt: meta?.created_time, updatedAt: meta?.updated_time };
    const current = meta?.versions?.[version ?? ''];
    return secretMetadata(name, {
      version,
      ...times,
      deletedAt: current && isDeleted(current) ? current.deletion_time : undefined,
    });
  }

  async versions(name: string, _options?: { namespaces: readonly string[] }) {
    const { meta } = await this.#metadata(name);
    return Object.entries(meta?.versions ?? {})
      .map(([version, v]) => ({
        version,
        createdAt: v.created_time,
        enabled: !isDeleted(v) && !v.destroyed,
        destroyed: v.destroyed === true,
      }))
      .sort((a, b) => Number(b.version) - Number(a.version));
  }

  // ---- writes --------------------------------------------------------------------------------

  async write(name: string, value: string, options: WriteOptions) {
    const { kv, full } = await this.#at(name);
    const cas = options.expectedVersion;
    if (cas !== undefined) {
      this.#needsV2(kv, ': no check-and-set without versions');
      if (!/^\d+$/.test(cas))
        throw new SecretStateError(
          `${this.#tag} expected version "${cas}" of "${name}" is not a Vault version number`,
        );
    }
    // KV v2 takes the fields under `data`, and a check-and-set version (`cas`) under `options`.
    const data = textToVaultData(value);
    const body = kv.version === 1 ? data : { data, options: cas !== undefined ? { cas: Number(cas) } : {} };
    const res = await this.#kv('write', kv, full, { body });
    if (res.status === 400) {
      const text = errorText(res, this.#core.scrub);
      // The mount's config or the secret's metadata has cas_required: every write must give `cas`.
      if (cas === undefined && /check-and-set parameter required/.test(text)) {
        const err = new InvalidRequestError(
          `${this.#tag} Vault requires check-and-set for secret "${name}" (cas_required): write it with an expected version`,
        );
        err.fix =
          'give the newest version as the expected one (sesame secrets set --expected-version N; 0 when the secret does not exist yet): Vault refuses other writes to it';
        throw err;
      }
      if (!/check-and-set/.test(text))
        throw this.#core.error(new HttpStatusError(res), { action: `write ${kv.mount}/${full}` });
      throw new SecretStateError(
        `${this.#tag} secret "${name}" changed: its current version is not ${cas ?? 'the expected one'} (check-and-set refused the write)`,
      );
    }
    const version = res.json<{ data?: { version?: number } }>()?.data?.version;
    return { name, version: version?.toString() ?? 'unversioned' };
  }

  async delete(name: string, options: DeleteOptions): Promise<void> {
    const { kv, full } = await this.#at(name);
    // Vault answers a delete of nothing 204 like any other: ask first whether there is something
    // (the metadata on v2, the value on v1), unless the token may not read it.
    try {
      const res = await this.#kv(kv.version === 2 ? 'metadata' : 'read', kv, full);
      if (res.status === 404) throw this.#missing(`secret "${name}"`, kv, full, 'delete', name);
    } catch (err) {
      if (!(err instanceof AccessDeniedError)) throw err;
    }
    // v2: a soft delete of the latest version (undelete restores it); force removes every
    // version and the metadata for good. v1 has only the permanent delete.
    await this.#kv(options.force ? 'purge' : 'delete', kv, full);
  }

  async restore(name: string, _options?: { namespace: string }): Promise<void> {
    const { kv, full, meta } = await this.#metadata(name, 'restore');
    this.#needsV2(kv, ': deletes are permanent, nothing to restore');
    const versions = Object.entries(meta?.versions ?? {});
    const deleted = versions.filter(([, v]) => isDeleted(v) && !v.destroyed).map(([n]) => Number(n));
    if (deleted.length === 0) {
      const allDestroyed = versions.every(([, v]) => v.destroyed);
      throw new SecretStateError(
        `${this.#tag} secret "${name}" has no deleted version to restore${allDestroyed ? ' (every version was destroyed)' : ''}`,
      );
    }
    await this.#kv('undelete', kv, full, { body: { versions: [Math.max(...deleted)] } });
  }

  /** Destroy versions for good (KV v2): their data is wiped, the metadata stays. Default: the current version. */
  async destroy(name: string, versions?: readonly string[]): Promise<void> {
    const { kv, full, meta } = await this.#metadata(name, 'delete');
    this.#needsV2(kv, ': use delete');
    const list = versions?.length ? versions.map(Number) : [meta?.current_version ?? 0];
    await this.#kv('destroy', kv, full, { body: { versions: list } });
  }

  // ---- diagnostics ---------------------------------------------------------------------------

  check(options: CheckOptions) {
    return runChecks([
      {
        step: 'authenticate',
        required: true,
        fix: 'check the auth settings',
        run: async () =>
          `${this.#settings.auth.method} token ok${this.#where}: ${await this.#session.inspect()}`,
      },
      {
        step: 'mount',
        required: true,
        fix: `check that a KV engine is mounted at ${this.#settings.mount}/ or set kvVersion`,
        run: async () => {
          const kv = await this.#mount.get();
          if (this.#settings.kvVersion) await this.#probe(kv);
          return `${kv.mount}/ is KV v${kv.version}${this.#settings.kvVersion ? ' (from settings)' : ''}`;
        },
      },
      {
        step: 'capabilities',
        fix: 'allow the token sys/capabilities-self (the default policy does)',
        run: () => this.#capabilities(options.sample),
      },
      readSampleStep(this, options, (err) =>
        err instanceof SecretNotFoundError
          ? `create ${options.sample} or check mount, prefix and namespace`
          : 'grant "read" on the secret path',
      ),
    ]);
  }

  /**
   * A mount taken from settings, tried with a listing of its root: Vault says when it has no engine
   * there or a KV v2 one for kvVersion 1 (config errors, thrown); a token that may not list the
   * root leaves the setting as it is.
   */
  async #probe(kv: KvMount): Promise<void> {
    try {
      await this.#kv('list', kv, '', { query: { list: 'true' } });
    } catch (err) {
      if (err instanceof ConfigError) throw err;
    }
  }

  /** One `sys/capabilities-self` call: a step per capability the store needs, with the policy line to add. */
  async #capabilities(sample: string | undefined) {
    const kv = await this.#mount.get();
    const prefix = this.#names.prefix;
    const wanted: Array<['list' | 'read', string]> = [
      ['list', kvPath(kv, 'list', prefix.slice(0, prefix.lastIndexOf('/') + 1))],
    ];
    if (sample) wanted.push(['read', kvPath(kv, 'read', (await this.#at(sample)).full)]);
    const path = 'sys/capabilities-self';
    const op = { action: `asking ${path}`, path, capabilities: ['update'] };
    const res = await this.#send(op, 'POST', path, { body: { paths: wanted.map(([, p]) => p) } });
    const body = res.json<Record<string, unknown> & { data?: Record<string, unknown> }>();
    return wanted.map(([capability, p]) => {
      const raw = body?.data?.[p] ?? body?.[p];
      const caps = Array.isArray(raw) ? raw.map(String) : [];
      const ok = caps.includes('root') || caps.includes(capability);
      const policy = policyLine(`${p}${capability === 'list' ? '*' : ''}`, [capability]);
      return {
        step: `capability ${capability}`,
        ok,
        detail: `${p}: [${caps.join(', ')}]${this.#where}`,
        ...(ok ? {} : { fix: `add to a policy of the token: ${policy}` }),
      };
    });
  }

  async close(): Promise<void> {
    this.#session.close();
    this.#http.close();
  }
}

const VAULT_CREDENTIALS = credentialPaths(vaultSettings);

export const vaultStoreType = {
  type: 'vault',
  capabilities: {
    write: true,
    batch: false,
    versions: true,
    stages: false,
    namespaced: false,
    restore: true,
  },
  settings: vaultSettings,
  secretSettings: VAULT_CREDENTIALS,
  connectsThroughLookup: true,
  hostAccess: (s: VaultSettings) =>
    hostAccessOf({ addresses: { address: s.address }, files: { caFile: s.caFile } }),
  create: (settings: VaultSettings, context: StoreContext) => new VaultStore(settings, context),
} satisfies StoreType<VaultSettings>;

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
  ConfigError,
  SecretNotFoundError,
  SecretStateError,
  type SesameError,
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
  type HttpAnswer,
  type HttpRequest,
  HttpStatusError,
  HttpTransport,
  hostAccessOf,
  lazy,
  NameMapping,
  pageFolderTree,
  pageSize,
  type RetryPolicy,
  readCaFile,
  readSampleStep,
  runChecks,
  StoreCore,
} from '../core/index.js';
import { classifyVault, errorText, RETRYABLE_STATUS, VAULT_SCRUB } from './errors.js';
import { type VaultSession, vaultSession } from './session.js';
import { type VaultSettings, vaultSettings } from './settings.js';

export type { VaultSettings } from './settings.js';

export interface VaultStoreOptions {
  retry?: RetryPolicy;
  /** Request timeout in ms (default 15 s). */
  timeoutMs?: number;
}

type KvMount = { mount: string; version: 1 | 2 };
/** KV v2 metadata of one version, and of a secret. */
type VersionMeta = { created_time?: string; deletion_time?: string; destroyed?: boolean; version?: number };
type Metadata = {
  current_version?: number;
  created_time?: string;
  updated_time?: string;
  versions?: Record<string, VersionMeta>;
};
/** Statuses besides 2xx a caller handles itself; a 403 asks to grant `capabilities`, others were unexpected while `what`. */
type Expect = { also: readonly number[]; capabilities: readonly string[]; what: string };

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

/** The policy path of a KV request on `full`, a path under the mount. */
const kvPath = (kv: KvMount, op: KvOp, full: string) =>
  kv.version === 1 ? `${kv.mount}/${full}` : `${kv.mount}/${KV[op].under}/${full}`;

const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

const AUTH_FIX: Record<VaultSettings['auth']['method'], string> = {
  token: 'set a valid, unexpired token in auth.token',
  userpass: 'check auth.username and auth.password, and that userpass is enabled at auth.path',
  approle: 'check auth.roleId and auth.secretId, and that approle is enabled at auth.path',
};

/** Map ↔ text, see the module comment. */
export function vaultDataToText(data: Record<string, unknown>): string {
  const keys = Object.keys(data);
  if (keys.length === 1 && keys[0] === 'value' && typeof data.value === 'string') return data.value;
  return JSON.stringify(data);
}

export function textToVaultData(text: string): Record<string, unknown> {
  if (text.trimStart()[0] !== '{') return { value: text };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { value: text }; // Not JSON: stored as text.
  }
  // A lone string `value` would read back as that string, not as the JSON written: kept as text.
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { value: text };
  const map = parsed as Record<string, unknown>;
  const keys = Object.keys(map);
  const ambiguous = keys.length === 1 && keys[0] === 'value' && typeof map.value === 'string';
  return keys.length > 0 && !ambiguous ? map : { value: text };
}

export class VaultStore implements StoreClient {
  readonly #settings: VaultSettings;
  readonly #context: StoreContext;
  readonly #http: HttpTransport;
  readonly #session: VaultSession;
  readonly #core: StoreCore<{ action: string }>;
  readonly #names: NameMapping;
  /** The mount and its KV version, detected once (a failed detection is tried again at the next use). */
  readonly #mount = lazy(() => this.#detect());

  constructor(settings: VaultSettings, context: StoreContext, options: VaultStoreOptions = {}) {
    this.#settings = settings;
    this.#context = context;
    const ca = readCaFile(
      settings.caFile,
      context,
      'caFile is a PEM file with the CA that signed the Vault certificate',
    );
    this.#http = new HttpTransport({ ca, timeoutMs: options.timeoutMs, lookup: context.lookup });
    this.#core = new StoreCore({
      context,
      settings,
      credentialPaths: VAULT_CREDENTIALS,
      scrub: VAULT_SCRUB,
      retry: options.retry,
      classify: (err) => classifyVault(err, settings.address, this.#core.scrub),
    });
    this.#names = new NameMapping(this.#core.tag, { prefix: settings.prefix });
    const send = (m: string, p: string, r: HttpRequest) => this.#transport(m, p, r);
    this.#session = vaultSession(settings.auth, send, this.#core.tag, context.log, this.#core.scrub);
  }

  get #tag(): string {
    return this.#core.tag;
  }

  get #where(): string {
    return this.#settings.namespace ? ` in namespace "${this.#settings.namespace}"` : '';
  }

  // ---- transport -----------------------------------------------------------------------------

  /** One request with the namespace header, retried by the core on network errors, 5xx and 429. */
  #transport(method: string, apiPath: string, request: HttpRequest): Promise<HttpAnswer> {
    const base = new URL(this.#settings.address);
    const url = new URL(`${base.pathname.replace(/\/+$/, '')}/v1/${apiPath}`, base);
    const { namespace } = this.#settings;
    const headers = { ...request.headers, ...(namespace ? { 'X-Vault-Namespace': namespace } : {}) };
    return this.#core.call({ action: `${method} ${apiPath}` }, async () => {
      const res = await this.#http.request(method, url, { ...request, headers });
      if (RETRYABLE_STATUS.has(res.status)) throw new HttpStatusError(res);
      return res;
    });
  }

  /**
   * A token-authenticated request to `policyPath` (as policies spell it, encoded here). After a
   * 403 for a dead token, one fresh login and one retry. With `expect`, a 403 or a status that is
   * neither 2xx nor in `expect.also` is thrown as a denied or unexpected answer.
   */
  async #request(method: string, policyPath: string, expect?: Expect, request: HttpRequest = {}) {
    const res = await this.#session.tokens.use(
      (token) =>
        this.#transport(method, encodePath(policyPath), {
          ...request,
          headers: { ...request.headers, 'X-Vault-Token': token },
        }),
      async (res) => {
        if (res.status !== 403 || !(await this.#session.isDead())) return false;
        if (this.#session.tokens.canLogin) return true;
        const fix = 'set a new auth.token';
        const message = `the Vault token is invalid or expired: ${fix}`;
        throw this.#core.fail({ kind: 'denied', message, fix });
      },
    );
    if (res.status === 404 && /namespace not found/i.test(errorText(res, this.#core.scrub))) {
      throw new ConfigError(
        `Vault namespace "${this.#settings.namespace ?? ''}" not found for store "${this.#context.storeName}"`,
        { hint: 'check the namespace setting (Vault Enterprise or HCP Vault)' },
      );
    }
    if (!expect || (res.status >= 200 && res.status < 300) || expect.also.includes(res.status)) return res;
    if (res.status === 403) throw this.#denied(expect.capabilities, policyPath, res);
    throw this.#unexpected(expect.what, res);
  }

  /** A KV request (see {@link KV}) on `full`, a path under the mount. */
  #kv(op: KvOp, kv: KvMount, full: string, request?: HttpRequest): Promise<HttpAnswer> {
    const { method, capabilities, also } = KV[op];
    const expect = { also, capabilities, what: `${op} ${kv.mount}/${full}` };
    return this.#request(method, kvPath(kv, op, full), expect, request);
  }

  #denied(capabilities: readonly string[], policyPath: string, res: HttpAnswer): SesameError {
    const text = errorText(res, this.#core.scrub);
    const quoted = capabilities.map((c) => `"${c}"`).join(', ');
    const fix = `grant ${quoted} on ${policyPath}${this.#where} — policy: path "${policyPath}" { capabilities = [${quoted}] }`;
    return this.#core.fail({
      kind: 'denied',
      message: `permission denied${text && text !== 'permission denied' ? ` (${text})` : ''}: ${fix}`,
      fix,
    });
  }

  #unexpected(what: string, res: HttpAnswer): SesameError {
    const text = errorText(res, this.#core.scrub);
    const message = `${what}: Vault answered ${res.status}${text ? `: ${text}` : ''}`;
    return this.#core.fail({ kind: res.status >= 500 ? 'unavailable' : 'conflict', message });
  }

  #missing(what: string, kv: KvMount, full: string): SecretNotFoundError {
    return new SecretNotFoundError(`${this.#tag} ${what} not found at ${kv.mount}/${full}${this.#where}`);
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
    const expect = { also: [403, 404], capabilities: ['read'], what: `mount detection for "${mount}"` };
    const res = await this.#request('GET', `sys/internal/ui/mounts/${mount}`, expect);
    if (res.status === 404) return { mount, version: 1 }; // Vault before the preflight endpoint: KV v1.
    if (res.status === 403) {
      const fix = `grant the token a capability under ${mount}/, or set kvVersion: 1 or 2 in the store settings`;
      const why = errorText(res, this.#core.scrub);
      throw this.#core.fail({
        kind: 'denied',
        message: `cannot detect the KV version of mount "${mount}"${this.#where} (${why}): ${fix}`,
        fix,
      });
    }
    const data = res.json<{ data?: { type?: string; options?: { version?: string } | null } }>()?.data;
    if (!data) throw this.#unexpected(expect.what, res);
    if (data.type !== 'kv' && data.type !== 'generic') {
      throw new ConfigError(
        `mount "${mount}" of store "${this.#context.storeName}" is a ${data.type} secrets engine, not kv`,
        { hint: 'set mount to a KV secrets engine path' },
      );
    }
    return { mount, version: data.options?.version === '2' ? 2 : 1 };
  }

  #fullPath(name: string): string {
    const full = this.#names.toId(name).replace(/^\/+/, '');
    if (!full || full.endsWith('/'))
      throw new SecretNotFoundError(`${this.#tag} "${name}" is not a secret path`);
    return full;
  }

  // ---- reads ---------------------------------------------------------------------------------

  async get(request: SecretRequest) {
    // ?version= and ?stage= the type does not have are refused by the core (resolve/bindings.ts).
    const kv = await this.#mount.get();
    const full = this.#fullPath(request.name);
    const subject = `secret "${request.name}"`;
    if (request.version !== undefined) {
      this.#needsV2(kv, ', which keeps no versions: drop ?version=');
      if (!/^[1-9]\d*$/.test(request.version)) {
        throw new SecretNotFoundError(
          `${this.#tag} ${subject} has no version "${request.version}": Vault versions are numbers`,
        );
      }
    }
    const query = request.version ? { version: request.version } : undefined;
    const res = await this.#kv('read', kv, full, { query });
    type Body = Record<string, unknown> & { data?: Record<string, unknown> | null; metadata?: VersionMeta };
    const body = res.json<{ data?: Body }>()?.data;
    if (res.status !== 404) {
      // KV v2 answers the fields under `data` beside the version's metadata; v1 the fields alone.
      const data = kv.version === 2 ? body?.data : body;
      if (!data) throw new SecretNotFoundError(`${this.#tag} ${subject} has no data${this.#where}`);
      const version = kv.version === 2 ? body?.metadata?.version : undefined;
      return { value: vaultDataToText(data), version: version?.toString() };
    }
    const meta = body?.metadata;
    const which = request.version ? `version ${request.version} of ${subject}` : subject;
    if (meta?.destroyed)
      throw new SecretNotFoundError(`${this.#tag} ${which} was destroyed and cannot be restored`);
    if (meta?.deletion_time) {
      throw new SecretNotFoundError(
        `${this.#tag} ${which} was deleted at ${meta.deletion_time}: restore it with \`sesame secrets restore ${request.name}\` (vault kv undelete)`,
      );
    }
    throw this.#missing(which, kv, full);
  }

  /** The KV v2 metadata of a secret (none on KV v1). */
  async #metadata(name: string): Promise<{ kv: KvMount; full: string; meta: Metadata | undefined }> {
    const kv = await this.#mount.get();
    const full = this.#fullPath(name);
    if (kv.version === 1) return { kv, full, meta: undefined };
    const res = await this.#kv('metadata', kv, full);
    if (res.status === 404) throw this.#missing(`secret "${name}"`, kv, full);
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
    const current = meta?.current_version;
    const latest = current !== undefined ? meta?.versions?.[String(current)] : undefined;
    return {
      name,
      version: current?.toString(),
      createdAt: meta?.created_time,
      updatedAt: meta?.updated_time,
      deletedAt: latest?.deletion_time || undefined,
    };
  }

  async versions(name: string, _options?: { namespaces: readonly string[] }) {
    const { meta } = await this.#metadata(name);
    return Object.entries(meta?.versions ?? {})
      .map(([version, v]) => ({
        version,
        createdAt: v.created_time,
        enabled: !v.deletion_time && !v.destroyed,
        destroyed: v.destroyed === true,
      }))
      .sort((a, b) => Number(b.version) - Number(a.version));
  }

  // ---- writes --------------------------------------------------------------------------------

  async write(name: string, value: string, options: WriteOptions) {
    const kv = await this.#mount.get();
    const full = this.#fullPath(name);
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
      if (!/check-and-set/.test(errorText(res, this.#core.scrub)))
        throw this.#unexpected(`write ${full}`, res);
      throw new SecretStateError(
        `${this.#tag} secret "${name}" changed: its current version is not ${cas ?? 'the expected one'} (check-and-set refused the write)`,
      );
    }
    const version = res.json<{ data?: { version?: number } }>()?.data?.version;
    return { name, version: version?.toString() ?? 'unversioned' };
  }

  async delete(name: string, options: DeleteOptions): Promise<void> {
    const kv = await this.#mount.get();
    const full = this.#fullPath(name);
    // v2: a soft delete of the latest version (undelete restores it); force removes every
    // version and the metadata for good. v1 has only the permanent delete.
    const res = await this.#kv(options.force ? 'purge' : 'delete', kv, full);
    if (res.status === 404) throw this.#missing(`secret "${name}"`, kv, full);
  }

  async restore(name: string, _options?: { namespace: string }): Promise<void> {
    const { kv, full, meta } = await this.#metadata(name);
    this.#needsV2(kv, ': deletes are permanent, nothing to restore');
    const versions = Object.entries(meta?.versions ?? {});
    const latest = versions
      .filter(([, v]) => v.deletion_time && !v.destroyed)
      .map(([n]) => Number(n))
      .sort((a, b) => b - a)[0];
    if (latest === undefined) {
      const allDestroyed = versions.every(([, v]) => v.destroyed);
      throw new SecretStateError(
        `${this.#tag} secret "${name}" has no deleted version to restore${allDestroyed ? ' (every version was destroyed)' : ''}`,
      );
    }
    await this.#kv('undelete', kv, full, { body: { versions: [latest] } });
  }

  /** Destroy versions for good (KV v2): their data is wiped, the metadata stays. Default: the current version. */
  async destroy(name: string, versions?: readonly string[]): Promise<void> {
    const { kv, full, meta } = await this.#metadata(name);
    this.#needsV2(kv, ': use delete');
    const list = versions?.length ? versions.map(Number) : [meta?.current_version ?? 0];
    await this.#kv('destroy', kv, full, { body: { versions: list } });
  }

  // ---- diagnostics ---------------------------------------------------------------------------

  check(options: CheckOptions) {
    const method = this.#settings.auth.method;
    let kv: KvMount | undefined;
    return runChecks([
      {
        step: 'authenticate',
        required: true,
        fix: AUTH_FIX[method],
        run: async () => {
          const info = await this.#session.inspect();
          const ttl = info.ttl > 0 ? `ttl ${info.ttl}s${info.renewable ? ' (renewable)' : ''}` : 'no expiry';
          return `${method} token ok${this.#where}: ${info.displayName || 'token'}, policies [${info.policies.join(', ')}], ${ttl}`;
        },
      },
      {
        step: 'mount',
        required: true,
        fix: `check that a KV engine is mounted at ${this.#settings.mount}/ or set kvVersion`,
        run: async () => {
          kv = await this.#mount.get();
          return `${kv.mount}/ is KV v${kv.version}${this.#settings.kvVersion ? ' (from settings)' : ''}`;
        },
      },
      {
        step: 'capabilities',
        fix: 'allow the token sys/capabilities-self (the default policy does)',
        run: () => this.#capabilities(kv as KvMount, options.sample),
      },
      readSampleStep(this, options, (err) =>
        err instanceof SecretNotFoundError
          ? `create ${options.sample} or check mount, prefix and namespace`
          : 'grant "read" on the secret path',
      ),
    ]);
  }

  /** One `sys/capabilities-self` call: a step per capability the store needs, with the policy line to add. */
  async #capabilities(kv: KvMount, sample: string | undefined) {
    const prefix = this.#names.prefix;
    const wanted: Array<['list' | 'read', string]> = [
      ['list', kvPath(kv, 'list', prefix.slice(0, prefix.lastIndexOf('/') + 1))],
    ];
    if (sample) wanted.push(['read', kvPath(kv, 'read', this.#fullPath(sample))]);
    const expect = { also: [], capabilities: ['update'], what: 'reading the capabilities of the token' };
    const paths = wanted.map(([, p]) => p);
    const res = await this.#request('POST', 'sys/capabilities-self', expect, { body: { paths } });
    const body = res.json<Record<string, unknown> & { data?: Record<string, unknown> }>();
    return wanted.map(([capability, p]) => {
      const raw = body?.data?.[p] ?? body?.[p];
      const caps = Array.isArray(raw) ? raw.map(String) : [];
      const ok = caps.includes('root') || caps.includes(capability);
      const policy = `path "${p}${capability === 'list' ? '*' : ''}" { capabilities = ["${capability}"] }`;
      return {
        step: `capability ${capability}`,
        ok,
        detail: `${p}: [${caps.join(', ')}]${this.#where}`,
        ...(ok ? {} : { fix: `add to a policy of the token: ${policy}` }),
      };
    });
  }

  async close(): Promise<void> {
    this.#session.tokens.close();
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

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
/** The statuses a caller handles itself; a 403 asks to grant `capability`, others were unexpected while `what`. */
type Expect = { ok: readonly number[]; capability: string; what: string };

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
  readonly #kv = lazy(() => this.#detect());

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
   * 403 for a dead token, one fresh login and one retry. With `expect`, a 403 or a status not in
   * `expect.ok` is thrown as a denied or unexpected answer.
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
    if (!expect || expect.ok.includes(res.status)) return res;
    if (res.status === 403) throw this.#denied(expect.capability, policyPath, res);
    throw this.#unexpected(expect.what, res);
  }

  #denied(capability: string, policyPath: string, res: HttpAnswer): SesameError {
    const text = errorText(res, this.#core.scrub);
    const fix = `grant "${capability}" on ${policyPath}${this.#where} — policy: path "${policyPath}" { capabilities = ["${capability}"] }`;
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

  /** The mount and its KV version, detected once (a failed detection is tried again at the next use). */
  #mount(): Promise<KvMount> {
    return this.#kv.get();
  }

  /** KV v1 keeps no versions: what needs them is refused, saying `why`. */
  #needsV2(kv: KvMount, why: string): void {
    if (kv.version === 1)
      throw new UnsupportedOperationError(`${this.#tag} mount "${kv.mount}" is KV v1${why}`);
  }

  async #detect(): Promise<KvMount> {
    const { mount, kvVersion } = this.#settings;
    if (kvVersion) return { mount, version: kvVersion };
    const expect = { ok: [200, 403, 404], capability: 'read', what: `mount detection for "${mount}"` };
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

  /** The policy path of `full` (KV v2 puts data, metadata and version actions under their own prefix). */
  #api(kv: KvMount, kind: 'data' | 'metadata' | 'delete' | 'undelete' | 'destroy', full: string): string {
    return kv.version === 1 ? `${kv.mount}/${full}` : `${kv.mount}/${kind}/${full}`;
  }

  // ---- reads ---------------------------------------------------------------------------------

  async get(request: SecretRequest) {
    // ?version= and ?stage= the type does not have are refused by the core (resolve/bindings.ts).
    const kv = await this.#mount();
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
    const expect = { ok: [200, 404], capability: 'read', what: `reading ${subject}` };
    const query = request.version ? { version: request.version } : undefined;
    const res = await this.#request('GET', this.#api(kv, 'data', full), expect, { query });
    type Body = Record<string, unknown> & { data?: Record<string, unknown> | null; metadata?: VersionMeta };
    const body = res.json<{ data?: Body }>()?.data;
    if (res.status === 200) {
      const data = kv.version === 2 ? body?.data : body;
      if (!data) throw new SecretNotFoundError(`${this.#tag} ${subject} has no data${this.#where}`);
      const version = kv.version === 2 ? body?.metadata?.version : undefined;
      return { value: vaultDataToText(data), version: version === undefined ? undefined : String(version) };
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

  async #metadata(name: string): Promise<{ kv: KvMount; meta: Metadata | undefined }> {
    const kv = await this.#mount();
    const full = this.#fullPath(name);
    if (kv.version === 1) return { kv, meta: undefined };
    const expect = { ok: [200, 404], capability: 'read', what: `reading metadata of "${name}"` };
    const res = await this.#request('GET', this.#api(kv, 'metadata', full), expect);
    if (res.status === 404) throw this.#missing(`secret "${name}"`, kv, full);
    return { kv, meta: res.json<{ data?: Metadata }>()?.data ?? {} };
  }

  /** Vault lists one folder at a time, without page tokens: the core's folder-tree paging. */
  async list(options: ListOptions) {
    if (options.tags && Object.keys(options.tags).length > 0) {
      throw new UnsupportedOperationError(`${this.#tag} Vault KV secrets have no tags to list by`);
    }
    const kv = await this.#mount();
    return pageFolderTree({
      prefix: `${this.#names.prefix}${options.prefix ?? ''}`.replace(/^\/+/, ''),
      cursor: options.cursor,
      limit: pageSize(options.limit, 1_000, 10_000),
      listFolder: async (dir) => {
        const expect = { ok: [200, 404], capability: 'list', what: `listing ${kv.mount}/${dir}` };
        const res = await this.#request('GET', this.#api(kv, 'metadata', dir), expect, {
          query: { list: 'true' },
        });
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
      version: current !== undefined ? String(current) : undefined,
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
    const kv = await this.#mount();
    const apiPath = this.#api(kv, 'data', this.#fullPath(name));
    const data = textToVaultData(value);
    const what = `writing "${name}"`;
    if (kv.version === 1) {
      if (options.expectedVersion !== undefined) this.#needsV2(kv, ': no check-and-set without versions');
      await this.#request('POST', apiPath, { ok: [200, 204], capability: 'create', what }, { body: data });
      return { name, version: 'unversioned' };
    }
    const cas = options.expectedVersion;
    if (cas !== undefined && !/^\d+$/.test(cas)) {
      throw new SecretStateError(
        `${this.#tag} expected version "${cas}" of "${name}" is not a Vault version number`,
      );
    }
    const body = { data, options: cas !== undefined ? { cas: Number(cas) } : {} };
    const res = await this.#request(
      'POST',
      apiPath,
      { ok: [200, 400], capability: 'update', what },
      { body },
    );
    if (res.status === 200) {
      const version = res.json<{ data?: { version?: number } }>()?.data?.version;
      return { name, version: String(version ?? '') };
    }
    if (/check-and-set/.test(errorText(res, this.#core.scrub))) {
      throw new SecretStateError(
        `${this.#tag} secret "${name}" changed: its current version is not ${cas ?? 'the expected one'} (check-and-set refused the write)`,
      );
    }
    throw this.#unexpected(what, res);
  }

  async delete(name: string, options: DeleteOptions): Promise<void> {
    const kv = await this.#mount();
    const full = this.#fullPath(name);
    // v2: a soft delete of the latest version (undelete restores it); force removes every
    // version and the metadata for good. v1 has only the permanent delete.
    const apiPath = this.#api(kv, options.force ? 'metadata' : 'data', full);
    const expect = { ok: [200, 204, 404], capability: 'delete', what: `deleting "${name}"` };
    const res = await this.#request('DELETE', apiPath, expect);
    if (res.status === 404) throw this.#missing(`secret "${name}"`, kv, full);
  }

  async restore(name: string, _options?: { namespace: string }): Promise<void> {
    const { kv, meta } = await this.#metadata(name);
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
    await this.#versionAction(kv, 'undelete', name, [latest]);
  }

  /** Destroy versions for good (KV v2): their data is wiped, the metadata stays. Default: the current version. */
  async destroy(name: string, versions?: readonly string[]): Promise<void> {
    const { kv, meta } = await this.#metadata(name);
    this.#needsV2(kv, ': use delete');
    const list = versions?.length ? versions.map(Number) : [meta?.current_version ?? 0];
    await this.#versionAction(kv, 'destroy', name, list);
  }

  /** KV v2's undelete and destroy: one POST naming the versions. */
  async #versionAction(kv: KvMount, action: 'undelete' | 'destroy', name: string, versions: number[]) {
    const what = `${action === 'undelete' ? 'restoring' : 'destroying'} "${name}"`;
    const expect = { ok: [200, 204], capability: 'update', what };
    await this.#request('POST', this.#api(kv, action, this.#fullPath(name)), expect, { body: { versions } });
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
          kv = await this.#mount();
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
    const wanted: Array<[string, string]> = [
      ['list', this.#api(kv, 'metadata', prefix.slice(0, prefix.lastIndexOf('/') + 1))],
    ];
    if (sample) wanted.push(['read', this.#api(kv, 'data', this.#fullPath(sample))]);
    const paths = wanted.map(([, p]) => p);
    const res = await this.#request('POST', 'sys/capabilities-self', undefined, { body: { paths } });
    if (res.status !== 200)
      throw new Error(`Vault answered ${res.status}: ${errorText(res, this.#core.scrub)}`);
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

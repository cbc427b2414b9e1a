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
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  ConfigError,
  SecretNotFoundError,
  SecretStateError,
  type SesameError,
  UnsupportedOperationError,
} from '../../errors.js';
import type {
  CheckOptions,
  CheckReport,
  CheckStep,
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
  credentialPaths,
  decodeCursor,
  encodeCursor,
  type HttpRequest,
  HttpStatusError,
  HttpTransport,
  NameMapping,
  pageSize,
  type RetryPolicy,
  readSampleStep,
  runChecks,
  StoreCore,
} from '../core/index.js';
import { classifyVault, errorText, RETRYABLE_STATUS, VAULT_SCRUB, type VaultHttpResponse } from './errors.js';
import { VaultSession } from './session.js';
import { type VaultSettings, vaultSettings } from './settings.js';

export type { VaultSettings } from './settings.js';

export interface VaultStoreOptions {
  retry?: RetryPolicy;
  /** Request timeout in ms (default 15 s). */
  timeoutMs?: number;
}

interface KvMount {
  mount: string;
  version: 1 | 2;
}

interface VersionMeta {
  created_time?: string;
  deletion_time?: string;
  destroyed?: boolean;
  version?: number;
}

interface Metadata {
  current_version?: number;
  created_time?: string;
  updated_time?: string;
  versions?: Record<string, VersionMeta>;
}

const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

/** Map ↔ text, see the module comment. */
export function vaultDataToText(data: Record<string, unknown>): string {
  const keys = Object.keys(data);
  if (keys.length === 1 && keys[0] === 'value' && typeof data.value === 'string') return data.value;
  return JSON.stringify(data);
}

export function textToVaultData(text: string): Record<string, unknown> {
  const first = text.trimStart()[0];
  if (first === '{') {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const keys = Object.keys(parsed);
        const ambiguous =
          keys.length === 1 &&
          keys[0] === 'value' &&
          typeof (parsed as { value: unknown }).value === 'string';
        if (keys.length > 0 && !ambiguous) return parsed as Record<string, unknown>;
      }
    } catch {
      // Not JSON: stored as text.
    }
  }
  return { value: text };
}

export class VaultStore implements StoreClient {
  readonly #settings: VaultSettings;
  readonly #context: StoreContext;
  readonly #http: HttpTransport;
  readonly #session: VaultSession;
  readonly #core: StoreCore<{ action: string }>;
  readonly #names: NameMapping;
  #kv: Promise<KvMount> | undefined;

  constructor(settings: VaultSettings, context: StoreContext, options: VaultStoreOptions = {}) {
    this.#settings = settings;
    this.#context = context;
    let ca: Buffer | undefined;
    if (settings.caFile) {
      const file = path.resolve(context.baseDir ?? process.cwd(), settings.caFile);
      try {
        ca = readFileSync(file);
      } catch (err) {
        throw new ConfigError(
          `cannot read caFile ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
          {
            hint: 'caFile is a PEM file with the CA that signed the Vault certificate',
          },
        );
      }
    }
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
    this.#session = new VaultSession(
      settings.auth,
      (m, p, r) => this.#transport(m, p, r),
      this.#core.tag,
      context.log,
      this.#core.scrub,
    );
  }

  get #tag(): string {
    return this.#core.tag;
  }

  get #where(): string {
    return this.#settings.namespace ? ` in namespace "${this.#settings.namespace}"` : '';
  }

  // ---- transport -----------------------------------------------------------------------------

  /** One request with the namespace header, retried by the core on network errors, 5xx and 429. */
  #transport(method: string, apiPath: string, request: HttpRequest): Promise<VaultHttpResponse> {
    const base = new URL(this.#settings.address);
    const url = new URL(`${base.pathname.replace(/\/+$/, '')}/v1/${apiPath}`, base);
    const headers = {
      ...request.headers,
      ...(this.#settings.namespace ? { 'X-Vault-Namespace': this.#settings.namespace } : {}),
    };
    return this.#core.call({ action: `${method} ${apiPath}` }, async () => {
      const res = await this.#http.request(method, url, { ...request, headers });
      if (RETRYABLE_STATUS.has(res.status)) throw new HttpStatusError(res);
      return { status: res.status, headers: res.headers, body: res.json() };
    });
  }

  /** A token-authenticated request; after a 403 for a dead token, one fresh login and one retry. */
  async #request(method: string, apiPath: string, request: HttpRequest = {}): Promise<VaultHttpResponse> {
    const send = async () => {
      const token = await this.#session.token();
      return this.#transport(method, apiPath, {
        ...request,
        headers: { ...request.headers, 'X-Vault-Token': token },
      });
    };
    const res = await send();
    if (res.status === 404 && /namespace not found/i.test(errorText(res.body, this.#core.scrub))) {
      throw new ConfigError(
        `Vault namespace "${this.#settings.namespace ?? ''}" not found for store "${this.#context.storeName}"`,
        {
          hint: 'check the namespace setting (Vault Enterprise or HCP Vault)',
        },
      );
    }
    if (res.status !== 403 || !(await this.#session.isDead())) return res;
    if (!this.#session.canLogin) {
      const fix = 'set a new auth.token';
      throw this.#core.fail({
        kind: 'denied',
        message: `the Vault token is invalid or expired: ${fix}`,
        fix,
      });
    }
    this.#session.forget();
    await this.#session.relogin();
    return send();
  }

  #denied(capability: string, apiPath: string, res: VaultHttpResponse): SesameError {
    const text = errorText(res.body, this.#core.scrub);
    const policyPath = decodeURIComponent(apiPath);
    const fix = `grant "${capability}" on ${policyPath}${this.#where} — policy: path "${policyPath}" { capabilities = ["${capability}"] }`;
    return this.#core.fail({
      kind: 'denied',
      message: `permission denied${text && text !== 'permission denied' ? ` (${text})` : ''}: ${fix}`,
      fix,
    });
  }

  #unexpected(what: string, res: VaultHttpResponse): SesameError {
    const text = errorText(res.body, this.#core.scrub);
    const message = `${what}: Vault answered ${res.status}${text ? `: ${text}` : ''}`;
    return this.#core.fail({ kind: res.status >= 500 ? 'unavailable' : 'conflict', message });
  }

  // ---- KV mount and paths --------------------------------------------------------------------

  #mount(): Promise<KvMount> {
    this.#kv ??= this.#detect().catch((err: unknown) => {
      this.#kv = undefined;
      throw err;
    });
    return this.#kv;
  }

  async #detect(): Promise<KvMount> {
    const { mount, kvVersion } = this.#settings;
    if (kvVersion) return { mount, version: kvVersion };
    const res = await this.#request('GET', `sys/internal/ui/mounts/${encodePath(mount)}`);
    if (res.status === 404) return { mount, version: 1 }; // Vault before the preflight endpoint: KV v1.
    if (res.status === 403) {
      const fix = `grant the token a capability under ${mount}/, or set kvVersion: 1 or 2 in the store settings`;
      const why = errorText(res.body, this.#core.scrub);
      throw this.#core.fail({
        kind: 'denied',
        message: `cannot detect the KV version of mount "${mount}"${this.#where} (${why}): ${fix}`,
        fix,
      });
    }
    const data = (res.body as { data?: { type?: string; options?: { version?: string } | null } } | undefined)
      ?.data;
    if (res.status !== 200 || !data) throw this.#unexpected(`mount detection for "${mount}"`, res);
    if (data.type !== 'kv' && data.type !== 'generic') {
      throw new ConfigError(
        `mount "${mount}" of store "${this.#context.storeName}" is a ${data.type} secrets engine, not kv`,
        {
          hint: 'set mount to a KV secrets engine path',
        },
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

  #api(kv: KvMount, kind: 'data' | 'metadata' | 'delete' | 'undelete' | 'destroy', full: string): string {
    if (kv.version === 1) return `${encodePath(kv.mount)}/${encodePath(full)}`;
    return `${encodePath(kv.mount)}/${kind}/${encodePath(full)}`;
  }

  // ---- reads ---------------------------------------------------------------------------------

  async get(request: SecretRequest): Promise<FetchedSecret> {
    // ?version= and ?stage= the type does not have are refused by the core (resolve/bindings.ts).
    const kv = await this.#mount();
    const full = this.#fullPath(request.name);
    const subject = `secret "${request.name}"`;
    if (request.version !== undefined) {
      if (kv.version === 1) {
        throw new UnsupportedOperationError(
          `${this.#tag} mount "${kv.mount}" is KV v1, which keeps no versions: drop ?version=`,
        );
      }
      if (!/^[1-9]\d*$/.test(request.version)) {
        throw new SecretNotFoundError(
          `${this.#tag} ${subject} has no version "${request.version}": Vault versions are numbers`,
        );
      }
    }
    const apiPath = this.#api(kv, 'data', full);
    const res = await this.#request(
      'GET',
      apiPath,
      request.version ? { query: { version: request.version } } : {},
    );
    if (res.status === 200) {
      const body = res.body as {
        data?: Record<string, unknown> & { data?: Record<string, unknown> | null; metadata?: VersionMeta };
      };
      const data = kv.version === 2 ? body.data?.data : body.data;
      if (!data) throw new SecretNotFoundError(`${this.#tag} ${subject} has no data${this.#where}`);
      const version =
        kv.version === 2 && body.data?.metadata?.version !== undefined
          ? String(body.data.metadata.version)
          : undefined;
      return { value: vaultDataToText(data), version };
    }
    if (res.status === 404) {
      const meta = (res.body as { data?: { metadata?: VersionMeta } } | undefined)?.data?.metadata;
      const which = request.version ? `version ${request.version} of ${subject}` : subject;
      if (meta?.destroyed)
        throw new SecretNotFoundError(`${this.#tag} ${which} was destroyed and cannot be restored`);
      if (meta?.deletion_time) {
        throw new SecretNotFoundError(
          `${this.#tag} ${which} was deleted at ${meta.deletion_time}: restore it with \`sesame secrets restore ${request.name}\` (vault kv undelete)`,
        );
      }
      throw new SecretNotFoundError(`${this.#tag} ${which} not found at ${kv.mount}/${full}${this.#where}`);
    }
    if (res.status === 403) throw this.#denied('read', apiPath, res);
    throw this.#unexpected(`reading ${subject}`, res);
  }

  async #metadata(name: string): Promise<{ kv: KvMount; meta: Metadata | undefined }> {
    const kv = await this.#mount();
    const full = this.#fullPath(name);
    if (kv.version === 1) return { kv, meta: undefined };
    const apiPath = this.#api(kv, 'metadata', full);
    const res = await this.#request('GET', apiPath);
    if (res.status === 200) return { kv, meta: (res.body as { data?: Metadata }).data ?? {} };
    if (res.status === 404)
      throw new SecretNotFoundError(
        `${this.#tag} secret "${name}" not found at ${kv.mount}/${full}${this.#where}`,
      );
    if (res.status === 403) throw this.#denied('read', apiPath, res);
    throw this.#unexpected(`reading metadata of "${name}"`, res);
  }

  /**
   * Vault lists one folder at a time, without page tokens. The walk goes depth first in key
   * order, which is the order of the full paths, so the cursor is the last path served: the
   * next page lists only the folders on the way back to it and skips every folder wholly
   * before it. No cap: every secret is reachable, page after page.
   */
  async list(options: ListOptions): Promise<ListPage> {
    if (options.tags && Object.keys(options.tags).length > 0) {
      throw new UnsupportedOperationError(`${this.#tag} Vault KV secrets have no tags to list by`);
    }
    const kv = await this.#mount();
    const wanted = `${this.#names.prefix}${options.prefix ?? ''}`.replace(/^\/+/, '');
    const after = decodeCursor(
      options.cursor,
      (c): c is { after: string } => typeof (c as { after?: unknown })?.after === 'string',
    )?.after;
    const limit = pageSize(options.limit, 1_000, 10_000);
    const found: string[] = [];
    let more = false;
    const walk = async (dir: string): Promise<boolean> => {
      const apiPath = `${encodePath(kv.mount)}/${kv.version === 2 ? 'metadata/' : ''}${encodePath(dir)}`;
      const res = await this.#request('GET', apiPath, { query: { list: 'true' } });
      if (res.status === 404) return false;
      if (res.status === 403) throw this.#denied('list', apiPath, res);
      if (res.status !== 200) throw this.#unexpected(`listing ${kv.mount}/${dir}`, res);
      const keys = (res.body as { data?: { keys?: unknown } }).data?.keys;
      for (const key of (Array.isArray(keys) ? keys.map(String) : []).sort()) {
        const full = dir + key;
        if (key.endsWith('/')) {
          // Descend only into folders that can hold a match and are not wholly before the cursor.
          const before = after !== undefined && full < after && !after.startsWith(full);
          if ((full.startsWith(wanted) || wanted.startsWith(full)) && !before && (await walk(full)))
            return true;
        } else if (full.startsWith(wanted) && (after === undefined || full > after)) {
          if (found.length === limit) {
            more = true;
            return true;
          }
          found.push(full);
        }
      }
      return false;
    };
    await walk(wanted.includes('/') ? wanted.slice(0, wanted.lastIndexOf('/') + 1) : '');
    const last = found[found.length - 1];
    return {
      items: found.flatMap((full) => {
        const name = this.#names.fromId(full);
        return name === undefined ? [] : [{ name }];
      }),
      cursor: more && last !== undefined ? encodeCursor({ after: last }) : undefined,
    };
  }

  async describe(name: string, _options?: { namespaces: readonly string[] }): Promise<SecretMetadata> {
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

  async versions(name: string, _options?: { namespaces: readonly string[] }): Promise<VersionMetadata[]> {
    const { kv, meta } = await this.#metadata(name);
    if (kv.version === 1) return [];
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

  async write(name: string, value: string, options: WriteOptions): Promise<WriteResult> {
    const kv = await this.#mount();
    const full = this.#fullPath(name);
    const apiPath = this.#api(kv, 'data', full);
    const data = textToVaultData(value);
    if (kv.version === 1) {
      if (options.expectedVersion !== undefined) {
        throw new UnsupportedOperationError(
          `${this.#tag} mount "${kv.mount}" is KV v1: no check-and-set without versions`,
        );
      }
      const res = await this.#request('POST', apiPath, { body: data });
      if (res.status === 204 || res.status === 200) return { name, version: 'unversioned' };
      if (res.status === 403) throw this.#denied('create', apiPath, res);
      throw this.#unexpected(`writing "${name}"`, res);
    }
    const cas = options.expectedVersion;
    if (cas !== undefined && !/^\d+$/.test(cas)) {
      throw new SecretStateError(
        `${this.#tag} expected version "${cas}" of "${name}" is not a Vault version number`,
      );
    }
    const res = await this.#request('POST', apiPath, {
      body: { data, options: cas !== undefined ? { cas: Number(cas) } : {} },
    });
    if (res.status === 200) {
      const version = (res.body as { data?: { version?: number } }).data?.version;
      return { name, version: String(version ?? '') };
    }
    if (res.status === 403) throw this.#denied('update', apiPath, res);
    const text = errorText(res.body, this.#core.scrub);
    if (res.status === 400 && /check-and-set/.test(text)) {
      throw new SecretStateError(
        `${this.#tag} secret "${name}" changed: its current version is not ${cas ?? 'the expected one'} (check-and-set refused the write)`,
      );
    }
    throw this.#unexpected(`writing "${name}"`, res);
  }

  async delete(name: string, options: DeleteOptions): Promise<void> {
    const kv = await this.#mount();
    const full = this.#fullPath(name);
    // v2: a soft delete of the latest version (undelete restores it); force removes every
    // version and the metadata for good. v1 has only the permanent delete.
    const apiPath =
      kv.version === 2 && options.force ? this.#api(kv, 'metadata', full) : this.#api(kv, 'data', full);
    const res = await this.#request('DELETE', apiPath);
    if (res.status === 204 || res.status === 200) return;
    if (res.status === 403) throw this.#denied('delete', apiPath, res);
    if (res.status === 404)
      throw new SecretNotFoundError(
        `${this.#tag} secret "${name}" not found at ${kv.mount}/${full}${this.#where}`,
      );
    throw this.#unexpected(`deleting "${name}"`, res);
  }

  async restore(name: string, _options?: { namespace: string }): Promise<void> {
    const { kv, meta } = await this.#metadata(name);
    if (kv.version === 1) {
      throw new UnsupportedOperationError(
        `${this.#tag} mount "${kv.mount}" is KV v1: deletes are permanent, nothing to restore`,
      );
    }
    const candidates = Object.entries(meta?.versions ?? {})
      .filter(([, v]) => v.deletion_time && !v.destroyed)
      .map(([n]) => Number(n))
      .sort((a, b) => b - a);
    const latest = candidates[0];
    if (latest === undefined) {
      const allDestroyed = Object.values(meta?.versions ?? {}).every((v) => v.destroyed);
      throw new SecretStateError(
        `${this.#tag} secret "${name}" has no deleted version to restore${allDestroyed ? ' (every version was destroyed)' : ''}`,
      );
    }
    const apiPath = this.#api(kv, 'undelete', this.#fullPath(name));
    const res = await this.#request('POST', apiPath, { body: { versions: [latest] } });
    if (res.status === 204 || res.status === 200) return;
    if (res.status === 403) throw this.#denied('update', apiPath, res);
    throw this.#unexpected(`restoring "${name}"`, res);
  }

  /** Destroy versions for good (KV v2): their data is wiped, the metadata stays. Default: the current version. */
  async destroy(name: string, versions?: readonly string[]): Promise<void> {
    const { kv, meta } = await this.#metadata(name);
    if (kv.version === 1)
      throw new UnsupportedOperationError(`${this.#tag} mount "${kv.mount}" is KV v1: use delete`);
    const list = versions?.length ? versions.map(Number) : [meta?.current_version ?? 0];
    const apiPath = this.#api(kv, 'destroy', this.#fullPath(name));
    const res = await this.#request('POST', apiPath, { body: { versions: list } });
    if (res.status === 204 || res.status === 200) return;
    if (res.status === 403) throw this.#denied('update', apiPath, res);
    throw this.#unexpected(`destroying "${name}"`, res);
  }

  // ---- diagnostics ---------------------------------------------------------------------------

  check(options: CheckOptions): Promise<CheckReport> {
    const method = this.#settings.auth.method;
    let kv: KvMount | undefined;
    return runChecks([
      {
        step: 'authenticate',
        required: true,
        fix:
          method === 'token'
            ? 'set a valid, unexpired token in auth.token'
            : method === 'userpass'
              ? 'check auth.username and auth.password, and that userpass is enabled at auth.path'
              : 'check auth.roleId and auth.secretId, and that approle is enabled at auth.path',
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
  async #capabilities(kv: KvMount, sample: string | undefined): Promise<CheckStep[]> {
    const prefix = this.#names.prefix;
    const dir = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const wanted: Array<[string, string]> = [
      ['list', `${kv.mount}/${kv.version === 2 ? 'metadata/' : ''}${dir}`],
    ];
    if (sample)
      wanted.push(['read', `${kv.mount}/${kv.version === 2 ? 'data/' : ''}${this.#fullPath(sample)}`]);
    const res = await this.#request('POST', 'sys/capabilities-self', {
      body: { paths: wanted.map(([, p]) => p) },
    });
    if (res.status !== 200)
      throw new Error(`Vault answered ${res.status}: ${errorText(res.body, this.#core.scrub)}`);
    const body = res.body as Record<string, unknown> & { data?: Record<string, unknown> };
    return wanted.map(([capability, p]) => {
      const raw = body.data?.[p] ?? body[p];
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
  hostAccess(s: VaultSettings): HostAccess[] {
    const out: HostAccess[] = [{ kind: 'address', setting: 'address', url: s.address }];
    if (s.caFile) out.push({ kind: 'files', setting: 'caFile', path: s.caFile });
    return out;
  },
  create: (settings: VaultSettings, context: StoreContext) => new VaultStore(settings, context),
} satisfies StoreType<VaultSettings>;

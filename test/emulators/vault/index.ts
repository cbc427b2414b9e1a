/**
 * A local HashiCorp Vault emulator speaking the HTTP API Sesame uses, with Vault's status codes
 * and bodies: `{"errors":[...]}` on failure (403 `permission denied` for a bad token, the
 * multi-error form for an ACL denial, 404 `{"errors":[]}` for a missing secret, 503
 * `Vault is sealed`), KV v1 and v2 mounts (data/metadata/delete/undelete/destroy, check-and-set,
 * `cas_required` and `delete_version_after` of a secret or a mount),
 * `sys/internal/ui/mounts/<path>` preflight, ACL policies with path globs, token TTLs with
 * renewal, userpass and approle logins, namespaces (`X-Vault-Namespace`) and optional TLS.
 *
 * Time is `Date.now()`, so fake timers move token expiry too. Calls are counted per operation.
 *
 * @example
 * const vault = await startVaultEmulator({ users: { john: { password: 'pw', policies: ['reader'] } } });
 * vault.writeSecret('app/db', { password: 'x' });
 * vault.calls['login:userpass']; // logins so far
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type FaultControls, Faults } from '../faults.js';

export interface PolicyRule {
  /** Vault policy path: exact, `prefix*`, `+` for one segment. */
  path: string;
  capabilities: string[];
}

export interface VaultEmulatorOptions {
  rootToken?: string;
  /** Mount path → KV version. Default `{ secret: 2 }`. */
  mounts?: Record<string, 1 | 2>;
  /** Vault Enterprise namespaces besides the root one; every namespace has every mount. */
  namespaces?: string[];
  policies?: Record<string, PolicyRule[]>;
  users?: Record<
    string,
    { password: string; policies: string[]; ttlSeconds?: number; maxTtlSeconds?: number }
  >;
  /** Role name → credentials and token settings. */
  approles?: Record<
    string,
    { roleId: string; secretId: string; policies: string[]; ttlSeconds?: number; maxTtlSeconds?: number }
  >;
  /** TTL of login tokens. Default 3600 s. */
  tokenTtlSeconds?: number;
  tls?: { cert: string; key: string };
}

interface Token {
  id: string;
  accessor: string;
  policies: string[];
  root: boolean;
  namespace: string;
  displayName: string;
  path: string;
  meta: Record<string, string> | null;
  renewable: boolean;
  /** Seconds a renewal extends by. */
  ttl: number;
  issuedAt: number;
  expiresAt?: number | undefined;
  maxExpiresAt?: number | undefined;
}

interface KvVersion {
  data: Record<string, unknown>;
  created: number;
  deletedAt?: number | undefined;
  destroyed: boolean;
}

interface KvSecret {
  versions: KvVersion[];
  created: number;
  updated: number;
  /** Writes need `options.cas` (metadata `cas_required`). */
  casRequired?: boolean;
  /** Metadata `delete_version_after`: each new version's deletion is scheduled this long after its creation. */
  deleteAfterMs?: number;
}

type Fault = { op: string; remaining: number; status: number; message: string };

export interface VaultEmulator {
  url: string;
  /** Faults for requests outside auth/ (logins and token lookups are never faulted): 403, 503 sealed, 429 rate limit quota, a delay. */
  faults: FaultControls;
  rootToken: string;
  /** Requests per operation (`login:userpass`, `token:renew-self`, `kv:read`, …). */
  calls: Record<string, number>;
  resetCalls(): void;
  /** Write a KV secret directly (no auth, not counted). v2 returns the new version number. */
  writeSecret(
    path: string,
    data: Record<string, unknown>,
    options?: { mount?: string; namespace?: string },
  ): number;
  /** The stored data of the latest version, for assertions. */
  readSecret(
    path: string,
    options?: { mount?: string; namespace?: string },
  ): Record<string, unknown> | undefined;
  setPolicy(name: string, rules: PolicyRule[]): void;
  /** Create a token directly (what `vault token create` would do). */
  issueToken(options?: {
    policies?: string[];
    ttlSeconds?: number;
    renewable?: boolean;
    namespace?: string;
  }): string;
  /** Make a token (or every non-root token) expire now. */
  expireToken(token?: string): void;
  /** Remaining TTL in seconds of a token, undefined when unknown or without TTL. */
  tokenTtl(token: string): number | undefined;
  /** Tokens issued by logins so far. */
  loginTokens(): string[];
  seal(): void;
  unseal(): void;
  /** A standby node that cannot reach an active node. */
  standby(on: boolean): void;
  /** The next `times` requests of `op` (or `*`) answer `status` with `message`. */
  failNext(op: string, times: number, status: number, message?: string): void;
  stop(): Promise<void>;
}

const DENIED = 'permission denied';
const ACL_DENIED = '1 error occurred:\n\t* permission denied\n\n';

/** Go's encoding/json sorts map keys; so does Vault's output of secret data. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

const rfc3339 = (ms: number) => new Date(ms).toISOString();

/**
 * `delete_version_after` as Vault takes it (a duration second): seconds, or a Go duration of
 * whole h/m/s units ("1h", "90s", "1h30m"). What does not parse is left unset here.
 */
function durationMs(raw: unknown): number | undefined {
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) return raw * 1000;
  if (typeof raw !== 'string') return undefined;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(raw);
  if (!m || raw === '') return undefined;
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

/** Go's time.Duration.String() of whole seconds, as Vault prints delete_version_after: 0s, 45s, 1h0m0s. */
function goDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (h > 0) return `${h}h${m}m${sec}s`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}

/**
 * A version is deleted once its deletion_time has passed (Vault compares it with now): a time
 * set by `delete_version_after` lies ahead, and the version is served until then.
 */
const isDeleted = (v: KvVersion) => v.deletedAt !== undefined && v.deletedAt <= Date.now();

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(errors.join('; '));
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Does a Vault policy path match a request path? `*` only at the end, `+` one segment. */
function policyMatches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith('*');
  const fixed = glob ? pattern.slice(0, -1) : pattern;
  const pSegs = fixed.split('/');
  const segs = path.split('/');
  for (let i = 0; i < pSegs.length; i++) {
    const p = pSegs[i] as string;
    const s = segs[i];
    if (s === undefined) return false;
    const last = i === pSegs.length - 1;
    if (p === '+') continue;
    if (last && glob) return s.startsWith(p);
    if (p !== s) return false;
  }
  return glob || segs.length === pSegs.length;
}

export async function startVaultEmulator(options: VaultEmulatorOptions = {}): Promise<VaultEmulator> {
  const faultPlan = new Faults();
  const rootToken = options.rootToken ?? `hvs.root-${randomBytes(6).toString('hex')}`;
  const mounts = new Map(Object.entries(options.mounts ?? { secret: 2 }));
  const namespaces = new Set(['', ...(options.namespaces ?? []).map((n) => n.replace(/^\/+|\/+$/g, ''))]);
  const policies = new Map(Object.entries(options.policies ?? {}));
  const tokens = new Map<string, Token>();
  const kv2 = new Map<string, KvSecret>();
  /** Mounts (by namespace) whose config has `cas_required`. */
  const casRequired = new Set<string>();
  /** The config's `delete_version_after` of mounts (by namespace) that set one. */
  const mountDeleteAfter = new Map<string, number>();
  const kv1 = new Map<string, Record<string, unknown>>();
  const calls: Record<string, number> = {};
  const faults: Fault[] = [];
  const logins: string[] = [];
  let sealed = false;
  let standby = false;
  const ttlDefault = options.tokenTtlSeconds ?? 3600;

  for (const ns of namespaces) {
    tokens.set(`${ns}\u0000${rootToken}`, {
      id: rootToken,
      accessor: randomBytes(12).toString('hex'),
      policies: ['root'],
      root: true,
      namespace: ns,
      displayName: 'root',
      path: 'auth/token/root',
      meta: null,
      renewable: false,
      ttl: 0,
      issuedAt: Date.now(),
    });
  }

  const key = (ns: string, mount: string, path: string) => `${ns}\u0000${mount}\u0000${path}`;

  function issue(
    ns: string,
    fields: Omit<
      Token,
      'id' | 'accessor' | 'root' | 'namespace' | 'issuedAt' | 'expiresAt' | 'maxExpiresAt'
    > & { maxTtl?: number | undefined },
  ): Token {
    const now = Date.now();
    const { maxTtl, ...rest } = fields;
    const token: Token = {
      ...rest,
      id: `hvs.${randomBytes(18).toString('base64url')}`,
      accessor: randomBytes(12).toString('hex'),
      root: false,
      namespace: ns,
      issuedAt: now,
      expiresAt: fields.ttl > 0 ? now + fields.ttl * 1000 : undefined,
      maxExpiresAt: maxTtl ? now + maxTtl * 1000 : undefined,
    };
    tokens.set(`${ns}\u0000${token.id}`, token);
    return token;
  }

  function lookupToken(ns: string, id: string | undefined): Token | undefined {
    if (!id) return undefined;
    const k = `${ns}\u0000${id}`;
    const t = tokens.get(k);
    if (t?.expiresAt !== undefined && Date.now() >= t.expiresAt) {
      tokens.delete(k);
      return undefined;
    }
    return t;
  }

  function capabilities(token: Token, path: string): string[] {
    if (token.root) return ['root'];
    const caps = new Set<string>();
    for (const name of token.policies) {
      const rules = (policies.get(name) ?? []).filter((r) => policyMatches(r.path, path));
      if (rules.length === 0) continue;
      // Within one policy the most specific rule wins: exact, then the longest prefix.
      rules.sort(
        (a, b) =>
          Number(b.path.endsWith('*') === false) - Number(a.path.endsWith('*') === false) ||
          b.path.length - a.path.length,
      );
      for (const c of (rules[0] as PolicyRule).capabilities) caps.add(c);
    }
    if (caps.has('deny') || caps.size === 0) return ['deny'];
    return [...caps].sort();
  }

  function authorize(token: Token, path: string, capability: string) {
    const caps = capabilities(token, path);
    if (!caps.includes('root') && !caps.includes(capability)) throw new HttpError(403, [ACL_DENIED]);
  }

  function authBlock(t: Token) {
    return {
      client_token: t.id,
      accessor: t.accessor,
      policies: t.policies,
      token_policies: t.policies,
      metadata: t.meta,
      lease_duration: t.expiresAt ? Math.round((t.expiresAt - Date.now()) / 1000) : 0,
      renewable: t.renewable,
      entity_id: '',
      token_type: 'service',
      orphan: true,
      mfa_requirement: null,
      num_uses: 0,
    };
  }

  const envelope = (extra: Record<string, unknown>) => ({
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: null,
    warnings: null,
    auth: null,
    ...extra,
  });

  function versionMeta(v: KvVersion, n: number) {
    return {
      created_time: rfc3339(v.created),
      custom_metadata: null,
      deletion_time: v.deletedAt !== undefined ? rfc3339(v.deletedAt) : '',
      destroyed: v.destroyed,
      version: n,
    };
  }

  /** A new version; `mk` is the mount's key, whose config's delete_version_after counts too. */
  function putKv2(k: string, mk: string, data: Record<string, unknown>): number {
    const now = Date.now();
    let s = kv2.get(k);
    if (!s) {
      s = { versions: [], created: now, updated: now };
      kv2.set(k, s);
    }
    // Vault schedules the deletion after the smaller of the secret's and the mount's non-zero setting.
    const after = [s.deleteAfterMs, mountDeleteAfter.get(mk)].filter((d): d is number => !!d);
    const deletedAt = after.length > 0 ? now + Math.min(...after) : undefined;
    s.versions.push({ data, created: now, destroyed: false, deletedAt });
    s.updated = now;
    return s.versions.length;
  }

  function mountOf(path: string): { mount: string; rest: string; version: 1 | 2 } | undefined {
    let best: string | undefined;
    for (const m of mounts.keys()) {
      if ((path === m || path.startsWith(`${m}/`)) && (!best || m.length > best.length)) best = m;
    }
    if (best === undefined) return undefined;
    return { mount: best, rest: path.slice(best.length + 1), version: mounts.get(best) as 1 | 2 };
  }

  function versionsParam(body: Record<string, unknown>): number[] {
    const v = body.versions;
    if (!Array.isArray(v) || v.length === 0) throw new HttpError(400, ['no version number provided']);
    return v.map(Number);
  }

  type Reply = { status: number; body?: unknown };

  function kvRequest(
    method: string,
    list: boolean,
    ns: string,
    token: Token,
    path: string,
    query: URLSearchParams,
    body: Record<string, unknown>,
  ): Reply {
    const m = mountOf(path);
    if (!m) throw new HttpError(404, [`no handler for route "${path}". route entry not found.`]);
    const { mount, rest, version } = m;
    if (version === 1) {
      const k = key(ns, mount, rest.replace(/\/+$/, ''));
      if (list) {
        authorize(token, `${mount}/${rest}`, 'list');
        return listKeys(kv1.keys(), key(ns, mount, ''), rest);
      }
      switch (method) {
        case 'GET': {
          authorize(token, path, 'read');
          const data = kv1.get(k);
          if (!data) return { status: 404, body: { errors: [] } };
          return {
            status: 200,
            body: envelope({ lease_duration: 2764800, data: sortKeys(data), mount_type: 'kv' }),
          };
        }
        case 'POST':
        case 'PUT':
          authorize(token, path, kv1.has(k) ? 'update' : 'create');
          kv1.set(k, body);
          return { status: 204 };
        case 'DELETE':
          authorize(token, path, 'delete');
          kv1.delete(k);
          return { status: 204 };
      }
      throw new HttpError(405, []);
    }

    const slash = rest.indexOf('/');
    const api = slash < 0 ? rest : rest.slice(0, slash);
    const sub = slash < 0 ? '' : rest.slice(slash + 1);
    const k = key(ns, mount, sub.replace(/\/+$/, ''));
    const secret = kv2.get(k);
    if (slash < 0 && !list && ['data', 'metadata', 'delete', 'undelete', 'destroy'].includes(api))
      return invalidKv2Path('Non-listing operations on the root of a K/V v2 mount are not supported.');
    switch (api) {
      case 'data': {
        if (method === 'GET') {
          authorize(token, path, 'read');
          if (!secret) return { status: 404, body: { errors: [] } };
          const requested = Number(query.get('version') ?? 0);
          const n = requested > 0 ? requested : secret.versions.length;
          const v = secret.versions[n - 1];
          if (!v) return { status: 404, body: { errors: [] } };
          if (v.destroyed || isDeleted(v)) {
            return {
              status: 404,
              body: envelope({ data: { data: null, metadata: versionMeta(v, n) }, mount_type: 'kv' }),
            };
          }
          return {
            status: 200,
            body: envelope({
              data: { data: sortKeys(v.data), metadata: versionMeta(v, n) },
              mount_type: 'kv',
            }),
          };
        }
        if (method === 'POST' || method === 'PUT') {
          authorize(token, path, secret ? 'update' : 'create');
          const data = body.data;
          if (!data || typeof data !== 'object' || Array.isArray(data))
            throw new HttpError(400, ['no data provided']);
          const cas = (body.options as { cas?: unknown } | undefined)?.cas;
          if (cas === undefined && (casRequired.has(key(ns, mount, '')) || secret?.casRequired))
            throw new HttpError(400, ['check-and-set parameter required for this call']);
          if (cas !== undefined && Number(cas) !== (secret?.versions.length ?? 0)) {
            throw new HttpError(400, ['check-and-set parameter did not match the current version']);
          }
          const n = putKv2(k, key(ns, mount, ''), data as Record<string, unknown>);
          const v = kv2.get(k)?.versions[n - 1] as KvVersion;
          return { status: 200, body: envelope({ data: versionMeta(v, n), mount_type: 'kv' }) };
        }
        if (method === 'DELETE') {
          authorize(token, path, 'delete');
          const latest = secret?.versions[secret.versions.length - 1];
          if (latest && !isDeleted(latest)) latest.deletedAt = Date.now();
          return { status: 204 };
        }
        break;
      }
      case 'delete':
      case 'undelete':
      case 'destroy': {
        if (method !== 'POST' && method !== 'PUT') break;
        authorize(token, path, 'update');
        const versions = versionsParam(body);
        for (const n of versions) {
          const v = secret?.versions[n - 1];
          if (!v) continue;
          if (api === 'delete' && !v.destroyed && !isDeleted(v)) v.deletedAt = Date.now();
          if (api === 'undelete' && !v.destroyed) v.deletedAt = undefined;
          if (api === 'destroy') {
            v.destroyed = true;
            v.data = {};
          }
        }
        return { status: 204 };
      }
      case 'config': {
        // The mount's settings (max_versions is accepted, not applied).
        const mk = key(ns, mount, '');
        if (method === 'GET') {
          authorize(token, path, 'read');
          const data = {
            cas_required: casRequired.has(mk),
            delete_version_after: goDuration(mountDeleteAfter.get(mk) ?? 0),
            max_versions: 0,
          };
          return { status: 200, body: envelope({ data, mount_type: 'kv' }) };
        }
        if (method !== 'POST' && method !== 'PUT') break;
        authorize(token, path, 'update');
        if (body.cas_required === true) casRequired.add(mk);
        else if (body.cas_required === false) casRequired.delete(mk);
        const after = durationMs(body.delete_version_after);
        if (after !== undefined) mountDeleteAfter.set(mk, after);
        return { status: 204 };
      }
      case 'metadata': {
        if (list) {
          authorize(token, path, 'list');
          return listKeys(kv2.keys(), key(ns, mount, ''), sub, (sk) => {
            const s = kv2.get(sk);
            return !!s && s.versions.length > 0;
          });
        }
        if (method === 'POST' || method === 'PUT') {
          // Metadata of a secret, created without versions when it does not exist yet.
          authorize(token, path, secret ? 'update' : 'create');
          const entry = secret ?? { versions: [], created: Date.now(), updated: Date.now() };
          if (typeof body.cas_required === 'boolean') entry.casRequired = body.cas_required;
          const after = durationMs(body.delete_version_after);
          if (after !== undefined) entry.deleteAfterMs = after;
          kv2.set(k, entry);
          return { status: 204 };
        }
        if (method === 'GET') {
          authorize(token, path, 'read');
          if (!secret) return { status: 404, body: { errors: [] } };
          const versions = Object.fromEntries(
            secret.versions.map((v, i) => {
              const { version: _n, custom_metadata: _c, ...meta } = versionMeta(v, i + 1);
              return [String(i + 1), meta];
            }),
          );
          return {
            status: 200,
            body: envelope({
              data: {
                cas_required: secret.casRequired === true,
                created_time: rfc3339(secret.created),
                current_version: secret.versions.length,
                custom_metadata: null,
                delete_version_after: goDuration(secret.deleteAfterMs ?? 0),
                max_versions: 0,
                oldest_version: 0,
                updated_time: rfc3339(secret.updated),
                versions,
              },
              mount_type: 'kv',
            }),
          };
        }
        if (method === 'DELETE') {
          authorize(token, path, 'delete');
          kv2.delete(k);
          return { status: 204 };
        }
        break;
      }
      default: {
        // A KV v1 path on a KV v2 mount: 404 with a warning (no `errors`), naming the CLI command.
        const command = list ? 'list' : method === 'GET' ? 'get' : method === 'DELETE' ? 'delete' : 'put';
        return invalidKv2Path(
          `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${command}' for this operation.`,
        );
      }
    }
    throw new HttpError(405, []);
  }

  /** Vault's answer to a path the KV v2 engine has no endpoint for: 404, the reason as a warning. */
  function invalidKv2Path(warning: string): Reply {
    return { status: 404, body: envelope({ warnings: [warning] }) };
  }

  function listKeys(
    all: Iterable<string>,
    base: string,
    dir: string,
    keep: (k: string) => boolean = () => true,
  ): Reply {
    const prefix = base + (dir && !dir.endsWith('/') ? `${dir}/` : dir);
    const seen = new Set<string>();
    for (const k of all) {
      if (!k.startsWith(prefix) || !keep(k)) continue;
      const child = k.slice(prefix.length);
      if (!child) continue;
      const slash = child.indexOf('/');
      seen.add(slash < 0 ? child : child.slice(0, slash + 1));
    }
    if (seen.size === 0) return { status: 404, body: { errors: [] } };
    return { status: 200, body: envelope({ data: { keys: [...seen].sort() } }) };
  }

  function login(ns: string, t: Token): Reply {
    logins.push(t.id);
    return { status: 200, body: envelope({ auth: authBlock(t) }) };
  }

  function route(
    method: string,
    path: string,
    query: URLSearchParams,
    ns: string,
    headerToken: string | undefined,
    body: Record<string, unknown>,
  ): Reply {
    const userpass = /^auth\/userpass\/login\/([^/]+)$/.exec(path);
    if (userpass && (method === 'POST' || method === 'PUT')) {
      const username = decodeURIComponent(userpass[1] as string);
      const user = options.users?.[username];
      if (!user || body.password !== user.password)
        throw new HttpError(400, ['invalid username or password']);
      const ttl = user.ttlSeconds ?? ttlDefault;
      return login(
        ns,
        issue(ns, {
          policies: ['default', ...user.policies],
          displayName: `userpass-${username}`,
          path: `auth/userpass/login/${username}`,
          meta: { username },
          renewable: true,
          ttl,
          maxTtl: user.maxTtlSeconds,
        }),
      );
    }
    if (path === 'auth/approle/login' && (method === 'POST' || method === 'PUT')) {
      if (typeof body.role_id !== 'string' || !body.role_id) throw new HttpError(400, ['missing role_id']);
      const entry = Object.entries(options.approles ?? {}).find(([, r]) => r.roleId === body.role_id);
      if (!entry || entry[1].secretId !== body.secret_id)
        throw new HttpError(400, ['invalid role or secret ID']);
      const [roleName, role] = entry;
      return login(
        ns,
        issue(ns, {
          policies: ['default', ...role.policies],
          displayName: 'approle',
          path: 'auth/approle/login',
          meta: { role_name: roleName },
          renewable: true,
          ttl: role.ttlSeconds ?? ttlDefault,
          maxTtl: role.maxTtlSeconds,
        }),
      );
    }

    const token = lookupToken(ns, headerToken);
    if (!token) throw new HttpError(403, [DENIED]);

    if (path === 'auth/token/lookup-self' && method === 'GET') {
      const now = Date.now();
      return {
        status: 200,
        body: envelope({
          data: {
            accessor: token.accessor,
            creation_time: Math.floor(token.issuedAt / 1000),
            creation_ttl: token.ttl,
            display_name: token.displayName,
            entity_id: '',
            expire_time: token.expiresAt ? rfc3339(token.expiresAt) : null,
            explicit_max_ttl: 0,
            id: token.id,
            issue_time: rfc3339(token.issuedAt),
            meta: token.meta,
            num_uses: 0,
            orphan: true,
            path: token.path,
            policies: token.policies,
            renewable: token.renewable,
            ttl: token.expiresAt ? Math.max(0, Math.round((token.expiresAt - now) / 1000)) : 0,
            type: 'service',
          },
        }),
      };
    }
    if (path === 'auth/token/renew-self' && (method === 'POST' || method === 'PUT')) {
      if (!token.renewable || token.expiresAt === undefined)
        throw new HttpError(400, ['lease is not renewable']);
      const increment = typeof body.increment === 'number' ? body.increment : token.ttl;
      let expiresAt = Date.now() + increment * 1000;
      if (token.maxExpiresAt !== undefined) expiresAt = Math.min(expiresAt, token.maxExpiresAt);
      token.expiresAt = expiresAt;
      return { status: 200, body: envelope({ auth: authBlock(token) }) };
    }
    if (path === 'sys/capabilities-self' && (method === 'POST' || method === 'PUT')) {
      const paths = Array.isArray(body.paths)
        ? body.paths.map(String)
        : typeof body.path === 'string'
          ? [body.path]
          : [];
      if (paths.length === 0) throw new HttpError(400, ['missing paths']);
      const data: Record<string, string[]> = {};
      for (const p of paths) data[p] = capabilities(token, p.replace(/^\/+/, ''));
      if (paths.length === 1) data.capabilities = data[paths[0] as string] as string[];
      return { status: 200, body: { ...envelope({ data }), ...data } };
    }
    const ui = /^sys\/internal\/ui\/mounts\/(.+)$/.exec(path);
    if (ui && method === 'GET') {
      const target = (ui[1] as string).replace(/\/+$/, '');
      const m = mountOf(target);
      const anyAccess = (mount: string) =>
        token.root ||
        token.policies.some((p) =>
          (policies.get(p) ?? []).some(
            (r) => r.path.startsWith(`${mount}/`) && !r.capabilities.includes('deny'),
          ),
        );
      if (!m || !anyAccess(m.mount)) {
        throw new HttpError(403, [
          `preflight capability check returned 403, please ensure client's policies grant access to path "${target}/"`,
        ]);
      }
      return {
        status: 200,
        body: envelope({
          data: {
            accessor: `kv_${m.mount}`,
            config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
            description: 'key/value secret storage',
            external_entropy_access: false,
            local: false,
            options: m.version === 2 ? { version: '2' } : null,
            path: `${m.mount}/`,
            plugin_version: '',
            seal_wrap: false,
            type: 'kv',
            uuid: randomUUID(),
          },
        }),
      };
    }
    const list = method === 'LIST' || (method === 'GET' && query.get('list') === 'true');
    return kvRequest(method === 'LIST' ? 'GET' : method, list, ns, token, path, query, body);
  }

  /** The operation a request counts as, e.g. `kv:read`, `kv:list`, `token:renew-self`. */
  function opName(method: string, path: string, query: URLSearchParams): string {
    if (path.startsWith('auth/userpass/login')) return 'login:userpass';
    if (path === 'auth/approle/login') return 'login:approle';
    if (path.startsWith('auth/token/')) return `token:${path.slice('auth/token/'.length)}`;
    if (path === 'sys/capabilities-self') return 'sys:capabilities-self';
    if (path.startsWith('sys/internal/ui/mounts')) return 'sys:mounts';
    if (method === 'LIST' || (method === 'GET' && query.get('list') === 'true')) return 'kv:list';
    const m = mountOf(path);
    const api = m?.version === 2 ? m.rest.split('/')[0] : 'data';
    if (api === 'delete' || api === 'undelete' || api === 'destroy') return `kv:${api}`;
    if (api === 'metadata') return method === 'DELETE' ? 'kv:metadata-delete' : 'kv:metadata';
    if (method === 'GET') return 'kv:read';
    if (method === 'DELETE') return 'kv:delete';
    return 'kv:write';
  }

  function send(res: ServerResponse, reply: Reply) {
    if (reply.body === undefined) {
      res.writeHead(reply.status);
      res.end();
      return;
    }
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://vault.local');
    const method = req.method ?? 'GET';
    if (!url.pathname.startsWith('/v1/')) return send(res, { status: 404, body: { errors: [] } });
    const path = decodeURIComponent(url.pathname.slice(4));
    if (path === 'sys/health' || path === 'sys/seal-status') {
      return send(res, {
        status: sealed ? 503 : standby ? 429 : 200,
        body: { initialized: true, sealed, standby },
      });
    }
    const op = opName(method, path, url.searchParams);
    calls[op] = (calls[op] ?? 0) + 1;
    if (sealed) return send(res, { status: 503, body: { errors: ['Vault is sealed'] } });
    if (standby)
      return send(res, {
        status: 500,
        body: { errors: ['local node not active but active cluster node not found'] },
      });
    const injected = path.startsWith('auth/') ? undefined : await faultPlan.next();
    if (injected === 'denied')
      return send(res, { status: 403, body: { errors: ['1 error occurred:\n\t* permission denied\n\n'] } });
    if (injected === 'unavailable') return send(res, { status: 503, body: { errors: ['Vault is sealed'] } });
    if (injected === 'throttled') {
      return send(res, {
        status: 429,
        body: { errors: [`request path "${path}": rate limit quota exceeded`] },
      });
    }
    const fault = faults.find((f) => (f.op === op || f.op === '*') && f.remaining > 0);
    if (fault) {
      fault.remaining -= 1;
      return send(res, { status: fault.status, body: { errors: [fault.message] } });
    }
    const ns = (
      typeof req.headers['x-vault-namespace'] === 'string' ? req.headers['x-vault-namespace'] : ''
    ).replace(/^\/+|\/+$/g, '');
    if (!namespaces.has(ns)) return send(res, { status: 404, body: { errors: ['namespace not found'] } });
    let body: Record<string, unknown> = {};
    if (raw.trim()) {
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return send(res, {
          status: 400,
          body: { errors: ['failed to parse JSON input: invalid character'] },
        });
      }
    }
    const headerToken =
      typeof req.headers['x-vault-token'] === 'string' ? req.headers['x-vault-token'] : undefined;
    try {
      send(res, route(method, path, url.searchParams, ns, headerToken, body));
    } catch (err) {
      if (err instanceof HttpError) return send(res, { status: err.status, body: { errors: err.errors } });
      throw err;
    }
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, { status: 500, body: { errors: [String(err)] } });
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener)
    : createHttpServer(listener);
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    faults: faultPlan,
    rootToken,
    calls,
    resetCalls() {
      for (const k of Object.keys(calls)) delete calls[k];
    },
    writeSecret(path, data, o = {}) {
      const mount = o.mount ?? 'secret';
      const k = key(o.namespace ?? '', mount, path);
      if (mounts.get(mount) === 1) {
        kv1.set(k, data);
        return 0;
      }
      return putKv2(k, key(o.namespace ?? '', mount, ''), data);
    },
    readSecret(path, o = {}) {
      const mount = o.mount ?? 'secret';
      const k = key(o.namespace ?? '', mount, path);
      if (mounts.get(mount) === 1) return kv1.get(k);
      const s = kv2.get(k);
      return s?.versions[s.versions.length - 1]?.data;
    },
    setPolicy(name, rules) {
      policies.set(name, rules);
    },
    issueToken(o = {}) {
      return issue(o.namespace ?? '', {
        policies: ['default', ...(o.policies ?? [])],
        displayName: 'token',
        path: 'auth/token/create',
        meta: null,
        renewable: o.renewable ?? true,
        ttl: o.ttlSeconds ?? ttlDefault,
      }).id;
    },
    expireToken(id) {
      for (const t of tokens.values()) {
        if (!t.root && (id === undefined || t.id === id)) t.expiresAt = Date.now() - 1;
      }
    },
    tokenTtl(id) {
      for (const t of tokens.values()) {
        if (t.id === id && t.expiresAt !== undefined) return Math.round((t.expiresAt - Date.now()) / 1000);
      }
      return undefined;
    },
    loginTokens() {
      return [...logins];
    },
    seal() {
      sealed = true;
    },
    unseal() {
      sealed = false;
    },
    standby(on) {
      standby = on;
    },
    failNext(op, times, status, message = 'internal error') {
      faults.push({ op, remaining: times, status, message });
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

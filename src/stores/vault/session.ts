/**
 * The Vault token of one store, on the core's {@link TokenSession}: a userpass or approle login,
 * or a configured token whose TTL is looked up in the background; renewed with
 * `auth/token/renew-self` at two thirds of the lease, replaced by a fresh login when it turns out
 * to be expired or revoked (a configured token cannot be replaced, only renewed).
 */
import type { StoreLogger } from '../contract.js';
import { type HttpAnswer, type HttpRequest, type StoreCore, TokenSession } from '../core/index.js';
import type { VaultOp } from './errors.js';
import type { VaultAuthSettings } from './settings.js';

/** One request through the store (retried; a status neither 2xx nor in `op.also` is thrown, classified). */
export type VaultSend = (op: VaultOp, method: string, path: string, req: HttpRequest) => Promise<HttpAnswer>;

type AuthBlock = { client_token?: unknown; lease_duration?: unknown; renewable?: unknown };
type Login = Exclude<VaultAuthSettings, { method: 'token' }>;

/** The lease of an `auth` block (login, renew-self); `token` when the block names none. */
const leaseOf = (block: AuthBlock, token = '') => ({
  token: typeof block.client_token === 'string' ? block.client_token : token,
  ttlMs: typeof block.lease_duration === 'number' ? block.lease_duration * 1000 : 0,
  renewable: block.renewable === true,
});

/** The login request of a method, what messages call it and what to check when Vault refuses it. */
const loginOf = (auth: Login) =>
  auth.method === 'userpass'
    ? {
        path: `auth/${auth.path}/login/${encodeURIComponent(auth.username)}`,
        body: { password: auth.password },
        action: `userpass login as "${auth.username}"`,
        check: 'check auth.username and auth.password',
      }
    : {
        path: `auth/${auth.path}/login`,
        body: { role_id: auth.roleId, secret_id: auth.secretId },
        action: 'approle login',
        check: 'check auth.roleId and auth.secretId (a secret ID can expire or run out of uses)',
      };

export type VaultSession = ReturnType<typeof vaultSession>;

export function vaultSession(
  auth: VaultAuthSettings,
  send: VaultSend,
  core: StoreCore<VaultOp>,
  log: StoreLogger,
) {
  const withToken = (token: string) => ({ headers: { 'X-Vault-Token': token } });
  const fix =
    auth.method === 'token' ? 'set a valid, unexpired token in auth.token' : 'check the login settings';
  const dead = () =>
    core.fail({ kind: 'denied', message: `the Vault token is invalid or expired: ${fix}`, fix });

  /** `auth/token/lookup-self`: the token's data; undefined when Vault refuses it (expired, revoked). */
  async function lookup(token: string) {
    const op = { action: 'looking up the token', also: [401, 403] };
    const res = await send(op, 'GET', 'auth/token/lookup-self', withToken(token));
    return res.status < 300 ? (res.json<{ data?: Record<string, unknown> }>()?.data ?? {}) : undefined;
  }

  /** Who the token is, its policies and lease (`stores test`); a configured token's renewal is scheduled. */
  async function inspect(): Promise<string> {
    const token = await tokens.token();
    const data = await lookup(token);
    if (!data) throw dead();
    const ttl = typeof data.ttl === 'number' ? data.ttl : 0; // Seconds left, 0 without TTL (root).
    const renewable = data.renewable === true;
    if (auth.method === 'token') tokens.learn({ token, ttlMs: ttl * 1000, renewable });
    const policies = Array.isArray(data.policies) ? data.policies.join(', ') : '';
    const lease = ttl > 0 ? `ttl ${ttl}s${renewable ? ' (renewable)' : ''}` : 'no expiry';
    return `${data.display_name || 'token'}, policies [${policies}], ${lease}`;
  }

  let inspected = false;
  const tokens = new TokenSession<string>({
    background: true,
    relogin: auth.method !== 'token',
    login: async () => {
      if (auth.method !== 'token') {
        const { path, body, ...op } = loginOf(auth);
        const block = (await send(op, 'POST', path, { body })).json<{ auth?: AuthBlock }>()?.auth;
        if (typeof block?.client_token === 'string') return leaseOf(block);
        throw core.fail({ kind: 'unavailable', message: `${op.action}: Vault answered no client token` });
      }
      if (!inspected) {
        inspected = true;
        // Learn the TTL in the background to schedule renewals; reads do not wait for it.
        inspect().catch((err: unknown) =>
          log.debug(`${core.tag} token lookup failed`, { error: String(err) }),
        );
      }
      return { token: auth.token };
    },
    renew: async (token) => {
      const op = { action: 'renewing the Vault token' };
      const res = await send(op, 'POST', 'auth/token/renew-self', { ...withToken(token), body: {} });
      return leaseOf(res.json<{ auth?: AuthBlock }>()?.auth ?? {}, token);
    },
    onRefreshError: (err) => {
      const next = tokens.canLogin
        ? 'logging in again on next use'
        : 'the token will expire; renew it or configure a new one';
      log.warn(`${err instanceof Error ? err.message : String(err)}; ${next}`);
    },
  });

  return {
    inspect,
    /** `request` with the token; a 403 for a dead token (not a missing capability): new login, one retry. */
    use: (request: (token: string) => Promise<HttpAnswer>) =>
      tokens.use(request, async (res) => {
        const token = tokens.current;
        if (res.status !== 403 || (token !== undefined && (await lookup(token)))) return false;
        if (!tokens.canLogin) throw dead();
        return true;
      }),
    close: () => tokens.close(),
  };
}

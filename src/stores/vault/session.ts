/**
 * The Vault token of one store, on the core's {@link TokenSession}: a userpass or approle login,
 * or a configured token whose TTL is looked up in the background; renewed with
 * `auth/token/renew-self` at two thirds of the lease, replaced by a fresh login when it turns out
 * to be expired or revoked (a configured token cannot be replaced, only renewed).
 */
import { AccessDeniedError, StoreUnavailableError } from '../../errors.js';
import type { StoreLogger } from '../contract.js';
import { type HttpAnswer, type HttpRequest, type Scrubber, TokenSession } from '../core/index.js';
import { errorText } from './errors.js';
import type { VaultAuthSettings } from './settings.js';

/** Sends one request through the store's transport (retries included). */
export type VaultSend = (method: string, path: string, request: HttpRequest) => Promise<HttpAnswer>;

type AuthBlock = { client_token?: unknown; lease_duration?: unknown; renewable?: unknown };
type Login = Exclude<VaultAuthSettings, { method: 'token' }>;

/** The lease of an `auth` block (login, renew-self); `token` when the block names none. */
const leaseOf = (block: AuthBlock, token = '') => ({
  token: typeof block.client_token === 'string' ? block.client_token : token,
  ttlMs: typeof block.lease_duration === 'number' ? block.lease_duration * 1000 : 0,
  renewable: block.renewable === true,
});

/** The login request of a method, what it is called in messages and what to check when refused. */
const loginOf = (auth: Login) =>
  auth.method === 'userpass'
    ? {
        path: `auth/${auth.path}/login/${encodeURIComponent(auth.username)}`,
        body: { password: auth.password },
        who: `userpass login as "${auth.username}"`,
        fix: 'check auth.username and auth.password',
      }
    : {
        path: `auth/${auth.path}/login`,
        body: { role_id: auth.roleId, secret_id: auth.secretId },
        who: 'approle login',
        fix: 'check auth.roleId and auth.secretId (a secret ID can expire or run out of uses)',
      };

export type VaultSession = ReturnType<typeof vaultSession>;

export function vaultSession(
  auth: VaultAuthSettings,
  send: VaultSend,
  tag: string,
  log: StoreLogger,
  scrub: Scrubber,
) {
  const said = (res: HttpAnswer) => errorText(res, scrub) || `status ${res.status}`;
  const withToken = (token: string) => ({ headers: { 'X-Vault-Token': token } });

  async function login(auth: Login) {
    const { path, body, who, fix } = loginOf(auth);
    const res = await send('POST', path, { body });
    const block = res.json<{ auth?: AuthBlock }>()?.auth;
    if (res.status === 200 && typeof block?.client_token === 'string') return leaseOf(block);
    if (res.status === 400 || res.status === 403 || res.status === 401) {
      throw new AccessDeniedError(`${tag} ${who} failed: ${said(res)} (${fix})`);
    }
    throw new StoreUnavailableError(`${tag} ${who} failed: Vault answered ${res.status}: ${said(res)}`);
  }

  /** `auth/token/lookup-self`: who the token is; for configured tokens, also schedules renewal. */
  async function inspect() {
    const token = await tokens.token();
    const res = await send('GET', 'auth/token/lookup-self', withToken(token));
    const data = res.json<{ data?: Record<string, unknown> }>()?.data;
    if (res.status === 403 || res.status === 401) {
      const fix = tokens.canLogin ? 'check the login settings' : 'set a new auth.token';
      throw new AccessDeniedError(`${tag} the Vault token is invalid or expired (${said(res)}): ${fix}`);
    }
    if (res.status !== 200 || !data) {
      throw new StoreUnavailableError(
        `${tag} token lookup failed: Vault answered ${res.status}: ${said(res)}`,
      );
    }
    const info = {
      displayName: String(data.display_name ?? ''),
      policies: Array.isArray(data.policies) ? data.policies.map(String) : [],
      /** Seconds left, 0 for tokens without TTL (root). */
      ttl: typeof data.ttl === 'number' ? data.ttl : 0,
      renewable: data.renewable === true,
    };
    if (auth.method === 'token') tokens.learn({ token, ttlMs: info.ttl * 1000, renewable: info.renewable });
    return info;
  }

  let inspected = false;
  const tokens = new TokenSession<string>({
    background: true,
    relogin: auth.method !== 'token',
    login: async () => {
      if (auth.method !== 'token') return login(auth);
      if (!inspected) {
        inspected = true;
        // Learn the TTL in the background to schedule renewals; reads do not wait for it.
        inspect().catch((err: unknown) =>
          log.debug(`${tag} token lookup failed`, {
            error: err instanceof Error ? err.message : String(err),
          }),
        );
      }
      return { token: auth.token };
    },
    renew: async (token) => {
      const res = await send('POST', 'auth/token/renew-self', { ...withToken(token), body: {} });
      const block = res.json<{ auth?: AuthBlock }>()?.auth;
      if (res.status === 200 && block) return leaseOf(block, token);
      throw new Error(said(res));
    },
    onRefreshError: (err) => {
      const next = tokens.canLogin
        ? 'logging in again on next use'
        : 'the token will expire; renew it or configure a new one';
      log.warn(
        `${tag} Vault token renewal failed (${err instanceof Error ? err.message : String(err)}): ${next}`,
      );
    },
  });

  return {
    tokens,
    inspect,
    /** After a 403: is the token itself dead (expired, revoked), rather than lacking a capability? */
    async isDead(): Promise<boolean> {
      const token = tokens.current;
      if (token === undefined) return true;
      const res = await send('GET', 'auth/token/lookup-self', withToken(token));
      return res.status === 403 || res.status === 401;
    },
  };
}

/**
 * The Vault token of one store, on the core's {@link TokenSession}: a userpass or approle login,
 * or a configured token whose TTL is looked up in the background; renewed with
 * `auth/token/renew-self` at two thirds of the lease, replaced by a fresh login when it turns out
 * to be expired or revoked (a configured token cannot be replaced, only renewed).
 */
import { AccessDeniedError, StoreUnavailableError } from '../../errors.js';
import type { StoreLogger } from '../contract.js';
import {
  type HttpAnswer,
  type HttpRequest,
  type Scrubber,
  type TokenLease,
  TokenSession,
} from '../core/index.js';
import { errorText } from './errors.js';
import type { VaultAuthSettings } from './settings.js';

/** Sends one request through the store's transport (retries included). */
export type VaultSend = (method: string, path: string, request: HttpRequest) => Promise<HttpAnswer>;

interface AuthBlock {
  client_token?: unknown;
  lease_duration?: unknown;
  renewable?: unknown;
}

export interface TokenInfo {
  displayName: string;
  policies: string[];
  /** Seconds left, 0 for tokens without TTL (root). */
  ttl: number;
  renewable: boolean;
}

/** The lease of an `auth` block (login, renew-self); `token` when the block names none. */
function leaseOf(block: AuthBlock, token = ''): TokenLease<string> {
  const ttl = typeof block.lease_duration === 'number' ? block.lease_duration : 0;
  return {
    token: typeof block.client_token === 'string' ? block.client_token : token,
    ttlMs: ttl * 1000,
    renewable: block.renewable === true,
  };
}

/** The login request of a method, what it is called in messages and what to check when refused. */
function loginOf(auth: Exclude<VaultAuthSettings, { method: 'token' }>) {
  return auth.method === 'userpass'
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
}

export class VaultSession {
  readonly tokens: TokenSession<string>;
  readonly #auth: VaultAuthSettings;
  readonly #send: VaultSend;
  readonly #tag: string;
  readonly #scrub: Scrubber;

  constructor(auth: VaultAuthSettings, send: VaultSend, tag: string, log: StoreLogger, scrub: Scrubber) {
    this.#auth = auth;
    this.#send = send;
    this.#tag = tag;
    this.#scrub = scrub;
    let inspected = false;
    this.tokens = new TokenSession<string>({
      background: true,
      relogin: auth.method !== 'token',
      login: async () => {
        if (auth.method !== 'token') return this.#login(auth);
        if (!inspected) {
          inspected = true;
          // Learn the TTL in the background to schedule renewals; reads do not wait for it.
          this.inspect().catch((err: unknown) =>
            log.debug(`${tag} token lookup failed`, {
              error: err instanceof Error ? err.message : String(err),
            }),
          );
        }
        return { token: auth.token };
      },
      renew: async (token) => {
        const res = await send('POST', 'auth/token/renew-self', {
          headers: { 'X-Vault-Token': token },
          body: {},
        });
        const block = res.json<{ auth?: AuthBlock }>()?.auth;
        if (res.status === 200 && block) return leaseOf(block, token);
        throw new Error(errorText(res, scrub) || `status ${res.status}`);
      },
      onRefreshError: (err) =>
        log.warn(
          `${tag} Vault token renewal failed (${err instanceof Error ? err.message : String(err)}): ${auth.method === 'token' ? 'the token will expire; renew it or configure a new one' : 'logging in again on next use'}`,
        ),
    });
  }

  async #login(auth: Exclude<VaultAuthSettings, { method: 'token' }>): Promise<TokenLease<string>> {
    const { path, body, who, fix } = loginOf(auth);
    const res = await this.#send('POST', path, { body });
    const block = res.json<{ auth?: AuthBlock }>()?.auth;
    if (res.status === 200 && typeof block?.client_token === 'string') return leaseOf(block);
    const text = errorText(res, this.#scrub) || `status ${res.status}`;
    if (res.status === 400 || res.status === 403 || res.status === 401) {
      throw new AccessDeniedError(`${this.#tag} ${who} failed: ${text} (${fix})`);
    }
    throw new StoreUnavailableError(`${this.#tag} ${who} failed: Vault answered ${res.status}: ${text}`);
  }

  /** After a 403: is the token itself dead (expired, revoked), rather than lacking a capability? */
  async isDead(): Promise<boolean> {
    const token = this.tokens.current;
    if (token === undefined) return true;
    const res = await this.#send('GET', 'auth/token/lookup-self', { headers: { 'X-Vault-Token': token } });
    return res.status === 403 || res.status === 401;
  }

  /** `auth/token/lookup-self`: who the token is; for configured tokens, also schedules renewal. */
  async inspect(): Promise<TokenInfo> {
    const token = await this.tokens.token();
    const res = await this.#send('GET', 'auth/token/lookup-self', { headers: { 'X-Vault-Token': token } });
    const data = res.json<{ data?: Record<string, unknown> }>()?.data;
    if (res.status !== 200 || !data) {
      const text = errorText(res, this.#scrub) || `status ${res.status}`;
      if (res.status === 403 || res.status === 401) {
        const fix = this.tokens.canLogin ? 'check the login settings' : 'set a new auth.token';
        throw new AccessDeniedError(`${this.#tag} the Vault token is invalid or expired (${text}): ${fix}`);
      }
      throw new StoreUnavailableError(
        `${this.#tag} token lookup failed: Vault answered ${res.status}: ${text}`,
      );
    }
    const info: TokenInfo = {
      displayName: String(data.display_name ?? ''),
      policies: Array.isArray(data.policies) ? data.policies.map(String) : [],
      ttl: typeof data.ttl === 'number' ? data.ttl : 0,
      renewable: data.renewable === true,
    };
    if (this.#auth.method === 'token') {
      this.tokens.learn({ token, ttlMs: info.ttl * 1000, renewable: info.renewable });
    }
    return info;
  }
}

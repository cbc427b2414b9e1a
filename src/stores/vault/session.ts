/**
 * The Vault token of one store: login (userpass, approle) or a configured token, renewal with
 * `auth/token/renew-self` at about two thirds of the lease (timers unref'd so they never keep
 * the process alive), and a fresh login when the token turns out to be expired or revoked.
 */
import { AccessDeniedError, StoreUnavailableError } from '../../errors.js';
import type { StoreLogger } from '../contract.js';
import type { HttpRequest, Scrubber } from '../core/index.js';
import { errorText, type VaultHttpResponse } from './errors.js';
import type { VaultAuthSettings } from './settings.js';

/** Sends one request through the store's transport (retries included). */
export type VaultSend = (method: string, path: string, request: HttpRequest) => Promise<VaultHttpResponse>;

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

/** Renew when this share of the lease has passed. */
const RENEW_AT = 2 / 3;

export class VaultSession {
  readonly #auth: VaultAuthSettings;
  readonly #send: VaultSend;
  readonly #tag: string;
  readonly #log: StoreLogger;
  readonly #scrub: Scrubber;
  #token: string | undefined;
  #expiresAt: number | undefined;
  #lease = 0;
  /** Lease of the last login: a renewal that grants much less means the max TTL is near. */
  #loginLease = 0;
  #renewable = false;
  #nearMaxTtl = false;
  #login: Promise<string> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inspected = false;
  #closed = false;

  constructor(auth: VaultAuthSettings, send: VaultSend, tag: string, log: StoreLogger, scrub: Scrubber) {
    this.#auth = auth;
    this.#send = send;
    this.#tag = tag;
    this.#log = log;
    this.#scrub = scrub;
  }

  /** userpass and approle can log in again; a configured token cannot be replaced. */
  get canLogin(): boolean {
    return this.#auth.method !== 'token';
  }

  #expired(): boolean {
    // A small margin: a token that expires during the request is as good as expired.
    return this.#expiresAt !== undefined && Date.now() >= this.#expiresAt - 1_000;
  }

  /** A usable token, logging in first when needed. */
  async token(): Promise<string> {
    if (this.#token !== undefined && !this.#expired()) return this.#token;
    if (this.#auth.method === 'token') {
      this.#token = this.#auth.token;
      if (!this.#inspected) {
        this.#inspected = true;
        // Learn the TTL in the background to schedule renewals; reads do not wait for it.
        this.inspect().catch((err: unknown) =>
          this.#log.debug(`${this.#tag} token lookup failed`, {
            error: err instanceof Error ? err.message : String(err),
          }),
        );
      }
      return this.#token;
    }
    return this.relogin();
  }

  /** Log in again (single flight: concurrent callers share one login). */
  relogin(): Promise<string> {
    if (!this.canLogin) return Promise.resolve(this.#auth.method === 'token' ? this.#auth.token : '');
    this.#login ??= this.#doLogin().finally(() => {
      this.#login = undefined;
    });
    return this.#login;
  }

  async #doLogin(): Promise<string> {
    const auth = this.#auth;
    let path: string;
    let body: Record<string, string>;
    let who: string;
    let fix: string;
    if (auth.method === 'userpass') {
      path = `auth/${auth.path}/login/${encodeURIComponent(auth.username)}`;
      body = { password: auth.password };
      who = `userpass login as "${auth.username}"`;
      fix = 'check auth.username and auth.password';
    } else if (auth.method === 'approle') {
      path = `auth/${auth.path}/login`;
      body = { role_id: auth.roleId, secret_id: auth.secretId };
      who = 'approle login';
      fix = 'check auth.roleId and auth.secretId (a secret ID can expire or run out of uses)';
    } else {
      return auth.token;
    }
    const res = await this.#send('POST', path, { body });
    const block = (res.body as { auth?: AuthBlock } | undefined)?.auth;
    if (res.status === 200 && typeof block?.client_token === 'string') {
      this.#adopt(block);
      this.#loginLease = this.#lease;
      this.#nearMaxTtl = false;
      return block.client_token;
    }
    const text = errorText(res.body, this.#scrub) || `status ${res.status}`;
    if (res.status === 400 || res.status === 403 || res.status === 401) {
      throw new AccessDeniedError(`${this.#tag} ${who} failed: ${text} (${fix})`);
    }
    throw new StoreUnavailableError(`${this.#tag} ${who} failed: Vault answered ${res.status}: ${text}`);
  }

  #adopt(block: AuthBlock): void {
    if (typeof block.client_token === 'string') this.#token = block.client_token;
    this.#lease = typeof block.lease_duration === 'number' ? block.lease_duration : 0;
    this.#renewable = block.renewable === true;
    this.#expiresAt = this.#lease > 0 ? Date.now() + this.#lease * 1000 : undefined;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed || this.#lease <= 0 || (!this.#renewable && !this.canLogin)) return;
    const delay = Math.max(500, Math.floor(this.#lease * 1000 * RENEW_AT));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#refresh();
    }, delay);
    this.#timer.unref?.();
  }

  /** Renew the token, or log in again when it cannot be renewed any more. */
  async #refresh(): Promise<void> {
    if (this.#closed) return;
    try {
      if (this.canLogin && (!this.#renewable || this.#nearMaxTtl)) {
        await this.relogin();
        return;
      }
      const token = this.#token;
      if (token === undefined) return;
      const res = await this.#send('POST', 'auth/token/renew-self', {
        headers: { 'X-Vault-Token': token },
        body: {},
      });
      const block = (res.body as { auth?: AuthBlock } | undefined)?.auth;
      if (res.status === 200 && block) {
        this.#adopt(block);
        this.#nearMaxTtl = this.#loginLease > 0 && this.#lease < this.#loginLease / 2;
        return;
      }
      const text = errorText(res.body, this.#scrub) || `status ${res.status}`;
      this.#log.warn(
        `${this.#tag} Vault token renewal failed (${text}): ${this.canLogin ? 'logging in again on next use' : 'the token will expire; renew it or configure a new one'}`,
      );
      if (this.canLogin) this.forget();
    } catch (err) {
      this.#log.warn(
        `${this.#tag} Vault token renewal failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      if (this.canLogin) this.forget();
    }
  }

  /** After a 403: is the token itself dead (expired, revoked), rather than lacking a capability? */
  async isDead(): Promise<boolean> {
    if (this.#token === undefined || this.#expired()) return true;
    const res = await this.#send('GET', 'auth/token/lookup-self', {
      headers: { 'X-Vault-Token': this.#token },
    });
    return res.status === 403 || res.status === 401;
  }

  /** Drop the token so the next use logs in. */
  forget(): void {
    if (!this.canLogin) return;
    this.#token = undefined;
    this.#expiresAt = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** `auth/token/lookup-self`: who the token is; for configured tokens, also schedules renewal. */
  async inspect(): Promise<TokenInfo> {
    const token = await this.token();
    const res = await this.#send('GET', 'auth/token/lookup-self', { headers: { 'X-Vault-Token': token } });
    const data = (res.body as { data?: Record<string, unknown> } | undefined)?.data;
    if (res.status !== 200 || !data) {
      const text = errorText(res.body, this.#scrub) || `status ${res.status}`;
      if (res.status === 403 || res.status === 401) {
        throw new AccessDeniedError(
          `${this.#tag} the Vault token is invalid or expired (${text}): ${this.canLogin ? 'check the login settings' : 'set a new auth.token'}`,
        );
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
    if (this.#auth.method === 'token' && this.#token === token && this.#timer === undefined) {
      this.#adopt({ lease_duration: info.ttl, renewable: info.renewable });
    }
    return info;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

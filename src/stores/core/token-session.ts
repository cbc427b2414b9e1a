/**
 * A short-lived access token obtained by logging in, for adapters whose provider hands one out
 * (Vault's userpass and approle logins, Conjur's API key or JWT, Infisical's universal auth):
 * one login at a time however many requests wait for it (single flight), a new login when the
 * token is due, and one new login and one retry when the provider says the token was refused.
 *
 * Two ways to be due: lazily, the first use after `refreshAt` of the lease logs in again
 * (Conjur: 8-minute tokens, a new one after 6); or `background`, where an unref'd timer (it never
 * keeps the process alive) renews or replaces the token at `refreshAt` of its lease, so requests
 * never wait for a login (Vault). A renewal that grants less than half the lease of the login
 * means the provider's maximum lifetime is near: the next refresh logs in instead of renewing.
 *
 * @example
 * const session = new TokenSession({
 *   login: async () => ({ token: await authenticate(), ttlMs: 8 * 60_000 }),
 *   refreshAt: 0.75,
 * });
 * const answer = await session.use(
 *   (token) => http.request('GET', url, { headers: { authorization: `Token token="${token}"` } }),
 *   (answer) => answer.status === 401,
 * );
 */
import { type LongTimeout, setLongTimeout } from '../../timers.js';

/** A token and what the provider said of its life. */
export interface TokenLease<T> {
  token: T;
  /** Lifetime from now in ms; undefined or 0: no known expiry. */
  ttlMs?: number | undefined;
  /** Whether `renew` can extend this token. */
  renewable?: boolean | undefined;
}

export interface TokenSessionOptions<T> {
  /** Get a token: log in, or hand back a configured one (then set `relogin: false`). */
  login(): Promise<TokenLease<T>>;
  /**
   * false when `login` only hands back a configured token: the session renews it but never logs
   * in again to replace it, and `forget` keeps it. Default true.
   */
  relogin?: boolean | undefined;
  /** Extend the lease of a renewable token (background refresh only). */
  renew?: ((token: T) => Promise<TokenLease<T>>) | undefined;
  /** The share of the lease after which the token is refreshed. Default 2/3. */
  refreshAt?: number | undefined;
  /** Refresh ahead on a timer rather than at the first use after `refreshAt`. */
  background?: boolean | undefined;
  /** A background refresh failed; the token is then forgotten (when the session can log in again). */
  onRefreshError?: ((err: unknown) => void) | undefined;
}

/** A token that expires during the request is as good as expired. */
const EXPIRY_MARGIN_MS = 1_000;

export class TokenSession<T> {
  readonly #options: TokenSessionOptions<T>;
  readonly #refreshAt: number;
  #lease: TokenLease<T> | undefined;
  /** When the current token stops being handed out without a login. */
  #staleAt = Number.POSITIVE_INFINITY;
  /** Lease of the last login: a renewal that grants much less means the maximum lifetime is near. */
  #loginTtl = 0;
  #nearEnd = false;
  #pending: Promise<T> | undefined;
  #timer: LongTimeout | undefined;
  #closed = false;

  constructor(options: TokenSessionOptions<T>) {
    this.#options = options;
    this.#refreshAt = options.refreshAt ?? 2 / 3;
  }

  /** Whether a login can replace the token (false for a configured token). */
  get canLogin(): boolean {
    return this.#options.relogin !== false;
  }

  /** The token held, when it is not due; no login. */
  get current(): T | undefined {
    return this.#lease !== undefined && Date.now() < this.#staleAt ? this.#lease.token : undefined;
  }

  /** A usable token, logging in first when none is held or it is due. */
  token(): Promise<T> {
    const current = this.current;
    return current !== undefined ? Promise.resolve(current) : this.#login();
  }

  /**
   * `send` with a token; when `refused(answer)` says the token itself was refused, one new login
   * and one more `send`. `refused` is asked even when the session cannot log in again, so it may
   * throw its own error for a configured token that is dead.
   */
  async use<A>(
    send: (token: T) => Promise<A>,
    refused: (answer: A) => boolean | Promise<boolean>,
  ): Promise<A> {
    const answer = await send(await this.token());
    if (!(await refused(answer)) || !this.canLogin) return answer;
    this.forget();
    return send(await this.token());
  }

  /**
   * The lease of a token learnt after the fact (a configured token's TTL, looked up): adopted
   * when it is still the token held and no refresh is scheduled yet.
   */
  learn(lease: TokenLease<T>): void {
    if (this.#lease?.token === lease.token && this.#timer === undefined) this.#adopt(lease);
  }

  /** Drop the token so the next use logs in (kept when the session cannot log in again). */
  forget(): void {
    if (!this.canLogin) return;
    this.#lease = undefined;
    this.#clearTimer();
  }

  /** Stop refreshing: no timer is left behind. */
  close(): void {
    this.#closed = true;
    this.#clearTimer();
  }

  #login(): Promise<T> {
    this.#pending ??= this.#options
      .login()
      .then((lease) => {
        this.#adopt(lease);
        this.#loginTtl = lease.ttlMs ?? 0;
        this.#nearEnd = false;
        return lease.token;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  #adopt(lease: TokenLease<T>): void {
    this.#lease = lease;
    const ttl = lease.ttlMs ?? 0;
    const due = this.#options.background ? ttl - EXPIRY_MARGIN_MS : ttl * this.#refreshAt;
    this.#staleAt = ttl > 0 ? Date.now() + due : Number.POSITIVE_INFINITY;
    this.#clearTimer();
    if (!this.#options.background || this.#closed || ttl <= 0) return;
    if (!lease.renewable && !this.canLogin) return;
    // A lease of a year (Vault) is due in months: past Node's timer bound, so set in steps.
    this.#timer = setLongTimeout(
      () => {
        this.#timer = undefined;
        void this.#refresh();
      },
      Math.max(500, Math.floor(ttl * this.#refreshAt)),
      { unref: true },
    );
  }

  /** Renew the token, or log in again when it cannot be renewed (any more). */
  async #refresh(): Promise<void> {
    if (this.#closed) return;
    const { renew } = this.#options;
    try {
      if (this.canLogin && (!renew || !this.#lease?.renewable || this.#nearEnd)) {
        await this.#login();
        return;
      }
      if (!this.#lease || !renew) return;
      const renewed = await renew(this.#lease.token);
      this.#adopt(renewed);
      this.#nearEnd = this.#loginTtl > 0 && (renewed.ttlMs ?? 0) < this.#loginTtl / 2;
    } catch (err) {
      this.#options.onRefreshError?.(err);
      this.forget();
    }
  }

  #clearTimer(): void {
    this.#timer?.clear();
    this.#timer = undefined;
  }
}

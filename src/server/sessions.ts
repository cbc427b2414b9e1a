/**
 * Browser sessions for the admin UI. A bearer token is exchanged once (`POST /api/v1/session`)
 * for a random session id in an HttpOnly, SameSite=Strict cookie; the token itself stays in the
 * server's memory, so no page script can read it. Every request made with the cookie is
 * authenticated with that token again (a revoked or expired token ends the session at once),
 * and every state change must carry the session's CSRF token in `X-Sesame-CSRF`.
 *
 * Sessions live in this process's memory: a restart signs everyone out (they sign in again with
 * their token). They end on sign out, after `idleTimeout` without a request, or `maxAge` after
 * sign in, whichever comes first.
 */
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../sha256.js';
import { sameSecret } from './auth.js';

export const SESSION_COOKIE = 'sesame_session';
export const CSRF_HEADER = 'x-sesame-csrf';

export interface SessionSettings {
  /** Milliseconds without a request after which a session ends (default 30 minutes). */
  idleTimeoutMs: number;
  /** Milliseconds after sign in after which a session ends whatever happens (default 12 hours). */
  maxAgeMs: number;
}

export const DEFAULT_SESSION: SessionSettings = { idleTimeoutMs: 30 * 60_000, maxAgeMs: 12 * 3600_000 };

interface Session {
  /** The bearer token the session was opened with (memory only). */
  token: string;
  csrf: string;
  createdAt: number;
  lastSeen: number;
}

export interface OpenedSession {
  /** The cookie's value (only its sha256 is kept). */
  id: string;
  csrf: string;
  expiresAt: number;
}

/** At most this many sessions; the least recently used goes first past it. */
const MAX_SESSIONS = 10_000;

export class SessionStore {
  readonly #sessions = new Map<string, Session>();

  constructor(
    private readonly settings: SessionSettings = DEFAULT_SESSION,
    private readonly now: () => number = Date.now,
  ) {}

  open(token: string): OpenedSession {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const at = this.now();
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    this.#sessions.set(sha256Hex(id), { token, csrf, createdAt: at, lastSeen: at });
    return { id, csrf, expiresAt: this.#expiry({ createdAt: at, lastSeen: at }) };
  }

  #expiry(s: Pick<Session, 'createdAt' | 'lastSeen'>): number {
    return Math.min(s.createdAt + this.settings.maxAgeMs, s.lastSeen + this.settings.idleTimeoutMs);
  }

  /** The live session of a cookie value (its use counts as activity), or undefined. */
  get(id: string): { token: string; csrf: string; expiresAt: number } | undefined {
    const key = sha256Hex(id);
    const s = this.#sessions.get(key);
    if (!s) return undefined;
    const at = this.now();
    if (at >= this.#expiry(s)) {
      this.#sessions.delete(key);
      return undefined;
    }
    s.lastSeen = at;
    // Most recently used last, so the eviction above drops the least recently used.
    this.#sessions.delete(key);
    this.#sessions.set(key, s);
    return { token: s.token, csrf: s.csrf, expiresAt: this.#expiry(s) };
  }

  /** True when `presented` is the session's CSRF token (constant time). */
  static csrfMatches(session: { csrf: string }, presented: string | undefined): boolean {
    return typeof presented === 'string' && presented !== '' && sameSecret(presented, session.csrf);
  }

  close(id: string): boolean {
    return this.#sessions.delete(sha256Hex(id));
  }

  /** End every session opened with `token` (e.g. when it is revoked through the API). */
  closeToken(token: string): void {
    for (const [key, s] of this.#sessions) if (s.token === token) this.#sessions.delete(key);
  }

  get size(): number {
    return this.#sessions.size;
  }
}

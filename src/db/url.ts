/**
 * Database URLs in config: `sqlite:./path.db` (relative to the config's directory),
 * `sqlite:/abs/path.db`, `sqlite::memory:`, `postgres://…` or `postgresql://…`.
 */
import path from 'node:path';
import { ConfigError } from '../errors.js';

export type DatabaseKind = 'sqlite' | 'postgres';

export type DatabaseLocation =
  | { kind: 'sqlite'; /** Absolute file path, or `:memory:`. */ file: string }
  | {
      kind: 'postgres';
      connectionString: string;
      /** Connecting, or waiting for a pooled connection: the URL's `connect_timeout` (seconds), else 5 s. */
      connectTimeoutMs: number;
      /**
       * A statement unanswered this long takes its connection for dead: the URL's
       * `statement_timeout` (ms, also the server's own limit) plus 5 s, else 10 s.
       */
      statementTimeoutMs: number;
    };

/** How long connecting to PostgreSQL may take when the URL has no `connect_timeout`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** How long a statement may go unanswered when the URL has no `statement_timeout`. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;
/** Past the server's own `statement_timeout`, how long Sesame waits for its answer (the cancel). */
const STATEMENT_TIMEOUT_GRACE_MS = 5_000;

/**
 * The time limits a PostgreSQL URL sets, with libpq's parameter names: `connect_timeout` (whole
 * seconds) and `statement_timeout` (milliseconds; the driver also sends it to the server, which
 * cancels longer statements itself). Sesame always bounds both: a 0 ("wait for ever" in libpq)
 * is refused for connect_timeout, and with statement_timeout=0 the 10 s default stays.
 */
function postgresTimeouts(url: URL): { connectTimeoutMs: number; statementTimeoutMs: number } {
  const whole = (name: string, max: number): number | undefined => {
    const raw = url.searchParams.get(name);
    if (raw === null) return undefined;
    if (!/^\d+$/.test(raw) || Number(raw) > max)
      throw new ConfigError(`${name}=${raw} in the database URL is not a whole number from 0 to ${max}`, {
        path: 'database',
        hint: name === 'connect_timeout' ? 'seconds, e.g. connect_timeout=10' : 'milliseconds, e.g. statement_timeout=30000',
      });
    return Number(raw);
  };
  const connect = whole('connect_timeout', 600);
  if (connect === 0)
    throw new ConfigError('connect_timeout=0 in the database URL would wait for ever; Sesame always bounds connecting', {
      path: 'database',
      hint: 'give seconds, e.g. connect_timeout=10, or leave it out for 5 s',
    });
  const statement = whole('statement_timeout', 3_600_000);
  return {
    connectTimeoutMs: connect === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : connect * 1000,
    statementTimeoutMs:
      statement === undefined || statement === 0 ? DEFAULT_STATEMENT_TIMEOUT_MS : statement + STATEMENT_TIMEOUT_GRACE_MS,
  };
}

/**
 * Parse a database URL. Relative SQLite paths are resolved against `baseDir`.
 *
 * @example
 * parseDatabaseUrl('sqlite:./.sesame/sesame.db', '/srv/sesame') // { kind: 'sqlite', file: '/srv/sesame/.sesame/sesame.db' }
 */
export function parseDatabaseUrl(url: string, baseDir: string = process.cwd()): DatabaseLocation {
  if (url.startsWith('sqlite:')) {
    const rest = url.slice('sqlite:'.length);
    if (rest === ':memory:') return { kind: 'sqlite', file: ':memory:' };
    if (rest.length === 0) {
      throw new ConfigError('"sqlite:" needs a file path', {
        path: 'database',
        hint: 'e.g. sqlite:./.sesame/sesame.db or sqlite::memory:',
      });
    }
    return { kind: 'sqlite', file: path.resolve(baseDir, rest) };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (cause) {
      throw new ConfigError(`"${redactDatabaseUrl(url)}" is not a valid PostgreSQL URL`, {
        path: 'database',
        hint: 'e.g. postgres://user:password@host:5432/db',
        cause,
      });
    }
    return { kind: 'postgres', connectionString: url, ...postgresTimeouts(parsed) };
  }
  throw new ConfigError(`unsupported database "${redactDatabaseUrl(url)}"`, {
    path: 'database',
    hint: 'use sqlite:<path>, sqlite::memory: or postgres://user@host:5432/db',
  });
}

/** The URL with any password replaced, safe for messages and logs. */
export function redactDatabaseUrl(url: string): string {
  // Not parsed with `new URL` so a malformed URL is still redacted.
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/**
 * The secrets a PostgreSQL URL carries (the password, as written and decoded; `password` and
 * `sslpassword` query parameters), to remove from any text that might repeat them. Empty for
 * SQLite and for URLs that carry none (PGPASSWORD, a .pgpass file).
 */
export function databaseUrlSecrets(url: string): string[] {
  const found = new Set<string>();
  const add = (raw: string) => {
    if (raw.length === 0) return;
    found.add(raw);
    try {
      found.add(decodeURIComponent(raw));
    } catch {
      // Not valid percent-encoding: the raw form is what a message would repeat.
    }
  };
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(url)?.[1];
  if (userinfo !== undefined && userinfo.includes(':')) add(userinfo.slice(userinfo.indexOf(':') + 1));
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1).split('#')[0] ?? '' : '';
  for (const pair of query.split('&')) {
    const [key, value] = pair.split('=', 2);
    if (value !== undefined && /^(ssl)?password$/i.test(key ?? '')) add(value);
  }
  return [...found].sort((a, b) => b.length - a.length);
}

/** `text` with every secret of `secrets` (from {@link databaseUrlSecrets}) replaced by `***`. */
export function withoutDatabaseSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

/** The connection types Sesame ships: generic, http and postgres. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { z } from 'zod';
import { createPgClient } from '../db/pg-client.js';
import { ForbiddenError } from '../errors.js';
import {
  type AuthenticateOptions,
  type AuthenticationResult,
  type ConnectionType,
  ConnectionTypeRegistry,
} from './types.js';

const generic = {
  type: 'generic',
  description: 'any fields; nothing to authenticate against',
  fields: z.record(z.string(), z.unknown()),
  secretFields: [],
} satisfies ConnectionType<Record<string, unknown>>;

const httpAuth = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('none') }),
  z.strictObject({ method: z.literal('bearer'), token: z.string().min(1) }),
  z.strictObject({ method: z.literal('basic'), username: z.string(), password: z.string() }),
  z.strictObject({ method: z.literal('header'), name: z.string().min(1), value: z.string() }),
  z.strictObject({ method: z.literal('api-key'), param: z.string().min(1), value: z.string() }),
]);

const httpFields = z
  .strictObject({
    baseUrl: z.url({
      protocol: /^https?$/,
      error: 'baseUrl is an http(s) URL, e.g. https://jira.example.com',
    }),
    /** Shorthand for `auth: { method: bearer, token }` (PRODUCT.md's example connection is written this way). */
    token: z.string().min(1).optional(),
    auth: httpAuth.default({ method: 'none' }),
    headers: z.record(z.string(), z.string()).default({}),
    /** The request `connections test` makes to prove the credentials work. */
    test: z
      .strictObject({
        method: z.enum(['GET', 'HEAD', 'POST']).default('GET'),
        path: z.string().startsWith('/').default('/'),
        expectStatus: z.number().int().min(100).max(599).default(200),
      })
      .optional(),
  })
  .superRefine((f, ctx) => {
    if (f.token !== undefined && f.auth.method !== 'none') {
      ctx.addIssue({
        code: 'custom',
        path: ['auth'],
        message: 'give either token (bearer) or auth, not both',
      });
    }
  });
export type HttpConnectionFields = z.infer<typeof httpFields>;

/**
 * One request with `node:http`/`node:https` rather than `fetch`: they take a `lookup`, so the
 * outbound policy checks the very address the request connects to.
 */
function request(
  url: URL,
  options: {
    method: string;
    headers: Record<string, string>;
    timeoutMs: number;
    signal: AbortSignal;
    lookup?: LookupFunction | undefined;
  },
): Promise<number> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, {
      method: options.method,
      headers: options.headers,
      timeout: options.timeoutMs,
      signal: options.signal,
      ...(options.lookup ? { lookup: options.lookup } : {}),
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.end();
  });
}

async function authenticateHttp(
  f: HttpConnectionFields,
  { timeoutMs, signal, lookup }: AuthenticateOptions,
): Promise<AuthenticationResult> {
  const test = f.test ?? { method: 'GET' as const, path: '/', expectStatus: 200 };
  const url = new URL(f.baseUrl.replace(/\/+$/, '') + test.path);
  const headers: Record<string, string> = { ...f.headers };
  const auth = f.token === undefined ? f.auth : { method: 'bearer' as const, token: f.token };
  if (auth.method === 'bearer') headers.authorization = `Bearer ${auth.token}`;
  else if (auth.method === 'basic') {
    headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  } else if (auth.method === 'header') headers[auth.name] = auth.value;
  else if (auth.method === 'api-key') url.searchParams.set(auth.param, auth.value);
  const shown = `${test.method} ${url.origin}${url.pathname}`;
  let status: number;
  try {
    status = await request(url, { method: test.method, headers, timeoutMs, signal, lookup });
  } catch (err) {
    // The outbound policy's refusal says what to do; other errors are named by their code only.
    if (err instanceof ForbiddenError) throw err;
    const cause = (err as { code?: string }).code ?? (err as Error).name;
    return { ok: false, detail: `${shown} failed: ${cause} (is ${url.origin} reachable from here?)` };
  }
  if (status === test.expectStatus) return { ok: true, detail: `${shown} answered ${status}` };
  const authFailure = status === 401 || status === 403;
  return {
    ok: false,
    authFailure,
    detail: `${shown} answered ${status}, expected ${test.expectStatus}${authFailure ? ': the target refused the credentials' : ''}`,
  };
}

const http = {
  type: 'http',
  description:
    'an HTTP API: baseUrl, token (bearer) or auth (bearer | basic | header | api-key), optional test request',
  fields: httpFields,
  // Header values: where an API key goes under any name (Ocp-Apim-Subscription-Key, X-Auth-Key…).
  secretFields: ['token', 'auth.token', 'auth.password', 'auth.value', 'headers'],
  authenticate: authenticateHttp,
  destinations: (f: HttpConnectionFields) => [{ field: 'baseUrl', address: f.baseUrl }],
} satisfies ConnectionType<HttpConnectionFields>;

const port = z.coerce.number().int().min(1).max(65535);
const postgresFields = z.union([
  z.strictObject({
    url: z.string().regex(/^postgres(ql)?:\/\//, 'url is postgres://user:password@host:port/database'),
  }),
  z.strictObject({
    host: z.string().min(1),
    port: port.default(5432),
    database: z.string().min(1),
    user: z.string().min(1),
    password: z.string(),
    ssl: z.union([z.boolean(), z.enum(['disable', 'require', 'verify-full'])]).default(false),
  }),
]);
export type PostgresConnectionFields = z.infer<typeof postgresFields>;

/** PostgreSQL error codes that mean "these credentials are wrong" (28P01 bad password, 28000 no such role/hba). */
const PG_AUTH_CODES = new Set(['28P01', '28000']);

/** Where a postgres connection connects: `host:port`. */
function postgresAddress(f: PostgresConnectionFields): { field: string; address: string; host: string } {
  if ('url' in f) {
    let host = '';
    let port = '5432';
    try {
      const u = new URL(f.url);
      host = u.hostname;
      port = u.port || '5432';
    } catch {
      // Left empty: the outbound policy refuses an address without a host.
    }
    return { field: 'url', address: `${host}:${port}`, host: host.replace(/^\[|\]$/g, '') };
  }
  return {
    field: 'host',
    address: `${f.host.includes(':') ? `[${f.host}]` : f.host}:${f.port}`,
    host: f.host,
  };
}

/** Resolve `host` through the outbound policy's lookup: the address it approved is the one connected to. */
function lookedUp(lookup: LookupFunction, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    lookup(host, {}, (err, address) => (err ? reject(err) : resolve(String(address))));
  });
}

async function authenticatePostgres(
  f: PostgresConnectionFields,
  { timeoutMs, signal, lookup }: AuthenticateOptions,
): Promise<AuthenticationResult> {
  // pg has no lookup option: with a policy, connect to the address it approved (TLS still checks the name).
  const target = postgresAddress(f);
  const address =
    lookup && target.host !== '' && isIP(target.host) === 0 ? await lookedUp(lookup, target.host) : undefined;
  const ssl = (mode: boolean | 'disable' | 'require' | 'verify-full') =>
    mode === true || mode === 'require'
      ? { rejectUnauthorized: false, ...(address ? { servername: target.host } : {}) }
      : mode === 'verify-full'
        ? { ...(address ? { servername: target.host } : {}) }
        : false;
  let config: import('pg').ClientConfig;
  if ('url' in f) {
    let connectionString = f.url;
    if (address) {
      const u = new URL(f.url);
      u.hostname = address.includes(':') ? `[${address}]` : address;
      connectionString = u.toString();
    }
    config = { connectionString };
  } else {
    config = {
      host: address ?? f.host,
      port: f.port,
      database: f.database,
      user: f.user,
      password: f.password,
      ssl: ssl(f.ssl),
    };
  }
  // A target that closes or resets the connection during `select 1` fails the query, and
  // the driver also emits 'error': createPgClient listens, so the step fails, not the process.
  const client = await createPgClient({ ...config, connectionTimeoutMillis: timeoutMs });
  // Out of time (the test has failed already): close the connection, whatever it waits for.
  signal.addEventListener('abort', () => void client.end().catch(() => {}), { once: true });
  const where = 'url' in f ? 'the database in url' : `${f.user}@${f.host}:${f.port}/${f.database}`;
  try {
    await client.connect();
    await client.query('select 1');
    return { ok: true, detail: `connected to ${where} and ran select 1` };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const authFailure = e.code !== undefined && PG_AUTH_CODES.has(e.code);
    // Driver messages name the user and database, never the password.
    return {
      ok: false,
      authFailure,
      detail: `connecting to ${where} failed: ${e.code ? `${e.code} ` : ''}${e.message ?? String(err)}`,
    };
  } finally {
    await client.end().catch(() => {});
  }
}

const postgres = {
  type: 'postgres',
  description: 'a PostgreSQL database: host, port, database, user, password, ssl — or one url',
  fields: postgresFields,
  secretFields: ['password', 'url'],
  authenticate: authenticatePostgres,
  destinations: (f: PostgresConnectionFields) => {
    const { field, address } = postgresAddress(f);
    return [{ field, address }];
  },
} satisfies ConnectionType<PostgresConnectionFields>;

export function defaultConnectionTypes(): ConnectionTypeRegistry {
  return new ConnectionTypeRegistry()
    .register(generic)
    .register(http as ConnectionType<HttpConnectionFields>)
    .register(postgres as ConnectionType<PostgresConnectionFields>);
}

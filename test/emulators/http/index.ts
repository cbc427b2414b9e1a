/**
 * A custom HTTP secret store for the `http` store type's tests: in-memory secrets behind
 *
 * - `GET /v1/secrets/{name}?version=` → `{"data": {"value": "...", "version": "2"}}` (JSON mode)
 * - `GET /raw/{name}` → the value as `text/plain`
 * - `POST /lookup` with `{"name", "version"?}` → the JSON mode answer
 * - `GET /v1/names?prefix=` → `{"names": [...]}`; `GET /v1/names.json` → `[...]`
 *
 * with bearer or basic authentication, and faults to inject: deny (403), throttle (429 with
 * `Retry-After`), 5xx, slow answers, a JSON answer without the value, a non-JSON answer.
 * `{name}` arrives URL-encoded; `%2F` and plain `/` both mean a slash in the name.
 */
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type FaultControls, Faults } from '../faults.js';

const fixture = (file: string) =>
  readFileSync(fileURLToPath(new URL(`../azure/fixtures/${file}`, import.meta.url)), 'utf8');

export interface HttpStoreEmulatorControls {
  /** Require `Authorization: Bearer <token>`, or basic credentials, or nothing. */
  requireAuth(auth: { bearer: string } | { username: string; password: string } | undefined): void;
  /** Add a version of a secret; returns its version number. */
  seed(name: string, value: string): number;
  /** Answer 403 to reads. */
  deny(on: boolean): void;
  /** Answer the next `times` requests with 429 and `Retry-After`. */
  throttle(times: number, retryAfterSeconds?: number): void;
  /** Answer the next `times` requests with this status (5xx). */
  fail(times: number, status?: number): void;
  /** Delay every answer by this many ms. */
  slow(ms: number): void;
  /** JSON answers: `ok`, `no-value` (`{"data": {}}`), or `not-json` (an HTML error page). */
  shape(shape: 'ok' | 'no-value' | 'not-json'): void;
  /** Requests seen by path kind (`read`, `raw`, `lookup`, `names`) and `unauthorized`. */
  readonly calls: Record<string, number>;
  /** Authorization headers received, to check what was sent. */
  readonly authorizations: string[];
  /** Custom headers received (lowercased name → values). */
  readonly headers: Record<string, string[]>;
  reset(): void;
}

export interface HttpStoreEmulator {
  url: string;
  /** Present when started with `tls: true`: the PEM to trust. */
  ca?: string | undefined;
  controls: HttpStoreEmulatorControls;
  /** Faults for authorized requests: 403, 503, 429 (Retry-After: 0) or a delay. */
  faults: FaultControls;
  stop(): Promise<void>;
}

export async function startHttpStoreEmulator(options: { tls?: boolean } = {}): Promise<HttpStoreEmulator> {
  const faultPlan = new Faults();
  const secrets = new Map<string, string[]>();
  const calls: Record<string, number> = {};
  const authorizations: string[] = [];
  const seenHeaders: Record<string, string[]> = {};
  let expected: { bearer: string } | { username: string; password: string } | undefined;
  let denied = false;
  let throttleLeft = 0;
  let throttleSeconds = 1;
  let failLeft = 0;
  let failStatus = 503;
  let delayMs = 0;
  let shape: 'ok' | 'no-value' | 'not-json' = 'ok';

  const count = (kind: string) => {
    calls[kind] = (calls[kind] ?? 0) + 1;
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const authorized = (req: IncomingMessage): boolean => {
    const header = req.headers.authorization;
    if (header) authorizations.push(header);
    if (!expected) return true;
    if ('bearer' in expected) return header === `Bearer ${expected.bearer}`;
    return header === `Basic ${Buffer.from(`${expected.username}:${expected.password}`).toString('base64')}`;
  };

  const answerFor = (res: ServerResponse, name: string, version: string | null | undefined) => {
    const versions = secrets.get(name);
    const index = version ? Number(version) - 1 : (versions?.length ?? 0) - 1;
    const value = versions?.[index];
    if (value === undefined) {
      json(res, 404, {
        error: 'not_found',
        message: `no secret ${name}${version ? ` version ${version}` : ''}`,
      });
      return;
    }
    if (shape === 'not-json') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<html><body>gateway page mentioning ${value}</body></html>`);
      return;
    }
    json(
      res,
      200,
      shape === 'no-value'
        ? { data: { version: String(index + 1) } }
        : { data: { value, version: String(index + 1) } },
    );
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    for (const [k, v] of Object.entries(req.headers)) {
      if (k.startsWith('x-')) seenHeaders[k] = [...(seenHeaders[k] ?? []), String(v)];
    }
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (!authorized(req)) {
      count('unauthorized');
      json(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer realm="secrets"' });
      return;
    }
    const injected = await faultPlan.next();
    if (injected) {
      const [status, headers] =
        injected === 'denied'
          ? [403, {}]
          : injected === 'throttled'
            ? [429, { 'retry-after': '0' }]
            : [503, {}];
      json(res, status as number, { error: injected }, headers as Record<string, string>);
      return;
    }
    if (throttleLeft > 0) {
      throttleLeft -= 1;
      count('throttled');
      json(res, 429, { error: 'slow down' }, { 'retry-after': String(throttleSeconds) });
      return;
    }
    if (failLeft > 0) {
      failLeft -= 1;
      count('failed');
      json(res, failStatus, { error: 'unavailable' });
      return;
    }
    if (req.method === 'GET' && (url.pathname === '/v1/names' || url.pathname === '/v1/names.json')) {
      count('names');
      const prefix = url.searchParams.get('prefix') ?? '';
      const names = [...secrets.keys()].filter((n) => n.startsWith(prefix)).sort();
      json(res, 200, url.pathname.endsWith('.json') ? names : { names });
      return;
    }
    if (denied) {
      count('denied');
      json(res, 403, { error: 'forbidden' });
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/v1/secrets/')) {
      count('read');
      answerFor(
        res,
        decodeURIComponent(url.pathname.slice('/v1/secrets/'.length)),
        url.searchParams.get('version'),
      );
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/raw/')) {
      count('raw');
      const versions = secrets.get(decodeURIComponent(url.pathname.slice('/raw/'.length)));
      const value = versions?.at(-1);
      if (value === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(value);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/lookup') {
      count('lookup');
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { name?: string; version?: string };
      answerFor(res, body.name ?? '', body.version);
      return;
    }
    if (url.pathname === '/redirect') {
      res.writeHead(302, { location: '/v1/names' });
      res.end();
      return;
    }
    json(res, 404, { error: 'no route' });
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => json(res, 500, { error: String(err) }));
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: fixture('tls-cert.pem'), key: fixture('tls-key.pem') }, listener)
    : createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;

  const controls: HttpStoreEmulatorControls = {
    requireAuth(auth) {
      expected = auth;
    },
    seed(name, value) {
      const versions = secrets.get(name) ?? [];
      versions.push(value);
      secrets.set(name, versions);
      return versions.length;
    },
    deny(on) {
      denied = on;
    },
    throttle(times, retryAfterSeconds = 1) {
      throttleLeft = times;
      throttleSeconds = retryAfterSeconds;
    },
    fail(times, status = 503) {
      failLeft = times;
      failStatus = status;
    },
    slow(ms) {
      delayMs = ms;
    },
    shape(next) {
      shape = next;
    },
    calls,
    authorizations,
    headers: seenHeaders,
    reset() {
      denied = false;
      throttleLeft = 0;
      failLeft = 0;
      delayMs = 0;
      shape = 'ok';
      for (const k of Object.keys(calls)) delete calls[k];
      authorizations.length = 0;
      for (const k of Object.keys(seenHeaders)) delete seenHeaders[k];
    },
  };

  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    ca: options.tls ? fixture('tls-cert.pem') : undefined,
    controls,
    faults: faultPlan,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/**
 * A real server on 127.0.0.1 port 0 over a fresh SQLite database (or a PostgreSQL URL), with
 * its log lines, response bodies and metrics captured so a test can scan everything it wrote.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { ConfigFile } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { Redactor } from '../../src/redact/redactor.js';
import { createServer, type ServerOptions, type SesameServer } from '../../src/server/app.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { createSesame, type Sesame } from '../../src/sesame.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import type { Role, TokenInfo } from '../../src/tokens/index.js';
import { type MemoryBackend, memoryBackend, memoryStoreType } from '../support/memory-store.js';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are inspected field by field
  body: any;
}

export interface CallOptions {
  token?: string | undefined;
  body?: unknown;
  /** Raw body text (sent as JSON). */
  raw?: string;
  headers?: Record<string, string>;
}

export interface TestServer {
  url: string;
  dir: string;
  server: SesameServer;
  sesame: Sesame;
  metrics: ServerMetrics;
  /** `mem` store backend (type memory, secret setting `token`). */
  memory: MemoryBackend;
  /** Every log line the server wrote. */
  logs: string[];
  /** Every response the helper received. */
  bodies: Array<{ status: number; text: string }>;
  call(method: string, path: string, options?: CallOptions): Promise<Reply>;
  token(role: Role, options?: { namespace?: string; reveal?: boolean; expiresAt?: string }): Promise<{ token: string; info: TokenInfo }>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  config?: ConfigFile;
  dir?: string;
  now?: () => number;
  rateLimit?: ServerOptions['rateLimit'];
  bodyLimit?: number;
  mode?: 'api' | 'agent';
  agent?: ServerOptions['agent'];
  /** Reuse a memory backend (a restarted server over the same data). */
  memory?: MemoryBackend;
  /** Directory of a built admin UI to serve (default: dist/web when it is built). */
  webRoot?: string;
  /** How the outbound policy resolves host names (a fixed table in tests; default: the system resolver). */
  resolveHost?: (host: string) => Promise<string[]>;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'sesame-server-'));
  const logs: string[] = [];
  const bodies: Array<{ status: number; text: string }> = [];
  const memory = options.memory ?? memoryBackend();
  const registry = defaultStoreTypes().register(memoryStoreType({ mem: memory }));
  const metrics = new ServerMetrics({ defaultMetrics: false });
  // A redactor of its own that knows no value: the captured lines show what the server tried to
  // log, before the process redactor would have masked it.
  const logger = createLogger({
    level: 'info',
    redactor: new Redactor(),
    destination: { write: (line: string) => logs.push(line) },
  });
  const sesame = createSesame(
    { database: 'sqlite:./sesame.db', ...options.config },
    {
      baseDir: dir,
      registry,
      logger,
      observer: metrics.observer,
      now: options.now,
      ...(options.resolveHost ? { resolveHost: options.resolveHost } : {}),
    },
  );
  const server = await createServer({
    sesame,
    metrics,
    now: options.now,
    // Off unless asked for (tests with a frozen clock would never refill); `undefined`: the config's.
    rateLimit: 'rateLimit' in options ? options.rateLimit : false,
    bodyLimit: options.bodyLimit,
    mode: options.mode,
    agent: options.agent,
    webRoot: options.webRoot,
  });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    dir,
    server,
    sesame,
    metrics,
    memory,
    logs,
    bodies,
    async call(method, p, call = {}) {
      const headers: Record<string, string> = { ...call.headers };
      if (call.token !== undefined) headers['authorization'] = `Bearer ${call.token}`;
      let body: string | undefined;
      if (call.raw !== undefined || call.body !== undefined) {
        headers['content-type'] ??= 'application/json';
        body = call.raw ?? JSON.stringify(call.body);
      }
      const response = await fetch(`${url}${p}`, { method, headers, body });
      const text = await response.text();
      bodies.push({ status: response.status, text });
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: response.status, headers: response.headers, text, body: parsed };
    },
    token(role, t = {}) {
      return server.services.tokens.create({
        role,
        namespace: t.namespace ?? '',
        reveal: t.reveal ?? false,
        expiresAt: t.expiresAt,
        createdBy: 'test',
      });
    },
    async close() {
      await server.close();
      await sesame.close();
    },
  };
}

/**
 * For a test file about one store type configured through the API: a server started before
 * its tests and closed after them, with namespace `acme` and an operator token (not a root
 * admin). `create(name, settings)` posts a store of `type` in `acme` as that operator.
 *
 * @example
 * const { create } = operatorCreatesStores('doppler');
 * it('masks the token', async () => expect((await create('dp', settings)).status).toBe(201));
 */
export function operatorCreatesStores(type: string): {
  create(name: string, settings: Record<string, unknown>): Promise<Reply>;
} {
  let t: TestServer | undefined;
  let operator = '';
  beforeAll(async () => {
    t = await startTestServer();
    const root = (await t.token('admin')).token;
    expect((await t.call('POST', '/api/v1/namespaces', { token: root, body: { name: 'acme' } })).status).toBe(201);
    operator = (await t.token('operator')).token;
  });
  afterAll(async () => {
    await t?.close();
  });
  return {
    create: (name, settings) => {
      if (t === undefined) throw new Error('the test server is not started (create() runs inside a test)');
      return t.call('POST', '/api/v1/stores', {
        token: operator,
        body: { name, namespace: 'acme', type, settings },
      });
    },
  };
}

/**
 * The HTTP server of `sesame serve` (Fastify): the API under /api/v1, or in agent mode only
 * resolve and refresh for the host's own workloads.
 *
 * Every request: authenticate (bearer token checked against the database, so revocation is
 * effective on the next request; or the agent token), rate limit per token, check the route's
 * roles, validate the input with the route's zod schemas, run the handler (which checks each
 * namespace it acts in and records what it did in the audit trail), and answer JSON. Errors are
 * `{ error: { code, message } }`; logs are pino through the redactor.
 *
 * `createServer` opens the services and assembles the server from plugins, each one concern:
 * `plugins/rate-limit.ts`, `plugins/audit.ts`, `plugins/auth.ts`, `plugins/web.ts` (admin UI),
 * `plugins/errors.ts`, `plugins/metrics.ts`, `plugins/routes.ts` (the API), and the API
 * reference (`routes/docs.ts`).
 */
import { parseCookie } from 'cookie';
import {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  fastify,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { AuditLog } from '../audit/index.js';
import type { Sesame } from '../sesame.js';
import { TokenService } from '../tokens/index.js';
import { startChangeListener } from './cluster.js';
import { ServerMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { AuditRecorder, openSpool, outageGraceOf } from './outage.js';
import { auditPlugin } from './plugins/audit.js';
import { authPlugin } from './plugins/auth.js';
import { errorsPlugin } from './plugins/errors.js';
import { metricsPlugin } from './plugins/metrics.js';
import { rateLimitPlugin } from './plugins/rate-limit.js';
import { routesPlugin } from './plugins/routes.js';
import type { Lifecycle } from './plugins/state.js';
import { UI_HEADERS, webPlugin } from './plugins/web.js';
import { DEFAULT_RATE_LIMIT, type RateLimit } from './rate-limit.js';
import type { AnyRoute } from './route.js';
import { configRoutes } from './routes/config.js';
import { apiDocs } from './routes/docs.js';
import { resolveRoutes } from './routes/resolve.js';
import { secretRoutes } from './routes/secrets.js';
import { sessionRoutes } from './routes/session.js';
import { systemRoutes } from './routes/system.js';
import { tokenRoutes } from './routes/tokens.js';
import { typeRoutes } from './routes/types.js';
import { errorResponse, MAX_PATH_SEGMENT } from './errors.js';
import { HostDetails } from './host-details.js';
import type { ServerServices } from './services.js';
import { DEFAULT_SESSION, SESSION_COOKIE, SessionStore } from './sessions.js';
import { StoredConfig } from './stored-config.js';
import { timerDelay } from '../timers.js';

export const SERVER_VERSION = '0.1.0';
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** The time a client has to send a whole request (`server.requestTimeout`). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7373;

export interface ServerOptions {
  sesame: Sesame;
  /** Give the same instance to `createSesame({ observer: metrics.observer })` to get resolver metrics. */
  metrics?: ServerMetrics | undefined;
  /** Default: the Sesame's logger (pino through its redactor). */
  logger?: Logger | undefined;
  /** `agent`: resolve and refresh only, for the agent token holder. */
  mode?: 'api' | 'agent' | undefined;
  agent?: { token: string; namespace?: string | undefined } | undefined;
  /** Bytes; default `server.bodyLimit` of the config, else 1 MiB. */
  bodyLimit?: number | undefined;
  /** Default `server.rateLimit` of the config, else 1000 per second per token; false: off. */
  rateLimit?: RateLimit | false | undefined;
  /** Clock (tests): token expiry, audit times, rate limiting. */
  now?: (() => number) | undefined;
  /** How long `close()` lets requests in flight finish before cutting their connections (default 10 s). */
  graceMs?: number | undefined;
  /** Directory of the built admin UI (default: `dist/web` of this installation). */
  webRoot?: string | undefined;
}

export interface SesameServer {
  readonly app: FastifyInstance;
  readonly services: ServerServices;
  readonly routes: readonly AnyRoute[];
  readonly mode: 'api' | 'agent';
  /** Listen and return the base URL, e.g. `http://127.0.0.1:7373`. */
  listen(options?: { host?: string | undefined; port?: number | undefined }): Promise<string>;
  /** Stop accepting requests, let those in flight finish, and commit pending audit records. */
  close(): Promise<void>;
}

/**
 * Create the server over a Sesame: opens the database (migrations, master key), loads the
 * stores and connections created through the API, and registers the routes. Call `listen()`.
 *
 * @example
 * const metrics = new ServerMetrics();
 * const server = await createServer({ sesame, metrics });
 * console.log(await server.listen({ port: 7373 }));
 */
export async function createServer(options: ServerOptions): Promise<SesameServer> {
  const { sesame } = options;
  const mode = options.mode ?? 'api';
  if (mode === 'agent' && !options.agent?.token) throw new Error('agent mode needs the agent token');
  const now = options.now ?? (() => Date.now());
  const metrics = options.metrics ?? new ServerMetrics();
  const backend = await sesame.builtinBackend();
  // The admin UI's sessions (not in agent mode: the agent has no UI), kept in the database so
  // that every node on it serves them (sessions.ts). Made first: a bad setting stops the start
  // before anything else is opened.
  const sessionConfig = sesame.config.server?.session;
  const sessionSettings = {
    idleTimeoutMs: sessionConfig?.idleTimeout ?? DEFAULT_SESSION.idleTimeoutMs,
    maxAgeMs: sessionConfig?.maxAge ?? DEFAULT_SESSION.maxAgeMs,
  };
  const logger = options.logger ?? sesame.log;
  const sessions =
    mode === 'api' ? new SessionStore(backend.database, { settings: sessionSettings, now, log: logger }) : undefined;
  // SQLite files: each turn's records in one inline commit (synchronous=NORMAL, checkpointed
  // every second), or an fsync per commit on a writer thread when the config asks for it.
  // While the database is unreachable, tokens checked here lately are admitted for as long as
  // the values of that database are served from the cache (the builtin store's staleIfError).
  const tokens = new TokenService(backend.database, now, { outageGraceMs: outageGraceOf(sesame) });
  const audit = new AuditLog(backend.database, now, {
    writer: sesame.config.server?.auditSync === 'full' ? 'thread' : 'inline',
    // The server's own audit commits change no token: the token cache stays across them.
    onInlineCommit: (before, after) => tokens.noteOwnCommit(before, after),
  });
  const services: ServerServices = {
    sesame,
    backend,
    audit,
    recorder: new AuditRecorder({ audit, database: backend.database, spool: openSpool(sesame, backend.database), log: sesame.log, now }),
    tokens,
    stored: await StoredConfig.open(sesame, backend),
    metrics,
    mode,
    now,
    storeTests: new Map(),
  };
  // Distributed mode: apply what other processes on this database change (src/cluster/). Not for
  // an in-memory database, which no other process can reach.
  if (backend.database.location !== 'sqlite::memory:') services.changes = await startChangeListener(services);
  const serverConfig = sesame.config.server;
  const bodyLimit = options.bodyLimit ?? serverConfig?.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const limit =
    options.rateLimit === false
      ? undefined
      : (options.rateLimit ??
        (serverConfig?.rateLimit ? { max: serverConfig.rateLimit.max, windowMs: serverConfig.rateLimit.window } : DEFAULT_RATE_LIMIT));

  // Fastify sets Node's requestTimeout to 0 (no limit) unless told: a client that sends a request
  // a byte at a time, or never ends it, would hold its connection for ever.
  const requestTimeout = serverConfig?.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const app = fastify({
    // pino's Logger is Fastify's logger; only the declared generic differs.
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit,
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
    // The router's refusals (a path segment too long, bad percent-encoding) come before any
    // route: answered in Sesame's shape here, or Fastify's own body (echoing the path) goes out.
    frameworkErrors: (error, request, reply) => {
      const { status, body } = errorResponse(error, sesame.redactor, request.id);
      (reply as FastifyReply).code(status).send(body);
    },
    requestTimeout,
    http: {
      // Node checks the limits on this period (30 s by default), so a request is cut between the
      // limit and the limit plus a quarter of it.
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(requestTimeout / 4))),
      // Not above requestTimeout, or Node never applies requestTimeout to a body (Fastify sets
      // requestTimeout after Node chose the 60 s default for the headers).
      headersTimeout: Math.min(60_000, requestTimeout),
      requestTimeout,
    },
    // One line per request from onResponse instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (pino builds one with its bindings every time): the one line
    // a request logs, and its error line, carry the request id themselves.
    childLoggerFactory: (parent) => parent,
    return503OnClosing: true,
    // Clients are not trusted to say where they come from (agent mode refuses such requests).
    trustProxy: false,
  });
  const lifecycle: Lifecycle = { closing: false };

  // Cookies are parsed only where a session is looked for, and the session routes write their
  // one Set-Cookie header themselves: the cookie plugin is not registered, so the API's other
  // routes do not run its onSend hook on every answer.
  const cookieOf = (request: FastifyRequest): string | undefined => {
    const header = request.headers.cookie;
    if (header === undefined) return undefined;
    const value = parseCookie(header)[SESSION_COOKIE];
    return value === undefined || value === '' ? undefined : value;
  };

  let document: Record<string, unknown> | undefined;
  const openApi = () => {
    document ??= openApiDocument(routes, { version: SERVER_VERSION, agent: mode === 'agent' });
    return document;
  };
  const all: AnyRoute[] = [
    ...systemRoutes(services, openApi),
    ...resolveRoutes(services),
    ...typeRoutes(services),
    ...configRoutes(services),
    ...secretRoutes(services),
    ...tokenRoutes(services),
    ...(sessions
      ? sessionRoutes(services, { sessions, cookieOf, secureCookie: sessionConfig?.secureCookie ?? 'auto', maxAgeMs: sessionSettings.maxAgeMs })
      : []),
  ];
  const routes = mode === 'agent' ? all.filter((r) => r.agent) : all;
  app.decorateRequest('sesameState', null);

  app.register(rateLimitPlugin, { limit, now });
  app.register(auditPlugin, { recorder: services.recorder, metrics, logger });
  app.register(authPlugin, { mode, tokens: services.tokens, redactor: sesame.redactor, agent: options.agent, sessions, cookieOf });
  app.register(webPlugin, { mode, webRoot: options.webRoot, lifecycle });
  const hostDetails = new HostDetails(() => ({
    generation: sesame.bindings.generation,
    bindings: sesame.bindings.all(),
    baseDir: sesame.config.baseDir,
  }));
  app.register(errorsPlugin, { mode, redactor: sesame.redactor, logger, bodyLimit, lifecycle, hostDetails });
  app.register(metricsPlugin, { metrics, logger });
  // The API reference (Swagger UI over the same OpenAPI document), under the admin UI's headers.
  if (mode === 'api') app.register(apiDocs, { document: openApi, headers: UI_HEADERS });
  app.register(routesPlugin, { routes, lifecycle });

  return {
    app,
    services,
    routes,
    mode,
    async listen(listenOptions = {}) {
      const host = mode === 'agent' ? DEFAULT_HOST : (listenOptions.host ?? serverConfig?.host ?? DEFAULT_HOST);
      const port = listenOptions.port ?? serverConfig?.port ?? DEFAULT_PORT;
      await app.listen({ host, port });
      const address = app.server.address();
      const actualPort = typeof address === 'object' && address ? address.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
    },
    async close() {
      lifecycle.closing = true;
      // Requests in flight get `graceMs` to finish; then their connections are cut.
      const grace = setTimeout(() => app.server.closeAllConnections(), timerDelay(options.graceMs ?? 10_000));
      grace.unref();
      try {
        await app.close();
      } finally {
        clearTimeout(grace);
      }
      // Commits what is pending, then stops the audit writer thread.
      await services.changes?.close();
      await services.recorder.close();
      await services.audit.close();
      await services.tokens.close();
    },
  };
}

/**
 * The HTTP server of `sesame serve` (Fastify): the API under /api/v1, or in agent mode only
 * resolve and refresh for the host's own workloads.
 *
 * Every request: authenticate (bearer token checked against the database, so revocation is
 * effective on the next request; or the agent token), rate limit per token, check the route's
 * roles, validate the input with the route's zod schemas, run the handler (which checks each
 * namespace it acts in and records what it did in the audit trail), and answer JSON. Errors are
 * `{ error: { code, message } }`; logs are pino through the redactor.
 */
import {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  fastify,
  type HookHandlerDoneFunction,
  LogController,
} from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import type { Logger } from 'pino';
import { type AuditEvent, AuditLog } from '../audit/index.js';
import type { Sesame } from '../sesame.js';
import { type TokenInfo, type TokenRefusal, TokenService } from '../tokens/index.js';
import { bearerToken, checkAccess, checkNamespace, type Principal, principalOf, sameSecret } from './auth.js';
import { AGENT_TOKEN_HEADER } from './agent-token.js';
import {
  AuditUnavailableError,
  errorResponse,
  internalError,
  ForbiddenError,
  PayloadTooLargeError,
  RateLimitedError,
  UnauthorizedError,
} from './errors.js';
import { ServerMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { DEFAULT_RATE_LIMIT, type RateLimit, RateLimiter } from './rate-limit.js';
import { type AnyRoute, fastifyPath, fullPath, type RouteContext, validateRequest } from './route.js';
import { configRoutes } from './routes/config.js';
import { apiDocs } from './routes/docs.js';
import { resolveRoutes } from './routes/resolve.js';
import { secretRoutes } from './routes/secrets.js';
import { sessionRoutes } from './routes/session.js';
import { systemRoutes } from './routes/system.js';
import { tokenRoutes } from './routes/tokens.js';
import { typeRoutes } from './routes/types.js';
import type { ServerServices } from './services.js';
import { CSRF_HEADER, DEFAULT_SESSION, SESSION_COOKIE, SessionStore } from './sessions.js';
import { startChangeListener } from './cluster.js';
import { AuditRecorder, openSpool, outageGraceOf } from './outage.js';
import { StoredConfig } from './stored-config.js';

export const SERVER_VERSION = '0.1.0';
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
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

interface RequestState {
  route: AnyRoute | undefined;
  principal: Principal | undefined;
  /** The handler recorded the outcome itself. */
  audited: boolean;
}

/** Fastify's request with the state Sesame keeps on it (`decorateRequest`, so every request has the same shape). */
type StatefulRequest = FastifyRequest & { sesameState: RequestState | null };

function stateOf(request: FastifyRequest): RequestState {
  const r = request as StatefulRequest;
  r.sesameState ??= { route: undefined, principal: undefined, audited: false };
  return r.sesameState;
}

/**
 * Headers a proxy adds (RFC 7239 `Forwarded`, and the de facto ones): the agent serves its own
 * host only, so a request carrying any of them came through something else and is refused.
 */
const PROXY_HEADERS = [
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-real-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-original-forwarded-for',
  'via',
];

function proxyHeader(headers: FastifyRequest['headers']): string | undefined {
  for (const name of PROXY_HEADERS) if (headers[name] !== undefined) return name;
  return undefined;
}

/**
 * Headers of the admin UI's pages and assets: scripts and styles from this origin only (no
 * inline script), never framed, no sniffing, no referrer.
 */
const UI_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

/** Where the built admin UI is: `dist/web` next to `dist/server` (installed), or from `src/server` (tests). */
function findWebRoot(): string | undefined {
  for (const rel of ['../web/', '../../dist/web/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir.replace(/\/$/, '');
  }
  return undefined;
}

function isUiPath(path: string): boolean {
  return path !== '' && !path.startsWith('/api/') && path !== '/api' && !/\.[a-z0-9]+$/i.test(path);
}

function accepts(request: FastifyRequest, type: string): boolean {
  const header = request.headers.accept;
  return typeof header === 'string' && header.includes(type);
}

/** A successful request of a `quiet` route slower than this is logged at info all the same. */
const SLOW_REQUEST_MS = 500;

/** Public routes get a principal that covers no namespace. */
const NOBODY: Principal = { kind: 'token', id: 'anonymous', role: 'auditor', namespace: '\u0000none', reveal: false };

/**
 * Create the server over a Sesame: opens the database (migrations, master key), loads the
 * stores and connections created through the API, and registers the routes. Call `listen()`.
 *
 * @example
 * const metrics = new ServerMetrics();
 * const sesame = loadSesame({ observer: metrics.observer });
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
  const audit = new AuditLog(backend.database, now, { writer: sesame.config.server?.auditSync === 'full' ? 'thread' : 'inline' });
  const services: ServerServices = {
    sesame,
    backend,
    // SQLite files: each turn's records in one inline commit (synchronous=NORMAL, checkpointed
    // every second), or an fsync per commit on a writer thread when the config asks for it.
    audit,
    recorder: new AuditRecorder({ audit, database: backend.database, spool: openSpool(sesame, backend.database), log: sesame.log, now }),
    // While the database is unreachable, tokens checked here lately are admitted for as long as
    // the values of that database are served from the cache (the builtin store's staleIfError).
    tokens: new TokenService(backend.database, now, { outageGraceMs: outageGraceOf(sesame) }),
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
  const limiter = limit ? new RateLimiter(limit, now) : undefined;
  const logger = options.logger ?? sesame.log;

  const app = fastify({
    // pino's Logger is Fastify's logger; only the declared generic differs.
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit,
    // One line per request from onResponse instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (pino builds one with its bindings every time): the one line
    // a request logs, and its error line, carry the request id themselves.
    childLoggerFactory: (parent) => parent,
    return503OnClosing: true,
    // Clients are not trusted to say where they come from (agent mode refuses such requests).
    trustProxy: false,
  });

  // The admin UI's sessions (not in agent mode: the agent has no UI).
  const sessionConfig = serverConfig?.session;
  const sessions =
    mode === 'api'
      ? new SessionStore(
          {
            idleTimeoutMs: sessionConfig?.idleTimeout ?? DEFAULT_SESSION.idleTimeoutMs,
            maxAgeMs: sessionConfig?.maxAge ?? DEFAULT_SESSION.maxAgeMs,
          },
          now,
        )
      : undefined;
  // Cookies are parsed only where a session is looked for, not on every request.
  app.register(fastifyCookie, { hook: false });
  const cookieOf = (request: FastifyRequest): string | undefined => {
    const header = request.headers.cookie;
    if (header === undefined) return undefined;
    const value = app.parseCookie(header)[SESSION_COOKIE];
    return value === undefined || value === '' ? undefined : value;
  };

  let document: Record<string, unknown> | undefined;
  const all: AnyRoute[] = [
    ...systemRoutes(services, () => {
      document ??= openApiDocument(routes, { version: SERVER_VERSION, agent: mode === 'agent' });
      return document;
    }),
    ...resolveRoutes(services),
    ...typeRoutes(services),
    ...configRoutes(services),
    ...secretRoutes(services),
    ...tokenRoutes(services),
    ...(sessions ? sessionRoutes(services, { sessions, cookieOf, secureCookie: sessionConfig?.secureCookie ?? 'auto' }) : []),
  ];
  const routes = mode === 'agent' ? all.filter((r) => r.agent) : all;
  // The API reference (Swagger UI over the same OpenAPI document), under the admin UI's headers.
  if (mode === 'api') app.register(apiDocs, { document: () => (document ??= openApiDocument(routes, { version: SERVER_VERSION, agent: false })), headers: UI_HEADERS });
  app.decorateRequest('sesameState', null);

  /**
   * Set by close(). A response finished while closing must not leave its keep-alive connection
   * open: the server waits for every connection, and the client would keep this one until the
   * keep-alive timeout. Each way out (handler, error handler, not-found handler) says so, rather
   * than an onSend hook that every response would run.
   */
  let closing = false;

  const UNAUTHENTICATED = {
    missing: 'this needs a token: send Authorization: Bearer <token> (create one with sesame tokens create or POST /api/v1/tokens)',
    unknown: 'the bearer token is not known: ask an admin for a new one (sesame tokens create)',
    expired: 'the bearer token has expired: ask an admin for a new one (sesame tokens create)',
    revoked: 'the bearer token was revoked: ask an admin for a new one (sesame tokens create)',
  };

  function principalFrom(token: string, found: Readonly<TokenInfo> | { refused: TokenRefusal }): Principal {
    if ('refused' in found) throw new UnauthorizedError(UNAUTHENTICATED[found.refused]);
    // Never in a log line, whatever happens next.
    if (!sesame.redactor.has(token)) sesame.redactor.add(token);
    return principalOf(found);
  }

  /**
   * Connections a request was read from in this turn of the event loop. The first request read
   * from a connection in a turn arrived before the turn began (the connection was readable when
   * the event loop polled), so the token service may answer it with the commit check it made
   * earlier in the turn; a second one (HTTP pipelining) may have arrived since, and is checked.
   */
  const readThisTurn = new Set<unknown>();
  const endTurn = () => readThisTurn.clear();
  function firstInTurn(request: FastifyRequest): boolean {
    const socket = request.raw.socket;
    if (readThisTurn.has(socket)) return false;
    if (readThisTurn.size === 0) setImmediate(endTurn);
    readThisTurn.add(socket);
    return true;
  }

  /**
   * Who sends the request: the agent token's holder, or a bearer token's principal. Synchronous
   * when the token service can answer at once (its cache's reader is open); otherwise a promise.
   */
  function authenticate(request: FastifyRequest): Principal | Promise<Principal> {
    if (mode === 'agent') {
      const presented = request.headers[AGENT_TOKEN_HEADER];
      if (typeof presented !== 'string' || presented === '') {
        throw new UnauthorizedError(
          'the agent needs its token: send the content of the agent token file in the X-Sesame-Agent-Token header',
        );
      }
      if (!sameSecret(presented, options.agent?.token ?? '')) {
        throw new UnauthorizedError('the X-Sesame-Agent-Token header does not match the agent token file');
      }
      return { kind: 'agent', id: 'agent', role: 'runtime', namespace: options.agent?.namespace ?? '', reveal: false };
    }
    if (request.headers.authorization === undefined && sessions !== undefined) {
      const id = cookieOf(request);
      if (id !== undefined) return sessionPrincipal(request, id, sessions);
    }
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) throw new UnauthorizedError(UNAUTHENTICATED.missing);
    const now = services.tokens.authenticateNow(token, { receivedBeforeThisTurn: firstInTurn(request) });
    if (now !== undefined) return principalFrom(token, now);
    return services.tokens.authenticate(token).then((found) => principalFrom(token, found));
  }

  /**
   * The principal of a session cookie: its token checked again (a revoked token ends the
   * session), and for a change, the session's CSRF token in X-Sesame-CSRF.
   */
  function sessionPrincipal(request: FastifyRequest, id: string, store: SessionStore): Promise<Principal> {
    const session = store.get(id);
    if (session === undefined) {
      return Promise.reject(new UnauthorizedError('the session has ended (signed out, idle or too old): sign in again with your token'));
    }
    const method = request.method;
    if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') {
      const presented = request.headers[CSRF_HEADER];
      if (!SessionStore.csrfMatches(session, typeof presented === 'string' ? presented : undefined)) {
        return Promise.reject(
          new ForbiddenError('csrf_required', 'a change made with the session cookie needs the X-Sesame-CSRF header of the session'),
        );
      }
    }
    return services.tokens.authenticate(session.token).then((found) => {
      if ('refused' in found) store.close(id);
      return principalFrom(session.token, found);
    });
  }

  function rateLimit(key: string): void {
    if (!limiter || !limit) return;
    const wait = limiter.take(key);
    if (wait !== undefined) throw new RateLimitedError(wait, limit);
  }

  if (mode === 'agent') {
    app.addHook('onRequest', (request, _reply, done: HookHandlerDoneFunction) => {
      const header = proxyHeader(request.headers);
      if (header !== undefined) {
        done(
          new ForbiddenError(
            'forwarded_request',
            `the agent serves this host only: a request carrying ${header} came through a proxy and is refused`,
          ),
        );
        return;
      }
      done();
    });
  }

  /**
   * Each route's own onRequest hook: rate limit, authenticate, check the route's roles. A route
   * hook, not a global one that looks the route up: Fastify gives the HEAD route it derives from
   * a GET route the same hooks, so HEAD is authenticated like GET.
   */
  function guard(r: AnyRoute): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
    const what = `${r.method} ${fullPath(r)}`;
    if (r.access === 'public') {
      return (request, _reply, done) => {
        stateOf(request).route = r;
        try {
          if (!r.unlimited) rateLimit(`ip:${request.ip}`);
        } catch (err) {
          done(err as Error);
          return;
        }
        done();
      };
    }
    const access = r.access;
    const admit = (state: RequestState, principal: Principal): void => {
      state.principal = principal;
      if (!r.unlimited) rateLimit(principal.id);
      checkAccess(principal, access, what);
    };
    /** A request without a valid token counts against its address (which may turn the 401 into a 429). */
    const refuse = (request: FastifyRequest, err: unknown): Error => {
      try {
        rateLimit(`ip:${request.ip}`);
      } catch (limited) {
        return limited as Error;
      }
      return err as Error;
    };
    // A callback hook, not an async one: a token the cache answers costs no promise.
    return (request, _reply, done) => {
      const state = stateOf(request);
      state.route = r;
      let found: Principal | Promise<Principal>;
      try {
        found = authenticate(request);
      } catch (err) {
        done(refuse(request, err));
        return;
      }
      if (found instanceof Promise) {
        found.then(
          (principal) => {
            try {
              admit(state, principal);
            } catch (err) {
              done(err as Error);
              return;
            }
            done();
          },
          (err: unknown) => done(refuse(request, err)),
        );
        return;
      }
      try {
        admit(state, found);
      } catch (err) {
        done(err as Error);
        return;
      }
      done();
    };
  }

  const auditOk = metrics.auditAppends.labels('ok');
  const auditFailed = metrics.auditAppends.labels('error');
  // Written to the node's local spool while the database was unreachable (src/server/outage.ts).
  const auditSpooled = metrics.auditAppends.labels('spooled');

  const auditUnavailable = (err: unknown, action: string): never => {
    auditFailed.inc();
    logger.error({ err: (err as Error).message, action }, 'could not append to the audit trail');
    throw new AuditUnavailableError('the audit trail could not record this request, so it was not answered: see the server log', {
      cause: err,
    });
  };

  /** Resolves once the record is committed; rejects with AuditUnavailableError when it cannot be. */
  function record(event: AuditEvent): Promise<void> {
    return services.recorder.commit(event).then(
      (how) => (how === 'committed' ? auditOk : auditSpooled).inc(),
      (err: unknown) => auditUnavailable(err, event.action),
    );
  }

  /** What a handler gets: one object per request, its methods on the prototype. */
  class Context implements RouteContext<unknown, unknown, unknown> {
    constructor(
      readonly params: unknown,
      readonly query: unknown,
      readonly body: unknown,
      readonly principal: Principal,
      readonly request: FastifyRequest,
      readonly reply: FastifyReply,
      private readonly state: RequestState,
    ) {}

    namespace(given: string | undefined): string {
      const namespace = given ?? this.principal.namespace;
      checkNamespace(this.principal, namespace);
      return namespace;
    }

    requireNamespace(namespace: string): void {
      checkNamespace(this.principal, namespace);
    }

    audited<T>(event: Omit<AuditEvent, 'actor' | 'outcome' | 'detail'>, work: () => Promise<T>): Promise<T> {
      return this.auditedWith(event, () => work().then((value) => ({ value, recorded: false })));
    }

    auditedWith<T>(
      event: Omit<AuditEvent, 'actor' | 'outcome' | 'detail'>,
      work: (ok: AuditEvent) => Promise<{ value: T; recorded: boolean }>,
    ): Promise<T> {
      this.state.audited = true;
      const actor = this.principal.id;
      const ok: AuditEvent = { actor, action: event.action, namespace: event.namespace, target: event.target, outcome: 'ok' };
      let working: Promise<{ value: T; recorded: boolean }>;
      try {
        working = work(ok);
      } catch (err) {
        working = Promise.reject(err);
      }
      return working.then(
        (result) => (result.recorded ? result.value : record(ok).then(() => result.value)),
        async (err: unknown) => {
          const code = (err as { code?: unknown }).code;
          const denied = err instanceof ForbiddenError || code === 'access_denied';
          await record({
            actor,
            action: event.action,
            namespace: event.namespace,
            target: event.target,
            outcome: denied ? 'denied' : 'error',
            detail: typeof code === 'string' && !code.startsWith('ERR_') ? code : 'error',
          }).catch(() => {});
          throw err;
        },
      );
    }
  }

  for (const r of routes) {
    app.route({
      method: r.method,
      url: fastifyPath(r),
      onRequest: guard(r),
      handler: async (request, reply) => {
        const state = stateOf(request);
        const input = validateRequest(r, request);
        const ctx = new Context(input.params, input.query, input.body, state.principal ?? NOBODY, request, reply, state);
        const result = await r.handler(ctx);
        if (reply.statusCode === 200 && r.status) reply.code(r.status);
        if (closing) reply.header('connection', 'close');
        return result;
      },
    });
  }

  // The admin UI: built assets from dist/web, index.html for `/` and the UI's own paths.
  const webRoot = mode === 'api' ? (options.webRoot ?? findWebRoot()) : undefined;
  let indexHtml: Buffer | undefined;
  if (webRoot) {
    indexHtml = readFileSync(`${webRoot}/index.html`);
    app.register(fastifyStatic, {
      root: webRoot,
      prefix: '/',
      wildcard: false,
      index: false,
      setHeaders: (res, file) => {
        for (const [k, v] of Object.entries(UI_HEADERS)) res.header(k, v);
        // Hashed asset names change with their content; index.html must be fetched again.
        res.header('cache-control', file.endsWith('index.html') ? 'no-store' : 'public, max-age=31536000, immutable');
      },
    });
  }
  const sendIndex = (reply: FastifyReply) => {
    if (closing) reply.header('connection', 'close');
    if (!indexHtml) {
      return reply.code(404).send({
        error: { code: 'ui_not_built', message: 'the admin UI is not built into this installation: run npm run build (npm install does it)' },
      });
    }
    return reply.headers({ ...UI_HEADERS, 'cache-control': 'no-store' }).type('text/html; charset=utf-8').send(indexHtml);
  };
  if (mode === 'api') app.get('/', (_request, reply) => sendIndex(reply));

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    // A path of the UI's own (e.g. /secrets), opened or reloaded in the browser.
    if (mode === 'api' && (request.method === 'GET' || request.method === 'HEAD') && isUiPath(path) && accepts(request, 'text/html')) {
      return sendIndex(reply);
    }
    if (closing) reply.header('connection', 'close');
    const hint = mode === 'agent' ? 'the agent serves POST /api/v1/resolve and /api/v1/refresh only' : 'see GET /api/v1/openapi.json';
    return reply
      .code(404)
      .send({ error: { code: 'route_not_found', message: `no route ${request.method} ${sesame.redactor.redact(path)}: ${hint}` } });
  });

  app.setErrorHandler(async (error, request, reply) => {
    try {
      return await answerError(error, request, reply);
    } catch (failed) {
      // Answering the error failed itself (logging, auditing, masking): answer with nothing of it.
      try {
        logger.error({ reqId: request.id, code: (failed as { code?: unknown }).code }, 'could not answer a failed request');
      } catch {
        // The logger is what failed: nothing more to say.
      }
      return reply.code(500).send(internalError(request.id));
    }
  });

  async function answerError(error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    let err: unknown = error;
    if ((error as { code?: unknown }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      err = new PayloadTooLargeError(
        `request body is larger than the limit of ${bodyLimit} bytes: send less, or raise server.bodyLimit in the config`,
      );
    }
    const { status, body } = errorResponse(err, sesame.redactor, request.id);
    const state = (request as StatefulRequest).sesameState;
    if (err instanceof ForbiddenError && state?.principal && !state.audited) {
      await record({
        actor: state.principal.id,
        action: 'access',
        namespace: err.namespace ?? state.principal.namespace,
        target: state.route ? `${state.route.method} ${fullPath(state.route)}` : request.method,
        outcome: 'denied',
        detail: err.code,
      }).catch(() => {});
    }
    if (err instanceof RateLimitedError) reply.header('retry-after', String(err.retryAfterSeconds));
    if (closing) reply.header('connection', 'close');
    if (status === 401) reply.header('www-authenticate', mode === 'agent' ? 'X-Sesame-Agent-Token' : 'Bearer');
    if (status >= 500) request.log.error({ reqId: request.id, err, code: body.error.code }, 'request failed');
    return reply.code(status).send(body);
  }

  // prom-client hashes the labels of every inc/observe: keep the labelled children per route.
  const counted = new Map<string, ReturnType<typeof metrics.httpRequests.labels>>();
  const timed = new Map<string, ReturnType<typeof metrics.httpDuration.labels>>();

  app.addHook('onResponse', (request, reply, done) => {
    const state = (request as StatefulRequest).sesameState;
    const route = state?.route ? fullPath(state.route) : 'unmatched';
    // Since Fastify routed the request (the same start as before, when a hook noted it).
    const seconds = reply.elapsedTime / 1000;
    const status = reply.statusCode;
    const key = `${request.method} ${route} ${status}`;
    let counter = counted.get(key);
    if (!counter) {
      counter = metrics.httpRequests.labels(request.method, route, String(status));
      counted.set(key, counter);
    }
    counter.inc();
    const timedKey = `${request.method} ${route}`;
    let timer = timed.get(timedKey);
    if (!timer) {
      timer = metrics.httpDuration.labels(request.method, route);
      timed.set(timedKey, timer);
    }
    timer.observe(seconds);
    const ms = Math.round(seconds * 10_000) / 10;
    // A quiet route's successes are in the audit trail already: debug, unless slow.
    const level = state?.route?.quiet && status < 400 && ms < SLOW_REQUEST_MS ? 'debug' : 'info';
    if (logger.isLevelEnabled(level)) {
      request.log[level]({ reqId: request.id, method: request.method, route, status, ms, actor: state?.principal?.id }, 'request');
    }
    done();
  });

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
      closing = true;
      // Requests in flight get `graceMs` to finish; then their connections are cut.
      const grace = setTimeout(() => app.server.closeAllConnections(), options.graceMs ?? 10_000);
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

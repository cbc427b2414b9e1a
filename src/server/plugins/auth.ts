/**
 * Authentication and authorization as a plugin: decorates the server with `guard(route)`, the
 * onRequest hook of each API route (rate limit, authenticate, check the route's roles), and in
 * agent mode refuses every request that came through a proxy.
 *
 * Who sends a request: in agent mode, the holder of the host's agent token; otherwise a bearer
 * token checked against the database (so a revocation takes effect on the next request), or an
 * admin UI session, read from the database with its token's row at every request, so a sign out
 * or a revocation on any node takes effect the same way (changes also need its CSRF header).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import type { Redactor } from '../../redact/redactor.js';
import type { TokenInfo, TokenRefusal, TokenService } from '../../tokens/index.js';
import { AGENT_TOKEN_HEADER } from '../agent-token.js';
import { bearerToken, checkAccess, type Principal, principalOf, sameSecret } from '../auth.js';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import { type AnyRoute, fullPath } from '../route.js';
import { CSRF_HEADER, SessionStore } from '../sessions.js';
import { type RequestState, stateOf } from './state.js';

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

declare module 'fastify' {
  interface FastifyInstance {
    /** The onRequest hook of an API route: rate limit, authenticate, check the route's roles. */
    guard(route: AnyRoute): Hook;
  }
}

export interface AuthPluginOptions {
  mode: 'api' | 'agent';
  tokens: TokenService;
  /** Bearer tokens presented are added to it, so they never reach a log line. */
  redactor: Redactor;
  agent?: { token: string; namespace?: string | undefined } | undefined;
  /** The admin UI's sessions (api mode). */
  sessions?: SessionStore | undefined;
  /** The session id a request's cookie holds. */
  cookieOf: (request: FastifyRequest) => string | undefined;
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
 * Whether this is the first request read from `socket` in this turn of the event loop. The first
 * one arrived before the turn began (the connection was readable when the event loop polled), so
 * the token service may answer it with the commit check it made earlier in the turn; a second one
 * (HTTP pipelining) may have arrived since, and is checked. Each socket is stamped with the number
 * of the turn it was last read in: no set to fill and clear on every turn.
 */
export function turnGate(): (socket: object) => boolean {
  /** On a socket: the turn it was last read in, by this gate. */
  const READ_IN_TURN = Symbol('sesame.readInTurn');
  let turn = 1;
  let ending = false;
  const endTurn = () => {
    turn += 1;
    ending = false;
  };
  return (socket) => {
    const stamped = socket as { [READ_IN_TURN]?: number };
    if (stamped[READ_IN_TURN] === turn) return false;
    if (!ending) {
      ending = true;
      setImmediate(endTurn);
    }
    stamped[READ_IN_TURN] = turn;
    return true;
  };
}

const UNAUTHENTICATED = {
  missing: 'this needs a token: send Authorization: Bearer <token> (create one with sesame tokens create or POST /api/v1/tokens)',
  unknown: 'the bearer token is not known: ask an admin for a new one (sesame tokens create)',
  expired: 'the bearer token has expired: ask an admin for a new one (sesame tokens create)',
  revoked: 'the bearer token was revoked: ask an admin for a new one (sesame tokens create)',
};

async function auth(app: FastifyInstance, options: AuthPluginOptions): Promise<void> {
  const { mode, tokens, redactor, sessions, cookieOf } = options;

  function principalFrom(token: string, found: Readonly<TokenInfo> | { refused: TokenRefusal }): Principal {
    if ('refused' in found) throw new UnauthorizedError(UNAUTHENTICATED[found.refused]);
    // Never in a log line, whatever happens next.
    if (!redactor.has(token)) redactor.add(token);
    return principalOf(found);
  }

  const firstReadInTurn = turnGate();
  const firstInTurn = (request: FastifyRequest) => firstReadInTurn(request.raw.socket);

  /**
   * Who sends the request. Synchronous when the token service can answer at once (its cache's
   * reader is open); otherwise a promise.
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
    const now = tokens.authenticateNow(token, { receivedBeforeThisTurn: firstInTurn(request) });
    if (now !== undefined) return principalFrom(token, now);
    return tokens.authenticate(token).then((found) => principalFrom(token, found));
  }

  /**
   * The principal of a session cookie: the session and its token read together from the
   * database, as committed now (a sign out or revocation on any node ends it), and for a change,
   * the session's CSRF token in X-Sesame-CSRF. The table unreadable: 503, never signed in.
   */
  async function sessionPrincipal(request: FastifyRequest, id: string, store: SessionStore): Promise<Principal> {
    const session = await store.get(id);
    if (session === undefined) {
      throw new UnauthorizedError('the session has ended (signed out, idle or too old): sign in again with your token');
    }
    if ('refused' in session) throw new UnauthorizedError(UNAUTHENTICATED[session.refused]);
    const method = request.method;
    if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') {
      const presented = request.headers[CSRF_HEADER];
      if (!SessionStore.csrfMatches(session, typeof presented === 'string' ? presented : undefined)) {
        throw new ForbiddenError('csrf_required', 'a change made with the session cookie needs the X-Sesame-CSRF header of the session');
      }
    }
    return principalOf(session.token);
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
   * Each route's own onRequest hook, not a global one that looks the route up: Fastify gives
   * the HEAD route it derives from a GET route the same hooks, so HEAD is authenticated like GET.
   */
  function guard(r: AnyRoute): Hook {
    const what = `${r.method} ${fullPath(r)}`;
    if (r.access === 'public') {
      return (request, _reply, done) => {
        stateOf(request).route = r;
        try {
          if (!r.unlimited) app.rateLimit(`ip:${request.ip}`);
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
      if (!r.unlimited) app.rateLimit(principal.id);
      checkAccess(principal, access, what);
    };
    /** A request without a valid token counts against its address (which may turn the 401 into a 429). */
    const refuse = (request: FastifyRequest, err: unknown): Error => {
      try {
        app.rateLimit(`ip:${request.ip}`);
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

  app.decorate('guard', guard);
}

export const authPlugin = fp(auth, { name: 'sesame-auth', dependencies: ['sesame-rate-limit'] });

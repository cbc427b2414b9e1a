/**
 * Sign in and out of the admin UI: a bearer token exchanged for a session cookie (see
 * `sessions.ts`: sessions are kept in the database, so every node serves them and a sign out
 * ends one everywhere). The token is checked like any bearer token; the answer carries the
 * principal (what the UI may show) and the CSRF token the page sends with every change.
 *
 * The cookie's Max-Age is the session's absolute limit (`maxAge`): the browser keeps it while
 * the session may live, and the server ends it sooner when it is idle, signed out or revoked.
 */
import { stringifySetCookie } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { TokenInfo, TokenRefusal } from '../../tokens/index.js';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import { type AnyRoute, route } from '../route.js';
import type { ServerServices } from '../services.js';
import { CSRF_HEADER, csrfOf, SESSION_COOKIE, SessionStore } from '../sessions.js';

const sessionView = z.object({
  principal: z.object({
    id: z.string(),
    role: z.enum(['admin', 'operator', 'runtime', 'auditor']),
    namespace: z.string().describe('the token\'s scope ("" is every namespace)'),
    reveal: z.boolean(),
  }),
  csrfToken: z.string().describe('send it as X-Sesame-CSRF with every POST, PUT, PATCH and DELETE made with the session cookie'),
  expiresAt: z.string(),
});

export interface SessionRouteOptions {
  sessions: SessionStore;
  /** Cookie attributes: `Secure` when true, or when the request came over TLS (`auto`). */
  secureCookie: boolean | 'auto';
  /** Read the session cookie of a request (undefined when there is none). */
  cookieOf(request: FastifyRequest): string | undefined;
  /** The sessions' absolute limit (ms): the cookie's Max-Age. */
  maxAgeMs: number;
}

const REFUSED: Record<TokenRefusal, string> = {
  unknown: 'this token is not known: check it, or ask an admin for a new one (sesame tokens create)',
  expired: 'this token has expired: ask an admin for a new one (sesame tokens create)',
  revoked: 'this token was revoked: ask an admin for a new one (sesame tokens create)',
};

export function sessionRoutes(services: ServerServices, options: SessionRouteOptions): AnyRoute[] {
  const { sessions } = options;

  function setCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number): void {
    const secure = options.secureCookie === 'auto' ? request.protocol === 'https' : options.secureCookie;
    reply.header(
      'set-cookie',
      stringifySetCookie({ name: SESSION_COOKIE, value, httpOnly: true, sameSite: 'strict', secure, path: '/', maxAge: maxAgeSeconds }),
    );
  }

  function view(info: Readonly<TokenInfo>, csrf: string, expiresAt: number) {
    return {
      principal: { id: info.id, role: info.role, namespace: info.namespace, reveal: info.reveal },
      csrfToken: csrf,
      expiresAt: new Date(expiresAt).toISOString(),
    };
  }

  async function current(request: FastifyRequest) {
    const id = options.cookieOf(request);
    const session = id === undefined ? undefined : await sessions.get(id);
    if (id === undefined || session === undefined) throw new UnauthorizedError('not signed in, or the session has ended: sign in with your token');
    // The store ended the session already (its token is revoked, expired or gone).
    if ('refused' in session) throw new UnauthorizedError(`the session has ended: ${REFUSED[session.refused]}`);
    return { id, session, info: session.token };
  }

  return [
    route({
      method: 'POST',
      path: '/session',
      summary: 'Sign in to the admin UI: exchange a token for an HttpOnly session cookie',
      description:
        'The token stays on the server. The answer holds the CSRF token to send as X-Sesame-CSRF with every change made with the cookie.',
      tag: 'session',
      access: 'public',
      errors: { 401: 'the token is unknown, expired or revoked', 503: 'the database that keeps the sessions cannot be reached' },
      body: z.strictObject({ token: z.string().min(1).max(4096).describe('a bearer token (sesame tokens create)') }),
      response: sessionView,
      handler: async (ctx) => {
        const found = await services.tokens.authenticate(ctx.body.token);
        if ('refused' in found) throw new UnauthorizedError(REFUSED[found.refused]);
        // Never in a log line, whatever happens next.
        services.sesame.redactor.add(ctx.body.token);
        // Kept by the id of the token's row, never the token itself (see sessions.ts).
        const opened = await sessions.open(found);
        await services.recorder.commit({ actor: found.id, action: 'session.create', namespace: found.namespace, target: 'admin UI', outcome: 'ok' });
        setCookie(ctx.request, ctx.reply, opened.id, Math.ceil(options.maxAgeMs / 1000));
        return view(found, opened.csrf, opened.expiresAt);
      },
    }),
    route({
      method: 'GET',
      path: '/session',
      summary: 'The signed-in principal and the CSRF token of the session cookie (401 when signed out)',
      tag: 'session',
      access: 'public',
      errors: { 401: 'not signed in, or the session has ended', 503: 'the database that keeps the sessions cannot be reached' },
      response: sessionView,
      handler: async (ctx) => {
        const { id, session, info } = await current(ctx.request);
        // Derived from the cookie: the same on every node, for every page of this session.
        return view(info, csrfOf(id), session.expiresAt);
      },
    }),
    route({
      method: 'DELETE',
      path: '/session',
      summary: 'Sign out: end the session on the server and clear the cookie',
      tag: 'session',
      access: 'public',
      errors: {
        401: 'not signed in, or the session has ended',
        403: 'the X-Sesame-CSRF header of the session is missing or wrong',
        503: 'the database that keeps the sessions cannot be reached',
      },
      response: z.object({ signedOut: z.literal(true) }),
      handler: async (ctx) => {
        const { id, session, info } = await current(ctx.request);
        const presented = ctx.request.headers[CSRF_HEADER];
        if (!SessionStore.csrfMatches(session, typeof presented === 'string' ? presented : undefined)) {
          throw new ForbiddenError('csrf_required', 'signing out needs the X-Sesame-CSRF header of the session (from POST or GET /api/v1/session)');
        }
        await sessions.close(id);
        await services.recorder.commit({ actor: info.id, action: 'session.delete', namespace: info.namespace, target: 'admin UI', outcome: 'ok' });
        setCookie(ctx.request, ctx.reply, '', 0);
        return { signedOut: true as const };
      },
    }),
  ];
}

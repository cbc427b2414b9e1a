/**
 * What the server's plugins share about a request and about the server's life: the route a
 * request matched, who sent it, whether its handler recorded the outcome itself; and whether the
 * server is closing.
 */
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../auth.js';
import type { AnyRoute } from '../route.js';

export interface RequestState {
  route: AnyRoute | undefined;
  principal: Principal | undefined;
  /** The handler recorded the outcome itself. */
  audited: boolean;
}

/** Fastify's request with the state Sesame keeps on it (`decorateRequest`, so every request has the same shape). */
type StatefulRequest = FastifyRequest & { sesameState: RequestState | null };

/** The request's state, created on first use. */
export function stateOf(request: FastifyRequest): RequestState {
  const r = request as StatefulRequest;
  r.sesameState ??= { route: undefined, principal: undefined, audited: false };
  return r.sesameState;
}

/** The request's state if a plugin created it (errors and metrics look, never create). */
export function stateIfAny(request: FastifyRequest): RequestState | null {
  return (request as StatefulRequest).sesameState;
}

/** Public routes get a principal that covers no namespace. */
export const NOBODY: Principal = { kind: 'token', id: 'anonymous', role: 'auditor', namespace: '\u0000none', reveal: false };

/**
 * Set by `close()`. A response finished while closing must not leave its keep-alive connection
 * open: the server waits for every connection, and the client would keep this one until the
 * keep-alive timeout. Each way out (handler, error handler, not-found handler, UI) says so,
 * rather than an onSend hook that every response would run.
 */
export interface Lifecycle {
  closing: boolean;
}

export function closeIfClosing(lifecycle: Lifecycle, reply: { header(name: string, value: string): unknown }): void {
  if (lifecycle.closing) reply.header('connection', 'close');
}

/**
 * The API routes as a plugin: each route gets the auth plugin's guard as its onRequest hook, its
 * input validated by its zod schemas, and a context (`RouteContext`) whose `audited()` records
 * the outcome through the audit plugin before the answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditEvent } from '../../audit/index.js';
import { checkNamespace, type Principal } from '../auth.js';
import { ForbiddenError } from '../errors.js';
import { type AnyRoute, fastifyPath, type RouteContext, validateRequest } from '../route.js';
import { closeIfClosing, type Lifecycle, NOBODY, type RequestState, stateOf } from './state.js';

export interface RoutesPluginOptions {
  routes: readonly AnyRoute[];
  lifecycle: Lifecycle;
}

async function apiRoutes(app: FastifyInstance, options: RoutesPluginOptions): Promise<void> {
  const record = (event: AuditEvent) => app.record(event);

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
      const ok = this.#begin(event);
      let working: Promise<T>;
      try {
        working = work();
      } catch (err) {
        working = Promise.reject(err);
      }
      return working.then(
        (value) => record(ok).then(() => value),
        (err: unknown) => this.#failed(event, err),
      );
    }

    auditedWith<T>(
      event: Omit<AuditEvent, 'actor' | 'outcome' | 'detail'>,
      work: (ok: AuditEvent) => Promise<{ value: T; recorded: boolean }>,
    ): Promise<T> {
      const ok = this.#begin(event);
      let working: Promise<{ value: T; recorded: boolean }>;
      try {
        working = work(ok);
      } catch (err) {
        working = Promise.reject(err);
      }
      return working.then(
        (result) => (result.recorded ? result.value : record(ok).then(() => result.value)),
        (err: unknown) => this.#failed(event, err),
      );
    }

    /** The request records its outcome itself; its `ok` event. */
    #begin(event: Omit<AuditEvent, 'actor' | 'outcome' | 'detail'>): AuditEvent {
      this.state.audited = true;
      return { actor: this.principal.id, action: event.action, namespace: event.namespace, target: event.target, outcome: 'ok' };
    }

    /** Record a failure (`denied` or `error`, with the error's code) and throw the error on. */
    async #failed(event: Omit<AuditEvent, 'actor' | 'outcome' | 'detail'>, err: unknown): Promise<never> {
      const code = (err as { code?: unknown }).code;
      const denied = err instanceof ForbiddenError || code === 'access_denied';
      await record({
        actor: this.principal.id,
        action: event.action,
        namespace: event.namespace,
        target: event.target,
        outcome: denied ? 'denied' : 'error',
        detail: typeof code === 'string' && !code.startsWith('ERR_') ? code : 'error',
      }).catch(() => {});
      throw err;
    }
  }

  for (const r of options.routes) {
    app.route({
      method: r.method,
      url: fastifyPath(r),
      onRequest: app.guard(r),
      handler: async (request, reply) => {
        const state = stateOf(request);
        // Answers are per token and some carry values: no browser or proxy may keep one.
        reply.header('cache-control', 'no-store');
        const input = validateRequest(r, request);
        const ctx = new Context(input.params, input.query, input.body, state.principal ?? NOBODY, request, reply, state);
        const result = await r.handler(ctx);
        if (reply.statusCode === 200 && r.status) reply.code(r.status);
        closeIfClosing(options.lifecycle, reply);
        return result;
      },
    });
  }
}

export const routesPlugin = fp(apiRoutes, { name: 'sesame-routes', dependencies: ['sesame-auth', 'sesame-audit'] });

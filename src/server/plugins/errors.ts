/**
 * Errors and unknown routes as a plugin. Every failure is answered `{ error: { code, message } }`
 * with the status its class gives (`../errors.ts`), masked by the redactor; a 5xx is logged with
 * the request id and answered "internal error" with that id only; a refusal (403) that the
 * handler did not record is recorded in the audit trail as `denied`. If answering the error
 * fails itself (logging, auditing, masking), the answer holds nothing of it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger } from 'pino';
import type { Redactor } from '../../redact/redactor.js';
import {
  type ErrorBody,
  errorResponse,
  ForbiddenError,
  internalError,
  PayloadTooLargeError,
  RateLimitedError,
} from '../errors.js';
import { HIDDEN_NOTE, type HostDetails, seesHostDetails, UNKNOWN_PLACES } from '../host-details.js';
import { fullPath } from '../route.js';
import { closeIfClosing, type Lifecycle, stateIfAny } from './state.js';
import { accepts, isUiPath } from './web.js';

export interface ErrorsPluginOptions {
  mode: 'api' | 'agent';
  redactor: Redactor;
  logger: Logger;
  bodyLimit: number;
  lifecycle: Lifecycle;
  /** The host's addresses and paths, hidden from callers who may not read store settings. */
  hostDetails: HostDetails;
}

/**
 * The body as a caller who may not read store settings gets it: every place of the host replaced
 * by its setting's name, and the fix saying so. When the places cannot be worked out, nothing of
 * the error is shown but its code.
 */
export function withoutHostDetails(body: ErrorBody, hostDetails: HostDetails): ErrorBody {
  const { error } = body;
  try {
    let hidden = false;
    const hide = (text: string): string => {
      const out = hostDetails.hide(text);
      hidden ||= out.hidden;
      return out.text;
    };
    const message = hide(error.message);
    const fix = error.fix === undefined ? undefined : hide(error.fix);
    const issues = error.issues?.map((i) => ({ ...i, message: hide(i.message) }));
    if (!hidden) return body;
    return {
      error: {
        ...error,
        message,
        fix: fix ? `${fix} (${HIDDEN_NOTE})` : HIDDEN_NOTE,
        ...(issues ? { issues } : {}),
      },
    };
  } catch {
    return {
      error: {
        code: error.code,
        message: UNKNOWN_PLACES,
        ...(error.requestId ? { requestId: error.requestId } : {}),
      },
    };
  }
}

async function errors(app: FastifyInstance, options: ErrorsPluginOptions): Promise<void> {
  const { mode, redactor, logger, bodyLimit, lifecycle, hostDetails } = options;

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    // A path of the UI's own (e.g. /secrets), opened or reloaded in the browser.
    if (
      mode === 'api' &&
      (request.method === 'GET' || request.method === 'HEAD') &&
      isUiPath(path) &&
      accepts(request, 'text/html')
    ) {
      return app.sendIndex(reply);
    }
    closeIfClosing(lifecycle, reply);
    const hint =
      mode === 'agent'
        ? 'the agent serves POST /api/v1/resolve and /api/v1/refresh only'
        : 'see GET /api/v1/openapi.json';
    return reply
      .code(404)
      .send({
        error: {
          code: 'route_not_found',
          message: `no route ${request.method} ${redactor.redact(path)}: ${hint}`,
        },
      });
  });

  app.setErrorHandler(async (error, request, reply) => {
    try {
      return await answerError(error, request, reply);
    } catch (failed) {
      try {
        logger.error(
          { reqId: request.id, code: (failed as { code?: unknown }).code },
          'could not answer a failed request',
        );
      } catch {
        // The logger is what failed: nothing more to say.
      }
      return reply.code(500).send(internalError(request.id));
    }
  });

  async function answerError(
    error: unknown,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    let err: unknown = error;
    if ((error as { code?: unknown }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      err = new PayloadTooLargeError(
        `request body is larger than the limit of ${bodyLimit} bytes: send less, or raise server.bodyLimit in the config`,
      );
    }
    const state = stateIfAny(request);
    const response = errorResponse(err, redactor, request.id);
    const { status } = response;
    const body = seesHostDetails(state?.principal)
      ? response.body
      : withoutHostDetails(response.body, hostDetails);
    if (err instanceof ForbiddenError && state?.principal && !state.audited) {
      await app
        .record({
          actor: state.principal.id,
          action: 'access',
          namespace: err.namespace ?? state.principal.namespace,
          target: state.route ? `${state.route.method} ${fullPath(state.route)}` : request.method,
          outcome: 'denied',
          detail: err.code,
        })
        .catch(() => {});
    }
    if (err instanceof RateLimitedError) reply.header('retry-after', String(err.retryAfterSeconds));
    closeIfClosing(lifecycle, reply);
    if (status === 401)
      reply.header('www-authenticate', mode === 'agent' ? 'X-Sesame-Agent-Token' : 'Bearer');
    if (status >= 500) request.log.error({ reqId: request.id, err, code: body.error.code }, 'request failed');
    return reply.code(status).send(body);
  }
}

export const errorsPlugin = fp(errors, {
  name: 'sesame-errors',
  dependencies: ['sesame-audit', 'sesame-web'],
});

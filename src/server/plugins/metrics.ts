/**
 * Request metrics and the request log as a plugin: one onResponse hook counts and times every
 * request by method, route and status (`sesame_http_requests_total`,
 * `sesame_http_request_duration_seconds`) and writes the request's one log line.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger } from 'pino';
import type { ServerMetrics } from '../metrics.js';
import { type AnyRoute, fullPath } from '../route.js';
import { stateIfAny } from './state.js';

/** A successful request of a `quiet` route slower than this is logged at info all the same. */
const SLOW_REQUEST_MS = 500;

export interface MetricsPluginOptions {
  metrics: ServerMetrics;
  logger: Logger;
}

async function requestMetrics(app: FastifyInstance, options: MetricsPluginOptions): Promise<void> {
  const { metrics, logger } = options;
  type Counter = ReturnType<typeof metrics.httpRequests.labels>;
  type Timer = ReturnType<typeof metrics.httpDuration.labels>;
  /** A route's labelled children for one method (prom-client would hash the labels on every update). */
  interface RouteCells {
    route: string;
    timer: Timer;
    byStatus: Map<number, Counter>;
  }
  const byRoute = new WeakMap<AnyRoute, Map<string, RouteCells>>();
  const unmatched = new Map<string, RouteCells>();
  function cellsOf(r: AnyRoute | undefined, method: string): RouteCells {
    let byMethod = r === undefined ? unmatched : byRoute.get(r);
    if (byMethod === undefined) {
      byMethod = new Map();
      byRoute.set(r as AnyRoute, byMethod);
    }
    let cells = byMethod.get(method);
    if (cells === undefined) {
      const route = r === undefined ? 'unmatched' : fullPath(r);
      cells = { route, timer: metrics.httpDuration.labels(method, route), byStatus: new Map() };
      byMethod.set(method, cells);
    }
    return cells;
  }

  app.addHook('onResponse', (request, reply, done) => {
    const state = stateIfAny(request);
    const method = request.method;
    const cells = cellsOf(state?.route, method);
    const route = cells.route;
    // Since Fastify routed the request.
    const seconds = reply.elapsedTime / 1000;
    const status = reply.statusCode;
    let counter = cells.byStatus.get(status);
    if (counter === undefined) {
      counter = metrics.httpRequests.labels(method, route, String(status));
      cells.byStatus.set(status, counter);
    }
    counter.inc();
    cells.timer.observe(seconds);
    const ms = Math.round(seconds * 10_000) / 10;
    // A quiet route's successes are in the audit trail already: debug, unless slow.
    const level = state?.route?.quiet && status < 400 && ms < SLOW_REQUEST_MS ? 'debug' : 'info';
    if (logger.isLevelEnabled(level)) {
      request.log[level]({ reqId: request.id, method, route, status, ms, actor: state?.principal?.id }, 'request');
    }
    done();
  });
}

export const metricsPlugin = fp(requestMetrics, { name: 'sesame-metrics' });

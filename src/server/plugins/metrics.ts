/**
 * Request metrics and the request log as a plugin: one onResponse hook counts and times every
 * request by method, route and status (`sesame_http_requests_total`,
 * `sesame_http_request_duration_seconds`) and writes the request's one log line.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger } from 'pino';
import type { ServerMetrics } from '../metrics.js';
import { fullPath } from '../route.js';
import { stateIfAny } from './state.js';

/** A successful request of a `quiet` route slower than this is logged at info all the same. */
const SLOW_REQUEST_MS = 500;

export interface MetricsPluginOptions {
  metrics: ServerMetrics;
  logger: Logger;
}

async function requestMetrics(app: FastifyInstance, options: MetricsPluginOptions): Promise<void> {
  const { metrics, logger } = options;
  // prom-client hashes the labels of every inc/observe: keep the labelled children per route.
  const counted = new Map<string, ReturnType<typeof metrics.httpRequests.labels>>();
  const timed = new Map<string, ReturnType<typeof metrics.httpDuration.labels>>();

  app.addHook('onResponse', (request, reply, done) => {
    const state = stateIfAny(request);
    const route = state?.route ? fullPath(state.route) : 'unmatched';
    // Since Fastify routed the request.
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
}

export const metricsPlugin = fp(requestMetrics, { name: 'sesame-metrics' });

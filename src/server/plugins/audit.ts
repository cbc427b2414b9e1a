/**
 * The audit trail as a plugin: decorates the server with `record(event)`, which resolves once
 * the record is durable (committed to the shared trail, or written to the node's local spool
 * while the database is unreachable: `../outage.ts`) and otherwise rejects with
 * `AuditUnavailableError`, so the request it belongs to is not answered (fail closed).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger } from 'pino';
import type { AuditEvent } from '../../audit/index.js';
import { AuditUnavailableError } from '../errors.js';
import type { ServerMetrics } from '../metrics.js';
import type { AuditRecorder } from '../outage.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Resolves once the record is durable; rejects with AuditUnavailableError when it cannot be. */
    record(event: AuditEvent): Promise<void>;
  }
}

export interface AuditPluginOptions {
  recorder: AuditRecorder;
  metrics: ServerMetrics;
  logger: Logger;
}

async function audit(app: FastifyInstance, options: AuditPluginOptions): Promise<void> {
  const { recorder, metrics, logger } = options;
  const ok = metrics.auditAppends.labels('ok');
  const failed = metrics.auditAppends.labels('error');
  // Written to the node's local spool while the database was unreachable.
  const spooled = metrics.auditAppends.labels('spooled');
  const unavailable = (err: unknown, action: string): never => {
    failed.inc();
    logger.error({ err: (err as Error).message, action }, 'could not append to the audit trail');
    throw new AuditUnavailableError('the audit trail could not record this request, so it was not answered: see the server log', {
      cause: err,
    });
  };
  app.decorate('record', (event: AuditEvent) =>
    recorder.commit(event).then(
      (how) => {
        (how === 'committed' ? ok : spooled).inc();
      },
      (err: unknown) => unavailable(err, event.action),
    ),
  );
}

export const auditPlugin = fp(audit, { name: 'sesame-audit' });

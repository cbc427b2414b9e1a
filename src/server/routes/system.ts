/** Health, readiness, metrics and the OpenAPI document. */
import { sql } from 'kysely';
import { z } from 'zod';
import { openValue, sealValue } from '../../encrypted-store/index.js';
import { type AnyRoute, route } from '../route.js';
import type { ServerServices } from '../services.js';
import { timerDelay } from '../../timers.js';

const check = z.object({ ok: z.boolean(), detail: z.string() });

/**
 * How long readiness waits for its checks. A probe has a short timeout of its own (Kubernetes: 1 s
 * by default), and a database that went silent is only found out by the statement time limit
 * (10 s): waiting that long would make the probe fail by its timeout, not by our 503.
 */
export const READINESS_LIMIT_MS = 2000;

/** `work`'s outcome, or a rejection saying it did not finish in time (`work` is left to settle unobserved). */
function within<T>(work: Promise<T>, deadline: Promise<never>): Promise<T> {
  work.catch(() => {});
  return Promise.race([work, deadline]);
}

/**
 * Database reachable, and the master key seals and opens (the active key is held). The checks
 * answer anyone (load balancers call them without a token), so they say ok or not and nothing
 * of where the database or the key lives; a failure's detail goes to the server log.
 */
export async function readiness(
  services: ServerServices,
  limitMs = READINESS_LIMIT_MS,
): Promise<{ ready: boolean; checks: Record<string, z.infer<typeof check>> }> {
  const { backend } = services;
  const log = services.sesame.log;
  const checks: Record<string, z.infer<typeof check>> = {};
  // One deadline for both checks, which run side by side: the answer comes within `limitMs`.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${limitMs / 1000} s`)), timerDelay(limitMs));
  });
  deadline.catch(() => {});
  const database = (async () => {
    try {
      await within(sql`select 1`.execute(backend.database.kysely), deadline);
      checks['database'] = { ok: true, detail: 'answers' };
    } catch (err) {
      log.error(
        { check: 'database', location: backend.database.location, err: (err as Error).message },
        'readiness check failed',
      );
      checks['database'] = { ok: false, detail: 'does not answer: see the server log' };
    }
  })();
  const masterKey = (async () => {
    try {
      const key = await within(backend.activeKey(backend.database.kysely), deadline);
      const at = { namespace: 'sesame-readyz', name: 'probe', version: 1 };
      const probe = Buffer.from('probe', 'utf8');
      const opened = openValue(sealValue(probe, at, key), at, key);
      checks['masterKey'] = opened.equals(probe)
        ? { ok: true, detail: 'seals and opens' }
        : { ok: false, detail: 'the master key did not open what it sealed' };
    } catch (err) {
      log.error(
        { check: 'masterKey', where: backend.keyring.where, err: (err as Error).message },
        'readiness check failed',
      );
      checks['masterKey'] = { ok: false, detail: 'not usable: see the server log' };
    }
  })();
  await Promise.all([database, masterKey]);
  clearTimeout(timer);
  // In a fixed order, whichever finished first.
  const ordered = { database: checks['database'], masterKey: checks['masterKey'] } as Record<
    string,
    z.infer<typeof check>
  >;
  return { ready: Object.values(ordered).every((c) => c.ok), checks: ordered };
}

export function systemRoutes(services: ServerServices, document: () => Record<string, unknown>): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/healthz',
      root: true,
      agent: true,
      unlimited: true,
      summary: 'Liveness: the process answers',
      tag: 'operations',
      access: 'public',
      response: z.object({ status: z.literal('ok') }),
      handler: async () => ({ status: 'ok' as const }),
    }),
    route({
      method: 'GET',
      path: '/readyz',
      root: true,
      agent: true,
      unlimited: true,
      summary: 'Readiness: the database answers and the master key is usable (503 when not)',
      tag: 'operations',
      access: 'public',
      alsoAnswers: { 503: 'not ready: `checks` says which check failed' },
      response: z.object({ status: z.enum(['ready', 'not ready']), checks: z.record(z.string(), check) }),
      handler: async ({ reply }) => {
        const { ready, checks } = await readiness(services);
        if (!ready) reply.code(503);
        return { status: ready ? ('ready' as const) : ('not ready' as const), checks };
      },
    }),
    route({
      method: 'GET',
      path: '/metrics',
      root: true,
      unlimited: true,
      summary: 'Prometheus metrics',
      description:
        'Resolve latency, cache hits/misses/stale serves, store calls and errors by store type, HTTP requests.',
      tag: 'operations',
      access: 'public',
      produces: 'text/plain',
      response: z.string(),
      handler: async ({ reply }) => {
        const { contentType, body } = await services.metrics.text();
        reply.type(contentType);
        return body;
      },
    }),
    route({
      method: 'GET',
      path: '/openapi.json',
      summary: 'This API described as OpenAPI 3.1',
      tag: 'operations',
      access: 'public',
      response: z.record(z.string(), z.unknown()),
      handler: async () => document(),
    }),
  ];
}

/**
 * Prometheus metrics (prom-client) on a registry of the server's own, so several servers in one
 * process (tests) do not collide. The resolver reports through {@link ServerMetrics.observer},
 * which `createSesame`/`loadSesame` take as `observer`. Labels are store types, operations,
 * routes and outcomes: never a secret name, reference or value. The counters and histograms
 * are prom-client's, with children that cost an addition per update (`metric-cells.ts`): a
 * resolve request updates five of them.
 */
import { type Counter, collectDefaultMetrics, type Histogram, Registry } from 'prom-client';
import type { CacheOutcome } from '../resolve/cache.js';
import type { ResolverObserver } from '../resolve/resolver.js';
import { CellCounter, CellHistogram } from './metric-cells.js';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly resolveDuration: Histogram<'outcome'>;
  readonly cacheLookups: Counter<'store_type' | 'outcome'>;
  readonly storeCalls: Counter<'store_type' | 'operation'>;
  readonly storeErrors: Counter<'store_type' | 'operation'>;
  readonly storeCallDuration: Histogram<'store_type' | 'operation'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly auditAppends: Counter<'outcome'>;
  readonly observer: ResolverObserver;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'sesame_' });
    this.resolveDuration = new CellHistogram({
      name: 'sesame_resolve_duration_seconds',
      help: 'Time to resolve one value (a reference, template, document or connection), cache included',
      labelNames: ['outcome'],
      buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.cacheLookups = new CellCounter({
      name: 'sesame_cache_lookups_total',
      help: 'Cache lookups by outcome: hit, miss, stale (served past TTL while the store failed), coalesced',
      labelNames: ['store_type', 'outcome'],
      registers,
    });
    this.storeCalls = new CellCounter({
      name: 'sesame_store_calls_total',
      help: 'Calls to stores',
      labelNames: ['store_type', 'operation'],
      registers,
    });
    this.storeErrors = new CellCounter({
      name: 'sesame_store_errors_total',
      help: 'Calls to stores that failed',
      labelNames: ['store_type', 'operation'],
      registers,
    });
    this.storeCallDuration = new CellHistogram({
      name: 'sesame_store_call_duration_seconds',
      help: 'Duration of calls to stores',
      labelNames: ['store_type', 'operation'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.httpRequests = new CellCounter({
      name: 'sesame_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new CellHistogram({
      name: 'sesame_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.auditAppends = new CellCounter({
      name: 'sesame_audit_appends_total',
      help: 'Audit records appended (ok), written to the local spool while the database was unreachable (spooled), and appends that failed (error)',
      labelNames: ['outcome'],
      registers,
    });
    // prom-client hashes the labels of every inc/observe given as an object: the resolver
    // reports on every resolve, so keep the labelled children, few (store types × outcomes).
    const children = new Map<string, { inc(): void } | { observe(v: number): void }>();
    function child<T extends { inc(): void } | { observe(v: number): void }>(key: string, make: () => T): T {
      let found = children.get(key) as T | undefined;
      if (found === undefined) {
        found = make();
        children.set(key, found);
      }
      return found;
    }
    const lookups = this.cacheLookups;
    const calls = this.storeCalls;
    const errors = this.storeErrors;
    const callDuration = this.storeCallDuration;
    const resolveOk = this.resolveDuration.labels('ok');
    const resolveFailed = this.resolveDuration.labels('error');
    this.observer = {
      onLookup(binding, outcome: CacheOutcome) {
        const type = binding.config.type;
        child(`l ${type} ${outcome}`, () => lookups.labels(type, outcome)).inc();
      },
      onStoreCall(binding, operation, ok, seconds) {
        const type = binding.config.type;
        child(`c ${type} ${operation}`, () => calls.labels(type, operation)).inc();
        if (!ok) child(`e ${type} ${operation}`, () => errors.labels(type, operation)).inc();
        child(`d ${type} ${operation}`, () => callDuration.labels(type, operation)).observe(seconds);
      },
      onResolve(seconds, ok) {
        (ok ? resolveOk : resolveFailed).observe(seconds);
      },
    };
  }

  /** The text exposition format for GET /metrics. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

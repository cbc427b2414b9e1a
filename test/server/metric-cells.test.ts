/**
 * The cell-backed counter and histogram must export exactly what prom-client's own Counter and
 * Histogram export for the same updates: the registry text and the JSON, label escaping,
 * several label sets, values on bucket bounds, +Inf, reset and remove.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CellCounter, CellHistogram } from '../../src/server/metric-cells.js';

const buckets = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
const observations: Array<[string, string, number]> = [
  ['POST', '/api/v1/resolve', 0.0004],
  ['POST', '/api/v1/resolve', 0.001],
  ['POST', '/api/v1/resolve', 0.0031],
  ['GET', '/api/v1/secrets/:name', 0.2],
  ['GET', '/api/v1/secrets/:name', 7],
  ['POST', 'a "quoted"\\route\nwith a newline', 0.05],
];

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const config = (registry: Registry) => ({
    name: 'sesame_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route'] as const,
    buckets,
    registers: [registry],
  });
  const counterConfig = (registry: Registry) => ({
    name: 'sesame_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  return {
    ours,
    theirs,
    histogram: new CellHistogram<'method' | 'route'>({ ...config(ours), labelNames: ['method', 'route'] }),
    reference: new Histogram<'method' | 'route'>({ ...config(theirs), labelNames: ['method', 'route'] }),
    counter: new CellCounter<'method' | 'route' | 'status'>({ ...counterConfig(ours), labelNames: ['method', 'route', 'status'] }),
    referenceCounter: new Counter<'method' | 'route' | 'status'>({ ...counterConfig(theirs), labelNames: ['method', 'route', 'status'] }),
  };
}

describe('CellHistogram and CellCounter', () => {
  it("export what prom-client's Histogram and Counter export for the same updates", async () => {
    const m = pair();
    for (const [method, route, seconds] of observations) {
      m.histogram.labels(method, route).observe(seconds);
      m.reference.labels(method, route).observe(seconds);
      m.counter.labels(method, route, '200').inc();
      m.referenceCounter.labels(method, route, '200').inc();
    }
    m.counter.labels({ method: 'GET', route: '/x', status: '404' }).inc(3);
    m.referenceCounter.labels({ method: 'GET', route: '/x', status: '404' }).inc(3);
    m.histogram.observe({ method: 'GET', route: '/x' }, 0.01);
    m.reference.observe({ method: 'GET', route: '/x' }, 0.01);
    const text = await m.ours.metrics();
    expect(text).toBe(await m.theirs.metrics());
    expect(text).toContain('sesame_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/api/v1/resolve"} 3');
    expect(text).toContain('sesame_http_requests_total{method="GET",route="/x",status="404"} 3');
    expect(await m.ours.getMetricsAsJSON()).toEqual(await m.theirs.getMetricsAsJSON());
    // Reading twice adds nothing twice.
    expect(await m.ours.metrics()).toBe(await m.theirs.metrics());
    // Updates after a read are counted on top.
    m.counter.labels('POST', '/api/v1/resolve', '200').inc();
    m.referenceCounter.labels('POST', '/api/v1/resolve', '200').inc();
    m.histogram.labels('POST', '/api/v1/resolve').observe(2);
    m.reference.labels('POST', '/api/v1/resolve').observe(2);
    expect(await m.ours.metrics()).toBe(await m.theirs.metrics());
  });

  it('reset and remove forget what the cells hold, as prom-client does', async () => {
    const m = pair();
    const child = m.histogram.labels('POST', '/a');
    const counter = m.counter.labels('POST', '/a', '200');
    child.observe(0.2);
    counter.inc(2);
    m.ours.resetMetrics();
    m.theirs.resetMetrics();
    expect(await m.ours.metrics()).toBe(await m.theirs.metrics());
    expect(await m.ours.metrics()).not.toContain('route="/a"');
    m.histogram.labels('GET', '/b').observe(1);
    m.histogram.labels('GET', '/c').observe(1);
    m.histogram.remove('GET', '/b');
    m.counter.labels('GET', '/b', '200').inc();
    m.counter.remove('GET', '/b', '200');
    const text = await m.ours.metrics();
    expect(text).not.toContain('route="/b"');
    expect(text).toContain('route="/c"');
  });

  it('zero() shows an empty series, or empties one, as prom-client does', async () => {
    const m = pair();
    m.histogram.labels('GET', '/d').observe(0.3);
    m.reference.labels('GET', '/d').observe(0.3);
    for (const h of [m.histogram, m.reference]) {
      h.zero({ method: 'GET', route: '/d' });
      h.zero({ method: 'PUT', route: '/e' });
    }
    expect(await m.ours.metrics()).toBe(await m.theirs.metrics());
    expect(await m.ours.metrics()).toContain('sesame_http_request_duration_seconds_count{method="PUT",route="/e"} 0');
  });

  it('refuses what prom-client refuses: a wrong number of label values, a decrease, a non-finite value', () => {
    const m = pair();
    expect(() => m.histogram.labels('POST')).toThrow(/takes 2 label values \(method, route\), not 1/);
    expect(() => m.counter.labels('POST', '/a', '200').inc(-1)).toThrow(/only goes up/);
    expect(() => m.histogram.labels('POST', '/a').observe(Number.NaN)).toThrow(/not a finite value/);
  });
});

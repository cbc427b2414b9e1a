/**
 * A route's `fastBody` (a cheaper check for its most common body) must never accept a body its
 * zod schema refuses, nor parse one differently: checked here over bodies of every shape the
 * schema cares about, for every route that has one.
 */
import { describe, expect, it } from 'vitest';
import type { AnyRoute } from '../../src/server/route.js';
import { loneReference, resolveRoutes } from '../../src/server/routes/resolve.js';

const routes = resolveRoutes({ sesame: {} } as Parameters<typeof resolveRoutes>[0]).filter((r: AnyRoute) => r.fastBody);

const polluted = Object.create({ reference: 'secret://a/inherited' }) as object;
const withExtra = Object.assign(Object.create({ namespace: 'acme' }), { reference: 'secret://a/b' }) as object;

const BODIES: unknown[] = [
  { reference: 'secret://aws/prod-jira#token' },
  { reference: '' },
  { reference: '   secret://a/b  ' },
  { reference: 42 },
  { reference: null },
  { reference: ['secret://a/b'] },
  { reference: 'secret://a/b', namespace: 'acme' },
  { reference: 'secret://a/b', namespace: 'NOT VALID' },
  { reference: 'secret://a/b', template: '{{ secret://a/b }}' },
  { reference: 'secret://a/b', extra: true },
  { reference: undefined },
  { template: 'x {{ secret://a/b }}' },
  { document: { a: 'secret://a/b' } },
  { connection: 'jira' },
  {},
  [],
  ['secret://a/b'],
  'secret://a/b',
  null,
  undefined,
  42,
  polluted,
  withExtra,
];

describe('fastBody', () => {
  it('exists on the resolve route and takes its usual body', () => {
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /resolve']);
    expect(loneReference({ reference: 'secret://aws/prod-jira#token' })).toEqual({ reference: 'secret://aws/prod-jira#token' });
  });

  for (const r of routes) {
    it(`${r.method} ${r.path}: accepts nothing the schema refuses, and parses what it accepts as the schema does`, () => {
      let accepted = 0;
      for (const body of BODIES) {
        const fast = r.fastBody?.(body);
        if (fast === undefined) continue;
        accepted += 1;
        const parsed = r.body?.safeParse(body);
        expect(parsed?.success, JSON.stringify(body)).toBe(true);
        expect(fast).toEqual(parsed?.data);
      }
      expect(accepted).toBeGreaterThan(0);
      // Refused by the fast check: left to the schema, which says why.
      expect(r.fastBody?.(polluted)).toBeUndefined();
      expect(r.fastBody?.(withExtra)).toBeUndefined();
      expect(r.fastBody?.({ reference: 'secret://a/b', extra: true })).toBeUndefined();
    });
  }
});

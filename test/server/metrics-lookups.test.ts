/**
 * sesame_cache_lookups_total counts what was looked up, also when a reference of the document
 * fails: the references after the failing one are looked up (their errors are collected) and
 * must be counted, once each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let runtime: string;

beforeAll(async () => {
  t = await startTestServer({ config: { stores: [{ name: 'mem', type: 'memory', backend: 'mem' }] } });
  for (let i = 1; i <= 6; i++) t.memory.set(`s${i}`, `value-${i}-never-shown`);
  runtime = (await t.token('runtime')).token;
});

afterAll(async () => {
  await t.close();
});

function lookups(text: string, outcome: string): number {
  const m = text.match(new RegExp(`^sesame_cache_lookups_total\\{store_type="memory",outcome="${outcome}"\\} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : 0;
}

describe('sesame_cache_lookups_total on a failing document', () => {
  it('counts every reference looked up, those after the failing one included', async () => {
    // Arrange: s1…s6 cached by one good resolve, then read the counters.
    const warm = { f1: 'secret://mem/s1', f2: 'secret://mem/s2', f3: 'secret://mem/s3', f4: 'secret://mem/s4', f5: 'secret://mem/s5', f6: 'secret://mem/s6' };
    expect((await t.call('POST', '/api/v1/resolve', { token: runtime, body: { document: warm } })).status).toBe(200);
    const before = (await t.call('GET', '/metrics')).text;

    // Act: a document whose second field names a missing secret; f1, f3…f6 are cache hits.
    const doc = { f1: 'secret://mem/s1', bad: 'secret://mem/missing', f3: 'secret://mem/s3', f4: 'secret://mem/s4', f5: 'secret://mem/s5', f6: 'secret://mem/s6' };
    const failed = await t.call('POST', '/api/v1/resolve', { token: runtime, body: { document: doc } });
    const after = (await t.call('GET', '/metrics')).text;

    // Assert: 5 hits and 1 miss, no more and no less.
    expect(failed.status).toBe(404);
    expect(lookups(after, 'hit') - lookups(before, 'hit')).toBe(5);
    expect(lookups(after, 'miss') - lookups(before, 'miss')).toBe(1);
    for (const line of [...t.logs, after, failed.text]) expect(line).not.toMatch(/never-shown/);
  });

  it('counts the misses after the failing reference (fetched to collect their errors)', async () => {
    // Arrange: n1…n3 never resolved before.
    for (let i = 1; i <= 3; i++) t.memory.set(`n${i}`, `cold-${i}-never-shown`);
    const before = (await t.call('GET', '/metrics')).text;

    // Act: the first field fails, the three after it are misses fetched from the store.
    const doc = { bad: 'secret://mem/missing-too', n1: 'secret://mem/n1', n2: 'secret://mem/n2', n3: 'secret://mem/n3' };
    const failed = await t.call('POST', '/api/v1/resolve', { token: runtime, body: { document: doc } });
    const after = (await t.call('GET', '/metrics')).text;

    // Assert: four misses (the failing one and three after it), no hit.
    expect(failed.status).toBe(404);
    expect(lookups(after, 'miss') - lookups(before, 'miss')).toBe(4);
    expect(lookups(after, 'hit') - lookups(before, 'hit')).toBe(0);
    for (const line of [...t.logs, after, failed.text]) expect(line).not.toMatch(/never-shown/);
  });
});

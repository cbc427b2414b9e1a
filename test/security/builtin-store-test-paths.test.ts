/**
 * `POST /stores/builtin/test` answered a scoped operator with where the database and the master
 * key live (`sqlite:/…/sesame.db`, `key file /…/master.key`; a PostgreSQL URL may carry a
 * password in its query). The API follows the rule of `/readyz`: a check says ok or not and
 * nothing of where the database or the key lives, for every caller; what failed goes to the
 * server log. `sesame stores test builtin`, run on the host by its user, still shows them
 * (test/builtin/cli.test.ts).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config/schema.js';
import { tempDir, writeKeyFile } from '../builtin/helpers.js';
import { startTestServer, type TestServer } from '../server/helpers.js';

let t: TestServer;
let keyFile = '';

beforeAll(async () => {
  const dir = tempDir();
  keyFile = writeKeyFile(dir);
  t = await startTestServer({ dir, config: { masterKey: { file: keyFile } } as ConfigFile });
  const root = (await t.token('admin')).token;
  expect((await t.call('POST', '/api/v1/namespaces', { token: root, body: { name: 'acme' } })).status).toBe(201);
});

afterAll(async () => {
  await t?.close();
});

/** Nothing of the host's file system or database address in `text`. */
function expectNoHostDetail(text: string): void {
  for (const leak of [t.dir, path.basename(t.dir), keyFile, 'master.key', 'sesame.db', 'sqlite:']) {
    expect(text, `the answer shows ${leak}`).not.toContain(leak);
  }
}

describe('POST /stores/builtin/test', () => {
  it.each([
    ['a scoped operator', () => t.token('operator', { namespace: 'acme' }), 'acme'],
    ['a root operator', () => t.token('operator'), ''],
    ['a root admin', () => t.token('admin', { reveal: true }), ''],
  ])('answers %s with the steps and without the database or key location', async (_, token, namespace) => {
    const r = await t.call('POST', `/api/v1/stores/builtin/test?namespace=${namespace}`, { token: (await token()).token });
    expect(r.status, r.text).toBe(200);
    expect(r.body.ok).toBe(true);
    expect(r.body.steps.map((s: { step: string }) => s.step)).toEqual(['database', 'master key', 'list']);
    expect(r.body.steps[0].detail).toMatch(/^sqlite database, schema version \d+$/);
    expect(r.body.steps[1].detail).toMatch(/^active master key \S+ from the configured key file$/);
    expectNoHostDetail(r.text);
  });

  it('shows no location in a report with a failing step either (settings about to be saved, a sample that does not exist)', async () => {
    const operator = (await t.token('operator', { namespace: 'acme' })).token;
    // Candidate settings of another builtin store: the same database and key, the same check.
    const r = await t.call('POST', '/api/v1/stores/b2/test?namespace=acme&sample=does-not-exist', {
      token: operator,
      body: { type: 'builtin', settings: {} },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.ok).toBe(false);
    expect(r.body.steps.find((s: { step: string }) => s.step === 'read')?.ok).toBe(false);
    expectNoHostDetail(r.text);
  });
});

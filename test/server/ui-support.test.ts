/**
 * What the admin UI asks the API for beyond the basics: substring search and tag filters over
 * secret names, the key names of a JSON secret (for the secret picker, never values), and the
 * last test result of each store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let admin: string;

beforeAll(async () => {
  t = await startTestServer();
  admin = (await t.token('admin')).token;
  const put = (name: string, value: string, tags?: Record<string, string>) =>
    t.call('PUT', `/api/v1/secrets/${encodeURIComponent(name)}?namespace=acme`, { token: admin, body: { value, ...(tags ? { tags } : {}) } });
  expect((await put('jira/prod/token', 'jira-token-value-0001', { team: 'devops', env: 'prod' })).status).toBe(200);
  expect((await put('jira/dev/token', 'jira-token-value-0002', { team: 'devops', env: 'dev' })).status).toBe(200);
  expect((await put('db/prod/password', '{"user":"app","password":"db-password-value-0003","port":5432}', { team: 'data', env: 'prod' })).status).toBe(200);
});

afterAll(async () => {
  await t?.close();
});

const names = (r: { body: { items: Array<{ name: string }> } }) => r.body.items.map((i) => i.name).sort();

describe('GET /secrets', () => {
  it('finds names containing a substring, case-sensitively', async () => {
    expect(names(await t.call('GET', '/api/v1/secrets?namespace=acme&contains=prod', { token: admin }))).toEqual(['db/prod/password', 'jira/prod/token']);
    expect(names(await t.call('GET', '/api/v1/secrets?namespace=acme&contains=PROD', { token: admin }))).toEqual([]);
  });

  it('filters by tags, every one of them', async () => {
    expect(names(await t.call('GET', '/api/v1/secrets?namespace=acme&tag=team%3Ddevops', { token: admin }))).toEqual(['jira/dev/token', 'jira/prod/token']);
    expect(names(await t.call('GET', '/api/v1/secrets?namespace=acme&tag=team%3Ddevops&tag=env%3Dprod', { token: admin }))).toEqual(['jira/prod/token']);
    const bad = await t.call('GET', '/api/v1/secrets?namespace=acme&tag=team', { token: admin });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('a tag filter is key=value');
  });

  it('says when a store cannot search by substring instead of ignoring the filter', async () => {
    const r = await t.call('GET', '/api/v1/secrets?store=env&contains=PATH', { token: admin });
    expect(r.status).toBe(405);
    expect(r.body.error.message).toBe('[env] a env store cannot search names by substring: use prefix');
  });
});

describe('GET /secrets/{name}/keys', () => {
  it('names the top-level keys of a JSON secret and never a value, for an operator without reveal', async () => {
    const operator = (await t.token('operator', { namespace: 'acme' })).token;
    const r = await t.call('GET', '/api/v1/secrets/db%2Fprod%2Fpassword/keys?namespace=acme', { token: operator });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({ json: true, keys: ['password', 'port', 'user'] });
    expect(r.text).not.toContain('db-password-value-0003');
    expect(r.text).not.toContain('5432');
  });

  it('says a secret that is not a JSON object has no keys', async () => {
    const r = await t.call('GET', '/api/v1/secrets/jira%2Fprod%2Ftoken/keys?namespace=acme', { token: admin });
    expect(r.body).toEqual({ json: false, keys: [] });
    expect(r.text).not.toContain('jira-token-value-0001');
  });

  it('is refused outside the token\'s namespace and to runtime and auditor tokens', async () => {
    const globex = (await t.token('operator', { namespace: 'globex' })).token;
    expect((await t.call('GET', '/api/v1/secrets/db%2Fprod%2Fpassword/keys?namespace=acme', { token: globex })).status).toBe(403);
    for (const role of ['runtime', 'auditor'] as const) {
      const token = (await t.token(role)).token;
      expect((await t.call('GET', '/api/v1/secrets/db%2Fprod%2Fpassword/keys?namespace=acme', { token })).status).toBe(403);
    }
  });
});

describe('GET /stores', () => {
  it('shows the last test result of a store once it was tested', async () => {
    const before = await t.call('GET', '/api/v1/stores/builtin?namespace=', { token: admin });
    expect(before.body.lastTest).toBeUndefined();
    const test = await t.call('POST', '/api/v1/stores/builtin/test', { token: admin });
    expect(test.status, test.text).toBe(200);
    const after = await t.call('GET', '/api/v1/stores?namespace=&prefix=builtin', { token: admin });
    expect(after.body.items.find((s: { name: string }) => s.name === 'builtin').lastTest).toEqual({ ok: test.body.ok, at: expect.any(String) });
  });
});

describe('POST /stores/{name}/test with settings', () => {
  it('tests settings before they are saved, and saves nothing', async () => {
    const ok = await t.call('POST', '/api/v1/stores/candidate/test?namespace=acme', { token: admin, body: { type: 'builtin', settings: {} } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body).toMatchObject({ store: 'candidate', ok: true });
    const failing = await t.call('POST', '/api/v1/stores/candidate/test?namespace=acme', {
      token: admin,
      body: { type: 'vault', settings: { address: 'http://127.0.0.1:9', auth: { method: 'token', token: 'candidate-vault-token-0001' } } },
    });
    expect(failing.status, failing.text).toBe(200);
    expect(failing.body.ok).toBe(false);
    expect(failing.body.steps.length).toBeGreaterThan(0);
    expect(failing.text).not.toContain('candidate-vault-token-0001');
    expect((await t.call('GET', '/api/v1/stores/candidate?namespace=acme', { token: admin })).status).toBe(404);
  });

  it('applies the same checks as saving: validation, and what the caller may configure', async () => {
    const invalid = await t.call('POST', '/api/v1/stores/candidate/test?namespace=acme', { token: admin, body: { type: 'vault', settings: {} } });
    expect(invalid.status).toBe(400);
    const operator = (await t.token('operator', { namespace: 'acme' })).token;
    const env = await t.call('POST', '/api/v1/stores/candidate/test?namespace=acme', { token: operator, body: { type: 'env', settings: {} } });
    expect(env.status).toBe(403);
    const loopback = await t.call('POST', '/api/v1/stores/candidate/test?namespace=acme', {
      token: operator,
      body: { type: 'vault', settings: { address: 'http://127.0.0.1:9', auth: { method: 'token', token: 'x-token-0002' } } },
    });
    expect(loopback.status).toBe(403);
    expect(loopback.body.error.code).toBe('forbidden_destination');
  });
});


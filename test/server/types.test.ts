/** The store and connection types, described from their schemas for the admin UI's forms. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  await t?.close();
});

describe('GET /store-types', () => {
  it('describes every registered store type from its settings schema, credentials named', async () => {
    const operator = (await t.token('operator', { namespace: 'acme' })).token;
    const r = await t.call('GET', '/api/v1/store-types', { token: operator });
    expect(r.status, r.text).toBe(200);
    const types = r.body.items.map((i: { type: string }) => i.type);
    expect(types).toEqual(t.sesame.registry.types());
    const vault = r.body.items.find((i: { type: string }) => i.type === 'vault');
    expect(vault.secretSettings).toEqual(['auth.token', 'auth.password', 'auth.secretId']);
    expect(vault.capabilities).toMatchObject({ write: true, versions: true });
    // Each auth method is a branch of the schema with its own fields.
    const methods = (vault.settings.properties.auth.oneOf ?? vault.settings.properties.auth.anyOf).map(
      (b: { properties: { method: { const: string } } }) => b.properties.method.const,
    );
    expect(methods).toEqual(['token', 'userpass', 'approle']);
    expect(vault.settings.required).toContain('address');
  });

  it('is for admins and operators', async () => {
    for (const role of ['runtime', 'auditor'] as const) {
      const token = (await t.token(role)).token;
      expect((await t.call('GET', '/api/v1/store-types', { token })).status).toBe(403);
    }
  });
});

describe('GET /connection-types', () => {
  it('describes every connection type: fields schema, secret fields, whether it can be tested', async () => {
    const admin = (await t.token('admin')).token;
    const r = await t.call('GET', '/api/v1/connection-types', { token: admin });
    expect(r.body.items.map((i: { type: string }) => i.type)).toEqual(['generic', 'http', 'postgres']);
    const http = r.body.items.find((i: { type: string }) => i.type === 'http');
    expect(http).toMatchObject({ testable: true, secretFields: ['token', 'auth.token', 'auth.password', 'auth.value', 'headers'] });
    expect(http.fields.required).toContain('baseUrl');
    expect(r.body.items.find((i: { type: string }) => i.type === 'generic').testable).toBe(false);
  });
});

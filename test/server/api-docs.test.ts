import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

describe('API reference at /api/v1/docs', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t.close();
  });

  it('serves the Swagger UI page under the admin UI Content-Security-Policy, without signing in', async () => {
    const page = await t.call('GET', '/api/v1/docs/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.text).toContain('<div id="swagger-ui"></div>');
    expect(page.text).toContain('Sesame API reference');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    // Every script the page loads is served here, none inline, none from elsewhere.
    const scripts = [...page.text.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(scripts.length).toBeGreaterThan(0);
    expect(page.text.match(/<script(?![^>]*\bsrc=)[^>]*>\s*\S/)).toBeNull();
    for (const src of scripts) {
      expect(src.startsWith('./static/')).toBe(true);
      const script = await t.call('GET', `/api/v1/docs/${src.slice(2)}`);
      expect(script.status, src).toBe(200);
      expect(script.headers.get('content-security-policy')).toBe(csp);
    }
  });

  it('points the UI at the same OpenAPI document as /api/v1/openapi.json', async () => {
    const init = await t.call('GET', '/api/v1/docs/static/swagger-initializer.js');
    expect(init.status).toBe(200);
    expect(init.text).toContain("resolveUrl('./json')");
    const viaDocs = await t.call('GET', '/api/v1/docs/json');
    const served = await t.call('GET', '/api/v1/openapi.json');
    expect(viaDocs.status).toBe(200);
    expect(viaDocs.body).toEqual(served.body);
    expect(viaDocs.body.openapi).toMatch(/^3\./);
    expect(Object.keys(viaDocs.body.paths)).toContain('/api/v1/resolve');
  });
});

describe('API reference in agent mode', () => {
  it('is not served: the agent answers resolve and refresh only', async () => {
    const agent = await startTestServer({ mode: 'agent', agent: { token: 'agent-token-for-docs-test-0123456789' } });
    try {
      const page = await agent.call('GET', '/api/v1/docs/');
      expect(page.status).toBe(404);
    } finally {
      await agent.close();
    }
  });
});

describe('the OpenAPI document names the statuses the routes answer', () => {
  let t: TestServer;
  let paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  let components: { schemas: { Error: { properties: { error: { properties: Record<string, unknown> } } } } };
  const documented = (method: string, path: string) => Object.keys(paths[path]?.[method.toLowerCase()]?.responses ?? {}).sort();

  beforeAll(async () => {
    t = await startTestServer();
    ({ paths, components } = (await t.call('GET', '/api/v1/openapi.json')).body);
  });
  afterAll(async () => {
    await t.close();
  });

  it('the session routes answer 401 (and sign-out 403 without the CSRF header), and say so', async () => {
    const signIn = await t.call('POST', '/api/v1/session', { body: { token: 'sesame_not-a-token' } });
    expect(signIn.status, signIn.text).toBe(401);
    expect(documented('POST', '/api/v1/session')).toContain('401');
    const whoami = await t.call('GET', '/api/v1/session');
    expect(whoami.status, whoami.text).toBe(401);
    expect(documented('GET', '/api/v1/session')).toContain('401');
    const { token } = await t.token('operator');
    const opened = await t.call('POST', '/api/v1/session', { body: { token } });
    const cookie = (opened.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const signOut = await t.call('DELETE', '/api/v1/session', { headers: { cookie } });
    expect(signOut.status, signOut.text).toBe(403);
    expect(documented('DELETE', '/api/v1/session')).toEqual(expect.arrayContaining(['401', '403']));
  });

  it('a body that is not JSON is a documented 415', async () => {
    const { token } = await t.token('runtime');
    const r = await t.call('POST', '/api/v1/resolve', { token, raw: '<reference/>', headers: { 'content-type': 'application/xml' } });
    expect(r.status, r.text).toBe(415);
    expect(documented('POST', '/api/v1/resolve')).toContain('415');
  });

  it('every route documents its 500, whose body carries the request id', () => {
    for (const [path, operations] of Object.entries(paths)) {
      for (const method of Object.keys(operations)) expect(documented(method, path), `${method} ${path}`).toContain('500');
    }
    expect(Object.keys(components.schemas.Error.properties.error.properties)).toContain('requestId');
  });

  it('readiness documents its 503; routes without input document no 400, unlimited ones no 429', () => {
    expect(documented('GET', '/readyz')).toEqual(['200', '500', '503']);
    expect(documented('GET', '/healthz')).toEqual(['200', '500']);
    expect(documented('GET', '/api/v1/openapi.json')).toEqual(['200', '429', '500']);
    expect(documented('POST', '/api/v1/resolve')).toEqual(['200', '400', '401', '403', '404', '409', '413', '415', '429', '500', '503']);
  });
});

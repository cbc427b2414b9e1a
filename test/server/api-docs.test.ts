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

/**
 * The `http` store's URL templates: `{name}`, `{+name}`, `{version}` (and `{prefix}` in
 * `listUrl`) may fill the path and the query only. A placeholder in the scheme, user info, host
 * or port lets the secret's name choose where the request goes: `http://{+name}@8.8.8.8/` with
 * the name `127.0.0.1/internal-admin` becomes `http://127.0.0.1/internal-admin@8.8.8.8/`, a
 * request to this host's loopback (the server-side request forgery a security review found).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import type { StoreContext } from '../../src/stores/contract.js';
import { HttpStoreClient, type HttpStoreSettings, httpStoreType } from '../../src/stores/http/index.js';

const context: StoreContext = {
  storeName: 'hx',
  namespace: '',
  log: { debug() {}, info() {}, warn() {} },
  services: {},
};

function issues(input: Record<string, unknown>): string[] {
  const parsed = httpStoreType.settings.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('http store url templates', () => {
  const outsidePath = [
    'http://{+name}@8.8.8.8/',
    'http://{name}@8.8.8.8/',
    'http://{name}.evil.example/v1',
    'http://{name}/v1/secret',
    'http://s.example:{version}/v1/{name}',
    'http://u:{version}@s.example/{name}',
    'https://{+name}',
    '{name}://s.example/v1',
    'http:{name}',
    'http:/{name}/x',
    'http:\\\\{name}/x',
  ];

  it.each(outsidePath)('refuses a placeholder outside the path and query: %s', (url) => {
    const found = issues({ url });
    expect(found.length, url).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(/^url: .*only in the path and the query.*not in the scheme, user info, host or port/m);
  });

  it('refuses the same in listUrl, for {prefix} too', () => {
    for (const listUrl of ['http://{prefix}.s.example/names', 'http://{prefix}@8.8.8.8/', 'http://s.example:{prefix}/']) {
      expect(issues({ url: 'https://s.example/v1/{name}', listUrl }).join('\n'), listUrl).toMatch(
        /^listUrl: .*only in the path and the query/m,
      );
    }
  });

  it('is a config error in the config file, saying where placeholders go', () => {
    const config = { stores: [{ name: 'hx', type: 'http', url: 'http://{+name}@8.8.8.8/' }] };
    let err: unknown;
    try {
      validateConfig(config, { registry: defaultStoreTypes(), baseDir: '/' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/stores\[0\]\.url: url takes placeholders .* only in the path and the query, not in the scheme, user info, host or port/);
  });

  it.each([
    'https://secrets.internal/v1/secrets/{+name}?version={version}',
    'http://127.0.0.1:8200/v1/{name}',
    'https://user:pw@s.example:8443/a/{name}/b?v={version}',
    'https://s.example?name={name}',
    'https://s.example#{name}',
  ])('takes placeholders in the path and the query: %s', (url) => {
    expect(issues({ url })).toEqual([]);
  });

  describe('the client', () => {
    let server: Server;
    let port = 0;
    let requests = 0;
    beforeAll(async () => {
      server = createServer((_req, res) => {
        requests += 1;
        res.end('internal-admin-body');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    /** Settings that skipped the schema (a row stored before it refused them): the client holds the line too. */
    function unchecked(url: string): HttpStoreClient {
      const settings = { ...httpStoreType.settings.parse({ url: 'http://127.0.0.1/{name}' }), url } as HttpStoreSettings;
      return new HttpStoreClient(settings, context);
    }

    it.each([
      ['{name} in the host', () => `http://{name}:${port}/v1`, '127.0.0.1', /127\.0\.0\.1:\d+ instead of x:\d+/],
      ['{+name} in the user info', () => 'http://{+name}@203.0.113.9/', '127.0.0.1/internal-admin', /127\.0\.0\.1 instead of 203\.0\.113\.9/],
    ])('refuses a name that would move the request to another host (%s), before any request', async (_, url, name, message) => {
      const client = unchecked(url());
      try {
        const err = await client.get({ name, namespaces: [''] }).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        expect(err).toBeInstanceOf(UsageError);
        expect(err?.message).toMatch(/would send the request to /);
        expect(err?.message).toMatch(message);
        expect(requests).toBe(0);
      } finally {
        await client.close();
      }
    });
  });
});

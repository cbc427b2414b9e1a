import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  ConfigError,
  SecretNotFoundError,
  SecretStateError,
  SesameError,
  StoreUnavailableError,
  UnsupportedOperationError,
  UsageError,
} from '../../src/errors.js';
import type { StoreContext } from '../../src/stores/contract.js';
import { HttpStoreClient, type HttpStoreSettings, httpStoreType } from '../../src/stores/http/index.js';
import { type HttpStoreEmulator, startHttpStoreEmulator } from '../emulators/http/index.js';
import { runStoreContract, runStoreFaultContract } from './contract.js';

const context = (baseDir?: string): StoreContext => ({
  storeName: 'custom',
  namespace: '',
  log: { debug() {}, info() {}, warn() {} },
  services: {},
  baseDir,
});

function parse(input: Record<string, unknown>): HttpStoreSettings {
  return httpStoreType.settings.parse(input);
}

function clientFor(
  em: HttpStoreEmulator,
  overrides: Record<string, unknown> = {},
  delays: number[] = [],
  baseDir?: string,
) {
  const settings = parse({
    url: `${em.url}/v1/secrets/{name}?version={version}`,
    valuePath: '/data/value',
    listUrl: `${em.url}/v1/names?prefix={prefix}`,
    ...overrides,
  });
  return new HttpStoreClient(settings, context(baseDir), {
    retry: {
      sleep: async (ms) => {
        delays.push(ms);
      },
    },
  });
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const result = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(result instanceof Error)) throw new Error('expected the call to fail');
  return result;
}

const httpContract = {
  label: 'http (bearer, JSON valuePath, emulator)',
  storeType: httpStoreType,
  prefix: false,
  harness: async () => {
    const em = await startHttpStoreEmulator();
    em.controls.requireAuth({ bearer: 'contract-token' });
    const auth = { method: 'bearer', token: 'contract-token' };
    return {
      client: clientFor(em, { auth }),
      seed: async (name: string, value: string) => void em.controls.seed(name, value),
      faults: em.faults,
      settings: {
        url: `${em.url}/v1/secrets/{name}?version={version}`,
        valuePath: '/data/value',
        listUrl: `${em.url}/v1/names?prefix={prefix}`,
        auth,
      },
      close: () => em.stop(),
    };
  },
};
runStoreContract(httpContract);
runStoreFaultContract(httpContract);

describe('http store', () => {
  let em: HttpStoreEmulator;

  beforeAll(async () => {
    em = await startHttpStoreEmulator();
  });
  afterAll(async () => {
    await em.stop();
  });
  beforeEach(() => {
    em.controls.reset();
    em.controls.requireAuth(undefined);
  });

  describe('settings', () => {
    it('needs a url template with {name} and rejects unknown keys', () => {
      expect(httpStoreType.settings.safeParse({ url: 'https://s.example/v1/secret' }).success).toBe(false);
      expect(
        httpStoreType.settings.safeParse({ url: 'https://s.example/lookup', method: 'POST' }).success,
      ).toBe(true);
      expect(httpStoreType.settings.safeParse({ url: 'ftp://s.example/{name}' }).success).toBe(false);
      expect(httpStoreType.settings.safeParse({ url: 'https://s.example/{name}', verb: 'GET' }).success).toBe(
        false,
      );
      expect(parse({ url: 'https://s.example/{name}' })).toMatchObject({
        method: 'GET',
        timeout: '10s',
        auth: { method: 'none' },
      });
    });

    it('checks valuePath and timeout', () => {
      expect(
        httpStoreType.settings.safeParse({ url: 'https://s.example/{name}', valuePath: 'data.value' })
          .success,
      ).toBe(false);
      expect(
        httpStoreType.settings.safeParse({ url: 'https://s.example/{name}', timeout: 'soon' }).success,
      ).toBe(false);
      expect(
        httpStoreType.settings.safeParse({ url: 'https://s.example/{name}', timeout: '0' }).success,
      ).toBe(false);
    });

    it('declares its credentials', () => {
      expect([...(httpStoreType.secretSettings ?? [])].sort()).toEqual([
        'auth.password',
        'auth.token',
        'headers',
      ]);
    });

    it('refuses an Authorization header next to an auth method', () => {
      const settings = parse({
        url: `${em.url}/{name}`,
        headers: { Authorization: 'x' },
        auth: { method: 'bearer', token: 't' },
      });
      expect(() => new HttpStoreClient(settings, context())).toThrow(ConfigError);
    });

    it('names a caFile it cannot read', () => {
      const settings = parse({ url: `${em.url}/{name}`, caFile: 'missing-ca.pem' });
      expect(() => new HttpStoreClient(settings, context('/nonexistent'))).toThrow(
        /^config stores\.[\w-]+\.caFile: file \/nonexistent\/missing-ca\.pem does not exist \(the PEM file of the CA\(s\) that signed the service's certificate\)$/,
      );
    });
  });

  describe('reads', () => {
    it('substitutes the URL-encoded name and version', async () => {
      em.controls.seed('db pass/ü', 'one');
      em.controls.seed('db pass/ü', 'two');
      const client = clientFor(em);
      expect(await client.get({ name: 'db pass/ü', namespaces: [''] })).toEqual({ value: 'two' });
      expect(await client.get({ name: 'db pass/ü', version: '1', namespaces: [''] })).toEqual({
        value: 'one',
      });
    });

    it('keeps slashes with {+name}', async () => {
      em.controls.seed('team/db', 'kept');
      const client = clientFor(em, { url: `${em.url}/raw/{+name}`, valuePath: undefined });
      expect((await client.get({ name: 'team/db', namespaces: [''] })).value).toBe('kept');
    });

    it('takes the raw body as the value without valuePath', async () => {
      em.controls.seed('plain', 'line one\nline two');
      const client = clientFor(em, { url: `${em.url}/raw/{name}`, valuePath: undefined });
      expect(await client.get({ name: 'plain', namespaces: [''] })).toEqual({ value: 'line one\nline two' });
    });

    it('posts the name and version when method is POST', async () => {
      em.controls.seed('posted', 'p1');
      em.controls.seed('posted', 'p2');
      const client = clientFor(em, { url: `${em.url}/lookup`, method: 'POST' });
      expect((await client.get({ name: 'posted', namespaces: [''] })).value).toBe('p2');
      expect(em.controls.calls.lookup).toBe(1);
    });

    it('serves a JSON object at valuePath as JSON text', async () => {
      em.controls.seed('nested', 'x');
      const client = clientFor(em, { valuePath: '/data' });
      expect(JSON.parse(String((await client.get({ name: 'nested', namespaces: [''] })).value))).toEqual({
        value: 'x',
        version: '1',
      });
    });

    it('refuses a pinned version when the url has no {version}', async () => {
      const client = clientFor(em, { url: `${em.url}/raw/{name}`, valuePath: undefined });
      await expect(client.get({ name: 'x', version: '2', namespaces: [''] })).rejects.toBeInstanceOf(
        UsageError,
      );
    });

    it('sends the configured headers', async () => {
      em.controls.seed('with-headers', 'h');
      await clientFor(em, { headers: { 'X-Tenant': 'acme' } }).get({
        name: 'with-headers',
        namespaces: [''],
      });
      expect(em.controls.headers['x-tenant']).toEqual(['acme']);
    });
  });

  describe('auth', () => {
    it('sends a bearer token', async () => {
      em.controls.requireAuth({ bearer: 'tok-1' });
      em.controls.seed('b', 'bearer-ok');
      expect(
        (
          await clientFor(em, { auth: { method: 'bearer', token: 'tok-1' } }).get({
            name: 'b',
            namespaces: [''],
          })
        ).value,
      ).toBe('bearer-ok');
      expect(em.controls.authorizations).toContain('Bearer tok-1');
    });

    it('sends basic credentials', async () => {
      em.controls.requireAuth({ username: 'svc', password: 'pa:ss' });
      em.controls.seed('basic', 'basic-ok');
      const client = clientFor(em, { auth: { method: 'basic', username: 'svc', password: 'pa:ss' } });
      expect((await client.get({ name: 'basic', namespaces: [''] })).value).toBe('basic-ok');
    });

    it('sends no Authorization header with auth none', async () => {
      em.controls.seed('open', 'o');
      await clientFor(em).get({ name: 'open', namespaces: [''] });
      expect(em.controls.authorizations).toEqual([]);
    });

    it('reports 401 as access denied without the token', async () => {
      em.controls.requireAuth({ bearer: 'right-token' });
      const err = await failure(
        clientFor(em, { auth: { method: 'bearer', token: 'wrong-token-8d2' } }).get({
          name: 'x',
          namespaces: [''],
        }),
      );
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect(err.message).toContain('401');
      expect(err.message).not.toContain('wrong-token-8d2');
    });

    it('reports 403 as access denied', async () => {
      em.controls.seed('forbidden', 'forbidden-value-1a');
      em.controls.deny(true);
      const err = await failure(clientFor(em).get({ name: 'forbidden', namespaces: [''] }));
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect(err.message).toContain('403');
      expect(err.message).not.toContain('forbidden-value-1a');
    });
  });

  describe('failures', () => {
    it('reports 404 as not found', async () => {
      const err = await failure(clientFor(em).get({ name: 'absent', namespaces: [''] }));
      expect(err).toBeInstanceOf(SecretNotFoundError);
      expect(err.message).toBe(
        `[custom] reading "absent": ${em.url}/v1/secrets/absent answered 404 Not Found`,
      );
      expect((err as SecretNotFoundError).fix).toBe('create the secret, or check the url template');
    });

    it('retries 429 after Retry-After, then serves', async () => {
      em.controls.seed('throttled', 't');
      em.controls.throttle(2, 4);
      const delays: number[] = [];
      expect((await clientFor(em, {}, delays).get({ name: 'throttled', namespaces: [''] })).value).toBe('t');
      expect(delays).toEqual([4000, 4000]);
    });

    it('retries 5xx with backoff, then reports unavailable', async () => {
      em.controls.seed('flaky', 'f');
      const delays: number[] = [];
      em.controls.fail(1, 502);
      expect((await clientFor(em, {}, delays).get({ name: 'flaky', namespaces: [''] })).value).toBe('f');
      expect(delays).toHaveLength(1);
      em.controls.fail(10, 500);
      const err = await failure(clientFor(em).get({ name: 'flaky', namespaces: [''] }));
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toContain('HTTP 500');
      expect(err.message).toContain('after 4 attempts');
    });

    it('reports persistent 429 as unavailable', async () => {
      em.controls.throttle(10, 0);
      const err = await failure(clientFor(em).get({ name: 'x', namespaces: [''] }));
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toContain('429');
    });

    it('times out a slow store and says after how long', async () => {
      em.controls.seed('slow', 's');
      em.controls.slow(300);
      const err = await failure(clientFor(em, { timeout: '50ms' }).get({ name: 'slow', namespaces: [''] }));
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toMatch(/127\.0\.0\.1:\d+ did not answer within 50 ms \(timeout\)/);
      expect((err as StoreUnavailableError).fix).toContain('or raise timeout (50ms)');
    });

    it('reports an unreachable store as unavailable', async () => {
      const err = await failure(
        clientFor(em, { url: 'http://127.0.0.1:1/{name}' }).get({ name: 'x', namespaces: [''] }),
      );
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toContain('ECONNREFUSED');
    });

    it('names the valuePath the JSON answer lacks', async () => {
      em.controls.seed('shapeless', 'shapeless-value-5e');
      em.controls.shape('no-value');
      const err = await failure(clientFor(em).get({ name: 'shapeless', namespaces: [''] }));
      expect(err).toBeInstanceOf(SecretStateError);
      expect(err.message).toContain('no value at valuePath /data/value');
      expect(err.message).toContain('missing from /data/value');
    });

    it('says a web page (HTML) is not an answer of the service, without quoting the body', async () => {
      em.controls.seed('html', 'html-secret-value-6c');
      em.controls.shape('not-json');
      const err = await failure(clientFor(em).get({ name: 'html', namespaces: [''] }));
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toContain('does not answer like a secret service: HTTP 200 text/html');
      expect(err.message).not.toContain('html-secret-value-6c');
    });

    it('does not follow redirects', async () => {
      const err = await failure(
        clientFor(em, { url: `${em.url}/redirect?n={name}`, valuePath: undefined }).get({
          name: 'x',
          namespaces: [''],
        }),
      );
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toContain('redirects are not followed');
    });

    it('keeps query strings (which may hold keys) out of messages', async () => {
      const err = await failure(
        clientFor(em, { url: `${em.url}/v1/secrets/{name}?api_key=query-key-3f` }).get({
          name: 'absent',
          namespaces: [''],
        }),
      );
      expect(err.message).not.toContain('query-key-3f');
    });
  });

  describe('listing', () => {
    it('reads {"names": [...]} and plain arrays, filtering by prefix', async () => {
      for (const n of ['app/a', 'app/b', 'other']) em.controls.seed(n, 'v');
      const objectForm = await clientFor(em).list({ namespaces: [''], prefix: 'app/' });
      expect(objectForm.items.map((i) => i.name)).toEqual(['app/a', 'app/b']);
      const arrayForm = await clientFor(em, { listUrl: `${em.url}/v1/names.json` }).list({
        namespaces: [''],
        prefix: 'app/',
      });
      expect(arrayForm.items.map((i) => i.name)).toEqual(['app/a', 'app/b']);
    });

    it('cannot list without listUrl and says what to set', async () => {
      const err = await failure(clientFor(em, { listUrl: undefined }).list({ namespaces: [''] }));
      expect(err).toBeInstanceOf(UnsupportedOperationError);
      expect(err.message).toContain('set listUrl');
    });

    it('refuses a listing that is not names', async () => {
      const err = await failure(
        clientFor(em, { listUrl: `${em.url}/v1/secrets/whatever` }).list({ namespaces: [''] }),
      );
      expect(err).toBeInstanceOf(SesameError);
    });
  });

  describe('TLS', () => {
    let tls: HttpStoreEmulator;
    beforeAll(async () => {
      tls = await startHttpStoreEmulator({ tls: true });
      tls.controls.seed('over-tls', 'tls-ok');
    });
    afterAll(async () => {
      await tls.stop();
    });

    it('trusts the store’s CA from caFile', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'sesame-http-'));
      writeFileSync(path.join(dir, 'ca.pem'), tls.ca ?? '');
      const client = clientFor(tls, { caFile: 'ca.pem' }, [], dir);
      expect((await client.get({ name: 'over-tls', namespaces: [''] })).value).toBe('tls-ok');
    });

    it('says to set caFile when the certificate is not trusted, without retrying', async () => {
      const delays: number[] = [];
      const err = await failure(clientFor(tls, {}, delays).get({ name: 'over-tls', namespaces: [''] }));
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err.message).toMatch(/is not signed by a CA this process trusts/);
      expect((err as StoreUnavailableError).fix).toBe('set caFile to a PEM file of the CA that signed it');
      expect(delays).toEqual([]);
    });
  });

  describe('check', () => {
    it('reads the sample and lists', async () => {
      em.controls.seed('sample', 'sample-value-2b');
      const report = await clientFor(em).check({ namespaces: [''], sample: 'sample' });
      expect(report.steps.map((s) => [s.step, s.ok])).toEqual([
        ['read', true],
        ['list', true],
      ]);
      expect(JSON.stringify(report)).not.toContain('sample-value-2b');
    });

    it('probes a name that does not exist when no sample is given', async () => {
      const report = await clientFor(em, { listUrl: undefined }).check({ namespaces: [''] });
      expect(report).toMatchObject({ ok: true, steps: [{ step: 'read', ok: true }] });
    });

    it('says what to fix when the credentials are refused', async () => {
      em.controls.requireAuth({ bearer: 'right' });
      const report = await clientFor(em, { auth: { method: 'bearer', token: 'wrong' } }).check({
        namespaces: [''],
        sample: 'x',
      });
      expect(report.ok).toBe(false);
      expect(report.steps[0]?.fix).toContain('fix auth or headers');
    });
  });
});

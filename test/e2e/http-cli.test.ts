/**
 * The custom `http` store end to end: a `sesame.yaml` pointing an `http` store at the local
 * custom-store emulator, and the real `sesame` bin. Each auth method (none, bearer, basic, and
 * credentials in `headers`) resolves; JSON answers through `valuePath`, text answers as they
 * are, POST lookups, TLS with `caFile`; `stores test` says what to fix for a 401 and a 403;
 * failures exit 1 without a value. Needs `npm run build`.
 */
import { describe, expect, it } from 'vitest';
import { withEmulator } from '../support/with-emulator.js';
import { type HttpStoreEmulator, startHttpStoreEmulator } from '../emulators/http/index.js';
import {
  expectFailure,
  expectNoSecrets,
  expectValue,
  failedStep,
  okStep,
  sesame,
  show,
  type Workdir,
} from './support.js';

const TOKEN = 'http-bearer-token-5e1d9c';
const PASSWORD = 'http-basic-password-38af0b';
const DB = 'http-db-password-c47e10';
const JIRA = JSON.stringify({ 'prod.jira.secret.key': 'http-jira-token-a9031e' });
const VALUES = [DB, 'http-jira-token-a9031e'];

describe('http (custom store) through the CLI', () => {
  let em: HttpStoreEmulator;
  let tlsEm: HttpStoreEmulator;
  let wd: Workdir;

  const store = (settings: Record<string, unknown>) => ({
    stores: [
      {
        name: 'custom',
        type: 'http',
        url: `${em.url}/v1/secrets/{+name}?version={version}`,
        valuePath: '/data/value',
        listUrl: `${em.url}/v1/names?prefix={prefix}`,
        ...settings,
      },
    ],
  });

  withEmulator(
    'http',
    async () => ({ plain: await startHttpStoreEmulator(), tls: await startHttpStoreEmulator({ tls: true }) }),
    (started, dir) => {
      em = started.plain;
      tlsEm = started.tls;
      wd = dir;
      em.controls.seed('prod/db/password', 'old-http-password-0');
      em.controls.seed('prod/db/password', DB);
      em.controls.seed('prod-jira-credentials', JIRA);
      tlsEm.controls.seed('tls/secret', 'http-over-tls-value-6b');
    },
  );

  describe('resolve prints the value with each auth method', () => {
    it('none: a JSON answer through valuePath, a pinned version, a key of a JSON secret', async () => {
      em.controls.requireAuth(undefined);
      wd.config(store({ auth: { method: 'none' } }));
      expectValue(await sesame(wd, ['resolve', 'secret://custom/prod/db/password']), DB);
      expectValue(await sesame(wd, ['resolve', 'secret://custom/prod/db/password?version=1']), 'old-http-password-0');
      expectValue(
        await sesame(wd, ['resolve', 'secret://custom/prod-jira-credentials#prod.jira.secret.key']),
        'http-jira-token-a9031e',
      );
    });

    it('bearer: the token from ${env:…}', async () => {
      em.controls.requireAuth({ bearer: TOKEN });
      wd.config(store({ auth: { method: 'bearer', token: '${env:SECRETS_TOKEN}' } }));
      const r = await sesame(wd, ['resolve', 'secret://custom/prod/db/password'], { env: { SECRETS_TOKEN: TOKEN } });
      expectValue(r, DB);
      expect(em.controls.authorizations.at(-1)).toBe(`Bearer ${TOKEN}`);
    });

    it('basic', async () => {
      em.controls.requireAuth({ username: 'sesame', password: PASSWORD });
      wd.config(store({ auth: { method: 'basic', username: 'sesame', password: PASSWORD } }));
      expectValue(await sesame(wd, ['resolve', 'secret://custom/prod/db/password']), DB);
    });

    it('headers: an API key header, and a text answer without valuePath', async () => {
      em.controls.requireAuth(undefined);
      wd.config(
        store({ url: `${em.url}/raw/{name}`, valuePath: undefined, headers: { 'X-Api-Key': 'http-api-key-value-77d0' } }),
      );
      expectValue(await sesame(wd, ['resolve', 'secret://custom/prod-jira-credentials#prod.jira.secret.key']), 'http-jira-token-a9031e');
      expect(em.controls.headers['x-api-key']).toContain('http-api-key-value-77d0');
    });

    it('POST lookups: the name goes in the body', async () => {
      em.controls.requireAuth(undefined);
      wd.config(store({ url: `${em.url}/lookup`, method: 'POST' }));
      expectValue(await sesame(wd, ['resolve', 'secret://custom/prod/db/password']), DB);
    });

    it('https with caFile (relative to the config)', async () => {
      wd.file('store-ca.pem', tlsEm.ca as string);
      wd.config({
        stores: [
          { name: 'custom', type: 'http', url: `${tlsEm.url}/v1/secrets/{+name}`, valuePath: '/data/value', caFile: './store-ca.pem' },
        ],
      });
      expectValue(await sesame(wd, ['resolve', 'secret://custom/tls/secret']), 'http-over-tls-value-6b');
    });

    it('https without caFile exits 1 and says to set caFile', async () => {
      wd.config({ stores: [{ name: 'custom', type: 'http', url: `${tlsEm.url}/v1/secrets/{+name}`, valuePath: '/data/value' }] });
      const line = expectFailure(await sesame(wd, ['resolve', 'secret://custom/tls/secret']), 1, ['http-over-tls-value-6b']);
      expect(line).toContain('set caFile');
    });
  });

  describe('failures', () => {
    it('a missing secret exits 1 naming the reference', async () => {
      em.controls.requireAuth(undefined);
      wd.config(store({}));
      const line = expectFailure(await sesame(wd, ['resolve', 'secret://custom/prod/nope']), 1, VALUES);
      expect(line).toContain('secret://custom/prod/nope');
      expect(line).toContain('404 Not Found');
    });

    it('?stage= (an AWS staging label) is refused with exit 2, not ignored', async () => {
      em.controls.requireAuth(undefined);
      wd.config(store({}));
      const r = await sesame(wd, ['resolve', 'secret://custom/prod/db/password?stage=AWSPREVIOUS']);
      expect(expectFailure(r, 2, VALUES)).toContain('stores of type http have no stages: pin a version with ?version= instead');
    });

    it('a 403 exits 1 and says to grant access on the store', async () => {
      em.controls.requireAuth({ bearer: TOKEN });
      em.controls.deny(true);
      try {
        wd.config(store({ auth: { method: 'bearer', token: TOKEN } }));
        const line = expectFailure(await sesame(wd, ['resolve', 'secret://custom/prod/db/password']), 1, [...VALUES, TOKEN]);
        expect(line).toContain('secret://custom/prod/db/password');
        expect(line).toContain('403 Forbidden');
        expect(line).toContain('grant them access on the store');
      } finally {
        em.controls.deny(false);
      }
    });

    it('stores test: ready, exit 0, no value printed', async () => {
      em.controls.requireAuth({ bearer: TOKEN });
      wd.config(store({ auth: { method: 'bearer', token: TOKEN } }));
      const r = await sesame(wd, ['stores', 'test', 'custom', '--sample', 'prod/db/password']);
      expect(r.code, show(r)).toBe(0);
      expect(okStep(r, 'read'), show(r)).toBeDefined();
      expect(okStep(r, 'list'), show(r)).toBeDefined();
      expectNoSecrets(r, [...VALUES, TOKEN]);
    });

    it('stores test: 403 → FAIL read with what to grant, exit 1', async () => {
      em.controls.requireAuth({ bearer: TOKEN });
      em.controls.deny(true);
      try {
        wd.config(store({ auth: { method: 'bearer', token: TOKEN } }));
        const r = await sesame(wd, ['stores', 'test', 'custom', '--sample', 'prod/db/password']);
        expect(r.code, show(r)).toBe(1);
        expect(failedStep(r, 'read').fix).toBe('fix auth or headers, or grant these credentials read access on the store');
        expectNoSecrets(r, [...VALUES, TOKEN]);
      } finally {
        em.controls.deny(false);
      }
    });

    it('stores test: a wrong token (401) → FAIL read and FAIL list, exit 1, token not echoed', async () => {
      em.controls.requireAuth({ bearer: TOKEN });
      const wrong = 'wrong-http-token-0c9e';
      wd.config(store({ auth: { method: 'bearer', token: wrong } }));
      const r = await sesame(wd, ['stores', 'test', 'custom', '--sample', 'prod/db/password']);
      expect(r.code, show(r)).toBe(1);
      expect(failedStep(r, 'read').detail).toContain('401 Unauthorized');
      // The 401's own fix, not the list step's generic one.
      expect(failedStep(r, 'list').fix).toBe('fix auth or headers, or grant these credentials read access on the store');
      expectNoSecrets(r, [...VALUES, TOKEN, wrong]);
    });
  });
});

/**
 * A malformed URL setting is a validation issue, never a crash. The `gcp-secret-manager`
 * schema's regional-endpoint rule parsed `apiEndpoint` with `new URL` in a `.refine`, which zod
 * runs even after the setting's own URL check failed: `apiEndpoint: "127.0.0.1:9"` threw
 * `TypeError: Invalid URL` and `POST /stores` answered 500. Every store schema with a URL setting
 * is held to the same here: a bad URL gives an issue on that setting, with its message.
 */
import { describe, expect, it } from 'vitest';
import { gcpSecretManagerSettings } from '../../src/stores/gcp/settings.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import { operatorCreatesStores } from '../server/helpers.js';

const BAD_URLS = ['127.0.0.1:9', 'not a url', 'http://', '://x', 'http://[::1', ''];

/** Valid settings of each type with URL settings, and those settings. */
const TABLE: Array<{ type: string; settings: Record<string, unknown>; urls: string[] }> = [
  {
    type: 'aws-secrets-manager',
    settings: { region: 'us-east-1', endpoint: 'http://127.0.0.1:4566', stsEndpoint: 'http://127.0.0.1:4566' },
    urls: ['endpoint', 'stsEndpoint'],
  },
  {
    type: 'azure-key-vault',
    settings: { vaultUrl: 'https://v.vault.azure.net', authorityHost: 'https://login.microsoftonline.com' },
    urls: ['vaultUrl', 'authorityHost'],
  },
  {
    type: 'gcp-secret-manager',
    settings: { project: 'acme-prod', location: 'me-central2', apiEndpoint: 'https://secretmanager.me-central2.rep.googleapis.com' },
    urls: ['apiEndpoint'],
  },
  { type: 'vault', settings: { address: 'https://vault:8200', auth: { method: 'token', token: 't' } }, urls: ['address'] },
  { type: '1password-connect', settings: { url: 'http://op-connect:8080', vault: 'v', auth: { method: 'token', token: 't' } }, urls: ['url'] },
  { type: 'doppler', settings: { apiUrl: 'https://api.doppler.com', project: 'p', config: 'c', auth: { method: 'service-token', token: 't' } }, urls: ['apiUrl'] },
  {
    type: 'infisical',
    settings: { siteUrl: 'https://app.infisical.com', projectId: 'p', environment: 'dev', auth: { method: 'universal-auth', clientId: 'a', clientSecret: 'b' } },
    urls: ['siteUrl'],
  },
  { type: 'conjur', settings: { url: 'https://conjur.example.com', account: 'a', auth: { method: 'api-key', login: 'l', apiKey: 'k' } }, urls: ['url'] },
  { type: 'http', settings: { url: 'https://s.example/{name}', listUrl: 'https://s.example/names' }, urls: ['url', 'listUrl'] },
];

describe('gcp-secret-manager apiEndpoint', () => {
  it('answers an issue on apiEndpoint for "127.0.0.1:9", instead of throwing', () => {
    const parsed = gcpSecretManagerSettings.safeParse({ project: 'acme-prod', apiEndpoint: '127.0.0.1:9' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'apiEndpoint: apiEndpoint is a URL such as https://secretmanager.me-central2.rep.googleapis.com',
    ]);
  });

  const { create } = operatorCreatesStores('gcp-secret-manager');
  it('POST /stores answers 400 with the apiEndpoint message, not 500', async () => {
    const r = await create('gsm', { project: 'acme-prod', apiEndpoint: '127.0.0.1:9' });
    expect(r.status, r.text).toBe(400);
    expect(r.text).toContain('apiEndpoint is a URL such as https://secretmanager.me-central2.rep.googleapis.com');
    expect(r.text).not.toMatch(/Invalid URL|internal/i);
  });

  it('still ties a regional endpoint to its location', () => {
    const endpoint = 'https://secretmanager.me-central2.rep.googleapis.com';
    expect(gcpSecretManagerSettings.safeParse({ project: 'acme-prod', apiEndpoint: endpoint }).error?.issues[0]?.path).toEqual(['location']);
    expect(gcpSecretManagerSettings.safeParse({ project: 'acme-prod', location: 'me-central2', apiEndpoint: endpoint }).success).toBe(true);
  });
});

describe('every store schema with a URL setting', () => {
  const types = defaultStoreTypes();
  describe.each(TABLE)('$type', ({ type, settings, urls }) => {
    const schema = types.get(type).settings;
    it('takes the valid baseline', () => {
      const parsed = schema.safeParse(settings);
      expect(parsed.error?.issues ?? []).toEqual([]);
    });
    it.each(urls.flatMap((setting) => BAD_URLS.map((bad) => [setting, bad] as const)))(
      '%s = %j is an issue on that setting, not a throw',
      (setting, bad) => {
        const parsed = schema.safeParse({ ...settings, [setting]: bad });
        expect(parsed.success).toBe(false);
        const on = parsed.error?.issues.filter((i) => i.path.join('.') === setting) ?? [];
        expect(on.length, JSON.stringify(parsed.error?.issues)).toBeGreaterThan(0);
        expect(on.some((i) => /URL/.test(i.message)), JSON.stringify(on)).toBe(true);
        // The TypeError's own words never make it into a message.
        expect(parsed.error?.issues.map((i) => i.message).join('\n')).not.toMatch(/Invalid URL/);
      },
    );
  });
});

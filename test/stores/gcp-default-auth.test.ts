/**
 * `auth: { method: default }` on a Google Cloud VM: Application Default Credentials find no key
 * file and ask the metadata server for a token. The environment variables that steer ADC are set
 * here only (each test file runs in its own process).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessDeniedError } from '../../src/errors.js';
import type { StoreContext } from '../../src/stores/contract.js';
import { GcpSecretManagerStoreClient, gcpSecretManagerStoreType } from '../../src/stores/gcp/index.js';
import { type GcpSecretManagerEmulator, startGcpSecretManagerEmulator } from '../emulators/gcp/index.js';

const context: StoreContext = {
  storeName: 'gcp-adc',
  namespace: '',
  log: { debug() {}, info() {}, warn() {} },
  services: {},
};
const VARIABLES = [
  'GCE_METADATA_HOST',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'CLOUDSDK_CONFIG',
  'METADATA_SERVER_DETECTION',
];

describe('gcp-secret-manager store with application default credentials', () => {
  let em: GcpSecretManagerEmulator;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    em = await startGcpSecretManagerEmulator();
    for (const k of VARIABLES) saved[k] = process.env[k];
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.CLOUDSDK_CONFIG = mkdtempSync(path.join(tmpdir(), 'sesame-gcloud-')); // no gcloud ADC file
    process.env.GCE_METADATA_HOST = em.metadataHost;
    process.env.METADATA_SERVER_DETECTION = 'assume-present';
  });
  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await em.stop();
  });

  it('reads with a token from the metadata server', async () => {
    em.controls.seed('adc_secret', 'adc-value');
    const settings = gcpSecretManagerStoreType.settings.parse({
      project: em.controls.project,
      apiEndpoint: em.url,
    });
    const client = new GcpSecretManagerStoreClient(settings, context);
    expect((await client.get({ name: 'adc_secret', namespaces: [''] })).value).toBe('adc-value');
    expect(em.controls.calls['metadata-token']).toBeGreaterThan(0);
    expect(em.controls.principals).toContain('metadata');
    const report = await client.check({ namespaces: [''], sample: 'adc_secret' });
    expect(report.ok).toBe(true);
    await client.close();
  });

  it('says where credentials can come from when there are none', async () => {
    process.env.METADATA_SERVER_DETECTION = 'none';
    try {
      const settings = gcpSecretManagerStoreType.settings.parse({
        project: em.controls.project,
        apiEndpoint: em.url,
      });
      const client = new GcpSecretManagerStoreClient(settings, context);
      const err = await client.get({ name: 'adc_secret', namespaces: [''] }).then(
        () => new Error('expected a failure'),
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect(err.message).toContain('GOOGLE_APPLICATION_CREDENTIALS');
      const report = await client.check({ namespaces: [''] });
      expect(report.steps).toEqual([expect.objectContaining({ step: 'authenticate', ok: false })]);
      await client.close();
    } finally {
      process.env.METADATA_SERVER_DETECTION = 'assume-present';
    }
  });
});

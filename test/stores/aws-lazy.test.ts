/**
 * The AWS SDK stays unloaded until a store of that type is used: importing the adapter and
 * creating a client cost nothing; the first call loads the SDK once.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { awsSecretsManagerStoreType } from '../../src/stores/aws/index.js';
import type { StoreContext } from '../../src/stores/contract.js';
import { AWS_EMULATOR_CREDENTIALS, type AwsEmulator, startAwsEmulator } from '../emulators/aws/index.js';

const loads = vi.hoisted(() => ({ secretsManager: 0, providers: 0, sts: 0 }));

vi.mock('@aws-sdk/client-secrets-manager', async (importOriginal) => {
  loads.secretsManager += 1;
  return importOriginal();
});
vi.mock('@aws-sdk/credential-providers', async (importOriginal) => {
  loads.providers += 1;
  return importOriginal();
});
vi.mock('@aws-sdk/client-sts', async (importOriginal) => {
  loads.sts += 1;
  return importOriginal();
});

const context: StoreContext = {
  storeName: 'aws',
  namespace: '',
  services: {},
  log: { debug() {}, info() {}, warn() {} },
};

describe('aws-secrets-manager SDK loading', () => {
  let aws: AwsEmulator;
  beforeAll(async () => {
    aws = await startAwsEmulator();
    aws.seed('lazy/one', 'v1');
  });
  afterAll(async () => {
    await aws.stop();
  });

  it('imports no SDK until the first call, then loads Secrets Manager once (and STS only for check)', async () => {
    const settings = awsSecretsManagerStoreType.settings.parse({
      region: 'us-east-1',
      endpoint: aws.url,
      auth: { method: 'static', ...AWS_EMULATOR_CREDENTIALS },
    });
    const client = await awsSecretsManagerStoreType.create(settings, context);
    expect(loads).toEqual({ secretsManager: 0, providers: 0, sts: 0 });

    await client.get({ name: 'lazy/one', namespaces: [''] });
    await client.get({ name: 'lazy/one', namespaces: [''] });
    expect(loads).toEqual({ secretsManager: 1, providers: 0, sts: 0 });

    await client.check({ namespaces: [''] });
    expect(loads.sts).toBe(1);
    await client.close();
  });
});

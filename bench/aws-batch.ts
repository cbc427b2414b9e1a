/**
 * AWS batching benchmark: resolve 100 distinct cold secrets
 *  - with Sesame's aws-secrets-manager store (`getMany` → BatchGetSecretValue, 20 per call), and
 *  - with Powertools for AWS Lambda's `getSecret` (Secrets Manager provider, one
 *    GetSecretValue per secret),
 * both through the real SDK against the local emulator, which adds a fixed latency per request
 * so round trips cost what a nearby region would. Calls are counted by the emulator.
 */
import { performance } from 'node:perf_hooks';
import { AwsSecretsManagerStore } from '../src/stores/aws/index.js';
import type { StoreContext } from '../src/stores/contract.js';
import { AWS_EMULATOR_CREDENTIALS, callsSince, startAwsEmulator } from '../test/emulators/index.js';

export interface AwsBatchBenchResult {
  secrets: number;
  /** Latency the emulator adds to every request, in ms. */
  latencyMs: number;
  sesameCalls: number;
  sesameMs: number;
  powertoolsCalls: number;
  powertoolsMs: number;
}

const SECRETS = 100;
const LATENCY_MS = 10;

export async function benchAwsBatch(): Promise<AwsBatchBenchResult> {
  const aws = await startAwsEmulator({ latencyMs: LATENCY_MS });
  try {
    const name = (i: number) => `bench/app-${String(i).padStart(3, '0')}`;
    // Names 0-99 are measured; 100-199 warm up each path (module loading, JIT, first
    // connections) so the measured run starts from cold secrets, not a cold process.
    const measured = Array.from({ length: SECRETS }, (_, i) => name(i));
    const warmup = Array.from({ length: SECRETS }, (_, i) => name(SECRETS + i));
    for (const n of [...measured, ...warmup]) aws.seed(n, JSON.stringify({ user: n, password: `pw-${n}` }));
    const credentials = { ...AWS_EMULATOR_CREDENTIALS };

    const context: StoreContext = {
      storeName: 'aws',
      namespace: '',
      services: {},
      log: { debug() {}, info() {}, warn() {} },
    };
    const sesame = async (names: string[]) => {
      const store = new AwsSecretsManagerStore(
        {
          region: aws.region,
          endpoint: aws.url,
          auth: { method: 'static', ...credentials },
          prefix: '',
          tags: {},
        },
        context,
      );
      try {
        const results = await store.getMany(names.map((n) => ({ name: n, namespaces: [''] })));
        const failed = results.filter((r) => r instanceof Error);
        if (failed.length > 0)
          throw new Error(`sesame: ${failed.length} secrets failed: ${(failed[0] as Error).message}`);
      } finally {
        await store.close();
      }
    };

    const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    const { SecretsProvider, getSecret } = await import('@aws-lambda-powertools/parameters/secrets');
    const { DEFAULT_PROVIDERS } = await import('@aws-lambda-powertools/parameters/base');
    const powertools = async (names: string[]) => {
      const client = new SecretsManagerClient({ region: aws.region, endpoint: aws.url, credentials });
      // getSecret uses the default provider; give it a fresh one (empty cache) on the emulator.
      DEFAULT_PROVIDERS.secrets = new SecretsProvider({ awsSdkV3Client: client });
      try {
        const values = await Promise.all(names.map((n) => getSecret(n)));
        if (values.some((v) => typeof v !== 'string'))
          throw new Error('powertools: a secret did not resolve to a string');
      } finally {
        client.destroy();
        delete DEFAULT_PROVIDERS.secrets;
      }
    };

    const measure = async (run: (names: string[]) => Promise<void>) => {
      const since = callsSince(aws.calls);
      const t0 = performance.now();
      await run(measured);
      return { ms: performance.now() - t0, calls: since().total };
    };

    await sesame(warmup);
    await powertools(warmup);
    const s = await measure(sesame);
    const p = await measure(powertools);
    return {
      secrets: SECRETS,
      latencyMs: LATENCY_MS,
      sesameCalls: s.calls,
      sesameMs: s.ms,
      powertoolsCalls: p.calls,
      powertoolsMs: p.ms,
    };
  } finally {
    await aws.stop();
  }
}

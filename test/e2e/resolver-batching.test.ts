/**
 * Resolver-level batching, through the library as a platform engineer embeds it: one document
 * referencing 100 distinct cold AWS secrets costs at most 5 calls to Secrets Manager
 * (BatchGetSecretValue, 20 ids each), every value lands in its field, and resolving the same
 * document again is served from the cache without a single call.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createSesame, type Sesame } from '../../src/sesame.js';
import { AWS_EMULATOR_CREDENTIALS, type AwsEmulator, callsSince, startAwsEmulator } from '../emulators/index.js';
import { withEmulator } from '../support/with-emulator.js';
import type { Workdir } from './support.js';

const N = 100;
const name = (i: number) => `batch/app-${String(i).padStart(3, '0')}`;
const value = (i: number) => `batched-value-${i}-${(i * 7919).toString(36)}`;

describe('resolving one document with 100 cold AWS secrets', () => {
  let aws: AwsEmulator;
  let sesame: Sesame;
  let wd: Workdir;

  withEmulator('batch', startAwsEmulator, (started, dir) => {
    aws = started;
    wd = dir;
    for (let i = 0; i < N; i++) aws.seed(name(i), i % 2 === 0 ? value(i) : JSON.stringify({ password: value(i) }));
    sesame = createSesame(
      {
        stores: [
          {
            name: 'aws',
            type: 'aws-secrets-manager',
            region: 'us-east-1',
            endpoint: aws.url,
            auth: { method: 'static', ...AWS_EMULATOR_CREDENTIALS },
          },
        ],
      },
      { baseDir: wd.dir },
    );
  });
  afterAll(async () => {
    await sesame?.close();
  });

  /** 100 fields: whole-value placeholders, keys of JSON secrets, and templates. */
  const document = () => ({
    connections: Array.from({ length: N }, (_, i) => ({
      id: i,
      password:
        i % 2 === 0
          ? i % 4 === 0
            ? `{{ secret://aws/${name(i)} }}`
            : `postgres://app:{{secret://aws/${name(i)}}}@db-${i}:5432/app`
          : `{{ secret://aws/${name(i)}#password }}`,
    })),
  });
  const expected = () => ({
    connections: Array.from({ length: N }, (_, i) => ({
      id: i,
      password: i % 2 === 0 && i % 4 !== 0 ? `postgres://app:${value(i)}@db-${i}:5432/app` : value(i),
    })),
  });

  it('costs at most 5 BatchGetSecretValue calls, then 0 calls from the cache', async () => {
    const cold = callsSince(aws.calls);
    const first = await sesame.resolveDetailed(document());
    expect(first.value).toEqual(expected());
    expect(first.references).toHaveLength(N);
    expect(new Set(first.references.map((r) => r.outcome))).toEqual(new Set(['miss']));
    const coldCalls = cold();
    expect(coldCalls.total, JSON.stringify(coldCalls)).toBeLessThanOrEqual(5);
    expect(coldCalls.byOperation).toEqual({ BatchGetSecretValue: 5 });

    const warm = callsSince(aws.calls);
    const report = await sesame.resolveDetailed(document());
    expect(report.value).toEqual(expected());
    expect(warm()).toEqual({ total: 0, byOperation: {} });
    expect(report.references).toHaveLength(N);
    expect(new Set(report.references.map((r) => r.outcome))).toEqual(new Set(['hit']));
  }, 30_000);
});

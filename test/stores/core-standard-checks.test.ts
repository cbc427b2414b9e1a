/**
 * The core's standard `stores test` plan over a fake client: the three steps in order, which
 * failure ends the run, and where a failed step's fix comes from.
 */
import { describe, expect, it } from 'vitest';
import { AccessDeniedError, SecretNotFoundError } from '../../src/errors.js';
import type { StoreClient } from '../../src/stores/contract.js';
import { type StandardCheckSteps, standardChecks } from '../../src/stores/core/standard-checks.js';

const client: Pick<StoreClient, 'get'> = {
  get: async ({ name }) => {
    if (name === 'sample') return { value: 'sample-value-9f', version: 'v2' };
    throw new SecretNotFoundError(`no secret "${name}"`);
  },
};

const ok: StandardCheckSteps = {
  authenticate: async () => 'token for app-1',
  list: async () => 'listing is allowed',
};

function denied(fix?: string): () => Promise<string> {
  return async () => {
    const err = new AccessDeniedError('refused');
    err.fix = fix;
    throw err;
  };
}

describe('standardChecks', () => {
  it('authenticates, lists and reads the sample, without showing its value', async () => {
    const report = await standardChecks(client, { namespaces: [''], sample: 'sample' }, ok);
    expect(report.ok).toBe(true);
    expect(report.steps).toEqual([
      { step: 'authenticate', ok: true, detail: 'token for app-1' },
      { step: 'list', ok: true, detail: 'listing is allowed' },
      { step: 'read', ok: true, detail: 'read "sample" (15 bytes, version v2)' },
    ]);
    expect(JSON.stringify(report)).not.toContain('sample-value-9f');
  });

  it('has no read step without a sample', async () => {
    const report = await standardChecks(client, { namespaces: [''] }, ok);
    expect(report.steps.map((s) => s.step)).toEqual(['authenticate', 'list']);
  });

  it('stops at a failed authentication, with the fix the error carries', async () => {
    const report = await standardChecks(
      client,
      { namespaces: [''], sample: 'sample' },
      { ...ok, authenticate: denied('renew the client secret') },
    );
    expect(report.ok).toBe(false);
    expect(report.steps).toEqual([
      { step: 'authenticate', ok: false, detail: 'refused', fix: 'renew the client secret' },
    ]);
  });

  it('still reads after a failed listing, with the step fix when the error has none', async () => {
    const report = await standardChecks(
      client,
      { namespaces: [''], sample: 'missing' },
      { ...ok, list: denied(), fix: { list: 'grant List', read: 'check the sample name' } },
    );
    expect(report.ok).toBe(false);
    expect(report.steps.map((s) => [s.step, s.ok, s.fix])).toEqual([
      ['authenticate', true, undefined],
      ['list', false, 'grant List'],
      ['read', false, 'check the sample name'],
    ]);
  });

  it('stops at a failed listing when the listing is required', async () => {
    const report = await standardChecks(
      client,
      { namespaces: [''], sample: 'sample' },
      { ...ok, list: denied(), listRequired: true },
    );
    expect(report.steps.map((s) => s.step)).toEqual(['authenticate', 'list']);
  });

  it("runs the store's own steps after the read, and none of them after a failed authentication", async () => {
    const more = [{ step: 'batch', run: async () => 'batching allowed' }, false as const];
    const report = await standardChecks(client, { namespaces: [''], sample: 'sample' }, { ...ok, more });
    expect(report.steps.map((s) => s.step)).toEqual(['authenticate', 'list', 'read', 'batch']);
    const refused = await standardChecks(
      client,
      { namespaces: [''], sample: 'sample' },
      { ...ok, authenticate: denied(), more },
    );
    expect(refused.steps.map((s) => s.step)).toEqual(['authenticate']);
  });
});

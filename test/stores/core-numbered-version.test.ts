import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/errors.js';
import { numberedVersion } from '../../src/stores/core/index.js';

describe('numberedVersion', () => {
  it('passes version numbers and no version through', () => {
    expect(numberedVersion('[s]', 'Vault', '1')).toBe('1');
    expect(numberedVersion('[s]', 'Vault', '42')).toBe('42');
    expect(numberedVersion('[s]', 'Vault', undefined)).toBeUndefined();
  });

  it('refuses anything else as an invalid request that says what a version is', () => {
    for (const bad of ['0', '01', '-1', '1.5', 'abc', 'latest', ' 1', '1 ', '']) {
      let thrown: unknown;
      try {
        numberedVersion('[vault]', 'Vault', bad);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, bad).toBeInstanceOf(InvalidRequestError);
      const err = thrown as InvalidRequestError;
      expect(err.message).toBe(`[vault] Vault versions are numbers: ?version=${bad} cannot be one`);
      expect(err.fix).toContain('pin a version number');
      expect(err.status).toBe(400);
    }
  });
});

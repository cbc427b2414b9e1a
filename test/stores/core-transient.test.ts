/**
 * The core's transient test: what counts as "retry may help" for SDK errors.
 */
import { describe, expect, it } from 'vitest';
import { isTransient, networkCode } from '../../src/stores/core/index.js';

const withCode = (code: unknown, message = 'request failed') => Object.assign(new Error(message), { code });

describe('networkCode', () => {
  it('names a network error code on the error', () => {
    expect(networkCode(withCode('ECONNREFUSED'))).toBe('ECONNREFUSED');
    expect(networkCode(withCode('EAI_AGAIN'))).toBe('EAI_AGAIN');
  });

  it("finds the code on the cause (undici's fetch failed)", () => {
    const err = new TypeError('fetch failed', { cause: withCode('UND_ERR_SOCKET') });
    expect(networkCode(err)).toBe('UND_ERR_SOCKET');
  });

  it('is undefined for other codes, numbers and non-errors', () => {
    expect(networkCode(withCode('ResourceNotFoundException'))).toBeUndefined();
    expect(networkCode(withCode(503))).toBeUndefined();
    expect(networkCode(undefined)).toBeUndefined();
    expect(networkCode('ECONNRESET')).toBeUndefined();
  });
});

describe('isTransient', () => {
  it('is true for network codes, 5xx statuses, $retryable and lost-connection messages', () => {
    expect(isTransient(withCode('ETIMEDOUT'))).toBe(true);
    expect(isTransient(new Error('bad gateway'), 502)).toBe(true);
    expect(isTransient(new Error('internal'), 500)).toBe(true);
    expect(isTransient(Object.assign(new Error('odd'), { $retryable: { throttling: false } }))).toBe(true);
    expect(isTransient(new Error('socket hang up'))).toBe(true);
    expect(isTransient(new Error('read ECONNRESET'))).toBe(true);
    expect(isTransient(new TypeError('fetch failed'))).toBe(true);
    expect(isTransient(new Error('Network is unreachable'))).toBe(true);
    expect(isTransient('socket hang up')).toBe(true);
  });

  it('is false for refusals: 4xx statuses and ordinary errors', () => {
    expect(isTransient(new Error('Access denied'), 403)).toBe(false);
    expect(isTransient(new Error('validation failed'), 400)).toBe(false);
    expect(isTransient(new Error('validation failed'))).toBe(false);
    expect(isTransient(Object.assign(new Error('no'), { $retryable: undefined }), 499)).toBe(false);
    expect(isTransient(undefined)).toBe(false);
  });
});

/**
 * The store core's status tables: a row per status, per HTTP class and a default, and the
 * canonical gRPC status names both gRPC codes and HTTP statuses reduce to.
 */
import { describe, expect, it } from 'vitest';
import {
  classifyStatus,
  GRPC_STATUS_NAMES,
  grpcStatusName,
  grpcStatusOfHttp,
  type StatusRules,
  secretSubject,
} from '../../src/stores/core/index.js';

interface Op {
  action: string;
  name: string;
  status?: number;
}

const RULES: StatusRules<Op> = {
  404: { kind: 'not_found', fix: 'create it', message: (op) => `no secret "${op.name}"` },
  403: {
    kind: 'denied',
    fix: (op) => `grant ${op.action} on "${op.name}"`,
    message: (op, fix) => `refused to ${op.action} "${op.name}": ${fix}`,
  },
  sealed: { kind: 'unavailable', message: () => 'the store is sealed', retry: true },
  '5xx': {
    kind: 'unavailable',
    message: (op) => `failing (HTTP ${op.status})`,
    retry: (op) => op.status !== 501,
  },
  default: { kind: 'invalid', message: (op) => `refused ${op.action} as invalid`, retry: false },
};

const op: Op = { action: 'read', name: 'db/pass' };

describe('classifyStatus', () => {
  it('uses the row of the status itself, with its fix', () => {
    expect(classifyStatus(404, RULES, op)).toEqual({
      kind: 'not_found',
      message: 'no secret "db/pass"',
      fix: 'create it',
    });
  });

  it('computes a fix from the operation and hands it to the message', () => {
    const c = classifyStatus(403, RULES, { ...op, action: 'write' });
    expect(c.fix).toBe('grant write on "db/pass"');
    expect(c.message).toBe('refused to write "db/pass": grant write on "db/pass"');
  });

  it('takes string keys as they are (a refined status such as an inner code)', () => {
    expect(classifyStatus('sealed', RULES, op)).toEqual({
      kind: 'unavailable',
      message: 'the store is sealed',
      retry: true,
    });
  });

  it('falls back to the HTTP class of a status the table does not name, then to default', () => {
    expect(classifyStatus(503, RULES, { ...op, status: 503 })).toMatchObject({
      kind: 'unavailable',
      message: 'failing (HTTP 503)',
      retry: true,
    });
    expect(classifyStatus(501, RULES, { ...op, status: 501 }).retry).toBe(false);
    expect(classifyStatus(418, RULES, op)).toEqual({
      kind: 'invalid',
      message: 'refused read as invalid',
      retry: false,
    });
    expect(classifyStatus('NO_SUCH_STATUS', RULES, op).kind).toBe('invalid');
  });

  it('adds the summary and a Retry-After delay, and leaves out what is not given', () => {
    const c = classifyStatus(404, RULES, op, { summary: 'HTTP 404', retryAfterMs: 2000 });
    expect(c).toMatchObject({ summary: 'HTTP 404', retryAfterMs: 2000 });
    expect(Object.keys(classifyStatus(404, RULES, op))).toEqual(['kind', 'message', 'fix']);
  });
});

describe('gRPC statuses', () => {
  it('names the numeric codes of a failure, and nothing else', () => {
    expect(grpcStatusName(5)).toBe('NOT_FOUND');
    expect(grpcStatusName(16)).toBe('UNAUTHENTICATED');
    expect(grpcStatusName(14)).toBe('UNAVAILABLE');
    for (const code of [0, 17, -1, 2.5, '5', undefined, null]) expect(grpcStatusName(code)).toBeUndefined();
    expect(GRPC_STATUS_NAMES).toHaveLength(17);
  });

  it('reads an HTTP status as the gRPC status it stands for', () => {
    expect(grpcStatusOfHttp(400)).toBe('INVALID_ARGUMENT');
    expect(grpcStatusOfHttp(401)).toBe('UNAUTHENTICATED');
    expect(grpcStatusOfHttp(403)).toBe('PERMISSION_DENIED');
    expect(grpcStatusOfHttp(404)).toBe('NOT_FOUND');
    expect(grpcStatusOfHttp(409)).toBe('ABORTED');
    expect(grpcStatusOfHttp(429)).toBe('RESOURCE_EXHAUSTED');
    expect(grpcStatusOfHttp(503)).toBe('UNAVAILABLE');
    expect(grpcStatusOfHttp(504)).toBe('DEADLINE_EXCEEDED');
    expect(grpcStatusOfHttp(502)).toBe('INTERNAL');
    expect(grpcStatusOfHttp(418)).toBe('UNKNOWN');
  });
});

describe('secretSubject', () => {
  it('names the secret, its version and the provider id when it differs, in the container', () => {
    expect(
      secretSubject('project acme', { name: 'db/pass', version: '3', id: 'app-db-pass' }, 'secret id'),
    ).toBe('"db/pass" version 3 (secret id "app-db-pass") in project acme');
    expect(secretSubject('Key Vault https://v', { name: 'db', id: 'db' }, 'Key Vault name')).toBe(
      '"db" in Key Vault https://v',
    );
  });

  it('names the container alone without a name', () => {
    expect(secretSubject('project acme', { id: 'x' }, 'secret id')).toBe('project acme');
  });
});

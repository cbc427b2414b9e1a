/**
 * What a node says of a database failure (src/db/errors.ts `diagnoseDatabaseFailure`, and the
 * URL secrets removed from driver messages, src/db/url.ts): unit cases for the SQLSTATEs the
 * cluster tests provoke for real (test/cluster/database-login.test.ts), and for passwords in every
 * place a PostgreSQL URL can carry one.
 */
import { describe, expect, it } from 'vitest';
import {
  DatabaseLoginRefusedError,
  DatabaseMissingError,
  DatabaseTimeoutError,
  DatabaseUnreachableError,
  diagnoseDatabaseFailure,
  isDatabaseUnreachable,
} from '../../src/db/errors.js';
import { databaseUrlSecrets, withoutDatabaseSecrets } from '../../src/db/url.js';

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('databaseUrlSecrets', () => {
  it('finds the password as written and decoded, and password parameters', () => {
    expect(databaseUrlSecrets('postgres://app:p%40ss%2Fw0rd@db:5432/app')).toEqual(['p%40ss%2Fw0rd', 'p@ss/w0rd']);
    expect(databaseUrlSecrets('postgresql://app@db/app?sslmode=require&password=q-secret&sslpassword=k-secret')).toEqual(['q-secret', 'k-secret']);
  });

  it('finds nothing where there is none (PGPASSWORD, SQLite)', () => {
    expect(databaseUrlSecrets('postgres://app@db/app')).toEqual([]);
    expect(databaseUrlSecrets('sqlite:./.sesame/sesame.db')).toEqual([]);
  });

  it('takes every spelling out of a text', () => {
    const secrets = databaseUrlSecrets('postgres://app:p%40ss@db/app');
    expect(withoutDatabaseSecrets('failed for p@ss and p%40ss', secrets)).toBe('failed for *** and ***');
  });
});

describe('diagnoseDatabaseFailure', () => {
  const scrub = (text: string) => withoutDatabaseSecrets(text, ['hunter2']);

  it('28P01 and 28000: login refused, 503 database_unavailable, the fix names the database URL and the role', () => {
    for (const [code, message] of [
      ['28P01', 'password authentication failed for user "sesame"'],
      ['28000', 'role "sesame" is not permitted to log in'],
    ] as const) {
      const err = diagnoseDatabaseFailure(pgError(code, message), scrub);
      expect(err).toBeInstanceOf(DatabaseLoginRefusedError);
      expect(err).toMatchObject({ code: 'database_unavailable', status: 503 });
      expect(err?.message).toBe(`PostgreSQL refused this node's login (${message}): the database cannot be used until that is fixed`);
      expect(err?.fix).toMatch(/user name and password in the database URL .*ALTER ROLE/);
      expect(isDatabaseUnreachable(err)).toBe(true);
    }
  });

  it('3D000: no such database, the fix names the database name and a restore', () => {
    const err = diagnoseDatabaseFailure(pgError('3D000', 'database "sesame" does not exist'), scrub);
    expect(err).toBeInstanceOf(DatabaseMissingError);
    expect(err?.fix).toMatch(/database name in the database URL.*pg_restore/);
  });

  it('a refused or dropped connection: does not answer, with what to check', () => {
    const err = diagnoseDatabaseFailure(pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), scrub);
    expect(err).toBeInstanceOf(DatabaseUnreachableError);
    expect(err?.message).toMatch(/^the database does not answer \(connect ECONNREFUSED/);
    expect(err?.fix).toMatch(/PostgreSQL is running and reachable/);
  });

  it('keeps its own errors (a time limit) and leaves other failures alone', () => {
    const timeout = new DatabaseTimeoutError(10_000);
    expect(diagnoseDatabaseFailure(timeout, scrub)).toBe(timeout);
    expect(timeout.fix).toMatch(/reachable/);
    expect(diagnoseDatabaseFailure(pgError('23505', 'duplicate key value'), scrub)).toBeUndefined();
    expect(diagnoseDatabaseFailure(new Error('a bug'), scrub)).toBeUndefined();
  });

  it('removes the password from the driver message and keeps no cause', () => {
    const err = diagnoseDatabaseFailure(pgError('28P01', 'password hunter2 refused'), scrub);
    expect(err?.message).not.toContain('hunter2');
    expect(err?.message).toContain('password *** refused');
    expect(err?.cause).toBeUndefined();
  });
});

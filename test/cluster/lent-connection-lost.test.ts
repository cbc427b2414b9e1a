/**
 * A pooled PostgreSQL connection that the server ends while Sesame holds it between two
 * statements (inside a transaction, idle in transaction): pg-pool takes its own 'error' listener
 * off a client while it is lent out, so the driver's "Connection terminated unexpectedly" was
 * emitted with nobody listening — an uncaught exception that stopped `sesame serve` (seen as a
 * node gone with ECONNREFUSED in test/cluster/database-login.test.ts under load). The transaction
 * must fail with a typed database error instead, the connection be thrown away, and the next
 * transaction work on a new one.
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type SesameDatabase } from '../../src/db/database.js';
import { DatabaseConnectionClosedError } from '../../src/db/errors.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { within } from './support.js';

describe('a lent connection ended by the server', () => {
  let postgres: PostgresHandle;
  let superuser: pg.Client;
  let database: SesameDatabase;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);

  beforeAll(async () => {
    postgres = await startPostgres();
    const url = await postgres.createDatabase('sesame_lent');
    superuser = new pg.Client({ connectionString: postgres.url });
    await superuser.connect();
    database = await openDatabase(url);
    // Vitest reports an uncaught exception as an error of the run; counted here too, to say which.
    process.on('uncaughtException', onUncaught);
  }, 60_000);

  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await database?.close();
    await superuser?.end().catch(() => undefined);
    await postgres?.stop();
  });

  it('fails the transaction with a database error, does not throw in the process, and recovers', async () => {
    const failed = await database.kysely
      .transaction()
      .execute(async (trx) => {
        const pid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows[0]?.pid;
        await superuser.query('select pg_terminate_backend($1)', [pid]);
        await within(5000, async () => (await superuser.query('select 1 from pg_stat_activity where pid = $1', [pid])).rowCount === 0);
        // Let the socket's end reach the driver while the connection is lent and idle.
        await new Promise((r) => setTimeout(r, 200));
        await sql`select 1`.execute(trx);
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    // Typed: the server answers 503 saying the server closed the connection, not 500.
    expect(failed).toBeInstanceOf(DatabaseConnectionClosedError);
    expect(uncaught).toEqual([]);
    // The next transaction gets a connection that works.
    const answer = await database.kysely.transaction().execute((trx) => sql<{ one: number }>`select 1 as one`.execute(trx));
    expect(answer.rows[0]?.one).toBe(1);
  }, 30_000);
});

/**
 * PostgreSQL clients and pools, created already listened to.
 *
 * node-postgres emits `'error'` on a client whose connection is lost while it has no query
 * running, or just after it failed the running one (the server closed or reset the
 * connection, a failover, `pg_terminate_backend`), and on a pool for its idle clients. An
 * `'error'` event without a listener is an uncaught exception: it stops `sesame serve`. Every
 * client and pool Sesame makes therefore comes from here, with a listener from its first moment;
 * the failure itself still reaches the caller through the query or connect that was under way,
 * and a caller that must know of a lost idle connection adds a listener of its own.
 * (test/layers checks that nothing else in src/ constructs one.)
 */
import type { Client, ClientConfig, Pool, PoolConfig } from 'pg';

/** A `pg.Client` (not connected) whose `'error'` events go to `onError`, or nowhere. */
export async function createPgClient(config: ClientConfig, onError: (err: Error) => void = () => {}): Promise<Client> {
  const { default: pg } = await import('pg');
  const client = new pg.Client(config);
  client.on('error', onError);
  return client;
}

/** A `pg.Pool` whose idle-client `'error'` events go to `onError`, or nowhere. */
export async function createPgPool(config: PoolConfig, onError: (err: Error) => void = () => {}): Promise<Pool> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool(config);
  pool.on('error', onError);
  return pool;
}

/**
 * The keyed audit chain (see `src/audit/chain.ts`): one row holding the audit chain's secret,
 * sealed with the master key, and the sequence number from which records are chained with
 * HMAC instead of plain sha256.
 *
 * The migration only creates the table. It cannot create the key: migrations run without the
 * master key (`sesame` opens and migrates the database before it checks the key). The builtin
 * backend creates the row on its first open with the master key, inside the serialized append
 * (so no record slips in between), with `keyed_from` = the head's sequence + 1. Records before
 * that (written by an earlier Sesame) keep their sha256 links and are verified as such; the
 * boundary is authenticated (it is in the sealed key's additional data), so it cannot be moved
 * to pass forged records off as old ones.
 *
 * The columns are deliberately not named `wrapped_key` / `key_id`: the row is not a data key of
 * the sealed-tables scheme (it is not counted nor rewrapped with them); master key rotation
 * reseals it explicitly (`src/encrypted-store/audit-key.ts`).
 */
import type { Migration } from './types.js';

export const keyedAuditChain: Migration = {
  version: 5,
  name: 'keyed-audit-chain',
  async up(db, { types }) {
    await db.schema
      .createTable('audit_chain')
      // Always 1: one chain per database.
      .addColumn('id', 'integer', (c) => c.primaryKey())
      // Random, names the chain in the checkpoint file (a checkpoint of another chain is refused).
      .addColumn('chain_id', 'text', (c) => c.notNull())
      // The first record chained with HMAC; those before it are sha256-chained (written before this migration).
      .addColumn('keyed_from', 'bigint', (c) => c.notNull())
      // AES-256-GCM of the 32-byte chain secret under the master key `master_key_id`.
      .addColumn('sealed_key', types.binary, (c) => c.notNull())
      .addColumn('master_key_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
  },
};

/**
 * The audit chain's key (see `src/audit/chain.ts`): a random 32-byte secret per database,
 * sealed with the master key in the `audit_chain` table, created on the backend's first open
 * (migrations run without the master key) and resealed by master key rotation — so the audit
 * chain keeps one key whatever happens to the master key, and a rotation never re-MACs records.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { lastRecord, lockAppends } from '../audit/append.js';
import { AuditChain } from '../audit/chain.js';
import type { SesameDatabase } from '../db/index.js';
import type { SesameTables } from '../db/tables.js';
import type { BuiltinBackend } from './backend.js';
import { openAuditKey, sealAuditKey } from './envelope.js';
import { MasterKeyError } from './errors.js';
import type { LoadedMasterKeys, MasterKey } from './master-key.js';

const CHAIN_ROW = 1;
const SECRET_BYTES = 32;

/**
 * Where the audit head is checkpointed: `explicit` (`SESAME_AUDIT_HEAD`), else `audit.head` next
 * to the master key file, else next to the SQLite file; PostgreSQL with a key from the
 * environment has no place unless told (truncation is then not detected: docs/audit.md).
 */
export function auditCheckpointFile(args: {
  explicit?: string | undefined;
  baseDir?: string | undefined;
  keys: LoadedMasterKeys;
  database: SesameDatabase;
}): string | undefined {
  const base = args.baseDir ?? process.cwd();
  if (args.explicit !== undefined && args.explicit.trim() !== '') return path.resolve(base, args.explicit);
  if (args.keys.file !== undefined) return path.join(path.dirname(args.keys.file), 'audit.head');
  if (args.database.kind === 'sqlite') {
    const file = args.database.location.slice('sqlite:'.length);
    if (file !== ':memory:') return path.join(path.dirname(file), 'audit.head');
  }
  return undefined;
}

/**
 * Open the database's audit chain key, creating it on first use: inside the serialized append
 * (no record can slip in), the chain becomes keyed from the record after the current head.
 */
export async function openAuditChain(backend: BuiltinBackend, checkpointFile: string | undefined): Promise<AuditChain> {
  const { database } = backend;
  let row = await database.kysely.selectFrom('audit_chain').selectAll().where('id', '=', CHAIN_ROW).executeTakeFirst();
  if (!row) {
    await database.write(
      async (trx) => {
        await lockAppends(database, trx);
        const existing = await trx.selectFrom('audit_chain').select('id').where('id', '=', CHAIN_ROW).executeTakeFirst();
        if (existing) return;
        const head = await lastRecord(trx);
        const binding = { chainId: randomBytes(8).toString('hex'), keyedFrom: (head?.seq ?? 0) + 1 };
        const key = await backend.activeKey(trx);
        const secret = randomBytes(SECRET_BYTES);
        try {
          await trx
            .insertInto('audit_chain')
            .values({
              id: CHAIN_ROW,
              chain_id: binding.chainId,
              keyed_from: binding.keyedFrom,
              sealed_key: sealAuditKey(secret, binding, key),
              master_key_id: key.id,
              created_at: new Date(backend.now()).toISOString(),
            })
            .execute();
        } finally {
          secret.fill(0);
        }
      },
      { retryOnConflict: true },
    );
    row = await database.kysely.selectFrom('audit_chain').selectAll().where('id', '=', CHAIN_ROW).executeTakeFirstOrThrow();
  }
  const binding = { chainId: row.chain_id, keyedFrom: Number(row.keyed_from) };
  const key = backend.keyFor(row.master_key_id, 'the audit chain key');
  const secret = openAuditKey(Buffer.from(row.sealed_key), binding, key);
  if (!secret) {
    throw new MasterKeyError(
      `the audit chain key in ${database.location} does not authenticate under master key ${row.master_key_id}: ` +
        'the audit_chain row was altered (the audit trail cannot be trusted; see docs/audit.md)',
    );
  }
  try {
    return new AuditChain({ database, secret, chainId: binding.chainId, keyedFrom: binding.keyedFrom, checkpointFile });
  } finally {
    secret.fill(0);
  }
}

/** The master key sealing the audit chain key, if the database has one. */
export async function auditKeyMasterId(db: Kysely<SesameTables>): Promise<string | undefined> {
  return (await db.selectFrom('audit_chain').select('master_key_id').where('id', '=', CHAIN_ROW).executeTakeFirst())?.master_key_id;
}

/** Reseal the audit chain key with `target` (key rotation), in the caller's transaction. */
export async function resealAuditKey(backend: BuiltinBackend, trx: Kysely<SesameTables>, target: MasterKey): Promise<void> {
  const row = await trx.selectFrom('audit_chain').selectAll().where('id', '=', CHAIN_ROW).executeTakeFirst();
  if (!row || row.master_key_id === target.id) return;
  const binding = { chainId: row.chain_id, keyedFrom: Number(row.keyed_from) };
  const from = backend.keyFor(row.master_key_id, 'the audit chain key');
  const secret = openAuditKey(Buffer.from(row.sealed_key), binding, from);
  if (!secret) {
    throw new MasterKeyError(
      `the audit chain key does not authenticate under master key ${row.master_key_id}: the audit_chain row was altered`,
    );
  }
  try {
    await trx
      .updateTable('audit_chain')
      .set({ sealed_key: sealAuditKey(secret, binding, target), master_key_id: target.id })
      .where('id', '=', CHAIN_ROW)
      .where('master_key_id', '=', row.master_key_id)
      .execute();
  } finally {
    secret.fill(0);
  }
}

/**
 * Master key rotation: a new master key becomes active and every data key is rewrapped with
 * it. Values are never decrypted or rewritten; only the 61-byte wrapped data keys change, in
 * every sealed table (builtin secrets, and any other table of sealed rows: see
 * `sealed-tables.ts`).
 *
 * How the keyring holds old and new keys: the key source lists keys newest first (see
 * `master-key.ts`). For a key FILE, rotation writes the new key in front of the old one
 * (atomically), makes it active in the `master_keys` table (the old one becomes `draining`),
 * rewraps data keys in batches of one transaction each, marks the old key `retired`, and only
 * then rewrites the file with the new key alone. For an ENVIRONMENT source, Sesame cannot
 * change the variable: the operator puts the new key first (`NEW,OLD`), restarts, and runs the
 * rotation, which then rewraps to that key; afterwards the variable may hold the new key alone.
 *
 * Interruption: every step is a committed transaction (or an atomic file rename) and the
 * state is in the database and the key file, so running the rotation again finishes the
 * interrupted one instead of starting another. Reads keep working throughout: a row names the
 * key that wraps it, and both keys are held until no row needs the old one. Writes follow the
 * database's active key (`BuiltinBackend.activeKey`), so other processes switch at the flip.
 *
 * Several hosts sharing one PostgreSQL with key files each must receive the new key file
 * before they are restarted; until then a host reports that it lacks the active key.
 */
import { sql } from 'kysely';
import { appendInTransaction, flatEvents } from '../audit/append.js';
import { auditChainOf } from '../audit/chain.js';
import { recordChanges } from '../db/changes.js';
import { SesameError, UsageError } from '../errors.js';
import { auditKeyMasterId, resealAuditKey } from './audit-key.js';
import { DatabaseBusyError, databaseBusyText, isDatabaseBusy, MasterKeyError } from './errors.js';
import type { BuiltinBackend } from './backend.js';
import { rewrapDataKey } from './envelope.js';
import { generateMasterKey, type MasterKey, replaceKeyFile } from './master-key.js';
import { dataKeysByMasterKey, replaceWrappedKey, sealedRowsUnder, sealedTables } from './sealed-tables.js';

export interface KeyRotationProgress {
  /** Data keys rewrapped so far. */
  rewrapped: number;
  /** Data keys that needed rewrapping when the rotation began. */
  total: number;
  /** The key they are rewrapped with. */
  keyId: string;
}

export interface KeyRotationOptions {
  /** Data keys per transaction (default 200). */
  batchSize?: number | undefined;
  onProgress?: ((progress: KeyRotationProgress) => void) | undefined;
  /** Stop after the current batch; running the rotation again resumes. */
  signal?: AbortSignal | undefined;
  /** File sources: use this key instead of generating one. */
  newKey?: MasterKey | undefined;
  /** File sources: keep the old keys in the file after the rotation (default: remove them). */
  keepOldKeys?: boolean | undefined;
  /**
   * Who rotates: a `key.rotate` record naming the new key is committed in the transaction that
   * finishes the rotation (retires the old keys). Without it, the caller records the rotation.
   */
  actor?: string | undefined;
}

export interface KeyRotationResult {
  /** The active key now. */
  keyId: string;
  /** Keys retired by this rotation. */
  retired: string[];
  rewrapped: number;
  /** An interrupted rotation was finished rather than a new key made. */
  resumed: boolean;
  /** The key file rewritten with the new key, when the source is a file. */
  keyFile?: string | undefined;
}

/** The rotation was stopped (signal); run it again to finish. */
export class KeyRotationInterruptedError extends SesameError {
  override readonly code = 'rotation_interrupted';
}

// Serializes rotations across processes on PostgreSQL (SQLite: the write transaction does).
const ROTATION_LOCK_ID = 0x5e5a3f;

/**
 * Replace the key file's keys; a failure to write it (a read-only mount, no space, no permission)
 * becomes the caller's error, told why in words. Raised inside a transaction, which then rolls back.
 */
function writeKeyFile(file: string, keys: MasterKey[], failure: (why: string) => SesameError): void {
  try {
    replaceKeyFile(file, keys);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EROFS'
        ? 'it is on a read-only file system'
        : code === 'EACCES' || code === 'EPERM'
          ? 'this user may not write it or its folder'
          : code === 'ENOSPC' || code === 'EDQUOT'
            ? 'its file system is full'
            : (err as Error).message;
    throw failure(why);
  }
}

export async function rotateMasterKey(
  backend: BuiltinBackend,
  options: KeyRotationOptions = {},
): Promise<KeyRotationResult> {
  try {
    return await rotate(backend, options);
  } catch (err) {
    if (!isDatabaseBusy(err)) throw err;
    // Every step is its own transaction: the one given up was rolled back, the others stand.
    const { kind } = backend.database;
    const { message, fix } = databaseBusyText(kind, `the ${kind} database`, ' during the key rotation');
    throw new DatabaseBusyError(`${message} by the step that stopped; the rotation resumes where it stopped when run again`, {
      fix: `${fix}, then run sesame keys rotate again (reads and writes keep working meanwhile)`,
    });
  }
}

async function rotate(backend: BuiltinBackend, options: KeyRotationOptions): Promise<KeyRotationResult> {
  const { database, keyring } = backend;
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 200));
  const lock = async (trx: Parameters<Parameters<typeof database.write>[0]>[0]) => {
    if (database.kind === 'postgres') await sql`select pg_advisory_xact_lock(${ROTATION_LOCK_ID})`.execute(trx);
  };
  const nowIso = () => new Date(backend.now()).toISOString();

  // 1. Choose the target key and make it active, in one transaction (under the rotation lock),
  //    so two rotations started at once agree on one new key.
  const { target, resumed } = await database.write(async (trx) => {
    await lock(trx);
    keyring.reload();
    const active = await trx.selectFrom('master_keys').select('id').where('state', '=', 'active').executeTakeFirst();
    if (!active) throw new SesameError(`${database.location} has no active master key`);
    const draining = await trx.selectFrom('master_keys').select('id').where('state', '=', 'draining').execute();
    const inUse = await dataKeysByMasterKey(database, trx);
    const stray = [...inUse.keys()].some((id) => id !== active.id);

    let chosen: MasterKey;
    let resuming: boolean;
    if (keyring.primary.id !== active.id) {
      // The source's newest key is not active yet: a file rotation interrupted after writing the
      // file, or an environment source where the operator put a new key first.
      chosen = keyring.primary;
      resuming = keyring.loaded.file !== undefined;
    } else if (draining.length > 0 || stray) {
      // Interrupted after the flip: finish rewrapping to the active key.
      chosen = keyring.primary;
      resuming = true;
    } else if (keyring.loaded.file !== undefined) {
      const fresh = options.newKey ?? generateMasterKey();
      if (keyring.get(fresh.id)) throw new UsageError(`master key ${fresh.id} is already in use: rotate to a new key`);
      const file = keyring.loaded.file;
      writeKeyFile(file, [fresh, ...keyring.loaded.keys], (why) =>
        new MasterKeyError(`cannot write the new master key into ${file}: ${why}; nothing was changed`, {
          fix:
            'a key file on a read-only mount (a Kubernetes secret volume) is rotated where it is written: put a new key ' +
            '(openssl rand -base64 32) on a line above the current one, let the file reach this host, and run sesame keys rotate --keep-old-keys; ' +
            'then remove the old line',
        }),
      );
      keyring.reload();
      chosen = fresh;
      resuming = false;
    } else {
      const variable = keyring.where.replace(/^environment variable /, '');
      throw new UsageError(
        `nothing to rotate: master key ${active.id} from ${keyring.where} is already active. To rotate, put a new key ` +
          `first in ${variable} (${variable}="NEW,OLD"; make one with: openssl rand -base64 32), restart Sesame with it ` +
          'and run the rotation again; afterwards the variable may hold the new key alone',
      );
    }

    // Every data key (and the audit chain key) must be readable before anything changes.
    const auditKeyId = await auditKeyMasterId(trx);
    const missing = [...new Set([...inUse.keys(), ...(auditKeyId === undefined ? [] : [auditKeyId])])].filter((id) => !keyring.get(id));
    if (missing.length > 0) {
      throw new UsageError(
        `cannot rotate: data keys are wrapped by master key ${missing.join(', ')}, which ${keyring.where} does not hold: add it to the source (after the newest key)`,
      );
    }

    const now = nowIso();
    await trx
      .updateTable('master_keys')
      .set({ state: 'draining' })
      .where('state', '=', 'active')
      .where('id', '<>', chosen.id)
      .execute();
    const known = await trx.selectFrom('master_keys').select('id').where('id', '=', chosen.id).executeTakeFirst();
    if (known) {
      await trx.updateTable('master_keys').set({ state: 'active', retired_at: null }).where('id', '=', chosen.id).execute();
    } else {
      await trx.insertInto('master_keys').values({ id: chosen.id, state: 'active', created_at: now, retired_at: null }).execute();
    }
    return { target: chosen, resumed: resuming };
  });

  // 2. Rewrap in batches. Each batch is its own transaction, so an interruption loses at most
  //    one batch of work and the next run picks up the rows still under an old key.
  const tables = await sealedTables(database);
  const before = await dataKeysByMasterKey(database);
  const oldIds = [...before.keys()].filter((id) => id !== target.id);
  const total = oldIds.reduce((sum, id) => sum + (before.get(id) ?? 0), 0);
  let rewrapped = 0;
  options.onProgress?.({ rewrapped, total, keyId: target.id });
  for (const table of tables) {
    for (;;) {
      if (options.signal?.aborted) {
        throw new KeyRotationInterruptedError(
          `key rotation to master key ${target.id} stopped after ${rewrapped} of ${total} data keys: run it again to finish (reads and writes keep working meanwhile)`,
        );
      }
      const done = await database.write(async (trx) => {
        const rows = await sealedRowsUnder(database, trx, table, oldIds, batchSize);
        for (const row of rows) {
          const from = backend.keyFor(row.key_id, `a data key in table ${table}`);
          const wrapped = rewrapDataKey(Buffer.from(row.wrapped_key), from, target);
          if (!wrapped) {
            throw new SesameError(
              `a data key in table ${table} wrapped by master key ${row.key_id} failed authentication: the row was altered; ` +
                'remove or rewrite that row (for a builtin secret: purge it), then run the rotation again',
            );
          }
          await replaceWrappedKey(database, trx, table, row, wrapped, target.id);
        }
        return rows.length;
      });
      if (done === 0) break;
      rewrapped += done;
      options.onProgress?.({ rewrapped, total: Math.max(total, rewrapped), keyId: target.id });
    }
  }

  // 3. Reseal the audit chain key, and check that nothing is left under the old keys: committed
  //    before the key file loses them, so the database never needs a key the file no longer
  //    holds. The audit chain keeps its key (records are never re-MACed): only its seal changes.
  const stillUnder = async (trx: Parameters<Parameters<typeof database.write>[0]>[0]) => {
    const left = [...(await dataKeysByMasterKey(database, trx)).keys()].filter((id) => id !== target.id);
    const auditKeyId = await auditKeyMasterId(trx);
    if (auditKeyId !== undefined && auditKeyId !== target.id) left.push(`${auditKeyId} (the audit chain key)`);
    if (left.length > 0) {
      throw new SesameError(
        `key rotation to master key ${target.id} found data keys still under ${left.join(', ')}: run it again to finish`,
      );
    }
  };
  await database.write(async (trx) => {
    await lock(trx);
    await resealAuditKey(backend, trx, target);
    await stillUnder(trx);
  });

  // 4. Drop the old keys from the key file, then retire them, under the rotation lock so a
  //    rotation starting now cannot have its new key overwritten. The file is rewritten before
  //    the commit: if the commit is lost (a killed process, a full disk), the old keys stay
  //    `draining` in the database, nothing needs them (step 3), and the next run retires them.
  //    The other way round, a lost file rewrite after a committed retirement would leave old
  //    keys in the file that the next run could not tell from kept ones (`keepOldKeys`).
  const chain = backend.auditChain ?? auditChainOf(database);
  const { retired, keyFile, head } = await database.write(async (trx) => {
    await lock(trx);
    await stillUnder(trx);
    const draining = await trx.selectFrom('master_keys').select('id').where('state', '=', 'draining').execute();
    await trx
      .updateTable('master_keys')
      .set({ state: 'retired', retired_at: nowIso() })
      .where('state', '=', 'draining')
      .execute();
    const head = options.actor
      ? (
          await appendInTransaction(
            database,
            trx,
            flatEvents([{ actor: options.actor, action: 'key.rotate', namespace: '', target: `master-key:${target.id}`, outcome: 'ok' }], nowIso()),
            chain,
          )
        ).head
      : undefined;
    // Other Sesame processes on this database reload their keyring (src/cluster/).
    await recordChanges(database, trx, [{ kind: 'key', namespace: '', target: target.id }]);
    keyring.reload();
    let file: string | undefined;
    if (keyring.loaded.file !== undefined && keyring.primary.id === target.id && !options.keepOldKeys) {
      file = keyring.loaded.file;
      const where = file;
      if (keyring.loaded.keys.length > 1)
        writeKeyFile(where, [target], (why) =>
          new MasterKeyError(`cannot remove the old master keys from ${where}: ${why}`, {
            fix:
              `every data key is already under master key ${target.id}: run sesame keys rotate --keep-old-keys to finish without ` +
              'writing the file, then remove the old key lines from it where it is written (keep the first line)',
          }),
        );
    }
    return { retired: draining.map((d) => d.id), keyFile: file, head };
  });
  if (head) chain?.committed(head);
  keyring.reload();
  return { keyId: target.id, retired, rewrapped, resumed, keyFile };
}

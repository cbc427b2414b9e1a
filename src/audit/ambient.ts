/**
 * An audit record waiting to be committed WITH the change it records.
 *
 * The server's secret routes and the CLI reach the builtin secrets through the store contract
 * (`StoreClient.write` and friends), which knows nothing of audit records. So the caller runs
 * the operation inside {@link withAuditEvent}; the builtin secrets (`src/encrypted-store/secrets.ts`)
 * claim the event for the operation it names and insert it in their own write transaction.
 * Stores outside Sesame's database (AWS, Vault…) never claim it: their caller then records the
 * event after the write, as before (`recorded: false`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Kysely } from 'kysely';
import { type Change, recordChanges } from '../db/changes.js';
import type { SesameDatabase, WriteTransactionOptions } from '../db/index.js';
import type { SesameTables } from '../db/tables.js';
import { appendInTransaction, type EventFields, flatEvents } from './append.js';
import { type AuditChain, auditChainOf } from './chain.js';

export interface AuditSlot {
  readonly event: EventFields;
  /** Taken by an operation (its transaction may still fail). */
  claimed: boolean;
  /** Committed with the change. */
  recorded: boolean;
}

const storage = new AsyncLocalStorage<AuditSlot>();

/**
 * Run `work` with `event` waiting to be committed by the change it makes; says whether it was.
 *
 * @example
 * const { value, recorded } = await withAuditEvent(ok, () => client.write(name, value, { namespace }));
 * if (!recorded) await audit.commit(ok);
 */
export async function withAuditEvent<T>(event: EventFields, work: () => Promise<T>): Promise<{ value: T; recorded: boolean }> {
  const slot: AuditSlot = { event, claimed: false, recorded: false };
  const value = await storage.run(slot, work);
  return { value, recorded: slot.recorded };
}

/**
 * The waiting event, if there is one for one of `actions` in `namespace` and nobody took it:
 * the caller now owns it (sets `recorded` once its transaction committed, or gives it back with
 * `claimed = false` when it failed).
 */
export function claimAuditEvent(actions: readonly string[], namespace: string): AuditSlot | undefined {
  const slot = storage.getStore();
  if (!slot || slot.claimed || slot.recorded || !actions.includes(slot.event.action) || slot.event.namespace !== namespace) return undefined;
  slot.claimed = true;
  return slot;
}

/**
 * A write transaction that also commits the operation's audit record, when it has one (`given`,
 * or waiting for one of `actions` in `namespace`): the change and its record commit together or
 * not at all. Without a record it is a plain write transaction. `changes`: the change feed rows
 * other Sesame processes apply (see `src/cluster/`), committed in the same transaction.
 */
export async function writeAudited<T>(
  database: SesameDatabase,
  chain: AuditChain | undefined,
  at: () => string,
  request: { actions: readonly string[]; namespace: string; given?: EventFields | undefined; changes?: readonly Change[] | undefined },
  given: (trx: Kysely<SesameTables>) => Promise<T>,
  options?: WriteTransactionOptions,
): Promise<T> {
  const changes = request.changes ?? [];
  const work =
    changes.length === 0
      ? given
      : async (trx: Kysely<SesameTables>) => {
          const value = await given(trx);
          await recordChanges(database, trx, changes);
          return value;
        };
  const slot = request.given ? undefined : claimAuditEvent(request.actions, request.namespace);
  const event = request.given ?? slot?.event;
  if (!event) return database.write(work, options);
  const keyed = chain ?? auditChainOf(database);
  try {
    const { value, head } = await database.write(async (trx) => {
      const value = await work(trx);
      const { head } = await appendInTransaction(database, trx, flatEvents([event], at()), keyed);
      return { value, head };
    }, options);
    keyed?.committed(head);
    if (slot) slot.recorded = true;
    return value;
  } catch (err) {
    // Not committed: whoever waits for the record writes the failure.
    if (slot) slot.claimed = false;
    throw err;
  }
}

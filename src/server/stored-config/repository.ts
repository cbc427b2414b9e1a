/**
 * The database side of the stored config: the rows of `config_stores`, `config_connections` and
 * `config_namespaces`. Store settings and connection fields are sealed with the builtin envelope
 * encryption (a data key per row under the master key, bound to the row's kind, namespace, name
 * and revision, so rows cannot be swapped): they hold credentials and literal values, and the
 * database must not show them in clear. Every change commits its audit record (when the route
 * runs it inside `withAuditEvent`) and a change-feed row for the other Sesame processes on the
 * database in the same transaction.
 */
import type { Kysely } from 'kysely';
import { writeAudited } from '../../audit/ambient.js';
import { type BuiltinBackend, openValue, sealValue } from '../../encrypted-store/index.js';
import type { Change } from '../../db/changes.js';
import type { SesameTables, StoredConfigTable } from '../../db/tables.js';
import { ConflictError } from '../errors.js';
import { describeNs } from './views.js';

export type Kind = 'store' | 'connection';

/** A sealed row opened: its columns and what it holds (settings or fields). */
export interface OpenedRow {
  row: StoredConfigTable;
  payload: Record<string, unknown>;
}

/** A namespace row. */
export interface NamespaceRow {
  name: string;
  isolated: boolean;
  description?: string | undefined;
  createdAt: string;
  updatedAt: string;
}

/** A stored row that could not be opened (altered, or sealed under a key not held). */
export interface UnreadableRow {
  kind: Kind;
  namespace: string;
  name: string;
  reason: string;
}

/** What one read of the tables found. */
export interface StoredRows {
  namespaces: NamespaceRow[];
  stores: OpenedRow[];
  connections: OpenedRow[];
  unreadable: UnreadableRow[];
  /** Rows sealed under a master key that is no longer the active one. */
  stale: Array<{ kind: Kind; row: StoredConfigTable; payload: unknown }>;
}

/** A row to write: its identity, columns and payload (sealed on the way in). */
export interface RowWrite {
  namespace: string;
  name: string;
  type: string;
  description?: string | undefined;
  /** JSON of the store's options (cache, trusted), or null. */
  options: string | null;
  revision: number;
  createdAt: string;
  updatedAt: string;
  payload: unknown;
}

/** The authenticated data of a sealed row: never a valid builtin namespace, so rows cannot be swapped in. */
function coordinates(kind: Kind, namespace: string, name: string, revision: number) {
  return { namespace: `sesame-config:${kind}:${namespace}`, name, version: revision };
}

const TABLES = { store: 'config_stores', connection: 'config_connections' } as const;

export class StoredConfigRepository {
  constructor(
    private readonly backend: BuiltinBackend,
    private readonly now: () => string,
  ) {}

  get #db(): Kysely<SesameTables> {
    return this.backend.database.kysely;
  }

  /**
   * A write transaction that commits the change's audit record with it when the route runs it
   * inside `withAuditEvent` (one of `actions`, in `namespace`): change and record, or neither.
   */
  #write<T>(actions: readonly string[], namespace: string, change: Change, work: (trx: Kysely<SesameTables>) => Promise<T>): Promise<T> {
    // The change feed row makes the other Sesame processes on this database reload (src/cluster/).
    return writeAudited(this.backend.database, this.backend.auditChain, this.now, { actions, namespace, changes: [change] }, work);
  }

  /** Read and open every row; rows that cannot be opened are reported, not thrown. */
  async readAll(): Promise<StoredRows> {
    const out: StoredRows = { namespaces: [], stores: [], connections: [], unreadable: [], stale: [] };
    for (const row of await this.#db.selectFrom('config_namespaces').selectAll().execute()) {
      out.namespaces.push({
        name: row.name,
        isolated: row.isolated === 1,
        description: row.description ?? undefined,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      });
    }
    const open = (kind: Kind, row: StoredConfigTable): Record<string, unknown> | undefined => {
      try {
        const plain = openValue(
          { ciphertext: row.ciphertext, wrappedKey: row.wrapped_key, keyId: row.key_id },
          coordinates(kind, row.namespace, row.name, row.revision),
          this.backend.keyFor(row.key_id, `stored ${kind} ${row.name} (${describeNs(row.namespace)})`),
        );
        const payload = JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
        if (row.key_id !== this.backend.keyring.primary.id) out.stale.push({ kind, row, payload });
        return payload;
      } catch (err) {
        out.unreadable.push({ kind, namespace: row.namespace, name: row.name, reason: err instanceof Error ? err.message : String(err) });
        return undefined;
      }
    };
    for (const kind of ['store', 'connection'] as const) {
      for (const row of await this.#db.selectFrom(TABLES[kind]).selectAll().execute()) {
        const payload = open(kind, row);
        if (payload) (kind === 'store' ? out.stores : out.connections).push({ row, payload });
      }
    }
    return out;
  }

  /** Seal stale rows again under the active master key (each in its own transaction; failures are returned). */
  async reseal(stale: StoredRows['stale']): Promise<Error[]> {
    const failures: Error[] = [];
    for (const s of stale) {
      await this.backend.database
        .write(async (trx) => {
          const sealed = await this.#seal(trx, s.kind, s.row.namespace, s.row.name, s.row.revision, s.payload);
          await trx
            .updateTable(TABLES[s.kind])
            .set({ ciphertext: sealed.ciphertext, wrapped_key: sealed.wrappedKey, key_id: sealed.keyId })
            .where('namespace', '=', s.row.namespace)
            .where('name', '=', s.row.name)
            .where('revision', '=', s.row.revision)
            .execute();
        })
        .catch((err: unknown) => failures.push(err as Error));
    }
    return failures;
  }

  async #seal(trx: Kysely<SesameTables>, kind: Kind, namespace: string, name: string, revision: number, payload: unknown) {
    const key = await this.backend.activeKey(trx);
    return sealValue(Buffer.from(JSON.stringify(payload), 'utf8'), coordinates(kind, namespace, name, revision), key);
  }

  /**
   * Write one sealed row (a store's settings or a connection's fields): insert, or update guarded
   * by the revision read before (optimistic concurrency between processes: 409 when it moved).
   */
  async put(kind: Kind, entry: RowWrite, mode: 'insert' | 'update', previousRevision?: number): Promise<void> {
    const { namespace, name } = entry;
    const table = TABLES[kind];
    await this.#write([`${kind}.create`, `${kind}.update`], namespace, { kind, namespace, target: name }, async (trx) => {
      const sealed = await this.#seal(trx, kind, namespace, name, entry.revision, entry.payload);
      const row = {
        type: entry.type,
        description: entry.description ?? null,
        options: entry.options,
        revision: entry.revision,
        ciphertext: sealed.ciphertext,
        wrapped_key: sealed.wrappedKey,
        key_id: sealed.keyId,
        updated_at: entry.updatedAt,
      };
      if (mode === 'insert') {
        await trx.insertInto(table).values({ namespace, name, created_at: entry.createdAt, ...row }).execute();
        return;
      }
      const result = await trx
        .updateTable(table)
        .set(row)
        .where('namespace', '=', namespace)
        .where('name', '=', name)
        .where('revision', '=', previousRevision ?? 0)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) {
        throw new ConflictError(`${kind} "${name}" was changed by another process: read it again and retry`);
      }
    });
  }

  async remove(kind: Kind, namespace: string, name: string): Promise<void> {
    await this.#write([`${kind}.delete`], namespace, { kind, namespace, target: name }, (trx) =>
      trx.deleteFrom(TABLES[kind]).where('namespace', '=', namespace).where('name', '=', name).execute(),
    );
  }

  async putNamespace(entry: NamespaceRow, exists: boolean): Promise<void> {
    const { name } = entry;
    await this.#write(['namespace.create', 'namespace.update'], name, { kind: 'namespace', namespace: name, target: name }, async (trx) => {
      const row = { isolated: entry.isolated ? 1 : 0, description: entry.description ?? null, updated_at: entry.updatedAt };
      if (exists) await trx.updateTable('config_namespaces').set(row).where('name', '=', name).execute();
      else await trx.insertInto('config_namespaces').values({ name, created_at: entry.createdAt, ...row }).execute();
    });
  }
}

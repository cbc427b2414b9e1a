/**
 * Builtin secrets: versioned, namespaced, encrypted values in the database.
 *
 * - A secret is (namespace, name). A read names a namespace chain, most specific first
 *   (`['acme.devops', 'acme', '']`): the first namespace that has a live secret of that name
 *   serves it, so children override parents. A soft-deleted secret does not hide its parents'.
 * - Every write adds a version (1, 2, 3…); reads serve the newest unless a version is pinned.
 * - Tags on a write are merged over the secret's tags, which are merged over the store's
 *   default tags. A description replaces the previous one when given.
 * - Delete is soft for a recovery window (restore brings it back), then the secret is gone;
 *   purge (`force`) removes it at once. A soft-deleted name cannot be written until restored
 *   or purged: writing would otherwise silently resurrect or orphan its old versions.
 * - Listing returns names and metadata only, never values, in pages.
 * - A write, delete, purge or restore commits its audit record in its own transaction when it
 *   has one: given (`{ audit }`), or waiting for it (`withAuditEvent`, how the server's routes
 *   and the CLI reach these through the store contract). The change and its record are then
 *   committed together or not at all.
 */
import { type Kysely, type SqlBool, sql } from 'kysely';
import { writeAudited } from '../audit/ambient.js';
import type { EventFields } from '../audit/append.js';
import type { WriteTransactionOptions } from '../db/index.js';
import type { SecretsTable, SecretVersionsTable, SesameTables } from '../db/tables.js';
import { SecretNotFoundError, SecretStateError, UsageError, ValueTooLargeError } from '../errors.js';
import { type NotFoundAsked, notFoundFix } from '../not-found-fix.js';
import type { BuiltinBackend } from './backend.js';
import { openValue, sealValue } from './envelope.js';
import { describeSecret, type SecretCoordinates, SecretIntegrityError } from './errors.js';
import { checkComposedName, checkDescription, checkNamespace, checkSecretName, checkTags } from './names.js';

export { DEFAULT_MAX_VALUE_SIZE, DEFAULT_RECOVERY_WINDOW_MS } from './limits.js';
import { DEFAULT_MAX_VALUE_SIZE, DEFAULT_RECOVERY_WINDOW_MS } from './limits.js';
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
// Keeps every IN (…) list well under SQLite's and PostgreSQL's bound-parameter limits.
const CHUNK = 500;

export interface SecretSpaceOptions {
  /** The store's name, prefixed to messages (`[builtin] …`). */
  label?: string | undefined;
  /** Tags every write carries unless it sets them itself. */
  defaultTags?: Record<string, string> | undefined;
  /** Largest value accepted, in UTF-8 bytes (default 65536). */
  maxValueSize?: number | undefined;
  /** How long a deleted secret can be restored, in milliseconds (default 7 days). */
  recoveryWindowMs?: number | undefined;
  /** Where to tell the operator to raise `maxValueSize` (default: the builtin store's settings). */
  maxValueSizeHint?: string | undefined;
}

export interface ReadRequest {
  name: string;
  /** Pinned version; the newest when absent. */
  version?: number | undefined;
  /** Namespace chain, most specific first. */
  namespaces: readonly string[];
}

export interface StoredSecret {
  name: string;
  namespace: string;
  version: number;
  value: string;
}

export interface SecretInfo {
  name: string;
  namespace: string;
  /** Newest version. */
  version: number;
  description?: string | undefined;
  tags: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  deletedAt?: string | undefined;
  purgeAt?: string | undefined;
}

export interface VersionInfo {
  version: number;
  createdAt: string;
  /** The version reads serve by default. */
  latest: boolean;
}

export interface ListQuery {
  namespaces: readonly string[];
  prefix?: string | undefined;
  /** Names containing this text (case-sensitive). */
  contains?: string | undefined;
  /** Every tag must match. */
  tags?: Record<string, string> | undefined;
  /** Also list soft-deleted secrets that can still be restored. */
  includeDeleted?: boolean | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface WriteInput {
  namespace: string;
  name: string;
  value: string;
  description?: string | undefined;
  tags?: Record<string, string> | undefined;
  /** Check-and-set: the newest version must be this one (0: the secret must not exist). */
  expectedVersion?: number | undefined;
}

type Db = Kysely<SesameTables>;

/** Options of the changing operations. */
export interface AuditedOptions {
  /** The audit record of this change, committed in its transaction. */
  audit?: EventFields | undefined;
}

const WRITE_ACTIONS = ['secret.write'];
const DELETE_ACTIONS = ['secret.delete', 'secret.purge'];
const RESTORE_ACTIONS = ['secret.restore'];
type SecretRow = SecretsTable;
type ReadRow = Pick<SecretsTable, 'namespace' | 'name' | 'latest_version'> &
  Pick<SecretVersionsTable, 'version' | 'ciphertext' | 'wrapped_key' | 'key_id'>;

export class BuiltinSecrets {
  readonly label: string;
  readonly #defaultTags: Record<string, string>;
  readonly #maxValueSize: number;
  readonly #recoveryWindowMs: number;
  readonly #maxValueSizeHint: string;

  constructor(
    private readonly backend: BuiltinBackend,
    options: SecretSpaceOptions = {},
  ) {
    this.label = options.label ?? 'builtin';
    this.#defaultTags = options.defaultTags ?? {};
    this.#maxValueSize = options.maxValueSize ?? DEFAULT_MAX_VALUE_SIZE;
    this.#recoveryWindowMs = options.recoveryWindowMs ?? DEFAULT_RECOVERY_WINDOW_MS;
    this.#maxValueSizeHint =
      options.maxValueSizeHint ??
      `raise maxValueSize in the settings of store "${this.label}" (type builtin)`;
  }

  get #db(): Db {
    return this.backend.database.kysely;
  }

  #nowIso(): string {
    return new Date(this.backend.now()).toISOString();
  }

  /**
   * A write transaction that also commits the operation's audit record, when it has one (given,
   * or waiting for one of `actions` in `namespace`: see `src/audit/ambient.ts`).
   */
  #writeAudited<T>(
    actions: readonly string[],
    secret: { namespace: string; name: string },
    given: EventFields | undefined,
    work: (trx: Db) => Promise<T>,
    options?: WriteTransactionOptions,
  ): Promise<T> {
    const { namespace } = secret;
    // Other Sesame processes on this database drop the name's cached values (src/cluster/).
    const changes = [{ kind: 'secret' as const, namespace, target: secret.name }];
    return writeAudited(
      this.backend.database,
      this.backend.auditChain,
      () => this.#nowIso(),
      { actions, namespace, given, changes },
      work,
      options,
    );
  }

  #checkChain(namespaces: readonly string[]): void {
    if (namespaces.length === 0) throw new UsageError(`[${this.label}] no namespace to read from`);
    for (const ns of namespaces) checkNamespace(ns, this.label);
  }

  /** Read one secret. Throws `SecretNotFoundError`, or `SecretIntegrityError` on a tampered row. */
  async read(request: ReadRequest): Promise<StoredSecret> {
    const [result] = await this.readMany([request]);
    if (result instanceof Error) throw result;
    return result as StoredSecret;
  }

  /**
   * Read several secrets with one query per 500 names: one result per request, in order, each a
   * secret or the error for that request.
   */
  async readMany(requests: readonly ReadRequest[]): Promise<Array<StoredSecret | Error>> {
    const results: Array<StoredSecret | Error | undefined> = new Array(requests.length);
    const valid: number[] = [];
    requests.forEach((r, i) => {
      try {
        checkSecretName(r.name, this.label);
        this.#checkChain(r.namespaces);
        valid.push(i);
      } catch (err) {
        results[i] = err as Error;
      }
    });
    const absent: number[] = [];
    for (let start = 0; start < valid.length; start += CHUNK) {
      const chunk = valid.slice(start, start + CHUNK);
      const rows = await this.#fetchForRead(chunk.map((i) => requests[i] as ReadRequest));
      for (const i of chunk) {
        const request = requests[i] as ReadRequest;
        results[i] = this.#pick(request, rows);
        if (!rows.some((r) => r.name === request.name && request.namespaces.includes(r.namespace))) absent.push(i);
      }
    }
    if (absent.length > 0) {
      const unexplained = await this.#sayDeleted(requests, absent, results);
      if (unexplained.length > 0) await this.#sayNearby(requests, unexplained, results);
    }
    return results as Array<StoredSecret | Error>;
  }

  /**
   * A name no namespace of the chain holds may be held there in another case or another Unicode
   * form (`Jira-Token`, `café` composed): names are compared exactly, so say which name exists.
   * One query, on the not-found path only (SQLite's lower() folds ASCII letters only).
   */
  async #sayNearby(
    requests: readonly ReadRequest[],
    absent: readonly number[],
    results: Array<StoredSecret | Error | undefined>,
  ): Promise<void> {
    const asked = absent.map((i) => requests[i] as ReadRequest);
    const forms = unique(asked.flatMap((r) => [r.name.normalize('NFC'), r.name.normalize('NFD')]));
    const lowered = unique(asked.map((r) => r.name.toLowerCase()));
    const now = this.#nowIso();
    const rows = (
      await this.#db
        .selectFrom('secrets')
        .selectAll()
        .where('namespace', 'in', unique(asked.flatMap((r) => r.namespaces)))
        .where((eb) => eb.or([eb('name', 'in', forms), eb(eb.fn('lower', ['name']), 'in', lowered)]))
        .execute()
    ).filter((row) => row.deleted_at === null || !isGone(row, now));
    if (rows.length === 0) return;
    const folded = (n: string) => n.normalize('NFC').toLowerCase();
    for (const i of absent) {
      const request = requests[i] as ReadRequest;
      let found: { row: SecretRow; how: 'form' | 'case' } | undefined;
      for (const ns of request.namespaces) {
        const here = rows.filter((r) => r.namespace === ns && r.deleted_at === null && r.name !== request.name);
        const form = here.find((r) => r.name.normalize('NFC') === request.name.normalize('NFC'));
        const cased = here.find((r) => folded(r.name) === folded(request.name));
        found = form ? { row: form, how: 'form' } : cased ? { row: cased, how: 'case' } : undefined;
        if (found) break;
      }
      if (!found) continue;
      const why =
        found.how === 'form'
          ? 'the same name in another Unicode form: names are compared code point by code point'
          : 'names are case-sensitive';
      const err = new SecretNotFoundError(
        `[${this.label}] no secret "${request.name}" in ${describeChain(request.namespaces)} (${describeChain([found.row.namespace])} has "${found.row.name}"${found.how === 'form' ? ', ' : ': '}${why})`,
      );
      err.fix = `write the reference as secret://${this.label}/${escapeName(found.row.name)}`;
      results[i] = err;
    }
  }

  /**
   * A name no namespace of the chain holds live may be deleted in one of them and still
   * restorable: then the advice is to restore it there (creating it is refused until it is
   * restored or purged). One query, on the not-found path only.
   */
  async #sayDeleted(
    requests: readonly ReadRequest[],
    absent: readonly number[],
    results: Array<StoredSecret | Error | undefined>,
  ): Promise<number[]> {
    const asked = absent.map((i) => requests[i] as ReadRequest);
    const now = this.#nowIso();
    const deleted = (
      await this.#db
        .selectFrom('secrets')
        .selectAll()
        .where('name', 'in', unique(asked.map((r) => r.name)))
        .where('namespace', 'in', unique(asked.flatMap((r) => r.namespaces)))
        .where('deleted_at', 'is not', null)
        .execute()
    ).filter((row) => !isGone(row, now));
    const unexplained: number[] = [];
    for (const i of absent) {
      const request = requests[i] as ReadRequest;
      const owner = request.namespaces.find((ns) => deleted.some((r) => r.name === request.name && r.namespace === ns));
      const row = deleted.find((r) => r.name === request.name && r.namespace === owner);
      if (owner === undefined || row === undefined) {
        unexplained.push(i);
        continue;
      }
      const until = row.purge_at ? `, restorable until ${row.purge_at}` : '';
      results[i] = notFound(
        `[${this.label}] no secret "${request.name}" in ${describeChain(request.namespaces)} (deleted in ${describeChain([owner])}${until})`,
        'deleted',
        request.name,
        owner,
      );
    }
    return unexplained;
  }

  async #fetchForRead(requests: readonly ReadRequest[]): Promise<ReadRow[]> {
    const names = unique(requests.map((r) => r.name));
    const namespaces = unique(requests.flatMap((r) => r.namespaces));
    const pinned = unique(requests.flatMap((r) => (r.version === undefined ? [] : [r.version])));
    // One query for all: each live secret row with its newest version and any pinned version.
    return this.#db
      .selectFrom('secrets as s')
      .innerJoin('secret_versions as v', (j) =>
        j.onRef('v.namespace', '=', 's.namespace').onRef('v.name', '=', 's.name'),
      )
      .select([
        's.namespace',
        's.name',
        's.latest_version',
        'v.version',
        'v.ciphertext',
        'v.wrapped_key',
        'v.key_id',
      ])
      .where('s.name', 'in', names)
      .where('s.namespace', 'in', namespaces)
      .where('s.deleted_at', 'is', null)
      .where((eb) =>
        eb.or([
          eb('v.version', '=', eb.ref('s.latest_version')),
          ...(pinned.length > 0 ? [eb('v.version', 'in', pinned)] : []),
        ]),
      )
      .execute();
  }

  #pick(request: ReadRequest, rows: readonly ReadRow[]): StoredSecret | Error {
    const mine = rows.filter((r) => r.name === request.name);
    const owner = request.namespaces.find((ns) => mine.some((r) => r.namespace === ns));
    if (owner === undefined) {
      return notFound(
        `[${this.label}] no secret "${request.name}" in ${describeChain(request.namespaces)}`,
        'read',
        request.name,
        request.namespaces[0] ?? '',
      );
    }
    const ownerRows = mine.filter((r) => r.namespace === owner);
    const latest = ownerRows[0]?.latest_version as number;
    const wanted = request.version ?? latest;
    const row = ownerRows.find((r) => r.version === wanted);
    if (!row) {
      return notFound(
        `[${this.label}] secret ${describeSecret({ namespace: owner, name: request.name })} has no version ${wanted} (the newest is ${latest})`,
        'version',
        request.name,
        owner,
      );
    }
    const at: SecretCoordinates = { namespace: row.namespace, name: row.name, version: row.version };
    try {
      const key = this.backend.keyFor(row.key_id, `secret ${describeSecret(at)} version ${at.version}`);
      const plaintext = openValue(
        { ciphertext: row.ciphertext, wrappedKey: row.wrapped_key, keyId: row.key_id },
        at,
        key,
      );
      return {
        name: row.name,
        namespace: row.namespace,
        version: row.version,
        value: plaintext.toString('utf8'),
      };
    } catch (err) {
      if (err instanceof SecretIntegrityError) {
        return new SecretIntegrityError(at, { cause: err });
      }
      return err as Error;
    }
  }

  /**
   * Write a new version. Two writers of one name at once both get their own version: the
   * version number is computed in a write transaction, and a writer that loses the race on
   * PostgreSQL hits the primary key and runs again with the next number.
   */
  /** Refuse a value above this store's limit without writing (what `write` would throw). */
  checkValueSize(name: string, value: string): void {
    this.#checkSize(name, Buffer.byteLength(value, 'utf8'));
  }

  #checkSize(name: string, bytes: number): void {
    if (bytes > this.#maxValueSize) {
      throw new ValueTooLargeError(
        `[${this.label}] the value of "${name}" is ${bytes} bytes, above this store's limit of ${this.#maxValueSize} bytes: ${this.#maxValueSizeHint}`,
      );
    }
  }

  async write(
    input: WriteInput,
    options: AuditedOptions = {},
  ): Promise<{ name: string; namespace: string; version: number }> {
    checkNamespace(input.namespace, this.label);
    checkSecretName(input.name, this.label);
    checkComposedName(input.name, this.label);
    if (typeof input.value !== 'string') throw new UsageError(`[${this.label}] a secret value is text`);
    if (input.description !== undefined) checkDescription(input.description, this.label);
    if (input.tags) checkTags(input.tags, this.label);
    const plaintext = Buffer.from(input.value, 'utf8');
    try {
      this.#checkSize(input.name, plaintext.length);
      await this.backend.sweepExpired();
      const kysely = this.backend.database.kind;
      return await this.#writeAudited(
        WRITE_ACTIONS,
        input,
        options.audit,
        async (trx) => {
          const now = this.#nowIso();
          const current = await this.#secretRow(trx, input.namespace, input.name, kysely === 'postgres');
          let existing = current;
          if (existing && isGone(existing, now)) {
            await deleteSecretRows(trx, input.namespace, input.name);
            existing = undefined;
          }
          if (existing?.deleted_at) {
            throw new SecretStateError(
              `[${this.label}] secret ${describeSecret(input)} is deleted (restorable until ${existing.purge_at}): restore it first, or purge it to reuse the name`,
            );
          }
          const latest = existing?.latest_version ?? 0;
          if (input.expectedVersion !== undefined && input.expectedVersion !== latest) {
            throw new SecretStateError(
              `[${this.label}] secret ${describeSecret(input)} is at version ${latest || 'none'}, not ${input.expectedVersion || 'none'}: read it again and retry`,
            );
          }
          const version = latest + 1;
          const key = await this.backend.activeKey(trx);
          const sealed = sealValue(plaintext, { namespace: input.namespace, name: input.name, version }, key);
          if (existing) {
            await trx
              .updateTable('secrets')
              .set({
                latest_version: version,
                updated_at: now,
                ...(input.description !== undefined ? { description: input.description } : {}),
              })
              .where('namespace', '=', input.namespace)
              .where('name', '=', input.name)
              .execute();
          } else {
            await trx
              .insertInto('secrets')
              .values({
                namespace: input.namespace,
                name: input.name,
                latest_version: version,
                description: input.description ?? null,
                created_at: now,
                updated_at: now,
                deleted_at: null,
                purge_at: null,
              })
              .execute();
          }
          await trx
            .insertInto('secret_versions')
            .values({
              namespace: input.namespace,
              name: input.name,
              version,
              ciphertext: sealed.ciphertext,
              wrapped_key: sealed.wrappedKey,
              key_id: sealed.keyId,
              created_at: now,
            })
            .execute();
          await this.#mergeTags(trx, input.namespace, input.name, input.tags ?? {}, existing !== undefined);
          return { name: input.name, namespace: input.namespace, version };
        },
        { retryOnConflict: true },
      );
    } finally {
      plaintext.fill(0);
    }
  }

  async #secretRow(db: Db, namespace: string, name: string, lock = false): Promise<SecretRow | undefined> {
    return db
      .selectFrom('secrets')
      .selectAll()
      .where('namespace', '=', namespace)
      .where('name', '=', name)
      .$if(lock, (q) => q.forUpdate())
      .executeTakeFirst();
  }

  async #mergeTags(db: Db, namespace: string, name: string, given: Record<string, string>, exists: boolean) {
    const current = exists
      ? await this.#tagsOf(db, [{ namespace, name }])
      : new Map<string, Record<string, string>>();
    const merged = { ...this.#defaultTags, ...(current.get(keyOf(namespace, name)) ?? {}), ...given };
    checkTags(merged, this.label);
    if (exists)
      await db
        .deleteFrom('secret_tags')
        .where('namespace', '=', namespace)
        .where('name', '=', name)
        .execute();
    const rows = Object.entries(merged).map(([tag, value]) => ({ namespace, name, tag, value }));
    if (rows.length > 0) await db.insertInto('secret_tags').values(rows).execute();
  }

  async #tagsOf(
    db: Db,
    secrets: ReadonlyArray<{ namespace: string; name: string }>,
  ): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    for (let start = 0; start < secrets.length; start += CHUNK) {
      const chunk = secrets.slice(start, start + CHUNK);
      const rows = await db
        .selectFrom('secret_tags')
        .select(['namespace', 'name', 'tag', 'value'])
        .where('name', 'in', unique(chunk.map((s) => s.name)))
        .where('namespace', 'in', unique(chunk.map((s) => s.namespace)))
        .orderBy('tag')
        .execute();
      for (const r of rows) {
        const key = keyOf(r.namespace, r.name);
        const tags = out.get(key) ?? {};
        tags[r.tag] = r.value;
        out.set(key, tags);
      }
    }
    return out;
  }

  /**
   * Soft-delete a secret (one namespace, not a chain). Reads then fail as not found; `restore`
   * brings it back until `purgeAt`. A window of 0 purges at once. Deleting an already deleted
   * secret keeps its original `purgeAt`.
   */
  async delete(
    namespace: string,
    name: string,
    options: { recoveryWindowMs?: number | undefined } & AuditedOptions = {},
  ): Promise<{ purgeAt: string | undefined }> {
    checkNamespace(namespace, this.label);
    checkSecretName(name, this.label);
    const window = options.recoveryWindowMs ?? this.#recoveryWindowMs;
    if (!Number.isFinite(window) || window < 0) {
      throw new UsageError(`[${this.label}] a recovery window is a duration of 0 or more`);
    }
    await this.backend.sweepExpired();
    if (window === 0) {
      await this.purge(namespace, name, options);
      return { purgeAt: undefined };
    }
    return this.#writeAudited(DELETE_ACTIONS, { namespace, name }, options.audit, async (trx) => {
      const now = this.#nowIso();
      const row = await this.#liveOrRecoverable(trx, namespace, name, now, 'delete');
      if (row.deleted_at) return { purgeAt: row.purge_at ?? undefined };
      const purgeAt = new Date(this.backend.now() + window).toISOString();
      await trx
        .updateTable('secrets')
        .set({ deleted_at: now, purge_at: purgeAt })
        .where('namespace', '=', namespace)
        .where('name', '=', name)
        .execute();
      return { purgeAt };
    });
  }

  /** Delete a secret and all its versions for good, deleted or not. */
  async purge(namespace: string, name: string, options: AuditedOptions = {}): Promise<void> {
    checkNamespace(namespace, this.label);
    checkSecretName(name, this.label);
    await this.#writeAudited(DELETE_ACTIONS, { namespace, name }, options.audit, async (trx) => {
      await this.#liveOrRecoverable(trx, namespace, name, this.#nowIso(), 'delete');
      await deleteSecretRows(trx, namespace, name);
    });
  }

  /** Undo a soft delete within the recovery window. Restoring a live secret does nothing. */
  async restore(namespace: string, name: string, options: AuditedOptions = {}): Promise<void> {
    checkNamespace(namespace, this.label);
    checkSecretName(name, this.label);
    await this.#writeAudited(RESTORE_ACTIONS, { namespace, name }, options.audit, async (trx) => {
      const row = await this.#liveOrRecoverable(trx, namespace, name, this.#nowIso(), 'restore');
      if (!row.deleted_at) return;
      await trx
        .updateTable('secrets')
        .set({ deleted_at: null, purge_at: null })
        .where('namespace', '=', namespace)
        .where('name', '=', name)
        .execute();
    });
  }

  async #liveOrRecoverable(
    db: Db,
    namespace: string,
    name: string,
    now: string,
    asked: NotFoundAsked,
  ): Promise<SecretRow> {
    const row = await this.#secretRow(db, namespace, name, this.backend.database.kind === 'postgres');
    if (!row || isGone(row, now)) {
      throw notFound(`[${this.label}] no secret ${describeSecret({ namespace, name })}`, asked, name, namespace);
    }
    return row;
  }

  /**
   * The secret a chain resolves to for metadata: the live one reads would serve, else the most
   * specific soft-deleted one still restorable (so a deleted secret can be inspected).
   */
  async #resolveForMetadata(name: string, namespaces: readonly string[]): Promise<SecretRow> {
    checkSecretName(name, this.label);
    this.#checkChain(namespaces);
    const now = this.#nowIso();
    const rows = await this.#db
      .selectFrom('secrets')
      .selectAll()
      .where('name', '=', name)
      .where('namespace', 'in', [...namespaces])
      .execute();
    const visible = rows.filter((r) => !isGone(r, now));
    const rank = (r: SecretRow) => namespaces.indexOf(r.namespace);
    visible.sort(
      (a, b) => Number(a.deleted_at !== null) - Number(b.deleted_at !== null) || rank(a) - rank(b),
    );
    const found = visible[0];
    if (!found)
      throw notFound(`[${this.label}] no secret "${name}" in ${describeChain(namespaces)}`, 'read', name, namespaces[0] ?? '');
    return found;
  }

  async describe(name: string, namespaces: readonly string[]): Promise<SecretInfo> {
    const row = await this.#resolveForMetadata(name, namespaces);
    const tags = await this.#tagsOf(this.#db, [row]);
    return infoOf(row, tags.get(keyOf(row.namespace, row.name)) ?? {});
  }

  /** Every version of the secret a chain resolves to, newest first. */
  async versions(
    name: string,
    namespaces: readonly string[],
  ): Promise<{ namespace: string; versions: VersionInfo[] }> {
    const row = await this.#resolveForMetadata(name, namespaces);
    const versions = await this.#db
      .selectFrom('secret_versions')
      .select(['version', 'created_at'])
      .where('namespace', '=', row.namespace)
      .where('name', '=', row.name)
      .orderBy('version', 'desc')
      .execute();
    return {
      namespace: row.namespace,
      versions: versions.map((v) => ({
        version: v.version,
        createdAt: v.created_at,
        latest: v.version === row.latest_version,
      })),
    };
  }

  /**
   * Secrets visible from a namespace chain, by name (then namespace), one page at a time: for
   * each name the secret reads would serve, plus restorable deleted ones with `includeDeleted`.
   */
  async list(query: ListQuery): Promise<{ items: SecretInfo[]; cursor?: string | undefined }> {
    this.#checkChain(query.namespaces);
    if (query.tags) checkTags(query.tags, this.label);
    const limit = Math.min(Math.max(1, Math.floor(query.limit ?? DEFAULT_PAGE)), MAX_PAGE);
    const after = query.cursor === undefined ? undefined : this.#decodeCursor(query.cursor);
    const chain = [...query.namespaces];
    const now = this.#nowIso();
    const rank = (ref: 's.namespace' | 'o.namespace') =>
      sql<number>`case ${sql.ref(ref)} ${sql.join(
        chain.map((ns, i) => sql`when ${ns} then ${i}`),
        sql` `,
      )} end`;

    let q = this.#db
      .selectFrom('secrets as s')
      .selectAll('s')
      .where('s.namespace', 'in', chain)
      .where((eb) =>
        query.includeDeleted
          ? eb.or([eb('s.deleted_at', 'is', null), eb('s.purge_at', '>', now)])
          : eb('s.deleted_at', 'is', null),
      )
      // Shadowed: a live secret of the same name in a more specific namespace of the chain.
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('secrets as o')
              .select(sql`1`.as('one'))
              .whereRef('o.name', '=', 's.name')
              .where('o.namespace', 'in', chain)
              .where('o.deleted_at', 'is', null)
              .where(sql<SqlBool>`${rank('o.namespace')} < ${rank('s.namespace')}`),
          ),
        ),
      );
    if (query.prefix) {
      // substr, not LIKE: LIKE is case-insensitive in SQLite and would need escaping of % and _.
      q = q.where(sql<SqlBool>`substr(${sql.ref('s.name')}, 1, ${query.prefix.length}) = ${query.prefix}`);
    }
    if (query.contains) {
      // instr (SQLite) / strpos (PostgreSQL, which has no instr), not LIKE: case-sensitive like names, and no escaping of % and _.
      q = q.where(
        sql<SqlBool>`${sql.raw(this.backend.database.kind === 'postgres' ? 'strpos' : 'instr')}(${sql.ref('s.name')}, ${query.contains}) > 0`,
      );
    }
    for (const [tag, value] of Object.entries(query.tags ?? {})) {
      q = q.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('secret_tags as t')
            .select(sql`1`.as('one'))
            .whereRef('t.namespace', '=', 's.namespace')
            .whereRef('t.name', '=', 's.name')
            .where('t.tag', '=', tag)
            .where('t.value', '=', value),
        ),
      );
    }
    if (after) {
      q = q.where((eb) =>
        eb.or([
          eb('s.name', '>', after.name),
          eb.and([eb('s.name', '=', after.name), eb('s.namespace', '>', after.namespace)]),
        ]),
      );
    }
    const rows = await q
      .orderBy('s.name')
      .orderBy('s.namespace')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    const tags = await this.#tagsOf(this.#db, page);
    const items = page.map((r) => infoOf(r, tags.get(keyOf(r.namespace, r.name)) ?? {}));
    const last = page[page.length - 1];
    return rows.length > limit && last ? { items, cursor: encodeCursor(last) } : { items };
  }

  #decodeCursor(cursor: string): { name: string; namespace: string } {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (Array.isArray(parsed) && parsed.length === 2 && parsed.every((p) => typeof p === 'string')) {
        return { name: parsed[0] as string, namespace: parsed[1] as string };
      }
    } catch {
      // reported below
    }
    throw new UsageError(
      `[${this.label}] invalid list cursor: pass the cursor of the previous page unchanged`,
    );
  }

  /** Live secrets in a chain's namespaces (diagnostics). */
  async count(namespaces: readonly string[]): Promise<number> {
    this.#checkChain(namespaces);
    const row = await this.#db
      .selectFrom('secrets')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('namespace', 'in', [...namespaces])
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Remove soft-deleted secrets past their recovery window. Returns how many. */
  async purgeExpired(): Promise<number> {
    const now = this.#nowIso();
    const expired = await this.#db
      .selectFrom('secrets')
      .select(['namespace', 'name'])
      .where('deleted_at', 'is not', null)
      .where('purge_at', '<=', now)
      .execute();
    if (expired.length === 0) return 0;
    return this.backend.database.write(async (trx) => {
      let purged = 0;
      for (const s of expired) {
        // Re-checked inside the transaction: it may have been restored meanwhile.
        const row = await this.#secretRow(trx, s.namespace, s.name);
        if (row && isGone(row, now)) {
          await deleteSecretRows(trx, s.namespace, s.name);
          purged++;
        }
      }
      return purged;
    });
  }
}

/**
 * A name the encrypted store does not hold, with the advice every store gives (the core's
 * notFoundFix), in this store's terms: `sesame secrets set` creates it, and a name is found by
 * its name and namespace. The commands name `namespace` (where to create it: the namespace read
 * from; where it has versions or can be restored: its own), since without `--namespace` they act
 * in the root, which an isolated namespace never reads.
 */
function notFound(message: string, asked: NotFoundAsked, name: string, namespace: string): SecretNotFoundError {
  const err = new SecretNotFoundError(message);
  const target = namespace === '' ? name : `${name} --namespace ${namespace}`;
  err.fix = notFoundFix(asked, {
    name: target,
    create: `create it with \`sesame secrets set ${target}\``,
    check: 'the name and the namespace',
    gone: 'purged, past its recovery window, or never created',
  });
  return err;
}

/** A name as a reference writes it: `%`-escaped where the grammar needs it (`#`, `?`, `%`, `{`, `}`, spaces). */
function escapeName(name: string): string {
  return name.replace(/[%#?{} ]/g, (c) => `%${(c.charCodeAt(0) as number).toString(16).toUpperCase()}`);
}

function isGone(row: SecretRow, now: string): boolean {
  return row.deleted_at !== null && row.purge_at !== null && row.purge_at <= now;
}

async function deleteSecretRows(db: Db, namespace: string, name: string): Promise<void> {
  for (const table of ['secret_versions', 'secret_tags', 'secrets'] as const) {
    await db.deleteFrom(table).where('namespace', '=', namespace).where('name', '=', name).execute();
  }
}

function infoOf(row: SecretRow, tags: Record<string, string>): SecretInfo {
  return {
    name: row.name,
    namespace: row.namespace,
    version: row.latest_version,
    description: row.description ?? undefined,
    tags,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at ?? undefined,
    purgeAt: row.purge_at ?? undefined,
  };
}

function encodeCursor(row: { name: string; namespace: string }): string {
  return Buffer.from(JSON.stringify([row.name, row.namespace]), 'utf8').toString('base64url');
}

function keyOf(namespace: string, name: string): string {
  return `${namespace}\u0000${name}`;
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

function describeChain(namespaces: readonly string[]): string {
  const names = namespaces.map((ns) => (ns === '' ? '(root)' : ns));
  if (names.length === 1) return namespaces[0] === '' ? 'the root namespace' : `namespace ${names[0]}`;
  return `namespaces ${names.join(', ')}`;
}

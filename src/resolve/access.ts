/**
 * The one authorization point of the resolve path. Every resolution made for a principal (API
 * routes, connection test and refresh, the admin UI, the CLI against a server, the library when
 * given a principal) is decided here: the resolver asks {@link AccessPolicy.checkRead} for each
 * reference before it reads the cache or the store. Routes add no checks of their own.
 *
 * The rule: no path lets a principal learn a value it could not read with `reveal`, or make the
 * server reach an address or file it could not reach itself.
 *
 * - A value is returned only to a runtime principal or one holding `reveal`; values sent to a
 *   connection's target (`purpose: 'deliver'`) go only to destinations the principal may send
 *   them to ({@link AccessPolicy.checkDelivery}).
 * - A store that reads the host's environment or files — or whose type does not say what it
 *   does — is usable only by principals whose scope covers the namespace it is declared in: the
 *   root `env` store serves the server's own environment, not a token limited to `acme`.
 * - Store settings given through the API by anyone but a root admin may not use the host's
 *   files, environment or ambient cloud identity, and their addresses pass the outbound policy.
 *
 * Store types declare what their settings make the host do (`StoreType.hostAccess`); nothing
 * here knows a store type by name.
 */
import { isIP, type LookupFunction } from 'node:net';
import { ForbiddenError } from '../errors.js';
import { covers, type Role } from '../scope.js';
import type { HostAccess, StoreType } from '../stores/contract.js';
import { hostOf, type OutboundPolicy } from './outbound.js';

export { covers, type Role };

/** Who asks: a bearer token, the agent token's holder, or a local user of the CLI. */
export interface Principal {
  kind: 'token' | 'agent' | 'local';
  /** Token id, `agent`, `cli:<user>`: the actor in the audit trail. */
  id: string;
  role: Role;
  /** Scope: `acme` covers `acme` and `acme.*`; `` covers everything. */
  namespace: string;
  reveal: boolean;
}

/**
 * What the store is used for: `return` — values handed to the caller (a resolve, a reveal);
 * `deliver` — values sent to a connection's target by the server (a connection test), never
 * shown to the caller; `manage` — names, metadata, writes and checks, no value comes back.
 */
export type Purpose = 'return' | 'deliver' | 'manage';

export function describeNamespace(namespace: string): string {
  return namespace === '' ? 'the root namespace' : `namespace ${namespace}`;
}

export function isRootAdmin(principal: Principal): boolean {
  return principal.role === 'admin' && principal.namespace === '';
}

/** Throw 403 unless the principal's scope covers `namespace`. */
export function checkNamespace(principal: Principal, namespace: string): void {
  if (covers(principal.namespace, namespace)) return;
  throw new ForbiddenError(
    'forbidden_namespace',
    `this token is limited to ${describeNamespace(principal.namespace)} and its children; ${describeNamespace(namespace)} is outside it`,
    namespace,
  );
}

/** What the resolver knows of a store when it asks. */
export interface StoreUse {
  config: { name: string; namespace: string; type: string; settings: unknown };
  type: Pick<StoreType<unknown>, 'hostAccess'>;
}

/** The host access of a store's settings; undefined when the type does not declare it (then: anything). */
export function hostAccessOf(type: Pick<StoreType<unknown>, 'hostAccess'>, settings: unknown): HostAccess[] | undefined {
  if (!type.hostAccess) return undefined;
  return type.hostAccess(settings);
}

/** Why using the store binds a principal to the host, or undefined when it does not. */
function hostBound(access: readonly HostAccess[] | undefined): string | undefined {
  if (access === undefined) return 'is of a type that does not declare what it makes this server do';
  for (const a of access) {
    if (a.kind === 'environment') return `reads this server's environment`;
    if (a.kind === 'files') return `reads this server's files (${a.setting})`;
  }
  return undefined;
}

/** A destination a connection type would send its fields to, e.g. `https://jira.example.com` or `db.internal:5432`. */
export interface Destination {
  /** The field it comes from, for messages. */
  field: string;
  address: string;
}

export class AccessPolicy {
  /** Per store (its settings object): why it is host-bound, or null. */
  readonly #bound = new WeakMap<object, string | null>();

  constructor(private readonly outbound: () => OutboundPolicy) {}

  /** A connect-time `lookup` that refuses what the outbound policy refuses (for `what`, in messages). */
  connectLookup(what: string): LookupFunction {
    return this.outbound().lookup(what);
  }

  #hostBound(store: StoreUse): string | undefined {
    const settings = store.config.settings;
    const key = settings !== null && typeof settings === 'object' ? settings : undefined;
    if (key) {
      const memo = this.#bound.get(key);
      if (memo !== undefined) return memo ?? undefined;
    }
    let why: string | undefined;
    try {
      why = hostBound(hostAccessOf(store.type, settings));
    } catch {
      why = 'has settings whose host access could not be determined';
    }
    if (key) this.#bound.set(key, why ?? null);
    return why;
  }

  /**
   * May `principal`, acting in `namespace`, read a value through `store` (the store the
   * reference's store name means from `namespace`) for `purpose`? Throws {@link ForbiddenError}.
   * Called by the resolver for every reference of a resolution made for a principal, cache
   * hits included.
   */
  checkRead(principal: Principal, namespace: string, store: StoreUse, purpose: Purpose): void {
    if (purpose === 'return' && principal.role !== 'runtime' && !principal.reveal) {
      throw new ForbiddenError(
        'reveal_required',
        `resolving returns secret values: a ${principal.role} token needs the reveal permission for it (or use a runtime token)`,
      );
    }
    if (principal.role === 'auditor') {
      throw new ForbiddenError('forbidden_role', 'an auditor token reads the audit trail only; it cannot resolve secrets');
    }
    if (!covers(principal.namespace, namespace)) checkNamespace(principal, namespace);
    if (principal.namespace === '' || covers(principal.namespace, store.config.namespace)) return;
    const why = this.#hostBound(store);
    if (why === undefined) return;
    throw new ForbiddenError(
      'forbidden_host_access',
      `store ${store.config.name} ${why} and is declared in ${describeNamespace(store.config.namespace)}: ` +
        `this token, limited to ${describeNamespace(principal.namespace)}, may use such a store only when it is declared inside it`,
      store.config.namespace,
    );
  }

  /**
   * May `principal` change or delete a store as it is configured now? A store that uses the
   * host's files, environment or ambient identity was set up by a root admin, and stays theirs.
   */
  checkStoreChange(principal: Principal, storeName: string, type: Pick<StoreType<unknown>, 'type' | 'hostAccess'>, settings: unknown): void {
    if (isRootAdmin(principal)) return;
    const why = this.#hostPrivilege(type, settings);
    if (why) {
      throw new ForbiddenError(
        'forbidden_host_access',
        `store ${storeName} (type ${type.type}) ${why}: changing or deleting it needs an admin token for the root namespace`,
      );
    }
  }

  /** Why settings of `type` need a root admin (host files, environment, ambient identity, or nothing declared). */
  #hostPrivilege(type: Pick<StoreType<unknown>, 'hostAccess'>, settings: unknown): string | undefined {
    let access: HostAccess[] | undefined;
    try {
      access = hostAccessOf(type, settings);
    } catch {
      return 'has settings whose host access could not be determined';
    }
    if (access === undefined) return 'is of a type that does not declare what it makes this server do';
    for (const a of access) {
      if (a.kind === 'environment') return a.detail;
      if (a.kind === 'identity') return `${a.detail} (give its credentials in the settings instead)`;
      if (a.kind === 'files') return `reads this server's files (${a.setting})`;
    }
    return undefined;
  }

  /**
   * May `principal` configure a store of `type` with `settings` in `where.namespace` (create or
   * change it through the API)? Only a root admin may give a store the host's files,
   * environment or ambient identity; anyone else's addresses must pass the outbound policy.
   * `where.sources` are the stores its `{{ secret://… }}` credentials come from: the principal
   * must be allowed to use them, and since the store sends those values to its address, a
   * principal without `reveal` may point it only at a destination an allow entry names.
   */
  async checkStoreSettings(
    principal: Principal,
    storeName: string,
    type: StoreType<unknown>,
    settings: unknown,
    where: { namespace: string; sources: readonly StoreUse[] },
  ): Promise<void> {
    if (isRootAdmin(principal)) return;
    const why = this.#hostPrivilege(type, settings);
    if (why) {
      throw new ForbiddenError(
        'forbidden_host_access',
        `a store of type ${type.type} ${why}: creating or changing one needs an admin token for the root namespace`,
      );
    }
    for (const source of where.sources) this.checkRead(principal, where.namespace, source, 'deliver');
    const outbound = this.outbound();
    for (const a of hostAccessOf(type, settings) ?? []) {
      if (a.kind !== 'address') continue;
      await outbound.check(a.url, `store ${storeName} setting ${a.setting}`);
      // A client that resolves names itself could be redirected by a DNS change after this check.
      if (!type.connectsThroughLookup && isIP(hostOf(a.url)) === 0 && !(await outbound.explicitlyAllowed(a.url))) {
        throw new ForbiddenError(
          'forbidden_destination',
          `store ${storeName} setting ${a.setting}: a ${type.type} client resolves host names itself, so through the API ` +
            'it may be pointed only at an IP address or at a host named in server.outbound.allow',
        );
      }
      if (where.sources.length > 0 && principal.role !== 'runtime' && !principal.reveal && !(await outbound.explicitlyAllowed(a.url))) {
        throw new ForbiddenError(
          'forbidden_destination',
          `store ${storeName}: its credentials come from other stores and would be sent to ${a.url}, a destination chosen through the API: ` +
            'that needs a token with the reveal permission, or an admin adding the destination to server.outbound.allow',
        );
      }
    }
  }

  /**
   * May the server, for `principal`, send a connection's resolved fields to `destinations`?
   * `chosenThroughApi`: the connection was created or changed through the API (its destination
   * was chosen by a principal, not by whoever wrote the config file). Then the destination must
   * pass the outbound policy, and when the fields carry secret values and the principal could
   * not read them itself (no `reveal`), it must be a destination an allow entry names.
   */
  async checkDelivery(
    principal: Principal,
    connection: { name: string; chosenThroughApi: boolean; carriesSecrets: boolean },
    destinations: readonly Destination[] | undefined,
  ): Promise<{ lookup?: LookupFunction | undefined }> {
    if (!connection.chosenThroughApi || isRootAdmin(principal)) return {};
    if (destinations === undefined) {
      throw new ForbiddenError(
        'forbidden_destination',
        `connection ${connection.name}: its type does not say where a test connects, so only an admin token for the root namespace may test it`,
      );
    }
    const outbound = this.outbound();
    for (const d of destinations) {
      await outbound.check(d.address, `connection ${connection.name} field ${d.field}`);
      if (connection.carriesSecrets && principal.role !== 'runtime' && !principal.reveal && !(await outbound.explicitlyAllowed(d.address))) {
        throw new ForbiddenError(
          'forbidden_destination',
          `connection ${connection.name}: testing it sends its secret values to ${d.address}, a destination chosen through the API: ` +
            'that needs a token with the reveal permission, or an admin adding the destination to server.outbound.allow',
        );
      }
    }
    // The connection itself resolves names through the policy again: what was checked is what is reached.
    return { lookup: outbound.lookup(`connection ${connection.name}`) };
  }
}

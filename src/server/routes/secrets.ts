/**
 * Secrets in a store (default `builtin`): write, list, metadata, versions, delete, restore.
 * Values are write-only here: the one way to read one back is GET /secrets/{name}/value, for
 * admin and operator tokens holding `reveal`. A write, delete or restore drops the cached value
 * so the next resolve sees the change.
 *
 * Audit: a write, delete or restore in a builtin store commits its `ok` record in the same
 * transaction as the change (`withAuditEvent`: the builtin secrets claim the waiting record), so
 * no committed version lacks its record. Stores outside Sesame's database (AWS, Vault…) cannot
 * share a transaction with it: their record is committed after the store answered, as for
 * every other route, and a crash in between loses it (docs/audit.md).
 */
import { z } from 'zod';
import { withAuditEvent } from '../../audit/ambient.js';
import { STORE_NAME } from '../../config/schema.js';
import { namespaceChain } from '../../namespaces.js';
import { UnsupportedOperationError } from '../../errors.js';
import { formatReference } from '../../refs/reference.js';
import { secretText } from '../../resolve/cache.js';
import type { StoreBinding } from '../../resolve/bindings.js';
import type { StoreClient } from '../../stores/contract.js';
import { type AnyRoute, cursorParam, limitParam, namespaceParam, page, queryFlag, type RouteContext, route } from '../route.js';
import { refreshEverywhere } from '../cluster.js';
import type { ServerServices } from '../services.js';

const storeParam = z
  .string()
  .regex(STORE_NAME, 'a store name is lowercase letters, digits, "_" and "-"')
  .default('builtin')
  .describe('the store (default builtin), looked up from the namespace');

const where = z.strictObject({ store: storeParam, namespace: namespaceParam.optional() });
const nameParam = z.object({ name: z.string().min(1).max(2048).describe('the secret name; URL-encode "/" as %2F') });

const metadata = z.object({
  name: z.string(),
  namespace: z.string().optional(),
  version: z.string().optional(),
  description: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
  deletedAt: z.string().optional(),
  purgeAt: z.string().optional(),
});

type Ctx = RouteContext<unknown, unknown, unknown>;
type Operation = 'write' | 'delete' | 'restore' | 'versions' | 'describe' | 'list' | 'get' | 'keys';

export function secretRoutes(services: ServerServices): AnyRoute[] {
  const { sesame } = services;
  const manage = { roles: ['admin', 'operator'] as const };

  /**
   * The store a request means and its client. Changing secrets of a store that is not
   * namespace-aware changes them for every namespace that uses it, so that needs a token whose
   * scope covers the store's own namespace.
   */
  async function open(ctx: Ctx, storeName: string, namespace: string, operation: Operation) {
    const binding: StoreBinding = sesame.store(storeName, namespace);
    // The authorization point decides whether this principal may use the store at all (a value
    // comes back only from `get`, the reveal route).
    sesame.access.checkRead(ctx.principal, namespace, binding, operation === 'get' ? 'return' : 'manage');
    const changes = operation === 'write' || operation === 'delete' || operation === 'restore';
    if (changes && !binding.type.capabilities.write) {
      throw new UnsupportedOperationError(
        `[${storeName}] a ${binding.config.type} store is read-only through Sesame: write the secret in the store itself`,
      );
    }
    if (changes && !binding.type.capabilities.namespaced) ctx.requireNamespace(binding.config.namespace);
    const client: StoreClient = await binding.client();
    // `keys` reads the value on the server to name its keys; only `get` returns it.
    if (typeof client[operation === 'keys' ? 'get' : operation] !== 'function') {
      throw new UnsupportedOperationError(`[${storeName}] a ${binding.config.type} store does not support ${operation}`);
    }
    return { binding, client, chain: namespaceChain(namespace, sesame.config.namespaces) };
  }

  const target = (store: string, name: string, version?: string) =>
    formatReference({ store, name, ...(version !== undefined ? { version } : {}) });

  /** The next resolve must see the change: drop the name's cached values in every namespace. */
  async function dropCached(store: string, name: string, namespace: string): Promise<void> {
    const reference = target(store, name);
    // A change to a store in Sesame's database committed its change row (src/cluster/); other
    // stores' changes are told to the other servers on this database as a refresh of the reference.
    if (sesame.store(store, namespace).type.publishesChanges === true) await sesame.refresh({ reference }, { namespace });
    else await refreshEverywhere(services, { reference }, { namespace, scope: '' });
  }

  return [
    route({
      method: 'GET',
      path: '/secrets',
      summary: 'List secrets visible from a namespace: names and metadata, never values',
      tag: 'secrets',
      access: manage,
      query: z.strictObject({
        store: storeParam,
        namespace: namespaceParam.optional(),
        prefix: z.string().optional(),
        contains: z.string().min(1).max(512).optional().describe('names containing this text (case-sensitive; stores that support search, such as builtin)'),
        tag: z
          .preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(z.string().regex(/^[^=]+=.*$/, 'a tag filter is key=value')))
          .optional()
          .describe('key=value; repeat for several (every one must match)'),
        includeDeleted: queryFlag.describe('also list soft-deleted secrets that can be restored'),
        limit: limitParam,
        cursor: cursorParam,
      }),
      response: page(metadata),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return ctx.audited({ action: 'secret.list', namespace, target: `secret://${ctx.query.store}/${ctx.query.prefix ?? ''}*` }, async () => {
          const { client, chain, binding } = await open(ctx, ctx.query.store, namespace, 'list');
          if (ctx.query.contains !== undefined && !binding.type.capabilities.search) {
            throw new UnsupportedOperationError(
              `[${ctx.query.store}] a ${binding.config.type} store cannot search names by substring: use prefix`,
            );
          }
          const tags = ctx.query.tag ? Object.fromEntries(ctx.query.tag.map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)])) : undefined;
          const result = await client.list({
            namespaces: chain,
            prefix: ctx.query.prefix,
            contains: ctx.query.contains,
            tags,
            includeDeleted: ctx.query.includeDeleted,
            limit: ctx.query.limit ?? 100,
            cursor: ctx.query.cursor,
          });
          return { items: result.items, ...(result.cursor ? { cursor: result.cursor } : {}) };
        });
      },
    }),
    route({
      method: 'PUT',
      path: '/secrets/{name}',
      summary: 'Write a new version of a secret (the value is never returned)',
      tag: 'secrets',
      access: manage,
      params: nameParam,
      query: where,
      body: z.strictObject({
        value: z.string().describe('the secret value; write-only'),
        description: z.string().max(2048).optional(),
        tags: z.record(z.string(), z.string()).optional(),
        expectedVersion: z.string().optional().describe('check-and-set: fail unless the newest version is this one ("0": must not exist)'),
      }),
      response: z.object({ store: z.string(), name: z.string(), namespace: z.string().optional(), version: z.string() }),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        // Known from now on: masked if it ever reaches a log line or an error.
        sesame.redactor.add(ctx.body.value);
        return ctx.auditedWith({ action: 'secret.write', namespace, target: target(ctx.query.store, ctx.params.name) }, (ok) => withAuditEvent(ok, async () => {
          const { client } = await open(ctx, ctx.query.store, namespace, 'write');
          const written = await (client.write as NonNullable<StoreClient['write']>)(ctx.params.name, ctx.body.value, {
            namespace,
            description: ctx.body.description,
            tags: ctx.body.tags,
            expectedVersion: ctx.body.expectedVersion,
          });
          await dropCached(ctx.query.store, ctx.params.name, namespace);
          return { store: ctx.query.store, ...written };
        }));
      },
    }),
    route({
      method: 'GET',
      path: '/secrets/{name}',
      summary: 'A secret\'s metadata (no value)',
      tag: 'secrets',
      access: manage,
      params: nameParam,
      query: where,
      response: metadata,
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return ctx.audited({ action: 'secret.metadata', namespace, target: target(ctx.query.store, ctx.params.name) }, async () => {
          const { client, chain } = await open(ctx, ctx.query.store, namespace, 'describe');
          return (client.describe as NonNullable<StoreClient['describe']>)(ctx.params.name, { namespaces: chain });
        });
      },
    }),
    route({
      method: 'GET',
      path: '/secrets/{name}/versions',
      summary: 'A secret\'s versions (no values)',
      tag: 'secrets',
      access: manage,
      params: nameParam,
      query: where,
      response: z.object({
        items: z.array(
          z.object({
            version: z.string(),
            createdAt: z.string().optional(),
            stages: z.array(z.string()).optional(),
            enabled: z.boolean().optional(),
            destroyed: z.boolean().optional(),
          }),
        ),
      }),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return ctx.audited({ action: 'secret.versions', namespace, target: target(ctx.query.store, ctx.params.name) }, async () => {
          const { client, chain } = await open(ctx, ctx.query.store, namespace, 'versions');
          return { items: await (client.versions as NonNullable<StoreClient['versions']>)(ctx.params.name, { namespaces: chain }) };
        });
      },
    }),
    route({
      method: 'GET',
      path: '/secrets/{name}/value',
      summary: 'A secret\'s value, read from the store (not the cache)',
      tag: 'secrets',
      access: { roles: [], revealRoles: ['admin', 'operator'] },
      params: nameParam,
      query: z.strictObject({
        store: storeParam,
        namespace: namespaceParam.optional(),
        version: z.string().min(1).optional(),
        stage: z.string().min(1).optional(),
      }),
      response: z.object({ store: z.string(), name: z.string(), namespace: z.string().optional(), version: z.string().optional(), value: z.string() }),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return ctx.audited(
          { action: 'secret.reveal', namespace, target: target(ctx.query.store, ctx.params.name, ctx.query.version) },
          async () => {
            const { client, chain } = await open(ctx, ctx.query.store, namespace, 'get');
            const fetched = await client.get({ name: ctx.params.name, version: ctx.query.version, stage: ctx.query.stage, namespaces: chain });
            const value = secretText(fetched);
            sesame.redactor.add(value);
            return { store: ctx.query.store, name: ctx.params.name, namespace: fetched.namespace, version: fetched.version, value };
          },
        );
      },
    }),
    route({
      method: 'GET',
      path: '/secrets/{name}/keys',
      summary: 'The top-level keys of a JSON secret (names only, never values): for picking #key in a reference',
      tag: 'secrets',
      access: manage,
      params: nameParam,
      query: z.strictObject({ store: storeParam, namespace: namespaceParam.optional() }),
      response: z.object({
        json: z.boolean().describe('false: the secret is not a JSON object, so it has no keys'),
        keys: z.array(z.string()),
      }),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return ctx.audited({ action: 'secret.keys', namespace, target: target(ctx.query.store, ctx.params.name) }, async () => {
          const { client, chain } = await open(ctx, ctx.query.store, namespace, 'keys');
          const text = secretText(await client.get({ name: ctx.params.name, namespaces: chain }));
          sesame.redactor.add(text);
          let doc: unknown;
          try {
            doc = JSON.parse(text);
          } catch {
            return { json: false, keys: [] };
          }
          if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { json: false, keys: [] };
          return { json: true, keys: Object.keys(doc).sort() };
        });
      },
    }),
    route({
      method: 'DELETE',
      path: '/secrets/{name}',
      summary: 'Delete a secret (soft for the store\'s recovery window unless force)',
      tag: 'secrets',
      access: manage,
      params: nameParam,
      query: z.strictObject({
        store: storeParam,
        namespace: namespaceParam.optional(),
        force: queryFlag.describe('delete for good at once'),
      }),
      response: z.object({ store: z.string(), name: z.string(), namespace: z.string(), deleted: z.literal(true), purged: z.boolean() }),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return ctx.auditedWith({ action: 'secret.delete', namespace, target: target(ctx.query.store, ctx.params.name) }, (ok) => withAuditEvent(ok, async () => {
          const { client } = await open(ctx, ctx.query.store, namespace, 'delete');
          await (client.delete as NonNullable<StoreClient['delete']>)(ctx.params.name, { namespace, force: ctx.query.force });
          await dropCached(ctx.query.store, ctx.params.name, namespace);
          return { store: ctx.query.store, name: ctx.params.name, namespace, deleted: true as const, purged: ctx.query.force ?? false };
        }));
      },
    }),
    route({
      method: 'POST',
      path: '/secrets/{name}/restore',
      summary: 'Restore a soft-deleted secret',
      tag: 'secrets',
      access: manage,
      params: nameParam,
      query: where,
      response: z.object({ store: z.string(), name: z.string(), namespace: z.string(), restored: z.literal(true) }),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return ctx.auditedWith({ action: 'secret.restore', namespace, target: target(ctx.query.store, ctx.params.name) }, (ok) => withAuditEvent(ok, async () => {
          const { client } = await open(ctx, ctx.query.store, namespace, 'restore');
          await (client.restore as NonNullable<StoreClient['restore']>)(ctx.params.name, { namespace });
          await dropCached(ctx.query.store, ctx.params.name, namespace);
          return { store: ctx.query.store, name: ctx.params.name, namespace, restored: true as const };
        }));
      },
    }),
  ];
}

/**
 * Namespaces, stores and connections. The config file's entries are listed read-only; the API's
 * are created, replaced and deleted here and persisted (see `stored-config.ts`). Credentials
 * and literal field values never come back: settings show `***`, fields show references only.
 */
import { z } from 'zod';
import { withAuditEvent } from '../../audit/ambient.js';
import { CONNECTION_NAME, STORE_NAME } from '../../config/schema.js';
import { collectReferences } from '../../refs/template.js';
import { covers, isRootAdmin } from '../../resolve/access.js';
import {
  type AnyRoute,
  cursorParam,
  limitParam,
  namespaceParam,
  page,
  pageOf,
  queryFlag,
  type RouteContext,
  route,
} from '../route.js';
import { refreshEverywhere } from '../cluster.js';
import type { ServerServices } from '../services.js';
import { ForbiddenError } from '../errors.js';
import type { ConnectionView, MovedSecrets, NamespaceView, StoreView } from '../stored-config.js';

const source = z.enum(['config', 'api', 'implicit']).describe('config: the config file (read-only); api: created through the API; implicit: built in or only used');
const stamp = {
  revision: z.number().int().optional(),
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
};

const namespaceView = z.object({
  name: z.string(),
  isolated: z.boolean(),
  description: z.string().optional(),
  source,
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
});

const cacheInput = z
  .strictObject({
    ttl: z.string().optional().describe('e.g. 5m'),
    maxEntries: z.number().int().positive().optional(),
    maxBytes: z.number().int().positive().optional().describe('bytes of values held at most, e.g. 16777216 (16 MiB)'),
    staleIfError: z.string().optional().describe('e.g. 1h'),
    refreshAhead: z.string().optional().describe('e.g. 30s'),
  })
  .describe('cache settings; durations like 500ms, 30s, 5m, 1h, 7d');

const storeView = z.object({
  name: z.string(),
  namespace: z.string(),
  type: z.string(),
  description: z.string().optional(),
  source,
  settings: z.record(z.string(), z.unknown()).describe('the store type\'s settings; credentials shown as "***"'),
  lastTest: z.object({ ok: z.boolean(), at: z.string() }).optional().describe('the last POST /stores/{name}/test of this server'),
  cache: z.object({ ttl: z.string(), maxEntries: z.number(), maxBytes: z.number(), staleIfError: z.string(), refreshAhead: z.string() }),
  ...stamp,
});

const storeBody = {
  type: z.string().min(1).describe('aws-secrets-manager, azure-key-vault, gcp-secret-manager, vault, http, builtin, …'),
  description: z.string().max(2048).optional(),
  cache: cacheInput.optional(),
  settings: z
    .record(z.string(), z.unknown())
    .default({})
    .describe('the store type\'s settings as in sesame.yaml (region, auth, …); on update "***" keeps a stored credential'),
};

/** Fields of a store body it does not know are most often its settings, written as sesame.yaml writes them. */
const storeBodyOptions = {
  error: (issue: { code?: string }) =>
    issue.code === 'unrecognized_keys'
      ? 'a store\'s own settings go under "settings", e.g. {"name": "vault", "type": "vault", "settings": {"address": "https://vault.example.com", "auth": {…}}}'
      : undefined,
};

const storeName = z.string().regex(STORE_NAME, 'a store name is lowercase letters, digits, "_" and "-" (at most 63)');
const connectionName = z.string().regex(CONNECTION_NAME, 'a connection name is letters, digits, "_", "." and "-"');

const connectionView = z.object({
  name: z.string(),
  namespace: z.string(),
  type: z.string(),
  description: z.string().optional(),
  source,
  references: z.array(z.string()),
  fields: z.record(z.string(), z.unknown()).describe('references as written; literals of secret fields (by the type, or named like a credential) shown as "***", other literals as written'),
  ...stamp,
});

const connectionBody = {
  type: z.string().min(1).default('generic').describe('generic, http, postgres, …'),
  description: z.string().max(2048).optional(),
  fields: z
    .record(z.string(), z.unknown())
    .describe('literals or {{ secret://… }} references; on update "***" keeps a stored literal'),
};

const listQuery = z.strictObject({
  namespace: namespaceParam.optional(),
  visible: queryFlag.describe('true: what is usable from the namespace (its own and inherited), not its subtree'),
  type: z.string().optional(),
  prefix: z.string().optional().describe('name prefix'),
  limit: limitParam,
  cursor: cursorParam,
});

const exactQuery = z.strictObject({ namespace: namespaceParam.optional() });

type Ctx = RouteContext<unknown, unknown, unknown>;

/**
 * Ask the access policy whether the caller may give a store these settings: what the type says
 * they make the host do (files, environment, ambient identity: root admin only; addresses: the
 * outbound policy), and the stores its `{{ secret://… }}` credentials come from, whose values
 * the store will send to its address.
 */
async function checkStoreSettings(
  ctx: Ctx,
  sesame: ServerServices['sesame'],
  store: { name: string; namespace: string; type: string; settings: unknown },
): Promise<void> {
  if (!sesame.registry.has(store.type)) return; // the stored-config check names the unknown type
  const type = sesame.registry.get(store.type);
  const parsed = type.settings.safeParse(store.settings);
  if (!parsed.success) return; // ditto: invalid settings are refused with their issues
  const sources = collectReferences(store.settings).flatMap((slot) => {
    const binding = sesame.bindings.find(slot.ref.store, store.namespace);
    return binding ? [binding] : [];
  });
  await sesame.access.checkStoreSettings(ctx.principal, store.name, type, parsed.data, { namespace: store.namespace, sources });
}

/**
 * A stored credential or connection literal kept with `***` was given by whoever set it, and no
 * reply ever shows it (not even to a token with `reveal`): sending it to a destination the caller
 * chose would hand it over. Only a root admin, who chooses every destination anyway, may move
 * one; anyone else gives it again with the new address.
 */
function refuseMovedSecrets(ctx: Ctx, what: string, moved: MovedSecrets | undefined): void {
  if (moved === undefined || isRootAdmin(ctx.principal)) return;
  const one = moved.kept.length === 1;
  throw new ForbiddenError(
    'forbidden_destination',
    `${what}: ${moved.kept.join(', ')} (kept with "***") would be sent to ${moved.to.join(', ')}, where ${one ? 'it was' : 'they were'} not sent before: ` +
      `give ${one ? 'it' : 'them'} again with the new destination (only an admin token for the root namespace may move a stored credential)`,
  );
}

/**
 * Run a change of the stored config with its audit record committed in the same transaction
 * (`StoredConfig` claims the waiting record): the change and its record, or neither.
 */
function auditedChange<T>(ctx: Ctx, event: { action: string; namespace: string; target: string }, work: () => Promise<T>): Promise<T> {
  return ctx.auditedWith(event, (ok) => withAuditEvent(ok, work));
}

/** Entries of a list query: the namespace's subtree, or (visible) what it can use. */
function select<T extends { name: string; namespace: string; type?: string }>(
  ctx: Ctx,
  items: readonly T[],
  query: z.output<typeof listQuery>,
  visibleFrom: (namespace: string) => Set<string>,
): { items: T[]; cursor?: string } {
  const ns = ctx.namespace(query.namespace);
  const visible = query.visible ? visibleFrom(ns) : undefined;
  const filtered = items.filter(
    (i) =>
      (visible ? visible.has(`${i.namespace}\u0000${i.name}`) : covers(ns, i.namespace)) &&
      (query.type === undefined || i.type === query.type) &&
      (query.prefix === undefined || i.name.startsWith(query.prefix)),
  );
  return pageOf(filtered, (i) => `${i.namespace}\u0000${i.name}`, query.limit, query.cursor);
}

export function configRoutes(services: ServerServices): AnyRoute[] {
  const { stored, sesame } = services;
  const admin = { roles: ['admin'] as const };
  const manage = { roles: ['admin', 'operator'] as const };

  const namespaceRoutes: AnyRoute[] = [
    route({
      method: 'GET',
      path: '/namespaces',
      summary: 'List namespaces within the token\'s scope',
      tag: 'namespaces',
      access: manage,
      query: z.strictObject({ prefix: z.string().optional(), limit: limitParam, cursor: cursorParam }),
      response: page(namespaceView),
      handler: async (ctx) => {
        const scope = ctx.principal.namespace;
        const items = stored
          .namespaces()
          .filter((n) => covers(scope, n.name) && (ctx.query.prefix === undefined || n.name.startsWith(ctx.query.prefix)));
        return pageOf<NamespaceView>(items, (n) => n.name, ctx.query.limit, ctx.query.cursor);
      },
    }),
    route({
      method: 'GET',
      path: '/namespaces/{name}',
      summary: 'One namespace',
      tag: 'namespaces',
      access: manage,
      params: z.object({ name: namespaceParam }),
      response: namespaceView,
      handler: async (ctx) => {
        ctx.requireNamespace(ctx.params.name);
        return stored.namespace(ctx.params.name);
      },
    }),
    route({
      method: 'POST',
      path: '/namespaces',
      summary: 'Create a namespace (e.g. to isolate it from its parents)',
      tag: 'namespaces',
      access: admin,
      status: 201,
      body: z.strictObject({
        name: namespaceParam.refine((s) => s !== '', 'the root namespace exists already'),
        isolated: z.boolean().default(false).describe('true: does not inherit stores, secrets or connections from its parents'),
        description: z.string().max(2048).optional(),
      }),
      response: namespaceView,
      handler: async (ctx) => {
        ctx.requireNamespace(ctx.body.name);
        return auditedChange(ctx, { action: 'namespace.create', namespace: ctx.body.name, target: ctx.body.name }, () =>
          stored.putNamespace(ctx.body.name, ctx.body, 'create'),
        );
      },
    }),
    route({
      method: 'PATCH',
      path: '/namespaces/{name}',
      summary: 'Change a namespace\'s isolation or description',
      tag: 'namespaces',
      access: admin,
      params: z.object({ name: namespaceParam }),
      body: z.strictObject({ isolated: z.boolean().optional(), description: z.string().max(2048).optional() }),
      response: namespaceView,
      handler: async (ctx) => {
        ctx.requireNamespace(ctx.params.name);
        return auditedChange(ctx, { action: 'namespace.update', namespace: ctx.params.name, target: ctx.params.name }, () =>
          stored.putNamespace(ctx.params.name, ctx.body, 'update'),
        );
      },
    }),
  ];

  const withLastTest = (s: StoreView) => {
    const last = services.storeTests.get(`${s.namespace}/${s.name}`);
    return last ? { ...s, lastTest: last } : s;
  };
  const visibleStores = (ns: string) => new Set(sesame.stores(ns).map((s) => `${s.namespace}\u0000${s.name}`));
  const storeRoutes: AnyRoute[] = [
    route({
      method: 'GET',
      path: '/stores',
      summary: 'List stores (config file and API), credentials masked',
      tag: 'stores',
      access: manage,
      query: listQuery,
      response: page(storeView),
      handler: async (ctx) => {
        const found = select<StoreView>(ctx, stored.stores(), ctx.query, visibleStores);
        return { ...found, items: found.items.map((s) => withLastTest(s)) };
      },
    }),
    route({
      method: 'GET',
      path: '/stores/{name}',
      summary: 'One store, credentials masked',
      tag: 'stores',
      access: manage,
      params: z.object({ name: storeName }),
      query: exactQuery,
      response: storeView,
      handler: async (ctx) => withLastTest(stored.store(ctx.namespace(ctx.query.namespace), ctx.params.name)),
    }),
    route({
      method: 'POST',
      path: '/stores',
      summary: 'Create a store; its settings are stored sealed',
      description:
        "A store that would act with this server's own identity or reach its host (env, file, http, cloud stores " +
        'with ambient credentials, types the server does not know) needs an admin token for the root namespace.',
      tag: 'stores',
      access: manage,
      status: 201,
      body: z.strictObject({ name: storeName, namespace: namespaceParam.optional(), ...storeBody }, storeBodyOptions),
      response: storeView,
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.body.namespace);
        return auditedChange(ctx, { action: 'store.create', namespace, target: ctx.body.name }, async () => {
          await checkStoreSettings(ctx, sesame, { ...ctx.body, namespace });
          return stored.createStore({ ...ctx.body, namespace, trusted: isRootAdmin(ctx.principal) });
        });
      },
    }),
    route({
      method: 'PUT',
      path: '/stores/{name}',
      summary: 'Replace a store created through the API ("***" keeps a stored credential)',
      tag: 'stores',
      access: manage,
      params: z.object({ name: storeName }),
      query: exactQuery,
      body: z.strictObject(storeBody, storeBodyOptions),
      response: storeView,
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return auditedChange(ctx, { action: 'store.update', namespace, target: ctx.params.name }, async () => {
          // The store as it is now, and as it would be: the caller must be allowed to configure both.
          const current = sesame.bindings.find(ctx.params.name, namespace);
          if (current && current.config.namespace === namespace) {
            sesame.access.checkStoreChange(ctx.principal, current.config.name, current.type, current.config.settings);
          }
          await checkStoreSettings(ctx, sesame, { ...ctx.body, name: ctx.params.name, namespace });
          refuseMovedSecrets(ctx, `store ${ctx.params.name}`, stored.credentialsMovedBy({ ...ctx.body, name: ctx.params.name, namespace }));
          return stored.updateStore({ ...ctx.body, name: ctx.params.name, namespace, trusted: isRootAdmin(ctx.principal) });
        });
      },
    }),
    route({
      method: 'DELETE',
      path: '/stores/{name}',
      summary: 'Delete a store created through the API',
      tag: 'stores',
      access: manage,
      params: z.object({ name: storeName }),
      query: exactQuery,
      response: storeView,
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return auditedChange(ctx, { action: 'store.delete', namespace, target: ctx.params.name }, async () => {
          const current = sesame.bindings.find(ctx.params.name, namespace);
          if (current && current.config.namespace === namespace) {
            sesame.access.checkStoreChange(ctx.principal, current.config.name, current.type, current.config.settings);
          }
          return stored.deleteStore(namespace, ctx.params.name);
        });
      },
    }),
    route({
      method: 'POST',
      path: '/stores/{name}/test',
      summary: 'Check a store: authentication, list and read permission, and what to fix',
      description: 'The store is looked up from the namespace (its own stores, then its parents\').',
      tag: 'stores',
      access: manage,
      params: z.object({ name: storeName }),
      query: z.strictObject({
        namespace: namespaceParam.optional(),
        sample: z.string().min(1).optional().describe('a secret name to test read permission with'),
      }),
      body: z
        .strictObject(storeBody, storeBodyOptions)
        .optional()
        .describe('test these settings instead of the saved ones, saving nothing ("***" keeps a stored credential); the store need not exist yet'),
      response: z.object({
        store: z.string(),
        ok: z.boolean(),
        steps: z.array(z.object({ step: z.string(), ok: z.boolean(), detail: z.string(), fix: z.string().optional() })),
      }),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return ctx.audited({ action: 'store.test', namespace, target: ctx.params.name }, async () => {
          const candidate = ctx.body;
          if (candidate !== undefined) {
            // Settings about to be saved: the same checks as saving them, then a client made for the test only.
            const store = { ...candidate, name: ctx.params.name, namespace };
            await checkStoreSettings(ctx, sesame, store);
            refuseMovedSecrets(ctx, `store ${ctx.params.name}`, stored.credentialsMovedBy(store));
            const config = stored.candidateStore({ ...store, trusted: isRootAdmin(ctx.principal) });
            const report = await sesame.testStoreConfig(config, { namespace, sample: ctx.query.sample });
            return { store: ctx.params.name, ...report };
          }
          sesame.access.checkRead(ctx.principal, namespace, sesame.store(ctx.params.name, namespace), 'manage');
          const binding = sesame.store(ctx.params.name, namespace);
          const report = await sesame.testStore(ctx.params.name, { namespace, sample: ctx.query.sample });
          services.storeTests.set(`${binding.config.namespace}/${binding.config.name}`, { ok: report.ok, at: new Date(services.now()).toISOString() });
          return { store: ctx.params.name, ...report };
        });
      },
    }),
  ];

  const visibleConnections = (ns: string) => new Set(sesame.connections(ns).map((c) => `${c.namespace}\u0000${c.name}`));
  const connectionRoutes: AnyRoute[] = [
    route({
      method: 'GET',
      path: '/connections',
      summary: 'List connections (config file and API), literal values masked',
      tag: 'connections',
      access: manage,
      query: listQuery,
      response: page(connectionView),
      handler: async (ctx) => select<ConnectionView>(ctx, stored.connections(), ctx.query, visibleConnections),
    }),
    route({
      method: 'GET',
      path: '/connections/{name}',
      summary: 'One connection, literal values masked',
      tag: 'connections',
      access: manage,
      params: z.object({ name: connectionName }),
      query: exactQuery,
      response: connectionView,
      handler: async (ctx) => stored.connection(ctx.namespace(ctx.query.namespace), ctx.params.name),
    }),
    route({
      method: 'POST',
      path: '/connections',
      summary: 'Create a connection; its fields are stored sealed',
      tag: 'connections',
      access: manage,
      status: 201,
      body: z.strictObject({ name: connectionName, namespace: namespaceParam.optional(), ...connectionBody }),
      response: connectionView,
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.body.namespace);
        return auditedChange(ctx, { action: 'connection.create', namespace, target: ctx.body.name }, () =>
          stored.createConnection({ ...ctx.body, namespace }),
        );
      },
    }),
    route({
      method: 'PUT',
      path: '/connections/{name}',
      summary: 'Replace a connection created through the API ("***" keeps a stored literal)',
      tag: 'connections',
      access: manage,
      params: z.object({ name: connectionName }),
      query: exactQuery,
      body: z.strictObject(connectionBody),
      response: connectionView,
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return auditedChange(ctx, { action: 'connection.update', namespace, target: ctx.params.name }, async () => {
          const input = { ...ctx.body, name: ctx.params.name, namespace };
          refuseMovedSecrets(ctx, `connection ${ctx.params.name}`, stored.literalsMovedBy(input));
          return stored.updateConnection(input);
        });
      },
    }),
    route({
      method: 'DELETE',
      path: '/connections/{name}',
      summary: 'Delete a connection created through the API',
      tag: 'connections',
      access: manage,
      params: z.object({ name: connectionName }),
      query: exactQuery,
      response: connectionView,
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return auditedChange(ctx, { action: 'connection.delete', namespace, target: ctx.params.name }, () =>
          stored.deleteConnection(namespace, ctx.params.name),
        );
      },
    }),
    route({
      method: 'POST',
      path: '/connections/{name}/refresh',
      summary: 'Drop the cached values of a connection\'s references (e.g. after a rotation)',
      tag: 'connections',
      access: { roles: ['admin', 'operator', 'runtime'] },
      agent: true,
      params: z.object({ name: connectionName }),
      query: exactQuery,
      response: z.object({ dropped: z.number().int() }),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return ctx.audited({ action: 'refresh', namespace, target: `connection:${ctx.params.name}` }, () =>
          refreshEverywhere(services, { connection: ctx.params.name }, { namespace, scope: ctx.principal.namespace }),
        );
      },
    }),
    route({
      method: 'POST',
      path: '/connections/{name}/test',
      summary: 'Resolve a connection and authenticate to its target; the report holds no value',
      tag: 'connections',
      access: manage,
      params: z.object({ name: connectionName }),
      query: z.strictObject({ namespace: namespaceParam.optional(), refresh: queryFlag.describe('on refused credentials, refresh and retry once') }),
      response: z.object({
        connection: z.string(),
        namespace: z.string(),
        type: z.string(),
        ok: z.boolean(),
        failedStep: z.enum(['resolve', 'authenticate']).optional(),
        retried: z.boolean(),
        steps: z.array(
          z.object({
            step: z.enum(['resolve', 'authenticate', 'refresh']),
            ok: z.boolean(),
            detail: z.string(),
            fix: z.string().optional().describe('what to do about a failed step, when known'),
            reference: z.string().optional(),
            field: z.string().optional(),
          }),
        ),
      }),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return ctx.audited({ action: 'connection.test', namespace, target: ctx.params.name }, async () =>
          sesame.redactor.redactValue(
            await sesame.testConnection(ctx.params.name, {
              namespace,
              refreshOnAuthFailure: ctx.query.refresh ?? false,
              principal: ctx.principal,
            }),
          ),
        );
      },
    }),
  ];

  return [...namespaceRoutes, ...storeRoutes, ...connectionRoutes];
}

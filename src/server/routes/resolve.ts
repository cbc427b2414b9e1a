/** Resolve (the one way runtime tokens receive values), refresh, and cache statistics. */
import { z } from 'zod';
import { UsageError } from '../../errors.js';
import { parseReference } from '../../refs/reference.js';
import { checkDocumentLimits } from '../../refs/limits.js';
import { type DialectSet, dialectsOf } from '../../refs/dialects/index.js';
import { collectReferences } from '../../refs/template.js';
import type { RefreshTarget } from '../../sesame.js';
import { covers } from '../../resolve/access.js';
import { type Access, checkAccess } from '../auth.js';
import { ForbiddenError, ValidationError } from '../errors.js';
import { type AnyRoute, namespaceParam, route } from '../route.js';
import { refreshEverywhere } from '../cluster.js';
import type { ServerServices } from '../services.js';

const resolveBody = z
  .strictObject({
    reference: z.string().optional().describe('one reference, e.g. secret://aws/prod-jira#token'),
    template: z.string().optional().describe('a string with {{ secret://… }} placeholders'),
    document: z.unknown().optional().describe('any JSON value; every reference in it is resolved'),
    connection: z.string().optional().describe('a connection name: its fields are resolved'),
    namespace: namespaceParam.optional(),
  })
  .superRefine((body, ctx) => {
    const given = (['reference', 'template', 'document', 'connection'] as const).filter(
      (k) => body[k] !== undefined,
    );
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one of reference, template, document or connection${given.length > 1 ? ` (got ${given.join(', ')})` : ''}`,
        path: [],
      });
    }
  });

/**
 * `{ "reference": "…" }` alone, the body of nearly every resolve, checked without zod (which
 * costs a few microseconds a request on a busy server, mostly its code falling out of the CPU's
 * caches between requests); any other body goes through `resolveBody`.
 */
export function loneReference(body: unknown): z.output<typeof resolveBody> | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  let keys = 0;
  for (const key in body) {
    if (key !== 'reference' || !Object.hasOwn(body, key)) return undefined;
    keys += 1;
  }
  const reference = (body as { reference?: unknown }).reference;
  return keys === 1 && typeof reference === 'string' ? { reference } : undefined;
}

const resolvedReference = z.object({
  reference: z.string(),
  field: z.string(),
  store: z.string(),
  outcome: z.enum(['hit', 'miss', 'stale', 'coalesced']),
  version: z.string().optional(),
  namespace: z.string().optional(),
});

const refreshBody = z
  .strictObject({
    reference: z.string().optional(),
    connection: z.string().optional(),
    store: z.string().optional(),
    all: z.literal(true).optional(),
    namespace: namespaceParam
      .optional()
      .describe('alone: refresh this namespace; with another target: the namespace it is looked up from'),
  })
  .superRefine((body, ctx) => {
    const given = (['reference', 'connection', 'store', 'all'] as const).filter((k) => body[k] !== undefined);
    if (given.length > 1 || (given.length === 0 && body.namespace === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'say what to refresh: one of reference, connection, store, namespace or all',
        path: [],
      });
    } else if (body.all && body.namespace !== undefined) {
      // Taken as "all" it would drop every namespace's values for a caller who named one.
      ctx.addIssue({
        code: 'custom',
        message: 'all refreshes every namespace: leave namespace out, or give namespace alone to refresh one',
        path: ['namespace'],
      });
    }
  });

/**
 * Who may receive values through POST /resolve: runtime tokens, and admin or operator tokens with
 * reveal. Checked in the handler after the request's shape, not by the route's guard, so a
 * malformed request is a 400 for everyone the route admits (parsing reveals nothing about values).
 */
const RESOLVE_ACCESS = { roles: ['runtime'], revealRoles: ['admin', 'operator'] } as const satisfies Access;
const RESOLVE_ROUTE = 'POST /api/v1/resolve';

/** Up to a few references for the audit record (never a value: references only). */
function describeReferences(value: unknown, dialects: DialectSet | undefined): string {
  const refs = [...new Set(collectReferences(value, '', undefined, dialects).map((s) => s.raw))];
  return refs.length === 0 ? '(no references)' : refs.join(' ');
}

export function resolveRoutes(services: ServerServices): AnyRoute[] {
  const { sesame } = services;

  return [
    route({
      method: 'POST',
      path: '/resolve',
      summary: 'Resolve a reference, a template, a JSON document or a connection',
      description:
        'Values come from the cache when fresh, else from the store; `stale: true` means a value was served past its TTL because its store is unavailable. ' +
        'Admin and operator tokens need the reveal permission (403 reveal_required); a malformed request is answered 400 first, since checking its shape reveals no value.',
      tag: 'resolve',
      // Admin and operator tokens pass the route's guard; the reveal they need is checked in the
      // handler, after the request's shape (RESOLVE_ACCESS), so bad input is reported first.
      access: { roles: ['runtime', 'admin', 'operator'] },
      agent: true,
      quiet: true,
      body: resolveBody,
      fastBody: loneReference,
      response: z.object({
        value: z
          .unknown()
          .describe("the reference's value, the filled template, the document or the connection's fields"),
        stale: z.boolean(),
        references: z.array(resolvedReference),
        connection: z.object({ name: z.string(), namespace: z.string(), type: z.string() }).optional(),
      }),
      handler: async (ctx) => {
        const body = ctx.body;
        // First the request's shape: bad input whoever asks, since parsing reveals nothing about a
        // value. Then the permissions, in the order of every route: reveal, then the namespace.
        let input: unknown;
        let target: string;
        if (body.connection !== undefined) {
          target = `connection:${body.connection}`;
        } else {
          if (body.reference !== undefined) {
            try {
              parseReference(body.reference.trim(), 'reference');
            } catch (err) {
              if (err instanceof UsageError)
                throw new ValidationError([{ path: 'body.reference', message: err.message }]);
              throw err;
            }
            input = body.reference.trim();
          } else if (body.template !== undefined) {
            if (
              collectReferences(body.template, 'template', undefined, dialectsOf(sesame.config)).length === 0
            ) {
              throw new ValidationError([
                {
                  path: 'body.template',
                  message: 'nothing to resolve: put {{ secret://… }} in the template',
                },
              ]);
            }
            input = body.template;
          } else {
            // The body is within server.bodyLimit; its shape is bounded here (depth, values, references).
            checkDocumentLimits(body.document, undefined, 'document');
            input = body.document;
          }
          // A lone reference describes itself (what describeReferences would find, without the walk).
          target =
            typeof input === 'string' && body.reference !== undefined && !input.includes('{{')
              ? input
              : describeReferences(input, dialectsOf(sesame.config));
        }
        checkAccess(ctx.principal, RESOLVE_ACCESS, RESOLVE_ROUTE);
        const namespace = ctx.namespace(body.namespace);
        if (body.connection !== undefined) {
          const name = body.connection;
          return ctx.audited({ action: 'resolve', namespace, target }, async () => {
            const conn = sesame.connection(name, namespace);
            const report = await sesame.resolveDetailed(conn.fields, {
              namespace,
              field: 'fields',
              principal: ctx.principal,
            });
            return { ...report, connection: { name: conn.name, namespace: conn.namespace, type: conn.type } };
          });
        }
        return ctx.audited({ action: 'resolve', namespace, target }, () =>
          sesame.resolveDetailed(input, { namespace, principal: ctx.principal }),
        );
      },
    }),
    route({
      method: 'POST',
      path: '/refresh',
      summary: 'Drop cached values so the next resolve fetches again',
      description:
        "One reference, a connection's references, a store, a namespace (alone) or all. Refreshing all needs a token for the root namespace.",
      tag: 'resolve',
      access: { roles: ['admin', 'operator', 'runtime'] },
      agent: true,
      body: refreshBody,
      response: z.object({ dropped: z.number().int() }),
      handler: async (ctx) => {
        const body = ctx.body;
        let target: RefreshTarget;
        let namespace: string;
        if (body.all) {
          if (ctx.principal.namespace !== '') {
            const own = ctx.principal.namespace;
            throw new ForbiddenError(
              'forbidden_namespace',
              `refreshing all needs a token for the root namespace; this token is limited to namespace ${own}: ` +
                `refresh that namespace instead (${JSON.stringify({ namespace: own }).replace(':', ': ')}), or a reference, connection or store`,
              '',
            );
          }
          target = { all: true };
          namespace = '';
        } else if (
          body.reference !== undefined ||
          body.connection !== undefined ||
          body.store !== undefined
        ) {
          namespace = ctx.namespace(body.namespace);
          target =
            body.reference !== undefined
              ? { reference: body.reference }
              : body.connection !== undefined
                ? { connection: body.connection }
                : { store: body.store as string };
        } else {
          namespace = ctx.namespace(body.namespace);
          target = { namespace };
        }
        const described = Object.entries(target)
          .map(([k, v]) => (k === 'all' ? 'all' : `${k}:${String(v)}`))
          .join('');
        return ctx.audited({ action: 'refresh', namespace, target: described }, () =>
          refreshEverywhere(services, target, { namespace, scope: ctx.principal.namespace }),
        );
      },
    }),
    route({
      method: 'GET',
      path: '/cache',
      summary: 'Cache statistics per store (no keys, no values)',
      tag: 'resolve',
      access: { roles: ['admin', 'operator'] },
      query: z.strictObject({ namespace: namespaceParam.optional() }),
      response: z.object({
        stores: z.array(
          z.object({
            store: z.string(),
            namespace: z.string(),
            entries: z.number(),
            maxEntries: z.number(),
            bytes: z.number().describe('bytes of the values held'),
            maxBytes: z.number(),
            hits: z.number(),
            misses: z.number(),
            staleServes: z.number(),
            coalesced: z.number(),
            storeCalls: z.number(),
            storeErrors: z.number(),
            refreshes: z.number(),
          }),
        ),
      }),
      handler: async (ctx) => {
        const namespace = ctx.namespace(ctx.query.namespace);
        return { stores: sesame.cacheStats().filter((s) => covers(namespace, s.namespace)) };
      },
    }),
  ];
}

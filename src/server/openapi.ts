/**
 * The OpenAPI 3.1 document, generated from the routes' zod schemas (`z.toJSONSchema`, JSON
 * Schema 2020-12, which OpenAPI 3.1 uses as is). Request schemas are described as clients send
 * them (`io: 'input'`), responses as the server returns them.
 */
import { z } from 'zod';
import { type AnyRoute, errorSchema, fullPath } from './route.js';

type JsonSchema = Record<string, unknown>;

/** A zod schema as JSON Schema 2020-12 (also used to describe store and connection types to the UI). */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete out['$schema'];
  return out;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input');
  const properties = (object['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((object['required'] ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

const ERRORS: Record<number, string> = {
  400: 'invalid request: `error.issues` names each field',
  401: 'no token, or the token is unknown, expired or revoked',
  403: 'the token lacks the role, namespace or reveal permission this needs; the message says which',
  404: 'not found',
  409: 'conflicts with what exists',
  413: 'request body above server.bodyLimit',
  415: 'the body is not JSON: send Content-Type: application/json',
  429: 'rate limited: see Retry-After',
  500: 'internal error: the message holds nothing of it, `error.requestId` finds it in the server log',
  503: 'the database or the audit trail does not answer: retry shortly (GET /readyz says when it is back)',
};

/**
 * The error statuses a route can answer: every route can fail inside (500); a public route is
 * neither authenticated nor, when `unlimited`, rate limited; only a route with input can find it
 * invalid, only one with a body can find it too large or not JSON; the database and the audit
 * trail are behind every authenticated route.
 */
function errorStatuses(r: AnyRoute): number[] {
  const open = r.access === 'public';
  const input = r.params !== undefined || r.query !== undefined || r.body !== undefined;
  return Object.keys(ERRORS)
    .map(Number)
    .filter((code) => {
      if (code === 400) return input;
      if (code === 413 || code === 415) return r.body !== undefined;
      if (code === 429) return !r.unlimited;
      if (code === 500) return true;
      return !open;
    });
}

export function openApiDocument(routes: readonly AnyRoute[], info: { version: string; agent?: boolean }): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of routes) {
    const path = fullPath(r);
    const status = r.status ?? 200;
    const errorRef = { $ref: '#/components/schemas/Error' };
    const described: Array<[number, string]> = [
      ...errorStatuses(r).map((code): [number, string] => [code, ERRORS[code] as string]),
      ...Object.entries(r.errors ?? {}).map(([code, description]): [number, string] => [Number(code), description]),
    ];
    const errors = Object.fromEntries(
      described
        .sort(([a], [b]) => a - b)
        .map(([code, description]) => [String(code), { description, content: { 'application/json': { schema: errorRef } } }]),
    );
    const alsoAnswers = Object.fromEntries(
      Object.entries(r.alsoAnswers ?? {}).map(([code, description]) => [
        code,
        { description, content: { [r.produces ?? 'application/json']: { schema: jsonSchema(r.response, 'output') } } },
      ]),
    );
    const security =
      r.access === 'public' ? [] : info.agent ? [{ agentToken: [] }] : [{ bearer: [] }];
    const roles =
      r.access === 'public'
        ? 'No token needed.'
        : `Roles: ${r.access.roles.join(', ') || '(none)'}${r.access.revealRoles?.length ? `; with reveal: ${r.access.revealRoles.join(', ')}` : ''}.`;
    const operation: JsonSchema = {
      operationId: `${r.method.toLowerCase()}${path.replace(/\{([^}]+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: r.summary,
      description: [r.description, roles].filter(Boolean).join('\n\n'),
      tags: [r.tag],
      security,
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body
        ? { requestBody: { required: !r.body.safeParse(undefined).success, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } }
        : {}),
      responses: {
        [String(status)]: {
          description: r.summary,
          content: { [r.produces ?? 'application/json']: { schema: jsonSchema(r.response, 'output') } },
        },
        ...alsoAnswers,
        ...errors,
      },
    };
    paths[path] ??= {};
    (paths[path] as Record<string, JsonSchema>)[r.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.agent ? 'Sesame agent' : 'Sesame API',
      version: info.version,
      description:
        'Sesame resolves secret references against the secret managers a team already runs. ' +
        'Values are returned only by resolve (and by GET /secrets/{name}/value to tokens holding reveal).',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Error: jsonSchema(errorSchema, 'output') },
      securitySchemes: info.agent
        ? { agentToken: { type: 'apiKey', in: 'header', name: 'X-Sesame-Agent-Token' } }
        : { bearer: { type: 'http', scheme: 'bearer', description: 'a token from sesame tokens create or POST /api/v1/tokens' } },
    },
  };
}

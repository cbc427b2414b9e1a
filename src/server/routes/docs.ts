/**
 * The API reference at `/api/v1/docs`: Swagger UI (@fastify/swagger-ui) over the same OpenAPI
 * document `/api/v1/openapi.json` serves, generated from the routes' zod schemas. The document
 * reaches the UI through @fastify/swagger in static mode (the UI reads it from
 * `/api/v1/docs/json`); nothing is generated twice and nothing is fetched from outside: the UI's
 * scripts and styles are served from the package, under the admin UI's Content-Security-Policy
 * (no inline script, no other origin).
 *
 * Like `openapi.json`, the reference is public: it describes routes, never data. Not served in
 * agent mode (the agent answers resolve and refresh only).
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export const API_DOCS_PATH = '/api/v1/docs';

export interface ApiDocsOptions {
  /** The OpenAPI document (the one `/api/v1/openapi.json` serves). */
  document: () => Record<string, unknown>;
  /** Security headers of the admin UI, CSP included, set on every answer under the docs path. */
  headers: Readonly<Record<string, string>>;
}

/**
 * Register in its own encapsulated scope, so the swagger decorators and hooks stay there.
 *
 * @example
 * app.register(apiDocs, { document: () => openApiDocument(routes, …), headers: UI_HEADERS });
 */
export async function apiDocs(scope: FastifyInstance, options: ApiDocsOptions): Promise<void> {
  await scope.register(fastifySwagger, { mode: 'static', specification: { document: options.document() as never } });
  await scope.register(fastifySwaggerUi, {
    routePrefix: API_DOCS_PATH,
    // The CSP and the other headers of the admin UI, for every page, script and style of the reference.
    staticCSP: options.headers['content-security-policy'] ?? "default-src 'self'",
    uiConfig: { deepLinking: true, tryItOutEnabled: false },
    uiHooks: {
      onRequest: (_request, reply, done) => {
        for (const [k, v] of Object.entries(options.headers)) if (k !== 'content-security-policy') reply.header(k, v);
        done();
      },
    },
    theme: { title: 'Sesame API reference' },
  });
}

/**
 * The admin UI as a plugin (api mode): the built assets of `dist/web` with long-lived caching
 * (their names are hashed), `index.html` for `/` and for the UI's own paths (decorated as
 * `sendIndex`, which the not-found handler uses), all under the UI's security headers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { closeIfClosing, type Lifecycle } from './state.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Answer with the admin UI's index.html (404 `ui_not_built` when the UI is not built). */
    sendIndex(reply: FastifyReply): FastifyReply;
  }
}

/**
 * Headers of the admin UI's pages and assets: scripts and styles from this origin only (no
 * inline script), never framed, no sniffing, no referrer.
 */
export const UI_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

/**
 * Where the built admin UI is: `dist/web`, seen from the CLI bundle (`dist/bundle/`), from
 * `dist/server/plugins/` (installed), or from `src/server/plugins/` (tests).
 */
function findWebRoot(): string | undefined {
  for (const rel of ['../web/', '../../web/', '../../../dist/web/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir.replace(/\/$/, '');
  }
  return undefined;
}

/** A path of the UI's own (e.g. `/secrets`): not the API, not a file. */
export function isUiPath(path: string): boolean {
  return path !== '' && !path.startsWith('/api/') && path !== '/api' && !/\.[a-z0-9]+$/i.test(path);
}

/** Whether the request accepts `type` (e.g. a browser opening a page accepts text/html). */
export function accepts(request: FastifyRequest, type: string): boolean {
  const header = request.headers.accept;
  return typeof header === 'string' && header.includes(type);
}

export interface WebPluginOptions {
  mode: 'api' | 'agent';
  /** Directory of the built UI (default: `dist/web` of this installation). */
  webRoot?: string | undefined;
  lifecycle: Lifecycle;
}

async function web(app: FastifyInstance, options: WebPluginOptions): Promise<void> {
  const webRoot = options.mode === 'api' ? (options.webRoot ?? findWebRoot()) : undefined;
  let indexHtml: Buffer | undefined;
  if (webRoot) {
    indexHtml = readFileSync(`${webRoot}/index.html`);
    await app.register(fastifyStatic, {
      root: webRoot,
      prefix: '/',
      wildcard: false,
      index: false,
      // setHeaders decides Cache-Control: @fastify/static 9 would otherwise replace it with its own.
      cacheControl: false,
      setHeaders: (res, file) => {
        for (const [k, v] of Object.entries(UI_HEADERS)) res.setHeader(k, v);
        // Hashed asset names change with their content; index.html must be fetched again.
        res.setHeader(
          'cache-control',
          file.endsWith('index.html') ? 'no-store' : 'public, max-age=31536000, immutable',
        );
      },
    });
  }
  app.decorate('sendIndex', (reply: FastifyReply) => {
    closeIfClosing(options.lifecycle, reply);
    if (!indexHtml) {
      return reply.code(404).send({
        error: {
          code: 'ui_not_built',
          message:
            'the admin UI is not built into this installation: run npm run build (npm install does it)',
        },
      });
    }
    return reply
      .headers({ ...UI_HEADERS, 'cache-control': 'no-store' })
      .type('text/html; charset=utf-8')
      .send(indexHtml);
  });
  if (options.mode === 'api') app.get('/', (_request, reply) => app.sendIndex(reply));
}

export const webPlugin = fp(web, { name: 'sesame-web' });

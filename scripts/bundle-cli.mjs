/**
 * Bundle the compiled CLI (dist/cli/main.js) into dist/bundle/ with rolldown: the modules of a
 * command and of the libraries it uses become a few chunks, loaded when the command needs them,
 * instead of hundreds of files resolved and linked one by one (Node's ES module loader pays per
 * module). `bin/sesame.js` runs the bundle when it is at least as new as dist/cli/main.js, and
 * dist/ otherwise (a `tsc` build that did not bundle). Run by `npm run build`. `run-fast.cjs`,
 * beside it, is `sesame run` with nothing to resolve (src/cli/run-fast.ts) in one CommonJS file.
 *
 * Left out of the bundle, loaded from node_modules as before: native and optional drivers
 * (better-sqlite3, pg), the cloud SDKs (loaded on a store's first use), the server's Fastify
 * stack and pino (its transports start worker threads from their own files).
 */
import { mkdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = fileURLToPath(new URL('..', import.meta.url));
const input = `${root}dist/cli/main.js`;
const dir = `${root}dist/bundle`;

const EXTERNAL_SCOPES = /^@(aws-sdk|aws-crypto|smithy|azure|google-cloud|fastify)\//;
const EXTERNAL = /^(better-sqlite3|pg|pg-native|pg-cloudflare|google-gax|fastify|fastify-plugin|pino|thread-stream|sonic-boom|prom-client)(\/|$)/;

/** Libraries in chunks of their own, so a command loads only those it imports. */
const GROUPS = ['kysely', 'zod', 'yaml', 'commander', 'lru-cache'].map((name) => ({
  name,
  test: new RegExp(`node_modules[\\\\/]${name}[\\\\/]`),
}));

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const bundle = await rolldown({
  input,
  platform: 'node',
  external: (id) => id.startsWith('node:') || EXTERNAL_SCOPES.test(id) || EXTERNAL.test(id),
  logLevel: 'warn',
});
await bundle.write({
  dir,
  format: 'esm',
  entryFileNames: 'main.mjs',
  chunkFileNames: '[name]-[hash].mjs',
  codeSplitting: {
    groups: [
      ...GROUPS,
      // `sesame run` is paid on every workflow step: run, and what main shares with it (errors,
      // masking, colour, the CLI context), in one chunk beside main.mjs. Every module file the
      // loader opens costs a read, a parse and a link; `run -- true` opens three.
      { name: 'start', test: /dist[\\/](cli[\\/]commands[\\/]run|config[\\/]files)\.js$/ },
    ],
  },
});
await bundle.close();

// `sesame run` with nothing to resolve, as one CommonJS file the bin requires before anything
// else: Node starts a CommonJS script without loading its ES module loader.
const fast = await rolldown({ input: `${root}dist/cli/run-fast.js`, platform: 'node', external: (id) => id.startsWith('node:'), logLevel: 'warn' });
await fast.write({ file: `${dir}/run-fast.cjs`, format: 'cjs' });
await fast.close();

// The bundle stands for dist/ as compiled now: never older than dist/cli/main.js.
const compiled = statSync(input).mtime;
const now = new Date(Math.max(Date.now(), compiled.getTime()));
utimesSync(`${dir}/run-fast.cjs`, now, now);
utimesSync(`${dir}/main.mjs`, now, now);

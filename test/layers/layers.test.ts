/**
 * The layers point one way (STYLE.md, README "Development"): the grammar, masking and database
 * at the bottom; resolve, stores, the encrypted store, audit and tokens above them; the Sesame
 * object (and the cluster listener built on it) above those; the server and the CLI on top, the
 * admin UI beside them talking only HTTP. Each file's relative imports are read and every edge is
 * checked against what its layer may import.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const WEB = fileURLToPath(new URL('../../web/src/', import.meta.url));

/** A module's layer: its top-level folder under src/, or its file name without extension. */
function layerOf(file: string): string {
  const [first = '', ...rest] = path.relative(SRC, file).split(path.sep);
  return rest.length > 0 ? first : first.replace(/\.(ts|js)$/, '');
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...sources(full));
    else if (/\.tsx?$/.test(entry)) out.push(full);
  }
  return out;
}

/** Relative imports (static, dynamic and `export … from`) of a file. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) =>
    path.resolve(path.dirname(file), m[1] as string),
  );
}

const BASE = ['errors', 'sha256', 'scope', 'namespaces', 'not-found-fix', 'host-file', 'timers'];
/** Layers a layer must not import; a layer missing here is on top (server, cli, index). */
const FORBIDDEN: Record<string, readonly string[]> = {
  errors: ['*'],
  sha256: ['*'],
  scope: ['*'],
  namespaces: ['*'],
  'not-found-fix': ['*'],
  'host-file': ['*'],
  timers: ['*'],
  refs: ['*'],
  redact: ['*'],
  db: ['*'],
  audit: [
    'encrypted-store',
    'stores',
    'resolve',
    'tokens',
    'connections',
    'config',
    'sesame',
    'cluster',
    'index',
    'server',
    'cli',
  ],
  'encrypted-store': [
    'stores',
    'resolve',
    'tokens',
    'connections',
    'config',
    'sesame',
    'cluster',
    'index',
    'server',
    'cli',
  ],
  tokens: [
    'encrypted-store',
    'stores',
    'resolve',
    'connections',
    'config',
    'sesame',
    'cluster',
    'index',
    'server',
    'cli',
  ],
  stores: ['resolve', 'tokens', 'connections', 'sesame', 'cluster', 'index', 'server', 'cli'],
  resolve: ['encrypted-store', 'tokens', 'connections', 'sesame', 'cluster', 'index', 'server', 'cli'],
  connections: ['encrypted-store', 'tokens', 'stores', 'sesame', 'cluster', 'index', 'server', 'cli'],
  config: ['encrypted-store', 'tokens', 'sesame', 'cluster', 'index', 'server', 'cli'],
  log: ['sesame', 'cluster', 'index', 'server', 'cli'],
  sesame: ['cluster', 'index', 'server', 'cli'],
  cluster: ['index', 'server', 'cli'],
  server: ['cli', 'index'],
};
/** What `*` leaves allowed: the base modules, and for db its own helpers. */
const ONLY: Record<string, readonly string[]> = {
  refs: BASE,
  redact: ['sha256', 'timers'],
  db: BASE,
  errors: [],
  sha256: [],
  scope: [],
  namespaces: ['errors'],
  'not-found-fix': [],
  'host-file': [],
  timers: [],
};

describe('layers', () => {
  const files = sources(SRC);

  it('reads the imports of every source file', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.flatMap(importsOf).length).toBeGreaterThan(200);
  });

  it('no layer imports one above it', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      const forbidden = FORBIDDEN[from];
      if (!forbidden) continue;
      for (const target of importsOf(file)) {
        if (!target.startsWith(SRC)) continue;
        const to = layerOf(target);
        if (to === from) continue;
        const refused = forbidden.includes('*') ? !(ONLY[from] ?? []).includes(to) : forbidden.includes(to);
        if (refused)
          violations.push(
            `${path.relative(SRC, file)} imports ${path.relative(SRC, target)} (${from} → ${to})`,
          );
      }
    }
    expect(violations).toEqual([]);
  });

  it('the admin UI imports nothing from src/: it talks to the server over HTTP only', () => {
    const reaching = sources(WEB).filter((file) => importsOf(file).some((target) => target.startsWith(SRC)));
    expect(reaching.map((f) => path.relative(WEB, f))).toEqual([]);
  });
});

/**
 * Runtime loads of node-postgres in a file: `import('pg')` used as a value (not a type such as
 * `import('pg').Client`) and non-type `import … from 'pg'`.
 */
function pgLoads(text: string): string[] {
  return [
    ...text.matchAll(/\bimport\s*\(\s*'pg'\s*\)(?!\s*\.)/g),
    ...text.matchAll(/^import\s+(?!type\b)[^;]*?\bfrom\s+'pg'/gm),
  ].map((m) => m[0]);
}

describe('PostgreSQL clients', () => {
  it('are made only in src/db/pg-client.ts, so each has an error listener from its first moment', () => {
    // The detector itself: what it must see and what it must leave.
    expect(pgLoads("const { default: pg } = await import('pg');\nimport pg from 'pg';")).toHaveLength(2);
    expect(pgLoads("let c: import('pg').Client;\nimport type { Pool } from 'pg';")).toEqual([]);
    const loaders = sources(SRC)
      .filter((file) => pgLoads(readFileSync(file, 'utf8')).length > 0)
      .map((file) => path.relative(SRC, file));
    expect(loaders).toEqual([path.join('db', 'pg-client.ts')]);
  });
});

/**
 * What the API shows of stores, connections and namespaces: each with where it comes from (the
 * config file, the API, or implicitly), credentials masked. A store's secret settings (those its
 * type marks as credentials) and a connection's literal values are shown as `***`; an update
 * that sends `***` back keeps the stored value (`keepMasked`).
 */
import { formatDuration } from '../../config/duration.js';
import type { CacheSettings } from '../../config/schema.js';
import { holdsUrlCredentials, maskConnectionFields } from '../../connections/mask.js';
import { MASK } from '../../redact/redactor.js';
import { collectReferences } from '../../refs/template.js';

export type Source = 'config' | 'api' | 'implicit';

/** Revision and times of a row created through the API. */
export interface Stamp {
  revision: number;
  createdAt: string;
  updatedAt: string;
}

export interface StoreView {
  name: string;
  namespace: string;
  type: string;
  description?: string | undefined;
  source: Source;
  /** Settings as given, with credentials (the type's secret settings) shown as `***`. */
  settings: Record<string, unknown>;
  cache: { ttl: string; maxEntries: number; maxBytes: number; staleIfError: string; refreshAhead: string };
  revision?: number | undefined;
  createdAt?: string | undefined;
  updatedAt?: string | undefined;
}

export interface ConnectionView {
  name: string;
  namespace: string;
  type: string;
  description?: string | undefined;
  source: Source;
  /** Every reference in the fields, as written. */
  references: string[];
  /** Fields with references as written and the literals of secret fields shown as `***`. */
  fields: Record<string, unknown>;
  revision?: number | undefined;
  createdAt?: string | undefined;
  updatedAt?: string | undefined;
}

export interface NamespaceView {
  name: string;
  isolated: boolean;
  description?: string | undefined;
  source: Source;
  createdAt?: string | undefined;
  updatedAt?: string | undefined;
}

/** `the root namespace` or `namespace acme`, for messages. */
export function describeNs(namespace: string): string {
  return namespace === '' ? 'the root namespace' : `namespace ${namespace}`;
}

/** Walk a dotted path; undefined when absent. */
function getPath(doc: unknown, path: string): unknown {
  let node = doc;
  for (const part of path.split('.')) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
  return node;
}

function setPath(doc: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node: Record<string, unknown> = doc;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (!next || typeof next !== 'object') return;
    node = next as Record<string, unknown>;
  }
  const last = parts[parts.length - 1] as string;
  if (last in node) node[last] = value;
}

/**
 * Settings with each secret setting that is present replaced by `***`, and so is any setting
 * holding a URL with a literal user or password (an http store's `url`, a Vault `address`).
 */
export function maskSettings(settings: Record<string, unknown>, secretPaths: readonly string[]): Record<string, unknown> {
  const copy = withoutUrlCredentials(structuredClone(settings)) as Record<string, unknown>;
  for (const path of secretPaths) if (getPath(copy, path) !== undefined) setPath(copy, path, MASK);
  return copy;
}

function withoutUrlCredentials(value: unknown): unknown {
  if (typeof value === 'string') return holdsUrlCredentials(value) ? MASK : value;
  if (Array.isArray(value)) return value.map(withoutUrlCredentials);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutUrlCredentials(v)]));
  }
  return value;
}

/** Where an update sends `***` back for a value it did not change, keep the stored one. */
export function keepMasked(next: unknown, previous: unknown): unknown {
  if (next === MASK) return previous;
  if (Array.isArray(next)) return next.map((v, i) => keepMasked(v, Array.isArray(previous) ? previous[i] : undefined));
  if (next && typeof next === 'object') {
    const prev = previous && typeof previous === 'object' ? (previous as Record<string, unknown>) : {};
    return Object.fromEntries(Object.entries(next).map(([k, v]) => [k, keepMasked(v, prev[k])]));
  }
  return next;
}

/**
 * The dotted paths where `next` sends `***` back for a value `previous` holds: the stored values
 * an update keeps without its caller having given (or seen) them.
 */
export function keptMaskedPaths(next: unknown, previous: unknown, path = ''): string[] {
  if (next === MASK) return previous === undefined || previous === MASK ? [] : [path];
  const at = (k: string | number) => (path === '' ? String(k) : typeof k === 'number' ? `${path}[${k}]` : `${path}.${k}`);
  if (Array.isArray(next)) return next.flatMap((v, i) => keptMaskedPaths(v, Array.isArray(previous) ? previous[i] : undefined, at(i)));
  if (next && typeof next === 'object') {
    const prev = previous && typeof previous === 'object' ? (previous as Record<string, unknown>) : {};
    return Object.entries(next).flatMap(([k, v]) => keptMaskedPaths(v, prev[k], at(k)));
  }
  return [];
}

export function cacheView(c: CacheSettings): StoreView['cache'] {
  return {
    ttl: formatDuration(c.ttlMs),
    maxEntries: c.maxEntries,
    maxBytes: c.maxBytes,
    staleIfError: formatDuration(c.staleIfErrorMs),
    refreshAhead: formatDuration(c.refreshAheadMs),
  };
}

/**
 * A connection as the API shows it: references as written, literals in secret fields (by the
 * type's `secretFields` or a credential's name: `src/connections/mask.ts`, as the CLI shows them)
 * as `***`, other literals (`baseUrl`, `auth.method`, …) as written.
 */
export function connectionView(
  c: { name: string; namespace: string; type: string; description?: string | undefined; fields: Record<string, unknown> },
  source: Source,
  secretFields: readonly string[],
  stamp?: Stamp,
): ConnectionView {
  return {
    name: c.name,
    namespace: c.namespace,
    type: c.type,
    description: c.description,
    source,
    references: collectReferences(c.fields).map((s) => s.raw),
    fields: maskConnectionFields(c.fields, secretFields),
    ...(stamp ? { revision: stamp.revision, createdAt: stamp.createdAt, updatedAt: stamp.updatedAt } : {}),
  };
}

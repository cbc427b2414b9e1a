/**
 * Prepared resolvers: the warm path for one fixed document shape (a connection's fields resolved
 * on every job of a runner). `resolveCached()` walks an arbitrary value on every call — per field a
 * type dispatch, a plan looked up by the string, a copy of each object — which floors near 4x the
 * same job done by hand. A prepared resolver does that work once: it snapshots the document, keeps
 * the distinct references in a flat table (store binding and cache key, armed again whenever the
 * store bindings change), and builds the output with code generated for the document's shape (an
 * object literal whose slots are read from arrays).
 *
 * What stays per call: the bindings generation (a config or namespace change re-binds every
 * reference), the access policy for each distinct store when there is a principal, the cache
 * statistics and the observer's lookup reports. The cache entries themselves are looked up again
 * whenever the cache's `changes` counter moved (an entry stored — a fetch, a rotation, a refetch —
 * or dropped — a refresh, an eviction), when the earliest TTL end or refresh-ahead point of the
 * entries is reached, and at least once a second (LRU recency); otherwise the same entries would
 * be found, and the lookups — lru-cache's `peek` costs more than the rest of the call — are
 * skipped. Anything unusual — an entry not seen before, a refresh-ahead due, a missing value —
 * goes through the resolver itself, so key extraction, errors, refresh-ahead, stale-if-error and
 * masking registration are the resolver's, not a second copy of them.
 */
import type { SesameError } from '../errors.js';
import { checkedNamespace } from '../namespaces.js';
import { checkDocumentLimits } from '../refs/limits.js';
import { compileTemplate, mayHoldReferences } from '../refs/template.js';
import type { AccessPolicy } from './access.js';
import type { StoreBinding, StoreBindings } from './bindings.js';
import type { CacheEntry, SecretCache } from './cache.js';
import type { ResolveOptions, Resolver, ResolverObserver } from './resolver.js';

/**
 * A resolver for one document, compiled once. Create it with `sesame.prepare(document, options)`.
 *
 * @example
 * const fields = sesame.prepare(conn.fields, { namespace: 'acme.devops' });
 * // in the job loop:
 * const resolved = fields.get() ?? (await fields.resolve());
 */
export interface PreparedResolver<T = unknown> {
  /**
   * The resolved document when every reference is fresh in the cache, else `undefined` (then call
   * {@link resolve}). Synchronous; a new object on every call. Throws what `resolveCached()` would
   * (access refused, store not found, key not found).
   */
  get(): T | undefined;
  /** The resolved document, fetching what is missing (as `sesame.resolve()` does). */
  resolve(): Promise<T>;
  /** How many distinct references the document holds. */
  readonly references: number;
}

/** What a prepared resolver needs of the Sesame that made it. */
export interface PrepareContext {
  resolver: Resolver;
  bindings: StoreBindings;
  access: AccessPolicy;
  observer: ResolverObserver | undefined;
  now: () => number;
}

/** One distinct reference of the document. */
interface PreparedReference {
  /** The reference as written (`secret://store/name#key`), resolved alone on the slow path. */
  raw: string;
  store: string;
  /** The cache key without the namespace prefix: name, version and stage. */
  keySuffix: string;
  /** Options for resolving it alone: its first field, for messages. */
  options: ResolveOptions;
  // Armed for one bindings generation:
  binding: StoreBinding | undefined;
  cache: SecretCache | undefined;
  key: string;
  refreshAhead: boolean;
  /** The cache entry `value` and `text` were derived from. */
  entry: CacheEntry | undefined;
  value: unknown;
  /** The value as it goes into a template string. */
  text: string;
}

/** A built node: a constant, a whole reference (typed value) or a template of text parts. */
type Node =
  | { kind: 'constant'; index: number }
  | { kind: 'value'; ref: number }
  | { kind: 'template'; parts: Array<{ constant: number } | { ref: number }> }
  | { kind: 'array'; items: Node[] }
  | { kind: 'object'; keys: Array<string | symbol>; values: Node[] };

const RECENCY_MS = 1000;

type Builder = (
  constants: readonly unknown[],
  values: readonly unknown[],
  texts: readonly string[],
) => unknown;

function isPlainObject(v: unknown): v is Record<string | symbol, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function pathOf(base: string, step: string | number): string {
  if (typeof step === 'number') return `${base}[${step}]`;
  return base ? `${base}.${step}` : step;
}

class Compiler {
  readonly constants: unknown[] = [];
  readonly refs: PreparedReference[] = [];
  readonly #byRaw = new Map<string, number>();

  constructor(readonly options: ResolveOptions) {}

  #constant(v: unknown): Node {
    this.constants.push(v);
    return { kind: 'constant', index: this.constants.length - 1 };
  }

  #ref(
    slot: {
      raw: string;
      ref: { store: string; name: string; version?: string | undefined; stage?: string | undefined };
    },
    field: string,
  ): number {
    const known = this.#byRaw.get(slot.raw);
    if (known !== undefined) return known;
    const { ref } = slot;
    this.refs.push({
      raw: slot.raw,
      store: ref.store,
      // The same key the resolver builds (resolver.ts #value), so both read the same entries.
      keySuffix: `${ref.name}\u0000${ref.version ?? ''}\u0000${ref.stage ?? ''}`,
      options: { ...this.options, field: field || undefined },
      binding: undefined,
      cache: undefined,
      key: '',
      refreshAhead: false,
      entry: undefined,
      value: undefined,
      text: '',
    });
    this.#byRaw.set(slot.raw, this.refs.length - 1);
    return this.refs.length - 1;
  }

  /** The node for `value` and the snapshot of it that the resolver is given on the slow path. */
  compile(value: unknown, field: string): { node: Node; copy: unknown } {
    if (typeof value === 'string') {
      if (!mayHoldReferences(value)) return { node: this.#constant(value), copy: value };
      const compiled = compileTemplate(value, field || undefined);
      if (compiled.count === 0) return { node: this.#constant(value), copy: value };
      if (compiled.whole)
        return { node: { kind: 'value', ref: this.#ref(compiled.whole, field) }, copy: value };
      const parts = compiled.parts.map((p) => {
        if (typeof p !== 'string') return { ref: this.#ref(p, field) };
        this.constants.push(p);
        return { constant: this.constants.length - 1 };
      });
      return { node: { kind: 'template', parts }, copy: value };
    }
    if (Array.isArray(value)) {
      const items: Node[] = [];
      const copy: unknown[] = new Array(value.length);
      for (let i = 0; i < value.length; i++) {
        const c = this.compile(value[i], pathOf(field, i));
        items.push(c.node);
        copy[i] = c.copy;
      }
      return { node: { kind: 'array', items }, copy };
    }
    if (isPlainObject(value)) {
      // The resolver's output is `{ ...value }` with the strings and containers replaced: own
      // enumerable keys (symbols too, copied as they are), on a plain Object prototype.
      const keys: Array<string | symbol> = [];
      const values: Node[] = [];
      const copy: Record<string | symbol, unknown> = {};
      for (const k of Object.keys(value)) {
        const c = this.compile(value[k], pathOf(field, k));
        keys.push(k);
        values.push(c.node);
        Object.defineProperty(copy, k, {
          value: c.copy,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      for (const s of Object.getOwnPropertySymbols(value)) {
        if (!Object.prototype.propertyIsEnumerable.call(value, s)) continue;
        keys.push(s);
        values.push(this.#constant(value[s]));
        copy[s] = value[s];
      }
      return { node: { kind: 'object', keys, values }, copy };
    }
    // Numbers, booleans, null and non-plain objects come back as they are (the same object).
    return { node: this.#constant(value), copy: value };
  }

  /** JavaScript for a node; keys are string literals (JSON) or constants, never code. */
  source(node: Node): string {
    switch (node.kind) {
      case 'constant':
        return `c[${node.index}]`;
      case 'value':
        return `v[${node.ref}]`;
      case 'template':
        return `(${node.parts.map((p) => ('constant' in p ? `c[${p.constant}]` : `t[${p.ref}]`)).join(' + ')})`;
      case 'array':
        return `[${node.items.map((n) => this.source(n)).join(', ')}]`;
      case 'object': {
        const fields = node.keys.map((k, i) => {
          const v = this.source(node.values[i] as Node);
          if (typeof k === 'symbol') return `[c[${this.#constantIndex(k)}]]: ${v}`;
          // A literal "__proto__": key would set the prototype; computed, it is an own field.
          return k === '__proto__' ? `["__proto__"]: ${v}` : `${JSON.stringify(k)}: ${v}`;
        });
        return `{${fields.join(', ')}}`;
      }
    }
  }

  #constantIndex(v: unknown): number {
    this.constants.push(v);
    return this.constants.length - 1;
  }
}

/**
 * The same builder without generated code, for a process that forbids it
 * (`--disallow-code-generation-from-strings`).
 */
function interpret(node: Node): Builder {
  switch (node.kind) {
    case 'constant': {
      const i = node.index;
      return (c) => c[i];
    }
    case 'value': {
      const i = node.ref;
      return (_c, v) => v[i];
    }
    case 'template': {
      const parts = node.parts;
      return (c, _v, t) => {
        let out = '';
        for (const p of parts) out += 'constant' in p ? (c[p.constant] as string) : (t[p.ref] as string);
        return out;
      };
    }
    case 'array': {
      const items = node.items.map(interpret);
      return (c, v, t) => items.map((b) => b(c, v, t));
    }
    case 'object': {
      const keys = node.keys;
      const values = node.values.map(interpret);
      return (c, v, t) => {
        const out: Record<string | symbol, unknown> = {};
        for (let i = 0; i < keys.length; i++) {
          Object.defineProperty(out, keys[i] as string | symbol, {
            value: (values[i] as Builder)(c, v, t),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return out;
      };
    }
  }
}

function generate(compiler: Compiler, node: Node): Builder {
  const body = `return (${compiler.source(node)});`;
  try {
    // biome-ignore lint/security/noGlobalEval: the code is built from the document's shape only: keys as JSON string literals, every value read from an array
    return new Function('c', 'v', 't', body) as Builder;
  } catch {
    return interpret(node);
  }
}

class Prepared<T> implements PreparedResolver<T> {
  readonly #context: PrepareContext;
  readonly #options: ResolveOptions;
  readonly #namespace: string;
  readonly #template: unknown;
  readonly #refs: PreparedReference[];
  readonly #constants: readonly unknown[];
  readonly #values: unknown[];
  readonly #texts: string[];
  readonly #build: Builder;
  /** Distinct stores of the references (for the access check), for the armed generation. */
  #stores: StoreBinding[] = [];
  /** The bindings generation the references are armed for; -1: not armed. */
  #generation = -1;
  /** Distinct caches of the references, how many references use each, and their `changes` at the last look. */
  #caches: SecretCache[] = [];
  #uses: number[] = [];
  #seen: number[] = [];
  /** Until when (cache clock) the entries of the last look stand without looking again: 0 = look. */
  #validUntil = 0;

  constructor(context: PrepareContext, value: unknown, options: ResolveOptions) {
    this.#context = context;
    this.#options = { ...options };
    this.#namespace = checkedNamespace(options.namespace ?? '');
    checkDocumentLimits(value, undefined, options.field ?? '');
    const compiler = new Compiler(this.#options);
    const { node, copy } = compiler.compile(value, options.field ?? '');
    this.#template = copy;
    this.#refs = compiler.refs;
    this.#build = generate(compiler, node);
    this.#constants = compiler.constants;
    this.#values = new Array(this.#refs.length).fill(undefined);
    this.#texts = new Array(this.#refs.length).fill('');
  }

  get references(): number {
    return this.#refs.length;
  }

  /** Bind each reference to the store its name means from the namespace, for the bindings in effect. */
  #arm(): void {
    const { bindings } = this.#context;
    const generation = bindings.generation;
    const stores = new Set<StoreBinding>();
    for (const r of this.#refs) {
      // Throws StoreNotFoundError as the resolver does; the next call tries again.
      const binding = bindings.get(r.store, this.#namespace);
      r.binding = binding;
      r.cache = binding.cache;
      r.key = `${binding.keyPrefix(this.#namespace)}${r.keySuffix}`;
      r.refreshAhead = binding.cache.settings.refreshAheadMs > 0;
      r.entry = undefined;
      stores.add(binding);
    }
    this.#stores = [...stores];
    this.#caches = this.#stores.map((b) => b.cache);
    this.#uses = this.#caches.map((c) => this.#refs.filter((r) => r.cache === c).length);
    this.#seen = this.#caches.map(() => -1);
    this.#validUntil = 0;
    this.#generation = generation;
  }

  /**
   * Resolve one reference through the resolver (its extraction, errors, refresh-ahead): for an
   * entry not seen before, or one due for refresh-ahead. False when it is not in the cache.
   */
  #derive(r: PreparedReference, entry: CacheEntry, i: number): boolean {
    // The resolver's lookup below counts this same hit again.
    (r.cache as SecretCache).stats.hits--;
    const v = this.#context.resolver.resolveCached(r.raw, r.options);
    if (v === undefined) {
      r.entry = undefined;
      return false;
    }
    r.entry = entry;
    r.value = v;
    r.text = typeof v === 'string' ? v : JSON.stringify(v);
    this.#values[i] = v;
    this.#texts[i] = r.text;
    return true;
  }

  get(): T | undefined {
    const context = this.#context;
    if (this.#generation !== context.bindings.generation) this.#arm();
    const { principal } = this.#options;
    if (principal !== undefined) {
      // The authorization point, as in the resolver: before any cache read, on every call.
      const purpose = this.#options.purpose ?? 'return';
      for (const store of this.#stores) context.access.checkRead(principal, this.#namespace, store, purpose);
    }
    const now = context.now();
    if (now >= this.#validUntil || !this.#unchanged()) return this.#look(now);
    // Nothing was stored in or dropped from these caches since the last look, and every entry
    // read then is still fresh: the same entries would be found again.
    const caches = this.#caches;
    for (let i = 0; i < caches.length; i++) (caches[i] as SecretCache).stats.hits += this.#uses[i] as number;
    const onLookup = context.observer?.onLookup;
    if (onLookup !== undefined)
      for (const r of this.#refs) onLookup.call(context.observer, r.binding as StoreBinding, 'hit');
    return this.#build(this.#constants, this.#values, this.#texts) as T;
  }

  #unchanged(): boolean {
    const caches = this.#caches;
    for (let i = 0; i < caches.length; i++)
      if ((caches[i] as SecretCache).changes !== this.#seen[i]) return false;
    return true;
  }

  /** Look every reference up in the cache (and derive the values of entries not seen before). */
  #look(now: number): T | undefined {
    const context = this.#context;
    const caches = this.#caches;
    for (let i = 0; i < caches.length; i++) this.#seen[i] = (caches[i] as SecretCache).changes;
    // LRU recency is refreshed by a lookup at most once a second per entry (cache.ts): look at least that often.
    let validUntil = now + RECENCY_MS;
    this.#validUntil = 0;
    const onLookup = context.observer?.onLookup;
    const refs = this.#refs;
    for (let i = 0; i < refs.length; i++) {
      const r = refs[i] as PreparedReference;
      const cache = r.cache as SecretCache;
      const entry = cache.freshAt(r.key, now);
      if (entry === undefined) return undefined;
      if (entry !== r.entry || (r.refreshAhead && cache.wantsRefreshAhead(entry, now))) {
        if (!this.#derive(r, entry, i)) return undefined;
      } else if (onLookup !== undefined) {
        onLookup.call(context.observer, r.binding as StoreBinding, 'hit');
      }
      const until = entry.freshUntil - (r.refreshAhead ? cache.settings.refreshAheadMs : 0);
      if (until < validUntil) validUntil = until;
    }
    this.#validUntil = validUntil;
    return this.#build(this.#constants, this.#values, this.#texts) as T;
  }

  resolve(): Promise<T> {
    let warm: T | undefined;
    try {
      warm = this.get();
    } catch (err) {
      return Promise.reject(err as SesameError);
    }
    if (warm !== undefined) return Promise.resolve(warm);
    return this.#context.resolver.resolve<T>(this.#template, this.#options);
  }
}

/**
 * Compile `value` for repeated resolution (see {@link PreparedResolver}). The document is copied:
 * changing `value` afterwards does not change what is resolved. Throws on a reference that does
 * not parse or a document over the limits; store and access errors come from `get`/`resolve`,
 * since the config may change between calls.
 */
export function prepareResolver<T = unknown>(
  context: PrepareContext,
  value: unknown,
  options: ResolveOptions = {},
): PreparedResolver<T> {
  return new Prepared<T>(context, value, options);
}

/**
 * The resolver: walk any JSON-like value, collect references, fetch each distinct secret once
 * per call (batched per store where the store can), extract keys, inject values.
 *
 * Warm path (every reference fresh in the cache): one walk that builds the output as it goes.
 * Strings compile once into a plan whose slots remember their store binding and cache key for
 * the last namespace they were resolved in, so a warm reference costs one LRU lookup — no string
 * building, no promise per reference. Field paths are only spelled out when something fails.
 */
import { checkedNamespace, namespaceChain } from '../namespaces.js';
import {
  ForbiddenError,
  KeyNotFoundError,
  ReferenceSyntaxError,
  ResolutionError,
  describeUnexpected,
  SesameError,
  StoreUnavailableError,
  UsageError,
} from '../errors.js';
import type { Redactor } from '../redact/redactor.js';
import { DOCUMENT_LIMITS, DocumentLimitError } from '../refs/limits.js';
import { evaluatePointer, parsePointer } from '../refs/pointer.js';
import { isPointerKey } from '../refs/reference.js';
import { type DialectSet, dialectsOf } from '../refs/dialects/index.js';
import { compileTemplate, mayHoldReferences, type ReferenceSlot } from '../refs/template.js';
import type { FetchedSecret, SecretRequest } from '../stores/contract.js';
import { AccessPolicy, covers, type Principal, type Purpose } from './access.js';
import type { StoreBinding, StoreBindings } from './bindings.js';
import type { CacheEntry, CacheOutcome, LoadResult } from './cache.js';
import { coarseNow } from './clock.js';

export interface ResolveOptions {
  /** The caller's namespace (`acme.devops`); the root namespace when absent. */
  namespace?: string | undefined;
  /** Field path of `value` inside a larger document, for messages. */
  field?: string | undefined;
  /**
   * Who the values are resolved for. With a principal, every reference is authorized by the
   * access policy (`access.ts`) before the cache or the store is read; without one, the caller
   * is trusted code (the library used in-process).
   */
  principal?: Principal | undefined;
  /** What the values are for (with a principal): `return` to the caller (default), or `deliver` to a connection's target. */
  purpose?: Purpose | undefined;
}

export interface ResolvedReference {
  reference: string;
  field: string;
  store: string;
  /** `hit` cache, `miss` fetched, `coalesced` joined a fetch in flight, `stale` served past TTL while the store failed. */
  outcome: CacheOutcome;
  version?: string | undefined;
  /** Namespace that owned the value (namespace-aware stores). */
  namespace?: string | undefined;
}

export interface ResolveReport<T = unknown> {
  value: T;
  /** True when any value was served stale because its store was unavailable. */
  stale: boolean;
  references: ResolvedReference[];
}

export interface ResolverObserver {
  onLookup?(binding: StoreBinding, outcome: CacheOutcome): void;
  onStoreCall?(binding: StoreBinding, operation: 'get' | 'getMany', ok: boolean, seconds: number): void;
  onResolve?(seconds: number, ok: boolean): void;
}

/** A reference slot of a compiled string, with what the resolver learned about it. */
interface PlanSlot {
  slot: ReferenceSlot;
  /** Parsed JSON Pointer tokens when the key is a pointer. */
  pointer: string[] | undefined;
  /** Memo for the last namespace: binding and cache key (valid for `memoGeneration`). */
  memoNamespace: string | undefined;
  memoGeneration: number;
  binding: StoreBinding | undefined;
  key: string;
}

interface Plan {
  parts: Array<string | PlanSlot>;
  whole: PlanSlot | undefined;
  count: number;
}

/** One reference met during a walk: where, which slot, and how it was served. */
interface Use {
  plan: PlanSlot;
  field: string;
  binding: StoreBinding;
  key: string;
  entry: CacheEntry | undefined;
  outcome: CacheOutcome;
  error: Error | undefined;
}

interface Walk {
  namespace: string;
  principal: Principal | undefined;
  purpose: Purpose;
  now: number;
  /** Field path stack (keys and indexes) up to `depth`, spelled out only when needed. */
  path: Array<string | number>;
  depth: number;
  base: string;
  /** Entries fetched during this call, by binding then key (the cache may not keep them). */
  fetched: Map<StoreBinding, Map<string, LoadResult | Error>> | undefined;
  /** References that were not fresh (first walk) — filled only when some are missing. */
  missing: Use[] | undefined;
  /** Every reference met, when a report was asked for. */
  uses: Use[] | undefined;
  stale: boolean;
  /**
   * Set on a walk that collects the errors of its references instead of stopping at the first
   * (after a resolve failed: {@link Resolver.#failure}).
   */
  errors: Error[] | undefined;
  /** References met so far in document order (a walk after a failure counts the same way). */
  visited: number;
  /**
   * Lookups are counted (`onLookup`) only for references met after this many: a walk collecting
   * errors counts only those the failed walk did not reach.
   */
  reportFrom: number;
  /**
   * Lookups of this walk, binding then outcome, reported when the walk is over: a walk that ends
   * waiting for fetches reports nothing (the walk after the fetch meets every reference again).
   */
  lookups: LookupLog;
}

/**
 * The (binding, outcome) pairs of a walk's lookups. Reused by the warm path call after call: it
 * keeps its slots and only moves its size (an array pushed to and truncated on every call cost
 * that path a reallocation per call, 4x its time).
 */
class LookupLog {
  readonly #bindings: Array<StoreBinding | undefined> = [];
  readonly #outcomes: CacheOutcome[] = [];
  #size = 0;

  add(binding: StoreBinding, outcome: CacheOutcome): void {
    this.#bindings[this.#size] = binding;
    this.#outcomes[this.#size] = outcome;
    this.#size++;
  }

  /** Tell each pair to the observer (when given), then forget them (and the bindings they hold). */
  report(observer: Pick<ResolverObserver, 'onLookup'> | undefined): void {
    const n = this.#size;
    this.#size = 0;
    for (let i = 0; i < n; i++) {
      const binding = this.#bindings[i] as StoreBinding;
      this.#bindings[i] = undefined;
      observer?.onLookup?.(binding, this.#outcomes[i] as CacheOutcome);
    }
  }

  clear(): void {
    this.report(undefined);
  }
}

const MAX_PLANS = 10_000;
/**
 * Characters of compiled strings kept, besides their number: a platform resolving distinct long
 * templates (a run id in each) kept them all, 10,000 of 64 KiB being 650 MB. Past either bound
 * the memo starts again; a string longer than the bound is compiled each time.
 */
const MAX_PLAN_CHARS = 8 * 1024 * 1024;
const MAX_DEPTH = DOCUMENT_LIMITS.maxDepth;
const PENDING: unique symbol = Symbol('pending');

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Names are paths, ARNs or ids inside a store, and several stores put them into a URL path or a
 * file path: a `.` or `..` segment would climb out of the store's own space (Vault's mount, the
 * file store's root, an HTTP store's path), and a control character ends or splits it. Refused
 * here, for every store, before any store sees the name.
 */
function checkSecretName(slot: ReferenceSlot, field: string): void {
  const { name } = slot.ref;
  const where = field ? ` in field ${field}` : '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  const control = /[\u0000-\u001f\u007f]/.exec(name);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).padStart(2, '0');
    throw new UsageError(
      // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
      `secret name of ${slot.raw.split('#')[0]?.replace(/[\u0000-\u001f\u007f]/g, '?')}${where} contains a control character (U+00${code}): remove it from the name`,
    );
  }
  if (name.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new UsageError(
      `secret name of ${slot.raw}${where} has a "." or ".." path segment: names are paths inside the store and may not climb out of it`,
    );
  }
}

/** How many of the other failing references an error names. */
const MAX_LISTED_FAILURES = 5;

/** A failure of one reference (located by the resolver), as opposed to the caller's or bad input. */
function isReferenceFailure(err: unknown): err is SesameError {
  if (!(err instanceof SesameError) || err instanceof ForbiddenError) return false;
  return err instanceof ResolutionError || err.message.startsWith('secret://');
}

/** Length of the `secret://… (field f)` prefix of a located error's message. */
function referencePrefixLength(err: Error): number {
  const reference = err instanceof ResolutionError ? err.reference : undefined;
  const field = err instanceof ResolutionError ? err.field : undefined;
  if (reference !== undefined) return `${reference}${field ? ` (field ${field})` : ''}`.length;
  const colon = err.message.indexOf(': ');
  return colon === -1 ? err.message.length : colon;
}

function spellPath(walk: Walk): string {
  let out = walk.base;
  for (let i = 0; i < walk.depth; i++) {
    const p = walk.path[i] as string | number;
    out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  }
  return out;
}

/**
 * The key is everything after `#` (PRODUCT.md): one holding `?version=`/`?stage=` had its query
 * written after the fragment, which the message says how to fix.
 */
function queryAfterFragment(key: string): string {
  const param = /\?(version|stage)=/.exec(key)?.[1];
  return param === undefined ? '' : `: write ?${param}=… before #, as in secret://store/name?${param}=…#key`;
}

export class Resolver {
  readonly #plans = new Map<string, Plan>();
  /** Characters of the strings `#plans` is keyed by. */
  #planChars = 0;
  /** The config the dialects were taken from, and its declared dialects (undefined: none). */
  #dialectConfig: object | undefined;
  #dialects: DialectSet | undefined;

  constructor(
    private readonly bindings: StoreBindings,
    private readonly redactor: Redactor,
    private readonly observer: ResolverObserver = {},
    private readonly now: () => number = coarseNow,
    /** Decides for resolutions made for a principal (see `ResolveOptions.principal`). */
    readonly access: AccessPolicy = new AccessPolicy(() => {
      throw new Error('no outbound policy');
    }),
  ) {}

  /**
   * Resolve every reference in `value`.
   *
   * @example
   * const fields = await resolver.resolve({ token: '{{ secret://aws/jira#token }}' }, { namespace: 'acme' });
   */
  resolve<T = unknown>(value: unknown, options: ResolveOptions = {}): Promise<T> {
    this.#syncDialects();
    const scratch = this.#scratchWalk(options);
    const started = this.observer.onResolve ? performance.now() : 0;
    let walk: Walk | undefined;
    try {
      const out = this.#walk(value, scratch);
      if (out !== PENDING) {
        this.#reportLookups(scratch);
        this.observer.onResolve?.((performance.now() - started) / 1000, true);
        return Promise.resolve(out as T);
      }
      // Some values must be fetched: continue on a walk of this call's own.
      walk = { ...scratch, path: [], depth: 0, missing: scratch.missing, lookups: new LookupLog() };
    } catch (err) {
      this.#reportLookups(scratch);
      this.observer.onResolve?.((performance.now() - started) / 1000, false);
      return this.#failure(err, value, options, undefined, scratch.visited);
    } finally {
      scratch.missing = undefined;
      scratch.depth = 0;
      scratch.lookups.clear();
    }
    return this.#complete(value, walk, started, options).then((r) => r.value as T);
  }

  /** Like {@link resolve}, and says where each value came from (cache, store, stale). */
  async resolveDetailed<T = unknown>(
    value: unknown,
    options: ResolveOptions = {},
  ): Promise<ResolveReport<T>> {
    this.#syncDialects();
    const walk = this.#newWalk(options, true);
    const started = this.observer.onResolve ? performance.now() : 0;
    let out: unknown;
    try {
      out = this.#walk(value, walk);
    } catch (err) {
      this.#reportLookups(walk);
      this.observer.onResolve?.((performance.now() - started) / 1000, false);
      return this.#failure(err, value, options, undefined, walk.visited);
    }
    if (out === PENDING) return (await this.#complete(value, walk, started, options)) as ResolveReport<T>;
    this.#reportLookups(walk);
    this.observer.onResolve?.((performance.now() - started) / 1000, true);
    return this.#report(out, walk) as ResolveReport<T>;
  }

  /**
   * Resolve synchronously from the cache alone: the value when every reference is fresh in the
   * cache, otherwise `undefined` (then call {@link resolve}). For hot loops in job runners.
   *
   * @example
   * const fields = resolver.resolveCached(conn.fields, { namespace }) ?? (await resolver.resolve(conn.fields, { namespace }));
   */
  resolveCached<T = unknown>(value: unknown, options: ResolveOptions = {}): T | undefined {
    this.#syncDialects();
    const walk = this.#scratchWalk(options);
    try {
      const out = this.#walk(value, walk);
      if (out === PENDING) return undefined;
      this.#reportLookups(walk);
      return out as T;
    } finally {
      walk.missing = undefined;
      walk.depth = 0;
      walk.lookups.clear();
    }
  }

  /**
   * The dialects of the config in effect (one identity check per call). When they change, the
   * compiled plans go: a plan remembers which store a dialect reference was mapped to.
   */
  #syncDialects(): void {
    const config = this.bindings.config;
    if (config === this.#dialectConfig) return;
    this.#dialectConfig = config;
    const dialects = dialectsOf(config);
    if (dialects !== this.#dialects) {
      this.#dialects = dialects;
      this.#plans.clear();
      this.#planChars = 0;
    }
  }

  /** What the resolver keeps of the strings it compiled: how many, and their characters. */
  compiledTemplates(): { templates: number; chars: number } {
    return { templates: this.#plans.size, chars: this.#planChars };
  }

  /** A reused walk for synchronous passes (a walk never yields, so one is enough). */
  readonly #scratch: Walk = {
    namespace: '',
    principal: undefined,
    purpose: 'return',
    now: 0,
    path: [],
    depth: 0,
    base: '',
    fetched: undefined,
    missing: undefined,
    uses: undefined,
    stale: false,
    errors: undefined,
    visited: 0,
    reportFrom: 0,
    lookups: new LookupLog(),
  };

  /** The namespace the last warm walk checked: a caller asks from the same one call after call. */
  #checkedNamespace = '';

  #scratchWalk(options: ResolveOptions): Walk {
    const w = this.#scratch;
    const namespace = options.namespace ?? '';
    // The warm path costs about a map lookup: the namespace rule (a regex) runs when it changes.
    if (namespace !== this.#checkedNamespace) this.#checkedNamespace = checkedNamespace(namespace);
    w.namespace = namespace;
    w.principal = options.principal;
    w.purpose = options.purpose ?? 'return';
    w.now = this.now();
    w.base = options.field ?? '';
    w.stale = false;
    w.visited = 0;
    w.lookups.clear();
    return w;
  }

  #newWalk(options: ResolveOptions, report: boolean): Walk {
    return {
      namespace: checkedNamespace(options.namespace ?? ''),
      principal: options.principal,
      purpose: options.purpose ?? 'return',
      now: this.now(),
      path: [],
      depth: 0,
      base: options.field ?? '',
      fetched: undefined,
      missing: undefined,
      uses: report ? [] : undefined,
      stale: false,
      errors: undefined,
      visited: 0,
      reportFrom: 0,
      lookups: new LookupLog(),
    };
  }

  async #complete(value: unknown, walk: Walk, started: number, options: ResolveOptions): Promise<ResolveReport> {
    try {
      await this.#fetchMissing(walk.missing ?? [], walk);
      walk.missing = undefined;
      if (walk.uses) walk.uses = [];
      walk.depth = 0;
      walk.visited = 0;
      walk.lookups.clear();
      const out = this.#walk(value, walk);
      if (out === PENDING)
        throw new StoreUnavailableError('a value was evicted while it was being resolved; retry');
      this.#reportLookups(walk);
      this.observer.onResolve?.((performance.now() - started) / 1000, true);
      return this.#report(out, walk);
    } catch (err) {
      this.#reportLookups(walk);
      this.observer.onResolve?.((performance.now() - started) / 1000, false);
      return this.#failure(err, value, options, walk.fetched, walk.visited);
    }
  }

  /** Report the lookups a walk made (see `Walk.lookups`) and forget them. */
  #reportLookups(walk: Walk): void {
    walk.lookups.report(this.observer);
  }

  /**
   * A resolve failed at `err`, the first failing reference in document order of its walk. When
   * that is a failure of one reference (not of the caller, not bad input), walk the document once
   * more collecting every reference's error — with the fetches already made, so no store is asked
   * twice — and reject with the first, its message naming the others, so a document of 20
   * references with 3 wrong ones is fixed in one round.
   */
  async #failure(
    err: unknown,
    value: unknown,
    options: ResolveOptions,
    fetched: Walk['fetched'],
    reached: number,
  ): Promise<never> {
    if (!isReferenceFailure(err)) throw err;
    let errors: Error[];
    try {
      const walk = this.#newWalk(options, false);
      walk.fetched = fetched;
      walk.errors = [];
      walk.reportFrom = Number.POSITIVE_INFINITY;
      this.#walk(value, walk);
      if (walk.missing !== undefined) await this.#fetchMissing(walk.missing, walk);
      walk.missing = undefined;
      walk.errors = [];
      walk.depth = 0;
      walk.visited = 0;
      // The references past the one that failed were looked up only by this walk: count them here.
      walk.reportFrom = reached;
      walk.lookups.clear();
      this.#walk(value, walk);
      this.#reportLookups(walk);
      errors = walk.errors;
    } catch {
      // Collecting is a courtesy: whatever stops it, the first error stands.
      throw err;
    }
    // The first in document order leads (a missing store is found before any fetch, a missing
    // secret after; the document's order is the one a reader follows).
    const first = errors[0];
    if (!(first instanceof SesameError)) throw err;
    const others = errors.slice(1);
    if (others.length === 0) throw first;
    const listed = others
      .slice(0, MAX_LISTED_FAILURES)
      .map((e) => `${e.message.slice(0, referencePrefixLength(e))}: ${(e as SesameError).code ?? 'error'}`)
      .join('; ');
    const more = others.length > MAX_LISTED_FAILURES ? `; and ${others.length - MAX_LISTED_FAILURES} more` : '';
    const copy = Object.create(Object.getPrototypeOf(first)) as SesameError;
    Object.assign(copy, first);
    copy.message = `${first.message} — ${others.length} more reference${others.length === 1 ? '' : 's'} failed: ${listed}${more}`;
    copy.stack = `${first.name}: ${copy.message}`;
    if (first.cause !== undefined) copy.cause = first.cause;
    throw copy;
  }

  #report(value: unknown, walk: Walk): ResolveReport {
    return {
      value,
      stale: walk.stale,
      references: (walk.uses ?? []).map((u) => ({
        reference: u.plan.slot.raw,
        field: u.field,
        store: u.binding.config.name,
        outcome: u.outcome,
        version: u.entry?.secret.version,
        namespace: u.entry?.secret.namespace,
      })),
    };
  }

  #plan(s: string, walk: Walk): Plan {
    let plan = this.#plans.get(s);
    if (plan === undefined) {
      const compiled = compileTemplate(s, spellPath(walk) || undefined, undefined, this.#dialects);
      const slots = new Map<ReferenceSlot, PlanSlot>();
      const toSlot = (slot: ReferenceSlot): PlanSlot => {
        checkSecretName(slot, spellPath(walk));
        const key = slot.ref.key;
        const planSlot: PlanSlot = {
          slot,
          pointer: key !== undefined && isPointerKey(key) ? parsePointer(key) : undefined,
          memoNamespace: undefined,
          memoGeneration: -1,
          binding: undefined,
          key: '',
        };
        slots.set(slot, planSlot);
        return planSlot;
      };
      const parts = compiled.parts.map((p) => (typeof p === 'string' ? p : toSlot(p)));
      plan = {
        parts,
        whole: compiled.whole ? slots.get(compiled.whole) : undefined,
        count: compiled.count,
      };
      if (s.length <= MAX_PLAN_CHARS) {
        if (this.#plans.size >= MAX_PLANS || this.#planChars + s.length > MAX_PLAN_CHARS) {
          this.#plans.clear();
          this.#planChars = 0;
        }
        this.#plans.set(s, plan);
        this.#planChars += s.length;
      }
    }
    return plan;
  }

  /** The value of one reference, or PENDING when it must be fetched first. */
  #value(p: PlanSlot, walk: Walk): unknown {
    const generation = this.bindings.generation;
    walk.visited++;
    // Lookups are kept only for an observer that counts them (the server's metrics).
    const counted =
      this.observer.onLookup !== undefined && (walk.errors === undefined || walk.visited > walk.reportFrom);
    if (p.memoNamespace !== walk.namespace || p.memoGeneration !== generation) {
      let binding: StoreBinding;
      try {
        binding = this.bindings.get(p.slot.ref.store, walk.namespace);
      } catch (err) {
        if (walk.errors === undefined) throw this.#locate(err, p, walk);
        walk.errors.push(this.#locate(err, p, walk));
        return undefined;
      }
      const { ref } = p.slot;
      p.binding = binding;
      p.key = `${binding.keyPrefix(walk.namespace)}${ref.name}\u0000${ref.version ?? ''}\u0000${ref.stage ?? ''}`;
      p.memoNamespace = walk.namespace;
      p.memoGeneration = generation;
    }
    const binding = p.binding as StoreBinding;
    // The authorization point: before the cache or the store is read, for every reference.
    if (walk.principal !== undefined)
      this.access.checkRead(walk.principal, walk.namespace, binding, walk.purpose);
    let entry: CacheEntry | undefined;
    let outcome: CacheOutcome = 'hit';
    const fetched = walk.fetched?.get(binding)?.get(p.key);
    if (fetched !== undefined) {
      if (fetched instanceof Error) {
        if (counted) walk.lookups.add(binding, 'miss');
        if (walk.errors !== undefined) {
          walk.errors.push(this.#locate(fetched, p, walk));
          return undefined;
        }
        throw this.#locate(fetched, p, walk);
      }
      entry = fetched.entry;
      outcome = fetched.outcome;
      if (outcome === 'stale') walk.stale = true;
    } else {
      entry = binding.cache.freshAt(p.key, walk.now);
      if (entry !== undefined && binding.cache.wantsRefreshAhead(entry, walk.now))
        this.#refreshAhead(binding, p, walk);
    }
    // A miss is counted once, by the walk after the fetch, with how it was served (a walk
    // collecting errors counts only the references the walk that failed did not reach).
    if (entry !== undefined && counted) walk.lookups.add(binding, outcome);
    if (entry === undefined) {
      walk.missing ??= [];
      walk.missing.push({
        plan: p,
        field: spellPath(walk),
        binding,
        key: p.key,
        entry: undefined,
        outcome: 'miss',
        error: undefined,
      });
      return PENDING;
    }
    walk.uses?.push({
      plan: p,
      field: spellPath(walk),
      binding,
      key: p.key,
      entry,
      outcome,
      error: undefined,
    });
    try {
      return this.#extract(p, entry);
    } catch (err) {
      if (walk.errors === undefined) throw this.#locate(err, p, walk);
      walk.errors.push(this.#locate(err, p, walk));
      return undefined;
    }
  }

  /** Build the output; PENDING when some reference still has to be fetched. */
  #walk(value: unknown, walk: Walk): unknown {
    if (typeof value === 'string') {
      const plan =
        this.#plans.get(value) ??
        (mayHoldReferences(value, this.#dialects) ? this.#plan(value, walk) : undefined);
      if (plan === undefined) return value;
      if (plan.count === 0) return value;
      if (plan.whole) return this.#value(plan.whole, walk);
      let out = '';
      let pending = false;
      for (const part of plan.parts) {
        if (typeof part === 'string') {
          out += part;
          continue;
        }
        const v = this.#value(part, walk);
        if (v === PENDING) pending = true;
        else if (!pending) out += typeof v === 'string' ? v : JSON.stringify(v);
      }
      return pending ? PENDING : out;
    }
    if (Array.isArray(value)) {
      if (walk.depth >= MAX_DEPTH) throw this.#tooDeep(walk);
      const out: unknown[] = new Array(value.length);
      let pending = false;
      for (let i = 0; i < value.length; i++) {
        walk.path[walk.depth++] = i;
        const v = this.#walk(value[i], walk);
        walk.depth--;
        if (v === PENDING) pending = true;
        out[i] = v;
      }
      return pending ? PENDING : out;
    }
    if (isPlainObject(value)) {
      if (walk.depth >= MAX_DEPTH) throw this.#tooDeep(walk);
      // Spread clones the shape in one step; only fields that change are written after.
      const out: Record<string, unknown> = { ...value };
      let pending = false;
      for (const k in value) {
        const item = value[k];
        if (typeof item !== 'object' && typeof item !== 'string') continue;
        walk.path[walk.depth++] = k;
        const v = this.#walk(item, walk);
        walk.depth--;
        if (v === PENDING) pending = true;
        else if (v !== item) out[k] = v;
      }
      return pending ? PENDING : out;
    }
    return value;
  }

  /** The walk is recursive: past the depth limit it stops with an error that names it, not a stack overflow. */
  #tooDeep(walk: Walk): DocumentLimitError {
    return new DocumentLimitError({ limit: 'maxDepth', max: MAX_DEPTH, field: spellPath(walk) });
  }

  #request(p: PlanSlot, namespace: string): SecretRequest {
    return {
      name: p.slot.ref.name,
      version: p.slot.ref.version,
      stage: p.slot.ref.stage,
      namespaces: namespaceChain(namespace, this.bindings.config.namespaces),
    };
  }

  /** Group misses by store, one fetch per distinct secret, coalesced with fetches in flight. */
  async #fetchMissing(missing: Use[], walk: Walk): Promise<void> {
    const byBinding = new Map<StoreBinding, Map<string, Use>>();
    for (const use of missing) {
      let keys = byBinding.get(use.binding);
      if (!keys) {
        keys = new Map();
        byBinding.set(use.binding, keys);
      }
      if (!keys.has(use.key)) keys.set(use.key, use);
    }
    walk.fetched ??= new Map();
    const waits: Array<Promise<void>> = [];
    for (const [binding, keys] of byBinding) {
      const results = new Map<string, LoadResult | Error>();
      walk.fetched.set(binding, results);
      const keyList = [...keys.keys()];
      const loads = binding.cache.loadMany(keyList, (toFetch) =>
        this.#fetch(
          binding,
          toFetch.map((k) => this.#request((keys.get(k) as Use).plan, walk.namespace)),
        ),
      );
      keyList.forEach((key, i) => {
        waits.push(
          (loads[i] as Promise<LoadResult>).then(
            (r) => {
              results.set(key, r);
            },
            (err: unknown) => {
              results.set(key, err instanceof Error ? err : new Error(String(err)));
            },
          ),
        );
      });
    }
    await Promise.all(waits);
  }

  /** One backend round: `getMany` when the store batches, else concurrent `get`s. */
  async #fetch(binding: StoreBinding, requests: SecretRequest[]): Promise<Array<FetchedSecret | Error>> {
    const client = await binding.client();
    const timed = async <R>(operation: 'get' | 'getMany', call: () => Promise<R>): Promise<R> => {
      const t0 = performance.now();
      binding.cache.stats.storeCalls++;
      try {
        const r = await call();
        this.observer.onStoreCall?.(binding, operation, true, (performance.now() - t0) / 1000);
        return r;
      } catch (err) {
        this.observer.onStoreCall?.(binding, operation, false, (performance.now() - t0) / 1000);
        throw err;
      }
    };
    let outcomes: Array<FetchedSecret | Error>;
    if (client.getMany && requests.length > 1) {
      outcomes = await timed('getMany', () => client.getMany!(requests)).catch((err: unknown) =>
        requests.map(() => this.#wrap(binding, err)),
      );
    } else {
      outcomes = await Promise.all(
        requests.map((r) =>
          timed('get', () => client.get(r)).catch((err: unknown) => this.#wrap(binding, err)),
        ),
      );
    }
    for (const o of outcomes) if (!(o instanceof Error)) this.#remember(o);
    return outcomes;
  }

  /** Teach the redactor the value and every string inside it (so extracted keys are masked too). */
  #remember(secret: FetchedSecret): void {
    const text = typeof secret.value === 'string' ? secret.value : Buffer.from(secret.value).toString('utf8');
    this.redactor.add(text);
    if (typeof secret.value !== 'string') this.redactor.add(Buffer.from(secret.value).toString('base64'));
    const first = text.trimStart()[0];
    if (first === '{' || first === '[') {
      try {
        const walk = (v: unknown): void => {
          if (typeof v === 'string') this.redactor.add(v);
          else if (typeof v === 'number' || typeof v === 'boolean') this.redactor.add(String(v));
          else if (Array.isArray(v)) v.forEach(walk);
          else if (v && typeof v === 'object') Object.values(v).forEach(walk);
        };
        walk(JSON.parse(text));
      } catch {
        // Not JSON: the whole text is already known.
      }
    }
  }

  #wrap(binding: StoreBinding, err: unknown): Error {
    if (err instanceof SesameError) return err;
    // Not one of ours: its message may quote what the adapter was reading (V8 quotes the JSON it
    // could not parse), a value not known to masking yet. Say what failed, keep no raw cause.
    const detail = this.redactor.redact(describeUnexpected(err));
    const cause = new Error(detail);
    cause.name = err instanceof Error ? err.name : typeof err;
    return new StoreUnavailableError(`[${binding.config.name}] ${detail}`, {}, { cause });
  }

  /**
   * The error with the reference and field it came from, so that one failure among many
   * references says which one. Errors about one reference that are not ResolutionErrors (no
   * such store, a pin or operation the store refuses) get the same prefix on a copy: the error
   * may be shared by every waiter of a coalesced fetch. Errors about the caller (its token's
   * scope or role) and syntax errors (which name their field already) are left as they are.
   */
  #locate(err: unknown, p: PlanSlot, walk: Walk): Error {
    const field = spellPath(walk);
    if (err instanceof ResolutionError)
      return err.locate({ reference: p.slot.raw, field: field || undefined });
    if (err instanceof SesameError && !(err instanceof ForbiddenError) && !(err instanceof ReferenceSyntaxError)) {
      const where = field ? `${p.slot.raw} (field ${field})` : p.slot.raw;
      if (err.message.startsWith(where)) return err;
      const copy = Object.create(Object.getPrototypeOf(err)) as SesameError;
      Object.assign(copy, err);
      copy.message = `${where}: ${err.message}`;
      copy.stack = `${err.name}: ${copy.message}`;
      if (err.cause !== undefined) copy.cause = err.cause;
      return copy;
    }
    if (err instanceof Error) return err;
    return new Error(String(err));
  }

  #extract(p: PlanSlot, entry: CacheEntry): unknown {
    const key = p.slot.ref.key;
    if (key === undefined) return entry.text;
    if (entry.json === undefined) {
      try {
        entry.json = { ok: true, value: JSON.parse(entry.text) };
        // The parse stays with the entry: it counts against the store's maxBytes from now on.
        (p.binding as StoreBinding).cache.resize(p.key, entry);
      } catch {
        entry.json = { ok: false };
      }
    }
    if (!entry.json.ok) {
      throw new KeyNotFoundError(
        `the secret is not JSON, so it has no key "${key}"${queryAfterFragment(key)}`,
      );
    }
    const doc = entry.json.value;
    if (p.pointer !== undefined) {
      const found = evaluatePointer(doc, p.pointer);
      if (!found.found) {
        throw new KeyNotFoundError(
          `no value at JSON Pointer ${key} (nothing at ${found.failedAt})${queryAfterFragment(key)}`,
        );
      }
      return found.value;
    }
    if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && Object.hasOwn(doc, key)) {
      return (doc as Record<string, unknown>)[key];
    }
    throw new KeyNotFoundError(
      `no key "${key}" in the secret (keys are literal, dots included; use #/a/b for a nested value)${queryAfterFragment(key)}`,
    );
  }

  #refreshAhead(binding: StoreBinding, p: PlanSlot, walk: Walk): void {
    // A background refetch that replaces the entry; the current value is served meanwhile and
    // kept if the refetch fails.
    const request = this.#request(p, walk.namespace);
    binding.cache.refreshInBackground(p.key, () => this.#fetch(binding, [request]));
  }

  /**
   * Drop cached values for one reference (every namespace that cached it). With `scope`, a
   * namespace-aware store's entries cached for namespaces outside the scope stay.
   */
  refreshReference(reference: string, namespace: string, scope = ''): number {
    let dropped = 0;
    this.#syncDialects();
    const { parts, count } = compileTemplate(reference, undefined, undefined, this.#dialects);
    // A bare name ("jira-token") is the likely mistake after a rotation: dropping nothing and
    // answering success would leave the old value served until its TTL.
    if (count === 0)
      throw new UsageError(
        `nothing to refresh: ${JSON.stringify(reference)} holds no reference; write it as secret://<store>/<name>, e.g. secret://builtin/db/password`,
      );
    for (const part of parts) {
      if (typeof part === 'string') continue;
      const { store, name, version, stage } = part.ref;
      const pinned = version !== undefined || stage !== undefined;
      const binding = this.bindings.get(store, namespace);
      const scoped = scope !== '' && binding.type.capabilities.namespaced;
      dropped += binding.cache.invalidate((k) => {
        const [keyNamespace = '', keyName, keyVersion, keyStage] = k.split('\u0000');
        if (scoped && !covers(scope, keyNamespace)) return false;
        return (
          keyName === name && (!pinned || (keyVersion === (version ?? '') && keyStage === (stage ?? '')))
        );
      });
    }
    return dropped;
  }
}

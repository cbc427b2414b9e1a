/**
 * The resolver: walk any JSON-like value, collect references, fetch each distinct secret once
 * per call (batched per store where the store can), extract keys, inject values.
 *
 * Warm path: compiled templates are memoized per string, store lookups per (namespace, store),
 * and a fresh cache entry costs one LRU lookup — no promise per reference, no allocation but the
 * output object.
 */
import {
  KeyNotFoundError,
  ResolutionError,
  SesameError,
  StoreUnavailableError,
} from '../errors.js';
import { evaluatePointer, parsePointer } from '../refs/pointer.js';
import { isPointerKey } from '../refs/reference.js';
import { type CompiledTemplate, compileTemplate, mayHoldReferences, type ReferenceSlot } from '../refs/template.js';
import type { Redactor } from '../redact/redactor.js';
import type { FetchedSecret, SecretRequest } from '../stores/contract.js';
import type { CacheEntry, CacheOutcome, LoadResult } from './cache.js';
import type { StoreBinding, StoreBindings } from './bindings.js';
import { namespaceChain } from '../config/schema.js';

export interface ResolveOptions {
  /** The caller's namespace (`acme.devops`); the root namespace when absent. */
  namespace?: string | undefined;
  /** Field path of `value` inside a larger document, for messages. */
  field?: string | undefined;
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

interface Slot {
  slot: ReferenceSlot;
  field: string;
  binding: StoreBinding;
  key: string;
  entry: CacheEntry | undefined;
  outcome: CacheOutcome;
  error: Error | undefined;
}

const MAX_TEMPLATES = 10_000;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export class Resolver {
  readonly #templates = new Map<string, CompiledTemplate>();
  readonly #pointers = new Map<string, string[]>();

  constructor(
    private readonly bindings: StoreBindings,
    private readonly redactor: Redactor,
    private readonly observer: ResolverObserver = {},
  ) {}

  /**
   * Resolve every reference in `value`.
   *
   * @example
   * const fields = await resolver.resolve({ token: '{{ secret://aws/jira#token }}' }, { namespace: 'acme' });
   */
  async resolve<T = unknown>(value: unknown, options: ResolveOptions = {}): Promise<T> {
    return (await this.#run(value, options, false)).value as T;
  }

  /** Like {@link resolve}, and says where each value came from (cache, store, stale). */
  async resolveDetailed<T = unknown>(value: unknown, options: ResolveOptions = {}): Promise<ResolveReport<T>> {
    return (await this.#run(value, options, true)) as ResolveReport<T>;
  }

  #compile(s: string, field: string): CompiledTemplate {
    let compiled = this.#templates.get(s);
    if (compiled === undefined) {
      compiled = compileTemplate(s, field || undefined);
      if (this.#templates.size >= MAX_TEMPLATES) this.#templates.clear();
      this.#templates.set(s, compiled);
    }
    return compiled;
  }

  #collect(value: unknown, field: string, namespace: string, slots: Slot[]): void {
    if (typeof value === 'string') {
      if (!mayHoldReferences(value)) return;
      const compiled = this.#compile(value, field);
      if (compiled.count === 0) return;
      for (const part of compiled.parts) {
        if (typeof part === 'string') continue;
        const binding = this.bindings.find(part.ref.store, namespace) ?? this.bindings.get(part.ref.store, namespace);
        const { ref } = part;
        const key = `${binding.keyPrefix(namespace)}${ref.name}\u0000${ref.version ?? ''}\u0000${ref.stage ?? ''}`;
        const entry = binding.cache.fresh(key);
        if (entry !== undefined && binding.cache.wantsRefreshAhead(entry)) this.#refreshAhead(binding, key, part, namespace);
        slots.push({ slot: part, field, binding, key, entry, outcome: entry ? 'hit' : 'miss', error: undefined });
      }
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) this.#collect(value[i], `${field}[${i}]`, namespace, slots);
    } else if (isPlainObject(value)) {
      for (const k in value) this.#collect(value[k], field ? `${field}.${k}` : k, namespace, slots);
    }
  }

  async #run(value: unknown, options: ResolveOptions, report: boolean): Promise<ResolveReport> {
    const started = this.observer.onResolve ? performance.now() : 0;
    const namespace = options.namespace ?? '';
    try {
      const slots: Slot[] = [];
      this.#collect(value, options.field ?? '', namespace, slots);
      let missing = false;
      for (const s of slots) {
        this.observer.onLookup?.(s.binding, s.outcome);
        if (s.entry === undefined) missing = true;
      }
      if (missing) await this.#fetchMissing(slots, namespace);
      let stale = false;
      const values = slots.map((s) => {
        if (s.error) throw this.#locate(s.error, s);
        if (s.outcome === 'stale') stale = true;
        try {
          return this.#extract(s);
        } catch (err) {
          throw this.#locate(err, s);
        }
      });
      const cursor = { i: 0 };
      const out = slots.length === 0 ? value : this.#build(value, values, cursor);
      this.observer.onResolve?.((performance.now() - started) / 1000, true);
      if (!report) return { value: out, stale, references: [] };
      return {
        value: out,
        stale,
        references: slots.map((s) => ({
          reference: s.slot.raw,
          field: s.field,
          store: s.binding.config.name,
          outcome: s.outcome,
          version: s.entry?.secret.version,
          namespace: s.entry?.secret.namespace,
        })),
      };
    } catch (err) {
      this.observer.onResolve?.((performance.now() - started) / 1000, false);
      throw err;
    }
  }

  #request(slot: ReferenceSlot, namespace: string): SecretRequest {
    return {
      name: slot.ref.name,
      version: slot.ref.version,
      stage: slot.ref.stage,
      namespaces: namespaceChain(namespace, this.bindings.config.namespaces),
    };
  }

  /** Group misses by store, one fetch per distinct secret, coalesced with fetches in flight. */
  async #fetchMissing(slots: Slot[], namespace: string): Promise<void> {
    const byBinding = new Map<StoreBinding, Map<string, Slot[]>>();
    for (const s of slots) {
      if (s.entry !== undefined) continue;
      let keys = byBinding.get(s.binding);
      if (!keys) {
        keys = new Map();
        byBinding.set(s.binding, keys);
      }
      const list = keys.get(s.key);
      if (list) list.push(s);
      else keys.set(s.key, [s]);
    }
    const waits: Array<Promise<void>> = [];
    for (const [binding, keys] of byBinding) {
      const keyList = [...keys.keys()];
      const requests = new Map(keyList.map((k) => [k, this.#request((keys.get(k) as Slot[])[0]!.slot, namespace)]));
      const loads = binding.cache.loadMany(keyList, (toFetch) =>
        this.#fetch(
          binding,
          toFetch.map((k) => requests.get(k) as SecretRequest),
        ),
      );
      keyList.forEach((key, i) => {
        waits.push(
          (loads[i] as Promise<LoadResult>).then(
            (r) => {
              for (const s of keys.get(key) as Slot[]) {
                s.entry = r.entry;
                s.outcome = r.outcome;
                this.observer.onLookup?.(s.binding, r.outcome === 'miss' ? 'miss' : r.outcome);
              }
            },
            (err: unknown) => {
              for (const s of keys.get(key) as Slot[]) s.error = err instanceof Error ? err : new Error(String(err));
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
        requests.map((r) => timed('get', () => client.get(r)).catch((err: unknown) => this.#wrap(binding, err))),
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
    const detail = err instanceof Error ? err.message : String(err);
    return new StoreUnavailableError(`[${binding.config.name}] ${this.redactor.redact(detail)}`, {}, { cause: err });
  }

  #locate(err: unknown, s: Slot): Error {
    const ctx = { reference: s.slot.raw, field: s.field || undefined };
    if (err instanceof ResolutionError) return err.locate(ctx);
    if (err instanceof Error) return err;
    return new Error(String(err));
  }

  #extract(s: Slot): unknown {
    const entry = s.entry as CacheEntry;
    const key = s.slot.ref.key;
    if (key === undefined) return entry.text;
    if (entry.json === undefined) {
      try {
        entry.json = { ok: true, value: JSON.parse(entry.text) };
      } catch {
        entry.json = { ok: false };
      }
    }
    if (!entry.json.ok) {
      throw new KeyNotFoundError(`the secret is not JSON, so it has no key "${key}"`);
    }
    const doc = entry.json.value;
    if (isPointerKey(key)) {
      let tokens = this.#pointers.get(key);
      if (!tokens) {
        tokens = parsePointer(key);
        if (this.#pointers.size >= MAX_TEMPLATES) this.#pointers.clear();
        this.#pointers.set(key, tokens);
      }
      const found = evaluatePointer(doc, tokens);
      if (!found.found) throw new KeyNotFoundError(`no value at JSON Pointer ${key} (nothing at ${found.failedAt})`);
      return found.value;
    }
    if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && Object.hasOwn(doc, key)) {
      return (doc as Record<string, unknown>)[key];
    }
    throw new KeyNotFoundError(
      `no key "${key}" in the secret (keys are literal, dots included; use #/a/b for a nested value)`,
    );
  }

  #build(value: unknown, values: unknown[], cursor: { i: number }): unknown {
    if (typeof value === 'string') {
      if (!mayHoldReferences(value)) return value;
      const compiled = this.#templates.get(value) ?? compileTemplate(value);
      if (compiled.count === 0) return value;
      if (compiled.whole) return values[cursor.i++];
      let out = '';
      for (const part of compiled.parts) {
        if (typeof part === 'string') out += part;
        else {
          const v = values[cursor.i++];
          out += typeof v === 'string' ? v : JSON.stringify(v);
        }
      }
      return out;
    }
    if (Array.isArray(value)) return value.map((v) => this.#build(v, values, cursor));
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = {};
      for (const k in value) out[k] = this.#build(value[k], values, cursor);
      return out;
    }
    return value;
  }

  #refreshAhead(binding: StoreBinding, key: string, slot: ReferenceSlot, namespace: string): void {
    // A background refetch that replaces the entry; failures keep the current value.
    const evicted = binding.cache.invalidate((k) => k === key);
    if (evicted === 0) return;
    const [load] = binding.cache.loadMany([key], (keys) =>
      this.#fetch(
        binding,
        keys.map(() => this.#request(slot, namespace)),
      ),
    );
    load?.catch(() => {});
  }

  /** Drop cached values for one reference (every namespace that cached it). */
  refreshReference(reference: string, namespace: string): number {
    let dropped = 0;
    for (const part of compileTemplate(reference).parts) {
      if (typeof part === 'string') continue;
      const { store, name, version, stage } = part.ref;
      const pinned = version !== undefined || stage !== undefined;
      dropped += this.bindings.get(store, namespace).cache.invalidate((k) => {
        const [, keyName, keyVersion, keyStage] = k.split('\u0000');
        return keyName === name && (!pinned || (keyVersion === (version ?? '') && keyStage === (stage ?? '')));
      });
    }
    return dropped;
  }
}

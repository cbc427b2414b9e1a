/**
 * The store contract suite: the specification every store type meets, run through its real
 * client (against an emulator for cloud stores). Adding a store type means passing this file.
 *
 * What a harness offers decides what is proven: `faults` (the emulator's fault injection) adds
 * error classification, retries and stale-if-error; `seedBinary` adds binary values;
 * `prefixed` adds prefix round trips; `settings` lets the suite resolve through a whole Sesame.
 *
 * @example
 * runStoreContract({ label: 'env', storeType: envStoreType, harness: async () => ({ ... }) });
 */
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  SecretNotFoundError,
  SesameError,
  StoreThrottledError,
  StoreUnavailableError,
} from '../../src/errors.js';
import { createSesame } from '../../src/sesame.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import type { FetchedSecret, StoreClient, StoreContext, StoreType } from '../../src/stores/contract.js';
import { StoreTypeRegistry } from '../../src/stores/registry.js';
import { capabilityMismatches } from '../../src/stores/core/index.js';
import type { FaultControls } from '../emulators/faults.js';

export interface ContractHarness {
  client: StoreClient;
  /** Put a text secret into the backend (directly, or through `client.write`). */
  seed(name: string, value: string): Promise<void>;
  /** Put bytes that are not UTF-8 into the backend (stores that serve binary values). */
  seedBinary?(name: string, value: Uint8Array): Promise<void>;
  /** The emulator's fault injection (network and cloud stores). */
  faults?: FaultControls;
  /**
   * The store's settings as a config gives them (without name, type and cache), pointing at
   * the same backend: the suite resolves through a whole Sesame with them.
   */
  settings?: Record<string, unknown>;
  /** How that Sesame makes the client, when the test client needs hooks (a CA to trust). */
  create?: (settings: never, context: StoreContext) => StoreClient;
  /** A client of the same backend whose settings add `prefix`, seeded through the plain `seed`. */
  prefixed?: { prefix: string; client: StoreClient };
  /** Namespace chain passed to the client (namespace-aware stores). */
  namespaces?: readonly string[];
  /** Namespace used for writes. */
  namespace?: string;
  close?(): Promise<void>;
}

export interface ContractOptions {
  label: string;
  storeType: StoreType<unknown>;
  harness: () => Promise<ContractHarness>;
  /** Whether names may contain `/` (file paths, Vault paths…). Default true. */
  slashNames?: boolean;
  /** Transform a logical test name into one the backend accepts (e.g. env var names). */
  name?: (base: string) => string;
  /** The store serves bytes that are not UTF-8 as bytes (the harness gives `seedBinary`). */
  binary?: boolean;
  /** The type has a `prefix` setting (default true): the harness gives `prefixed`. */
  prefix?: boolean;
}

const text = (s: FetchedSecret) =>
  typeof s.value === 'string' ? s.value : Buffer.from(s.value).toString('utf8');

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a failure, got a value');
    },
    (e: unknown) => e as Error,
  );
}

let counter = 0;

export function runStoreContract(options: ContractOptions): void {
  const { label, storeType } = options;
  const caps = storeType.capabilities;
  const nm = (base: string) => {
    counter += 1;
    const raw = `${base}_${process.pid}_${counter}`;
    return options.name ? options.name(raw) : raw;
  };

  describe(`store contract: ${label}`, () => {
    let h: ContractHarness;
    let ns: readonly string[];
    let writeNs: string;

    beforeAll(async () => {
      h = await options.harness();
      ns = h.namespaces ?? [''];
      writeNs = h.namespace ?? ns[0] ?? '';
    });
    afterEach(() => h?.faults?.clear());
    afterAll(async () => {
      await h?.client.close();
      await h?.prefixed?.client.close();
      await h?.close?.();
    });

    it('declares a type name and a strict settings schema', () => {
      expect(storeType.type).toMatch(/^[a-z0-9][a-z0-9-]*$/);
      const parsed = storeType.settings.safeParse({ definitelyNotASetting: 1 });
      expect(parsed.success).toBe(false);
    });

    it('declares capabilities that match the methods its client has', () => {
      expect(capabilityMismatches(caps, h.client)).toEqual([]);
    });

    it('returns a seeded text value exactly', async () => {
      const name = nm('plain');
      const value = 'pässwörd-{"x":1}-\u00e9\u4e2d';
      await h.seed(name, value);
      const got = await h.client.get({ name, namespaces: ns });
      expect(text(got)).toBe(value);
    });

    it('returns JSON secrets as their text', async () => {
      const name = nm('json');
      const value = JSON.stringify({ 'prod.jira.secret.key': 'tok-123', nested: { a: [1, 2] } });
      await h.seed(name, value);
      expect(text(await h.client.get({ name, namespaces: ns }))).toBe(value);
    });

    if (options.slashNames !== false) {
      it('accepts names with slashes', async () => {
        const name = `${nm('dir')}/sub/leaf`;
        await h.seed(name, 'slash-value-1');
        expect(text(await h.client.get({ name, namespaces: ns }))).toBe('slash-value-1');
      });
    }

    it('reports a missing secret as SecretNotFoundError (code not_found, 404), not as a failure', async () => {
      const err = await failure(h.client.get({ name: nm('missing'), namespaces: ns }));
      expect(err.constructor).toBe(SecretNotFoundError);
      expect(err).toMatchObject({ code: 'not_found', status: 404, exitCode: 1 });
    });

    if (caps.versions || caps.write) {
      it('keeps the value of an existing secret out of the errors its reads and writes raise', async () => {
        const name = nm('errval');
        const value = 'never-in-an-error-7f3a';
        await h.seed(name, value);
        const errors: Error[] = [];
        if (caps.versions)
          errors.push(await failure(h.client.get({ name, version: '999999', namespaces: ns })));
        if (caps.write) {
          const cas = await h.client
            .write?.(name, 'another-value-9c1d', { namespace: writeNs, expectedVersion: '424242' })
            .then(
              () => undefined,
              (e: unknown) => e as Error,
            );
          if (cas) errors.push(cas);
        }
        expect(errors.length).toBeGreaterThan(0);
        for (const err of errors) {
          expect(err).toBeInstanceOf(SesameError);
          expect(`${err.message} ${(err as SesameError).fix ?? ''} ${String(err.cause ?? '')}`).not.toContain(
            value,
          );
          expect(err.message).not.toContain('another-value-9c1d');
        }
      });
    }

    if (caps.batch) {
      it('fetches several secrets in one getMany, in order, with per-item errors', async () => {
        expect(typeof h.client.getMany).toBe('function');
        const a = nm('batch_a');
        const b = nm('batch_b');
        await h.seed(a, 'value-a');
        await h.seed(b, 'value-b');
        const results = await h.client.getMany!([
          { name: b, namespaces: ns },
          { name: nm('batch_missing'), namespaces: ns },
          { name: a, namespaces: ns },
        ]);
        expect(results).toHaveLength(3);
        expect(text(results[0] as FetchedSecret)).toBe('value-b');
        expect(results[1]?.constructor).toBe(SecretNotFoundError);
        expect(text(results[2] as FetchedSecret)).toBe('value-a');
      });
    }

    it('lists names and metadata, never values, page after page', async () => {
      const name = nm('listed');
      const value = 'listed-value-never-shown';
      await h.seed(name, value);
      for (let i = 0; i < 3; i++) await h.seed(nm('listed_more'), `more-${i}`);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await h.client.list({ namespaces: ns, cursor, limit: 2 });
        expect(page.items.length).toBeLessThanOrEqual(2);
        expect(JSON.stringify(page)).not.toContain(value);
        seen.push(...page.items.map((i) => i.name));
        cursor = page.cursor;
        pages += 1;
      } while (cursor && pages < 1_000);
      expect(cursor, 'the listing never ended').toBeUndefined();
      expect(seen).toContain(name);
      expect(new Set(seen).size, 'a name was listed twice').toBe(seen.length);
    });

    it('lists by prefix', async () => {
      const prefix = nm('pfx');
      await h.seed(`${prefix}_one`, 'p1');
      await h.seed(`${prefix}_two`, 'p2');
      const page = await h.client.list({ namespaces: ns, prefix });
      const names = page.items.map((i) => i.name).sort();
      expect(names).toEqual([`${prefix}_one`, `${prefix}_two`]);
    });

    if (caps.write) {
      it('writes through the client and reads back the newest version', async () => {
        const name = nm('written');
        const first = await h.client.write!(name, 'first-value', { namespace: writeNs });
        const second = await h.client.write!(name, 'second-value', { namespace: writeNs });
        expect(second.version).not.toBe(first.version);
        expect(text(await h.client.get({ name, namespaces: ns }))).toBe('second-value');
        if (caps.versions) {
          const pinned = await h.client.get({ name, version: first.version, namespaces: ns });
          expect(text(pinned)).toBe('first-value');
        }
      });

      it('deletes, after which reads are not found', async () => {
        const name = nm('deleted');
        await h.client.write!(name, 'to-delete', { namespace: writeNs });
        await h.client.delete!(name, { namespace: writeNs });
        const err = await failure(h.client.get({ name, namespaces: ns }));
        expect(err.constructor).toBe(SecretNotFoundError);
        if (caps.restore) {
          await h.client.restore!(name, { namespace: writeNs });
          expect(text(await h.client.get({ name, namespaces: ns }))).toBe('to-delete');
        }
      });
    }

    if (caps.versions) {
      it('reports an unknown pinned version as SecretNotFoundError', async () => {
        const name = nm('vmissing');
        await h.seed(name, 'v');
        const err = await failure(h.client.get({ name, version: '999999', namespaces: ns }));
        expect(err.constructor).toBe(SecretNotFoundError);
        expect((err as SesameError).code).toBe('not_found');
      });
    }

    it('checks itself and says what it tried', async () => {
      const sample = nm('sample');
      await h.seed(sample, 'sample-value-xyz');
      const report = await h.client.check({ namespaces: ns, sample });
      expect(report.steps.length).toBeGreaterThan(0);
      expect(report.ok).toBe(true);
      for (const step of report.steps) expect(step.ok).toBe(true);
      expect(JSON.stringify(report)).not.toContain('sample-value-xyz');
    });

    if (options.binary) {
      it('returns bytes that are not UTF-8 as bytes, unchanged', async () => {
        const name = nm('binary');
        const bytes = new Uint8Array([0xff, 0x00, 0xfe, 0x80, 0x41, 0xc3]);
        await h.seedBinary!(name, bytes);
        const got = await h.client.get({ name, namespaces: ns });
        expect(got.value).toBeInstanceOf(Uint8Array);
        expect([...(got.value as Uint8Array)]).toEqual([...bytes]);
      });
    }
  });
}

/** The shipped store types, with `type` made by `create` when given. */
function registryWith(type: StoreType<unknown>, create: ContractHarness['create']): StoreTypeRegistry {
  const shipped = defaultStoreTypes();
  const registry = new StoreTypeRegistry();
  for (const name of shipped.types()) registry.register(name === type.type ? type : shipped.get(name));
  if (!shipped.has(type.type)) registry.register(type);
  if (create) {
    const replaced = new StoreTypeRegistry();
    for (const name of registry.types()) {
      const t = registry.get(name);
      replaced.register(name === type.type ? { ...t, create: create as StoreType<unknown>['create'] } : t);
    }
    return replaced;
  }
  return registry;
}

/**
 * The parts of the contract that need the backend's emulator: classification of denied,
 * unavailable and throttled answers into the exact error classes, retries of passing failures,
 * patience with a slow backend, stale-if-error through a whole Sesame, prefix round trips.
 */
export function runStoreFaultContract(options: ContractOptions): void {
  const { label, storeType } = options;
  const nm = (base: string) => {
    counter += 1;
    const raw = `${base}_${process.pid}_${counter}`;
    return options.name ? options.name(raw) : raw;
  };
  describe(`store contract (faults, prefix, stale-if-error): ${label}`, () => {
    let h: ContractHarness;
    let faults: FaultControls;
    const ns = [''];
    beforeAll(async () => {
      h = await options.harness();
      if (!h.faults || !h.settings || (options.prefix !== false && !h.prefixed))
        throw new Error(`${label}: the harness must give faults, settings and prefixed`);
      faults = h.faults;
    });
    afterEach(() => h?.faults?.clear());
    afterAll(async () => {
      await h?.client.close();
      await h?.prefixed?.client.close();
      await h?.close?.();
    });

    it('classifies a refusal as AccessDeniedError (access_denied, 403) with what to fix', async () => {
      const name = nm('denied');
      await h.seed(name, 'denied-value');
      faults.inject('denied');
      const err = await failure(h.client.get({ name, namespaces: ns }));
      expect(err.constructor).toBe(AccessDeniedError);
      expect(err).toMatchObject({ code: 'access_denied', status: 403 });
      expect((err as SesameError).fix ?? '').not.toBe('');
      expect(err.message).toMatch(/^\[[a-z0-9_-]+\] /);
    });

    it('keeps the value of an existing secret out of denied and unavailable errors', async () => {
      const name = nm('fault_leak');
      const value = 'never-in-a-fault-error-2b8e';
      await h.seed(name, value);
      for (const kind of ['denied', 'unavailable', 'throttled'] as const) {
        faults.inject(kind);
        const err = await failure(h.client.get({ name, namespaces: ns }));
        faults.clear();
        expect(`${err.message} ${(err as SesameError).fix ?? ''} ${String(err.cause ?? '')}`).not.toContain(
          value,
        );
      }
    });

    it('classifies a failing backend as StoreUnavailableError (store_unavailable, 503) after retrying', async () => {
      const name = nm('down');
      await h.seed(name, 'down-value');
      faults.inject('unavailable');
      const err = await failure(h.client.get({ name, namespaces: ns }));
      expect(err.constructor).toBe(StoreUnavailableError);
      expect(err).toMatchObject({ code: 'store_unavailable', status: 503 });
      expect(err.message).toMatch(/after \d+ attempts/);
    });

    it('classifies persistent throttling as StoreThrottledError (store_throttled), a kind of unavailable', async () => {
      const name = nm('throttled');
      await h.seed(name, 'throttled-value');
      faults.inject('throttled');
      const err = await failure(h.client.get({ name, namespaces: ns }));
      expect(err.constructor).toBe(StoreThrottledError);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as SesameError).code).toBe('store_throttled');
    });

    it('retries a passing outage and a passing throttle, then serves the value', async () => {
      const name = nm('passing');
      await h.seed(name, 'passing-value');
      faults.inject('unavailable', { times: 1 });
      faults.inject('throttled', { times: 1 });
      expect(text(await h.client.get({ name, namespaces: ns }))).toBe('passing-value');
    });

    it('waits for a slow backend', async () => {
      const name = nm('slow');
      await h.seed(name, 'slow-value');
      faults.inject('slow', { times: 1, delayMs: 250 });
      const started = Date.now();
      expect(text(await h.client.get({ name, namespaces: ns }))).toBe('slow-value');
      expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    });

    it('serves the last good value while the backend is down (stale-if-error), and fails for a value it never had', async () => {
      const name = nm('stale');
      await h.seed(name, 'stale-value-4e1');
      let now = Date.now();
      const sesame = createSesame(
        {
          stores: [
            { name: 'ct', type: storeType.type, ...h.settings, cache: { ttl: '1s', staleIfError: '1h' } },
          ],
        },
        { baseDir: tmpdir(), now: () => now, registry: registryWith(storeType, h.create) },
      );
      try {
        const ref = (n: string) => `{{ secret://ct/${n} }}`;
        expect(await sesame.resolve(ref(name))).toBe('stale-value-4e1');
        faults.inject('unavailable');
        now += 60_000;
        expect(await sesame.resolve(ref(name))).toBe('stale-value-4e1');
        const never = nm('never_read');
        await h.seed(never, 'never-read-value');
        await expect(sesame.resolve(ref(never))).rejects.toBeInstanceOf(StoreUnavailableError);
      } finally {
        faults.clear();
        await sesame.close();
      }
    });

    if (options.prefix !== false) {
      it('maps names through the prefix both ways: reads, lists and writes', async () => {
        const { prefix, client } = h.prefixed as { prefix: string; client: StoreClient };
        const name = nm('round');
        await h.seed(`${prefix}${name}`, 'round-trip-value');
        expect(text(await client.get({ name, namespaces: ns }))).toBe('round-trip-value');
        const listed = (await client.list({ namespaces: ns, prefix: name })).items.map((i) => i.name);
        expect(listed).toEqual([name]);
        if (storeType.capabilities.write) {
          const written = nm('round_w');
          await client.write!(written, 'written-with-prefix', { namespace: '' });
          expect(text(await h.client.get({ name: `${prefix}${written}`, namespaces: ns }))).toBe(
            'written-with-prefix',
          );
        }
      });
    }
  });
}

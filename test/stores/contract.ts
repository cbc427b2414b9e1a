/**
 * The shared store contract suite. Every store type runs it through its real client (against
 * an emulator for cloud stores): adding a store type means passing this file.
 *
 * @example
 * runStoreContract({ label: 'env', storeType: envStoreType, harness: async () => ({ ... }) });
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessDeniedError, SecretNotFoundError, SesameError, StoreUnavailableError } from '../../src/errors.js';
import type { FetchedSecret, StoreClient, StoreType } from '../../src/stores/contract.js';

export interface ContractHarness {
  client: StoreClient;
  /** Put a text secret into the backend (directly, or through `client.write`). */
  seed(name: string, value: string): Promise<void>;
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
}

const text = (s: FetchedSecret) =>
  typeof s.value === 'string' ? s.value : Buffer.from(s.value).toString('utf8');

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
    afterAll(async () => {
      await h?.client.close();
      await h?.close?.();
    });

    it('declares a type name and a strict settings schema', () => {
      expect(storeType.type).toMatch(/^[a-z0-9][a-z0-9-]*$/);
      const parsed = storeType.settings.safeParse({ definitelyNotASetting: 1 });
      expect(parsed.success).toBe(false);
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

    it('reports a missing secret as SecretNotFoundError, not as a failure', async () => {
      const err = await h.client.get({ name: nm('missing'), namespaces: ns }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretNotFoundError);
      expect(err).not.toBeInstanceOf(AccessDeniedError);
      expect(err).not.toBeInstanceOf(StoreUnavailableError);
    });

    it('keeps values out of error messages', async () => {
      const name = nm('errval');
      const value = 'never-in-an-error-7f3a';
      await h.seed(name, value);
      const err = await h.client.get({ name: `${name}_absent`, namespaces: ns }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SesameError);
      expect(String((err as Error).message)).not.toContain(value);
    });

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
        expect(results[1]).toBeInstanceOf(SecretNotFoundError);
        expect(text(results[2] as FetchedSecret)).toBe('value-a');
      });
    }

    it('lists names and metadata, never values', async () => {
      const name = nm('listed');
      const value = 'listed-value-never-shown';
      await h.seed(name, value);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await h.client.list({ namespaces: ns, cursor });
        expect(JSON.stringify(page)).not.toContain(value);
        seen.push(...page.items.map((i) => i.name));
        cursor = page.cursor;
        pages += 1;
      } while (cursor && pages < 100);
      expect(seen).toContain(name);
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
        await expect(h.client.get({ name, namespaces: ns })).rejects.toBeInstanceOf(SecretNotFoundError);
        if (caps.restore) {
          await h.client.restore!(name, { namespace: writeNs });
          expect(text(await h.client.get({ name, namespaces: ns }))).toBe('to-delete');
        }
      });
    }

    if (caps.versions) {
      it('reports an unknown pinned version as not found', async () => {
        const name = nm('vmissing');
        await h.seed(name, 'v');
        const err = await h.client
          .get({ name, version: '999999', namespaces: ns })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SesameError);
        expect(err).not.toBeInstanceOf(StoreUnavailableError);
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
  });
}

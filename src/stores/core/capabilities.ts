/**
 * Declared capabilities against the methods a client has, checked in one place: a type that
 * declares `write` has `write` and `delete`, `restore` has `restore`, `batch` has `getMany` — and
 * the other way round, so a method is never present but unannounced (callers go by the
 * capabilities). Used by the contract suite for every adapter.
 */
import type { StoreCapabilities, StoreClient } from '../contract.js';

const METHODS: ReadonlyArray<[keyof StoreCapabilities, ReadonlyArray<keyof StoreClient>]> = [
  ['write', ['write', 'delete']],
  ['restore', ['restore']],
  ['batch', ['getMany']],
];

/** Each disagreement between the capabilities and the client's methods, as a sentence. */
export function capabilityMismatches(capabilities: StoreCapabilities, client: StoreClient): string[] {
  const out: string[] = [];
  for (const [capability, methods] of METHODS) {
    for (const method of methods) {
      const has = typeof client[method] === 'function';
      if (capabilities[capability] && !has) out.push(`declares ${capability} but has no ${method}()`);
      if (!capabilities[capability] && has) out.push(`has ${method}() but does not declare ${capability}`);
    }
  }
  return out;
}

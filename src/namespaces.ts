/**
 * Namespaces: dotted lowercase segments (`acme`, `acme.devops`), `''` the root. A namespace
 * inherits from its parents up to the root, unless it is isolated: the chain stops there. One
 * definition for the config, the encrypted store, tokens and the resolver.
 */

import { UsageError } from './errors.js';

/** A namespace other than the root: segments of lowercase letters, digits, `_` and `-`, at most 63 each. */
export const NAMESPACE = /^([a-z0-9][a-z0-9_-]{0,62})(\.[a-z0-9][a-z0-9_-]{0,62})*$/;

/** What a namespace must look like, for messages. */
export const NAMESPACE_RULE =
  'a namespace is dotted lowercase segments, e.g. "acme" or "acme.devops" ("" is the root)';

/** Whether `s` is a namespace (`''`, the root, included). */
export function isNamespace(s: string): boolean {
  return s === '' || NAMESPACE.test(s);
}

/**
 * `namespace` when it is one, else bad input (exit 2, HTTP 400) saying the rule: a malformed
 * namespace (`Bad NS`, `a..b`) would otherwise act in the root through inheritance, without a word.
 * Every library entry that takes a namespace (resolve, prepare, refresh, connections, store
 * lookups) comes through here, so the CLI, the server and a library caller get the same answer.
 */
export function checkedNamespace(namespace: string): string {
  if (!isNamespace(namespace))
    throw new UsageError(`namespace ${JSON.stringify(namespace)}: ${NAMESPACE_RULE}`);
  return namespace;
}

/**
 * The namespaces a lookup from `namespace` visits: most specific first, up to the root, cut
 * after an isolated namespace.
 *
 * @example
 * namespaceChain('acme.devops', new Map()) // → ['acme.devops', 'acme', '']
 */
export function namespaceChain(
  namespace: string,
  namespaces: ReadonlyMap<string, { isolated: boolean }>,
): string[] {
  const chain: string[] = [];
  let current: string | undefined = checkedNamespace(namespace);
  while (current !== undefined) {
    chain.push(current);
    if (namespaces.get(current)?.isolated) break;
    if (current === '') break;
    const dot = current.lastIndexOf('.');
    current = dot === -1 ? '' : current.slice(0, dot);
  }
  return chain;
}

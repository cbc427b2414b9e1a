/**
 * The hash of an audit record: sha256 over the JSON of an array of its fields and the previous
 * record's hash. JSON of an array of strings, numbers and nulls has one spelling, so it is
 * canonical.
 *
 * Self-contained on purpose (no imports, no outside names): the audit writer thread runs this
 * function's own source, so records chained on the thread and records checked by `verify()` are
 * hashed by the same code.
 */
export function recordHash(
  sha256Hex: (text: string) => string,
  seq: number,
  at: string,
  actor: string,
  action: string,
  namespace: string,
  target: string,
  outcome: string,
  detail: string | null,
  prevHash: string,
): string {
  return sha256Hex(JSON.stringify(['sesame-audit/1', seq, at, actor, action, namespace, target, outcome, detail, prevHash]));
}

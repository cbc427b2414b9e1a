/**
 * The hash of an audit record: a MAC over the JSON of an array of its fields and the previous
 * record's hash. JSON of an array of strings, numbers and nulls has one spelling, so it is
 * canonical.
 *
 * Two formats: 1 is sha256 (records written before the chain was keyed, and chains of databases
 * that have no audit key: a bare database without the builtin store's master key); 2 is
 * HMAC-SHA256 with the chain key (`chain.ts`), which nobody without the master key can compute.
 * The format is part of what is hashed, and which records are format 2 is fixed by the sealed
 * chain key (`keyed_from`), never by a column of the record.
 *
 * Self-contained on purpose (no imports, no outside names): the audit writer thread runs this
 * function's own source, so records chained on the thread and records checked by `verify()` are
 * hashed by the same code.
 */
export function recordHash(
  mac: (text: string) => string,
  format: number,
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
  return mac(JSON.stringify([`sesame-audit/${format}`, seq, at, actor, action, namespace, target, outcome, detail, prevHash]));
}

/** Where a chained batch went: records `firstSeq`… after `prevHash`, 64 hex characters of hash each, ending at `head`. */
export interface ChainedBatch {
  firstSeq: number;
  prevHash: string;
  hashes: string;
  head: { seq: number; hash: string };
}

/**
 * Chain the records of `events` (`fields` values each: at, actor, action, namespace, target,
 * outcome, detail) after `after`, handing each row to `insert` in table column order. The one
 * place records are chained: the server thread, the writer thread (which runs this function's
 * source, hence the parameters instead of imports) and the main connection all call it.
 * `mac` and `format`: HMAC with the chain key and 2, or sha256 and 1 for an unkeyed chain.
 */
export function chainRecords(
  hashRecordFields: typeof recordHash,
  mac: (text: string) => string,
  format: number,
  after: { seq: number; hash: string },
  events: readonly (string | null)[],
  fields: number,
  insert: (row: [number, string, string, string, string, string, string, string | null, string, string]) => void,
): ChainedBatch {
  let seq = after.seq;
  let prev = after.hash;
  let hashes = '';
  for (let i = 0; i < events.length; i += fields) {
    seq += 1;
    const at = events[i] as string;
    const actor = events[i + 1] as string;
    const action = events[i + 2] as string;
    const namespace = events[i + 3] as string;
    const target = events[i + 4] as string;
    const outcome = events[i + 5] as string;
    const detail = events[i + 6] ?? null;
    const hash = hashRecordFields(mac, format, seq, at, actor, action, namespace, target, outcome, detail, prev);
    insert([seq, at, actor, action, namespace, target, outcome, detail, prev, hash]);
    hashes += hash;
    prev = hash;
  }
  return { firstSeq: after.seq + 1, prevHash: after.hash, hashes, head: { seq, hash: prev } };
}

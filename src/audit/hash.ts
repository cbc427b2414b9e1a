/**
 * The hash of an audit record: a hash over the JSON of an array of its fields and the previous
 * record's hash. JSON of an array of strings, numbers and nulls has one spelling, so it is
 * canonical.
 *
 * Three formats:
 * - 1: sha256, nothing keyed (records written before the chain was keyed, and chains of databases
 *   that have no audit key: a bare database without the builtin store's master key).
 * - 2: HMAC-SHA256 with the chain key (`chain.ts`) per record: how keyed chains were written
 *   before format 3; still verified, and a format 2 record authenticates the chain up to it as a
 *   seal does.
 * - 3: sha256 per record, and the last record of every commit carries a seal: HMAC-SHA256 with the
 *   chain key of its sequence number and hash ({@link sealOf}). The hash of a record covers every
 *   record before it, so a seal authenticates the whole chain up to it, and nobody without the
 *   master key can alter, insert or remove a record without breaking the next seal (a chain must
 *   end on a sealed record). One HMAC per commit instead of one per record: under load a commit
 *   holds tens of records, and the HMAC was the largest cost of a record after SQLite's.
 * The format is part of what is hashed. Which records are keyed (2 or 3) is fixed by the sealed
 * chain key (`keyed_from`), never by a column of the record.
 *
 * Self-contained on purpose (no imports, no outside names): the audit writer thread runs these
 * functions' own source, so records chained on the thread and records checked by `verify()` are
 * hashed by the same code.
 */
export function recordHash(
  hashText: (text: string) => string,
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
  return hashText(JSON.stringify([`sesame-audit/${format}`, seq, at, actor, action, namespace, target, outcome, detail, prevHash]));
}

/** The seal of record `seq` whose hash is `hash` (format 3): `mac` is HMAC with the chain key. */
export function sealOf(mac: (text: string) => string, seq: number, hash: string): string {
  return mac(JSON.stringify(['sesame-audit-seal/3', seq, hash]));
}

/** Where a chained batch went: records `firstSeq`… after `prevHash`, 64 hex characters of hash each, ending at `head`. */
export interface ChainedBatch {
  firstSeq: number;
  prevHash: string;
  hashes: string;
  head: { seq: number; hash: string; at: string };
  /** Some record's time was raised to the one before it (and written back into `events`). */
  raised: boolean;
}

/**
 * Chain the records of `events` (`fields` values each: at, actor, action, namespace, target,
 * outcome, detail) after `after`, handing each row to `insert` in table column order. The one
 * place records are chained: the server thread, the writer thread (which runs this function's
 * source, hence the parameters instead of imports) and the main connection all call it.
 * `hashText` and `format`: sha256 and 3 for a keyed chain (the caller seals the last record of
 * its commit), sha256 and 1 for an unkeyed one.
 *
 * With `after.at` (SQLite) a record's time never goes back along the chain: a time earlier than
 * the record before it (another process committed first, or the clock went back) is raised to
 * that record's time, in `events` too, so a time range is one run of sequence numbers
 * (`time-range.ts`). Without it (`''`, PostgreSQL, where nodes' clocks differ and an index serves
 * time ranges) times are kept as given.
 */
export function chainRecords(
  hashRecordFields: typeof recordHash,
  hashText: (text: string) => string,
  format: number,
  after: { seq: number; hash: string; at?: string | undefined },
  events: (string | null)[],
  fields: number,
  insert: (row: [number, string, string, string, string, string, string, string | null, string, string]) => void,
): ChainedBatch {
  let seq = after.seq;
  let prev = after.hash;
  let lastAt = after.at ?? '';
  let hashes = '';
  let raised = false;
  for (let i = 0; i < events.length; i += fields) {
    seq += 1;
    let at = events[i] as string;
    if (at < lastAt) {
      at = lastAt;
      events[i] = at;
      raised = true;
    }
    lastAt = at;
    const actor = events[i + 1] as string;
    const action = events[i + 2] as string;
    const namespace = events[i + 3] as string;
    const target = events[i + 4] as string;
    const outcome = events[i + 5] as string;
    const detail = events[i + 6] ?? null;
    const hash = hashRecordFields(hashText, format, seq, at, actor, action, namespace, target, outcome, detail, prev);
    insert([seq, at, actor, action, namespace, target, outcome, detail, prev, hash]);
    hashes += hash;
    prev = hash;
  }
  return { firstSeq: after.seq + 1, prevHash: after.hash, hashes, head: { seq, hash: prev, at: lastAt }, raised };
}

/**
 * Copy secrets from one store to another through their store clients (`list`, `get`,
 * `versions`, `write`): resumable, verified, and without ever handing a value to anything but
 * the two clients.
 *
 * - Resumable: before writing, the destination's current value is read and compared by sha256;
 *   an equal one is skipped. A run stopped part-way (a failing write, a killed process) is
 *   finished by running it again.
 * - Verified: after each write the destination is read back and compared by sha256.
 * - `allVersions`: the source's versions are written oldest first, starting after the newest one
 *   the destination already holds (by hash), so a resumed run does not duplicate versions.
 */
import { SecretNotFoundError } from '../errors.js';
import { sha256Hex } from '../sha256.js';
import type { SecretMetadata, StoreClient, VersionMetadata } from '../stores/contract.js';

export interface MigrateOptions {
  from: { name: string; client: StoreClient };
  to: { name: string; client: StoreClient };
  /** Namespace secrets are read from and written in (namespace-aware stores). */
  namespace: string;
  /** Only names starting with this. */
  prefix?: string | undefined;
  allVersions?: boolean | undefined;
  dryRun?: boolean | undefined;
  /** Called after each secret with the counts so far (for a progress bar). */
  onProgress?: (done: number, total: number, summary: MigrateSummary) => void;
  /** Called with every value read, before anything else happens to it (to teach the redactor). */
  onValue?: (value: string) => void;
  /** Wraps each write (to audit it). */
  wrapWrite?: <T>(name: string, write: () => Promise<T>) => Promise<T>;
}

export type Outcome = 'copied' | 'skipped' | 'failed' | 'would-copy';

export interface MigrateResult {
  name: string;
  outcome: Outcome;
  /** Versions written (or that would be, in a dry run). */
  versions: number;
  /** Why it failed: safe to print (no value). */
  error?: string | undefined;
}

export interface MigrateSummary {
  total: number;
  copied: number;
  skipped: number;
  failed: number;
  wouldCopy: number;
}

const text = (v: string | Uint8Array): string => (typeof v === 'string' ? v : Buffer.from(v).toString('utf8'));

/** Every name in the source, page by page with the store's own cursors. */
export async function listAll(client: StoreClient, namespace: string, prefix: string | undefined): Promise<SecretMetadata[]> {
  const items: SecretMetadata[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.list({ namespaces: [namespace], prefix, cursor, limit: 100 });
    items.push(...page.items.filter((i) => !i.deletedAt && (i.namespace === undefined || i.namespace === namespace)));
    cursor = page.cursor;
  } while (cursor);
  const seen = new Set<string>();
  return items.filter((i) => !seen.has(i.name) && seen.add(i.name));
}

async function current(client: StoreClient, name: string, namespace: string): Promise<string | undefined> {
  try {
    return text((await client.get({ name, namespaces: [namespace] })).value);
  } catch (err) {
    if (err instanceof SecretNotFoundError) return undefined;
    throw err;
  }
}

/** The values to copy, oldest first: the newest only, or every readable version. */
async function sourceValues(options: MigrateOptions, name: string): Promise<string[]> {
  const { client } = options.from;
  if (!options.allVersions || !client.versions) {
    // A secret deleted since it was listed has nothing to copy.
    const v = await current(client, name, options.namespace);
    if (v === undefined) return [];
    options.onValue?.(v);
    return [v];
  }
  return versionValues(client, name, options);
}

/** The values of a secret's enabled versions, oldest first (at most the newest `last`). */
async function versionValues(client: StoreClient, name: string, options: MigrateOptions, last = Number.POSITIVE_INFINITY): Promise<string[]> {
  const namespaces = [options.namespace];
  const listed = await (client.versions as NonNullable<StoreClient['versions']>).call(client, name, { namespaces });
  const versions = oldestFirst(listed.filter((v) => v.enabled !== false && !v.destroyed));
  const values: string[] = [];
  // Oldest first, so the current one is written last and ends up current in the destination.
  for (const v of versions.slice(Math.max(0, versions.length - last))) {
    try {
      const value = text((await client.get({ name, version: v.version, namespaces })).value);
      options.onValue?.(value);
      values.push(value);
    } catch (err) {
      // A version deleted or disabled since it was listed has nothing to copy.
      if (!(err instanceof SecretNotFoundError)) throw err;
    }
  }
  return values;
}

/**
 * How many of the source's versions (oldest first) the destination already holds: the longest
 * run of them, from the oldest, that the destination's newest versions repeat in order (by
 * sha256). Matching the run rather than the newest value alone keeps a history in which a value
 * comes back (a revert, credentials alternating between two) from being taken for finished.
 */
function heldPrefix(source: readonly string[], destination: readonly string[]): number {
  const want = source.map(sha256Hex);
  const have = destination.map(sha256Hex);
  for (let k = Math.min(want.length, have.length); k > 0; k--) {
    const tail = have.slice(have.length - k);
    if (tail.every((h, i) => h === want[i])) return k;
  }
  return 0;
}

/**
 * Versions oldest first: by creation time, then by number; the current one (AWS's `AWSCURRENT`)
 * last whatever its date. Stores list versions in different orders, so none is assumed.
 */
function oldestFirst(versions: readonly VersionMetadata[]): VersionMetadata[] {
  const time = (v: VersionMetadata) => (v.createdAt ? Date.parse(v.createdAt) : Number.NaN);
  const current = (v: VersionMetadata) => (v.stages?.includes('AWSCURRENT') ? 1 : 0);
  return versions
    .map((v, i) => ({ v, i }))
    .sort((a, b) => {
      const byCurrent = current(a.v) - current(b.v);
      if (byCurrent !== 0) return byCurrent;
      const ta = time(a.v);
      const tb = time(b.v);
      if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return ta - tb;
      const na = Number(a.v.version);
      const nb = Number(b.v.version);
      if (Number.isInteger(na) && Number.isInteger(nb)) return na - nb;
      return b.i - a.i;
    })
    .map(({ v }) => v);
}

async function migrateOne(options: MigrateOptions, name: string): Promise<MigrateResult> {
  const values = await sourceValues(options, name);
  const latest = values[values.length - 1];
  if (latest === undefined) return { name, outcome: 'skipped', versions: 0 };
  const existing = await current(options.to.client, name, options.namespace);
  if (existing !== undefined) options.onValue?.(existing);
  const existingHash = existing === undefined ? undefined : sha256Hex(existing);
  const upToDate = existingHash === sha256Hex(latest);
  let toWrite: string[];
  if (!options.allVersions) {
    if (upToDate) return { name, outcome: 'skipped', versions: 0 };
    toWrite = [latest];
  } else if (existing !== undefined && options.to.client.versions) {
    // Resume after the versions the destination already holds (a run stopped part-way), or leave
    // a destination that already has the current value and none of the history as it is.
    const held = heldPrefix(values, await versionValues(options.to.client, name, options, values.length));
    if (held === values.length || (held === 0 && upToDate)) return { name, outcome: 'skipped', versions: 0 };
    toWrite = values.slice(held);
  } else {
    // A destination without versions holds one value: resume after the newest source version equal to it.
    if (upToDate) return { name, outcome: 'skipped', versions: 0 };
    const at = existingHash === undefined ? -1 : values.map(sha256Hex).lastIndexOf(existingHash);
    toWrite = values.slice(at + 1);
  }
  if (options.dryRun) return { name, outcome: 'would-copy', versions: toWrite.length };
  const client = options.to.client;
  if (!client.write) throw new Error(`store ${options.to.name} cannot be written`);
  for (const value of toWrite) {
    const doWrite = () =>
      (client.write as NonNullable<StoreClient['write']>).call(client, name, value, {
        namespace: options.namespace,
        description: `copied from ${options.from.name} by sesame migrate`,
      });
    await (options.wrapWrite ? options.wrapWrite(name, doWrite) : doWrite());
  }
  const back = await current(client, name, options.namespace);
  if (back === undefined || sha256Hex(back) !== sha256Hex(latest)) {
    return { name, outcome: 'failed', versions: toWrite.length, error: `verification failed: ${options.to.name} does not return the value just written` };
  }
  return { name, outcome: 'copied', versions: toWrite.length };
}

/**
 * Why a secret failed, and what to do about it when the error says (`SesameError.fix`, which
 * some errors keep apart from their message): on one line, as the CLI prints any error.
 */
function failure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const fix = (err as { fix?: unknown } | null)?.fix;
  if (typeof fix !== 'string' || fix.trim() === '' || message.includes(fix.trim())) return message;
  return `${message.replace(/[.;:]\s*$/, '')}; ${fix.replace(/\s*\n\s*/g, ' ').trim()}`;
}

/** Copy every secret (under `prefix`) from `from` to `to`. One secret's failure is counted, not thrown. */
export async function migrate(options: MigrateOptions): Promise<{ results: MigrateResult[]; summary: MigrateSummary }> {
  const names = (await listAll(options.from.client, options.namespace, options.prefix)).map((i) => i.name);
  const summary: MigrateSummary = { total: names.length, copied: 0, skipped: 0, failed: 0, wouldCopy: 0 };
  const results: MigrateResult[] = [];
  options.onProgress?.(0, names.length, summary);
  for (const name of names) {
    let result: MigrateResult;
    try {
      result = await migrateOne(options, name);
    } catch (err) {
      result = { name, outcome: 'failed', versions: 0, error: failure(err) };
    }
    results.push(result);
    if (result.outcome === 'copied') summary.copied++;
    else if (result.outcome === 'skipped') summary.skipped++;
    else if (result.outcome === 'would-copy') summary.wouldCopy++;
    else summary.failed++;
    options.onProgress?.(results.length, names.length, summary);
  }
  return { results, summary };
}

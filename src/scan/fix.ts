/**
 * `scan --fix`: move each finding's value into a store and put a reference where it was.
 *
 * The value of a finding is read from the text in its encoding (as is, JSON-unescaped, or a YAML
 * block scalar dedented), written under a name derived from the file and the field, read back
 * and compared by sha256, and only then replaced in the text. A name already holding a different
 * value is never overwritten: the next free `-2`, `-3`… is used.
 */
import path from 'node:path';
import { SecretNotFoundError } from '../errors.js';
import { formatReference } from '../refs/reference.js';
import { sha256Hex } from '../sha256.js';
import type { Finding } from './detect.js';

/** What `fix` needs of the target store. */
export interface FixTarget {
  store: string;
  /** The current value of a name, or undefined when it does not exist. */
  read(name: string): Promise<string | undefined>;
  write(name: string, value: string): Promise<void>;
}

export interface FixedFinding {
  finding: Finding;
  /** The secret name chosen in the store. */
  name: string;
  reference: string;
  /** False when the same value was already stored under that name (nothing written). */
  written: boolean;
}

export interface FailedFinding {
  finding: Finding;
  error: Error;
}

/** The value a finding stands for, decoded from how the document writes it. */
export function findingValue(text: string, f: Finding): string {
  const raw = text.slice(f.start, f.end);
  if (f.encoding === 'json-string') return JSON.parse(`"${raw}"`) as string;
  if (f.encoding === 'yaml-block') {
    const lines = raw.replace(/\r/g, '').split('\n');
    const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => (/^ */.exec(l) as RegExpExecArray)[0].length));
    return `${lines.map((l) => l.slice(indent)).join('\n')}\n`;
  }
  return raw;
}

const clean = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'value';

/**
 * The name a finding is stored under: `<prefix><file name>/<field, or kind>`, e.g.
 * `scan/connections.yaml/token`. Findings with the same base in one file get `-2`, `-3`…
 */
export function baseName(file: string, f: Finding, prefix: string): string {
  return `${prefix}${clean(path.basename(file))}/${clean(f.field ?? f.kind)}`;
}

/** Move the findings of one file's text into the target; returns the new text and what happened. */
export async function fixFindings(
  text: string,
  file: string,
  findings: readonly Finding[],
  target: FixTarget,
  prefix = '',
): Promise<{ text: string; fixed: FixedFinding[]; failed: FailedFinding[] }> {
  const fixed: FixedFinding[] = [];
  const failed: FailedFinding[] = [];
  const used = new Set<string>();
  for (const f of findings) {
    try {
      const value = findingValue(text, f);
      const base = baseName(file, f, prefix);
      let name = base;
      let written = true;
      for (let n = 2; ; n++) {
        if (!used.has(name)) {
          const current = await target.read(name);
          if (current === undefined) break;
          if (sha256Hex(current) === sha256Hex(value)) {
            written = false;
            break;
          }
        }
        name = `${base}-${n}`;
      }
      used.add(name);
      if (written) {
        await target.write(name, value);
        const back = await target.read(name);
        if (back === undefined || sha256Hex(back) !== sha256Hex(value)) {
          throw new Error(`the value read back from ${target.store} under ${name} differs from the one written`);
        }
      }
      fixed.push({ finding: f, name, reference: formatReference({ store: target.store, name }), written });
    } catch (err) {
      failed.push({ finding: f, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }
  // Replace from the end so earlier offsets stay valid.
  let out = text;
  for (const r of [...fixed].sort((a, b) => b.finding.start - a.finding.start)) {
    const from = r.finding.replaceStart ?? r.finding.start;
    const replacement = r.finding.whole ? r.reference : `{{ ${r.reference} }}`;
    out = out.slice(0, from) + replacement + out.slice(r.finding.end);
  }
  return { text: out, fixed, failed };
}

/** Read through a store client: not found is `undefined`, anything else fails. */
export async function readOrUndefined(read: () => Promise<string>): Promise<string | undefined> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof SecretNotFoundError) return undefined;
    throw err;
  }
}

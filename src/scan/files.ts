/** The files `sesame scan` reads under the paths it is given. */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

/** Directories never worth scanning: VCS data, dependencies, Sesame's own state. */
const SKIP_DIRS = new Set(['.git', 'node_modules', '.sesame', '.hg', '.svn']);
/** Larger files are not configs or documents a person writes. */
export const MAX_FILE_BYTES = 1_048_576;

/** Files under `paths` (a file is itself), sorted, without backups (`*.bak`) and oversized files. */
export function filesUnder(paths: readonly string[]): { files: string[]; skipped: string[] } {
  const files: string[] = [];
  const skipped: string[] = [];
  // Each folder and file once, by where it really is: a symlink back to a parent (a loop) or two
  // links to one file would otherwise be walked again and again.
  const seen = new Set<string>();
  const visit = (p: string, given: boolean): void => {
    const st = statSync(p);
    if (st.isDirectory() || st.isFile()) {
      const real = realpathSync(p);
      if (seen.has(real)) return;
      seen.add(real);
    }
    if (st.isDirectory()) {
      if (!given && SKIP_DIRS.has(path.basename(p))) return;
      for (const entry of readdirSync(p).sort()) visit(path.join(p, entry), false);
      return;
    }
    if (!st.isFile()) return;
    if (!given && p.endsWith('.bak')) return;
    if (st.size > MAX_FILE_BYTES) {
      skipped.push(p);
      return;
    }
    files.push(p);
  };
  for (const p of paths) visit(p, true);
  return { files, skipped };
}

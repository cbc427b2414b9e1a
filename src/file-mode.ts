/**
 * Whether a file that holds a key is open to other users of the host, and what to do about it.
 * Sesame warns rather than refuses: a Kubernetes secret volume is mounted 0644 unless told
 * otherwise, and refusing would stop every such deployment where the container is the only user.
 */
import { statSync } from 'node:fs';

/**
 * The warning for `file` (named `what` in the message) when a permission bit in `mask` is set:
 * `0o007` for the users outside the file's owner and group, `0o077` for everyone but its owner.
 * Undefined when none is, or when the file cannot be read (loading it reports that).
 *
 * @example
 * exposureWarning('the master key file', '/srv/.sesame/master.key', 0o007)
 * // 'the master key file /srv/.sesame/master.key is readable by users outside its owner and group (mode 644): chmod o-rwx …'
 */
export function exposureWarning(what: string, file: string, mask: number): string | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
  const open = mode & mask;
  if (open === 0) return undefined;
  // Readable by others: they hold the key. Writable (without read): they can replace it.
  const how = (open & 0o444) !== 0 ? 'readable' : 'writable';
  const others = mask === 0o007 ? 'users outside its owner and group' : 'other users';
  const who = mask === 0o007 ? 'o' : 'go';
  return `${what} ${file} is ${how} by ${others} (mode ${mode.toString(8).padStart(3, '0')}): chmod ${who}-rwx ${file}`;
}

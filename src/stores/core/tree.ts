/**
 * Paging over a tree that a provider lists one folder at a time and without page tokens (Vault
 * KV's LIST, a directory tree). The walk goes depth first with each folder's keys sorted, which
 * is the order of the full paths, so the cursor is the last path served: the next page lists
 * only the folders on the way back to it and skips every folder wholly before it. No cap: every
 * entry is reachable, page after page.
 *
 * @example
 * const page = await pageFolderTree({
 *   prefix: 'apps/', cursor: options.cursor, limit: 1000,
 *   listFolder: async (dir) => (await vaultList(dir)) ?? [],
 *   pick: (path) => ({ name: path }),
 * });
 */
import type { ListPage, SecretMetadata } from '../contract.js';
import { decodeCursor, encodeCursor } from './paging.js';

export interface FolderTreeOptions {
  /** Full paths wanted start with this; it may end inside a folder's or an entry's name. */
  prefix: string;
  /** A cursor of a previous page. */
  cursor?: string | undefined;
  /** Entries per page. */
  limit: number;
  /**
   * The keys of one folder (`dir` is '' or ends with '/'); keys of subfolders end with '/'. Empty
   * for a folder that does not exist.
   */
  listFolder(dir: string): Promise<readonly string[]>;
  /** What a full path is in the listing; undefined leaves it out (it still counts towards the page). */
  pick(path: string): SecretMetadata | undefined;
}

/** One page of the entries under `prefix`, in full-path order. */
export async function pageFolderTree(options: FolderTreeOptions): Promise<ListPage> {
  const { prefix, limit } = options;
  const after = decodeCursor(
    options.cursor,
    (c): c is { after: string } => typeof (c as { after?: unknown })?.after === 'string',
  )?.after;
  const found: string[] = [];
  let more = false;
  const walk = async (dir: string): Promise<boolean> => {
    for (const key of [...(await options.listFolder(dir))].sort()) {
      const full = dir + key;
      if (key.endsWith('/')) {
        // Descend only into folders that can hold a match and are not wholly before the cursor.
        const before = after !== undefined && full < after && !after.startsWith(full);
        if ((full.startsWith(prefix) || prefix.startsWith(full)) && !before && (await walk(full)))
          return true;
      } else if (full.startsWith(prefix) && (after === undefined || full > after)) {
        if (found.length === limit) {
          more = true;
          return true;
        }
        found.push(full);
      }
    }
    return false;
  };
  await walk(prefix.slice(0, prefix.lastIndexOf('/') + 1));
  const last = found.at(-1);
  return {
    items: found.flatMap((full) => options.pick(full) ?? []),
    cursor: more && last !== undefined ? encodeCursor({ after: last }) : undefined,
  };
}

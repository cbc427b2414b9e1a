/**
 * The core's pageFolderTree: a tree listed one folder at a time, paged by the last path served,
 * without listing folders wholly before the cursor or outside the prefix.
 */
import { describe, expect, it } from 'vitest';
import { pageFolderTree } from '../../src/stores/core/index.js';

/** An in-memory tree of full paths, listed like Vault's LIST (subfolders end with '/'), counting lists. */
function tree(paths: string[]) {
  const listed: string[] = [];
  const listFolder = async (dir: string) => {
    listed.push(dir);
    const keys = new Set<string>();
    for (const p of paths) {
      if (!p.startsWith(dir)) continue;
      const rest = p.slice(dir.length);
      const slash = rest.indexOf('/');
      keys.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    // Unsorted on purpose: the walk sorts.
    return [...keys].reverse();
  };
  return { listFolder, listed };
}

const names = (page: { items: Array<{ name: string }> }) => page.items.map((i) => i.name);

describe('pageFolderTree', () => {
  const paths = ['a/x', 'b/c', 'b/d/e', 'b/d/f', 'f', 'g/h'];

  it('serves every entry in full-path order, page after page, with no cursor after the last', async () => {
    const { listFolder } = tree(paths);
    const pick = (path: string) => ({ name: path });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await pageFolderTree({ prefix: '', cursor, limit: 2, listFolder, pick });
      seen.push(...names(page));
      cursor = page.cursor;
      pages++;
    } while (cursor !== undefined);
    expect(seen).toEqual(paths);
    expect(pages).toBe(3);
  });

  it('a later page does not list the folders wholly before the cursor', async () => {
    const { listFolder, listed } = tree(paths);
    const first = await pageFolderTree({ prefix: '', limit: 4, listFolder, pick: (name) => ({ name }) });
    expect(names(first)).toEqual(['a/x', 'b/c', 'b/d/e', 'b/d/f']);
    listed.length = 0;
    const second = await pageFolderTree({
      prefix: '',
      cursor: first.cursor,
      limit: 4,
      listFolder,
      pick: (name) => ({ name }),
    });
    expect(names(second)).toEqual(['f', 'g/h']);
    expect(listed).toEqual(['', 'b/', 'b/d/', 'g/']);
    expect(listed).not.toContain('a/');
  });

  it('lists only the folders that can hold the prefix, which may end inside a name', async () => {
    const { listFolder, listed } = tree(paths);
    const page = await pageFolderTree({ prefix: 'b/d/', limit: 10, listFolder, pick: (name) => ({ name }) });
    expect(names(page)).toEqual(['b/d/e', 'b/d/f']);
    expect(listed).toEqual(['b/d/']);
    const partial = await pageFolderTree({ prefix: 'b/', limit: 10, listFolder, pick: (name) => ({ name }) });
    expect(names(partial)).toEqual(['b/c', 'b/d/e', 'b/d/f']);
    const inName = await pageFolderTree({ prefix: 'g', limit: 10, listFolder, pick: (name) => ({ name }) });
    expect(names(inName)).toEqual(['g/h']);
  });

  it('leaves out what pick drops, and refuses a cursor it did not make', async () => {
    const { listFolder } = tree(paths);
    const page = await pageFolderTree({
      prefix: '',
      limit: 10,
      listFolder,
      pick: (path) => (path.startsWith('b/') ? undefined : { name: path.toUpperCase() }),
    });
    expect(names(page)).toEqual(['A/X', 'F', 'G/H']);
    await expect(
      pageFolderTree({ prefix: '', cursor: 'not-a-cursor', limit: 10, listFolder, pick: () => undefined }),
    ).rejects.toThrow('invalid list cursor');
  });
});

/** Reading tree objects from the cache, verified, with a per-run memo. */
import { MlvError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import { parseTree, type TreeEntry } from '../core/tree.js';
import type { LocalCache } from '../storage/local-cache.js';

export class TreeReader {
  private readonly memo = new Map<ObjectId, TreeEntry[] | null>();

  constructor(private readonly cache: LocalCache) {}

  /** The entries of a tree, or null when the tree object is not in the cache (nor kept as incomplete). */
  read(id: ObjectId): TreeEntry[] | null {
    const hit = this.memo.get(id);
    if (hit !== undefined) return hit;
    let entries: TreeEntry[] | null;
    try {
      entries = parseTree(this.cache.readVerified(id, { incomplete: true }), id);
    } catch (err) {
      if (err instanceof MlvError && err.code === 'MISSING_OBJECTS') entries = null;
      else throw err;
    }
    this.memo.set(id, entries);
    return entries;
  }
}

export interface FlatEntry {
  /** Path relative to the tracked folder (POSIX). */
  path: string;
  entry: TreeEntry;
}

/**
 * Every file and folder below a tree, parents before children. Trees missing from the cache are
 * reported in `missingTrees` (with their path) and their contents skipped.
 */
export function flattenTree(reader: TreeReader, rootId: ObjectId): { entries: FlatEntry[]; missingTrees: FlatEntry[] } {
  const entries: FlatEntry[] = [];
  const missingTrees: FlatEntry[] = [];
  const walk = (id: ObjectId, prefix: string, self: FlatEntry | undefined) => {
    const tree = reader.read(id);
    if (!tree) {
      missingTrees.push(self ?? { path: '', entry: { name: '', kind: 'dir', exec: false, id, size: 0 } });
      return;
    }
    for (const entry of tree) {
      const p = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      const flat = { path: p, entry };
      entries.push(flat);
      if (entry.kind === 'dir') walk(entry.id, p, flat);
    }
  };
  walk(rootId, '', undefined);
  return { entries, missingTrees };
}

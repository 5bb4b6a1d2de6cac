/** Reading tree objects from the cache, verified, with a per-run memo. */
import { MlvError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import { parseTree, type TreeEntry } from '../core/tree.js';
import type { LocalCache } from '../storage/local-cache.js';

export class TreeReader {
  private readonly memo = new Map<ObjectId, TreeEntry[] | null>();

  /** `remember: false` reads every tree afresh: for one pass over a large tree (checkout). */
  constructor(
    private readonly cache: LocalCache,
    private readonly opts: { remember?: boolean } = {},
  ) {}

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
    if (this.opts.remember !== false) this.memo.set(id, entries);
    return entries;
  }
}

/**
 * Visits every file and folder below a tree, parents before children, without collecting them.
 * Trees missing from the cache are passed to `missing` (with their path) and their contents skipped.
 */
export function walkTree(reader: TreeReader, rootId: ObjectId, visit: (path: string, entry: TreeEntry) => void, missing: (path: string, entry: TreeEntry) => void): void {
  const walk = (id: ObjectId, prefix: string, self: TreeEntry | undefined) => {
    const tree = reader.read(id);
    if (!tree) {
      missing(prefix, self ?? { name: '', kind: 'dir', exec: false, id, size: 0 });
      return;
    }
    for (const entry of tree) {
      const p = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      visit(p, entry);
      if (entry.kind === 'dir') walk(entry.id, p, entry);
    }
  };
  walk(rootId, '', undefined);
}

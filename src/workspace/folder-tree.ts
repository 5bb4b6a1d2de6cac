/** Builds the Merkle tree of a scanned folder from per-file ids, bottom-up, one tree per level. */
import type { ObjectId } from '../core/id.js';
import { encodeTree, type TreeEntry } from '../core/tree.js';
import type { LocalCache } from '../storage/local-cache.js';
import type { FileResult } from './file-processor.js';
import type { ScanResult } from './scan.js';

export interface BuiltFolder {
  id: ObjectId;
  size: number;
  files: number;
  /** Entries of every folder level, keyed by path relative to the root ('' is the root). */
  levels: Map<string, TreeEntry[]>;
  /** Tree ids of every folder level. */
  ids: Map<string, ObjectId>;
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}
function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/**
 * `results[i]` belongs to `scan.files[i]`. With `store`, tree objects are written to the cache;
 * callers store file objects first, so a tree never enters the cache before its children.
 */
export function buildFolder(scan: ScanResult, results: FileResult[], store?: LocalCache): BuiltFolder {
  const levels = new Map<string, TreeEntry[]>();
  for (const d of scan.dirs) levels.set(d, []);
  const totals = new Map<string, { size: number; files: number }>();
  for (const d of scan.dirs) totals.set(d, { size: 0, files: 0 });
  scan.files.forEach((rel, i) => {
    const r = results[i]!;
    const parent = parentOf(rel);
    levels.get(parent)!.push({ name: baseOf(rel), kind: 'file', exec: r.exec, id: r.id, size: r.size });
    const t = totals.get(parent)!;
    t.size += r.size;
    t.files += 1;
  });
  const ids = new Map<string, ObjectId>();
  // scan.dirs lists parents before children, so walking it backwards finishes children first.
  for (let i = scan.dirs.length - 1; i >= 0; i--) {
    const dir = scan.dirs[i]!;
    const { id, bytes, sorted } = encodeTree(levels.get(dir)!);
    levels.set(dir, sorted);
    ids.set(dir, id);
    if (store) store.storeHashed(bytes, id);
    if (dir !== '') {
      const parent = parentOf(dir);
      const t = totals.get(dir)!;
      levels.get(parent)!.push({ name: baseOf(dir), kind: 'dir', exec: false, id, size: t.size });
      const pt = totals.get(parent)!;
      pt.size += t.size;
      pt.files += t.files;
    }
  }
  const root = totals.get('')!;
  return { id: ids.get('')!, size: root.size, files: root.files, levels, ids };
}

/** Builds the Merkle tree of a scanned folder from per-file ids, bottom-up, one tree per level. */
import type { ObjectId } from '../core/id.js';
import { encodeTree, type TreeEntry } from '../core/tree.js';
import type { LocalCache } from '../storage/local-cache.js';
import type { FileResults } from './file-results.js';
import type { ScanResult } from './scan.js';

export interface BuiltFolder {
  id: ObjectId;
  size: number;
  files: number;
  /** Entries of every folder level, keyed by path relative to the root ('' is the root); empty without keepLevels. */
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
 * `results` is parallel to `scan.files`. With `store`, tree objects are written to the cache;
 * callers store file objects first, so a tree never enters the cache before its children.
 * Without `keepLevels` (add), each folder's entries exist only while its tree is encoded.
 */
export function buildFolder(scan: ScanResult, results: FileResults, store?: LocalCache, { keepLevels = true }: { keepLevels?: boolean } = {}): BuiltFolder {
  const nDirs = scan.dirs.length;
  // Files grouped by folder (a counting sort on their folder index).
  const starts = new Int32Array(nDirs + 1);
  for (const d of scan.fileDirs) starts[d + 1]!++;
  for (let d = 0; d < nDirs; d++) starts[d + 1]! += starts[d]!;
  const byFolder = new Int32Array(scan.files.length);
  const fill = starts.slice(0, nDirs);
  scan.fileDirs.forEach((d, i) => (byFolder[fill[d]!++] = i));
  const dirIndex = new Map(scan.dirs.map((d, i) => [d, i]));

  const levels = new Map<string, TreeEntry[]>();
  if (keepLevels) for (const d of scan.dirs) levels.set(d, []);
  const ids = new Map<string, ObjectId>();
  /** Entries of finished subfolders, waiting for their parent. */
  const subfolders: Array<TreeEntry[] | undefined> = new Array(nDirs);
  const sizes = new Float64Array(nDirs);
  const counts = new Float64Array(nDirs);
  // scan.dirs lists parents before children, so walking it backwards finishes children first.
  for (let d = nDirs - 1; d >= 0; d--) {
    const dir = scan.dirs[d]!;
    const entries = subfolders[d] ?? [];
    subfolders[d] = undefined;
    for (let k = starts[d]!; k < starts[d + 1]!; k++) {
      const i = byFolder[k]!;
      const size = results.size(i);
      entries.push({ name: baseOf(scan.files[i]!), kind: 'file', exec: results.exec(i), id: results.id(i), size });
      sizes[d]! += size;
      counts[d]!++;
    }
    const { id, bytes, sorted } = encodeTree(entries);
    if (keepLevels) levels.set(dir, sorted);
    ids.set(dir, id);
    if (store) store.storeHashed(bytes, id);
    if (d > 0) {
      const p = dirIndex.get(parentOf(dir))!;
      (subfolders[p] ??= []).push({ name: baseOf(dir), kind: 'dir', exec: false, id, size: sizes[d]! });
      sizes[p]! += sizes[d]!;
      counts[p]! += counts[d]!;
    }
  }
  return { id: ids.get('')!, size: sizes[0]!, files: counts[0]!, levels, ids };
}

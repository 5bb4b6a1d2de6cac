/**
 * Shared by `mlv gc` and `mlv fsck`: walking tree objects from a set of roots with bounded
 * concurrency, reading each tree from the cache (incomplete trees too) or else from a remote
 * (verified), and ordering trees parents-first for deletion.
 */
import { MlvError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import { parseTree, type TreeEntry } from '../core/tree.js';
import { readRemoteObject } from '../storage/download.js';
import type { LocalCache } from '../storage/local-cache.js';
import type { RemoteStore } from '../storage/remote-store.js';
import { remoteError } from '../storage/retry.js';

export type TreeResult = { entries: TreeEntry[] } | { reason: string };
export type TreeLookup = (id: ObjectId) => Promise<TreeResult>;

/** Runs `fn` over a queue that grows while it runs, at most `concurrency` at once; the first error stops it. */
export async function drainQueue<T>(initial: T[], concurrency: number, fn: (item: T, push: (item: T) => void) => Promise<void>): Promise<void> {
  const queue = [...initial];
  let active = 0;
  let failed = false;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      if (failed) return;
      if (queue.length === 0 && active === 0) {
        resolve();
        return;
      }
      while (active < concurrency && queue.length > 0) {
        const item = queue.shift()!;
        active++;
        fn(item, (next) => queue.push(next)).then(
          () => {
            active--;
            pump();
          },
          (err: unknown) => {
            failed = true;
            reject(err);
          },
        );
      }
    };
    pump();
  });
}

const TREE_PROBLEMS = ['CORRUPT_OBJECT', 'INVALID_TREE', 'MISSING_OBJECTS'];

/**
 * Trees from the cache (verified; `incomplete/` too), else from `remote` (verified in memory, not
 * stored). A tree that is damaged or absent everywhere gives a reason; an unreachable remote or
 * refused credentials throw (exit 9), local I/O errors throw too.
 */
export function treeLookup(cache: LocalCache, remote?: RemoteStore): TreeLookup {
  const memo = new Map<ObjectId, Promise<TreeResult>>();
  const read = async (id: ObjectId): Promise<TreeResult> => {
    let local: string;
    try {
      // readVerified has checked the id already.
      return { entries: parseTree(cache.readVerified(id, { incomplete: true })) };
    } catch (err) {
      if (!(err instanceof MlvError) || !TREE_PROBLEMS.includes(err.code)) throw err;
      local = err.code === 'MISSING_OBJECTS' ? 'not in the cache' : `in the cache: ${err.message}`;
    }
    if (!remote) return { reason: local };
    let bytes: Buffer | null;
    try {
      bytes = await readRemoteObject(remote, id);
    } catch (err) {
      if (err instanceof MlvError && TREE_PROBLEMS.includes(err.code)) return { reason: `${local}; on the remote: ${err.message}` };
      throw remoteError(err, remote.label);
    }
    if (!bytes) return { reason: `${local}, nor on the remote ${remote.label}` };
    try {
      return { entries: parseTree(bytes, id) };
    } catch (err) {
      if (err instanceof MlvError && TREE_PROBLEMS.includes(err.code)) return { reason: `${local}; on the remote: ${err.message}` };
      throw err;
    }
  };
  // Only lookups in flight are shared: a walk reads each tree once anyway, and keeping every parsed
  // listing would hold all entries of a 200,000-file dataset at once.
  return (id) => {
    let p = memo.get(id);
    if (!p) {
      p = read(id);
      memo.set(id, p);
      const forget = () => memo.delete(id);
      p.then(forget, forget);
    }
    return p;
  };
}

export interface WalkStart {
  id: ObjectId;
  kind: 'file' | 'dir';
  path: string;
  where: string;
}

export interface Referenced {
  kind: 'file' | 'tree';
  /** Where it is used (the first path found); '' for files of a walk without `details`. */
  path: string;
  where: string;
  /** Its size as the referencing pointer or tree records it (trees: undefined). */
  size?: number;
}

export interface WalkResult {
  /** Every object reachable from the roots (whether or not present anywhere). */
  objects: Map<ObjectId, Referenced>;
  /** Trees that could not be read: what lies below them is unknown. */
  unreadable: Array<{ id: ObjectId; path: string; where: string; reason: string }>;
  /** Trees walked (or being walked). An id can be used as a file and as a folder (a tracked copy of a tree object). */
  walked?: Set<ObjectId>;
}

const FILE_SEEN: Referenced = Object.freeze({ kind: 'file', path: '', where: '' });

/**
 * Every object below the roots; `into` lets several walks share one map (and skip known trees).
 * Without `details`, files below the roots map to one shared record with no path or size (trees,
 * few, keep theirs for messages): a caller that only asks "is it referenced?" then holds no
 * per-file strings (gc on 200,000 files).
 */
export async function walkObjects(
  starts: Array<WalkStart & { size?: number }>,
  lookup: TreeLookup,
  concurrency: number,
  into?: WalkResult,
  { details = true }: { details?: boolean } = {},
): Promise<WalkResult> {
  const result: WalkResult = into ?? { objects: new Map(), unreadable: [] };
  const walked = (result.walked ??= new Set());
  const pending: WalkStart[] = [];
  for (const s of starts) {
    if (s.kind === 'file') {
      if (!result.objects.has(s.id)) result.objects.set(s.id, { kind: 'file', path: s.path, where: s.where, ...(s.size !== undefined ? { size: s.size } : {}) });
    } else if (!walked.has(s.id)) {
      walked.add(s.id);
      if (!result.objects.has(s.id)) result.objects.set(s.id, { kind: 'tree', path: s.path, where: s.where });
      pending.push(s);
    }
  }
  await drainQueue(pending, concurrency, async (tree, push) => {
    const r = await lookup(tree.id);
    if ('reason' in r) {
      result.unreadable.push({ id: tree.id, path: tree.path, where: tree.where, reason: r.reason });
      return;
    }
    for (const e of r.entries) {
      if (e.kind === 'dir') {
        if (walked.has(e.id)) continue;
        walked.add(e.id);
        const childPath = `${tree.path}/${e.name}`;
        if (!result.objects.has(e.id)) result.objects.set(e.id, { kind: 'tree', path: childPath, where: tree.where });
        push({ id: e.id, kind: 'dir', path: childPath, where: tree.where });
      } else if (!result.objects.has(e.id)) {
        result.objects.set(e.id, details ? { kind: 'file', path: `${tree.path}/${e.name}`, where: tree.where, size: e.size } : FILE_SEEN);
      }
    }
  });
  return result;
}

/**
 * Trees ordered parents first, in waves: no tree of a wave is below a tree of a later wave, so
 * deleting wave by wave never leaves a tree whose children are gone. `children` may list ids
 * that are not among the trees (ignored).
 */
export function parentsFirst(trees: Map<ObjectId, ObjectId[]>): ObjectId[][] {
  const incoming = new Map<ObjectId, number>();
  for (const id of trees.keys()) incoming.set(id, 0);
  const kids = new Map<ObjectId, ObjectId[]>();
  for (const [id, children] of trees) {
    const own = [...new Set(children)].filter((c) => trees.has(c) && c !== id);
    kids.set(id, own);
    for (const c of own) incoming.set(c, incoming.get(c)! + 1);
  }
  const waves: ObjectId[][] = [];
  let current = [...trees.keys()].filter((id) => incoming.get(id) === 0);
  const placed = new Set<ObjectId>();
  while (current.length > 0) {
    waves.push(current);
    const next: ObjectId[] = [];
    for (const id of current) {
      placed.add(id);
      for (const c of kids.get(id)!) {
        const n = incoming.get(c)! - 1;
        incoming.set(c, n);
        if (n === 0) next.push(c);
      }
    }
    current = next;
  }
  // Only damaged data can form a cycle; those trees go last, together.
  const rest = [...trees.keys()].filter((id) => !placed.has(id));
  if (rest.length > 0) waves.push(rest);
  return waves;
}

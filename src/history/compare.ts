/**
 * File-level differences between two sets of tracked data (per target path), reading only the
 * tree objects on changed paths: subtrees with equal ids are skipped without being read.
 */
import type { ObjectId } from '../core/id.js';
import type { ObjectAccess } from './objects.js';
import { childrenOf, expandNode, type DataNode } from './select.js';

export interface FileChange {
  path: string;
  id: ObjectId;
  size: number;
}

export interface Modification {
  path: string;
  oldId: ObjectId;
  newId: ObjectId;
  oldSize: number;
  newSize: number;
  /** The executable bit of the new version, when it changed. */
  executable?: boolean;
}

export interface Rename {
  from: string;
  to: string;
  id: ObjectId;
  size: number;
}

export interface Changes {
  added: FileChange[];
  deleted: FileChange[];
  modified: Modification[];
  renamed: Rename[];
}

export interface Side {
  access: ObjectAccess;
  /** The tracked targets, by path. */
  targets: Map<string, DataNode>;
}

/** `filters`: repository-relative paths; only files at or below one of them count ([] = all). */
export async function compareSides(a: Side, b: Side, filters: string[]): Promise<Changes> {
  const changes: Changes = { added: [], deleted: [], modified: [], renamed: [] };
  const inside = (p: string) => filters.length === 0 || filters.some((f) => f === '' || p === f || p.startsWith(f + '/'));
  const relevant = (p: string) => inside(p) || filters.some((f) => f.startsWith(p + '/'));
  const list = async (side: Side, node: DataNode, into: FileChange[]) => {
    for (const n of await expandNode(side.access, node)) if (n.kind === 'file' && inside(n.path)) into.push({ path: n.path, id: n.id, size: n.size });
  };

  const visit = async (path: string, x: DataNode | undefined, y: DataNode | undefined): Promise<void> => {
    if (!relevant(path)) return;
    if (x && y && x.kind === y.kind && x.id === y.id && x.exec === y.exec) return;
    if (x?.kind === 'dir' && y?.kind === 'dir') {
      const [xs, ys] = await Promise.all([childrenOf(a.access, x), childrenOf(b.access, y)]);
      const byName = (nodes: DataNode[]) => new Map(nodes.map((n) => [n.path.slice(path.length + 1), n]));
      const xm = byName(xs);
      const ym = byName(ys);
      const names = [...new Set([...xm.keys(), ...ym.keys()])];
      await Promise.all(names.map((name) => visit(`${path}/${name}`, xm.get(name), ym.get(name))));
      return;
    }
    if (x?.kind === 'file' && y?.kind === 'file') {
      if (!inside(path)) return;
      const m: Modification = { path, oldId: x.id, newId: y.id, oldSize: x.size, newSize: y.size };
      if (x.exec !== y.exec) m.executable = y.exec;
      changes.modified.push(m);
      return;
    }
    if (x) await list(a, x, changes.deleted);
    if (y) await list(b, y, changes.added);
  };

  const paths = [...new Set([...a.targets.keys(), ...b.targets.keys()])];
  await Promise.all(paths.map((p) => visit(p, a.targets.get(p), b.targets.get(p))));
  return pairRenames(sortChanges(changes));
}

const byPath = <T extends { path: string }>(x: T, y: T) => Buffer.compare(Buffer.from(x.path), Buffer.from(y.path));

function sortChanges(c: Changes): Changes {
  c.added.sort(byPath);
  c.deleted.sort(byPath);
  c.modified.sort(byPath);
  return c;
}

/** A deleted and an added file with the same content are a rename; pairs are formed in path order. */
function pairRenames(c: Changes): Changes {
  const deletedById = new Map<ObjectId, FileChange[]>();
  for (const d of c.deleted) {
    const list = deletedById.get(d.id);
    if (list) list.push(d);
    else deletedById.set(d.id, [d]);
  }
  const renamedFrom = new Set<FileChange>();
  const added: FileChange[] = [];
  for (const add of c.added) {
    const from = deletedById.get(add.id)?.shift();
    if (from) {
      renamedFrom.add(from);
      c.renamed.push({ from: from.path, to: add.path, id: add.id, size: add.size });
    } else {
      added.push(add);
    }
  }
  return { added, deleted: c.deleted.filter((d) => !renamedFrom.has(d)), modified: c.modified, renamed: c.renamed };
}

/**
 * The objects a set of tracked targets needs: file objects (leaves) and tree objects (with their
 * children), each with a path for messages. Trees come from the local cache or, when fetching,
 * from the remote (verified in memory and stored only once everything below them is stored).
 */
import { MlvError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import type { Pointer } from '../core/pointer.js';
import type { TreeEntry } from '../core/tree.js';

export interface GraphNode {
  id: ObjectId;
  kind: 'file' | 'tree';
  size: number;
  /** Repository-relative path where this object is used (the first one found). */
  path: string;
  /** Tree objects: the ids of their direct entries. */
  children?: ObjectId[];
  /** Tree objects: their canonical bytes when they were read from the remote. */
  bytes?: Buffer;
}

export interface ObjectGraph {
  nodes: Map<ObjectId, GraphNode>;
  /** Trees passed on the way down to a requested part of a folder (not needed as a whole). */
  pathTrees: GraphNode[];
  /** Trees that could not be read anywhere: their contents are unknown. */
  unreadable: Array<{ id: ObjectId; path: string; reason: string }>;
}

export interface GraphTarget {
  targetRel: string;
  pointer: Pointer;
  /** Restrict to this path inside a tracked folder (POSIX, relative to the target). */
  subpath?: string;
}

export type TreeSource = (id: ObjectId, path: string) => Promise<{ entries: TreeEntry[]; bytes?: Buffer } | null>;

/** A damaged or missing tree is reported with its path; anything else stops the command. */
function isTreeProblem(err: unknown): err is MlvError {
  return err instanceof MlvError && ['CORRUPT_OBJECT', 'INVALID_TREE', 'MISSING_OBJECTS'].includes(err.code);
}

export async function buildGraph(targets: GraphTarget[], readTree: TreeSource): Promise<ObjectGraph> {
  const graph: ObjectGraph = { nodes: new Map(), pathTrees: [], unreadable: [] };
  const addTree = async (id: ObjectId, path: string, size: number): Promise<void> => {
    if (graph.nodes.has(id)) return;
    let tree: { entries: TreeEntry[]; bytes?: Buffer } | null;
    try {
      tree = await readTree(id, path);
    } catch (err) {
      // A damaged tree is reported with its path; anything else (the remote is unreachable,
      // credentials refused) stops the command.
      if (!isTreeProblem(err)) throw err;
      graph.unreadable.push({ id, path, reason: err.message });
      return;
    }
    if (!tree) {
      graph.unreadable.push({ id, path, reason: 'not in the cache or on the remote' });
      return;
    }
    const node: GraphNode = { id, kind: 'tree', size, path, children: tree.entries.map((e) => e.id) };
    if (tree.bytes) node.bytes = tree.bytes;
    graph.nodes.set(id, node);
    for (const e of tree.entries) {
      const childPath = `${path}/${e.name}`;
      if (e.kind === 'dir') await addTree(e.id, childPath, e.size);
      else if (!graph.nodes.has(e.id)) graph.nodes.set(e.id, { id: e.id, kind: 'file', size: e.size, path: childPath });
    }
  };

  for (const t of targets) {
    const { pointer } = t;
    if (pointer.kind === 'file') {
      if (t.subpath) throw new MlvError('USAGE', `${t.targetRel} is a file; it has no ${t.subpath} inside`);
      if (!graph.nodes.has(pointer.id)) graph.nodes.set(pointer.id, { id: pointer.id, kind: 'file', size: pointer.size, path: t.targetRel });
      continue;
    }
    if (!t.subpath) {
      await addTree(pointer.id, t.targetRel, pointer.size);
      continue;
    }
    // Walk down to the requested part; only what lies below it is needed.
    let id = pointer.id;
    let path = t.targetRel;
    const parts = t.subpath.split('/');
    for (let i = 0; i < parts.length; i++) {
      let tree: { entries: TreeEntry[]; bytes?: Buffer } | null;
      try {
        tree = await readTree(id, path);
      } catch (err) {
        if (!isTreeProblem(err)) throw err;
        graph.unreadable.push({ id, path, reason: (err as MlvError).message });
        break;
      }
      if (!tree) {
        graph.unreadable.push({ id, path, reason: 'not in the cache or on the remote' });
        break;
      }
      const pathNode: GraphNode = { id, kind: 'tree', size: 0, path, children: tree.entries.map((e) => e.id) };
      if (tree.bytes) pathNode.bytes = tree.bytes;
      graph.pathTrees.push(pathNode);
      const entry = tree.entries.find((e) => e.name === parts[i]);
      path = `${path}/${parts[i]}`;
      if (!entry) throw new MlvError('NOT_FOUND', `${path} is not part of the tracked data`, { hint: `list what is tracked with mlv status -v ${t.targetRel}` });
      if (i === parts.length - 1) {
        if (entry.kind === 'dir') await addTree(entry.id, path, entry.size);
        else if (!graph.nodes.has(entry.id)) graph.nodes.set(entry.id, { id: entry.id, kind: 'file', size: entry.size, path });
      } else if (entry.kind !== 'dir') {
        throw new MlvError('NOT_FOUND', `${path} is a file, so ${t.targetRel}/${t.subpath} does not exist`);
      } else {
        id = entry.id;
      }
    }
  }
  return graph;
}

/** Trees ordered so that every tree comes after all trees below it. */
export function treesBottomUp(graph: ObjectGraph): GraphNode[] {
  const order: GraphNode[] = [];
  const seen = new Set<ObjectId>();
  const visit = (node: GraphNode) => {
    if (seen.has(node.id)) return;
    seen.add(node.id);
    for (const c of node.children ?? []) {
      const child = graph.nodes.get(c);
      if (child?.kind === 'tree') visit(child);
    }
    order.push(node);
  };
  for (const node of graph.nodes.values()) if (node.kind === 'tree') visit(node);
  return order;
}

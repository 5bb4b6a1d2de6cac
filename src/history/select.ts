/** Resolving a path at a revision to tracked data, and walking down into tracked folders. */
import { MlvError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import { POINTER_SUFFIX } from '../core/pointer.js';
import type { ObjectAccess } from './objects.js';
import type { TrackedData } from './source.js';

export interface DataNode {
  /** Relative to the project root, `/` separators. */
  path: string;
  kind: 'file' | 'dir';
  id: ObjectId;
  size: number;
  exec: boolean;
  /** Folders named by a pointer file: how many files it records. */
  files?: number;
}

export interface Selection {
  /** The path asked for ('' = everything). */
  rel: string;
  /** A tracked target, a part of one, or (for a plain folder) every target below it. */
  nodes: DataNode[];
  /** True when `rel` is a plain folder holding targets rather than tracked data itself. */
  plainFolder: boolean;
  /** The tracked target `rel` is, or is inside (absent for a plain folder). */
  target?: TrackedData;
}

export function nodeOfTarget(t: TrackedData): DataNode {
  const p = t.pointer;
  const node: DataNode = { path: t.targetRel, kind: p.kind, id: p.id, size: p.size, exec: p.executable ?? false };
  if (p.kind === 'dir' && p.files !== undefined) node.files = p.files;
  return node;
}

export async function selectPath(access: ObjectAccess, tracked: TrackedData[], rel: string): Promise<Selection> {
  const where = access.source.describe();
  if (rel === '') return { rel, nodes: tracked.map(nodeOfTarget), plainFolder: true };
  const byPointer = tracked.find((t) => t.pointerRel === rel);
  if (byPointer) return { rel: byPointer.targetRel, nodes: [nodeOfTarget(byPointer)], plainFolder: false, target: byPointer };
  const exact = tracked.find((t) => t.targetRel === rel);
  if (exact) return { rel, nodes: [nodeOfTarget(exact)], plainFolder: false, target: exact };
  const enclosing = tracked.find((t) => rel.startsWith(t.targetRel + '/'));
  if (enclosing) {
    return { rel, nodes: [await nodeInside(access, enclosing, rel.slice(enclosing.targetRel.length + 1))], plainFolder: false, target: enclosing };
  }
  const below = tracked.filter((t) => t.targetRel.startsWith(rel + '/'));
  if (below.length > 0) return { rel, nodes: below.map(nodeOfTarget), plainFolder: true };
  const hint = rel.endsWith(POINTER_SUFFIX) ? undefined : `list what is tracked there with mlv ls${access.source.rev ? ` --rev ${access.source.rev}` : ''}`;
  throw new MlvError('NOT_FOUND', `${rel} is not tracked data in ${where}`, hint ? { hint } : {});
}

async function nodeInside(access: ObjectAccess, t: TrackedData, subpath: string): Promise<DataNode> {
  if (t.pointer.kind === 'file') throw new MlvError('NOT_FOUND', `${t.targetRel} is a tracked file, so ${t.targetRel}/${subpath} does not exist`);
  let id = t.pointer.id;
  let path = t.targetRel;
  const parts = subpath.split('/');
  for (let i = 0; i < parts.length; i++) {
    const entries = await access.readTree(id, path);
    const entry = entries.find((e) => e.name === parts[i]);
    path = `${path}/${parts[i]}`;
    if (!entry) throw new MlvError('NOT_FOUND', `${path} is not part of the tracked data in ${access.source.describe()}`, { hint: `list the folder with mlv ls ${path.slice(0, path.lastIndexOf('/'))}${access.source.rev ? ` --rev ${access.source.rev}` : ''}` });
    if (i === parts.length - 1) return { path, kind: entry.kind === 'dir' ? 'dir' : 'file', id: entry.id, size: entry.size, exec: entry.exec };
    if (entry.kind !== 'dir') throw new MlvError('NOT_FOUND', `${path} is a file, so ${t.targetRel}/${subpath} does not exist`);
    id = entry.id;
  }
  throw new Error('unreachable');
}

/** The direct entries of a folder node. */
export async function childrenOf(access: ObjectAccess, dir: DataNode): Promise<DataNode[]> {
  const entries = await access.readTree(dir.id, dir.path);
  return entries.map((e) => ({ path: `${dir.path}/${e.name}`, kind: e.kind === 'dir' ? 'dir' : 'file', id: e.id, size: e.size, exec: e.exec }));
}

/** Every file and folder below `node` (the node itself included), parents before children. */
export async function expandNode(access: ObjectAccess, node: DataNode): Promise<DataNode[]> {
  if (node.kind === 'file') return [node];
  const children = await childrenOf(access, node);
  const below = await Promise.all(children.map((c) => expandNode(access, c)));
  return [node, ...below.flat()];
}

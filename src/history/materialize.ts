/**
 * Writing tracked data out of the workspace (mlv get): every file re-hashed from its cache object
 * into a staging folder beside the output, renamed into place once everything is there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { wrapFsError } from '../core/errors.js';
import type { LocalCache } from '../storage/local-cache.js';
import { Linker } from '../workspace/linker.js';
import { assertDistinctNames, probeFolding } from '../workspace/name-folding.js';
import type { ObjectAccess } from './objects.js';
import { expandNode, type DataNode } from './select.js';

export interface PlannedFile {
  node: DataNode;
  /** Relative to the output root (`''` when the output is this file itself). */
  dest: string;
}

export interface Plan {
  files: PlannedFile[];
  /** Folders to create, relative to the output root ('' = the root itself). */
  dirs: string[];
  bytes: number;
}

/** Everything below the nodes, with paths relative to `baseRel` (the path the user named). */
export async function planOutput(access: ObjectAccess, nodes: DataNode[], baseRel: string, single: boolean): Promise<Plan> {
  const plan: Plan = { files: [], dirs: [], bytes: 0 };
  const strip = (p: string) => (single ? p.slice(nodes[0]!.path.length + 1) : baseRel === '' ? p : p.slice(baseRel.length + 1));
  const dirs = new Set<string>(single && nodes[0]!.kind === 'file' ? [] : ['']);
  for (const top of nodes) {
    for (const n of await expandNode(access, top)) {
      const dest = single && n === top ? '' : strip(n.path);
      if (n.kind === 'dir') dirs.add(dest);
      else {
        plan.files.push({ node: n, dest });
        plan.bytes += n.size;
      }
      // Parents of targets below a plain folder.
      for (let i = dest.indexOf('/'); i > 0; i = dest.indexOf('/', i + 1)) dirs.add(dest.slice(0, i));
    }
  }
  plan.dirs = [...dirs].sort((a, b) => a.length - b.length || (a < b ? -1 : 1));
  return plan;
}

/**
 * Writes the plan to `output` (which must not exist): a staging path beside it, then one rename.
 * Returns how many files came from a cache without fetching.
 */
export async function writeOutput(access: ObjectAccess, plan: Plan, output: string): Promise<{ fromCache: number }> {
  assertDistinctNames([...plan.dirs, ...plan.files.map((f) => f.dest)], probeFolding(path.dirname(output)), 'mlv get');
  const fromCache = plan.files.filter((f) => access.cacheWith(f.node.id)).length;
  await access.fetchMissing(plan.files.map((f) => ({ id: f.node.id, size: f.node.size, path: f.node.path })));
  const staging = path.join(path.dirname(output), `.mlv-get-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  const linkers = new Map<LocalCache, Linker>();
  const linkerFor = (cache: LocalCache) => {
    let l = linkers.get(cache);
    if (!l) linkers.set(cache, (l = new Linker(cache, ['reflink', 'copy'])));
    return l;
  };
  const isFile = plan.dirs.length === 0;
  try {
    fs.mkdirSync(staging);
    for (const d of plan.dirs) if (d !== '') fs.mkdirSync(path.join(staging, ...d.split('/')));
    for (const f of plan.files) {
      const cache = access.cacheWith(f.node.id)!;
      const dest = isFile ? path.join(staging, 'file') : path.join(staging, ...f.dest.split('/'));
      linkerFor(cache).place(f.node.id, dest, f.node.exec, { direct: true });
    }
    fs.renameSync(isFile ? path.join(staging, 'file') : staging, output);
  } catch (err) {
    return wrapFsError(err, `write ${output}`);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return { fromCache };
}

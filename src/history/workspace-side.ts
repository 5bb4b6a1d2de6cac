/**
 * The working tree as one side of a diff: each tracked target as its data on disk is now (hashed
 * with the stat cache, as status does), its folder trees kept in memory. A target whose data is
 * absent altogether counts as its pointer says: not pulled is not deleted.
 */
import * as fs from 'node:fs';
import type { ObjectId } from '../core/id.js';
import type { TreeEntry } from '../core/tree.js';
import type { ProgressListener } from '../core/progress.js';
import type { Repo } from '../workspace/repo.js';
import { snapshotFile, snapshotFolder } from '../workspace/snapshot.js';
import { StatCache } from '../workspace/stat-cache.js';
import { nodeOfTarget, type DataNode } from './select.js';
import type { TrackedData } from './source.js';

export async function workspaceTargets(
  repo: Repo,
  tracked: TrackedData[],
  opts: { jobs?: number; onProgress?: ProgressListener } = {},
): Promise<{ targets: Map<string, DataNode>; trees: Map<ObjectId, TreeEntry[]> }> {
  const stats = StatCache.load(repo.statCachePath);
  const snapOpts = { mode: 'hash' as const, stats, jobs: opts.jobs ?? repo.config.jobs, onProgress: opts.onProgress };
  const targets = new Map<string, DataNode>();
  const trees = new Map<ObjectId, TreeEntry[]>();
  for (const t of tracked) {
    const abs = repo.abs(t.targetRel);
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st) {
      targets.set(t.targetRel, nodeOfTarget(t));
    } else if (st.isDirectory()) {
      const snap = await snapshotFolder(repo, abs, snapOpts);
      for (const [rel, entries] of snap.built.levels) trees.set(snap.built.ids.get(rel)!, entries);
      targets.set(t.targetRel, { path: t.targetRel, kind: 'dir', id: snap.built.id, size: snap.built.size, exec: false, files: snap.built.files });
    } else if (st.isFile() || st.isSymbolicLink()) {
      const r = await snapshotFile(repo, abs, snapOpts);
      targets.set(t.targetRel, { path: t.targetRel, kind: 'file', id: r.id, size: r.size, exec: r.exec });
    }
  }
  stats.save(repo.tmpDir);
  return { targets, trees };
}

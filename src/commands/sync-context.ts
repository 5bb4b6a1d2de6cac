/** Shared set-up of push, fetch, pull and status --remote: the remote, the targets, their objects. */
import { parseTree } from '../core/tree.js';
import { openRemote, defaultJobs } from '../storage/open-remote.js';
import type { RemoteStore } from '../storage/remote-store.js';
import { remoteError } from '../storage/retry.js';
import { readRemoteObject } from '../storage/download.js';
import { buildGraph, type GraphTarget, type ObjectGraph, type TreeSource } from '../workspace/object-graph.js';
import { describeRemote, resolveRemote, type RemoteSpec } from '../workspace/remotes.js';
import type { Repo } from '../workspace/repo.js';
import { loadPointer, resolveTargets } from '../workspace/targets.js';
import { TreeReader } from '../workspace/tree-reader.js';

export interface SyncSetup {
  spec: RemoteSpec;
  remote: RemoteStore;
  remoteLabel: string;
  jobs: number;
  targets: GraphTarget[];
}

export async function setUpSync(repo: Repo, cwd: string, opts: { targets?: string[]; remote?: string; jobs?: number }): Promise<SyncSetup> {
  const spec = resolveRemote(repo, opts.remote);
  if (opts.jobs !== undefined) spec.jobs = opts.jobs;
  const tracked = resolveTargets(repo, opts.targets ?? [], cwd, { allowInside: true });
  const targets: GraphTarget[] = tracked.map((t) => {
    const { pointer } = loadPointer(repo, t);
    const g: GraphTarget = { targetRel: t.targetRel, pointer };
    if (t.subpath) g.subpath = t.subpath;
    return g;
  });
  const remote = await openRemote(spec);
  return { spec, remote, remoteLabel: describeRemote(spec), jobs: opts.jobs ?? defaultJobs(spec), targets };
}

/** Trees from the local cache only (push: everything must be local). */
export function localTrees(repo: Repo): TreeSource {
  const reader = new TreeReader(repo.cache);
  return async (id) => {
    const entries = reader.read(id);
    return entries ? { entries } : null;
  };
}

/** Trees from the local cache, else from the remote (verified; kept in memory until stored). */
export function localThenRemoteTrees(repo: Repo, remote: RemoteStore): TreeSource {
  const reader = new TreeReader(repo.cache);
  return async (id) => {
    const entries = reader.read(id);
    if (entries) return { entries };
    let bytes: Buffer | null;
    try {
      bytes = await readRemoteObject(remote, id);
    } catch (err) {
      throw remoteError(err, remote.label);
    }
    if (!bytes) return null;
    return { entries: parseTree(bytes), bytes };
  };
}

export async function graphFor(setup: SyncSetup, source: TreeSource): Promise<ObjectGraph> {
  return buildGraph(setup.targets, source);
}

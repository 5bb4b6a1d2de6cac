/** `mlv status`: how each tracked target in the workspace compares with its pointer and the cache. */
import * as fs from 'node:fs';
import { MlvError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import type { TargetKind } from '../core/pointer.js';
import { findRepo, type Repo } from '../workspace/repo.js';
import { snapshotFile, snapshotFolder } from '../workspace/snapshot.js';
import { StatCache } from '../workspace/stat-cache.js';
import { loadPointer, resolveTargets, type Tracked } from '../workspace/targets.js';
import { diffFolder } from '../workspace/tree-diff.js';
import { TreeReader } from '../workspace/tree-reader.js';
import type { CommandContext } from './context.js';

export interface StatusOptions {
  targets?: string[];
  /** Keep the lists of changed paths (otherwise only counts). */
  verbose?: boolean;
  jobs?: number;
}

export type TargetState = 'up-to-date' | 'modified' | 'missing' | 'not-in-cache' | 'invalid';

export interface TargetStatus {
  path: string;
  pointer: string;
  kind?: TargetKind;
  state: TargetState;
  /** Whether every object the pointer references is in the local cache. */
  inCache: boolean;
  changes?: { added: number; deleted: number; modified: number; unsupported: number };
  /** Present with `verbose`. */
  paths?: { added: string[]; deleted: string[]; modified: string[]; unsupported: string[] };
  /** The recorded data could not be fully compared because part of it is not in the cache. */
  incomplete?: boolean;
  error?: string;
}

export interface StatusResult {
  targets: TargetStatus[];
  /** True when every target is up to date. */
  clean: boolean;
}

export async function status(ctx: CommandContext, opts: StatusOptions = {}): Promise<StatusResult> {
  const repo = findRepo(ctx.cwd);
  const tracked = resolveTargets(repo, opts.targets ?? [], ctx.cwd);
  const stats = StatCache.load(repo.statCachePath);
  const reader = new TreeReader(repo.cache);
  const targets: TargetStatus[] = [];
  for (const t of tracked) targets.push(await statusOne(repo, t, stats, reader, opts, ctx));
  // A status of everything has looked at every tracked file: forget entries of files long gone.
  stats.save(repo.tmpDir, { prune: (opts.targets ?? []).length === 0 && targets.every((t) => t.state !== 'invalid') });
  return { targets, clean: targets.every((t) => t.state === 'up-to-date') };
}

async function statusOne(repo: Repo, t: Tracked, stats: StatCache, reader: TreeReader, opts: StatusOptions, ctx: CommandContext): Promise<TargetStatus> {
  let loaded;
  try {
    loaded = loadPointer(repo, t);
  } catch (err) {
    if (err instanceof MlvError) return { path: t.targetRel, pointer: t.pointerRel, state: 'invalid', inCache: false, error: err.message };
    throw err;
  }
  const { pointer } = loaded;
  const base = { path: t.targetRel, pointer: t.pointerRel, kind: pointer.kind };
  let inCacheMemo: boolean | undefined;
  // For folders the root tree stands for everything below it: a tree enters the cache only after
  // every object below it (mlv fsck checks the objects themselves).
  const isInCache = () => (inCacheMemo ??= repo.cache.has(pointer.id));
  const abs = repo.abs(t.targetRel);
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(abs);
  } catch {
    st = undefined;
  }
  if (!st) return { ...base, state: 'missing', inCache: isInCache() };
  const snapOpts = { mode: 'hash' as const, stats, jobs: opts.jobs ?? repo.config.jobs, onProgress: ctx.onProgress };

  if (pointer.kind === 'file') {
    if (st.isDirectory()) return { ...base, state: 'modified', inCache: isInCache(), changes: { added: 0, deleted: 0, modified: 1, unsupported: 0 } };
    if (!st.isFile() && !st.isSymbolicLink()) return { ...base, state: 'modified', inCache: isInCache() };
    let id: ObjectId;
    let exec: boolean;
    try {
      const r = await snapshotFile(repo, abs, snapOpts);
      id = r.id;
      exec = r.exec;
    } catch (err) {
      if (err instanceof MlvError && err.code === 'UNSUPPORTED_FILE') return { ...base, state: 'modified', inCache: isInCache() };
      throw err;
    }
    if (id === pointer.id && exec === (pointer.executable ?? false)) return { ...base, state: isInCache() ? 'up-to-date' : 'not-in-cache', inCache: isInCache() };
    return { ...base, state: 'modified', inCache: isInCache(), changes: { added: 0, deleted: 0, modified: 1, unsupported: 0 } };
  }

  if (!st.isDirectory()) {
    return { ...base, state: 'modified', inCache: isInCache(), changes: { added: 0, deleted: pointer.files ?? 0, modified: 0, unsupported: 0 } };
  }
  const snap = await snapshotFolder(repo, abs, snapOpts);
  const unsupported = snap.scan.unsupported.map((u) => u.path);
  if (snap.built.id === pointer.id && unsupported.length === 0) {
    // Same root id, so the workspace's trees are the recorded ones: checking that they exist is
    // enough, without reading them.
    const present = [...snap.built.ids.values()].every((id) => repo.cache.has(id));
    return { ...base, state: present ? 'up-to-date' : 'not-in-cache', inCache: present };
  }
  const diff = diffFolder(reader, pointer.id, snap.built);
  const result: TargetStatus = {
    ...base,
    state: 'modified',
    inCache: isInCache(),
    changes: { added: diff.added.length, deleted: diff.deleted.length, modified: diff.modified.length, unsupported: unsupported.length },
  };
  if (diff.incomplete) result.incomplete = true;
  if (opts.verbose) result.paths = { added: diff.added, deleted: diff.deleted, modified: diff.modified, unsupported };
  return result;
}

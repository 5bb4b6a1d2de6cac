/**
 * `mlv checkout`: make the workspace match the pointers, from the cache. Plans every target first;
 * content that is not in the cache is never overwritten or deleted unless `force`, and even then it
 * is saved into the cache before it goes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError, errnoCode, wrapFsError } from '../core/errors.js';
import { displayPath } from '../core/paths.js';
import type { ObjectId } from '../core/id.js';
import type { LinkStrategy } from '../workspace/config.js';
import { FastLstat } from '../workspace/fast-lstat.js';
import { Linker } from '../workspace/linker.js';
import { statKeyOf } from '../workspace/racy.js';
import { findRepo, type Repo } from '../workspace/repo.js';
import { assertParentsReal, ensureRealDir, readCurrent } from '../workspace/current-state.js';
import { StatCache } from '../workspace/stat-cache.js';
import { loadPointer, resolveTargets, type LoadedTarget } from '../workspace/targets.js';
import { TreeReader, walkTree } from '../workspace/tree-reader.js';
import { WriteList } from '../workspace/write-list.js';
import { withLock, type CommandContext } from './context.js';
import { crashPoint } from '../core/crash-points.js';
import { capHeapGrowth } from '../core/heap.js';
import { assertDistinctNames, probeFolding } from '../workspace/name-folding.js';

export interface CheckoutOptions {
  targets?: string[];
  force?: boolean;
  jobs?: number;
}

export interface CheckoutResult {
  targets: Array<{ path: string; written: number; deleted: number; unchanged: number; missing: number }>;
  written: number;
  deleted: number;
  unchanged: number;
  /** Workspace content replaced under --force, saved in the cache first. */
  saved: Array<{ path: string; id: ObjectId; object: string }>;
  /** Symbolic links or special files removed under --force (their targets were not touched). */
  removedLinks: string[];
  /** Folders with names mlv cannot track, left in place under --force. */
  left: string[];
  /** Files whose objects are not in the local cache (left as they were). */
  missing: Array<{ path: string; id: ObjectId }>;
  /** Files whose cache objects failed verification (left as they were). */
  corrupt: Array<{ path: string; id: ObjectId }>;
  strategies: Partial<Record<LinkStrategy, number>>;
}

type Desired = { kind: 'file'; id: ObjectId; exec: boolean } | { kind: 'dir' };
const DIR: Desired = { kind: 'dir' };

interface Plan {
  target: LoadedTarget;
  removeFiles: string[];
  removeDirs: string[];
  mkdirs: string[];
  writes: WriteList;
  unchanged: number;
  missing: Array<{ path: string; id: ObjectId }>;
  /** Without --force these stop the checkout; with it, `save` content first, `unlink` links, `leave` folders alone. */
  conflicts: Array<{ path: string; reason: string; id?: ObjectId; action: 'save' | 'unlink' | 'leave' }>;
}

export async function checkout(ctx: CommandContext, opts: CheckoutOptions = {}): Promise<CheckoutResult> {
  const repo = findRepo(ctx.cwd);
  return withLock(repo, 'checkout', () => checkoutLocked(repo, ctx, opts));
}

/** The body of checkout, for commands (pull) that already hold the repository lock. */
export async function checkoutLocked(repo: Repo, ctx: CommandContext, opts: CheckoutOptions): Promise<CheckoutResult> {
  capHeapGrowth();
  repo.cache.cleanStaleTemps();
  const tracked = resolveTargets(repo, opts.targets ?? [], ctx.cwd, { allowInside: true });
  const loaded = tracked.map((t) => loadPointer(repo, t));
  const stats = StatCache.load(repo.statCachePath);
  // Each tree is walked once; remembering them all would hold every entry through the writes.
  const reader = new TreeReader(repo.cache, { remember: false });
  const plans: Plan[] = [];
  for (const target of loaded) plans.push(await planTarget(repo, target, stats, reader, opts, ctx));

  const conflicts = plans.flatMap((p) => p.conflicts);
  if (conflicts.length > 0 && !opts.force) {
    stats.save(repo.tmpDir);
    const listed = conflicts.slice(0, 5).map((c) => `${displayPath(c.path)} (${c.reason})`).join(', ');
    const more = conflicts.length > 5 ? ` and ${conflicts.length - 5} more` : '';
    throw new MlvError('CONFLICT', `checkout would overwrite or delete data that is not in the cache: ${listed}${more}`, {
      hint: 'keep it with mlv add <target>, or replace it with mlv checkout --force (the current content is saved in the cache first)',
      details: { conflicts },
    });
  }

  const result: CheckoutResult = { targets: [], written: 0, deleted: 0, unchanged: 0, saved: [], removedLinks: [], left: [], missing: [], corrupt: [], strategies: {} };
  for (const c of conflicts) {
    if (c.action === 'save' && c.id) {
      repo.cache.putFile(repo.abs(c.path), c.id);
      result.saved.push({ path: c.path, id: c.id, object: path.relative(repo.root, repo.cache.objectPath(c.id)) });
    } else if (c.action === 'unlink') {
      result.removedLinks.push(c.path);
    } else {
      result.left.push(c.path);
    }
  }
  const linker = new Linker(repo.cache, repo.config.link);
  const fast = new FastLstat();
  const total = plans.reduce((n, p) => n + p.writes.length, 0);
  let done = 0;
  const realDirs = new Set<string>();
  for (const plan of plans) {
    const summary = { path: plan.target.subpath ? `${plan.target.targetRel}/${plan.target.subpath}` : plan.target.targetRel, written: 0, deleted: 0, unchanged: plan.unchanged, missing: plan.missing.length };
    const writes = plan.writes;
    const rewritten = new Set(plan.removeFiles.length > 0 ? writes.rels : []);
    for (const rel of plan.removeFiles) {
      crashPoint('checkout:remove');
      removeFile(repo.abs(rel));
      if (!rewritten.has(rel)) summary.deleted++;
    }
    for (const rel of plan.removeDirs) {
      try {
        fs.rmdirSync(repo.abs(rel));
      } catch {
        // still holds content we were told to keep (missing objects); leave it
      }
    }
    for (const rel of plan.mkdirs) ensureRealDir(repo, rel, realDirs);
    for (let k = 0; k < writes.length; k++) {
      const rel = writes.rels[k]!;
      const id = writes.id(k);
      ensureRealDir(repo, path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel), realDirs);
      const dest = repo.abs(rel);
      crashPoint('checkout:write');
      try {
        const strategy = linker.place(id, dest, writes.exec(k));
        result.strategies[strategy] = (result.strategies[strategy] ?? 0) + 1;
        if (strategy !== 'symlink') stats.recordWritten(fast.lstat(dest) ? fast.probe : statKeyOf(fs.lstatSync(dest, { bigint: true })), id, dest);
        summary.written++;
      } catch (err) {
        if (err instanceof MlvError && err.code === 'CORRUPT_OBJECT') result.corrupt.push({ path: rel, id });
        else if (err instanceof MlvError && err.code === 'MISSING_OBJECTS') result.missing.push({ path: rel, id });
        else throw err;
      }
      ctx.onProgress?.({ phase: 'checkout', done: ++done, total });
      // Let V8 run its scheduled GC tasks: a loop that never yields lets garbage pile up in the old
      // generation for the whole checkout (200,000 files: +100 MB peak memory).
      if ((done & 1023) === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    // Written: the list (a path and id per file) can go before the stat cache is merged and saved.
    plan.writes = new WriteList();
    result.missing.push(...plan.missing);
    result.written += summary.written;
    result.deleted += summary.deleted;
    result.unchanged += summary.unchanged;
    result.targets.push(summary);
  }
  crashPoint('checkout:before-stat-cache');
  stats.save(repo.tmpDir, { prune: (opts.targets ?? []).length === 0 });
  return result;
}

/** Removes a file, link or special file (never a folder); a file already gone is fine. */
function removeFile(abs: string): void {
  try {
    fs.unlinkSync(abs);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') wrapFsError(err, `remove ${abs}`);
  }
}

async function planTarget(repo: Repo, target: LoadedTarget, stats: StatCache, reader: TreeReader, opts: CheckoutOptions, ctx: CommandContext): Promise<Plan> {
  const plan: Plan = { target, removeFiles: [], removeDirs: [], mkdirs: [], writes: new WriteList(), unchanged: 0, missing: [], conflicts: [] };
  const { pointer, targetRel } = target;
  // With a subpath (`mlv checkout data/train`), only that part of the tracked folder is touched.
  const base = target.subpath ? `${targetRel}/${target.subpath}` : targetRel;
  if (target.subpath && pointer.kind !== 'dir') throw new MlvError('NOT_FOUND', `${targetRel} is a tracked file, so ${base} does not exist`);
  const inScope = (rel: string) => rel === base || rel.startsWith(base + '/');
  assertParentsReal(repo, base);

  const desired = new Map<string, Desired>();
  const keep: string[] = [];
  if (pointer.kind === 'file') {
    desired.set(targetRel, { kind: 'file', id: pointer.id, exec: pointer.executable ?? false });
  } else {
    if (!reader.read(pointer.id)) {
      plan.missing.push({ path: targetRel, id: pointer.id });
      return plan;
    }
    desired.set(targetRel, DIR);
    walkTree(
      reader,
      pointer.id,
      (p, entry) => desired.set(`${targetRel}/${p}`, entry.kind === 'dir' ? DIR : { kind: 'file', id: entry.id, exec: entry.exec }),
      (p, entry) => {
        const rel = `${targetRel}/${p}`;
        plan.missing.push({ path: rel, id: entry.id });
        keep.push(rel);
      },
    );
    if (target.subpath) {
      for (const rel of [...desired.keys()]) if (!inScope(rel)) desired.delete(rel);
      plan.missing = plan.missing.filter((m) => inScope(m.path) || base.startsWith(m.path + '/'));
      if (desired.size === 0 && plan.missing.length === 0) {
        throw new MlvError('NOT_FOUND', `${base} is not part of the tracked data in ${target.pointerRel}`, { hint: `see what is tracked with mlv status -v ${targetRel}` });
      }
    }
  }
  const kept = (rel: string) => keep.some((k) => rel === k || rel.startsWith(k + '/'));
  const parentRel = path.posix.dirname(targetRel) === '.' ? '' : path.posix.dirname(targetRel);
  if (fs.existsSync(repo.abs(parentRel))) assertDistinctNames(desired.keys(), probeFolding(repo.abs(parentRel)), 'checkout');

  const current = await readCurrent(repo, base, stats, { jobs: opts.jobs, onProgress: ctx.onProgress });
  for (const [rel, cur] of current) {
    if (cur.kind === 'dir' || kept(rel)) continue;
    const want = desired.get(rel);
    if (cur.kind === 'file') {
      if (want?.kind === 'file' && want.id === cur.id) {
        if (want.exec === cur.exec) plan.unchanged++;
        else plan.writes.push(rel, want.id, want.exec);
        continue;
      }
      if (want?.kind === 'file' && !repo.cache.has(want.id)) {
        plan.missing.push({ path: rel, id: want.id });
        continue;
      }
      plan.removeFiles.push(rel);
      if (!repo.cache.has(cur.id)) plan.conflicts.push({ path: rel, reason: want ? 'modified' : 'not tracked', id: cur.id, action: 'save' });
    } else if (cur.kind === 'foreign-dir') {
      plan.conflicts.push({ path: rel, reason: 'folder with a name mlv cannot track', action: 'leave' });
    } else {
      plan.removeFiles.push(rel);
      plan.conflicts.push({ path: rel, reason: cur.kind === 'link' ? 'symbolic link' : 'special file', action: 'unlink' });
    }
  }
  const currentDirs = [...current].filter(([rel, c]) => c.kind === 'dir' && !kept(rel)).map(([rel]) => rel);
  const missingPaths = new Set(plan.missing.map((m) => m.path));
  plan.removeDirs = currentDirs.filter((rel) => desired.get(rel)?.kind !== 'dir').sort((a, b) => b.length - a.length);
  for (const [rel, want] of desired) {
    if (kept(rel)) continue;
    const cur = current.get(rel);
    if (want.kind === 'dir') {
      if (cur?.kind !== 'dir') plan.mkdirs.push(rel);
    } else if (!(cur?.kind === 'file' && cur.id === want.id)) {
      if (repo.cache.has(want.id)) plan.writes.push(rel, want.id, want.exec);
      else if (!missingPaths.has(rel)) plan.missing.push({ path: rel, id: want.id });
    }
  }
  plan.mkdirs.sort((a, b) => a.length - b.length);
  return plan;
}

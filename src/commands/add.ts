/** `mlv add`: hash targets into the cache, write pointer files, keep the data out of Git. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import { POINTER_SUFFIX, formatPointer, parsePointer, type Pointer, type TargetKind } from '../core/pointer.js';
import { GitRepo } from '../git/git-adapter.js';
import { removeStaleTemps, writeFileAtomic } from '../workspace/atomic.js';
import { addIgnoreEntry } from '../workspace/gitignore.js';
import { findRepo, type Repo } from '../workspace/repo.js';
import { cacheObjectIdOfLink, refuseUnsupported, scanFolder, type ScanResult } from '../workspace/scan.js';
import { snapshotFile, snapshotFolder } from '../workspace/snapshot.js';
import { StatCache } from '../workspace/stat-cache.js';
import { discoverPointers } from '../workspace/targets.js';
import { withLock, type CommandContext } from './context.js';
import { crashPoint } from '../core/crash-points.js';

export interface AddOptions {
  paths: string[];
  /** Stage pointer and .gitignore in Git (default: core.autostage). */
  stage?: boolean;
  description?: string;
  jobs?: number;
}

export interface AddedTarget {
  path: string;
  pointer: string;
  kind: TargetKind;
  id: ObjectId;
  size: number;
  files?: number;
  /** added: first time; updated: new content recorded; unchanged: pointer already matched. */
  status: 'added' | 'updated' | 'unchanged';
  hashedFiles: number;
  hashedBytes: number;
}

export interface AddResult {
  targets: AddedTarget[];
  staged: string[];
}

interface Planned {
  rel: string;
  abs: string;
  kind: TargetKind;
  /** A folder's scan from validation, reused for hashing (then dropped). */
  scan?: ScanResult;
}

export async function add(ctx: CommandContext, opts: AddOptions): Promise<AddResult> {
  if (opts.paths.length === 0) throw new MlvError('USAGE', 'nothing to add', { hint: 'give one or more files or folders: mlv add data/' });
  const repo = findRepo(ctx.cwd);
  return withLock(repo, 'add', async () => {
    const planned = await plan(repo, ctx.cwd, opts.paths);
    repo.cache.cleanStaleTemps();
    const stats = StatCache.load(repo.statCachePath);
    const targets: AddedTarget[] = [];
    const toStage = new Set<string>();
    for (const p of planned) {
      crashPoint('add:target');
      const added = await addOne(repo, p, stats, opts, ctx);
      targets.push(added);
      const dirRel = path.posix.dirname(p.rel) === '.' ? '' : path.posix.dirname(p.rel);
      const ignoreChanged = addIgnoreEntry(repo.abs(dirRel), path.posix.basename(p.rel));
      if (added.status !== 'unchanged' || ignoreChanged) toStage.add(added.pointer);
      if (ignoreChanged) toStage.add(dirRel === '' ? '.gitignore' : `${dirRel}/.gitignore`);
    }
    crashPoint('add:before-stat-cache');
    stats.save(repo.tmpDir);
    crashPoint('add:before-stage');
    const staged: string[] = [];
    const stage = opts.stage ?? repo.config.autostage;
    if (stage && !repo.config.noScm) {
      const gitRepo = new GitRepo(repo.root);
      // Unchanged pointers too, if a killed run wrote them but never staged them (and a
      // .gitignore it created; one with other edits is the user's to stage).
      const pointers = targets.map((t) => t.pointer).filter((p) => !toStage.has(p));
      const ignores = [...new Set(targets.map((t) => (path.posix.dirname(t.path) === '.' ? '.gitignore' : `${path.posix.dirname(t.path)}/.gitignore`)))].filter((p) => !toStage.has(p));
      for (const p of await gitRepo.unstaged(pointers)) toStage.add(p);
      for (const p of await gitRepo.unstaged(ignores, { newOnly: true })) toStage.add(p);
    }
    if (stage && !repo.config.noScm && toStage.size > 0) {
      const gitRepo = new GitRepo(repo.root);
      await gitRepo.stage([...toStage]);
      // Report only what really is in the index now (Git skips ignored paths silently).
      const inIndex = await gitRepo.trackedEntries([...toStage]);
      staged.push(...[...toStage].filter((p) => inIndex.get(p) === p));
    }
    return { targets, staged };
  });
}

/** Validates every argument before anything is written: bad input changes nothing. */
async function plan(repo: Repo, cwd: string, paths: string[]): Promise<Planned[]> {
  const planned: Planned[] = [];
  const seen = new Set<string>();
  for (const userPath of paths) {
    const rel = repo.relFromUser(userPath, cwd);
    if (rel === '') throw new MlvError('INVALID_PATH', 'cannot track the repository root itself', { hint: 'add the data folders inside it' });
    if (seen.has(rel)) continue;
    seen.add(rel);
    const abs = repo.abs(rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch {
      throw new MlvError('NOT_FOUND', `${userPath} does not exist`, { hint: 'check the path' });
    }
    if (rel.endsWith(POINTER_SUFFIX)) {
      throw new MlvError('INVALID_PATH', `${userPath} looks like an mlv pointer file`, { hint: `add the data it points to instead: mlv add ${userPath.slice(0, -POINTER_SUFFIX.length)}` });
    }
    if (st.isSymbolicLink() && !cacheObjectIdOfLink(abs, repo.cache.dir)) {
      throw new MlvError('UNSUPPORTED_FILE', `${userPath} is a symbolic link; mlv tracks regular files and folders only`, {
        hint: 'add the folder or file the link points to, inside the repository',
      });
    }
    if (!st.isFile() && !st.isDirectory() && !st.isSymbolicLink()) throw new MlvError('UNSUPPORTED_FILE', `${userPath} is a special file; mlv tracks regular files and folders only`);
    assertPathIsReal(repo, rel, userPath);
    planned.push({ rel, abs, kind: st.isDirectory() ? 'dir' : 'file' });
  }
  for (const a of planned) {
    for (const b of planned) {
      if (a !== b && b.rel.startsWith(a.rel + '/')) {
        throw new MlvError('USAGE', `${b.rel} is inside ${a.rel}; add one or the other`);
      }
    }
  }
  const tracked = discoverPointers(repo);
  for (const p of planned) {
    for (const t of tracked) {
      if (p.rel.startsWith(t.targetRel + '/')) {
        throw new MlvError('ALREADY_TRACKED', `${p.rel} is inside ${t.targetRel}, which mlv already tracks`, {
          hint: `re-add the whole folder instead: mlv add ${t.targetRel}`,
        });
      }
      if (t.targetRel.startsWith(p.rel + '/')) {
        throw new MlvError('ALREADY_TRACKED', `${p.rel} contains ${t.targetRel}, which mlv already tracks separately`, {
          hint: `stop tracking it first (mlv untrack ${t.targetRel}), or keep adding the parts separately`,
        });
      }
    }
  }
  if (!repo.config.noScm) {
    const gitRepo = new GitRepo(repo.root);
    for (const p of planned) {
      const pointerRel = p.rel + POINTER_SUFFIX;
      if (await gitRepo.isIgnored(pointerRel)) {
        throw new MlvError('INVALID_PATH', `the pointer ${pointerRel} would be ignored by Git (a .gitignore rule matches it), so it could not be committed`, {
          hint: `track data in a folder Git does not ignore, or add an exception such as !${path.posix.basename(pointerRel)} to that .gitignore`,
        });
      }
    }
    const inGit = await gitRepo.trackedEntries(planned.map((p) => p.rel));
    for (const [rel, hit] of inGit) {
      throw new MlvError('TRACKED_BY_GIT', `${rel} is already tracked by Git${hit !== rel ? ` (${hit})` : ''}`, {
        hint: `remove it from Git first: git rm -r --cached ${rel} && git commit -m "stop tracking ${rel} in Git", then mlv add ${rel}`,
      });
    }
  }
  for (const p of planned) {
    if (p.kind === 'dir') {
      const scan = scanFolder(p.abs, repo.cache.dir);
      refuseUnsupported(scan, p.rel);
      // Reused by the first folder hashed, moments later; later ones are scanned again when
      // their turn comes (files may come and go meanwhile, and one scan is held at a time).
      if (!planned.some((q) => q.scan)) p.scan = scan;
    }
  }
  return planned;
}

/** Refuses targets reached through a symbolic link in one of their parent folders. */
function assertPathIsReal(repo: Repo, rel: string, userPath: string): void {
  const parent = repo.symlinkOnPath(rel);
  if (parent !== undefined) {
    throw new MlvError('INVALID_PATH', `${userPath} is reached through the symbolic link ${parent}`, {
      hint: 'add the data at its real location inside the repository',
    });
  }
}

async function addOne(repo: Repo, p: Planned, stats: StatCache, opts: AddOptions, ctx: CommandContext): Promise<AddedTarget> {
  const name = path.posix.basename(p.rel);
  const pointerRel = p.rel + POINTER_SUFFIX;
  const snapOpts = { mode: 'ingest' as const, stats, jobs: opts.jobs ?? repo.config.jobs, onProgress: ctx.onProgress, storeTrees: true };
  let pointer: Pointer;
  let hashedFiles: number;
  let hashedBytes: number;
  if (p.kind === 'dir') {
    const snap = await snapshotFolder(repo, p.abs, { ...snapOpts, scan: p.scan, keepLevels: false });
    p.scan = undefined;
    pointer = { path: name, kind: 'dir', id: snap.built.id, size: snap.built.size, files: snap.built.files };
    hashedFiles = snap.hashedFiles;
    hashedBytes = snap.hashedBytes;
  } else {
    const r = await snapshotFile(repo, p.abs, snapOpts);
    pointer = { path: name, kind: 'file', id: r.id, size: r.size };
    if (r.exec) pointer.executable = true;
    hashedFiles = r.hashed ? 1 : 0;
    hashedBytes = r.hashed ? r.size : 0;
  }
  const previous = readExistingPointer(repo, pointerRel, name);
  const description = opts.description ?? previous?.description;
  if (description !== undefined) pointer.description = description;
  const text = formatPointer(pointer);
  let status: AddedTarget['status'] = previous ? 'updated' : 'added';
  removeStaleTemps(repo.abs(pointerRel));
  crashPoint('add:before-pointer');
  if (previous && formatPointer(previous) === text) status = 'unchanged';
  else writeFileAtomic(repo.abs(pointerRel), text);
  crashPoint('add:after-pointer');
  const result: AddedTarget = { path: p.rel, pointer: pointerRel, kind: p.kind, id: pointer.id, size: pointer.size, status, hashedFiles, hashedBytes };
  if (pointer.files !== undefined) result.files = pointer.files;
  return result;
}

/** An existing pointer, or undefined when there is none or it is unreadable (re-adding replaces it). */
function readExistingPointer(repo: Repo, pointerRel: string, name: string): Pointer | undefined {
  try {
    return parsePointer(fs.readFileSync(repo.abs(pointerRel)), pointerRel, name);
  } catch {
    return undefined;
  }
}

/**
 * What a tracked target looks like in the workspace right now: its files' ids (from the stat cache,
 * hashing only what changed) and, for folders, the Merkle tree they form.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ObjectId } from '../core/id.js';
import type { ProgressListener } from '../core/progress.js';
import type { FileResult, ProcessMode } from './file-processor.js';
import { buildFolder, type BuiltFolder } from './folder-tree.js';
import { FileResults } from './file-results.js';
import { pathList, processFiles, type PathList } from './hash-pool.js';
import type { Repo } from './repo.js';
import { cacheObjectIdOfLink, scanFolder, type ScanResult } from './scan.js';
import type { StatCache } from './stat-cache.js';

export interface SnapshotOptions {
  mode: ProcessMode;
  stats: StatCache;
  jobs?: number;
  onProgress?: ProgressListener;
  /** Write tree objects into the cache (add). */
  storeTrees?: boolean;
}

export interface FolderSnapshot {
  scan: ScanResult;
  /** Parallel to scan.files. */
  results: FileResults;
  built: BuiltFolder;
  hashedFiles: number;
  hashedBytes: number;
}

/**
 * Ids of files (`rels[i]` names `absPaths.at(i)` for cacheLinks): symbolic links into the cache
 * count as the object they point to, the rest go through the stat cache and the hashing pool.
 */
export async function snapshotFiles(repo: Repo, absPaths: PathList, cacheLinks: Map<string, ObjectId>, rels: PathList, opts: SnapshotOptions): Promise<FileResults> {
  const toProcess: number[] = [];
  const linked: Array<[number, FileResult]> = [];
  for (let i = 0; i < absPaths.length; i++) {
    const id = cacheLinks.size > 0 ? cacheLinks.get(rels.at(i)) : undefined;
    if (id && fs.existsSync(repo.cache.objectPath(id))) linked.push([i, { id, size: fs.statSync(repo.cache.objectPath(id)).size, exec: false, hashed: false }]);
    else toProcess.push(i);
  }
  const total = toProcess.length;
  const all = linked.length === 0;
  const processed = await processFiles(all ? absPaths : { length: total, at: (j) => absPaths.at(toProcess[j]!) }, {
    mode: opts.mode,
    cache: repo.cache,
    stats: opts.stats,
    jobs: opts.jobs,
    pack: opts.mode === 'ingest',
    onProgress: opts.onProgress ? (done, bytes) => opts.onProgress!({ phase: opts.mode === 'ingest' ? 'adding' : 'checking', done, total, bytes }) : undefined,
  });
  if (all) return processed;
  const results = new FileResults(absPaths.length);
  toProcess.forEach((i, j) => results.set(i, processed.get(j)));
  for (const [i, r] of linked) results.set(i, r);
  return results;
}

/** The folder's files and tree; `scan` when the caller has just scanned it. Add keeps no levels. */
export async function snapshotFolder(repo: Repo, absDir: string, opts: SnapshotOptions & { scan?: ScanResult; keepLevels?: boolean }): Promise<FolderSnapshot> {
  const scan = opts.scan ?? scanFolder(absDir, repo.cache.dir);
  const prefix = absDir.endsWith(path.sep) ? absDir : absDir + path.sep;
  const files = scan.files;
  const abs: PathList = { length: files.length, at: path.sep === '/' ? (i) => prefix + files[i]! : (i) => prefix + files[i]!.split('/').join(path.sep) };
  const results = await snapshotFiles(repo, abs, scan.cacheLinks, pathList(files), opts);
  const built = buildFolder(scan, results, opts.storeTrees ? repo.cache : undefined, { keepLevels: opts.keepLevels ?? true });
  let hashedFiles = 0;
  let hashedBytes = 0;
  for (let i = 0; i < results.length; i++) {
    if (results.hashed(i)) {
      hashedFiles++;
      hashedBytes += results.size(i);
    }
  }
  return { scan, results, built, hashedFiles, hashedBytes };
}

/** A single tracked file; a symbolic link into the cache counts as that object. */
export async function snapshotFile(repo: Repo, absFile: string, opts: SnapshotOptions): Promise<FileResult> {
  const st = fs.lstatSync(absFile);
  const one = pathList([absFile]);
  if (st.isSymbolicLink()) {
    const id = cacheObjectIdOfLink(absFile, repo.cache.dir);
    if (id) return (await snapshotFiles(repo, one, new Map([[absFile, id]]), one, opts)).get(0);
  }
  return (await snapshotFiles(repo, one, new Map(), one, opts)).get(0);
}

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
import { processFiles } from './hash-pool.js';
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
  results: FileResult[];
  built: BuiltFolder;
  hashedFiles: number;
  hashedBytes: number;
}

export async function snapshotFiles(repo: Repo, absPaths: string[], cacheLinks: Map<string, ObjectId>, rels: string[], opts: SnapshotOptions): Promise<FileResult[]> {
  const toProcess: string[] = [];
  const index: number[] = [];
  const results = new Array<FileResult>(absPaths.length);
  absPaths.forEach((abs, i) => {
    const linked = cacheLinks.get(rels[i]!);
    if (linked && fs.existsSync(repo.cache.objectPath(linked))) {
      results[i] = { id: linked, size: fs.statSync(repo.cache.objectPath(linked)).size, exec: false, hashed: false };
    } else {
      toProcess.push(abs);
      index.push(i);
    }
  });
  const total = toProcess.length;
  const processed = await processFiles(toProcess, {
    mode: opts.mode,
    cache: repo.cache,
    stats: opts.stats,
    jobs: opts.jobs,
    onProgress: opts.onProgress ? (done, bytes) => opts.onProgress!({ phase: opts.mode === 'ingest' ? 'adding' : 'checking', done, total, bytes }) : undefined,
  });
  processed.forEach((r, j) => (results[index[j]!] = r));
  return results;
}

export async function snapshotFolder(repo: Repo, absDir: string, opts: SnapshotOptions): Promise<FolderSnapshot> {
  const scan = scanFolder(absDir, repo.cache.dir);
  const prefix = absDir.endsWith(path.sep) ? absDir : absDir + path.sep;
  const abs = scan.files.map((rel) => prefix + (path.sep === '/' ? rel : rel.split('/').join(path.sep)));
  const results = await snapshotFiles(repo, abs, scan.cacheLinks, scan.files, opts);
  const built = buildFolder(scan, results, opts.storeTrees ? repo.cache : undefined);
  let hashedFiles = 0;
  let hashedBytes = 0;
  for (const r of results) {
    if (r.hashed) {
      hashedFiles++;
      hashedBytes += r.size;
    }
  }
  return { scan, results, built, hashedFiles, hashedBytes };
}

/** A single tracked file; a symbolic link into the cache counts as that object. */
export async function snapshotFile(repo: Repo, absFile: string, opts: SnapshotOptions): Promise<FileResult> {
  const st = fs.lstatSync(absFile);
  if (st.isSymbolicLink()) {
    const id = cacheObjectIdOfLink(absFile, repo.cache.dir);
    if (id) return (await snapshotFiles(repo, [absFile], new Map([['', id]]), [''], opts))[0]!;
  }
  return (await snapshotFiles(repo, [absFile], new Map(), [''], opts))[0]!;
}

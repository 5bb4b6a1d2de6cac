/**
 * Runs FileProcessor over many files: inline for small jobs, on worker threads for large ones
 * (stat, hash and cache writes all happen in the workers; results come back in input order).
 */
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { MlvError, type ErrorCode } from '../core/errors.js';
import type { LocalCache } from '../storage/local-cache.js';
import { FileProcessor, type FileFailure, type FileResult, type ProcessMode } from './file-processor.js';
import type { StatCache } from './stat-cache.js';

export interface ProcessFilesOptions {
  mode: ProcessMode;
  cache: LocalCache;
  stats: StatCache;
  /** Worker threads to use; defaults to the number of CPUs. */
  jobs?: number;
  onProgress?: (done: number, bytes: number) => void;
}

/** Below this many files, starting workers costs more than it saves. */
const WORKER_THRESHOLD = 1000;
const BATCH = 64;

export async function processFiles(absPaths: string[], opts: ProcessFilesOptions): Promise<FileResult[]> {
  const jobs = Math.max(1, opts.jobs ?? os.availableParallelism());
  const processor = new FileProcessor(opts.mode, opts.cache, opts.stats);
  const results = new Array<FileResult>(absPaths.length);
  let bytes = 0;
  let done = 0;
  // Pass 1, on this thread: files the stat cache knows cost one lstat each; only the rest are read.
  let misses: number[] = [];
  if (opts.stats.size > 0 || opts.stats.dirty) {
    for (let i = 0; i < absPaths.length; i++) {
      const r = processor.known(absPaths[i]!);
      if (r) {
        results[i] = r;
        bytes += r.size;
        done++;
      } else {
        misses.push(i);
      }
    }
    if (done > 0) opts.onProgress?.(done, bytes);
  } else {
    misses = absPaths.map((_, i) => i);
  }
  // Pass 2: read and hash the misses, on worker threads when there are many.
  if (misses.length < WORKER_THRESHOLD || jobs === 1) {
    for (const i of misses) {
      const r = processor.process(absPaths[i]!);
      results[i] = r;
      bytes += r.size;
      if (opts.onProgress && (++done & 63) === 0) opts.onProgress(done, bytes);
    }
  } else {
    const paths = misses.map((i) => absPaths[i]!);
    const hashed = await runWorkers(paths, opts, Math.min(jobs, Math.ceil(paths.length / BATCH)), done, bytes);
    hashed.forEach((r, j) => (results[misses[j]!] = r));
  }
  // The keys (five BigInts each) are in the stat cache's buffer now: drop them from the results,
  // which live on until the trees are built (200,000 files: about 30 MB).
  for (const r of results) {
    if (r.hashed && r.key) opts.stats.record(r.key, r.id);
    r.key = undefined;
  }
  return results;
}

function runWorkers(absPaths: string[], opts: ProcessFilesOptions, count: number, doneBefore: number, bytesBefore: number): Promise<FileResult[]> {
  return new Promise((resolve, reject) => {
    const results = new Array<FileResult>(absPaths.length);
    const workerUrl = new URL('./hash-worker.js', import.meta.url);
    const workers: Worker[] = [];
    let next = 0;
    let done = 0;
    let bytes = bytesBefore;
    let failed = false;
    const finish = (err?: unknown) => {
      if (failed) return;
      if (!err) {
        for (const w of workers) void w.terminate();
        resolve(results);
        return;
      }
      failed = true;
      // Workers stopped mid-write leave their temp files beside cache objects: remove them once
      // the workers are gone (a full listing of the shards, on this failure path only).
      const threads = workers.map((w) => w.threadId);
      void Promise.allSettled(workers.map((w) => w.terminate())).then(() => {
        try {
          opts.cache.cleanStaleShardTemps({ ownThreads: threads });
        } catch {
          // best effort: a later gc or fsck removes them
        }
        reject(err);
      });
    };
    const feed = (w: Worker) => {
      if (next >= absPaths.length) return false;
      const start = next;
      next = Math.min(next + BATCH, absPaths.length);
      w.postMessage({ batch: start, paths: absPaths.slice(start, next) });
      return true;
    };
    let idle = 0;
    for (let i = 0; i < count; i++) {
      const w = new Worker(workerUrl, {
        workerData: { mode: opts.mode, cacheDir: opts.cache.dir, records: opts.stats.shared },
      });
      workers.push(w);
      w.on('error', (err) => finish(err));
      w.on('message', (msg: { batch: number; results: Array<FileResult | FileFailure> }) => {
        if (failed) return;
        for (let j = 0; j < msg.results.length; j++) {
          const r = msg.results[j]!;
          if ('error' in r) {
            finish(new MlvError(asErrorCode(r.error.code), r.error.message, { details: { path: r.error.path } }));
            return;
          }
          results[msg.batch + j] = r;
          bytes += r.size;
        }
        done += msg.results.length;
        opts.onProgress?.(doneBefore + done, bytes);
        if (!feed(w)) {
          idle++;
          if (done === absPaths.length) finish();
        }
      });
      if (!feed(w)) idle++;
    }
    if (idle === count && done === absPaths.length) finish();
  });
}

const KNOWN: ReadonlySet<string> = new Set<ErrorCode>(['UNSUPPORTED_FILE', 'NOT_FOUND', 'CORRUPT_OBJECT', 'IO', 'INVALID_PATH']);
function asErrorCode(code: string): ErrorCode {
  // Workers wrap file-system errors already; anything else reaching here is an I/O failure.
  return KNOWN.has(code) ? (code as ErrorCode) : 'IO';
}

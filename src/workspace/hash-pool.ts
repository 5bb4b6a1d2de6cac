/**
 * Runs FileProcessor over many files: inline for small jobs, on worker threads for large ones
 * (stat, hash and cache writes all happen in the workers; results come back in input order).
 */
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { MlvError, type ErrorCode } from '../core/errors.js';
import type { LocalCache } from '../storage/local-cache.js';
import { FileProcessor, type FileFailure, type ProcessMode } from './file-processor.js';
import { FileResults, newBatch, putInBatch, receivedBatch, recordKey, type ResultBatch } from './file-results.js';
import type { StatCache } from './stat-cache.js';

export interface ProcessFilesOptions {
  mode: ProcessMode;
  cache: LocalCache;
  stats: StatCache;
  /** Worker threads to use; defaults to the number of CPUs. */
  jobs?: number;
  /** Ingest small files into packs (many new files at once: one file created per pack, not per object). */
  pack?: boolean;
  onProgress?: (done: number, bytes: number) => void;
}

/** Below this many files, starting workers costs more than it saves. */
const WORKER_THRESHOLD = 1000;
const BATCH = 64;

/** The files to process, as a list that builds each path when asked (no array of 200,000 paths). */
export interface PathList {
  readonly length: number;
  at(i: number): string;
}

export function pathList(paths: string[]): PathList {
  return { length: paths.length, at: (i) => paths[i]! };
}

export async function processFiles(paths: PathList, opts: ProcessFilesOptions): Promise<FileResults> {
  const jobs = Math.max(1, opts.jobs ?? os.availableParallelism());
  const processor = new FileProcessor(opts.mode, opts.cache, opts.stats);
  const results = new FileResults(paths.length);
  let bytes = 0;
  let done = 0;
  // Pass 1, on this thread: files the stat cache knows cost one lstat each; only the rest are read.
  let misses: number[] = [];
  if (opts.stats.size > 0 || opts.stats.dirty) {
    for (let i = 0; i < paths.length; i++) {
      const r = processor.known(paths.at(i));
      if (r) {
        results.set(i, r);
        bytes += r.size;
        done++;
      } else {
        misses.push(i);
      }
    }
    if (done > 0) opts.onProgress?.(done, bytes);
  } else {
    misses = Array.from({ length: paths.length }, (_, i) => i);
  }
  // Pass 2: read and hash the misses, on worker threads when there are many.
  if (misses.length < WORKER_THRESHOLD || jobs === 1) {
    // Keys are recorded after the loop: a record pending while files are still looked up makes the
    // stat cache index every pending record (a Map of 200,000 keys on one thread).
    const keys = newBatch(misses.length);
    const packing = opts.pack === true && opts.mode === 'ingest';
    if (packing) opts.cache.startPacking();
    try {
      misses.forEach((i, j) => {
        const r = processor.process(paths.at(i));
        results.set(i, r);
        putInBatch(keys, j, r);
        bytes += r.size;
        if (opts.onProgress && (++done & 63) === 0) opts.onProgress(done, bytes);
      });
      if (packing) opts.cache.finishPacking();
    } catch (err) {
      if (packing) opts.cache.abortPacking();
      throw err;
    }
    for (let j = 0; j < misses.length; j++) recordKey(opts.stats, keys, j);
  } else {
    await runWorkers(paths, misses, results, opts, Math.min(jobs, Math.ceil(misses.length / BATCH)), done, bytes);
  }
  return results;
}

/** Hashes the files at `misses` on worker threads, filling `results` and the stat cache. */
function runWorkers(paths: PathList, misses: number[], results: FileResults, opts: ProcessFilesOptions, count: number, doneBefore: number, bytesBefore: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const workerUrl = new URL('./hash-worker.js', import.meta.url);
    const workers: Worker[] = [];
    let next = 0;
    let done = 0;
    let bytes = bytesBefore;
    let failed = false;
    const packing = opts.pack === true && opts.mode === 'ingest';
    let packsPublished = 0;
    const finish = (err?: unknown) => {
      if (failed) return;
      if (!err) {
        for (const w of workers) void w.terminate();
        // This thread's view of the packs predates the ones the workers just published.
        if (packing) opts.cache.packs.refresh();
        resolve();
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
      if (next >= misses.length) return false;
      const start = next;
      // Batches shrink towards the end ("guided" scheduling), so that large files there (a
      // folder's two checkpoints after its many small files) go to different threads.
      next = Math.min(next + Math.max(1, Math.min(BATCH, Math.floor((misses.length - next) / (count * 4)))), misses.length);
      const batch: string[] = [];
      for (let k = start; k < next; k++) batch.push(paths.at(misses[k]!));
      w.postMessage({ batch: start, paths: batch });
      return true;
    };
    const receive = (start: number, received: ResultBatch) => {
      const b = receivedBatch(received);
      const n = b.sizes.length;
      for (let j = 0; j < n; j++) {
        const i = misses[start + j]!;
        results.setFromBatch(i, b, j);
        // Hashed files' keys go straight into the stat cache's buffer, never becoming objects.
        recordKey(opts.stats, b, j);
        bytes += b.sizes[j]!;
      }
      done += n;
    };
    /** Every file is hashed: with packs, each worker publishes its pack before the run counts as done. */
    const allDone = () => {
      if (!packing) return finish();
      for (const w of workers) w.postMessage({ publish: true });
    };
    let idle = 0;
    for (let i = 0; i < count; i++) {
      const w = new Worker(workerUrl, {
        workerData: { mode: opts.mode, cacheDir: opts.cache.dir, records: opts.stats.shared, pack: packing },
      });
      workers.push(w);
      w.on('error', (err) => finish(err));
      w.on('message', (msg: { batch: number; results?: ResultBatch; failure?: FileFailure; published?: boolean }) => {
        if (failed) return;
        if (msg.published) {
          if (++packsPublished === workers.length) finish();
          return;
        }
        if (msg.failure) {
          const e = msg.failure.error;
          finish(new MlvError(asErrorCode(e.code), e.message, { details: { path: e.path } }));
          return;
        }
        receive(msg.batch, msg.results!);
        opts.onProgress?.(doneBefore + done, bytes);
        if (!feed(w)) {
          idle++;
          if (done === misses.length) allDone();
        }
      });
      if (!feed(w)) idle++;
    }
    if (idle === count && done === misses.length) allDone();
  });
}

const KNOWN: ReadonlySet<string> = new Set<ErrorCode>(['UNSUPPORTED_FILE', 'NOT_FOUND', 'CORRUPT_OBJECT', 'IO', 'INVALID_PATH']);
function asErrorCode(code: string): ErrorCode {
  // Workers wrap file-system errors already; anything else reaching here is an I/O failure.
  return KNOWN.has(code) ? (code as ErrorCode) : 'IO';
}

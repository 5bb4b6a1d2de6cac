/** Worker thread body: processes batches of files with the same code the main thread uses. */
import { parentPort, workerData } from 'node:worker_threads';
import { MlvError, wrapFsError } from '../core/errors.js';
import { LocalCache } from '../storage/local-cache.js';
import { FileProcessor, type FileFailure, type ProcessMode } from './file-processor.js';
import { newBatch, putInBatch } from './file-results.js';
import { StatCacheReader } from './stat-cache.js';

interface WorkerInit {
  mode: ProcessMode;
  cacheDir: string;
  records: Uint8Array;
  pack: boolean;
}

const init = workerData as WorkerInit;
const records = Buffer.from(init.records.buffer, init.records.byteOffset, init.records.byteLength);
const cache = new LocalCache(init.cacheDir);
if (init.pack) cache.startPacking();
const processor = new FileProcessor(init.mode, cache, new StatCacheReader(records));

parentPort!.on('message', (msg: { batch: number; paths: string[]; publish?: boolean }) => {
  if (msg.publish) {
    try {
      cache.finishPacking();
    } catch (caught) {
      cache.abortPacking();
      parentPort!.postMessage({ batch: -1, failure: failureOf(caught, cache.packsDir) });
      return;
    }
    parentPort!.postMessage({ batch: -1, published: true });
    return;
  }
  const out = newBatch(msg.paths.length);
  for (let j = 0; j < msg.paths.length; j++) {
    const p = msg.paths[j]!;
    try {
      putInBatch(out, j, processor.process(p));
    } catch (caught) {
      cache.abortPacking();
      parentPort!.postMessage({ batch: msg.batch, failure: failureOf(caught, p) });
      return;
    }
  }
  parentPort!.postMessage({ batch: msg.batch, results: out }, [out.ids.buffer, out.sizes.buffer, out.flags.buffer, out.keys.buffer] as ArrayBuffer[]);
});

function failureOf(caught: unknown, p: string): FileFailure {
  let err = caught;
  if (!(err instanceof MlvError)) {
    try {
      wrapFsError(err, `read ${p}`);
    } catch (wrapped) {
      err = wrapped;
    }
  }
  const code = err instanceof MlvError ? err.code : ((err as { code?: string }).code ?? 'INTERNAL');
  return { error: { code, message: (err as Error).message ?? String(err), path: p } };
}

/**
 * Per-file results of hashing many files (id, size, executable bit, whether the content was read),
 * kept in typed arrays rather than one object per file: 200,000 files take 8 MB here, where
 * objects with hex id strings took over 60 MB of heap and as much again in garbage.
 *
 * Hashing workers fill a `ResultBatch` (the same layout for a slice of files, plus the stat keys to
 * remember) and transfer its buffers; the main thread copies each entry in with `setFromBatch`.
 */
import type { ObjectId } from '../core/id.js';
import type { FileResult } from './file-processor.js';
import { StatProbe, type StatCache } from './stat-cache.js';

const ID_BYTES = 32;
const EXEC = 1;
const HASHED = 2;
/** The result carries a stat key worth remembering (see FileResult.key). */
const KEYED = 4;
const SET = 8;
/** A stat key as StatProbe words. */
const KEY_WORDS = 10;

export class FileResults {
  readonly length: number;
  private readonly ids: Buffer;
  private readonly sizes: Float64Array;
  private readonly flags: Uint8Array;

  constructor(length: number) {
    this.length = length;
    this.ids = Buffer.allocUnsafe(length * ID_BYTES);
    this.sizes = new Float64Array(length);
    this.flags = new Uint8Array(length);
  }

  set(i: number, r: FileResult): void {
    this.ids.write(r.id, i * ID_BYTES, 'hex');
    this.sizes[i] = r.size;
    this.flags[i] = SET | (r.exec ? EXEC : 0) | (r.hashed ? HASHED : 0);
  }

  /** Copies result `j` of a batch into slot `i`. */
  setFromBatch(i: number, b: ResultBatch, j: number): void {
    b.ids.copy(this.ids, i * ID_BYTES, j * ID_BYTES, (j + 1) * ID_BYTES);
    this.sizes[i] = b.sizes[j]!;
    this.flags[i] = SET | (b.flags[j]! & (EXEC | HASHED));
  }

  id(i: number): ObjectId {
    if ((this.flags[i]! & SET) === 0) throw new Error(`internal: no result for file ${i}`);
    return this.ids.toString('hex', i * ID_BYTES, (i + 1) * ID_BYTES) as ObjectId;
  }
  size(i: number): number {
    return this.sizes[i]!;
  }
  exec(i: number): boolean {
    return (this.flags[i]! & EXEC) !== 0;
  }
  hashed(i: number): boolean {
    return (this.flags[i]! & HASHED) !== 0;
  }
  get(i: number): FileResult {
    return { id: this.id(i), size: this.size(i), exec: this.exec(i), hashed: this.hashed(i) };
  }
}

/** Results of a run of files, built in a worker and sent with its buffers transferred. */
export interface ResultBatch {
  ids: Buffer;
  sizes: Float64Array;
  flags: Uint8Array;
  /** KEY_WORDS words per file; meaningful where flags has KEYED. */
  keys: Uint32Array;
}

export function newBatch(n: number): ResultBatch {
  return { ids: Buffer.from(new ArrayBuffer(n * ID_BYTES)), sizes: new Float64Array(n), flags: new Uint8Array(n), keys: new Uint32Array(n * KEY_WORDS) };
}

const scratch = new StatProbe();

export function putInBatch(b: ResultBatch, j: number, r: FileResult): void {
  b.ids.write(r.id, j * ID_BYTES, 'hex');
  b.sizes[j] = r.size;
  b.flags[j] = (r.exec ? EXEC : 0) | (r.hashed ? HASHED : 0) | (r.key ? KEYED : 0);
  if (r.key) b.keys.set(StatProbe.of(r.key, scratch).words, j * KEY_WORDS);
}

/** Structured clone gives plain Uint8Arrays back: re-wraps the ids as a Buffer without copying. */
export function receivedBatch(b: ResultBatch): ResultBatch {
  return { ...b, ids: Buffer.from(b.ids.buffer, b.ids.byteOffset, b.ids.byteLength) };
}

/** Hands result `j`'s stat key, if it has one worth remembering, to the stat cache (no objects made). */
export function recordKey(stats: StatCache, b: ResultBatch, j: number): void {
  if ((b.flags[j]! & KEYED) !== 0) stats.recordRaw(b.keys, j * KEY_WORDS, b.ids, j * ID_BYTES);
}

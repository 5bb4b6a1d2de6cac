/**
 * Stat-cache records added during one command, before they are merged into the file. Kept in the
 * file's own 72-byte record layout in one growing buffer (not one object per file): a checkout of
 * 200,000 files otherwise held over 100 MB of small objects here alone.
 */
import type { ObjectId } from '../core/id.js';
import type { StatKey, StatProbe } from './stat-cache.js';

export const RECORD = 72;
const WORDS = RECORD / 4;

export class PendingRecords {
  private buf = Buffer.alloc(64 * RECORD);
  private words = new Uint32Array(this.buf.buffer, this.buf.byteOffset, this.buf.length / 4);
  private count = 0;
  /** Paths of files mlv wrote itself (checked again before saving: see StatCache.settleWritten). */
  private readonly written = new Map<number, string>();
  /** Dropped records (a racy written file), by index. */
  private readonly dropped = new Set<number>();
  /** dev:ino -> latest index; built on the first lookup only (most commands never look up). */
  private index: Map<string, number> | undefined;

  get size(): number {
    return this.count - this.dropped.size;
  }

  add(probe: StatProbe, id: ObjectId, writtenPath?: string): void {
    const i = this.next();
    this.words.set(probe.words, i * WORDS);
    this.buf.write(id, i * RECORD + 40, 'hex');
    if (writtenPath !== undefined) this.written.set(i, writtenPath);
    this.index?.set(keyOf(probe.words, 0), i);
  }

  /** add() from a stat key given as ten words at `keyWords[keyOffset]` and a binary id. */
  addRaw(keyWords: Uint32Array, keyOffset: number, id: Uint8Array, idOffset: number): void {
    const i = this.next();
    this.words.set(keyWords.subarray(keyOffset, keyOffset + 10), i * WORDS);
    this.buf.set(id.subarray(idOffset, idOffset + 32), i * RECORD + 40);
    this.index?.set(keyOf(keyWords, keyOffset), i);
  }

  private next(): number {
    if (this.count * RECORD === this.buf.length) {
      const bigger = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(bigger);
      this.buf = bigger;
      this.words = new Uint32Array(bigger.buffer, bigger.byteOffset, bigger.length / 4);
    }
    return this.count++;
  }

  /** The id recorded for this file if its size and times still match; undefined if none or stale. */
  lookup(probe: StatProbe): ObjectId | undefined | null {
    if (!this.index) {
      this.index = new Map();
      for (let i = 0; i < this.count; i++) this.index.set(keyOf(this.words, i * WORDS), i);
    }
    const i = this.index.get(keyOf(probe.words, 0));
    if (i === undefined || this.dropped.has(i)) return null;
    const o = i * WORDS;
    for (let j = 4; j < 10; j++) if (this.words[o + j] !== probe.words[j]) return undefined;
    return this.buf.toString('hex', i * RECORD + 40, i * RECORD + 72) as ObjectId;
  }

  /** Indexes of records of files mlv wrote, with their paths. */
  writtenEntries(): IterableIterator<[number, string]> {
    return this.written.entries();
  }

  /** The record's identity and times as bigints (for the racy check). */
  keyAt(i: number): StatKey {
    const o = i * RECORD;
    const b = this.buf;
    return { dev: b.readBigUInt64LE(o), ino: b.readBigUInt64LE(o + 8), size: b.readBigUInt64LE(o + 16), mtimeNs: b.readBigInt64LE(o + 24), ctimeNs: b.readBigInt64LE(o + 32) };
  }

  /**
   * Forgets the paths of written files whose times are already outside the racy window: they will
   * never need settling, and a checkout of 200,000 files should not hold 200,000 paths for it.
   * Paths are checked oldest first and the walk stops at the first still-racy one.
   */
  forgetSettledPaths(stillRacy: (key: StatKey) => boolean): void {
    for (const i of this.written.keys()) {
      if (stillRacy(this.keyAt(i))) return;
      this.written.delete(i);
    }
  }

  drop(i: number): void {
    this.dropped.add(i);
  }

  /**
   * Live records sorted by (dev, ino), the latest one per file, as indexes into `bytes`.
   */
  sorted(): { bytes: Buffer; order: number[] } {
    const w = this.words;
    const order: number[] = [];
    for (let i = 0; i < this.count; i++) if (!this.dropped.has(i)) order.push(i);
    order.sort((a, b) => compareAt(w, a * WORDS, w, b * WORDS) || a - b);
    // Keep the last record of each run of equal (dev, ino).
    const latest: number[] = [];
    for (let k = 0; k < order.length; k++) {
      const next = order[k + 1];
      if (next !== undefined && compareAt(w, order[k]! * WORDS, w, next * WORDS) === 0) continue;
      latest.push(order[k]!);
    }
    return { bytes: this.buf, order: latest };
  }

  clear(): void {
    this.buf = Buffer.alloc(64 * RECORD);
    this.words = new Uint32Array(this.buf.buffer, this.buf.byteOffset, this.buf.length / 4);
    this.count = 0;
    this.written.clear();
    this.dropped.clear();
    this.index = undefined;
  }
}

function keyOf(w: Uint32Array, o: number): string {
  return `${w[o + 1]}:${w[o]}:${w[o + 3]}:${w[o + 2]}`;
}

/** Compares the (dev, ino) of two records given as word offsets. */
export function compareAt(a: Uint32Array, ao: number, b: Uint32Array, bo: number): number {
  return a[ao + 1]! - b[bo + 1]! || a[ao]! - b[bo]! || a[ao + 3]! - b[bo + 3]! || a[ao + 2]! - b[bo + 2]!;
}

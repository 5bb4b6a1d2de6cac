/**
 * The stat cache remembers the id of a file's content keyed by device and inode, valid while size,
 * mtime and ctime (nanoseconds) are unchanged, so unchanged files are never re-hashed.
 *
 * File format (little-endian): 48-byte header "MLVSTAT1", u32 count, u32 record size, 32-byte
 * BLAKE3 of the records; then fixed 72-byte records sorted by (dev, ino): dev u64, ino u64,
 * size u64, mtimeNs i64, ctimeNs i64, id (32 raw bytes). Lookups binary-search the loaded buffer
 * directly, so a million entries load in one read with no per-entry objects. Written atomically.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashBytes } from '../core/hash.js';
import type { ObjectId } from '../core/id.js';
import { RACY_WINDOW_NS, isRacy } from './racy.js';
import { PendingRecords, compareAt } from './stat-pending.js';

const MAGIC = Buffer.from('MLVSTAT1');
const HEADER = 48;
const RECORD = 72;

export interface StatKey {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/**
 * A stat key as the ten 32-bit words a record starts with (dev, ino, size, mtimeNs, ctimeNs, each
 * little-endian u64), so a lookup compares plain numbers. Reused across lookups.
 */
export class StatProbe {
  private readonly buffer = new ArrayBuffer(40);
  readonly words = new Uint32Array(this.buffer);
  readonly big = new BigUint64Array(this.buffer);

  static of(key: StatKey, into = new StatProbe()): StatProbe {
    const b = into.big;
    b[0] = key.dev;
    b[1] = key.ino;
    b[2] = key.size;
    b[3] = BigInt.asUintN(64, key.mtimeNs);
    b[4] = BigInt.asUintN(64, key.ctimeNs);
    return into;
  }
}

/** Read-only view over a serialized stat cache (works on a SharedArrayBuffer inside workers). */
export class StatCacheReader {
  protected records: Buffer;
  protected count: number;
  /** The same bytes as 32-bit words, so the search compares plain numbers and allocates nothing. */
  protected words: Uint32Array;
  private readonly scratch = new StatProbe();

  constructor(records: Buffer) {
    this.records = records;
    this.count = Math.floor(records.length / RECORD);
    this.words = wordsOf(records, this.count);
  }

  get size(): number {
    return this.count;
  }

  lookup(key: StatKey): ObjectId | undefined {
    return this.lookupProbe(StatProbe.of(key, this.scratch));
  }

  lookupProbe(probe: StatProbe): ObjectId | undefined {
    const i = this.find(probe.words);
    return i < 0 ? undefined : this.idAt(i);
  }

  protected idAt(i: number): ObjectId {
    const off = i * RECORD;
    return this.records.toString('hex', off + 40, off + 72) as ObjectId;
  }

  /** Index of the record matching the whole key, or -1. */
  protected find(k: Uint32Array): number {
    const w = this.words;
    const devLo = k[0]!;
    const devHi = k[1]!;
    const inoLo = k[2]!;
    const inoHi = k[3]!;
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const o = mid * WORDS;
      // Little-endian u64 = (low word, high word): compare high words first.
      const cmp = w[o + 1]! - devHi || w[o]! - devLo || w[o + 3]! - inoHi || w[o + 2]! - inoLo;
      if (cmp === 0) {
        for (let j = 4; j < 10; j++) if (w[o + j] !== k[j]) return -1;
        return mid;
      }
      if (cmp < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

const WORDS = RECORD / 4;

/**
 * Records are compared as native 32-bit words, which match the little-endian file layout only on
 * little-endian CPUs (every platform Node ships prebuilt binaries for but s390x). Elsewhere the
 * stat cache stays empty and every file is hashed.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function wordsOf(records: Buffer, count: number): Uint32Array {
  if (records.byteOffset % 4 === 0) return new Uint32Array(records.buffer, records.byteOffset, count * WORDS);
  const copy = new Uint8Array(count * RECORD);
  copy.set(records.subarray(0, count * RECORD));
  return new Uint32Array(copy.buffer, 0, count * WORDS);
}

export class StatCache extends StatCacheReader {
  private readonly file: string;
  private readonly pending = new PendingRecords();
  private readonly probe = new StatProbe();

  private constructor(file: string, records: Buffer) {
    super(records);
    this.file = file;
  }

  /** Loads the cache; a missing, foreign or damaged file simply starts an empty cache. */
  static load(file: string): StatCache {
    let data: Buffer | undefined;
    try {
      const fd = fs.openSync(file, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        // A SharedArrayBuffer lets hashing workers read the same bytes without copying.
        data = Buffer.from(new SharedArrayBuffer(size));
        let off = 0;
        while (off < size) {
          const n = fs.readSync(fd, data, off, size - off, off);
          if (n === 0) break;
          off += n;
        }
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      data = undefined;
    }
    if (LITTLE_ENDIAN && data && data.length >= HEADER && data.subarray(0, 8).equals(MAGIC)) {
      const count = data.readUInt32LE(8);
      const recordSize = data.readUInt32LE(12);
      const body = data.subarray(HEADER);
      if (recordSize === RECORD && body.length === count * RECORD && hashBytes(body) === data.toString('hex', 16, 48)) {
        return new StatCache(file, body);
      }
    }
    return new StatCache(file, Buffer.from(new SharedArrayBuffer(0)));
  }

  /** The serialized records, shareable with worker threads. */
  get shared(): Buffer {
    return this.records;
  }

  override lookupProbe(probe: StatProbe): ObjectId | undefined {
    if (this.pending.size > 0) {
      const recorded = this.pending.lookup(probe);
      if (recorded !== null) return recorded;
    }
    const i = this.find(probe.words);
    if (i < 0) return undefined;
    this.hits ??= new Uint8Array(this.count);
    if (this.hits[i] === 0) {
      this.hits[i] = 1;
      this.hitCount++;
    }
    return this.idAt(i);
  }

  /**
   * After a command has looked at every tracked file, entries it never matched belong to files
   * that are gone or changed: `save({ prune: true })` drops them so the cache does not grow
   * forever as files are rewritten (each rewrite is a new inode or new times).
   */
  private hits: Uint8Array | undefined;
  private hitCount = 0;

  record(key: StatKey, id: ObjectId): void {
    if (LITTLE_ENDIAN) this.pending.add(StatProbe.of(key, this.probe), id);
  }

  /** record() of a key given as StatProbe words at `keyWords[keyOffset]` and a binary id. */
  recordRaw(keyWords: Uint32Array, keyOffset: number, id: Uint8Array, idOffset: number): void {
    if (LITTLE_ENDIAN) this.pending.addRaw(keyWords, keyOffset, id, idOffset);
  }

  /**
   * Records a file mlv has just written with known content. It is kept only if, by the time the
   * cache is saved, its timestamps are old enough that a later edit would change them.
   */
  recordWritten(key: StatKey | StatProbe, id: ObjectId, absPath: string): void {
    if (!LITTLE_ENDIAN) return;
    this.pending.add(key instanceof StatProbe ? key : StatProbe.of(key, this.probe), id, absPath);
    if ((++this.writtenSinceForget & 255) === 0) {
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      this.pending.forgetSettledPaths((k) => isRacy(k, nowNs));
    }
  }

  private writtenSinceForget = 0;

  /**
   * Files mlv wrote moments ago are racy. Rather than forget them (and re-hash them all on the
   * next status), wait out the racy window once (at most 50 ms) and keep those whose stat is
   * still exactly what it was right after writing.
   */
  private settleWritten(): void {
    let latest = 0n;
    const racy: Array<{ i: number; key: StatKey; path: string }> = [];
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    for (const [i, writtenPath] of this.pending.writtenEntries()) {
      const key = this.pending.keyAt(i);
      if (!isRacy(key, nowNs)) continue;
      racy.push({ i, key, path: writtenPath });
      const t = key.mtimeNs > key.ctimeNs ? key.mtimeNs : key.ctimeNs;
      if (t > latest) latest = t;
    }
    if (racy.length === 0) return;
    const waitMs = Number((latest + RACY_WINDOW_NS - nowNs) / 1_000_000n) + 1;
    if (waitMs > 0 && waitMs <= 100) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, waitMs);
    const after = BigInt(Date.now()) * 1_000_000n;
    for (const e of racy) {
      let same = false;
      try {
        const st = fs.lstatSync(e.path, { bigint: true });
        same = st.dev === e.key.dev && st.ino === e.key.ino && st.size === e.key.size && st.mtimeNs === e.key.mtimeNs && st.ctimeNs === e.key.ctimeNs;
      } catch {
        same = false;
      }
      if (!same || isRacy(e.key, after)) this.pending.drop(e.i);
    }
  }

  get dirty(): boolean {
    return this.pending.size > 0;
  }

  private get prunable(): number {
    return this.count - this.hitCount;
  }

  /** Merges new records into the sorted file and replaces it atomically. */
  save(tmpDir: string, opts: { prune?: boolean } = {}): void {
    this.settleWritten();
    const prune = opts.prune === true && this.prunable > 0;
    if (this.pending.size === 0 && !prune) return;
    const { bytes: freshBytes, order: fresh } = this.pending.sorted();
    const freshWords = new Uint32Array(freshBytes.buffer, freshBytes.byteOffset, freshBytes.length / 4);
    const old = this.records;
    const oldWords = this.words;
    /** The merge, as runs of old records and single fresh ones, in file order. */
    const merge = (copyOld: (from: number, to: number) => void, copyFresh: (k: number) => void) => {
      let i = 0;
      // Old records are copied in runs; a run ends where a fresh record goes in or one is dropped.
      let runStart = -1;
      const flush = (end: number) => {
        if (runStart < 0) return;
        copyOld(runStart, end);
        runStart = -1;
      };
      for (let j = 0; j < this.count; j++) {
        if (prune && this.hits?.[j] !== 1) {
          flush(j);
          continue;
        }
        if (i < fresh.length) {
          let cmp = compareAt(freshWords, fresh[i]! * WORDS, oldWords, j * WORDS);
          if (cmp <= 0) {
            flush(j);
            while (cmp < 0) {
              copyFresh(fresh[i++]!);
              cmp = i < fresh.length ? compareAt(freshWords, fresh[i]! * WORDS, oldWords, j * WORDS) : 1;
            }
            // The same file recorded afresh replaces its old record.
            if (cmp === 0) continue;
          }
        }
        if (runStart < 0) runStart = j;
      }
      flush(this.count);
      while (i < fresh.length) copyFresh(fresh[i++]!);
    };
    // Counted first, so the buffer is the merged size (a checkout that replaces every file would
    // otherwise allocate room for old and new records alike: 15 MB more at 200,000 files).
    let total = 0;
    merge(
      (from, to) => (total += to - from),
      () => total++,
    );
    // Shared, so the merged records below can serve hashing workers without another copy.
    const out = Buffer.from(new SharedArrayBuffer(HEADER + total * RECORD));
    let n = 0;
    merge(
      (from, to) => {
        old.copy(out, HEADER + n * RECORD, from * RECORD, to * RECORD);
        n += to - from;
      },
      (k) => {
        freshBytes.copy(out, HEADER + n * RECORD, k * RECORD, (k + 1) * RECORD);
        n++;
      },
    );
    const body = out.subarray(HEADER, HEADER + n * RECORD);
    MAGIC.copy(out, 0);
    out.writeUInt32LE(n, 8);
    out.writeUInt32LE(RECORD, 12);
    out.write(hashBytes(body), 16, 'hex');
    const tmp = path.join(tmpDir, `stat-cache-${process.pid}-${Date.now()}`);
    try {
      fs.mkdirSync(tmpDir, { recursive: true });
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(tmp, out.subarray(0, HEADER + n * RECORD));
      fs.renameSync(tmp, this.file);
    } catch {
      // The stat cache is only an accelerator: failing to save it must not fail the command.
      fs.rmSync(tmp, { force: true });
    }
    this.records = body;
    this.count = n;
    this.words = wordsOf(body, n);
    this.pending.clear();
    this.hits = undefined;
    this.hitCount = 0;
  }
}

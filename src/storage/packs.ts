/**
 * Packs: many small file objects in one file. Creating a file is what a cache write of a small
 * object costs (hashing 4 KiB takes about a microsecond, creating its file 40-280 us on this
 * disk), so `mlv add` of many small files writes them back to back into a pack instead.
 *
 * `packs/<name>.pack` is an 8-byte magic followed by the objects' bytes; `packs/<name>.idx` lists
 * them sorted by id (id, offset, size) and ends with the BLAKE3 of everything before it. An object
 * is in the cache once an index naming it exists: the pack is renamed into place first, its index
 * last, so a run killed mid-write leaves only temp files. docs/formats.md describes the layout.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { crashPoint } from '../core/crash-points.js';
import { wrapFsError } from '../core/errors.js';
import { hashBytes } from '../core/hash.js';
import type { ObjectId } from '../core/id.js';
import { writeAll } from './fd-io.js';
import { ENTRY_BYTES, PackEntries } from './pack-entries.js';

export const PACK_MAGIC = Buffer.from('mlvpack1', 'latin1');
export const INDEX_MAGIC = Buffer.from('mlvidx01', 'latin1');
const INDEX_HEADER = 16; // magic, u32 count, u32 reserved
const ENTRY = ENTRY_BYTES; // id (32), offset (u32 low, u32 high), size (u32)
const TRAILER = 32;
/** Objects up to this size go into packs; larger ones stay one file each (creation is then cheap). */
export const PACK_OBJECT_MAX = 256 << 10;
/** A writer with fewer objects than this at the end stores them as plain files (no tiny packs). */
export const PACK_MIN_OBJECTS = 64;
/** A pack is closed and a new one started past this size. */
export const PACK_MAX_BYTES = 256 << 20;

export const PACK_TEMP_PREFIX = '.tmp-';

export interface PackEntry {
  pack: PackIndex;
  offset: number;
  size: number;
}

/** One published index, kept as its raw bytes and searched in place. */
export class PackIndex {
  readonly count: number;
  /** fanout[b] = the first entry whose id starts with a byte >= b (as Git's index files have). */
  private readonly fanout = new Uint32Array(257);

  constructor(
    readonly name: string,
    readonly packPath: string,
    private readonly bytes: Buffer,
    readonly mtimeMs: number,
  ) {
    this.count = bytes.readUInt32LE(8);
    let b = 0;
    for (let i = 0; i < this.count; i++) {
      const first = bytes[INDEX_HEADER + i * ENTRY]!;
      while (b <= first) this.fanout[b++] = i;
    }
    while (b <= 256) this.fanout[b++] = this.count;
  }

  /** Reads and checks an index file; returns a reason instead when it is damaged. */
  static load(dir: string, name: string): PackIndex | { damaged: string } {
    const idxPath = path.join(dir, `${name}.idx`);
    let bytes: Buffer;
    let mtimeMs: number;
    try {
      const fd = fs.openSync(idxPath, 'r');
      try {
        mtimeMs = fs.fstatSync(fd).mtimeMs;
        bytes = fs.readFileSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      return wrapFsError(err, 'read a pack index');
    }
    const problem = indexProblem(bytes);
    if (problem) return { damaged: problem };
    return new PackIndex(name, path.join(dir, `${name}.pack`), bytes, mtimeMs);
  }

  /** Position of `id` (32 bytes) in the sorted entries, or -1. */
  search(id: Buffer): number {
    let lo = this.fanout[id[0]!]!;
    let hi = this.fanout[id[0]! + 1]! - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = INDEX_HEADER + mid * ENTRY;
      const c = this.bytes.compare(id, 0, 32, at, at + 32);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  idAt(i: number): ObjectId {
    const at = INDEX_HEADER + i * ENTRY;
    return this.bytes.toString('hex', at, at + 32) as ObjectId;
  }

  entryAt(i: number): PackEntry {
    const at = INDEX_HEADER + i * ENTRY + 32;
    return { pack: this, offset: this.bytes.readUInt32LE(at) + this.bytes.readUInt32LE(at + 4) * 2 ** 32, size: this.bytes.readUInt32LE(at + 8) };
  }
}

function indexProblem(bytes: Buffer): string | undefined {
  if (bytes.length < INDEX_HEADER + TRAILER || !bytes.subarray(0, 8).equals(INDEX_MAGIC)) return 'not a pack index';
  const count = bytes.readUInt32LE(8);
  if (bytes.length !== INDEX_HEADER + count * ENTRY + TRAILER) return 'truncated';
  // The writer sorts the entries; the checksum covers them, so their order is not checked again.
  const body = bytes.subarray(0, bytes.length - TRAILER);
  if (hashBytes(body) !== bytes.toString('hex', bytes.length - TRAILER)) return 'checksum mismatch';
  return undefined;
}

const scratchKey = Buffer.alloc(32);
/** `id` as bytes in a buffer reused by every lookup (lookups run on every file of a repeated add). */
function lookupKey(id: ObjectId): Buffer {
  if (scratchKey.write(id, 'hex') !== 32) throw new Error(`internal: malformed object id ${id}`);
  return scratchKey;
}

/** Every published index in `dir`, read once per process and refreshed on request. */
export class PackSet {
  private indexes: PackIndex[] | undefined;
  private readonly fds = new Map<string, number>();
  /** Indexes that failed their checks when last loaded (mlv fsck reports them). */
  damaged: Array<{ name: string; reason: string }> = [];

  constructor(readonly dir: string) {}

  list(): PackIndex[] {
    if (this.indexes) return this.indexes;
    this.indexes = [];
    this.damaged = [];
    for (const name of packNames(this.dir)) {
      const loaded = PackIndex.load(this.dir, name);
      if (loaded instanceof PackIndex) this.indexes.push(loaded);
      else this.damaged.push({ name, reason: loaded.damaged });
    }
    return this.indexes;
  }

  /** Forgets what was read: the next lookup reads the folder again. */
  refresh(): void {
    this.indexes = undefined;
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }

  find(id: ObjectId): PackEntry | undefined {
    const list = this.list();
    if (list.length === 0) return undefined;
    const key = lookupKey(id);
    for (const p of list) {
      const i = p.search(key);
      if (i >= 0) return p.entryAt(i);
    }
    return undefined;
  }

  /** The bytes of a packed object, unverified (callers hash them). */
  read(e: PackEntry): Buffer {
    let fd = this.fds.get(e.pack.name);
    if (fd === undefined) {
      fd = fs.openSync(e.pack.packPath, 'r');
      this.fds.set(e.pack.name, fd);
    }
    const out = Buffer.allocUnsafe(e.size);
    let got = 0;
    while (got < e.size) {
      const n = fs.readSync(fd, out, got, e.size - got, e.offset + got);
      if (n === 0) throw Object.assign(new Error(`pack ${e.pack.name} ends before object at ${e.offset}`), { code: 'EPACKTRUNC' });
      got += n;
    }
    return out;
  }
}

/** Names (without extension) of the indexes in `dir`. */
export function packNames(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    return wrapFsError(err, 'list the cache packs');
  }
  return names.filter((n) => n.endsWith('.idx') && !n.startsWith('.')).map((n) => n.slice(0, -4)).sort();
}

let writerCounter = 0;

/**
 * Collects small objects for one thread and writes them as a pack. Objects stay in memory until
 * there are PACK_MIN_OBJECTS of them, so a small add still makes plain files (see finish).
 */
export class PackWriter {
  private pending: Array<{ id: ObjectId; key: Buffer; bytes: Buffer }> = [];
  private fd: number | undefined;
  private tempPath = '';
  private offset = 0;
  private readonly entries = new PackEntries();
  /** Names of the packs this writer published (or found published already, identical). */
  readonly publishedNames: string[] = [];

  constructor(
    private readonly dir: string,
    private readonly storeLoose: (bytes: Buffer, id: ObjectId) => void,
    private readonly published: (index: PackIndex) => void,
    private readonly maxBytes = PACK_MAX_BYTES,
  ) {}

  /** Whether `id` waits in the pack being written (not in one this writer published already). */
  holds(id: ObjectId): boolean {
    return this.holdsKey(lookupKey(id));
  }

  add(bytes: Uint8Array, id: ObjectId): void {
    const key = Buffer.from(id, 'hex');
    if (this.holdsKey(key)) return;
    if (this.fd === undefined && this.publishedNames.length === 0) {
      this.pending.push({ id, key, bytes: Buffer.from(bytes) });
      if (this.pending.length >= PACK_MIN_OBJECTS) this.open();
      return;
    }
    if (this.fd === undefined) this.open();
    this.append(bytes, key);
    if (this.offset >= this.maxBytes) this.publish();
  }

  /** Publishes what was collected (as plain objects when there are few); nothing is kept pending. */
  finish(): void {
    if (this.fd !== undefined) this.publish();
    for (const p of this.pending) this.storeLoose(p.bytes, p.id);
    this.pending = [];
  }

  /** Drops an unpublished pack (after a failure). */
  abort(): void {
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      fs.rmSync(this.tempPath, { force: true });
      this.fd = undefined;
    }
    this.pending = [];
    this.entries.clear();
  }

  private holdsKey(key: Buffer): boolean {
    if (this.pending.length > 0) return this.pending.some((p) => p.key.equals(key));
    return this.entries.count > 0 && this.entries.has(key);
  }

  private open(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    this.tempPath = path.join(this.dir, `${PACK_TEMP_PREFIX}${process.pid}-${threadId}-${(writerCounter++).toString(36)}`);
    try {
      this.fd = fs.openSync(this.tempPath, 'wx', 0o444);
      writeAll(this.fd, PACK_MAGIC);
    } catch (err) {
      return wrapFsError(err, 'create a pack in the cache');
    }
    this.offset = PACK_MAGIC.length;
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) this.append(p.bytes, p.key);
  }

  private append(bytes: Uint8Array, key: Buffer): void {
    try {
      writeAll(this.fd!, bytes);
    } catch (err) {
      this.abort();
      return wrapFsError(err, 'write a pack in the cache');
    }
    this.entries.push(key, this.offset, bytes.length);
    this.offset += bytes.length;
  }

  private publish(): void {
    const fd = this.fd!;
    this.fd = undefined;
    const index = Buffer.alloc(INDEX_HEADER + this.entries.count * ENTRY + TRAILER);
    INDEX_MAGIC.copy(index, 0);
    index.writeUInt32LE(this.entries.count, 8);
    this.entries.writeSorted(index, INDEX_HEADER);
    this.entries.clear();
    const digest = hashBytes(index.subarray(0, index.length - TRAILER));
    index.write(digest, index.length - TRAILER, 'hex');
    const name = `pack-${digest.slice(0, 32)}`;
    const packPath = path.join(this.dir, `${name}.pack`);
    const idxTemp = `${this.tempPath}.idx`;
    const idxPath = path.join(this.dir, `${name}.idx`);
    this.publishedNames.push(name);
    if (fs.existsSync(idxPath)) {
      // The same objects at the same offsets were published before (the name is their hash).
      fs.closeSync(fd);
      fs.rmSync(this.tempPath, { force: true });
      return;
    }
    let packMoved = false;
    try {
      fs.closeSync(fd);
      fs.renameSync(this.tempPath, packPath);
      packMoved = true;
      fs.writeFileSync(idxTemp, index, { mode: 0o444, flag: 'wx' });
      crashPoint('pack:index');
      fs.renameSync(idxTemp, idxPath);
    } catch (err) {
      fs.rmSync(packMoved ? packPath : this.tempPath, { force: true });
      fs.rmSync(idxTemp, { force: true });
      return wrapFsError(err, 'publish a pack in the cache');
    }
    this.published(new PackIndex(name, packPath, index, Date.now()));
  }
}

/**
 * The local content-addressed cache: `<dir>/ab/cdef...`, read-only objects, one copy per content.
 * Objects are written to a temp file under `<dir>/tmp/`, hashed while written, and renamed into
 * place only when the bytes match their id. Everything here is synchronous so the same code runs
 * on the main thread and inside hashing workers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { MlvError, errnoCode, wrapFsError } from '../core/errors.js';
import { createHasher, hashBytes } from '../core/hash.js';
import { objectRelPath, type ObjectId } from '../core/id.js';
import { crashPoint } from '../core/crash-points.js';
import { readUpTo, writeAll } from './fd-io.js';
import { KERNEL_COPY_MIN, KernelCopy, kernelCopyAvailable, killCopiesInto } from './kernel-copy.js';
import { PACK_MAX_BYTES, PACK_OBJECT_MAX, PACK_TEMP_PREFIX, PackSet, PackWriter, packNames, type PackEntry, type PackIndex } from './packs.js';

export const IO_BUFFER_SIZE = 4 << 20;
const OBJECT_MODE = 0o444;

let sharedBuffer: Buffer | undefined;
/** One I/O buffer per thread, allocated once: fresh pages are expensive on these machines. */
export function ioBuffer(): Buffer {
  sharedBuffer ??= Buffer.allocUnsafeSlow(IO_BUFFER_SIZE);
  return sharedBuffer;
}

let tmpCounter = 0;

/**
 * Creates a new read-only temp file, and its folder when that is missing. A recursive mkdir reports
 * ENOENT on a read-only file system, so the folder is then created once more without it to get
 * the real error.
 */
export function openCreating(file: string, what: string): number {
  try {
    return fs.openSync(file, 'wx', OBJECT_MODE);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') return wrapFsError(err, what);
  }
  const dir = path.dirname(file);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    try {
      fs.mkdirSync(dir);
    } catch (again) {
      return wrapFsError(errnoCode(again) === 'EEXIST' ? err : again, what);
    }
  }
  try {
    return fs.openSync(file, 'wx', OBJECT_MODE);
  } catch (err) {
    return wrapFsError(err, what);
  }
}

/** Temp files written beside their final object name (see storeHashed). */
const SHARD_TEMP_PREFIX = '.tmp-';
/** `<pid>-<thread>-`: hashing workers share the pid and have their own counter. */
const TEMP_OWNER = `${process.pid}-${threadId}-`;
const SHARD = /^[0-9a-f]{2}$/;
const OBJECT_ID = /^[0-9a-f]{64}$/;

export interface CacheObject {
  id: ObjectId;
  /** The object's file, or for a packed object its pack. */
  path: string;
  size: number;
  mtimeMs: number;
  regular: boolean;
  packed?: PackEntry;
}

export class LocalCache {
  readonly dir: string;
  readonly tmpDir: string;

  /** The normalised cache folder and a separator: object paths are built by concatenation (hot path). */
  private readonly prefix: string;

  /** Small objects written back to back (see packs.ts), searched in this process's view of them. */
  readonly packs: PackSet;
  /** Set while a bulk ingest collects small objects into a pack (startPacking .. finishPacking). */
  private packer: PackWriter | undefined;

  constructor(dir: string) {
    this.dir = dir;
    this.tmpDir = path.join(dir, 'tmp');
    this.prefix = path.join(dir, '_').slice(0, -1);
    this.packs = new PackSet(path.join(dir, 'packs'));
  }

  /** Closes the pack files this instance has open; they are opened again when needed. */
  close(): void {
    this.packs.refresh();
  }

  get packsDir(): string {
    return this.packs.dir;
  }

  /** From now on, small objects stored by putFd go into a pack, visible only after finishPacking. */
  startPacking(): void {
    this.packer ??= new PackWriter(
      this.packs.dir,
      (bytes, id) => this.storeHashed(bytes, id),
      () => this.packs.refresh(),
    );
  }

  /** Publishes the collected objects (as plain objects when they are few). */
  finishPacking(): void {
    const p = this.packer;
    this.packer = undefined;
    p?.finish();
  }

  /** True while small objects go into a pack (see startPacking). */
  get packing(): boolean {
    return this.packer !== undefined;
  }

  /** Stores bytes known to hash to `id`: into the pack being written when there is one and they are small. */
  storeSmall(bytes: Uint8Array, id: ObjectId): void {
    if (this.packer && bytes.length <= PACK_OBJECT_MAX) {
      if (!this.has(id)) this.packer.add(bytes, id);
    } else {
      this.storeHashed(bytes, id);
    }
  }

  /** Drops collected, unpublished objects (after a failure). */
  abortPacking(): void {
    this.packer?.abort();
    this.packer = undefined;
  }

  /** Where a packed object is, or undefined when it is not in a pack. */
  packed(id: ObjectId): PackEntry | undefined {
    return this.packs.find(id);
  }

  /**
   * Where a packed object is when it has no file of its own. Readers prefer the file: it is what
   * links point at and what fsck checks.
   */
  packedOnly(id: ObjectId): PackEntry | undefined {
    const e = this.packs.find(id);
    return e && !fs.existsSync(this.objectPath(id)) ? e : undefined;
  }

  /** Size of an object in the cache proper, or undefined when it is not there. */
  sizeOf(id: ObjectId): number | undefined {
    const e = this.packs.find(id);
    if (e) return e.size;
    try {
      return fs.statSync(this.objectPath(id)).size;
    } catch {
      return undefined;
    }
  }

  /**
   * The path of an object as a file of its own, taking it out of its pack first when it is packed
   * (links and streams need a file). The copy is verified before it is published.
   */
  loosePath(id: ObjectId): string {
    const loose = this.objectPath(id);
    if (this.packs.find(id) && !fs.existsSync(loose)) this.writeLoose(this.readVerified(id), id);
    return loose;
  }

  objectPath(id: ObjectId): string {
    return this.prefix + id.slice(0, 2) + path.sep + id.slice(2);
  }

  has(id: ObjectId): boolean {
    if (this.packer?.holds(id) || this.packs.find(id)) return true;
    return fs.existsSync(this.objectPath(id));
  }

  /**
   * A fresh temp path under the cache: `<pid>-<thread>-...`. The pid lets a later run recognise
   * leftovers of dead runs, the thread this run those of its terminated hashing threads.
   */
  tempPath(): string {
    return path.join(this.tmpDir, `${process.pid}-${threadId}-${Date.now().toString(36)}-${(tmpCounter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
  }

  /** A fresh temp path in the folder object `id` will be published in (that folder may not exist yet). */
  tempPathBeside(id: ObjectId): string {
    return this.prefix + id.slice(0, 2) + path.sep + SHARD_TEMP_PREFIX + TEMP_OWNER + (tmpCounter++).toString(36);
  }

  openTemp(): { fd: number; tempPath: string } {
    const tempPath = this.tempPath();
    return { fd: openCreating(tempPath, 'create a temp file in the cache'), tempPath };
  }

  /**
   * Moves a finished, verified temp file to its final name. Two writers of one object both succeed.
   */
  publish(tempPath: string, id: ObjectId): void {
    const finalPath = this.objectPath(id);
    crashPoint('cache:publish');
    // rename() atomically replaces an existing object, whose content is identical by construction
    // (or damaged, in which case this repairs it); readers holding the old file keep reading it.
    try {
      fs.renameSync(tempPath, finalPath);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') {
        fs.rmSync(tempPath, { force: true });
        wrapFsError(err, 'store an object in the cache');
      }
      try {
        fs.mkdirSync(path.dirname(finalPath), { recursive: true });
        fs.renameSync(tempPath, finalPath);
      } catch (again) {
        fs.rmSync(tempPath, { force: true });
        wrapFsError(again, 'store an object in the cache');
      }
    }
  }

  /** Stores bytes; when `expectedId` is given they must hash to it. Returns the id. */
  putBytes(bytes: Uint8Array, expectedId?: ObjectId): ObjectId {
    const id = hashBytes(bytes);
    if (expectedId && id !== expectedId) {
      throw new MlvError('CORRUPT_OBJECT', `object ${expectedId}: content hashes to ${id}`);
    }
    this.storeHashed(bytes, id);
    return id;
  }

  /**
   * Stores bytes already known to hash to `id`. The temp file goes beside the final name (as Git
   * does for loose objects): a rename within one folder is far cheaper than one across folders,
   * which the kernel serialises (200,000 small files: 5x faster on ext4 here).
   */
  storeHashed(bytes: Uint8Array, id: ObjectId): void {
    if (this.has(id)) return;
    this.writeLoose(bytes, id);
  }

  /** Writes bytes known to hash to `id` as a plain object file, even when the object is packed. */
  private writeLoose(bytes: Uint8Array, id: ObjectId): void {
    const tempPath = this.tempPathBeside(id);
    const fd = openCreating(tempPath, 'store an object in the cache');
    try {
      writeAll(fd, bytes);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tempPath, { force: true });
      wrapFsError(err, 'store an object in the cache');
    }
    fs.closeSync(fd);
    this.publish(tempPath, id);
  }

  /**
   * Copies a file into the cache in one pass (read, hash, write), publishing it under the hash of
   * the bytes actually written. With `expectedId`, a mismatch is an error and nothing is kept.
   */
  putFile(srcPath: string, expectedId?: ObjectId): { id: ObjectId; size: number } {
    const fd = openNoFollow(srcPath);
    try {
      return this.putFd(fd, srcPath, expectedId);
    } finally {
      fs.closeSync(fd);
    }
  }

  putFd(srcFd: number, label: string, expectedId?: ObjectId, expectedSize?: number): { id: ObjectId; size: number } {
    if (expectedSize !== undefined && expectedSize >= KERNEL_COPY_MIN && kernelCopyAvailable()) {
      const copied = this.putByKernelCopy(srcFd, label, expectedId);
      if (copied) return copied;
    }
    const buf = ioBuffer();
    const first = readUpTo(srcFd, buf, 0, buf.length, expectedSize);
    if (first < buf.length || first === expectedSize) {
      const bytes = buf.subarray(0, first);
      const id = hashBytes(bytes);
      if (expectedId && id !== expectedId) throw mismatch(label, expectedId, id);
      this.storeSmall(bytes, id);
      return { id, size: first };
    }
    const hasher = createHasher();
    const { fd, tempPath } = this.openTemp();
    let size = 0;
    try {
      let n = first;
      while (n > 0) {
        const chunk = buf.subarray(0, n);
        hasher.update(chunk);
        writeAll(fd, chunk);
        size += n;
        n = readUpTo(srcFd, buf, 0, buf.length);
      }
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tempPath, { force: true });
      wrapFsError(err, `copy ${label} into the cache`);
    }
    fs.closeSync(fd);
    const id = hasher.digest();
    if (expectedId && id !== expectedId) {
      fs.rmSync(tempPath, { force: true });
      throw mismatch(label, expectedId, id);
    }
    this.publish(tempPath, id);
    return { id, size };
  }

  /**
   * Large files: copied by the kernel and hashed as the copy grows (copyHashed); undefined when the
   * kernel copy is not available or fails (the caller then copies the file itself, and reports the
   * real error if there is one).
   */
  private putByKernelCopy(srcFd: number, label: string, expectedId?: ObjectId): { id: ObjectId; size: number } | undefined {
    const tempPath = this.tempPath();
    let hashed: { id: ObjectId; size: number } | undefined;
    try {
      fs.mkdirSync(this.tmpDir, { recursive: true });
    } catch {
      // The buffered path creates its temp file the careful way and reports the real error.
      return undefined;
    }
    try {
      hashed = copyHashed(srcFd, tempPath, OBJECT_MODE);
    } catch (err) {
      return wrapFsError(err, `copy ${label} into the cache`);
    }
    if (!hashed) return undefined;
    if (expectedId && hashed.id !== expectedId) {
      fs.rmSync(tempPath, { force: true });
      throw mismatch(label, expectedId, hashed.id);
    }
    this.publish(tempPath, hashed.id);
    return hashed;
  }

  /**
   * Trees fetched for a part of a folder (`mlv pull data/train`) whose other parts are not local.
   * They live beside the cache, not in it, so that a tree in the cache always means everything
   * below it is there too; checkout still finds its way down through them.
   */
  get incompleteDir(): string {
    return path.join(this.dir, 'incomplete');
  }

  storeIncompleteTree(bytes: Uint8Array, id: ObjectId): void {
    const final = path.join(this.incompleteDir, objectRelPath(id));
    if (fs.existsSync(final) || this.has(id)) return;
    fs.mkdirSync(path.dirname(final), { recursive: true });
    const temp = `${final}.${process.pid}.tmp`;
    fs.writeFileSync(temp, bytes, { mode: OBJECT_MODE });
    fs.renameSync(temp, final);
  }

  dropIncompleteTree(id: ObjectId): void {
    fs.rmSync(path.join(this.incompleteDir, objectRelPath(id)), { force: true });
  }

  /**
   * Re-hashes an object of any size through the reused buffer; throws CORRUPT_OBJECT (or
   * MISSING_OBJECTS) when it does not hash to its id. Read-only objects can still be damaged.
   */
  verifyObject(id: ObjectId): void {
    if (this.packedOnly(id)) {
      this.readVerified(id);
      return;
    }
    let fd: number;
    try {
      fd = fs.openSync(this.objectPath(id), 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new MlvError('MISSING_OBJECTS', `object ${id} is not in the cache`);
      return wrapFsError(err, 'read from the cache');
    }
    let actual: ObjectId;
    try {
      const buf = ioBuffer();
      let n = readUpTo(fd, buf, 0, buf.length);
      if (n < buf.length) {
        actual = hashBytes(buf.subarray(0, n));
      } else {
        const h = createHasher();
        while (n > 0) {
          h.update(buf.subarray(0, n));
          n = readUpTo(fd, buf, 0, buf.length);
        }
        actual = h.digest();
      }
    } finally {
      fs.closeSync(fd);
    }
    if (actual !== id) {
      throw new MlvError('CORRUPT_OBJECT', `cache object ${id} is corrupt (its content hashes to ${actual})`, {
        hint: 'run mlv fsck (it moves damaged objects aside), then re-add or fetch the data',
      });
    }
  }

  /** Reads a (small) object and checks that it hashes to its id; `incomplete` trees count too. */
  readVerified(id: ObjectId, opts: { incomplete?: boolean } = {}): Buffer {
    let bytes: Buffer;
    const packed = this.packedOnly(id);
    try {
      bytes = packed ? this.readPacked(packed, id) : fs.readFileSync(this.objectPath(id));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') return wrapFsError(err, 'read from the cache');
      try {
        if (!opts.incomplete) throw err;
        bytes = fs.readFileSync(path.join(this.incompleteDir, objectRelPath(id)));
      } catch {
        throw new MlvError('MISSING_OBJECTS', `object ${id} is not in the cache`);
      }
    }
    const actual = hashBytes(bytes);
    if (actual !== id) {
      throw new MlvError('CORRUPT_OBJECT', `cache object ${id} is corrupt (its content hashes to ${actual})`, {
        hint: 'delete it (or run mlv fsck) and restore it by re-adding or fetching the data',
      });
    }
    return bytes;
  }

  /**
   * The bytes of a packed object as stored (unverified). With its id, a pack that gc replaced
   * since this process read the indexes is looked up again.
   */
  readPacked(e: PackEntry, id?: ObjectId): Buffer {
    try {
      return this.packs.read(e);
    } catch (err) {
      if (errnoCode(err) === 'EPACKTRUNC') {
        throw new MlvError('CORRUPT_OBJECT', `pack ${e.pack.name} is shorter than its index says`, { hint: 'run mlv fsck' });
      }
      if (id && errnoCode(err) === 'ENOENT') {
        this.packs.refresh();
        const again = this.packs.find(id);
        if (again) return this.readPacked(again);
        try {
          return fs.readFileSync(this.objectPath(id));
        } catch {
          throw new MlvError('MISSING_OBJECTS', `object ${id} is not in the cache`);
        }
      }
      return wrapFsError(err, `read pack ${e.pack.name}`);
    }
  }

  /** Where `mlv fsck` moves objects that fail verification (kept for inspection, never deleted). */
  get corruptDir(): string {
    return path.join(this.dir, 'corrupt');
  }

  /**
   * Every object file in the cache proper (`ab/cdef...`), or with `incomplete`, every tree kept in
   * `incomplete/`, with its size and modification time. Names that are not object ids are skipped,
   * and so are entries that are not regular files unless `all` (then `regular` tells).
   */
  listObjects(opts: { incomplete?: boolean; all?: boolean } = {}): CacheObject[] {
    const out: CacheObject[] = [];
    this.forEachObject(opts, (id, size, mtimeMs, regular, file, packed) => out.push({ id, path: file, size, mtimeMs, regular, ...(packed ? { packed } : {}) }));
    return out;
  }

  /**
   * listObjects without the list: `fn` sees each object as it is found (plain objects in id order,
   * then packed ones pack by pack, each id once), so a caller that keeps only some of them (gc
   * keeps the unreferenced ones) holds no per-object record. For a packed object `file` is its
   * pack and `packed` says where in it.
   */
  forEachObject(opts: { incomplete?: boolean; all?: boolean }, fn: (id: ObjectId, size: number, mtimeMs: number, regular: boolean, file: string, packed?: PackEntry) => void): void {
    let loose: Set<ObjectId> | undefined;
    const packs = opts.incomplete ? [] : this.packs.list();
    if (packs.length > 0) loose = new Set();
    this.forEachShardEntry(opts.incomplete ? this.incompleteDir : this.dir, 'list the cache', (shardDir, shard, name) => {
      const id = shard + name;
      if (!OBJECT_ID.test(id)) return;
      const file = shardDir + path.sep + name;
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(file, { throwIfNoEntry: false });
      } catch (err) {
        return wrapFsError(err, 'list the cache');
      }
      if (!st || (!st.isFile() && !opts.all)) return;
      loose?.add(id as ObjectId);
      fn(id as ObjectId, st.size, st.mtimeMs, st.isFile(), file);
    });
    if (!loose) return;
    // An id can be both a plain file and packed, or in two packs (two adds of the same content).
    const seen = loose;
    for (const p of packs) {
      for (let i = 0; i < p.count; i++) {
        const id = p.idAt(i);
        if (seen.has(id)) continue;
        seen.add(id);
        const e = p.entryAt(i);
        fn(id, e.size, p.mtimeMs, true, p.packPath, e);
      }
    }
  }

  /**
   * Removes packed objects: what the packs holding one of `ids` keep besides them is written to a
   * new pack (verified first; a damaged object goes to corrupt/), which is published before the
   * old packs are deleted, index first. Returns the ids that were removed from at least one pack.
   */
  removePacked(ids: ReadonlySet<ObjectId>, opts: { onlyDamaged?: boolean } = {}): Set<ObjectId> {
    const hit = this.packs.list().filter((p) => {
      for (let i = 0; i < p.count; i++) if (ids.has(p.idAt(i))) return true;
      return false;
    });
    return this.rewritePacks(hit, ids, opts.onlyDamaged ?? false);
  }

  /**
   * Merges the packs into one when there are more than `max` of them (each bulk add makes one per
   * hashing thread, and a lookup searches every index). Returns how many packs were merged.
   */
  consolidatePacks(max: number): number {
    const all = this.packs.list();
    if (all.length <= max) return 0;
    // Past 8 GiB of small objects a merge makes as many packs again: then it would only churn.
    const bytes = all.reduce((sum, p) => sum + (fs.statSync(p.packPath, { throwIfNoEntry: false })?.size ?? 0), 0);
    if (Math.ceil(bytes / PACK_MAX_BYTES) > max) return 0;
    this.rewritePacks(all, new Set(), false);
    return all.length;
  }

  /** With `onlyDamaged`, a copy of an id in `ids` that still hashes right is kept (another copy was damaged). */
  private rewritePacks(hit: PackIndex[], ids: ReadonlySet<ObjectId>, onlyDamaged: boolean): Set<ObjectId> {
    const removed = new Set<ObjectId>();
    if (hit.length === 0) return removed;
    const writer = new PackWriter(this.packs.dir, (bytes, id) => this.writeLoose(bytes, id), () => {});
    try {
      for (const p of hit) {
        for (let i = 0; i < p.count; i++) {
          const id = p.idAt(i);
          const drop = ids.has(id);
          if (drop && !onlyDamaged) {
            removed.add(id);
            continue;
          }
          const bytes = this.readPacked(p.entryAt(i));
          if (hashBytes(bytes) === id) writer.add(bytes, id);
          else if (drop) removed.add(id);
          else this.keepAside(id, bytes);
        }
      }
      writer.finish();
    } catch (err) {
      writer.abort();
      throw err;
    }
    for (const p of hit) {
      // A rewrite that came out identical to a pack it read has that pack's name: it stays.
      if (writer.publishedNames.includes(p.name)) continue;
      crashPoint('pack:drop');
      fs.rmSync(path.join(this.packs.dir, `${p.name}.idx`), { force: true });
      fs.rmSync(p.packPath, { force: true });
    }
    this.packs.refresh();
    return removed;
  }

  /** Writes the bytes of a damaged packed object to corrupt/ (as moveAside does for a file). */
  keepAside(id: ObjectId, bytes: Uint8Array): string {
    const to = this.freeCorruptName(id);
    try {
      fs.writeFileSync(to, bytes, { flag: 'wx', mode: OBJECT_MODE });
    } catch (err) {
      return wrapFsError(err, 'move a corrupt object aside');
    }
    return to;
  }

  /**
   * Calls `fn` for every name in every shard folder (`ab/`) below `base`, shards and names sorted.
   * A missing `base` or shard is empty; other errors reading them are wrapped as `what` failures
   * (without `what`, unreadable shards are skipped).
   */
  private forEachShardEntry(base: string, what: string | undefined, fn: (shardDir: string, shard: string, name: string) => void): void {
    let shards: string[];
    try {
      shards = fs.readdirSync(base);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || what === undefined) return;
      return wrapFsError(err, what);
    }
    for (const shard of shards.sort()) {
      if (!SHARD.test(shard)) continue;
      const shardDir = base + path.sep + shard;
      let names: string[];
      try {
        names = fs.readdirSync(shardDir);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR' || what === undefined) continue;
        return wrapFsError(err, what);
      }
      for (const name of names.sort()) fn(shardDir, shard, name);
    }
  }

  /** Path of a tree kept in `incomplete/`. */
  incompletePath(id: ObjectId): string {
    return path.join(this.incompleteDir, objectRelPath(id));
  }

  /**
   * Moves an object (or, with `incomplete`, a tree kept in `incomplete/`) that failed verification
   * to `corrupt/<id>` (`corrupt/<id>.1`, ... when that name is taken), keeping its bytes. Returns
   * the new path, or undefined when the object was gone already.
   */
  moveAside(id: ObjectId, opts: { incomplete?: boolean } = {}): string | undefined {
    const from = opts.incomplete ? this.incompletePath(id) : this.objectPath(id);
    const to = this.freeCorruptName(id);
    try {
      fs.renameSync(from, to);
      return to;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      return wrapFsError(err, 'move a corrupt object aside');
    }
  }

  /** `corrupt/<id>`, or `<id>.1`, `<id>.2`, ... when that name is taken (the folder is created). */
  private freeCorruptName(id: ObjectId): string {
    fs.mkdirSync(this.corruptDir, { recursive: true });
    for (let n = 0; ; n++) {
      const to = path.join(this.corruptDir, n === 0 ? id : `${id}.${n}`);
      if (!fs.existsSync(to)) return to;
    }
  }

  /** Deletes an object from the cache proper (or from `incomplete/`); returns false if it was gone. */
  removeObject(id: ObjectId, opts: { incomplete?: boolean } = {}): boolean {
    const p = opts.incomplete ? this.incompletePath(id) : this.objectPath(id);
    try {
      fs.unlinkSync(p);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      return wrapFsError(err, 'remove an object from the cache');
    }
    // Tidy an emptied shard folder; publish() re-creates it when needed.
    try {
      fs.rmdirSync(path.dirname(p));
    } catch {
      // not empty, or gone: fine
    }
    return true;
  }

  /**
   * Removes temp files that runs killed mid-write left beside objects (`ab/.tmp-<pid>-<thread>-n`),
   * and with `ownThreads`, those of this process's (terminated) worker threads. Costs a listing of
   * every shard, so gc, fsck and failure paths call it rather than every command.
   */
  cleanStaleShardTemps(opts: { ownThreads?: number[] } = {}): number {
    const own = new Set(opts.ownThreads ?? []);
    let removed = own.size > 0 ? this.cleanThreadTemps(own) : 0;
    this.forEachShardEntry(this.dir, undefined, (shardDir, _shard, name) => {
      if (!name.startsWith(SHARD_TEMP_PREFIX)) return;
      const [pidText, threadText] = name.slice(SHARD_TEMP_PREFIX.length).split('-');
      const pid = Number(pidText);
      const stale = pid === process.pid ? own.has(Number(threadText)) : pid > 0 && !processAlive(pid);
      if (stale) {
        fs.rmSync(shardDir + path.sep + name, { force: true });
        removed++;
      }
    });
    return removed + this.cleanStalePackFiles(own);
  }

  /** Pack temps of dead writers, and packs whose index was never published (a killed run). */
  private cleanStalePackFiles(own: Set<number>): number {
    let names: string[];
    try {
      names = fs.readdirSync(this.packs.dir);
    } catch {
      return 0;
    }
    const indexed = new Set(packNames(this.packs.dir));
    let removed = 0;
    for (const name of names) {
      let stale = false;
      if (name.startsWith(PACK_TEMP_PREFIX)) {
        const [pidText, threadText] = name.slice(PACK_TEMP_PREFIX.length).split('-');
        const pid = Number(pidText);
        stale = pid === process.pid ? own.has(Number(threadText)) : pid > 0 && !processAlive(pid);
      } else if (name.endsWith('.pack')) {
        stale = !indexed.has(name.slice(0, -5));
      }
      if (stale) {
        fs.rmSync(path.join(this.packs.dir, name), { force: true });
        removed++;
      }
    }
    return removed;
  }

  /**
   * Removes the temps in tmp/ of this process's hashing threads `own` (terminated after a failure),
   * after killing a kernel copy one of them may have left writing into them.
   */
  private cleanThreadTemps(own: Set<number>): number {
    const prefixes = [...own].map((t) => `${process.pid}-${t}-`);
    killCopiesInto(prefixes.map((p) => path.join(this.tmpDir, p)));
    let names: string[];
    try {
      names = fs.readdirSync(this.tmpDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      if (!prefixes.some((p) => name.startsWith(p))) continue;
      fs.rmSync(path.join(this.tmpDir, name), { force: true });
      removed++;
    }
    return removed;
  }

  /** Removes temp files left behind by runs whose process no longer exists. */
  cleanStaleTemps(): number {
    let removed = 0;
    let names: string[];
    try {
      names = fs.readdirSync(this.tmpDir);
    } catch {
      return 0;
    }
    for (const name of names) {
      const pidText = name.split('-')[0]!;
      const pid = /^[1-9][0-9]*$/.test(pidText) ? Number(pidText) : 0;
      if (pid > 0 && pid !== process.pid && !processAlive(pid)) {
        fs.rmSync(path.join(this.tmpDir, name), { force: true });
        removed++;
      }
    }
    return removed;
  }
}

function mismatch(label: string, expected: ObjectId, actual: ObjectId): MlvError {
  return new MlvError('CORRUPT_OBJECT', `${label}: expected content ${expected}, got ${actual}`, {
    hint: 'the source changed or is corrupt; nothing was stored',
  });
}

export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false; // 0 and -n signal process groups
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/** Hashes an open file through the thread's reused buffer: small files in one call. */
export function hashFd(fd: number, expectedSize?: number): { id: ObjectId; size: number } {
  const buf = ioBuffer();
  let n = readUpTo(fd, buf, 0, buf.length, expectedSize);
  if (n < buf.length || n === expectedSize) return { id: hashBytes(buf.subarray(0, n)), size: n };
  const hasher = createHasher();
  let size = 0;
  while (n > 0) {
    hasher.update(buf.subarray(0, n));
    size += n;
    n = readUpTo(fd, buf, 0, buf.length);
  }
  return { id: hasher.digest(), size };
}

/**
 * Copies the open file `srcFd` into the new file `dest` by the kernel while this thread hashes the
 * copy as it grows (from the page cache), so copying and hashing overlap; the id returned is that
 * of the bytes in `dest`. Undefined, with `dest` removed, when the kernel copy is not available,
 * fails, or ends at another size than the source has now (the caller then copies the file through
 * its own buffer, which also reports the real error of a failure); on an error `dest` is removed.
 * Add of a 4 GiB file takes about a third of the time of reading and writing it through mlv.
 */
export function copyHashed(srcFd: number, dest: string, mode: number): { id: ObjectId; size: number } | undefined {
  if (!kernelCopyAvailable()) return undefined;
  let readFd: number | undefined;
  let copy: KernelCopy | undefined;
  let hashed: { id: ObjectId; size: number } | undefined;
  try {
    readFd = fs.openSync(dest, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    copy = KernelCopy.start(srcFd, dest);
    if (copy) hashed = hashGrowingCopy(readFd, copy);
    if (hashed && hashed.size !== fs.fstatSync(srcFd).size) hashed = undefined;
    if (hashed) fs.chmodSync(dest, mode);
  } catch (err) {
    copy?.stop();
    if (readFd !== undefined) fs.rmSync(dest, { force: true });
    throw err;
  } finally {
    if (readFd !== undefined) fs.closeSync(readFd);
  }
  if (!hashed) {
    copy?.stop();
    fs.rmSync(dest, { force: true });
  }
  return hashed;
}

/**
 * Hashes the file a kernel copy is writing, following it as it grows; undefined when the copy
 * failed. Reads never pass the file's size, and cp only appends, so the bytes hashed are the
 * bytes the copy holds; a copy whose final size differs from what was read counts as failed.
 */
function hashGrowingCopy(fd: number, copy: KernelCopy): { id: ObjectId; size: number } | undefined {
  const buf = ioBuffer();
  const hasher = createHasher();
  let pos = 0;
  let finished = false;
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, pos);
    if (n > 0) {
      hasher.update(buf.subarray(0, n));
      pos += n;
      continue;
    }
    if (finished) break;
    const state = copy.state();
    if (state === 'failed') return undefined;
    // Done: one more pass reads what was written between the last read and the end of the copy.
    if (state === 'done') finished = true;
    else copy.pause();
  }
  if (fs.fstatSync(fd).size !== pos) return undefined;
  return { id: hasher.digest(), size: pos };
}

export function openNoFollow(p: string): number {
  return fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
}

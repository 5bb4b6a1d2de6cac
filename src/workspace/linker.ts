/**
 * Places cache objects into the workspace with the configured strategies (an ordered fallback
 * list of reflink, hardlink, symlink, copy). Every object is re-hashed before it is placed, so a
 * damaged cache object is never spread into the workspace. Files appear atomically (temp + rename).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError, errnoCode, wrapFsError } from '../core/errors.js';
import { createHasher, hashBytes } from '../core/hash.js';
import type { ObjectId } from '../core/id.js';
import { readUpTo, writeAll } from '../storage/fd-io.js';
import { KERNEL_COPY_MIN } from '../storage/kernel-copy.js';
import { copyHashed, ioBuffer, type LocalCache } from '../storage/local-cache.js';
import type { LinkStrategy } from './config.js';
import { crashPoint } from '../core/crash-points.js';

/** Errors meaning "this file system cannot do that": fall back to the next strategy. */
const UNSUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'EPERM', 'ENOTTY', 'EMLINK']);

let tempCounter = 0;

export class Linker {
  private readonly disabled = new Set<LinkStrategy>();
  private readonly verified = new Set<ObjectId>();
  private readonly umask: number;

  constructor(
    private readonly cache: LocalCache,
    private readonly strategies: readonly LinkStrategy[],
  ) {
    this.umask = process.umask();
    this.links = strategies.some((s) => s !== 'copy');
  }

  /** Whether any strategy links objects rather than copying them. */
  private readonly links: boolean;

  /**
   * Writes object `id` at `dest` (whose parent folder exists). Returns the strategy used. `direct`
   * writes `dest` itself instead of a temp file renamed over it: for a private staging folder that
   * no one else reads until it is complete.
   */
  place(id: ObjectId, dest: string, exec: boolean, opts: { direct?: boolean } = {}): LinkStrategy {
    const temp = opts.direct ? dest : path.join(path.dirname(dest), `.mlv-tmp-${process.pid}-${(tempCounter++).toString(36)}`);
    const candidates = this.strategies.filter((s) => !this.disabled.has(s));
    if (!candidates.includes('copy')) candidates.push('copy');
    for (const strategy of candidates) {
      // A hard or symbolic link shares the read-only object: it cannot carry its own exec bit.
      if (exec && (strategy === 'hardlink' || strategy === 'symlink')) continue;
      // A packed object (small by construction) is copied rather than taken out of its pack to be cloned.
      if (strategy === 'reflink' && this.cache.packedOnly(id)) continue;
      try {
        this.make(strategy, id, temp, exec);
      } catch (err) {
        fs.rmSync(temp, { force: true });
        const code = errnoCode(err);
        if (strategy !== 'copy' && code && UNSUPPORTED.has(code)) {
          if (code !== 'EMLINK') this.disabled.add(strategy);
          continue;
        }
        if (errnoCode(err) === 'ENOENT' && !this.cache.has(id)) {
          throw new MlvError('MISSING_OBJECTS', `object ${id} is not in the cache`);
        }
        return wrapFsError(err, `write ${dest}`);
      }
      if (temp === dest) return strategy;
      crashPoint('link:rename');
      try {
        fs.renameSync(temp, dest);
      } catch (err) {
        fs.rmSync(temp, { force: true });
        return wrapFsError(err, `write ${dest}`);
      }
      return strategy;
    }
    throw new Error('unreachable: copy is always a candidate');
  }

  private make(strategy: LinkStrategy, id: ObjectId, temp: string, exec: boolean): void {
    const mode = (exec ? 0o777 : 0o666) & ~this.umask;
    if (strategy === 'copy') return this.copyVerified(id, temp, mode);
    this.verify(id);
    // A link needs the object as a file of its own: a packed one is taken out of its pack first.
    const object = this.cache.loosePath(id);
    switch (strategy) {
      case 'reflink':
        fs.copyFileSync(object, temp, fs.constants.COPYFILE_FICLONE_FORCE);
        fs.chmodSync(temp, mode);
        return;
      case 'hardlink':
        fs.linkSync(object, temp);
        return;
      case 'symlink':
        fs.symlinkSync(object, temp);
        return;
    }
  }

  /** Re-hashes an object once per run. */
  verify(id: ObjectId): void {
    if (this.verified.has(id)) return;
    try {
      this.cache.verifyObject(id);
    } catch (err) {
      // The same message as a damaged copy (below): nothing was written for it.
      if (err instanceof MlvError && err.code === 'CORRUPT_OBJECT') throw corrupt(id, /hashes to ([0-9a-f]{64})/.exec(err.message)![1] as ObjectId);
      throw err;
    }
    this.verified.add(id);
  }

  /**
   * Copies an object verified: packed ones from memory, large ones by the kernel (copyHashed), the
   * rest through the reused buffer, hashing as it goes; a mismatch keeps nothing.
   */
  private copyVerified(id: ObjectId, temp: string, mode: number): void {
    const packed = this.cache.packedOnly(id);
    if (packed) {
      const bytes = this.cache.readPacked(packed, id);
      const actual = hashBytes(bytes);
      if (actual !== id) throw corrupt(id, actual);
      const dst = fs.openSync(temp, 'wx', mode);
      try {
        writeAll(dst, bytes);
      } finally {
        fs.closeSync(dst);
      }
      return;
    }
    const src = openObject(this.cache, id);
    let dst: number | undefined;
    try {
      // Large objects: the kernel copies them while this thread hashes the copy; what is placed is
      // what was verified.
      const copied = fs.fstatSync(src).size >= KERNEL_COPY_MIN ? copyHashed(src, temp, mode) : undefined;
      if (copied?.id === id) {
        if (this.links) this.verified.add(id);
        return;
      }
      if (copied) {
        // The copy differs: blame the object only if it is the object that is damaged (the copy
        // is then redone through this thread's buffer, which checks it again).
        fs.rmSync(temp, { force: true });
        this.verify(id);
      }
      dst = fs.openSync(temp, 'wx', mode);
      const buf = ioBuffer();
      let n = readUpTo(src, buf, 0, buf.length);
      let actual: ObjectId;
      if (n < buf.length) {
        actual = hashBytes(buf.subarray(0, n));
        if (actual === id) writeAll(dst, buf.subarray(0, n));
      } else {
        const h = createHasher();
        while (n > 0) {
          const chunk = buf.subarray(0, n);
          h.update(chunk);
          writeAll(dst, chunk);
          n = readUpTo(src, buf, 0, buf.length);
        }
        actual = h.digest();
      }
      if (actual !== id) throw corrupt(id, actual);
      // Only a link needs an earlier check; remembering every copied id would hold a set of all
      // of them (200,000 files: tens of MB of old-generation garbage as it grows).
      if (this.links) this.verified.add(id);
    } finally {
      fs.closeSync(src);
      if (dst !== undefined) fs.closeSync(dst);
    }
  }
}

function openObject(cache: LocalCache, id: ObjectId): number {
  try {
    return fs.openSync(cache.objectPath(id), 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new MlvError('MISSING_OBJECTS', `object ${id} is not in the cache`);
    throw err;
  }
}

function corrupt(id: ObjectId, actual: ObjectId): MlvError {
  return new MlvError('CORRUPT_OBJECT', `cache object ${id} is corrupt (its content hashes to ${actual})`, {
    hint: 'delete that object from .mlv/cache and re-add or fetch the data; nothing was written for it',
  });
}

/**
 * Per-file work shared by the main thread and hashing workers: stat, look the content up in the
 * stat cache, and only on a miss read the file (into the thread's reused buffer) to hash it and,
 * when ingesting, store it in the cache in the same pass.
 */
import * as fs from 'node:fs';
import { MlvError, errnoCode } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import { LocalCache, hashFd, openNoFollow } from '../storage/local-cache.js';
import { FastLstat } from './fast-lstat.js';
import { isRacy, statKeyOf } from './racy.js';
import type { StatCacheReader, StatKey } from './stat-cache.js';

export type ProcessMode = 'hash' | 'ingest';

export interface FileResult {
  id: ObjectId;
  size: number;
  exec: boolean;
  /** True when the content was read (a stat-cache miss). */
  hashed: boolean;
  /** Stat key to remember for this id; absent when the file was too recently modified to trust. */
  key?: StatKey;
}

export interface FileFailure {
  error: { code: string; message: string; path: string };
}

export class FileProcessor {
  constructor(
    private readonly mode: ProcessMode,
    private readonly cache: LocalCache,
    private readonly stats: StatCacheReader,
  ) {}

  private readonly fast = new FastLstat();

  /** The result from the stat cache alone, or undefined when the file must be read. */
  known(absPath: string): FileResult | undefined {
    const f = this.fast;
    if (f.lstat(absPath) && f.isFile) {
      const id = this.stats.lookupProbe(f.probe);
      if (id && (this.mode === 'hash' || this.cache.has(id))) return { id, size: f.size, exec: (f.mode & 0o100) !== 0, hashed: false };
      return undefined;
    }
    // Not a regular file, gone, or no fast path: fs.lstatSync gives the real answer or error.
    return this.lookup(this.lstat(absPath));
  }

  process(absPath: string): FileResult {
    const st = this.lstat(absPath);
    return this.lookup(st) ?? this.read(absPath, st);
  }

  private lstat(absPath: string): fs.BigIntStats {
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(absPath, { bigint: true });
    } catch (err) {
      throw fileError(err, absPath);
    }
    if (!st.isFile()) throw unsupported(absPath, st);
    return st;
  }

  private lookup(st: fs.BigIntStats): FileResult | undefined {
    const known = this.stats.lookup(statKeyOf(st));
    if (known && (this.mode === 'hash' || this.cache.has(known))) {
      return { id: known, size: Number(st.size), exec: (Number(st.mode) & 0o100) !== 0, hashed: false };
    }
    return undefined;
  }

  private read(absPath: string, st: fs.BigIntStats): FileResult {
    const exec = (Number(st.mode) & 0o100) !== 0;
    const key = statKeyOf(st);
    let fd: number;
    try {
      fd = openNoFollow(absPath);
    } catch (err) {
      throw fileError(err, absPath);
    }
    try {
      // O_NOFOLLOW and the inode in the key keep a file swapped in after lstat from being
      // remembered under the old file's identity.
      const expected = Number(st.size);
      // "Now" is taken before the read: a file changed within the racy window of the read's start
      // is not remembered, however long the read takes (a large file's).
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const { id, size } = this.mode === 'ingest' ? this.cache.putFd(fd, absPath, undefined, expected) : hashFd(fd, expected);
      const stable = BigInt(size) === key.size && !isRacy(key, nowNs);
      const result: FileResult = { id, size, exec, hashed: true };
      if (stable) result.key = key;
      return result;
    } catch (err) {
      throw fileError(err, absPath);
    } finally {
      fs.closeSync(fd);
    }
  }
}

function unsupported(absPath: string, st: fs.BigIntStats): MlvError {
  const what = st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a folder' : 'a special file';
  return new MlvError('UNSUPPORTED_FILE', `${absPath} is ${what}; mlv tracks regular files and folders only`, {
    hint: 'replace it with a regular file or remove it, then run the command again (see docs/formats.md)',
    details: { path: absPath },
  });
}

function fileError(err: unknown, absPath: string): unknown {
  if (err instanceof MlvError) return err;
  const code = errnoCode(err);
  if (code === 'ELOOP') {
    return new MlvError('UNSUPPORTED_FILE', `${absPath} is a symbolic link; mlv tracks regular files and folders only`, {
      hint: 'replace the link with a copy of the file, or remove it',
    });
  }
  if (code === 'ENOENT') return new MlvError('NOT_FOUND', `${absPath} disappeared while it was being read`, { hint: 'run the command again' });
  return err;
}

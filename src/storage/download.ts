/**
 * Downloading one object into the cache: streamed, re-hashed as it arrives, published only when it
 * matches its id. Large downloads keep their partial file and resume with a range request.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError, errnoCode, wrapFsError } from '../core/errors.js';
import { createHasher, hashBytes } from '../core/hash.js';
import type { ObjectId } from '../core/id.js';
import { openCreating, type LocalCache } from './local-cache.js';
import { PACK_OBJECT_MAX } from './packs.js';
import type { RemoteStore } from './remote-store.js';
import { DEFAULT_RETRY, withRetries } from './retry.js';
import { crashPoint } from '../core/crash-points.js';

/** Downloads at least this large keep their partial file for resuming. */
const RESUME_MIN = 8 * 1024 * 1024;
const MAX_TREE_BYTES = 512 * 1024 * 1024;

/**
 * Streams one object into the cache, hashing as it goes. The partial file of a large object is
 * kept when the transfer breaks off, and the next attempt continues from where it stopped.
 */
export async function downloadObject(cache: LocalCache, remote: RemoteStore, id: ObjectId, expectedSize: number, opts: { resume?: boolean } = {}): Promise<number> {
  // The partial file has a fixed name so a later run finds it: only for commands that hold the
  // repository lock (two lock-free readers would write the same file). Other downloads are written
  // beside their final name, which makes publishing a same-folder rename.
  const resumable = expectedSize >= RESUME_MIN && opts.resume !== false;
  const partial = resumable ? path.join(cache.tmpDir, `partial-${id}`) : cache.tempPathBeside(id);
  if (resumable) {
    try {
      fs.mkdirSync(cache.tmpDir, { recursive: true });
    } catch (err) {
      wrapFsError(err, 'write to the cache');
    }
  }
  let hasher = createHasher();
  let offset = 0;
  if (resumable) offset = rehashPartial(partial, expectedSize, hasher);
  const got = await remote.get(id, offset);
  const { body, totalSize } = got;
  if (got.offset !== offset) {
    // The remote sent the object from its start (it ignores ranges): begin again from byte 0.
    offset = 0;
    hasher = createHasher();
  }
  if (totalSize !== undefined && totalSize !== expectedSize) {
    fs.rmSync(partial, { force: true });
    drain(body);
    throw new MlvError('CORRUPT_OBJECT', `object ${id} on ${remote.label} has ${totalSize} bytes, expected ${expectedSize}`);
  }
  if (!resumable && cache.packing && expectedSize <= PACK_OBJECT_MAX) return downloadIntoPack(cache, remote, id, expectedSize, body, hasher);
  let fd: number;
  try {
    // A resumable partial file is writable while it grows (it is reopened to resume) and made
    // read-only once complete; any other download is created read-only (and its folder on demand).
    fd = resumable ? fs.openSync(partial, offset > 0 ? 'a' : 'w', 0o600) : openCreating(partial, 'write to the cache');
  } catch (err) {
    drain(body);
    return wrapFsError(err, 'write to the cache');
  }
  let written = offset;
  try {
    for await (const chunk of body) {
      hasher.update(chunk);
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
      written += chunk.length;
      if (written > expectedSize) break;
      if (written - offset >= 1 << 20) crashPoint('fetch:partial');
    }
  } catch (err) {
    fs.closeSync(fd);
    if (!resumable) fs.rmSync(partial, { force: true });
    if (errnoCode(err) === 'ENOSPC' || errnoCode(err) === 'EFBIG' || errnoCode(err) === 'EDQUOT') wrapFsError(err, 'write to the cache');
    throw err;
  }
  fs.closeSync(fd);
  if (written < expectedSize) {
    if (!resumable) fs.rmSync(partial, { force: true });
    throw stoppedEarly(id, remote, written, expectedSize);
  }
  const actual = hasher.digest();
  if (written > expectedSize || actual !== id) {
    fs.rmSync(partial, { force: true });
    throw corruptDownload(id, remote, written > expectedSize ? 'longer than expected' : `its content hashes to ${actual}`);
  }
  if (resumable) fs.chmodSync(partial, 0o444);
  cache.publish(partial, id);
  return written - offset;
}

/** A small download while a pack is being written: kept in memory, verified, then added to the pack. */
async function downloadIntoPack(cache: LocalCache, remote: RemoteStore, id: ObjectId, expectedSize: number, body: AsyncIterable<Uint8Array>, hasher: ReturnType<typeof createHasher>): Promise<number> {
  const bytes = Buffer.allocUnsafe(expectedSize);
  let written = 0;
  for await (const chunk of body) {
    if (written + chunk.length > expectedSize) {
      written += chunk.length;
      break;
    }
    hasher.update(chunk);
    bytes.set(chunk, written);
    written += chunk.length;
  }
  if (written < expectedSize) {
    throw stoppedEarly(id, remote, written, expectedSize);
  }
  const actual = written > expectedSize ? undefined : hasher.digest();
  if (actual !== id) {
    throw corruptDownload(id, remote, actual === undefined ? 'longer than expected' : `its content hashes to ${actual}`);
  }
  cache.storeSmall(bytes, id);
  return written;
}

/** Feeds the bytes already downloaded into the hasher; returns how many there are. */
function rehashPartial(partial: string, expectedSize: number, hasher: { update(b: Uint8Array): void }): number {
  let size: number;
  try {
    size = fs.statSync(partial).size;
  } catch {
    return 0;
  }
  if (size === 0 || size >= expectedSize) {
    fs.rmSync(partial, { force: true });
    return 0;
  }
  const fd = fs.openSync(partial, 'r');
  const buf = Buffer.allocUnsafe(Math.min(size, 4 << 20));
  let pos = 0;
  try {
    while (pos < size) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
      if (n === 0) break;
      hasher.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return pos;
}

function drain(body: AsyncIterable<Uint8Array>): void {
  const destroy = (body as { destroy?: () => void }).destroy;
  if (typeof destroy === 'function') destroy.call(body);
}

/** Reads a (small) tree object from the remote into memory and verifies it. */
export async function readRemoteObject(remote: RemoteStore, id: ObjectId, retry = DEFAULT_RETRY): Promise<Buffer | null> {
  // Verified inside the retry loop: a tree damaged in transit is fetched again like any object.
  return withRetries(async () => {
    let stream;
    try {
      stream = await remote.get(id, 0);
    } catch (err) {
      if (err instanceof MlvError && err.code === 'MISSING_OBJECTS') return null;
      throw err;
    }
    if (stream.totalSize !== undefined && stream.totalSize > MAX_TREE_BYTES) throw new MlvError('CORRUPT_OBJECT', `tree ${id} on ${remote.label} is implausibly large`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of stream.body) {
      chunks.push(Buffer.from(c));
      size += c.length;
      if (size > MAX_TREE_BYTES) throw new MlvError('CORRUPT_OBJECT', `tree ${id} on ${remote.label} is implausibly large`);
    }
    const bytes = Buffer.concat(chunks);
    const actual = hashBytes(bytes);
    if (actual !== id) throw new MlvError('CORRUPT_OBJECT', `tree ${id} from ${remote.label} is corrupt (its content hashes to ${actual}); nothing was kept`);
    return bytes;
  }, retry);
}

function stoppedEarly(id: ObjectId, remote: RemoteStore, written: number, expectedSize: number): Error {
  return Object.assign(new Error(`download of ${id} from ${remote.label} stopped after ${written} of ${expectedSize} bytes`), { code: 'ECONNRESET' });
}

function corruptDownload(id: ObjectId, remote: RemoteStore, what: string): MlvError {
  return new MlvError('CORRUPT_OBJECT', `object ${id} from ${remote.label} is corrupt (${what}); nothing was kept`, {
    hint: 'run the command again; if it persists, the copy on the remote is damaged: push it again from a machine that has it',
  });
}

/**
 * Reading whole objects for `mlv gc` and `mlv fsck`: stream-hashing a cache file or a remote
 * object (bounded memory: one 1 MiB buffer per call), and telling tree objects from file contents
 * by their first bytes (`mlv-tree 1\n`). Tree-looking objects up to TREE_BYTES_CAP are also kept
 * in memory so their entries can be parsed.
 */
import * as fs from 'node:fs';
import { createHasher } from '../core/hash.js';
import type { ObjectId } from '../core/id.js';
import { TREE_HEADER } from '../core/tree.js';
import type { LocalCache } from './local-cache.js';
import type { RemoteStore } from './remote-store.js';

export const TREE_MAGIC = Buffer.from(TREE_HEADER + '\n');
/** Larger tree-looking objects are not kept while hashing (a real tree this size has ~80k entries); fsck re-reads them afterwards, one at a time. */
export const TREE_BYTES_CAP = 8 * 1024 * 1024;
const CHUNK = 1 << 20;

export interface HashedObject {
  /** What the bytes hash to. */
  actual: ObjectId;
  size: number;
  /** The first bytes are a tree header. */
  looksLikeTree: boolean;
  /** The whole content, for tree-looking objects up to TREE_BYTES_CAP. */
  bytes?: Buffer;
}

/** Feeds a stream of chunks to the hasher, keeping the bytes of tree-looking objects. */
class Collector {
  private readonly hasher = createHasher();
  private size = 0;
  private head = Buffer.alloc(0);
  private chunks: Buffer[] | undefined = [];

  add(chunk: Uint8Array): void {
    this.hasher.update(chunk);
    this.size += chunk.length;
    if (this.head.length < TREE_MAGIC.length) this.head = Buffer.concat([this.head, Buffer.from(chunk.subarray(0, TREE_MAGIC.length - this.head.length))]);
    if (this.chunks) {
      const looks = this.head.length < TREE_MAGIC.length ? TREE_MAGIC.subarray(0, this.head.length).equals(this.head) : this.head.equals(TREE_MAGIC);
      if (!looks || this.size > TREE_BYTES_CAP) this.chunks = undefined;
      else this.chunks.push(Buffer.from(chunk));
    }
  }

  finish(): HashedObject {
    const looksLikeTree = this.head.equals(TREE_MAGIC);
    const out: HashedObject = { actual: this.hasher.digest(), size: this.size, looksLikeTree };
    if (looksLikeTree && this.chunks) out.bytes = Buffer.concat(this.chunks);
    return out;
  }
}

/** Hashes a cache file from its first byte to its end. I/O errors are thrown as they are. */
export async function hashLocalFile(file: string): Promise<HashedObject> {
  const handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    const c = new Collector();
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      c.add(buf.subarray(0, bytesRead));
    }
    return c.finish();
  } finally {
    await handle.close();
  }
}

/** Hashes an object already in memory (a packed one). */
export function hashObjectBytes(bytes: Uint8Array): HashedObject {
  const c = new Collector();
  c.add(bytes);
  return c.finish();
}

/** Hashes a remote object as it streams in (one attempt; the caller retries). */
export async function hashRemoteObject(remote: RemoteStore, id: ObjectId): Promise<HashedObject> {
  const { body } = await remote.get(id, 0);
  const c = new Collector();
  for await (const chunk of body) c.add(chunk);
  return c.finish();
}

/**
 * Whether a cache file is a tree object (by its first bytes), and if so its bytes (up to the cap).
 * Undefined when the file is gone.
 */
export function peekLocal(file: string, cap = TREE_BYTES_CAP): { tree: boolean; bytes?: Buffer } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const head = Buffer.alloc(TREE_MAGIC.length);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    if (n < head.length || !head.equals(TREE_MAGIC)) return { tree: false };
    const size = fs.fstatSync(fd).size;
    if (size > cap) return { tree: true };
    return { tree: true, bytes: fs.readFileSync(file) };
  } finally {
    fs.closeSync(fd);
  }
}

/** peekLocal for an object of the cache proper, packed or not. */
export function peekCached(cache: LocalCache, id: ObjectId, cap = TREE_BYTES_CAP): { tree: boolean; bytes?: Buffer } | undefined {
  const packed = cache.packedOnly(id);
  if (!packed) return peekLocal(cache.objectPath(id), cap);
  const bytes = cache.readPacked(packed, id);
  if (bytes.length < TREE_MAGIC.length || !bytes.subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC)) return { tree: false };
  return bytes.length > cap ? { tree: true } : { tree: true, bytes };
}

/**
 * Whether a remote object is a tree object, reading only its first bytes unless it is one (then
 * its bytes up to the cap). Undefined when the object is not on the remote.
 */
export async function peekRemote(remote: RemoteStore, id: ObjectId, cap = TREE_BYTES_CAP): Promise<{ tree: boolean; bytes?: Buffer } | undefined> {
  let stream;
  try {
    stream = await remote.get(id, 0);
  } catch (err) {
    if ((err as { code?: string }).code === 'MISSING_OBJECTS') return undefined;
    throw err;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tree: boolean | undefined;
  const body = stream.body as AsyncIterable<Uint8Array> & { destroy?: () => void };
  try {
    for await (const chunk of body) {
      chunks.push(Buffer.from(chunk));
      size += chunk.length;
      if (tree === undefined && size >= TREE_MAGIC.length) {
        tree = Buffer.concat(chunks).subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC);
        if (!tree) break;
      }
      if (size > cap) break;
    }
  } finally {
    if (typeof body.destroy === 'function') body.destroy();
  }
  if (!tree) return { tree: false };
  return size > cap ? { tree: true } : { tree: true, bytes: Buffer.concat(chunks) };
}

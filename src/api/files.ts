/**
 * Reading tracked files from code: any revision, this or another repository, from the cache or
 * streamed from the remote, always verified against the object id.
 */
import * as fs from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { MlvError } from '../core/errors.js';
import { createHasher } from '../core/hash.js';
import type { ObjectId } from '../core/id.js';
import { ObjectAccess } from '../history/objects.js';
import { expandNode, selectPath, type DataNode } from '../history/select.js';
import { normaliseRepoPath, openSource } from '../history/source.js';

export interface ReadOptions {
  /** Path of the tracked file, relative to the repository root. */
  path: string;
  /** A revision (default `HEAD`); `null` reads the working tree's pointer files. */
  rev?: string | null;
  /** Another repository: a local path or an http(s) Git URL (default: the project containing `cwd`). */
  repo?: string;
  /** Where to look for the project (default: `process.cwd()`). */
  cwd?: string;
  /** A remote name from that revision's configuration, instead of its default remote. */
  remote?: string;
}

export interface ListOptions extends Omit<ReadOptions, 'path'> {
  /** A folder, a tracked target or a part of one (default: everything). */
  path?: string;
}

export interface TrackedFile {
  path: string;
  id: string;
  size: number;
  executable: boolean;
}

/** Hashes what passes through; fails the stream at the end if size or content differ from the id. */
class Verifier extends Transform {
  private readonly hasher = createHasher();
  private seen = 0;

  constructor(
    private readonly id: ObjectId,
    private readonly size: number,
    private readonly label: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.size) return done(this.mismatch(`more than ${this.size} bytes`));
    this.hasher.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.seen !== this.size) return done(this.mismatch(`${this.seen} bytes instead of ${this.size}`));
    const actual = this.hasher.digest();
    done(actual === this.id ? null : this.mismatch(`content hashes to ${actual}`));
  }

  private mismatch(what: string): MlvError {
    return new MlvError('CORRUPT_OBJECT', `${this.label} (object ${this.id}) is corrupt: ${what}`, { hint: 'run mlv fsck (and mlv fsck --remote); nothing corrupt was written to the cache' });
  }
}

async function openNode(opts: ReadOptions | ListOptions, path: string) {
  const source = await openSource({ cwd: opts.cwd ?? process.cwd(), rev: opts.rev === undefined ? 'HEAD' : opts.rev, ...(opts.repo !== undefined ? { repo: opts.repo } : {}) });
  const access = new ObjectAccess(source, opts.remote !== undefined ? { remote: opts.remote } : {});
  const close = () => {
    access.close();
    source.dispose();
  };
  try {
    const selection = await selectPath(access, source.tracked, normaliseRepoPath(path));
    return { access, selection, close };
  } catch (err) {
    close();
    throw err;
  }
}

/**
 * A stream of a tracked file's bytes. The stream fails (an MlvError CORRUPT_OBJECT) before it
 * ends if the bytes do not match the id, so data is trustworthy once 'end' has been emitted.
 */
export async function openFile(opts: ReadOptions): Promise<Readable> {
  const { access, selection, close } = await openNode(opts, opts.path);
  try {
    const node = selection.nodes[0]!;
    if (selection.plainFolder || node.kind !== 'file') throw new MlvError('USAGE', `${selection.rel} is a folder; open the files inside it (listFiles gives them)`);
    const cache = access.cacheWith(node.id);
    let body: Readable;
    let label = `${node.path} in the cache`;
    if (cache) {
      const packed = cache.packedOnly(node.id);
      body = packed ? Readable.from([cache.readPacked(packed, node.id)]) : fs.createReadStream(cache.objectPath(node.id), { highWaterMark: 1 << 20 });
    } else {
      const remote = await access.remoteBody(node.id, node.path);
      body = Readable.from(remote.body);
      label = `${node.path} from ${remote.label}`;
    }
    const verified = new Verifier(node.id, node.size, label);
    body.on('error', (err: Error) => verified.destroy(err));
    verified.on('close', close);
    return body.pipe(verified);
  } catch (err) {
    close();
    throw err;
  }
}

/** A tracked file's bytes, verified. */
export async function readFile(opts: ReadOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await openFile(opts)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every tracked file at or below a path, with its id, size and executable bit. */
export async function listFiles(opts: ListOptions = {}): Promise<TrackedFile[]> {
  const { access, selection, close } = await openNode(opts, opts.path ?? '');
  try {
    const files: DataNode[] = [];
    for (const node of selection.nodes) for (const n of await expandNode(access, node)) if (n.kind === 'file') files.push(n);
    return files.map((f) => ({ path: f.path, id: f.id, size: f.size, executable: f.exec }));
  } finally {
    close();
  }
}

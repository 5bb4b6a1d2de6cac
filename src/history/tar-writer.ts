/**
 * A deterministic tar stream (tar-stream: ustar, pax headers for long names): the caller adds
 * entries in order; headers carry fixed owners and the given time, so equal inputs give equal bytes.
 */
import * as fs from 'node:fs';
import tar from 'tar-stream';
import { MlvError } from '../core/errors.js';
import { createHasher, hashBytes } from '../core/hash.js';
import type { ObjectId } from '../core/id.js';
import { readUpTo } from '../storage/fd-io.js';
import { ioBuffer } from '../storage/local-cache.js';

/** Where the archive goes: a file descriptor wrapper, or a Node Writable such as stdout. */
export interface ArchiveSink {
  write(chunk: Buffer): boolean | void;
  once?(event: 'drain', listener: () => void): unknown;
}

/** Files up to this size are read in one call and queued whole. */
const SMALL_FILE = 4 << 20;

function check(name: string, id: ObjectId, size: number, total: number, actual: ObjectId): void {
  if (total === size && actual === id) return;
  throw new MlvError('CORRUPT_OBJECT', `cache object ${id} (for ${name}) is corrupt: ${total !== size ? `${total} bytes instead of ${size}` : `its content hashes to ${actual}`}`, {
    hint: 'run mlv fsck, then fetch or re-add the data; the archive was not completed',
  });
}

export class TarWriter {
  private readonly pack = tar.pack();
  private readonly done: Promise<void>;
  private queued = 0;
  private blocked: Promise<void> | undefined;
  bytes = 0;

  /**
   * `out.write` returns false when the consumer wants a pause (a Node Writable); the writer then
   * waits for its 'drain' before queueing more.
   */
  constructor(
    private readonly out: ArchiveSink,
    private readonly mtime: Date,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      // tar-stream emits headers, contents and padding as separate small chunks: batch them into
      // writes of about 1 MiB (a few syscalls per thousand small files instead of three per file).
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = () => {
        if (pendingBytes === 0) return;
        const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        if (this.out.write(chunk) === false && !this.blocked && this.out.once) {
          this.blocked = new Promise<void>((r) => this.out.once!('drain', () => ((this.blocked = undefined), r())));
        }
      };
      this.pack.on('data', (chunk: Buffer) => {
        this.bytes += chunk.length;
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes < 1 << 20) return;
        try {
          flush();
        } catch (err) {
          this.pack.destroy(err as Error);
        }
      });
      this.pack.on('end', () => {
        try {
          flush();
          resolve();
        } catch (err) {
          reject(err);
        }
      });
      this.pack.on('error', reject);
    });
  }

  /** Lets the packed bytes flow out once enough are queued, so memory stays bounded. */
  private async flow(added: number): Promise<void> {
    this.queued += added;
    if (this.queued < 8 << 20) return;
    this.queued = 0;
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.blocked) await this.blocked;
  }

  private header(name: string, mode: number, extra: Partial<tar.Headers>): tar.Headers {
    return { name, mode, mtime: this.mtime, uid: 0, gid: 0, uname: '', gname: '', ...extra };
  }

  directory(name: string): void {
    this.pack.entry(this.header(name + '/', 0o755, { type: 'directory' }));
  }

  bytesEntry(name: string, content: Buffer): void {
    this.pack.entry(this.header(name, 0o644, { type: 'file', size: content.length }), content);
  }

  /** A file from a cache object, re-hashed as it is read; a mismatch fails the whole archive. */
  /** `content`, when given, is the object's bytes already read (a packed object); `file` is then unused. */
  async objectEntry(name: string, file: string, id: ObjectId, size: number, exec: boolean, content?: Buffer): Promise<void> {
    const header = this.header(name, exec ? 0o755 : 0o644, { type: 'file', size });
    if (content || size <= SMALL_FILE) {
      content ??= fs.readFileSync(file);
      check(name, id, size, content.length, hashBytes(content));
      this.pack.entry(header, content);
      return this.flow(size + 512);
    }
    let finished!: Promise<void>;
    const entry = (() => {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      finished = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      finished.catch(() => {}); // when the archive is aborted mid-entry nobody awaits it
      return this.pack.entry(header, (err) => (err ? reject(err) : resolve()));
    })();
    entry.on('error', () => {}); // reported through the callback above (or by the caller's abort)
    const fd = fs.openSync(file, 'r');
    try {
      const hasher = createHasher();
      const buf = ioBuffer();
      let total = 0;
      for (;;) {
        const n = readUpTo(fd, buf, 0, buf.length);
        if (n === 0) break;
        total += n;
        const chunk = Buffer.from(buf.subarray(0, n)); // the entry keeps the chunk until it is packed
        hasher.update(chunk);
        if (total > size) break;
        if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()));
        while (this.blocked) await this.blocked;
      }
      // On a mismatch the entry is left unfinished: the caller aborts the whole archive.
      check(name, id, size, total, hasher.digest());
      entry.end();
    } finally {
      fs.closeSync(fd);
    }
    await finished;
  }

  async finish(): Promise<void> {
    this.pack.finalize();
    await this.done;
  }

  /** Stops the archive after a failure; nothing more is written and no error is left unhandled. */
  abort(err: Error): void {
    this.done.catch(() => {});
    this.pack.destroy(err);
  }
}

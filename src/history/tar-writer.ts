/**
 * A deterministic tar stream (tar-stream: ustar, pax headers for long names): the caller adds
 * entries in order; headers carry fixed owners and the given time, so equal inputs give equal bytes.
 */
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import tar from 'tar-stream';
import { MlvError } from '../core/errors.js';
import { createHasher } from '../core/hash.js';
import type { ObjectId } from '../core/id.js';
import { ioBuffer, readUpTo } from '../storage/local-cache.js';

export class TarWriter {
  private readonly pack = tar.pack();
  private readonly done: Promise<void>;
  bytes = 0;

  constructor(
    out: Writable,
    private readonly mtime: Date,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.pack.on('data', (chunk: Buffer) => {
        this.bytes += chunk.length;
        if (!out.write(chunk)) {
          this.pack.pause();
          out.once('drain', () => this.pack.resume());
        }
      });
      this.pack.on('end', resolve);
      this.pack.on('error', reject);
      out.on('error', reject);
    });
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
  async objectEntry(name: string, file: string, id: ObjectId, size: number, exec: boolean): Promise<void> {
    let finished!: Promise<void>;
    const entry = (() => {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      finished = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      return this.pack.entry(this.header(name, exec ? 0o755 : 0o644, { type: 'file', size }), (err) => (err ? reject(err) : resolve()));
    })();
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
      }
      const actual = hasher.digest();
      if (total !== size || actual !== id) {
        const err = new MlvError('CORRUPT_OBJECT', `cache object ${id} (for ${name}) is corrupt: ${total !== size ? `${total} bytes instead of ${size}` : `its content hashes to ${actual}`}`, {
          hint: 'run mlv fsck, then fetch or re-add the data; the archive was not completed',
        });
        entry.destroy(err);
        throw err;
      }
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

  abort(err: Error): void {
    this.pack.destroy(err);
  }
}

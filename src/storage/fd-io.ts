/** Whole reads and writes on open files, shared by the cache and the packs. */
import * as fs from 'node:fs';

/**
 * Reads until `length` bytes or end of file. With `expected` (the size fstat/lstat reported), stops
 * once that many bytes are in, saving the extra read() that would only confirm end of file.
 */
export function readUpTo(fd: number, buf: Buffer, offset: number, length: number, expected?: number): number {
  let total = 0;
  while (total < length) {
    const n = fs.readSync(fd, buf, offset + total, length - total, null);
    if (n === 0) break;
    total += n;
    if (expected !== undefined && total === expected) break;
  }
  return total;
}

export function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
}

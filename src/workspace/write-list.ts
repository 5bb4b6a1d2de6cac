/**
 * The files checkout will write, as flat arrays: paths, ids as 32 bytes each (not 64-character
 * strings) and executable bits. At 200,000 files this halves what the write phase holds.
 */
import type { ObjectId } from '../core/id.js';

const ID_BYTES = 32;

export class WriteList {
  readonly rels: string[] = [];
  private ids = Buffer.alloc(64 * ID_BYTES);
  private readonly execs: boolean[] = [];

  get length(): number {
    return this.rels.length;
  }

  push(rel: string, id: ObjectId, exec: boolean): void {
    const n = this.rels.length;
    if ((n + 1) * ID_BYTES > this.ids.length) {
      const bigger = Buffer.alloc(this.ids.length * 2);
      this.ids.copy(bigger);
      this.ids = bigger;
    }
    this.ids.write(id, n * ID_BYTES, 'hex');
    this.rels.push(rel);
    this.execs.push(exec);
  }

  id(i: number): ObjectId {
    return this.ids.toString('hex', i * ID_BYTES, (i + 1) * ID_BYTES) as ObjectId;
  }

  exec(i: number): boolean {
    return this.execs[i]!;
  }
}

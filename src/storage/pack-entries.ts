/**
 * The entries of a pack being written, kept as index records (id, offset, size: 44 bytes each)
 * in one growing buffer with an open-addressing table over the ids, instead of an object and a
 * 64-character string per object: a worker thread adding 100,000 small files holds 5 MB here,
 * where a Set and an array of objects held tens of MB of old-generation heap.
 */
export const ENTRY_BYTES = 44;

export class PackEntries {
  private records = Buffer.allocUnsafe(ENTRY_BYTES * 1024);
  /** Entry number + 1 per slot, 0 when empty; ids are BLAKE3 digests, so their first bytes spread evenly. */
  private slots = new Uint32Array(2048);
  count = 0;

  has(id: Buffer): boolean {
    const mask = this.slots.length - 1;
    for (let h = id.readUInt32LE(0) & mask; ; h = (h + 1) & mask) {
      const s = this.slots[h]!;
      if (s === 0) return false;
      const at = (s - 1) * ENTRY_BYTES;
      if (this.records.compare(id, 0, 32, at, at + 32) === 0) return true;
    }
  }

  push(id: Buffer, offset: number, size: number): void {
    if ((this.count + 1) * ENTRY_BYTES > this.records.length) {
      const bigger = Buffer.allocUnsafe(this.records.length * 2);
      this.records.copy(bigger, 0, 0, this.count * ENTRY_BYTES);
      this.records = bigger;
    }
    const at = this.count * ENTRY_BYTES;
    id.copy(this.records, at, 0, 32);
    this.records.writeUInt32LE(offset % 2 ** 32, at + 32);
    this.records.writeUInt32LE(Math.floor(offset / 2 ** 32), at + 36);
    this.records.writeUInt32LE(size, at + 40);
    this.count++;
    if (this.count * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(this.count - 1);
  }

  /** Writes the records into `out` from `start`, sorted by id. */
  writeSorted(out: Buffer, start: number): void {
    const order = new Uint32Array(this.count);
    const keys = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) {
      order[i] = i;
      keys[i] = this.records.readUIntBE(i * ENTRY_BYTES, 6);
    }
    const r = this.records;
    order.sort((a, b) => keys[a]! - keys[b]! || r.compare(r, b * ENTRY_BYTES, b * ENTRY_BYTES + 32, a * ENTRY_BYTES, a * ENTRY_BYTES + 32));
    for (let k = 0; k < this.count; k++) r.copy(out, start + k * ENTRY_BYTES, order[k]! * ENTRY_BYTES, (order[k]! + 1) * ENTRY_BYTES);
  }

  clear(): void {
    this.count = 0;
    this.slots.fill(0);
  }

  private rehash(size: number): void {
    this.slots = new Uint32Array(size);
    for (let i = 0; i < this.count; i++) this.place(i);
  }

  private place(i: number): void {
    const mask = this.slots.length - 1;
    let h = this.records.readUInt32LE(i * ENTRY_BYTES) & mask;
    while (this.slots[h] !== 0) h = (h + 1) & mask;
    this.slots[h] = i + 1;
  }
}

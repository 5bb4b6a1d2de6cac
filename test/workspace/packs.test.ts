/**
 * Packs of small objects (src/storage/packs.ts): what a bulk ingest collects is invisible until
 * published, then readable, verified and listed once; few objects stay plain files; a damaged
 * index or pack byte is caught; removing packed objects keeps the rest of their packs readable.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalCache } from '../../dist/storage/local-cache.js';
import { PackEntries } from '../../dist/storage/pack-entries.js';
import { PACK_MIN_OBJECTS, PACK_OBJECT_MAX, PackSet, PackWriter } from '../../dist/storage/packs.js';
import { blake3Hex, pseudoRandomBytes } from '../helpers/assert.js';

let dir: string;
let src: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-packs-'));
  src = path.join(dir, 'src');
  fs.mkdirSync(src);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes `count` distinct files (plus `extra` given ones) and ingests them with packing on. */
function ingest(cache: LocalCache, count: number, extra: Buffer[] = []): Map<string, Buffer> {
  const objects = new Map<string, Buffer>();
  const all = [...Array.from({ length: count }, (_, i) => pseudoRandomBytes(1 + ((i * 37) % 5000), i + 7)), ...extra];
  cache.startPacking();
  all.forEach((bytes, i) => {
    const file = path.join(src, `f${i}`);
    fs.writeFileSync(file, bytes);
    const { id, size } = cache.putFile(file);
    expect(id).toBe(blake3Hex(bytes));
    expect(size).toBe(bytes.length);
    objects.set(id, bytes);
  });
  return objects;
}

const cacheDir = () => path.join(dir, 'cache');
const looseFiles = () => fs.readdirSync(cacheDir()).filter((n) => /^[0-9a-f]{2}$/.test(n)).flatMap((s) => fs.readdirSync(path.join(cacheDir(), s)));
const packFiles = () => (fs.existsSync(path.join(cacheDir(), 'packs')) ? fs.readdirSync(path.join(cacheDir(), 'packs')).sort() : []);

describe('packs', () => {
  it('small objects are invisible until published, then read back verified, sized and listed once; a large one stays a file', () => {
    const cache = new LocalCache(cacheDir());
    const big = pseudoRandomBytes(PACK_OBJECT_MAX + 1, 99);
    const objects = ingest(cache, 300, [big]);
    const bigId = blake3Hex(big);
    const other = new LocalCache(cacheDir());
    const smallIds = [...objects.keys()].filter((id) => id !== bigId);
    expect(smallIds.some((id) => other.has(id))).toBe(false);
    expect(other.has(bigId)).toBe(true);

    cache.finishPacking();
    expect(packFiles()).toEqual([expect.stringMatching(/^pack-[0-9a-f]{32}\.idx$/), expect.stringMatching(/^pack-[0-9a-f]{32}\.pack$/)]);
    expect(looseFiles()).toEqual([bigId.slice(2)]);
    const reader = new LocalCache(cacheDir());
    for (const [id, bytes] of objects) {
      expect(reader.has(id)).toBe(true);
      expect(reader.sizeOf(id)).toBe(bytes.length);
      expect(reader.readVerified(id).equals(bytes)).toBe(true);
      reader.verifyObject(id);
    }
    const listed = reader.listObjects();
    expect(listed.map((o) => o.id).sort()).toEqual([...objects.keys()].sort());
    expect(listed.filter((o) => o.packed).length).toBe(300);
    // A link needs a file of its own: the packed object comes out as a verified plain object.
    const one = smallIds[0]!;
    expect(fs.readFileSync(reader.loosePath(one)).equals(objects.get(one)!)).toBe(true);
    expect(new LocalCache(cacheDir()).listObjects().length).toBe(objects.size);
  });

  it(`fewer than ${PACK_MIN_OBJECTS} objects are stored as plain files, and an aborted pack leaves nothing`, () => {
    const cache = new LocalCache(cacheDir());
    const few = ingest(cache, PACK_MIN_OBJECTS - 1);
    cache.finishPacking();
    expect(packFiles()).toEqual([]);
    expect(looseFiles().length).toBe(few.size);

    const aborted = ingest(cache, 200);
    cache.abortPacking();
    const reader = new LocalCache(cacheDir());
    expect([...aborted.keys()].some((id) => !few.has(id) && reader.has(id))).toBe(false);
    expect(packFiles()).toEqual([]);
  });

  it('a damaged index hides its objects and is reported; a damaged byte in a pack fails verification', () => {
    const cache = new LocalCache(cacheDir());
    const objects = ingest(cache, 100);
    cache.finishPacking();
    const [idx, pack] = packFiles();
    const packPath = path.join(cacheDir(), 'packs', pack!);
    const ids = [...objects.keys()];
    const victim = new LocalCache(cacheDir()).packed(ids[10]!)!;
    fs.chmodSync(packPath, 0o644);
    const fd = fs.openSync(packPath, 'r+');
    fs.writeSync(fd, Buffer.from([objects.get(ids[10]!)![0]! ^ 0xff]), 0, 1, victim.offset);
    fs.closeSync(fd);
    const reader = new LocalCache(cacheDir());
    expect(() => reader.verifyObject(ids[10]!)).toThrow(/corrupt/);
    expect(() => reader.readVerified(ids[10]!)).toThrow(/corrupt/);
    reader.verifyObject(ids[11]!);

    const idxPath = path.join(cacheDir(), 'packs', idx!);
    fs.chmodSync(idxPath, 0o644);
    const b = fs.readFileSync(idxPath);
    b[40] = b[40]! ^ 1;
    fs.writeFileSync(idxPath, b);
    const after = new LocalCache(cacheDir());
    expect(after.has(ids[11]!)).toBe(false);
    expect(after.packs.damaged).toEqual([{ name: idx!.slice(0, -4), reason: 'checksum mismatch' }]);
  });

  it('removing packed objects rewrites what their pack keeps into a new pack; a damaged one goes to corrupt/', () => {
    const cache = new LocalCache(cacheDir());
    const objects = ingest(cache, 400);
    cache.finishPacking();
    const before = packFiles();
    const ids = [...objects.keys()];
    const damaged = ids[3]!;
    const e = new LocalCache(cacheDir()).packed(damaged)!;
    const packPath = e.pack.packPath;
    fs.chmodSync(packPath, 0o644);
    const fd = fs.openSync(packPath, 'r+');
    fs.writeSync(fd, Buffer.from([objects.get(damaged)![0]! ^ 0xff]), 0, 1, e.offset);
    fs.closeSync(fd);

    const gone = new Set(ids.filter((_, i) => i % 2 === 0));
    const remover = new LocalCache(cacheDir());
    const removed = remover.removePacked(gone);
    expect([...removed].sort()).toEqual([...gone].sort());
    const after = packFiles();
    expect(after.length).toBe(2);
    expect(after.some((n) => before.includes(n))).toBe(false);
    const reader = new LocalCache(cacheDir());
    for (const [id, bytes] of objects) {
      if (gone.has(id) || id === damaged) {
        expect(reader.has(id)).toBe(false);
      } else {
        expect(reader.readVerified(id).equals(bytes)).toBe(true);
      }
    }
    const aside = fs.readFileSync(path.join(cacheDir(), 'corrupt', damaged));
    expect(aside.length).toBe(objects.get(damaged)!.length);
    expect(aside.equals(objects.get(damaged)!)).toBe(false);
    expect(looseFiles()).toEqual([]);
  });

  it('more packs than allowed are merged into one, every object still readable', () => {
    const cache = new LocalCache(cacheDir());
    const all = new Map<string, Buffer>();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(src, `r${round}-${i}`), pseudoRandomBytes(50 + i, round * 1000 + i));
      cache.startPacking();
      for (let i = 0; i < 100; i++) {
        const { id } = cache.putFile(path.join(src, `r${round}-${i}`));
        all.set(id, fs.readFileSync(path.join(src, `r${round}-${i}`)));
      }
      cache.finishPacking();
    }
    expect(packFiles().length).toBe(10);
    expect(new LocalCache(cacheDir()).consolidatePacks(5)).toBe(0);
    expect(new LocalCache(cacheDir()).consolidatePacks(3)).toBe(5);
    expect(packFiles().length).toBe(2);
    const reader = new LocalCache(cacheDir());
    for (const [id, bytes] of all) expect(reader.readVerified(id).equals(bytes)).toBe(true);
    expect(reader.listObjects().length).toBe(all.size);
  });

  it('a merge that comes out identical to a pack it read keeps that pack', () => {
    const cache = new LocalCache(cacheDir());
    const objects = ingest(cache, 100);
    cache.finishPacking();
    // Rewritten once (one object removed), the pack holds its objects in id order, as any merge writes them.
    const first = [...objects.keys()][0]!;
    expect(new LocalCache(cacheDir()).removePacked(new Set([first]))).toEqual(new Set([first]));
    objects.delete(first);
    const [idx, pack] = packFiles();
    const packs = path.join(cacheDir(), 'packs');
    // The same pack under a name that sorts first: merged, its entries and offsets come out as the original's.
    const copy = 'pack-00000000000000000000000000000000';
    fs.copyFileSync(path.join(packs, idx!), path.join(packs, `${copy}.idx`));
    fs.copyFileSync(path.join(packs, pack!), path.join(packs, `${copy}.pack`));
    expect(new LocalCache(cacheDir()).consolidatePacks(1)).toBe(2);
    expect(packFiles()).toEqual([idx, pack]);
    const reader = new LocalCache(cacheDir());
    for (const [id, bytes] of objects) expect(reader.readVerified(id).equals(bytes)).toBe(true);
  });

  it('a writer past its size limit publishes the pack and goes on in a new one, never an empty one', () => {
    const packs = path.join(cacheDir(), 'packs');
    const loose: string[] = [];
    const writer = new PackWriter(packs, (_bytes: Buffer, id: string) => loose.push(id), () => {}, 64 * 1024);
    const objects = new Map<string, Buffer>();
    for (let i = 0; i < 300; i++) {
      const bytes = pseudoRandomBytes(1000, i + 1);
      objects.set(blake3Hex(bytes), bytes);
      writer.add(bytes, blake3Hex(bytes));
    }
    writer.finish();
    expect(loose).toEqual([]);
    const set = new PackSet(packs);
    const counts = set.list().map((p) => p.count);
    // 64 KiB per pack: 65 objects of 1,000 bytes cross it (the 8-byte magic included).
    expect(counts.reduce((a, b) => a + b, 0)).toBe(300);
    expect(counts.length).toBe(Math.ceil(300 / 65));
    expect(Math.min(...counts)).toBeGreaterThan(0);
    for (const [id, bytes] of objects) expect(set.read(set.find(id as never)!).equals(bytes)).toBe(true);
  });

  it('pack entries: membership through table growth, records sorted by id with their offsets and sizes', () => {
    const entries = new PackEntries();
    const ids = Array.from({ length: 5000 }, (_, i) => blake3Hex(Buffer.from(`entry ${i}`)));
    ids.forEach((id, i) => {
      expect(entries.has(Buffer.from(id, 'hex'))).toBe(false);
      entries.push(Buffer.from(id, 'hex'), i * 2 ** 33 + 7, i);
    });
    for (const id of ids) expect(entries.has(Buffer.from(id, 'hex'))).toBe(true);
    expect(entries.has(Buffer.from(blake3Hex(Buffer.from('absent')), 'hex'))).toBe(false);
    const out = Buffer.alloc(10 + ids.length * 44);
    entries.writeSorted(out, 10);
    const byId = [...ids.keys()].sort((a, b) => (ids[a]! < ids[b]! ? -1 : 1));
    byId.forEach((i, k) => {
      const at = 10 + k * 44;
      expect(out.toString('hex', at, at + 32)).toBe(ids[i]);
      expect(out.readUInt32LE(at + 32) + out.readUInt32LE(at + 36) * 2 ** 32).toBe(i * 2 ** 33 + 7);
      expect(out.readUInt32LE(at + 40)).toBe(i);
    });
    entries.clear();
    expect(entries.has(Buffer.from(ids[0]!, 'hex'))).toBe(false);
  });

  it('an object both packed and a file of its own is read from the file, which is what gets verified', () => {
    const cache = new LocalCache(cacheDir());
    const objects = ingest(cache, 100);
    cache.finishPacking();
    const id = [...objects.keys()][5]!;
    const file = new LocalCache(cacheDir()).loosePath(id);
    fs.chmodSync(file, 0o644);
    fs.writeFileSync(file, Buffer.concat([objects.get(id)!, Buffer.from('x')]));
    const reader = new LocalCache(cacheDir());
    expect(reader.packedOnly(id)).toBeUndefined();
    expect(() => reader.verifyObject(id)).toThrow(/corrupt/);
    expect(() => reader.readVerified(id)).toThrow(/corrupt/);
  });

  it('a reader whose pack was replaced by gc meanwhile finds the object in the new pack', () => {
    const cache = new LocalCache(cacheDir());
    const objects = ingest(cache, 100);
    cache.finishPacking();
    const ids = [...objects.keys()];
    const reader = new LocalCache(cacheDir());
    // Indexes read, pack not opened yet (an open pack would keep being readable after its deletion).
    expect(reader.has(ids[0]!)).toBe(true);
    new LocalCache(cacheDir()).removePacked(new Set([ids[1]!]));
    for (const id of ids.slice(2)) expect(reader.readVerified(id).equals(objects.get(id)!)).toBe(true);
    expect(() => reader.readVerified(ids[1]!)).toThrow(/not in the cache/);
  });

  it('fsck-style removal of a damaged copy keeps an intact copy of the same object in another pack', () => {
    const cache = new LocalCache(cacheDir());
    const objects = ingest(cache, 100);
    cache.finishPacking();
    const [idx, pack] = packFiles();
    const packs = path.join(cacheDir(), 'packs');
    const copy = 'pack-00000000000000000000000000000000';
    fs.copyFileSync(path.join(packs, idx!), path.join(packs, `${copy}.idx`));
    fs.copyFileSync(path.join(packs, pack!), path.join(packs, `${copy}.pack`));
    const id = [...objects.keys()][7]!;
    const e = new LocalCache(cacheDir()).packed(id)!;
    expect(e.pack.name).toBe(copy);
    fs.chmodSync(e.pack.packPath, 0o644);
    const fd = fs.openSync(e.pack.packPath, 'r+');
    fs.writeSync(fd, Buffer.from([objects.get(id)![0]! ^ 0xff]), 0, 1, e.offset);
    fs.closeSync(fd);
    expect(new LocalCache(cacheDir()).removePacked(new Set([id]), { onlyDamaged: true })).toEqual(new Set([id]));
    const reader = new LocalCache(cacheDir());
    for (const [other, bytes] of objects) expect(reader.readVerified(other).equals(bytes)).toBe(true);
  });
});

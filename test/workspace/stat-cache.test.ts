import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashBytes } from '../../dist/core/hash.js';
import type { ObjectId } from '../../dist/core/id.js';
import { isRacy, statKeyOf } from '../../dist/workspace/racy.js';
import { StatCache, StatCacheReader, type StatKey } from '../../dist/workspace/stat-cache.js';

const HEADER = 48;
const RECORD = 72;
const SEC = 1_000_000_000n;
const MS = 1_000_000n;

const idOf = (n: number) => n.toString(16).padStart(64, '0') as ObjectId;
/** Fine-grained timestamps well in the past (2023), never racy. */
const OLD = 1_700_000_000n * SEC + 123_456_789n;
const key = (ino: number, over: Partial<StatKey> = {}): StatKey => ({
  dev: 42n,
  ino: BigInt(ino),
  size: 100n + BigInt(ino),
  mtimeNs: OLD + BigInt(ino),
  ctimeNs: OLD + BigInt(ino) + 7n,
  ...over,
});
const nowNs = () => BigInt(Date.now()) * MS;

let dir: string;
let file: string;
let tmp: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-stat-'));
  file = path.join(dir, 'stat-cache');
  tmp = path.join(dir, 'tmp');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('StatCache save / load', () => {
  it('round-trips recorded entries through the file', () => {
    const c = StatCache.load(file);
    expect(c.size).toBe(0);
    expect(c.dirty).toBe(false);
    for (let i = 0; i < 50; i++) c.record(key(i * 3 + 1), idOf(i));
    expect(c.dirty).toBe(true);
    c.save(tmp);
    expect(fs.statSync(file).size).toBe(HEADER + 50 * RECORD);
    expect(fs.readdirSync(tmp)).toEqual([]);

    const d = StatCache.load(file);
    expect(d.size).toBe(50);
    expect(d.dirty).toBe(false);
    for (let i = 0; i < 50; i++) expect(d.lookup(key(i * 3 + 1))).toBe(idOf(i));
    expect(d.lookup(key(2))).toBeUndefined();
    expect(d.lookup(key(0))).toBeUndefined();
    expect(d.lookup(key(1000))).toBeUndefined();
  });

  it('writes the documented format: magic, count, record size, BLAKE3 of the records, sorted records', () => {
    const c = StatCache.load(file);
    c.record(key(9, { dev: 2n }), idOf(1));
    c.record(key(5, { dev: 2n }), idOf(2));
    c.record(key(7, { dev: 1n }), idOf(3));
    c.save(tmp);
    const data = fs.readFileSync(file);
    expect(data.subarray(0, 8).toString('latin1')).toBe('MLVSTAT1');
    expect(data.readUInt32LE(8)).toBe(3);
    expect(data.readUInt32LE(12)).toBe(RECORD);
    const body = data.subarray(HEADER);
    expect(data.toString('hex', 16, 48)).toBe(hashBytes(body));
    const order = [0, 1, 2].map((i) => [body.readBigUInt64LE(i * RECORD), body.readBigUInt64LE(i * RECORD + 8)]);
    expect(order).toEqual([
      [1n, 7n],
      [2n, 5n],
      [2n, 9n],
    ]);
    const k = key(7, { dev: 1n });
    expect(body.readBigUInt64LE(16)).toBe(k.size);
    expect(body.readBigInt64LE(24)).toBe(k.mtimeNs);
    expect(body.readBigInt64LE(32)).toBe(k.ctimeNs);
    expect(body.toString('hex', 40, 72)).toBe(idOf(3));
  });

  it('keys on real file stats', () => {
    const f = path.join(dir, 'data.bin');
    fs.writeFileSync(f, 'hello');
    const k = statKeyOf(fs.statSync(f, { bigint: true }));
    const c = StatCache.load(file);
    c.record(k, idOf(77));
    c.save(tmp);
    expect(StatCache.load(file).lookup(statKeyOf(fs.statSync(f, { bigint: true })))).toBe(idOf(77));
    // Rewriting the file changes ctime (and mtime), so the entry no longer applies.
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(f, later, later);
    expect(StatCache.load(file).lookup(statKeyOf(fs.statSync(f, { bigint: true })))).toBeUndefined();
  });

  it.each([
    ['size', { size: 101n + 5n }],
    ['mtimeNs', { mtimeNs: OLD + 5n + 1n }],
    ['ctimeNs', { ctimeNs: OLD + 5n + 7n - 1n }],
    ['dev', { dev: 43n }],
    ['ino', { ino: 6n }],
  ])('misses when %s differs', (_field, change) => {
    const c = StatCache.load(file);
    c.record(key(5), idOf(5));
    expect(c.lookup(key(5))).toBe(idOf(5));
    expect(c.lookup({ ...key(5), ...change })).toBeUndefined();
    c.save(tmp);
    const d = StatCache.load(file);
    expect(d.lookup(key(5))).toBe(idOf(5));
    expect(d.lookup({ ...key(5), ...change })).toBeUndefined();
  });

  it('handles 64-bit device and inode numbers and negative timestamps', () => {
    const big = { dev: 2n ** 64n - 1n, ino: 2n ** 63n + 5n, size: 2n ** 53n, mtimeNs: -5n * SEC, ctimeNs: 2n ** 62n };
    const c = StatCache.load(file);
    c.record(big, idOf(1));
    c.record(key(1), idOf(2));
    c.save(tmp);
    const d = StatCache.load(file);
    expect(d.lookup(big)).toBe(idOf(1));
    expect(d.lookup(key(1))).toBe(idOf(2));
  });

  it('re-creates a missing state folder when it saves (the cache would otherwise never be kept)', () => {
    const nested = path.join(dir, 'state-gone', 'stat-cache');
    const c = StatCache.load(nested);
    c.record(key(1), idOf(1));
    c.save(tmp);
    expect(StatCache.load(nested).lookup(key(1))).toBe(idOf(1));
  });

  it('merges 20,000 pending records (recorded in random order, some twice) into sorted, de-duplicated records', () => {
    const c = StatCache.load(file);
    const order = Array.from({ length: 20000 }, (_, i) => i).sort(() => Math.random() - 0.5);
    for (const i of order) c.record(key(i), idOf(i));
    for (let i = 0; i < 20000; i += 7) c.record(key(i), idOf(i + 1_000_000));
    expect(c.lookup(key(7))).toBe(idOf(1_000_007));
    c.save(tmp);
    const raw = fs.readFileSync(file);
    expect(raw.readUInt32LE(8)).toBe(20000);
    for (let r = 1; r < 20000; r++) expect(raw.readBigUInt64LE(HEADER + r * RECORD + 8) > raw.readBigUInt64LE(HEADER + (r - 1) * RECORD + 8)).toBe(true);
    const d = StatCache.load(file);
    for (let i = 0; i < 20000; i += 97) expect(d.lookup(key(i))).toBe(idOf(i % 7 === 0 ? i + 1_000_000 : i));
  });

  it('does not write a file when nothing was recorded', () => {
    StatCache.load(file).save(tmp);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('answers pending records before they are saved, the latest record winning', () => {
    const c = StatCache.load(file);
    c.record(key(1), idOf(1));
    c.record(key(1, { size: 5n }), idOf(2));
    expect(c.lookup(key(1, { size: 5n }))).toBe(idOf(2));
    expect(c.lookup(key(1))).toBeUndefined();
  });

  it('exposes its records to a StatCacheReader (as hashing workers use it)', () => {
    const c = StatCache.load(file);
    for (let i = 0; i < 10; i++) c.record(key(i), idOf(i));
    c.save(tmp);
    const d = StatCache.load(file);
    expect(d.shared.buffer).toBeInstanceOf(SharedArrayBuffer);
    const reader = new StatCacheReader(d.shared);
    expect(reader.size).toBe(10);
    for (let i = 0; i < 10; i++) expect(reader.lookup(key(i))).toBe(idOf(i));
    expect(reader.lookup(key(10))).toBeUndefined();
  });
});

describe('StatCache damaged or foreign files load as empty', () => {
  const saved = () => {
    const c = StatCache.load(file);
    for (let i = 0; i < 5; i++) c.record(key(i), idOf(i));
    c.save(tmp);
    return fs.readFileSync(file);
  };
  const expectEmpty = () => {
    const c = StatCache.load(file);
    expect(c.size).toBe(0);
    expect(c.lookup(key(1))).toBeUndefined();
    return c;
  };

  it('a flipped bit in a record', () => {
    const data = saved();
    data[HEADER + RECORD + 50]! ^= 0x10;
    fs.writeFileSync(file, data);
    expectEmpty();
  });

  it('a flipped bit in the checksum', () => {
    const data = saved();
    data[20]! ^= 0x01;
    fs.writeFileSync(file, data);
    expectEmpty();
  });

  it('a truncated file, and one with extra bytes', () => {
    const data = saved();
    fs.writeFileSync(file, data.subarray(0, data.length - 1));
    expectEmpty();
    fs.writeFileSync(file, data.subarray(0, 20));
    expectEmpty();
    fs.writeFileSync(file, Buffer.concat([data, Buffer.alloc(RECORD)]));
    expectEmpty();
  });

  it('a wrong count or record size', () => {
    const data = saved();
    const a = Buffer.from(data);
    a.writeUInt32LE(4, 8);
    fs.writeFileSync(file, a);
    expectEmpty();
    const b = Buffer.from(data);
    b.writeUInt32LE(64, 12);
    fs.writeFileSync(file, b);
    expectEmpty();
  });

  it('a foreign file, an empty file, a directory, and no file at all', () => {
    saved();
    fs.writeFileSync(file, 'MLVSTAT2' + 'x'.repeat(200));
    expectEmpty();
    fs.writeFileSync(file, 'not a stat cache at all\n');
    expectEmpty();
    fs.writeFileSync(file, '');
    expectEmpty();
    fs.rmSync(file);
    expectEmpty();
    fs.mkdirSync(file);
    expectEmpty();
  });

  it('an empty cache loaded from a damaged file can be saved over it', () => {
    fs.writeFileSync(file, 'garbage');
    const c = expectEmpty();
    c.record(key(3), idOf(3));
    c.save(tmp);
    expect(StatCache.load(file).lookup(key(3))).toBe(idOf(3));
  });
});

describe('StatCache merge', () => {
  it('keeps old entries, adds new ones and overrides entries with the same (dev, ino)', () => {
    const a = StatCache.load(file);
    for (const i of [10, 20, 30, 40]) a.record(key(i), idOf(i));
    a.record(key(20, { dev: 7n }), idOf(720));
    a.save(tmp);

    const b = StatCache.load(file);
    const changed = key(20, { size: 1n, mtimeNs: OLD + 999n });
    b.record(changed, idOf(2020));
    b.record(key(5), idOf(5));
    b.record(key(25), idOf(25));
    b.record(key(99), idOf(99));
    b.record(key(40), idOf(4040)); // same key, new id
    b.save(tmp);

    const c = StatCache.load(file);
    expect(c.size).toBe(8);
    expect(c.lookup(key(10))).toBe(idOf(10));
    expect(c.lookup(key(30))).toBe(idOf(30));
    expect(c.lookup(key(20, { dev: 7n }))).toBe(idOf(720));
    expect(c.lookup(changed)).toBe(idOf(2020));
    expect(c.lookup(key(20))).toBeUndefined();
    expect(c.lookup(key(40))).toBe(idOf(4040));
    for (const i of [5, 25, 99]) expect(c.lookup(key(i))).toBe(idOf(i));
    // Still sorted: every entry is found by binary search, including the ends.
    const body = fs.readFileSync(file).subarray(HEADER);
    const inos = Array.from({ length: c.size }, (_, i) => [body.readBigUInt64LE(i * RECORD), body.readBigUInt64LE(i * RECORD + 8)]);
    const sorted = [...inos].sort((x, y) => (x[0]! !== y[0]! ? (x[0]! < y[0]! ? -1 : 1) : x[1]! < y[1]! ? -1 : x[1]! > y[1]! ? 1 : 0));
    expect(inos).toEqual(sorted);
  });

  it('overriding every old entry leaves exactly the new ones', () => {
    const a = StatCache.load(file);
    for (let i = 0; i < 20; i++) a.record(key(i), idOf(i));
    a.save(tmp);
    const b = StatCache.load(file);
    for (let i = 0; i < 20; i++) b.record(key(i, { size: 1n }), idOf(100 + i));
    b.save(tmp);
    const c = StatCache.load(file);
    expect(c.size).toBe(20);
    for (let i = 0; i < 20; i++) {
      expect(c.lookup(key(i, { size: 1n }))).toBe(idOf(100 + i));
      expect(c.lookup(key(i))).toBeUndefined();
    }
  });
});

describe('recordWritten and racy timestamps', () => {
  it('drops entries written "now" at save but keeps older ones', () => {
    const now = nowNs();
    const c = StatCache.load(file);
    const racy = key(1, { mtimeNs: now + 1n, ctimeNs: now + 1n });
    const racyByCtime = key(2, { mtimeNs: OLD, ctimeNs: now });
    const fine = key(3, { mtimeNs: now - 10n * SEC + 1n, ctimeNs: now - 10n * SEC + 2n });
    c.recordWritten(racy, idOf(1), '/nonexistent/mlv-test-path');
    c.recordWritten(racyByCtime, idOf(2), '/nonexistent/mlv-test-path');
    c.recordWritten(fine, idOf(3), '/nonexistent/mlv-test-path');
    // Before saving, the pending entries are still answered.
    expect(c.lookup(racy)).toBe(idOf(1));
    c.save(tmp);
    const d = StatCache.load(file);
    expect(d.size).toBe(1);
    expect(d.lookup(racy)).toBeUndefined();
    expect(d.lookup(racyByCtime)).toBeUndefined();
    expect(d.lookup(fine)).toBe(idOf(3));
  });

  it('keeps record() entries even with fresh timestamps (the caller has checked them)', () => {
    const now = nowNs();
    const c = StatCache.load(file);
    c.record(key(1, { mtimeNs: now, ctimeNs: now }), idOf(1));
    c.save(tmp);
    expect(StatCache.load(file).lookup(key(1, { mtimeNs: now, ctimeNs: now }))).toBe(idOf(1));
  });

  it('uses the coarse window for whole-second timestamps', () => {
    const now = nowNs();
    const wholeSecond = (now / SEC - 1n) * SEC; // 1 to 2 s ago, on a second boundary
    const c = StatCache.load(file);
    c.recordWritten(key(1, { mtimeNs: wholeSecond, ctimeNs: wholeSecond }), idOf(1), '/nonexistent/mlv-test-path');
    c.recordWritten(key(2, { mtimeNs: wholeSecond + 1n, ctimeNs: wholeSecond + 1n }), idOf(2), '/nonexistent/mlv-test-path');
    c.recordWritten(key(3, { mtimeNs: wholeSecond - 10n * SEC, ctimeNs: wholeSecond - 10n * SEC }), idOf(3), '/nonexistent/mlv-test-path');
    c.save(tmp);
    const d = StatCache.load(file);
    expect(d.lookup(key(1, { mtimeNs: wholeSecond, ctimeNs: wholeSecond }))).toBeUndefined();
    expect(d.lookup(key(2, { mtimeNs: wholeSecond + 1n, ctimeNs: wholeSecond + 1n }))).toBe(idOf(2));
    expect(d.lookup(key(3, { mtimeNs: wholeSecond - 10n * SEC, ctimeNs: wholeSecond - 10n * SEC }))).toBe(idOf(3));
  });

  it('a racy recordWritten does not erase the old entry for that file (it simply no longer matches)', () => {
    const a = StatCache.load(file);
    a.record(key(1), idOf(1));
    a.save(tmp);
    const now = nowNs();
    const b = StatCache.load(file);
    b.recordWritten(key(1, { mtimeNs: now, ctimeNs: now }), idOf(2), '/nonexistent/mlv-test-path');
    b.save(tmp);
    const c = StatCache.load(file);
    expect(c.lookup(key(1, { mtimeNs: now, ctimeNs: now }))).toBeUndefined();
    expect(c.lookup(key(1))).toBe(idOf(1));
  });
});

describe('isRacy', () => {
  const now = 1_800_000_000n * SEC + 500n * MS; // not on a second boundary
  const at = (mtimeNs: bigint, ctimeNs = mtimeNs): StatKey => ({ dev: 1n, ino: 1n, size: 1n, mtimeNs, ctimeNs });

  it('is racy within 50 ms of now and not from 50 ms on, for fine-grained timestamps', () => {
    expect(isRacy(at(now), now)).toBe(true);
    expect(isRacy(at(now - 49n * MS), now)).toBe(true);
    expect(isRacy(at(now - 50n * MS + 1n), now)).toBe(true);
    expect(isRacy(at(now - 50n * MS), now)).toBe(false);
    expect(isRacy(at(now - 10n * SEC), now)).toBe(false);
  });

  it('uses the later of mtime and ctime', () => {
    expect(isRacy(at(now - 10n * SEC, now - 1n * MS), now)).toBe(true);
    expect(isRacy(at(now - 1n * MS, now - 10n * SEC), now)).toBe(true);
    expect(isRacy(at(now - 10n * SEC, now - 60n * MS), now)).toBe(false);
  });

  it('treats timestamps in the future as racy', () => {
    expect(isRacy(at(now + 1n), now)).toBe(true);
    expect(isRacy(at(now + 3600n * SEC), now)).toBe(true);
  });

  it('uses a 3 s window when both timestamps are whole seconds', () => {
    const s = (now / SEC) * SEC; // whole second, 500 ms before now
    expect(isRacy(at(s), now)).toBe(true);
    expect(isRacy(at(s - 2n * SEC), now)).toBe(true); // 2.5 s ago
    expect(isRacy(at(s - 3n * SEC), now)).toBe(false); // 3.5 s ago
    expect(isRacy(at(s - 2n * SEC, s - 2n * SEC + 1n), now)).toBe(false); // ctime not whole: fine window
    expect(isRacy(at(s, s), s + 3n * SEC)).toBe(false);
    expect(isRacy(at(s, s), s + 3n * SEC - 1n)).toBe(true);
  });

  it('statKeyOf copies the identifying fields of BigInt stats', () => {
    const f = path.join(dir, 'x');
    fs.writeFileSync(f, 'abc');
    const st = fs.statSync(f, { bigint: true });
    expect(statKeyOf(st)).toEqual({ dev: st.dev, ino: st.ino, size: 3n, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs });
  });
});

describe('StatCache at scale', () => {
  it('a 1,000,000-entry cache loads, answers 100,000 lookups, merges and saves quickly', () => {
    const N = 1_000_000;
    // Build the file in the documented format directly (recording a million entries one by one
    // would mostly measure this test's own BigInt and string churn).
    const body = Buffer.alloc(N * RECORD);
    for (let i = 0; i < N; i++) {
      const o = i * RECORD;
      body.writeBigUInt64LE(1n, o);
      body.writeBigUInt64LE(BigInt(2 * i + 2), o + 8);
      body.writeBigUInt64LE(BigInt(i), o + 16);
      body.writeBigInt64LE(OLD + BigInt(i), o + 24);
      body.writeBigInt64LE(OLD, o + 32);
      body.writeUInt32BE(i, o + 68);
    }
    const head = Buffer.alloc(HEADER);
    head.write('MLVSTAT1', 0, 'latin1');
    head.writeUInt32LE(N, 8);
    head.writeUInt32LE(RECORD, 12);
    head.write(hashBytes(body), 16, 'hex');
    fs.writeFileSync(file, Buffer.concat([head, body]));
    const bigKey = (i: number): StatKey => ({ dev: 1n, ino: BigInt(2 * i + 2), size: BigInt(i), mtimeNs: OLD + BigInt(i), ctimeNs: OLD });

    const t0 = performance.now();
    const c = StatCache.load(file);
    expect(c.size).toBe(N);
    let hits = 0;
    let misses = 0;
    for (let k = 0; k < 100_000; k++) {
      const i = (k * 7919) % N;
      if (c.lookup(bigKey(i)) === idOf(i)) hits++;
      if (c.lookup({ ...bigKey(i), ino: BigInt(2 * i + 3) }) === undefined) misses++;
    }
    expect(hits).toBe(100_000);
    expect(misses).toBe(100_000);

    // Merge: 1,000 new odd inodes interleaved, 1,000 overrides of existing ones.
    for (let j = 0; j < 1000; j++) {
      c.record({ dev: 1n, ino: BigInt(2 * j * 997 + 1), size: 1n, mtimeNs: OLD, ctimeNs: OLD }, idOf(5_000_000 + j));
      c.record({ ...bigKey(j * 991), size: 7n }, idOf(6_000_000 + j));
    }
    c.save(tmp);
    const d = StatCache.load(file);
    const elapsed = performance.now() - t0;

    expect(d.size).toBe(N + 1000);
    for (let j = 0; j < 1000; j += 37) {
      expect(d.lookup({ dev: 1n, ino: BigInt(2 * j * 997 + 1), size: 1n, mtimeNs: OLD, ctimeNs: OLD })).toBe(idOf(5_000_000 + j));
      expect(d.lookup({ ...bigKey(j * 991), size: 7n })).toBe(idOf(6_000_000 + j));
      expect(d.lookup(bigKey(j * 991))).toBeUndefined();
    }
    expect(d.lookup(bigKey(0))).toBeUndefined(); // overridden (j = 0)
    expect(d.lookup(bigKey(1))).toBe(idOf(1));
    expect(d.lookup(bigKey(N - 1))).toBe(idOf(N - 1));
    expect(elapsed).toBeLessThan(5000);
  });
});

describe('pruning', () => {
  it('save({ prune: true }) keeps only entries matched in this run plus new ones', () => {
    const file = path.join(dir, 'prune-cache');
    const a = StatCache.load(file);
    for (let i = 1; i <= 10; i++) a.record(key(i), idOf(i));
    a.save(dir);
    const b = StatCache.load(file);
    expect(b.size).toBe(10);
    expect(b.lookup(key(3))).toBe(idOf(3));
    expect(b.lookup(key(7))).toBe(idOf(7));
    expect(b.lookup(key(8, { size: 999n }))).toBeUndefined();
    b.record(key(11), idOf(11));
    b.save(dir, { prune: true });
    const c = StatCache.load(file);
    expect(c.size).toBe(3);
    expect(c.lookup(key(3))).toBe(idOf(3));
    expect(c.lookup(key(7))).toBe(idOf(7));
    expect(c.lookup(key(11))).toBe(idOf(11));
    expect(c.lookup(key(1))).toBeUndefined();
  });

  it('save() without prune keeps unmatched entries', () => {
    const file = path.join(dir, 'keep-cache');
    const a = StatCache.load(file);
    for (let i = 1; i <= 5; i++) a.record(key(i), idOf(i));
    a.save(dir);
    const b = StatCache.load(file);
    b.lookup(key(2));
    b.record(key(6), idOf(6));
    b.save(dir);
    expect(StatCache.load(file).size).toBe(6);
  });
});

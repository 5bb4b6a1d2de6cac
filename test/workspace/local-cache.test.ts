import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MlvError } from '../../dist/core/errors.js';
import { hashBytes } from '../../dist/core/hash.js';
import { IO_BUFFER_SIZE, LocalCache, processAlive } from '../../dist/storage/local-cache.js';
import * as kernelCopy from '../../dist/storage/kernel-copy.js';

let root: string;
let cache: LocalCache;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-cache-'));
  cache = new LocalCache(path.join(root, 'cache'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** Every file below the cache, relative, sorted. */
function listFiles(dir = cache.dir): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => fs.statSync(path.join(dir, p)).isFile())
    .map((p) => p.split(path.sep).join('/'))
    .sort();
}
const tempFiles = () => (fs.existsSync(cache.tmpDir) ? fs.readdirSync(cache.tmpDir) : []);
const objects = () => listFiles().filter((p) => !p.startsWith('tmp/'));

function writeSource(name: string, bytes: Uint8Array): string {
  const p = path.join(root, name);
  fs.writeFileSync(p, bytes);
  return p;
}

function caught(fn: () => unknown): MlvError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MlvError);
    return err as MlvError;
  }
  throw new Error('expected an MlvError');
}

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.status).toBe(0);
  expect(processAlive(r.pid!)).toBe(false);
  return r.pid!;
}

describe('LocalCache storage layout', () => {
  it('putBytes stores under the sharded path ab/cdef... and returns the BLAKE3 id', () => {
    const bytes = Buffer.from('hello, cache\n');
    const id = cache.putBytes(bytes);
    expect(id).toBe(hashBytes(bytes));
    expect(objects()).toEqual([`${id.slice(0, 2)}/${id.slice(2)}`]);
    expect(cache.objectPath(id)).toBe(path.join(cache.dir, id.slice(0, 2), id.slice(2)));
    expect(fs.readFileSync(cache.objectPath(id))).toEqual(bytes);
    expect(cache.has(id)).toBe(true);
    expect(cache.has(hashBytes(Buffer.from('other')))).toBe(false);
  });

  it('putFile stores the file content under its id and reports its size', () => {
    const bytes = randomBytes(10_000);
    const { id, size } = cache.putFile(writeSource('src.bin', bytes));
    expect(id).toBe(hashBytes(bytes));
    expect(size).toBe(10_000);
    expect(fs.readFileSync(cache.objectPath(id)).equals(bytes)).toBe(true);
  });

  it('a large file given with its size: same id, same bytes, read-only, no temp left; a wrong expected id keeps nothing', () => {
    const bytes = randomBytes(9 * 1024 * 1024 + 3);
    const src = path.join(root, 'big.bin');
    fs.writeFileSync(src, bytes);
    const fd = fs.openSync(src, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const copiesBefore = kernelCopy.kernelCopies;
    try {
      const r = cache.putFd(fd, src, undefined, bytes.length);
      expect(r).toEqual({ id: hashBytes(bytes), size: bytes.length });
      if (kernelCopy.kernelCopyAvailable()) expect(kernelCopy.kernelCopies, 'copied by cp').toBe(copiesBefore + 1);
      expect(fs.readFileSync(cache.objectPath(r.id)).equals(bytes)).toBe(true);
      expect(fs.statSync(cache.objectPath(r.id)).mode & 0o777).toBe(0o444);
      expect(() => cache.putFd(fd, src, 'f'.repeat(64) as never, bytes.length)).toThrow(/expected content/);
    } finally {
      fs.closeSync(fd);
    }
    expect(tempFiles()).toEqual([]);
    expect(objects()).toEqual([`${hashBytes(bytes).slice(0, 2)}/${hashBytes(bytes).slice(2)}`]);
  });

  it('a large file cut short while it is copied: the copy ends, and what is kept is what was hashed', () => {
    const full = 192 * 1024 * 1024;
    const src = path.join(root, 'shrinking.bin');
    const chunk = randomBytes(1024 * 1024);
    const out = fs.openSync(src, 'w');
    for (let i = 0; i < full / chunk.length; i++) fs.writeSync(out, chunk);
    fs.closeSync(out);
    const fd = fs.openSync(src, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    // Another process cuts the file while this thread is inside the copy (Node's own copyFile
    // never returned in this case).
    const cutter = spawn('sh', ['-c', `sleep 0.03; truncate -s 5000000 '${src}'`], { stdio: 'ignore' });
    const copiesBefore = kernelCopy.kernelCopies;
    try {
      const r = cache.putFd(fd, src, undefined, full);
      if (kernelCopy.kernelCopyAvailable()) expect(kernelCopy.kernelCopies, 'cp ran and ended').toBe(copiesBefore + 1);
      // A copy that ended at another size than the file now has is redone through mlv's buffer.
      expect([5_000_000, full]).toContain(r.size);
      const kept = fs.readFileSync(cache.objectPath(r.id));
      expect(kept.length).toBe(r.size);
      expect(hashBytes(kept)).toBe(r.id);
      expect(kept.subarray(0, chunk.length).equals(chunk)).toBe(true);
    } finally {
      fs.closeSync(fd);
      cutter.kill();
    }
    expect(tempFiles()).toEqual([]);
  }, 60_000);

  it('stores empty content', () => {
    const id = cache.putFile(writeSource('empty', Buffer.alloc(0))).id;
    expect(id).toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
    expect(fs.statSync(cache.objectPath(id)).size).toBe(0);
    expect(cache.putBytes(Buffer.alloc(0))).toBe(id);
  });

  it('makes objects read-only (mode 0444)', () => {
    const umask = process.umask();
    const expected = 0o444 & ~umask;
    const a = cache.putBytes(Buffer.from('a'));
    const b = cache.putFile(writeSource('b', Buffer.from('bb'))).id;
    const c = cache.putFile(writeSource('c', randomBytes(IO_BUFFER_SIZE + 10))).id;
    for (const id of [a, b, c]) {
      const mode = fs.statSync(cache.objectPath(id)).mode & 0o777;
      expect(mode).toBe(expected);
      expect(mode & 0o222).toBe(0);
    }
  });

  it('stores identical content once, whichever way it arrives', () => {
    const bytes = randomBytes(3000);
    const id1 = cache.putBytes(bytes);
    const before = fs.statSync(cache.objectPath(id1));
    const id2 = cache.putBytes(Buffer.from(bytes));
    const id3 = cache.putFile(writeSource('one', bytes)).id;
    const id4 = cache.putFile(writeSource('two', bytes)).id;
    expect(new Set([id1, id2, id3, id4]).size).toBe(1);
    expect(objects()).toHaveLength(1);
    expect(tempFiles()).toEqual([]);
    const after = fs.statSync(cache.objectPath(id1));
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  it('keeps distinct content apart', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add(cache.putBytes(Buffer.from(`object ${i}`)));
    expect(ids.size).toBe(50);
    expect(objects()).toHaveLength(50);
    for (const p of objects()) expect(p).toMatch(/^[0-9a-f]{2}\/[0-9a-f]{62}$/);
  });

  it.each([
    ['just under the I/O buffer', IO_BUFFER_SIZE - 1],
    ['exactly the I/O buffer', IO_BUFFER_SIZE],
    ['one byte over the I/O buffer', IO_BUFFER_SIZE + 1],
    ['several buffers', 2 * IO_BUFFER_SIZE + 12345],
  ])('round-trips a file %s', (_label, n) => {
    expect(IO_BUFFER_SIZE).toBe(4 * 1024 * 1024);
    const bytes = randomBytes(n);
    const { id, size } = cache.putFile(writeSource('big', bytes));
    expect(size).toBe(n);
    expect(id).toBe(hashBytes(bytes));
    expect(fs.readFileSync(cache.objectPath(id)).equals(bytes)).toBe(true);
    expect(cache.readVerified(id).equals(bytes)).toBe(true);
    expect(tempFiles()).toEqual([]);
    // Storing it again is a no-op that still returns the id.
    expect(cache.putFile(writeSource('big2', bytes), id)).toEqual({ id, size: n });
    expect(objects()).toHaveLength(1);
  });
});

describe('LocalCache integrity', () => {
  it('putBytes with a wrong expectedId throws CORRUPT_OBJECT and stores nothing', () => {
    const wrong = hashBytes(Buffer.from('something else'));
    const err = caught(() => cache.putBytes(Buffer.from('content'), wrong));
    expect(err.code).toBe('CORRUPT_OBJECT');
    expect(err.message).toContain(wrong);
    expect(listFiles()).toEqual([]);
  });

  it.each([
    ['a small file', 1000],
    ['a file larger than the I/O buffer', IO_BUFFER_SIZE + 4096],
  ])('putFile of %s with a wrong expectedId throws CORRUPT_OBJECT, leaving no object and no temp file', (_label, n) => {
    const bytes = randomBytes(n);
    const src = writeSource('src', bytes);
    const wrong = hashBytes(Buffer.from('not it'));
    const err = caught(() => cache.putFile(src, wrong));
    expect(err.code).toBe('CORRUPT_OBJECT');
    expect(err.exitCode).toBe(6);
    expect(err.message).toContain(src);
    expect(err.message).toContain(wrong);
    expect(err.message).toContain(hashBytes(bytes));
    expect(listFiles()).toEqual([]);
    expect(cache.has(wrong)).toBe(false);
    expect(cache.has(hashBytes(bytes))).toBe(false);
    // The right id still works afterwards.
    expect(cache.putFile(src, hashBytes(bytes)).id).toBe(hashBytes(bytes));
  });

  it('readVerified returns intact objects and detects a bit flip with CORRUPT_OBJECT', () => {
    const bytes = randomBytes(5000);
    const id = cache.putBytes(bytes);
    expect(cache.readVerified(id).equals(bytes)).toBe(true);
    const p = cache.objectPath(id);
    const damaged = Buffer.from(bytes);
    damaged[1234]! ^= 0x04;
    fs.chmodSync(p, 0o644);
    fs.writeFileSync(p, damaged);
    fs.chmodSync(p, 0o444);
    const err = caught(() => cache.readVerified(id));
    expect(err.code).toBe('CORRUPT_OBJECT');
    expect(err.message).toContain(id);
    expect(err.message).toContain(hashBytes(damaged));
  });

  it('readVerified detects truncation and reports a missing object as MISSING_OBJECTS', () => {
    const id = cache.putBytes(Buffer.from('0123456789'));
    fs.chmodSync(cache.objectPath(id), 0o644);
    fs.truncateSync(cache.objectPath(id), 5);
    expect(caught(() => cache.readVerified(id)).code).toBe('CORRUPT_OBJECT');
    const absent = hashBytes(Buffer.from('never stored'));
    const err = caught(() => cache.readVerified(absent));
    expect(err.code).toBe('MISSING_OBJECTS');
    expect(err.message).toContain(absent);
  });

  it('putFile refuses to follow a symbolic link', () => {
    const target = writeSource('target', Buffer.from('secret'));
    const link = path.join(root, 'link');
    fs.symlinkSync(target, link);
    expect(() => cache.putFile(link)).toThrow();
    expect(objects()).toEqual([]);
  });
});

describe('LocalCache temp files', () => {
  let sleeper: ChildProcess | undefined;
  afterEach(() => {
    sleeper?.kill();
    sleeper = undefined;
  });

  it('temp paths live under tmp/ and start with this process id', () => {
    const t = cache.tempPath();
    expect(path.dirname(t)).toBe(cache.tmpDir);
    expect(path.basename(t).split('-')[0]).toBe(String(process.pid));
    expect(cache.tempPath()).not.toBe(t);
  });

  it('cleanStaleTemps removes temp files of dead processes only', async () => {
    sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await new Promise<void>((resolve) => sleeper!.once('spawn', () => resolve()));
    const alive = sleeper.pid!;
    const dead = deadPid();
    fs.mkdirSync(cache.tmpDir, { recursive: true });
    const names = {
      dead1: `${dead}-lx0-0-abc123`,
      dead2: `${dead}-lx1-1-def456`,
      mine: path.basename(cache.tempPath()),
      alive: `${alive}-lx2-2-ghi789`,
      parent: `${process.ppid}-lx3-3-jkl012`,
      junk: 'not-a-temp-file',
      zero: '0-lx4-4-mno345',
    };
    for (const n of Object.values(names)) fs.writeFileSync(path.join(cache.tmpDir, n), 'partial');

    expect(cache.cleanStaleTemps()).toBe(2);
    expect(tempFiles().sort()).toEqual([names.mine, names.alive, names.parent, names.junk, names.zero].sort());
    expect(cache.cleanStaleTemps()).toBe(0);
  });

  it('objects whose id is known are written beside their final name and leave no temp file anywhere', () => {
    const bytes = randomBytes(3000);
    const id = cache.putBytes(bytes);
    const t = cache.tempPathBeside(id);
    expect(path.dirname(t)).toBe(path.dirname(cache.objectPath(id)));
    expect(path.basename(t)).toMatch(new RegExp(`^\\.tmp-${process.pid}-\\d+-[0-9a-z]+$`));
    expect(listFiles()).toEqual([`${id.slice(0, 2)}/${id.slice(2)}`]);
    expect(fs.statSync(cache.objectPath(id)).mode & 0o777).toBe(0o444);
    expect(cache.listObjects().map((o) => o.id)).toEqual([id]);
  });

  it('cleanStaleShardTemps removes temp files of dead processes beside objects, and listings never show temp files', async () => {
    sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await new Promise<void>((resolve) => sleeper!.once('spawn', () => resolve()));
    const id = cache.putBytes(randomBytes(100));
    const shard = path.dirname(cache.objectPath(id));
    const dead = deadPid();
    const names = { dead: `.tmp-${dead}-0-1`, deadWorker: `.tmp-${dead}-3-a`, alive: `.tmp-${sleeper.pid}-0-2`, mine: path.basename(cache.tempPathBeside(id)) };
    for (const n of Object.values(names)) fs.writeFileSync(path.join(shard, n), 'partial');
    expect(cache.listObjects().map((o) => o.id)).toEqual([id]);
    expect(cache.cleanStaleShardTemps()).toBe(2);
    expect(fs.readdirSync(shard).sort()).toEqual([id.slice(2), names.alive, names.mine].sort());
    expect(cache.cleanStaleShardTemps()).toBe(0);
  });

  it('cleanStaleTemps without a tmp folder does nothing', () => {
    expect(cache.cleanStaleTemps()).toBe(0);
  });

  it('processAlive tells live and dead processes apart', () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(deadPid())).toBe(false);
  });
});

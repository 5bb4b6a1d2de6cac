/**
 * A damaged cache (reliability.md group 11) and what killed runs leave behind (group 12, temp
 * files; the lock cases are in concurrency.test.ts).
 *
 * Group 11: a cache object truncated, with a flipped bit, zero-filled, or holding another object's
 * bytes, each still read-only (mode 0444: protection is not proof), and a flipped bit in a 5 MiB
 * object (the streamed code paths). For each: checkout, pull, get and export must refuse to spread
 * it (exit 6, nothing damaged written anywhere); push must not upload it; fsck finds it and moves it
 * aside with its bytes.
 *
 * Existing tests already cover: checkout of a corrupt object with each link strategy and a corrupt
 * tree (test/cli/checkout.test.ts), fsck of truncated / flipped / missing objects and unreadable
 * ones (test/cli/fsck.test.ts), corrupt objects on the remote (test/remote/faults.test.ts,
 * test/remote/gc-fsck-remote.test.ts).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blake3Hex, lsTree, mlvAsync, mlvJsonAsync, objectPath, pseudoRandomBytes, tamperObject, write } from '../helpers/assert.js';
import { git, tempDir, type RunResult } from '../helpers/cli.js';
import { MiB, cacheIds, relOf, run } from '../remote/remote-helpers.js';
import { folderRemoteWorld } from './helpers.js';

/** MLV_RELIABILITY_STRICT=1 runs the cases of known mlv bugs as plain tests, to see how they fail. */

// ---------------------------------------------------------------------------------------------
// The world: repo/ with data/ and model.bin committed and pushed to remote/ (good copies there).

function treeEntriesOf(repo: string, treeId: string, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  const bytes = fs.readFileSync(objectPath(repo, treeId));
  for (const line of bytes.toString('utf8').split('\n').slice(1).filter(Boolean)) {
    const [kind, id, , ...rest] = line.split(' ');
    const name = JSON.parse(rest.join(' ')) as string;
    const p = prefix ? `${prefix}/${name}` : name;
    if (kind === 'd') for (const [k, v] of treeEntriesOf(repo, id!, p)) out.set(k, v);
    else out.set(p, id!);
  }
  return out;
}

const worlds = new Map<boolean, Promise<{ base: string; files: Map<string, string> }>>();
/** The world, with `data/big.bin` (5 MiB: the streamed code paths) when `big`. */
function world(big = false) {
  let w = worlds.get(big);
  if (!w) {
    w = buildWorld(big);
    worlds.set(big, w);
  }
  return w;
}

async function buildWorld(big: boolean): Promise<{ base: string; files: Map<string, string> }> {
  const { base, repo } = await folderRemoteWorld('mlv-cachefaults-');
  for (let i = 0; i < 4; i++) write(repo, `data/a/${i}.bin`, pseudoRandomBytes(3000 + i, 31 + i));
  for (let i = 0; i < 3; i++) write(repo, `data/b/${i}.bin`, pseudoRandomBytes(2000 + i, 41 + i));
  write(repo, 'data/run.sh', '#!/bin/sh\necho run\n', 0o755);
  if (big) write(repo, 'data/big.bin', pseudoRandomBytes(5 * MiB + 123, 51));
  write(repo, 'model.bin', pseudoRandomBytes(300_000, 61));
  await run(repo, ['add', '-q', 'data', 'model.bin']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-q', '-m', 'v1']);
  await run(repo, ['push', '-q']);
  const rootId = /^id: ([0-9a-f]{64})$/m.exec(fs.readFileSync(path.join(repo, 'data.mlv'), 'utf8'))![1]!;
  return { base, files: treeEntriesOf(repo, rootId) };
}

function copyWorld(src: string): string {
  const dest = tempDir('mlv-cachefaults-case-');
  fs.cpSync(src, dest, { recursive: true });
  return dest;
}

// ---------------------------------------------------------------------------------------------

interface Damage {
  name: string;
  /** The data file whose cache object is damaged. */
  file: string;
  /** What fsck calls it. */
  problem: 'corrupt' | 'truncated';
  mutate: (b: Buffer, other: Buffer) => Buffer;
}

const DAMAGES: Damage[] = [
  { name: 'a truncated object', file: 'a/1.bin', problem: 'truncated', mutate: (b) => b.subarray(0, Math.floor(b.length / 2)) },
  {
    name: 'a flipped bit',
    file: 'a/1.bin',
    problem: 'corrupt',
    mutate: (b) => {
      const c = Buffer.from(b);
      c[100]! ^= 0x04;
      return c;
    },
  },
  { name: 'a zero-filled object', file: 'a/1.bin', problem: 'corrupt', mutate: (b) => Buffer.alloc(b.length) },
  { name: "another object's bytes under its name", file: 'a/1.bin', problem: 'corrupt', mutate: (_b, other) => Buffer.from(other) },
  {
    name: 'a flipped bit in a 5 MiB object',
    file: 'big.bin',
    problem: 'corrupt',
    mutate: (b) => {
      const c = Buffer.from(b);
      c[4 * MiB + 17]! ^= 0x80;
      return c;
    },
  },
];

interface Case {
  base: string;
  repo: string;
  /** data/<file> -> id */
  files: Map<string, string>;
  id: string;
  good: Buffer;
  bad: Buffer;
}

async function damagedCase(d: Damage): Promise<Case> {
  const w = await world(d.file === 'big.bin');
  const base = copyWorld(w.base);
  const repo = path.join(base, 'repo');
  const id = w.files.get(d.file)!;
  const good = fs.readFileSync(objectPath(repo, id));
  const other = fs.readFileSync(objectPath(repo, w.files.get('a/2.bin')!));
  tamperObject(repo, id, (b) => d.mutate(b, other));
  const bad = fs.readFileSync(objectPath(repo, id));
  expect(blake3Hex(bad)).not.toBe(id);
  // Still protected: read-only, as if nothing had happened.
  expect(fs.statSync(objectPath(repo, id)).mode & 0o777).toBe(0o444);
  return { base, repo, files: w.files, id, good, bad };
}

/** Every file below `dir` has the bytes of the original at its path (so the damaged bytes are nowhere). */
function expectNoDamageSpread(c: Case, dir: string, label: string): void {
  for (const [r, v] of Object.entries(fs.existsSync(dir) ? lsTree(dir) : {})) {
    if (v === 'dir') continue;
    const want = c.files.get(r);
    expect(want, `${label}: unexpected file ${r}`).toBeDefined();
    expect(blake3Hex(fs.readFileSync(path.join(dir, r))), `${label}: ${r} is not the original`).toBe(want);
  }
}

/** The regular files below `dir`, sorted. */
function filesBelow(dir: string): string[] {
  return Object.entries(lsTree(dir))
    .filter(([, v]) => v.startsWith('file'))
    .map(([p]) => p)
    .sort();
}

function errorLines(r: RunResult): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('error:'));
}

function expectNoStack(r: RunResult): void {
  expect(r.stderr, r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error|Node\.js v/);
}

/** Objects on a folder remote whose bytes do not hash to their names. */
function badRemoteObjects(root: string): string[] {
  const bad: string[] = [];
  for (const shard of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    for (const name of fs.readdirSync(path.join(root, shard))) {
      if (name.startsWith('.tmp-')) continue;
      if (blake3Hex(fs.readFileSync(path.join(root, shard, name))) !== shard + name) bad.push(shard + name);
    }
  }
  return bad;
}

describe.concurrent.each(DAMAGES)('a damaged cache object (group 11): $name, still read-only', (d) => {
  it('checkout: exit 6 naming the file; the damaged bytes are not written; everything else is restored', async () => {
    const c = await damagedCase(d);
    fs.rmSync(path.join(c.repo, 'data'), { recursive: true });
    const r = await mlvAsync(c.repo, ['checkout']);
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expectNoStack(r);
    expect(r.stderr).toContain(`corrupt in the cache, not written: data/${d.file}`);
    expect(errorLines(r)).toHaveLength(1);
    expect(fs.existsSync(path.join(c.repo, 'data', d.file))).toBe(false);
    expectNoDamageSpread(c, path.join(c.repo, 'data'), 'checkout');
    expect(filesBelow(path.join(c.repo, 'data'))).toEqual([...c.files.keys()].filter((p) => p !== d.file).sort());
  });

  it('pull: exit 6; the damaged bytes are not written (the good copy on the remote is left alone)', async () => {
    const c = await damagedCase(d);
    fs.rmSync(path.join(c.repo, 'data'), { recursive: true });
    const remoteBefore = lsTree(path.join(c.base, 'remote'));
    const r = await mlvAsync(c.repo, ['pull']);
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expectNoStack(r);
    expect(r.stderr).toContain(`corrupt in the cache, not written: data/${d.file}`);
    expect(fs.existsSync(path.join(c.repo, 'data', d.file))).toBe(false);
    expectNoDamageSpread(c, path.join(c.repo, 'data'), 'pull');
    expect(lsTree(path.join(c.base, 'remote'))).toEqual(remoteBefore);
  });

  it('get: exit 6 with one error line; the output holds no damaged bytes', async () => {
    const c = await damagedCase(d);
    const out = path.join(c.base, 'out');
    const r = await mlvAsync(c.repo, ['get', 'data', '-o', out]);
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expectNoStack(r);
    expect(errorLines(r)).toHaveLength(1);
    expect(errorLines(r)[0]).toMatch(/corrupt/);
    expectNoDamageSpread(c, out, 'get');
    expect(fs.existsSync(path.join(out, d.file))).toBe(false);
  });

  it('export: fails; no archive appears under the output name', async () => {
    const c = await damagedCase(d);
    const out = path.join(c.base, 'out.tar');
    const r = await mlvAsync(c.repo, ['export', 'data', '-o', out]);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/corrupt/);
    expect(fs.existsSync(out)).toBe(false);
  });

  // mlv bug: export of a corrupt cache object prints its error, then dies of an uncaught 'error'
  // event of the tar stream (exit 1, stack trace); for an object > 4 MiB the temp archive
  // `<out>.mlv-tmp-<pid>` is left behind.
  // (for the two bit-flip kinds only: the same code path for all)
  if (d.name.includes('flipped bit')) {
    it('export: exit 6, one error line, no stack trace, no temp archive left', async () => {
      const c = await damagedCase(d);
      const out = path.join(c.base, 'out.tar');
      const r = await mlvAsync(c.repo, ['export', 'data', '-o', out]);
      expect(r.code, r.stderr).toBe(6);
      expectNoStack(r);
      expect(errorLines(r)).toHaveLength(1);
      expect(errorLines(r)[0]).toMatch(/corrupt/);
      expect(fs.readdirSync(c.base).filter((n) => n.startsWith('out.tar'))).toEqual([]);
    });
  }

  // mlv bug: push uploads cache objects without re-hashing them (only sizes are compared), so the
  // damaged bytes go to the remote; for same-size damage a later push from a repaired cache does
  // not replace them either (presence is checked by size).
  it('push: the damaged object is not uploaded', async () => {
    const c = await damagedCase(d);
    fs.mkdirSync(path.join(c.base, 'fresh'));
    await run(c.repo, ['remote', 'add', '-q', 'fresh', '../fresh']);
    const r = await mlvAsync(c.repo, ['push', '-r', 'fresh']);
    expectNoStack(r);
    expect(badRemoteObjects(path.join(c.base, 'fresh')), 'objects on the remote that do not hash to their names').toEqual([]);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
  });

  it('fsck: exit 6 naming the object and the problem; the object is moved to cache/corrupt/ with its bytes', async () => {
    const c = await damagedCase(d);
    const { code, json } = await mlvJsonAsync(c.repo, ['fsck']);
    expect(code).toBe(6);
    const problems = json.local.problems as Array<{ id: string; problem: string; movedTo?: string; path?: string }>;
    const mine = problems.filter((p) => p.id === c.id && p.problem !== 'missing');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ problem: d.problem, path: `data/${d.file}` });
    expect(fs.existsSync(objectPath(c.repo, c.id))).toBe(false);
    expect(fs.readFileSync(path.join(c.repo, mine[0]!.movedTo!)).equals(c.bad)).toBe(true);
    // The rest of the cache is intact and stays.
    expect(cacheIds(c.repo)).not.toContain(c.id);
    // Repair: a pull fetches the good copy, and the data comes back.
    fs.rmSync(path.join(c.repo, 'data', d.file));
    await run(c.repo, ['pull']);
    expect(fs.readFileSync(path.join(c.repo, 'data', d.file)).equals(c.good)).toBe(true);
  });
});

describe.concurrent('a damaged cache object: consequences of an unverified push', () => {
  // mlv bug (same as above): once a same-size damaged object is on the remote, repairing the local
  // cache and pushing again does not fix the remote.
  it('a bit flipped in the cache, pushed, repaired locally by fsck + add, pushed again: the remote copy is right', async () => {
    const c = await damagedCase(DAMAGES[1]!);
    fs.mkdirSync(path.join(c.base, 'fresh'));
    await run(c.repo, ['remote', 'add', '-q', 'fresh', '../fresh']);
    await mlvAsync(c.repo, ['push', '-r', 'fresh']);
    await mlvAsync(c.repo, ['fsck']);
    await run(c.repo, ['add', 'data']); // the workspace copy is intact: stores the object again
    expect(blake3Hex(fs.readFileSync(objectPath(c.repo, c.id)))).toBe(c.id);
    await run(c.repo, ['push', '-r', 'fresh']);
    expect(badRemoteObjects(path.join(c.base, 'fresh'))).toEqual([]);
  });

  it('a hard-linked workspace file edited in place damages the cache object: status sees the edit, fsck finds the damage, get refuses to spread it', async () => {
    const w = await world();
    const base = copyWorld(w.base);
    const repo = path.join(base, 'repo');
    await run(repo, ['config', 'core.link', 'hardlink']);
    fs.rmSync(path.join(repo, 'data'), { recursive: true });
    const co = await mlvJsonAsync(repo, ['checkout']);
    expect(co.json.strategies.hardlink).toBeGreaterThan(0);
    const f = path.join(repo, 'data', 'a', '3.bin');
    const id = w.files.get('a/3.bin')!;
    expect(fs.statSync(f).ino).toBe(fs.statSync(objectPath(repo, id)).ino);
    // root ignores the read-only mode: an in-place write goes through to the shared inode.
    const fd = fs.openSync(f, 'r+');
    fs.writeSync(fd, Buffer.from('EDITED'), 0, 6, 10);
    fs.closeSync(fd);
    const st = await mlvJsonAsync(repo, ['status', 'data']);
    expect(st.json.targets[0].state).toBe('modified');
    const out = path.join(base, 'out');
    const g = await mlvAsync(repo, ['get', 'data/a', '-o', out]);
    expect(g.code, g.stderr).toBe(6);
    expect(fs.existsSync(path.join(out, '3.bin'))).toBe(false);
    const fsck = await mlvJsonAsync(repo, ['fsck']);
    expect(fsck.code).toBe(6);
    expect(fsck.json.local.problems.map((p: { id: string; problem: string }) => `${p.problem} ${p.id}`)).toContain(`corrupt ${id}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Group 12: what a kill -9 leaves behind

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

describe.concurrent('leftovers of killed runs (group 12)', () => {
  for (const cmd of ['add', 'fetch', 'pull'] as const) {
    it(`${cmd} removes temp files of dead processes from .mlv/cache/tmp, keeps a live process's and resumable partial downloads`, async () => {
      const w = await world();
      const base = copyWorld(w.base);
      const repo = path.join(base, 'repo');
      const tmp = path.join(repo, '.mlv', 'cache', 'tmp');
      fs.mkdirSync(tmp, { recursive: true });
      const dead = deadPid();
      const deadTemps = [`${dead}-m1-0-abcdef`, `${dead}-m1-1-012345`];
      for (const t of deadTemps) fs.writeFileSync(path.join(tmp, t), 'half an object', { mode: 0o444 });
      const live = `${process.pid}-m1-0-livefe`;
      fs.writeFileSync(path.join(tmp, live), 'a live writer');
      // A partial download of an object this command does not need (model.bin is in the cache).
      const partial = `partial-${'e'.repeat(64)}`;
      fs.writeFileSync(path.join(tmp, partial), pseudoRandomBytes(MiB, 3));
      if (cmd === 'add') write(repo, 'new.bin', 'new data');
      else fs.rmSync(path.join(repo, 'data', 'a', '0.bin'));
      const r = await mlvAsync(repo, cmd === 'add' ? ['add', 'new.bin'] : [cmd]);
      expect(r.code, r.stderr).toBe(0);
      const left = fs.readdirSync(tmp).sort();
      expect(left).toEqual([live, partial].sort());
    });
  }

  it('checkout, push, gc, get and status leave those temp files alone (only add, fetch and pull clean up)', async () => {
    const w = await world();
    const base = copyWorld(w.base);
    const repo = path.join(base, 'repo');
    const tmp = path.join(repo, '.mlv', 'cache', 'tmp');
    fs.mkdirSync(tmp, { recursive: true });
    const t = `${deadPid()}-m1-0-abcdef`;
    fs.writeFileSync(path.join(tmp, t), 'half an object');
    const cleaned: string[] = [];
    for (const args of [['checkout'], ['push'], ['gc', '--grace', '0'], ['get', 'model.bin', '-o', path.join(base, 'm')], ['status']]) {
      const r = await mlvAsync(repo, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      if (!fs.existsSync(path.join(tmp, t))) {
        cleaned.push(args[0]!);
        fs.writeFileSync(path.join(tmp, t), 'half an object');
      }
    }
    // Not a promise of mlv: recorded so that the report says where cleaning happens.
    if (cleaned.length > 0) console.info(`these commands now also clean stale cache temps: ${cleaned.join(', ')}`);
    expect(cacheIds(repo).length).toBeGreaterThan(0);
  });

  it("a killed upload's `.tmp-<pid>-*` file on a folder remote is ignored by push, fetch, status --remote, fsck --remote and gc --cloud (and left there, as documented)", async () => {
    const w = await world();
    const base = copyWorld(w.base);
    const repo = path.join(base, 'repo');
    const id = w.files.get('a/1.bin')!;
    const shard = path.join(base, 'remote', id.slice(0, 2));
    const leftover = path.join(shard, `.tmp-${deadPid()}-3-${id.slice(0, 8)}`);
    fs.writeFileSync(leftover, 'the first half of an upl');
    for (const args of [['push'], ['fetch'], ['status', '--remote'], ['fsck', '--remote'], ['gc', '--cloud', '--all-commits', '--grace', '0']]) {
      const r = await mlvAsync(repo, args);
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr).not.toContain('.tmp-');
    }
    expect(fs.existsSync(leftover)).toBe(true);
    expect(fs.readFileSync(path.join(base, 'remote', relOf(id))).length).toBeGreaterThan(0);
  });

  // mlv bug / missing crash point: a checkout killed between creating `.mlv-tmp-<pid>-<n>` beside a
  // target file and renaming it (src/workspace/linker.ts) leaves a partial copy inside the tracked
  // folder. No later run removes it: status reports the folder modified, checkout refuses (exit 4,
  // "not tracked"), and `mlv add` records the partial temp file as part of the data set.
  it('a partial `.mlv-tmp-<dead pid>-0` left in a tracked folder by a killed checkout is cleaned by the next checkout', async () => {
    const w = await world();
    const repo = path.join(copyWorld(w.base), 'repo');
    const leftover = path.join(repo, 'data', 'a', `.mlv-tmp-${deadPid()}-0`);
    fs.writeFileSync(leftover, pseudoRandomBytes(1500, 77)); // half of a copy
    fs.rmSync(path.join(repo, 'data', 'a', '2.bin'));
    const r = await mlvAsync(repo, ['checkout']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(leftover)).toBe(false);
    expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);
  });

  // Minor: writeFileAtomic (pointer files, .gitignore) writes `.<name>.<pid>.<n>.tmp` beside the
  // file; after a kill between write and rename it stays in the workspace (Git shows it as
  // untracked) and the next add does not remove it.
  it('a pointer temp `.data.mlv.<dead pid>.0.tmp` left by a killed add is removed by the next add', async () => {
    const w = await world();
    const repo = path.join(copyWorld(w.base), 'repo');
    const leftover = path.join(repo, `.data.mlv.${deadPid()}.0.tmp`);
    fs.writeFileSync(leftover, 'version: 1\nhash: bla');
    write(repo, 'data/a/0.bin', 'changed');
    await run(repo, ['add', 'data']);
    expect(fs.existsSync(leftover)).toBe(false);
  });
});

it('the world of these tests: every file of data/ has its object in the cache, and the remote has them all', async () => {
  const w = await world();
  const repo = path.join(w.base, 'repo');
  for (const [p, id] of w.files) expect(blake3Hex(fs.readFileSync(path.join(repo, 'data', p))), p).toBe(id);
  expect(badRemoteObjects(path.join(w.base, 'remote'))).toEqual([]);
});

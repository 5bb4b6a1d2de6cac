/**
 * Two processes at once (reliability.md group 16, and the lock cases of group 12): two adds of one
 * folder, add during gc, two pushes of one data set from two clones (folder remote and S3), two
 * writers of one object into one cache, and the repository lock: a live holder (exit 7 naming it,
 * or waiting for it), the lock of a killed process, junk in the lock file.
 *
 * Already covered elsewhere (not repeated): acquireLock unit cases (timeouts, stale pid, junk older
 * than 2 s, future mtime: test/workspace/lock.test.ts), "two writers at once: one waits" with two
 * different targets and "a held lock makes writers wait, then fail with exit 7 and name the holder"
 * (test/cli/cli.test.ts), pushes racing on a server that ignores conditional writes
 * (test/remote/faults.test.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { blake3Hex, expectCleanError, lsTree, mlvAsync, mlvJsonAsync, pseudoRandomBytes, write } from '../helpers/assert.js';
import { GIT_ENV, MLV_BIN, cacheObjectBytes, git, tempDir, type RunResult } from '../helpers/cli.js';
import { openBucket, s3Env, type BucketView } from '../helpers/s3-server.js';
import { MiB, cacheIds, idOf, run } from '../remote/remote-helpers.js';
import { useS3Target } from '../remote/s3-fixture.js';
import { folderRemoteWorld } from './helpers.js';

/** MLV_RELIABILITY_STRICT=1 runs the cases of known mlv bugs as plain tests, to see how they fail. */

const s3 = useS3Target();

// ---------------------------------------------------------------------------------------------
// Helpers

const TREE_MAGIC = Buffer.from('mlv-tree 1\n');
const childrenOf = (b: Buffer) =>
  b.subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC)
    ? b
        .toString('utf8')
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split(' ')[1]!)
    : undefined;

/** Every cache object hashes to its name and every tree in the cache has its children there. */
function expectCacheSound(repo: string): Set<string> {
  const ids = new Set(cacheIds(repo));
  for (const id of ids) {
    const bytes = cacheObjectBytes(repo, id);
    expect(blake3Hex(bytes), `cache object ${id}`).toBe(id);
    for (const c of childrenOf(bytes) ?? []) expect(ids.has(c), `tree ${id} lacks ${c}`).toBe(true);
  }
  return ids;
}

/** Every object on a folder remote hashes to its name, trees complete, no temp files left. */
function expectFolderRemoteSound(root: string): Set<string> {
  const ids = new Set<string>();
  const trees: Array<[string, string[]]> = [];
  for (const shard of fs.readdirSync(root)) {
    for (const name of fs.readdirSync(path.join(root, shard))) {
      expect(name, 'a finished push leaves no temp files').not.toMatch(/^\.tmp-/);
      const bytes = fs.readFileSync(path.join(root, shard, name));
      expect(blake3Hex(bytes)).toBe(shard + name);
      ids.add(shard + name);
      const ch = childrenOf(bytes);
      if (ch) trees.push([shard + name, ch]);
    }
  }
  for (const [t, ch] of trees) for (const c of ch) expect(ids.has(c), `tree ${t} lacks ${c}`).toBe(true);
  return ids;
}

async function expectBucketSound(view: BucketView): Promise<Set<string>> {
  const ids = new Set<string>();
  const trees: Array<[string, string[]]> = [];
  for (const o of await view.list()) {
    const bytes = await view.get(o.key);
    expect(blake3Hex(bytes), o.key).toBe(idOf(o.key));
    ids.add(idOf(o.key));
    const ch = childrenOf(bytes);
    if (ch) trees.push([idOf(o.key), ch]);
  }
  for (const [t, ch] of trees) for (const c of ch) expect(ids.has(c), `tree ${t} lacks ${c}`).toBe(true);
  return ids;
}

async function newRepo(prefix: string): Promise<string> {
  const repo = path.join(tempDir(prefix), 'repo');
  fs.mkdirSync(repo);
  git(repo, ['init', '-q', '-b', 'main']);
  await run(repo, ['init', '-q']);
  return repo;
}

function commitAll(repo: string, message: string): void {
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-q', '-m', message]);
}

const expectOk = (r: RunResult, what: string) => expect(r.code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`).toBe(0);

/** Starts `mlv <args>` and returns the child (for signals) and its completion. */
function startMlv(cwd: string, args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(process.execPath, [MLV_BIN, ...args], { cwd, env: { ...process.env, ...GIT_ENV, MLV_DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
  return { child, done };
}

function readLock(repo: string): { pid: number; command: string } | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(repo, '.mlv', 'lock'), 'utf8')) as { pid: number; command: string };
  } catch {
    return undefined;
  }
}

function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

// ---------------------------------------------------------------------------------------------

describe.concurrent('two commands at once (group 16)', () => {
  it('two `mlv add data` of one folder at once: both succeed (one waits), one pointer, a sound cache, status clean; twice', async () => {
    const repo = await newRepo('mlv-conc-add-');
    for (let i = 0; i < 200; i++) write(repo, `data/d${i % 3}/${i}.bin`, pseudoRandomBytes(500 + i, i + 1));
    // The pointer a single add writes, from a copy.
    const single = path.join(tempDir('mlv-conc-add1-'), 'repo');
    fs.cpSync(repo, single, { recursive: true });
    await run(single, ['add', '-q', 'data']);
    const expected = fs.readFileSync(path.join(single, 'data.mlv'), 'utf8');
    for (const round of [1, 2]) {
      if (round === 2) {
        for (let i = 0; i < 20; i++) write(repo, `data/d0/${i}.bin`, `round 2: ${i}`);
      }
      const [a, b] = await Promise.all([mlvJsonAsync(repo, ['add', 'data']), mlvJsonAsync(repo, ['add', 'data'])]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      const statuses = [a.json.targets[0].status, b.json.targets[0].status].sort();
      expect(statuses).toEqual(round === 1 ? ['added', 'unchanged'] : ['unchanged', 'updated']);
      if (round === 1) expect(fs.readFileSync(path.join(repo, 'data.mlv'), 'utf8')).toBe(expected);
      expectCacheSound(repo);
      const st = await mlvJsonAsync(repo, ['status']);
      expect(st.json.clean).toBe(true);
      expect(git(repo, ['ls-files', '--stage', 'data.mlv'])).toContain(git(repo, ['hash-object', 'data.mlv']).trim());
      expect(fs.existsSync(path.join(repo, '.mlv', 'lock'))).toBe(false);
    }
  });

  it('add during gc (4 rounds, staggered starts, history and workspace scopes): gc never removes what add stored; fsck healthy and status clean after each round', async () => {
    const repo = await newRepo('mlv-conc-gc-');
    for (let i = 0; i < 250; i++) write(repo, `data/d${i % 4}/${i}.bin`, pseudoRandomBytes(300 + (i % 700), i + 7));
    await run(repo, ['add', '-q', 'data']);
    commitAll(repo, 'v1');
    for (let round = 0; round < 4; round++) {
      // A new version: 60 changed files and a new folder.
      for (let i = 0; i < 60; i++) write(repo, `data/d${i % 4}/${i}.bin`, `round ${round} file ${i}\n`);
      write(repo, `data/new${round}/x.bin`, `new in round ${round}`);
      // Workspace-only gc drops the committed versions, after which a history scope can no longer
      // read their listings (exit 5, by design): so it comes last.
      const gcArgs = ['gc', '--grace', '0', ['--all-commits', '--all-branches', '--all-commits', '--workspace'][round]!];
      const stagger = [0, 30, 80][round % 3]!;
      const first = round % 2 === 0 ? 'add' : 'gc';
      const addRun = (async () => {
        if (first === 'gc') await delay(stagger);
        return mlvAsync(repo, ['add', 'data']);
      })();
      const gcRun = (async () => {
        if (first === 'add') await delay(stagger);
        return mlvAsync(repo, gcArgs);
      })();
      const [a, g] = await Promise.all([addRun, gcRun]);
      expectOk(a, `round ${round}: add`);
      expectOk(g, `round ${round}: ${gcArgs.join(' ')}`);
      const fsck = await mlvJsonAsync(repo, ['fsck']);
      expect(fsck.code, JSON.stringify(fsck.json.local.problems)).toBe(0);
      expect(fsck.json.healthy).toBe(true);
      expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);
      if (round === 1) commitAll(repo, `round ${round}`);
    }
    // Everything the workspace needs is restorable from the cache.
    const before = lsTree(path.join(repo, 'data'));
    fs.rmSync(path.join(repo, 'data'), { recursive: true });
    await run(repo, ['checkout']);
    expect(lsTree(path.join(repo, 'data'))).toEqual(before);
  });
});

describe.concurrent("mlv and a Git command at once (Git's index lock)", () => {
  // mlv bug: staging goes through isomorphic-git, which rewrites .git/index in place and ignores
  // .git/index.lock. While a Git command holds that lock (it is writing index.lock, to rename it
  // over the index when done), `mlv add` still stages and reports "staged in Git: model.bin.mlv";
  // when Git finishes, its rename drops mlv's entries: the pointer and .gitignore are silently
  // unstaged. Git itself refuses ("Unable to create '.git/index.lock': File exists").
  it('mlv add while a Git command holds .git/index.lock: the pointer is not silently lost from the index', async () => {
    const repo = await newRepo('mlv-conc-gitlock-');
    commitAll(repo, 'init');
    write(repo, 'model.bin', 'model');
    const index = path.join(repo, '.git', 'index');
    fs.copyFileSync(index, `${index}.lock`); // a git command in progress
    const r = await mlvAsync(repo, ['add', 'model.bin']);
    fs.renameSync(`${index}.lock`, index); // ... and it finishes
    const staged = git(repo, ['ls-files']).split('\n');
    // Either mlv refused to stage (a clear error, pointer written, nothing claimed) or the pointer
    // survives in the index.
    if (r.code === 0) expect(staged).toContain('model.bin.mlv');
    else expect(r.stderr).toMatch(/index\.lock/);
  });
});

// ---------------------------------------------------------------------------------------------

/** A repository with data (3 folder levels) and model.bin committed (built once). */
let pushTemplate: Promise<string> | undefined;
/** Two exact copies of one repository ("two clones" with full caches). */
async function twoClones(prefix: string): Promise<[string, string]> {
  pushTemplate ??= (async () => {
    const a = await newRepo('mlv-conc-pushsrc-');
    for (let i = 0; i < 40; i++) write(a, `data/t${i % 2}/s${i % 4}/${i}.bin`, pseudoRandomBytes(200 + i * 13, i + 301));
    write(a, 'model.bin', pseudoRandomBytes(2 * MiB + 5, 302));
    await run(a, ['add', '-q', 'data', 'model.bin']);
    commitAll(a, 'v1');
    return a;
  })();
  const src = await pushTemplate;
  const copies = [0, 1].map(() => path.join(tempDir(prefix), 'repo'));
  for (const c of copies) fs.cpSync(src, c, { recursive: true });
  return copies as [string, string];
}

describe.concurrent('two pushes of the same data at once, from two clones (group 16)', () => {
  it('to one folder remote: both exit 0; the remote holds every object once, verified, trees complete, no temp files (2 rounds)', async () => {
    for (let round = 0; round < 2; round++) {
      const [a, b] = await twoClones('mlv-conc-push-');
      const remote = tempDir('mlv-conc-remote-');
      for (const r of [a, b]) await run(r, ['remote', 'add', '-q', '--default', 'origin', remote]);
      const jobs = ['1', '16'][round]!;
      const [pa, pb] = await Promise.all([mlvJsonAsync(a, ['push', '-j', jobs]), mlvJsonAsync(b, ['push', '-j', jobs])]);
      expect(pa.code, pa.stderr).toBe(0);
      expect(pb.code, pb.stderr).toBe(0);
      const ids = expectFolderRemoteSound(remote);
      expect([...ids].sort()).toEqual(cacheIds(a));
      expect(pa.json.transferred + pb.json.transferred).toBeGreaterThanOrEqual(ids.size);
    }
  });

  it('to one S3 bucket (s3rver): both exit 0, or a rerun converges (s3rver overwrites in place: a transient read-back failure, exit 9, is a known limitation)', async () => {
    const [a, b] = await twoClones('mlv-conc-s3push-');
    const ref = await s3.createBucket('conc-push');
    const view = openBucket(s3, ref);
    const env = s3Env(s3);
    for (const r of [a, b]) await run(r, ['remote', 'add', '-q', '--default', 'origin', ref.url]);
    const [pa, pb] = await Promise.all([mlvAsync(a, ['push'], env), mlvAsync(b, ['push'], env)]);
    for (const [r, repo] of [[pa, a], [pb, b]] as const) {
      if (r.code === 9) {
        console.warn(`concurrent S3 push: exit 9 (known s3rver limitation), rerunning:\n${r.stderr}`);
        expect(r.stderr).toMatch(/^failed: /m);
        expect(r.stderr).not.toMatch(/internal error/);
        expectOk(await mlvAsync(repo, ['push'], env), 'push rerun');
      } else {
        expectOk(r, 'push');
      }
    }
    const ids = await expectBucketSound(view);
    expect([...ids].sort()).toEqual(cacheIds(a));
  });
});

// ---------------------------------------------------------------------------------------------
// Two writers of one object into one cache. Commands that change the project take the lock, so two
// `fetch`es or `add`s in one repository never write at the same time; `mlv get` and `mlv export`
// fetch what the cache lacks without the lock, so two of them (or one beside a pull) do.

async function getWorld(big: boolean): Promise<{ src: string; clone: string; base: string }> {
  const { base, repo: src } = await folderRemoteWorld('mlv-conc-get-', 'src');
  for (let i = 0; i < 60; i++) write(src, `data/p${i % 3}/${i}.bin`, pseudoRandomBytes(1000 + i * 31, i + 501));
  if (big) write(src, 'data/big.bin', pseudoRandomBytes(16 * MiB + 3, 599));
  await run(src, ['add', '-q', 'data']);
  commitAll(src, 'v1');
  await run(src, ['push', '-q']);
  git(base, ['clone', '-q', 'src', 'clone']);
  return { src, clone: path.join(base, 'clone'), base };
}

function expectSameData(src: string, out: string): void {
  expect(lsTree(out)).toEqual(lsTree(path.join(src, 'data')));
}

function emptyCache(repo: string): void {
  const cache = path.join(repo, '.mlv', 'cache');
  if (fs.existsSync(cache)) for (const n of fs.readdirSync(cache)) fs.rmSync(path.join(cache, n), { recursive: true, force: true });
}

describe.concurrent('two writers of one object into one cache (group 16)', () => {
  it('two `mlv get` and an `mlv export` at once in a clone with an empty cache (small objects): all succeed, one sound copy of each object', async () => {
    const w = await getWorld(false);
    for (let round = 0; round < 2; round++) {
      emptyCache(w.clone);
      const outs = [path.join(w.base, `a${round}`), path.join(w.base, `b${round}`)];
      const tar = path.join(w.base, `c${round}.tar`);
      const [ga, gb, ex] = await Promise.all([
        mlvAsync(w.clone, ['get', 'data', '-o', outs[0]!]),
        mlvAsync(w.clone, ['get', 'data', '-o', outs[1]!]),
        mlvAsync(w.clone, ['export', 'data', '-o', tar]),
      ]);
      expectOk(ga, 'get a');
      expectOk(gb, 'get b');
      expectOk(ex, 'export');
      for (const o of outs) expectSameData(w.src, o);
      expect(fs.statSync(tar).size).toBeGreaterThan(60 * 1000);
      const ids = expectCacheSound(w.clone);
      expect(ids.size).toBeGreaterThanOrEqual(60);
      expect((await mlvAsync(w.clone, ['fsck'])).code).toBe(0);
    }
  });

  // mlv bug: downloads of 8 MiB or more go to the fixed name .mlv/cache/tmp/partial-<id>
  // (src/storage/download.ts). Two processes fetching the same large object (two `mlv get`, or a
  // `get` beside a `pull`: get takes no lock) open that one file with 'w' and write into it at
  // once: one truncates the other's bytes, the first to finish renames the file into the cache
  // while the other still writes, and the other then fails ("ENOENT ... chmod partial-<id>",
  // exit 9). Observed: exit 9 for one, exit 6 "cache object ... is corrupt" for the other, and
  // `mlv fsck` finding a corrupt object under its final name. A race, hit in most rounds here.
  it('two `mlv get` (and a get beside a pull) of a 16 MiB object at once: both succeed and the cache holds it intact', async () => {
    const w = await getWorld(true);
    for (let round = 0; round < 6; round++) {
      emptyCache(w.clone);
      fs.rmSync(path.join(w.clone, 'data'), { recursive: true, force: true });
      const out = (n: string) => path.join(w.base, `${n}${round}`);
      const second = round % 2 === 0 ? mlvAsync(w.clone, ['get', 'data', '-o', out('b')]) : mlvAsync(w.clone, ['pull']);
      const [ga, gb] = await Promise.all([mlvAsync(w.clone, ['get', 'data', '-o', out('a')]), second]);
      expectOk(ga, `round ${round}: get`);
      expectOk(gb, `round ${round}: ${round % 2 === 0 ? 'get' : 'pull'}`);
      expectSameData(w.src, out('a'));
      expectCacheSound(w.clone);
      expect((await mlvAsync(w.clone, ['fsck'])).code).toBe(0);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe.concurrent('the repository lock (groups 12 and 16)', () => {
  /** A repo with a big enough folder that `mlv add` holds the lock for a while. */
  async function lockRepo(): Promise<string> {
    const repo = await newRepo('mlv-conc-lock-');
    for (let i = 0; i < 300; i++) write(repo, `data/${i}.bin`, pseudoRandomBytes(2000, i + 901));
    write(repo, 'model.bin', 'model');
    return repo;
  }

  /** Starts `mlv add data` and stops it (SIGSTOP) while it holds the lock. */
  async function stoppedHolder(repo: string): Promise<{ child: ChildProcess; done: Promise<RunResult> }> {
    const h = startMlv(repo, ['add', 'data']);
    for (let i = 0; i < 2000; i++) {
      const lock = readLock(repo);
      if (lock?.pid === h.child.pid) {
        h.child.kill('SIGSTOP');
        // Still held (it could have finished between the read and the signal).
        if (readLock(repo)?.pid === h.child.pid) return h;
        h.child.kill('SIGCONT');
        break;
      }
      await delay(2);
    }
    throw new Error('could not catch mlv add holding the lock');
  }

  it('a live holder (a stopped `mlv add`): a second writer waits, then exits 7 naming "mlv add", its pid and host; nothing changed; the holder then finishes', async () => {
    const repo = await lockRepo();
    const h = await stoppedHolder(repo);
    try {
      const started = Date.now();
      const r = await mlvAsync(repo, ['add', 'model.bin'], { MLV_LOCK_TIMEOUT: '0.4' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
      expectCleanError(r, 7, new RegExp(`locked by "mlv add" \\(pid ${h.child.pid} on ${os.hostname().replace(/[.]/g, '\\.')}`));
      expect(r.stderr).toContain(path.join(repo, '.mlv', 'lock'));
      expect(fs.existsSync(path.join(repo, 'model.bin.mlv'))).toBe(false);
    } finally {
      h.child.kill('SIGCONT');
    }
    expectOk(await h.done, 'the holder');
    expectOk(await mlvAsync(repo, ['add', 'model.bin']), 'add after the holder');
  });

  it('a live holder: a second writer with a longer timeout waits for it, then succeeds', async () => {
    const repo = await lockRepo();
    const h = await stoppedHolder(repo);
    const started = Date.now();
    const second = mlvAsync(repo, ['add', 'model.bin'], { MLV_LOCK_TIMEOUT: '30' });
    await delay(600);
    h.child.kill('SIGCONT');
    const [first, r] = await Promise.all([h.done, second]);
    expectOk(first, 'the holder');
    expectOk(r, 'the waiter');
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);
  });

  it('the lock of a killed mlv (SIGKILL at add:before-pointer) is taken over at once by the next command', async () => {
    const repo = await lockRepo();
    const crashed = startMlv(repo, ['add', 'model.bin'], { MLV_TEST_CRASH_AT: 'add:before-pointer' });
    const r0 = await crashed.done;
    expect(r0.code).toBe(-1); // killed by a signal
    expect(readLock(repo)?.pid).toBe(crashed.child.pid);
    const started = Date.now();
    expectOk(await mlvAsync(repo, ['add', 'model.bin'], { MLV_LOCK_TIMEOUT: '30' }), 'add after the kill');
    expect(Date.now() - started, 'no waiting for a dead holder').toBeLessThan(5000);
    expect(fs.existsSync(path.join(repo, '.mlv', 'lock'))).toBe(false);
    expect(fs.readdirSync(path.join(repo, '.mlv')).filter((n) => n.startsWith('lock'))).toEqual([]);
  });

  it('junk in a fresh lock file: with a short timeout, exit 7 with one clear line; with the default timeout mlv waits until the junk is 2 s old, then takes it over', async () => {
    const repo = await lockRepo();
    const lock = path.join(repo, '.mlv', 'lock');
    fs.writeFileSync(lock, 'garbage\0\n');
    const r = await mlvAsync(repo, ['add', 'model.bin'], { MLV_LOCK_TIMEOUT: '0.3' });
    expectCleanError(r, 7, /locked by another process \(its lock file is being written or is unreadable\)/);
    expect(r.stderr).toContain(lock);
    fs.writeFileSync(lock, 'garbage again');
    const started = Date.now();
    expectOk(await mlvAsync(repo, ['add', 'model.bin']), 'add with the default timeout');
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(1500);
    expect(waited).toBeLessThan(10_000);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it.each([
    ['old junk text', 'not json at all'],
    ['an empty file', ''],
    ['JSON without a pid', '{"host":"h","command":"add"}'],
    ['a pid that is a string', `{"pid":"123","host":"${os.hostname()}","command":"add","started":"x"}`],
  ])('a lock file holding %s (older than 2 s) is taken over at once', async (_label, content) => {
    const repo = await lockRepo();
    const lock = path.join(repo, '.mlv', 'lock');
    fs.writeFileSync(lock, content);
    const t = Date.now() / 1000 - 60;
    fs.utimesSync(lock, t, t);
    const started = Date.now();
    expectOk(await mlvAsync(repo, ['add', 'model.bin'], { MLV_LOCK_TIMEOUT: '0.5' }), 'add');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('a lock of a dead pid on this host, written by hand, is taken over', async () => {
    const repo = await lockRepo();
    fs.writeFileSync(path.join(repo, '.mlv', 'lock'), JSON.stringify({ pid: deadPid(), host: os.hostname(), command: 'push', started: new Date().toISOString() }));
    expectOk(await mlvAsync(repo, ['add', 'model.bin'], { MLV_LOCK_TIMEOUT: '0.3' }), 'add');
  });

  // mlv bug: a folder at .mlv/lock makes readHolder() throw EISDIR: "error: internal error: EISDIR:
  // illegal operation on a directory, read" (exit 1) instead of a clear message.
  it('a folder where the lock file belongs: a clear one-line error, not an internal error', async () => {
    const repo = await lockRepo();
    fs.mkdirSync(path.join(repo, '.mlv', 'lock'));
    const r = await mlvAsync(repo, ['add', 'model.bin'], { MLV_LOCK_TIMEOUT: '0.3' });
    expect(r.stderr).not.toMatch(/internal error/);
    expect([7, 8]).toContain(r.code);
    expectCleanError(r, r.code, /lock/);
  });

  // mlv bug: readHolder() accepts any integer pid; process.kill(0, 0) and process.kill(-1, 0)
  // succeed (they address process groups), so a lock naming pid 0 or -1 looks alive forever:
  // every command fails with exit 7 "locked by "mlv add" (pid 0 on <host> ...)".
  for (const pid of [0, -1]) {
    it(`a lock naming pid ${pid} (junk that parses) is recognised as stale`, async () => {
      const repo = await lockRepo();
      const lock = path.join(repo, '.mlv', 'lock');
      fs.writeFileSync(lock, JSON.stringify({ pid, host: os.hostname(), command: 'add', started: 'x' }));
      const t = Date.now() / 1000 - 60;
      fs.utimesSync(lock, t, t);
      expectOk(await mlvAsync(repo, ['add', 'model.bin'], { MLV_LOCK_TIMEOUT: '0.5' }), 'add');
    });
  }
});

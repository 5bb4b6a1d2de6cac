/**
 * Crash safety (docs: /work/shared/reference/reliability.md, groups 15 and 12): mlv is killed with
 * SIGKILL at every crash point of add, checkout, push, fetch/pull and gc (MLV_TEST_CRASH_AT,
 * src/core/crash-points.ts), as a power cut or `kill -9` would. After each kill:
 *
 *  - the cache holds only objects whose bytes hash to their names, and no tree without its
 *    children (partial files only in .mlv/cache/tmp); the same on the folder or S3 remote (partial
 *    files only as `.tmp-*` on a folder remote);
 *  - the workspace's data is intact: add never touches originals, checkout leaves the old or the
 *    new version of each file (or removes a file whose content is in the cache);
 *  - the lock of the killed process is left behind, and the rerun takes it over;
 *
 * then the same command, rerun without the variable, succeeds and leaves exactly the state of a
 * clean run: workspace bytes and modes, pointers, .gitignore, the cache's object set, the remote's
 * object set and the Git index. Temp files of the killed process are gone after a rerun of add,
 * fetch and pull (the commands that call cleanStaleTemps).
 *
 * Every scenario is a "world" folder (`repo/`, `remote/`, sometimes `src/`) built once and copied
 * for each case; folder remotes are configured as `../remote`, relative to the project root, so a
 * copied world talks to its own remote.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blake3Hex, lsTree, mlvAsync, pseudoRandomBytes, write } from '../helpers/assert.js';
import { GIT_ENV, MLV_BIN, git, gitIndex, packedBytes, packedObjects, tempDir } from '../helpers/cli.js';
import { openBucket, s3Env, type BucketView } from '../helpers/s3-server.js';
import { MiB, cacheIds, cacheTemps, idOf, once, relOf, run, runJson } from '../remote/remote-helpers.js';
import { useS3Target } from '../remote/s3-fixture.js';
import { folderRemoteWorld } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Running mlv until it kills itself

interface Crashed {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `mlv <args>` with MLV_TEST_CRASH_AT=<at>; resolves with how it ended. */
function crashRun(cwd: string, args: string[], at: string, env: Record<string, string> = {}): Promise<Crashed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MLV_BIN, ...args], {
      cwd,
      env: { ...process.env, ...GIT_ENV, MLV_DEBUG: '', ...env, MLV_TEST_CRASH_AT: at },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ pid: child.pid!, code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
}

function expectKilled(r: Crashed, at: string): void {
  expect({ code: r.code, signal: r.signal }, `${at} was not reached (stdout: ${r.stdout}, stderr: ${r.stderr})`).toEqual({ code: null, signal: 'SIGKILL' });
}

/** The killed process's lock is left behind (the rerun must recognise it as stale). */
function expectStaleLock(repo: string, r: Crashed): void {
  const lock = path.join(repo, '.mlv', 'lock');
  expect(fs.existsSync(lock), 'a SIGKILLed command leaves its lock').toBe(true);
  expect((JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid: number }).pid).toBe(r.pid);
}

/** Temp files of process `pid`: in .mlv/cache/tmp (`<pid>-*`) and beside objects (`ab/.tmp-<pid>-*`). */
function cacheTempsOf(repo: string, pid: number): string[] {
  return cacheTemps(repo).filter((n) => {
    const name = path.posix.basename(n);
    return name.startsWith(`${pid}-`) || name.startsWith(`.tmp-${pid}-`);
  });
}

// ---------------------------------------------------------------------------------------------
// Independent checks of caches and remotes (BLAKE3 recomputed here, trees parsed here)

const TREE_MAGIC = Buffer.from('mlv-tree 1\n');

/** Child ids of a tree object, or undefined when the bytes are not a tree. */
function treeChildren(bytes: Buffer): string[] | undefined {
  if (!bytes.subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC)) return undefined;
  return bytes
    .toString('utf8')
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => l.split(' ')[1]!);
}

function expectTreesComplete(ids: Set<string>, trees: Map<string, string[]>, where: string): void {
  for (const [tree, children] of trees) {
    const missing = children.filter((c) => !ids.has(c));
    expect(missing, `${where}: tree ${tree} is published, but objects below it are not`).toEqual([]);
  }
}

/**
 * The cache proper holds only verified objects under `ab/<62 hex>` (and temp files `ab/.tmp-*` of
 * objects being written) and no tree without its children; anything else lives in tmp/,
 * incomplete/ or corrupt/. Returns the object ids.
 */
function checkCache(repo: string, label: string): Set<string> {
  const cache = path.join(repo, '.mlv', 'cache');
  const ids = new Set<string>();
  const trees = new Map<string, string[]>();
  if (!fs.existsSync(cache)) return ids;
  const bad: string[] = [];
  for (const shard of fs.readdirSync(cache)) {
    if (['tmp', 'incomplete', 'corrupt'].includes(shard)) continue;
    if (shard === 'packs') {
      for (const name of fs.readdirSync(path.join(cache, shard))) {
        if (!/^(pack-[0-9a-f]{32}\.(pack|idx)|\.tmp-[1-9][0-9]*-[0-9]+-[0-9a-z]+(\.idx)?)$/.test(name)) bad.push(`packs/${name}`);
      }
      for (const [id, e] of packedObjects(repo)) {
        const actual = blake3Hex(packedBytes(e));
        if (actual !== id) bad.push(`packed ${id} (hashes to ${actual})`);
        ids.add(id);
      }
      continue;
    }
    if (!/^[0-9a-f]{2}$/.test(shard)) {
      bad.push(shard);
      continue;
    }
    for (const rest of fs.readdirSync(path.join(cache, shard))) {
      // A temp file written beside its object (ab/.tmp-<pid>-<thread>-<n>): not an object, never listed as one.
      if (/^\.tmp-[1-9][0-9]*-[0-9]+-[0-9a-z]+$/.test(rest)) continue;
      if (!/^[0-9a-f]{62}$/.test(rest)) {
        bad.push(`${shard}/${rest}`);
        continue;
      }
      const id = shard + rest;
      const bytes = fs.readFileSync(path.join(cache, shard, rest));
      const actual = blake3Hex(bytes);
      if (actual !== id) bad.push(`${shard}/${rest} (hashes to ${actual})`);
      ids.add(id);
      const children = treeChildren(bytes);
      if (children) trees.set(id, children);
    }
  }
  expect(bad, `${label}: entries in the cache that are not verified objects`).toEqual([]);
  expectTreesComplete(ids, trees, `${label}: cache`);
  // Trees kept in incomplete/ are verified too.
  const inc = path.join(cache, 'incomplete');
  if (fs.existsSync(inc)) {
    for (const shard of fs.readdirSync(inc)) {
      for (const rest of fs.readdirSync(path.join(inc, shard))) {
        if (!/^[0-9a-f]{62}$/.test(rest)) continue; // <id>.<pid>.tmp of an interrupted write
        expect(blake3Hex(fs.readFileSync(path.join(inc, shard, rest))), `${label}: incomplete tree ${shard}${rest}`).toBe(shard + rest);
      }
    }
  }
  return ids;
}

/** A folder remote: verified objects, `.tmp-*` leftovers only, no tree without its children. */
function checkFolderRemote(root: string, label: string): { ids: Set<string>; temps: string[] } {
  const ids = new Set<string>();
  const trees = new Map<string, string[]>();
  const temps: string[] = [];
  const bad: string[] = [];
  for (const shard of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    if (!/^[0-9a-f]{2}$/.test(shard)) {
      bad.push(shard);
      continue;
    }
    for (const name of fs.readdirSync(path.join(root, shard))) {
      if (name.startsWith('.tmp-')) {
        temps.push(`${shard}/${name}`);
        continue;
      }
      if (!/^[0-9a-f]{62}$/.test(name)) {
        bad.push(`${shard}/${name}`);
        continue;
      }
      const bytes = fs.readFileSync(path.join(root, shard, name));
      const actual = blake3Hex(bytes);
      if (actual !== shard + name) bad.push(`${shard}/${name} (hashes to ${actual})`);
      ids.add(shard + name);
      const children = treeChildren(bytes);
      if (children) trees.set(shard + name, children);
    }
  }
  expect(bad, `${label}: entries on the folder remote that are not verified objects`).toEqual([]);
  expectTreesComplete(ids, trees, `${label}: remote`);
  return { ids, temps };
}

/**
 * An S3 remote: every key is a verified object, no tree without its children. With `killed`, on
 * the local s3rver only: s3rver writes a PUT's body straight to the object's final file, so an
 * upload cut off by the kill can leave a torn object under its key (a server artifact: S3 never
 * publishes a partial PUT). Such keys are logged and counted as absent (no tree may list them);
 * the rerun must repair them (checked strictly afterwards).
 */
async function checkBucket(view: BucketView, label: string, killed = false): Promise<Set<string>> {
  const ids = new Set<string>();
  const trees = new Map<string, string[]>();
  const bad: string[] = [];
  const torn: string[] = [];
  for (const o of await view.list()) {
    if (!/^[0-9a-f]{2}\/[0-9a-f]{62}$/.test(o.key)) {
      bad.push(o.key);
      continue;
    }
    const bytes = await view.tryGet(o.key);
    const actual = bytes && blake3Hex(bytes);
    if (actual !== idOf(o.key)) {
      if (killed && !s3.external) torn.push(`${o.key} (${bytes ? `${bytes.length} bytes` : 'unreadable'})`);
      else bad.push(`${o.key} (hashes to ${actual})`);
      continue;
    }
    ids.add(idOf(o.key));
    const children = treeChildren(bytes!);
    if (children) trees.set(idOf(o.key), children);
  }
  if (torn.length > 0) console.info(`${label}: s3rver kept ${torn.length} upload(s) cut off by the kill under their keys: ${torn.join(', ')}`);
  expect(bad, `${label}: keys on the bucket that are not verified objects`).toEqual([]);
  expectTreesComplete(ids, trees, `${label}: bucket`);
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Worlds: built once, copied per case

interface Final {
  /** The workspace: data, pointers, .gitignore (not .git, not .mlv). */
  files: Record<string, string>;
  cache: string[];
  index: string;
  remote?: string[];
}

function finalState(repo: string, remoteIds?: Set<string>): Final {
  const f: Final = { files: lsTree(repo, ['.git', '.mlv']), cache: cacheIds(repo), index: gitIndex(repo) };
  if (remoteIds) f.remote = [...remoteIds].sort();
  return f;
}

/** BLAKE3 of every regular file below `dir` (relative POSIX paths). */
/** Content ids of the files below `dir`; a checkout's own temp files (`.mlv-tmp-<pid>-<n>`, not data to mlv) are left out. */
function contentIds(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const abs = rel ? path.join(dir, rel) : dir;
    if (!fs.existsSync(abs)) return;
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      if (e.name.startsWith('.mlv-tmp-')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else out.set(r, blake3Hex(fs.readFileSync(path.join(abs, e.name))));
    }
  };
  walk('');
  return out;
}

function copyWorld(src: string): string {
  const dest = tempDir('mlv-crash-case-');
  fs.cpSync(src, dest, { recursive: true, verbatimSymlinks: true });
  return dest;
}

async function initAt(repo: string): Promise<void> {
  fs.mkdirSync(repo, { recursive: true });
  git(repo, ['init', '-q', '-b', 'main']);
  await run(repo, ['init', '-q']);
}

function commit(repo: string, message: string): void {
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-q', '-m', message]);
}

const bytesOf = (seed: number, size = 200 + ((seed * 97) % 2500)) => pseudoRandomBytes(size, seed);

/** The add scenario: data/ (a/, b/c/, an empty folder, an executable) and model.bin, untracked. */
const addWorld = once(async () => {
  const base = tempDir('mlv-crash-add-');
  const repo = path.join(base, 'repo');
  await initAt(repo);
  commit(repo, 'init');
  for (let i = 0; i < 12; i++) write(repo, `data/a/${String(i).padStart(3, '0')}.bin`, bytesOf(i + 1));
  for (let i = 0; i < 8; i++) write(repo, `data/b/c/${String(i).padStart(3, '0')}.bin`, bytesOf(i + 101));
  write(repo, 'data/b/run.sh', '#!/bin/sh\necho hi\n', 0o755);
  write(repo, 'data/labels.csv', 'a,1\nb,2\n');
  fs.mkdirSync(path.join(repo, 'data', 'empty'));
  write(repo, 'model.bin', pseudoRandomBytes(200_000, 7));
  return base;
});

/** 1,200 small files: add hashes them on worker threads (more than 1,000 misses). */
const manyWorld = once(async () => {
  const base = tempDir('mlv-crash-many-');
  const repo = path.join(base, 'repo');
  await initAt(repo);
  commit(repo, 'init');
  for (let i = 0; i < 1200; i++) write(repo, `data/d${i % 4}/${String(i).padStart(4, '0')}.txt`, `file ${i}\n`);
  return base;
});

/**
 * The checkout scenario: data v1 and v2 committed (v2 modifies 4 files, deletes 3, adds 3 in a new
 * folder and drops an executable bit); HEAD is detached at v1 while the workspace still holds v2,
 * so `mlv checkout` removes 7 files and writes 8.
 */
const checkoutWorld = once(async () => {
  const base = tempDir('mlv-crash-co-');
  const repo = path.join(base, 'repo');
  await initAt(repo);
  for (let i = 0; i < 8; i++) write(repo, `data/a/${String(i).padStart(3, '0')}.bin`, bytesOf(i + 201));
  for (let i = 0; i < 8; i++) write(repo, `data/b/${String(i).padStart(3, '0')}.bin`, bytesOf(i + 301));
  write(repo, 'data/run.sh', '#!/bin/sh\necho v1\n', 0o755);
  write(repo, 'data/labels.csv', 'v1\n');
  await run(repo, ['add', '-q', 'data']);
  commit(repo, 'v1');
  write(repo, 'data/a/000.bin', bytesOf(401));
  write(repo, 'data/a/001.bin', bytesOf(402));
  write(repo, 'data/b/000.bin', bytesOf(403));
  write(repo, 'data/labels.csv', 'v2\n');
  for (const f of ['a/007.bin', 'b/007.bin', 'b/006.bin']) fs.rmSync(path.join(repo, 'data', f));
  for (let i = 0; i < 3; i++) write(repo, `data/c/${i}.bin`, bytesOf(i + 501));
  fs.chmodSync(path.join(repo, 'data/run.sh'), 0o644);
  await run(repo, ['add', '-q', 'data']);
  commit(repo, 'v2');
  git(repo, ['checkout', '-q', 'HEAD~1']);
  return base;
});

/** checkoutWorld plus unsaved work: an edited file and an untracked one (checkout --force saves them). */
const forceWorld = once(async () => {
  const base = copyWorld(await checkoutWorld());
  const repo = path.join(base, 'repo');
  write(repo, 'data/a/001.bin', 'an edit that is not in the cache\n');
  write(repo, 'data/notes.txt', 'untracked notes, not in the cache\n');
  return base;
});

/** The push scenario: data (four trees on three levels) and model.bin committed; an empty folder remote. */
const pushWorld = once(async () => {
  const { base, repo } = await folderRemoteWorld('mlv-crash-push-');
  for (let i = 0; i < 10; i++) write(repo, `data/a/${i}.bin`, bytesOf(i + 601));
  for (let i = 0; i < 6; i++) write(repo, `data/b/c/${i}.bin`, bytesOf(i + 701));
  for (let i = 0; i < 2; i++) write(repo, `data/b/${i}.bin`, bytesOf(i + 801));
  write(repo, 'data/labels.csv', 'x,1\n');
  write(repo, 'model.bin', pseudoRandomBytes(150_000, 9));
  await run(repo, ['add', '-q', 'data', 'model.bin']);
  commit(repo, 'v1');
  return base;
});

/**
 * The pull scenario: `src/` pushed everything to `remote/`; `repo/` is a Git clone of src with an
 * empty cache and no data. With `big`, src also tracks big.bin (20 MiB, resumable download).
 */
async function buildPullWorld(big: boolean): Promise<string> {
  const { base, repo: src } = await folderRemoteWorld(big ? 'mlv-crash-partial-' : 'mlv-crash-pull-', 'src');
  for (let i = 0; i < 10; i++) write(src, `data/train/${i}.bin`, bytesOf(i + 901));
  for (let i = 0; i < 4; i++) write(src, `data/val/x/${i}.bin`, bytesOf(i + 951));
  write(src, 'data/labels.csv', 'y,1\n');
  write(src, 'model.bin', pseudoRandomBytes(120_000, 11));
  const targets = ['data', 'model.bin'];
  if (big) {
    write(src, 'big.bin', pseudoRandomBytes(BIG, 12));
    targets.push('big.bin');
  }
  await run(src, ['add', '-q', ...targets]);
  commit(src, 'v1');
  await run(src, ['push', '-q']);
  git(base, ['clone', '-q', 'src', 'repo']);
  return base;
}
const BIG = 20 * MiB + 777;
const pullWorld = once(() => buildPullWorld(false));
const partialWorld = once(() => buildPullWorld(true));

/**
 * The gc scenario: v1 and v2 committed, everything pushed to `remote/`, plus unreferenced objects in
 * the cache and on the remote: an untracked folder with nested trees (scratch/), an orphaned
 * version of data (a tree on two levels and a file) and of model.bin. `inScope` is what
 * `--all-commits` must keep, computed here from the Git history and the pointers.
 */
const gcWorld = once(async () => {
  const { base, repo } = await folderRemoteWorld('mlv-crash-gc-');
  for (let i = 0; i < 6; i++) write(repo, `data/a/${i}.bin`, bytesOf(i + 1001));
  for (let i = 0; i < 4; i++) write(repo, `data/b/${i}.bin`, bytesOf(i + 1101));
  write(repo, 'model.bin', bytesOf(1201, 5000));
  await run(repo, ['add', '-q', 'data', 'model.bin']);
  await run(repo, ['push', '-q']);
  commit(repo, 'v1');
  // An untracked folder with nested trees, pushed, then untracked and deleted.
  for (let i = 0; i < 6; i++) write(repo, `scratch/s/t${i % 2}/${i}.bin`, bytesOf(i + 1301));
  await run(repo, ['add', '-q', 'scratch']);
  await run(repo, ['push', '-q']);
  await run(repo, ['untrack', '-q', 'scratch']);
  fs.rmSync(path.join(repo, 'scratch'), { recursive: true });
  // v2
  for (let i = 0; i < 3; i++) write(repo, `data/a/${i}.bin`, bytesOf(i + 1401));
  for (let i = 0; i < 3; i++) write(repo, `data/c/${i}.bin`, bytesOf(i + 1501));
  write(repo, 'model.bin', bytesOf(1601, 5000));
  await run(repo, ['add', '-q', 'data', 'model.bin']);
  await run(repo, ['push', '-q']);
  commit(repo, 'v2');
  // An orphaned version, pushed and never committed.
  write(repo, 'data/b/0.bin', bytesOf(1701));
  write(repo, 'model.bin', bytesOf(1702, 5000));
  await run(repo, ['add', '-q', 'data', 'model.bin']);
  await run(repo, ['push', '-q']);
  git(repo, ['checkout', '-q', 'HEAD', '--', 'data.mlv', 'model.bin.mlv']);
  await run(repo, ['checkout', '-q']);
  // What --all-commits keeps: every commit's pointers and the workspace's.
  const cacheOf = (id: string) => fs.readFileSync(path.join(repo, '.mlv', 'cache', id.slice(0, 2), id.slice(2)));
  const inScope = new Set<string>();
  const walk = (id: string) => {
    inScope.add(id);
    for (const c of treeChildren(cacheOf(id)) ?? []) walk(c);
  };
  const pointerTexts: string[] = [];
  for (const c of git(repo, ['rev-list', '--all']).split('\n').filter(Boolean)) {
    for (const f of git(repo, ['ls-tree', '-r', '--name-only', c]).split('\n')) {
      if (f.endsWith('.mlv') && !f.startsWith('.mlv/')) pointerTexts.push(git(repo, ['show', `${c}:${f}`]));
    }
  }
  for (const f of ['data.mlv', 'model.bin.mlv']) pointerTexts.push(fs.readFileSync(path.join(repo, f), 'utf8'));
  for (const t of pointerTexts) walk(/^id: ([0-9a-f]{64})$/m.exec(t)![1]!);
  const all = checkCache(repo, 'gc world');
  expect(all.size - inScope.size, 'the gc world has unreferenced objects').toBeGreaterThanOrEqual(14);
  return { base, inScope };
});

/** A clean run of `args` in a fresh copy of a world: the state every rerun must reach. */
const cleanRuns = new Map<string, Promise<Final>>();
function cleanRun(world: () => Promise<string>, key: string, args: string[], remote = false): Promise<Final> {
  let p = cleanRuns.get(key);
  if (!p) {
    p = (async () => {
      const base = copyWorld(await world());
      const repo = path.join(base, 'repo');
      await run(repo, args);
      checkCache(repo, `clean ${key}`);
      return finalState(repo, remote ? checkFolderRemote(path.join(base, 'remote'), `clean ${key}`).ids : undefined);
    })();
    cleanRuns.set(key, p);
  }
  return p;
}

async function expectRerunOk(repo: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const r = await mlvAsync(repo, args, env);
  expect(r.code, `rerun of mlv ${args.join(' ')}: exit ${r.code}\n${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stderr).not.toMatch(/error:|internal/);
}

const s3 = useS3Target();

// ---------------------------------------------------------------------------------------------

/** MLV_RELIABILITY_STRICT=1 runs the cases of known mlv bugs as plain tests, to see how they fail. */

/*
 * A kill after the first target's pointer and .gitignore entry are written but before Git staging
 * (the last step): the rerun finds the pointer unchanged, yet stages it (and a .gitignore it
 * created) because the index does not have it.
 */
const ADD_CASES: Array<{ at: string }> = [
  { at: 'add:target' },
  { at: 'add:target@2' },
  { at: 'cache:publish@15' },
  { at: 'add:before-pointer' },
  { at: 'atomic:rename' },
  { at: 'add:after-pointer' },
  { at: 'add:after-pointer@2' },
  { at: 'add:before-stat-cache' },
  { at: 'add:before-stage' },
];

describe.concurrent('kill -9 during mlv add, then add again', () => {
  for (const c of ADD_CASES) {
    it(`${c.at}: originals intact, only verified objects in the cache; the rerun converges`, async () => {
      const clean = await cleanRun(addWorld, 'add', ['add', 'data', 'model.bin']);
      const repo = path.join(copyWorld(await addWorld()), 'repo');
      const originals = lsTree(repo, ['.git', '.mlv']);
      const indexBefore = gitIndex(repo);
      const r = await crashRun(repo, ['add', 'data', 'model.bin'], c.at);
      expectKilled(r, c.at);
      expectStaleLock(repo, r);
      // Originals untouched; pointers absent or complete (the clean run's bytes); nothing staged.
      const now = lsTree(repo, ['.git', '.mlv']);
      for (const [p, v] of Object.entries(originals)) expect(now[p], `original ${p}`).toBe(v);
      for (const p of ['data.mlv', 'model.bin.mlv']) if (now[p] !== undefined) expect(now[p], `pointer ${p} is whole`).toBe(clean.files[p]);
      expect(gitIndex(repo)).toBe(indexBefore);
      const ids = checkCache(repo, c.at);
      for (const id of ids) expect(clean.cache, `${c.at}: unexpected object ${id}`).toContain(id);
      if (c.at.startsWith('cache:publish')) expect(cacheTempsOf(repo, r.pid).length, 'the temp file being published is left behind').toBeGreaterThan(0);

      await expectRerunOk(repo, ['add', 'data', 'model.bin']);
      expect(cacheTempsOf(repo, r.pid), 'add removes temp files of dead processes').toEqual([]);
      checkCache(repo, `${c.at} rerun`);
      expect(finalState(repo)).toEqual(clean);
    });
  }

  it('pack:index in a hashing worker thread (1,200 small files, packed): no object of the unpublished pack is visible; the rerun converges and removes the leftovers', async () => {
    const clean = await cleanRun(manyWorld, 'many', ['add', 'data']);
    const repo = path.join(copyWorld(await manyWorld()), 'repo');
    const originals = lsTree(repo, ['.git', '.mlv']);
    const r = await crashRun(repo, ['add', 'data'], 'pack:index');
    expectKilled(r, 'pack:index');
    expect(lsTree(repo, ['.git', '.mlv'])).toEqual(originals);
    const ids = checkCache(repo, 'worker');
    expect(ids.size).toBeLessThan(clean.cache.length);
    expect(cacheTempsOf(repo, r.pid).length).toBeGreaterThan(0);
    await expectRerunOk(repo, ['add', 'data']);
    expect(cacheTempsOf(repo, r.pid)).toEqual([]);
    checkCache(repo, 'worker rerun');
    expect(finalState(repo)).toEqual(clean);
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * After a killed checkout every workspace file under data/ is the old or the new version, and a
 * file that is gone had content the cache holds.
 */
function expectOldOrNew(repo: string, before: Map<string, string>, after: Map<string, string>, ids: Set<string>, label: string): void {
  const now = contentIds(path.join(repo, 'data'));
  for (const [p, id] of now) {
    const allowed = [before.get(p), after.get(p)].filter(Boolean);
    expect(allowed, `${label}: data/${p} is neither the old nor the new version`).toContain(id);
  }
  for (const [p, id] of before) {
    if (!now.has(p)) expect(ids.has(id), `${label}: data/${p} was removed but its content ${id} is not in the cache`).toBe(true);
  }
}

/** The data folder after a clean checkout of a world (the new version). */
const newVersions = new Map<string, Promise<Map<string, string>>>();
function newVersionOf(world: () => Promise<string>, key: string, args: string[]): Promise<Map<string, string>> {
  let p = newVersions.get(key);
  if (!p) {
    p = (async () => {
      const repo = path.join(copyWorld(await world()), 'repo');
      await run(repo, args);
      return contentIds(path.join(repo, 'data'));
    })();
    newVersions.set(key, p);
  }
  return p;
}

const CHECKOUT_CASES = ['checkout:remove@4', 'checkout:write', 'checkout:write@5', 'link:rename@3', 'checkout:before-stat-cache'];
const FORCE_CASES = ['cache:publish@2', 'checkout:remove@3'];

describe.concurrent('kill -9 during mlv checkout, then checkout again', () => {
  for (const at of CHECKOUT_CASES) {
    it(`${at}: each file is the old or the new version; the rerun converges`, async () => {
      const clean = await cleanRun(checkoutWorld, 'checkout', ['checkout']);
      const repo = path.join(copyWorld(await checkoutWorld()), 'repo');
      const before = contentIds(path.join(repo, 'data'));
      const newIds = await newVersionOf(checkoutWorld, 'checkout', ['checkout']);
      const index = gitIndex(repo);
      const pointers = fs.readFileSync(path.join(repo, 'data.mlv'), 'utf8');
      const r = await crashRun(repo, ['checkout'], at);
      expectKilled(r, at);
      expectStaleLock(repo, r);
      const ids = checkCache(repo, at);
      expect([...ids].sort()).toEqual(clean.cache);
      expectOldOrNew(repo, before, newIds, ids, at);
      expect(gitIndex(repo)).toBe(index);
      expect(fs.readFileSync(path.join(repo, 'data.mlv'), 'utf8')).toBe(pointers);

      await expectRerunOk(repo, ['checkout']);
      checkCache(repo, `${at} rerun`);
      expect(finalState(repo)).toEqual(clean);
    });
  }

  for (const at of FORCE_CASES) {
    it(`--force, ${at}: unsaved content is in the workspace or the cache, never lost; the rerun converges`, async () => {
      const clean = await cleanRun(forceWorld, 'force', ['checkout', '--force']);
      const repo = path.join(copyWorld(await forceWorld()), 'repo');
      const before = contentIds(path.join(repo, 'data'));
      const unsaved = [before.get('a/001.bin')!, before.get('notes.txt')!];
      const newIds = await newVersionOf(forceWorld, 'force', ['checkout', '--force']);
      const r = await crashRun(repo, ['checkout', '--force'], at);
      expectKilled(r, at);
      const ids = checkCache(repo, at);
      const now = contentIds(path.join(repo, 'data'));
      for (const id of unsaved) expect(ids.has(id) || [...now.values()].includes(id), `${at}: unsaved content ${id} was lost`).toBe(true);
      expectOldOrNew(repo, before, newIds, ids, at);
      if (at.startsWith('cache:publish')) expect(cacheTempsOf(repo, r.pid).length).toBeGreaterThan(0);

      await expectRerunOk(repo, ['checkout', '--force']);
      checkCache(repo, `${at} rerun`);
      expect(finalState(repo)).toEqual(clean);
      // checkout does not call cleanStaleTemps: a temp left by a killed save stays until the next
      // add, fetch or pull (reported). It is never under a final name (checked above).
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe.concurrent('kill -9 during mlv push, then push again', () => {
  for (const at of ['push:object@9', 'push:tree', 'push:tree@3']) {
    it(`folder remote, ${at}: only verified objects and complete trees on the remote; the rerun converges`, async () => {
      const clean = await cleanRun(pushWorld, 'push', ['push'], true);
      const base = copyWorld(await pushWorld());
      const repo = path.join(base, 'repo');
      const before = finalState(repo);
      const r = await crashRun(repo, ['push'], at);
      expectKilled(r, at);
      expectStaleLock(repo, r);
      const remote = checkFolderRemote(path.join(base, 'remote'), at);
      expect(remote.ids.size).toBeLessThan(clean.remote!.length);
      expect(finalState(repo)).toEqual(before);
      // Uploads that were copying when the process died leave `.tmp-<pid>-*` files (documented in
      // docs/remotes.md: ignored, never cleaned).
      for (const t of remote.temps) expect(t).toMatch(new RegExp(`^[0-9a-f]{2}/\\.tmp-${r.pid}-`));
      await expectRerunOk(repo, ['push']);
      const after = checkFolderRemote(path.join(base, 'remote'), `${at} rerun`);
      expect(after.temps).toEqual(remote.temps);
      expect(finalState(repo, after.ids)).toEqual({ ...before, remote: clean.remote });
    });
  }

  for (const at of ['push:object@4', 'push:tree@2']) {
    it(`S3 remote (s3rver), ${at}: only verified objects and complete trees in the bucket; the rerun converges`, async () => {
      const clean = await cleanRun(pushWorld, 'push', ['push'], true);
      const repo = path.join(copyWorld(await pushWorld()), 'repo');
      const ref = await s3.createBucket(`crash-${at.replace(/[^a-z0-9]+/g, '-')}`);
      const view = openBucket(s3, ref);
      const env = s3Env(s3);
      await run(repo, ['remote', 'add', '-q', 's3', ref.url]);
      const before = finalState(repo);
      const r = await crashRun(repo, ['push', '-r', 's3'], at, env);
      expectKilled(r, at);
      const ids = await checkBucket(view, at, true);
      expect(ids.size).toBeLessThan(clean.remote!.length);
      await expectRerunOk(repo, ['push', '-r', 's3'], env);
      expect([...(await checkBucket(view, `${at} rerun`))].sort()).toEqual(clean.remote);
      expect(finalState(repo)).toEqual(before);
    });
  }
});

// ---------------------------------------------------------------------------------------------

const PULL_CASES = ['fetch:object@8', 'fetch:tree', 'cache:publish@5', 'pull:before-checkout', 'checkout:write@3'];

describe.concurrent('kill -9 during mlv pull / fetch, then run it again', () => {
  for (const at of PULL_CASES) {
    it(`pull, ${at}: only verified objects, trees last; workspace files are right or absent; the rerun converges`, async () => {
      const clean = await cleanRun(pullWorld, 'pull', ['pull']);
      const repo = path.join(copyWorld(await pullWorld()), 'repo');
      const index = gitIndex(repo);
      const r = await crashRun(repo, ['pull'], at);
      expectKilled(r, at);
      expectStaleLock(repo, r);
      const ids = checkCache(repo, at);
      for (const id of ids) expect(clean.cache).toContain(id);
      // Whatever was written is the right version.
      const now = lsTree(repo, ['.git', '.mlv']);
      for (const [p, v] of Object.entries(now)) expect(v, `${at}: ${p}`).toBe(clean.files[p]);
      expect(gitIndex(repo)).toBe(index);
      await expectRerunOk(repo, ['pull']);
      expect(cacheTempsOf(repo, r.pid), 'pull removes temp files of dead processes').toEqual([]);
      checkCache(repo, `${at} rerun`);
      expect(finalState(repo)).toEqual(clean);
    });
  }

  it('fetch, fetch:object@4: the rerun of fetch converges to a clean fetch', async () => {
    const clean = await cleanRun(pullWorld, 'fetch', ['fetch']);
    const repo = path.join(copyWorld(await pullWorld()), 'repo');
    const r = await crashRun(repo, ['fetch'], 'fetch:object@4');
    expectKilled(r, 'fetch:object@4');
    checkCache(repo, 'fetch:object@4');
    await expectRerunOk(repo, ['fetch']);
    expect(cacheTempsOf(repo, r.pid)).toEqual([]);
    expect(finalState(repo)).toEqual(clean);
  });

  it('fetch:partial (a 20 MiB object killed after 1 MiB): the partial file is kept, and the rerun resumes from it', async () => {
    const clean = await cleanRun(partialWorld, 'partial', ['pull']);
    const base = copyWorld(await partialWorld());
    const repo = path.join(base, 'repo');
    const bigId = /^id: ([0-9a-f]{64})$/m.exec(fs.readFileSync(path.join(repo, 'big.bin.mlv'), 'utf8'))![1]!;
    const r = await crashRun(repo, ['pull'], 'fetch:partial');
    expectKilled(r, 'fetch:partial');
    const ids = checkCache(repo, 'fetch:partial');
    expect(ids.has(bigId)).toBe(false);
    const partial = path.join(repo, '.mlv', 'cache', 'tmp', `partial-${bigId}`);
    expect(fs.existsSync(partial), 'the partial download is kept for resuming').toBe(true);
    const partialSize = fs.statSync(partial).size;
    expect(partialSize).toBeGreaterThanOrEqual(MiB);
    expect(partialSize).toBeLessThan(BIG);
    expect(fs.existsSync(path.join(repo, 'big.bin'))).toBe(false);
    // The small objects that did not arrive before the kill.
    const sizes = new Map<string, number>();
    const srcCache = path.join(base, 'remote');
    for (const id of clean.cache) sizes.set(id, fs.statSync(path.join(srcCache, relOf(id))).size);
    const fileIds = new Set<string>();
    for (const id of clean.cache) if (!treeChildren(fs.readFileSync(path.join(srcCache, relOf(id))))) fileIds.add(id);
    const smallMissing = [...fileIds].filter((id) => id !== bigId && !ids.has(id)).reduce((s, id) => s + sizes.get(id)!, 0);

    const j = await runJson<{ fetch: { transferredBytes: number } }>(repo, ['pull']);
    expect(j.fetch.transferredBytes, 'only the rest of the big object was downloaded').toBe(BIG - partialSize + smallMissing);
    expect(fs.existsSync(partial)).toBe(false);
    expect(blake3Hex(fs.readFileSync(path.join(repo, 'big.bin')))).toBe(bigId);
    checkCache(repo, 'fetch:partial rerun');
    expect(finalState(repo)).toEqual(clean);
  });
});

// ---------------------------------------------------------------------------------------------

const GC_ARGS = ['gc', '--all-commits', '--grace', '0', '--cloud'];
const GC_CASES: Array<{ at: string; args: string[] }> = [
  { at: 'gc:delete@7', args: GC_ARGS },
  { at: 'gc:delete-remote', args: GC_ARGS },
  { at: 'gc:delete-remote@7', args: GC_ARGS },
  { at: 'gc:delete@3', args: ['gc', '--all-commits', '--grace', '0'] },
];

describe.concurrent('kill -9 during mlv gc, then gc again', () => {
  for (const c of GC_CASES) {
    it(`${c.args.slice(1).join(' ')}, ${c.at}: everything in scope is still in the cache and on the remote, trees never lose children; the rerun converges`, async () => {
      const { inScope } = await gcWorld();
      const clean = await cleanRun(async () => (await gcWorld()).base, c.args.join(' '), c.args, true);
      const base = copyWorld((await gcWorld()).base);
      const repo = path.join(base, 'repo');
      const before = finalState(repo, checkFolderRemote(path.join(base, 'remote'), 'before').ids);
      const r = await crashRun(repo, c.args, c.at);
      expectKilled(r, c.at);
      expectStaleLock(repo, r);
      const cache = checkCache(repo, c.at);
      const remote = checkFolderRemote(path.join(base, 'remote'), c.at).ids;
      for (const id of inScope) {
        expect(cache.has(id), `${c.at}: ${id} in scope was removed from the cache`).toBe(true);
        expect(remote.has(id), `${c.at}: ${id} in scope was removed from the remote`).toBe(true);
      }
      if (c.at.includes('@')) expect(cache.size + remote.size, 'the kill happened part-way').toBeLessThan(before.cache.length + before.remote!.length);
      await expectRerunOk(repo, c.args);
      expect(finalState(repo, checkFolderRemote(path.join(base, 'remote'), `${c.at} rerun`).ids)).toEqual(clean);
      for (const id of inScope) expect(clean.cache).toContain(id);
    });
  }

  it('S3 remote (s3rver), gc --cloud killed at gc:delete-remote@5: everything in scope stays, trees keep their children; the rerun converges', async () => {
    const { base: worldBase, inScope } = await gcWorld();
    const clean = await cleanRun(async () => (await gcWorld()).base, GC_ARGS.join(' '), GC_ARGS, true);
    const repo = path.join(copyWorld(worldBase), 'repo');
    const ref = await s3.createBucket('crash-gc');
    const view = openBucket(s3, ref);
    const env = s3Env(s3);
    // The bucket gets exactly what the folder remote holds.
    const folder = checkFolderRemote(path.join(worldBase, 'remote'), 'world').ids;
    for (const id of folder) await view.put(relOf(id), fs.readFileSync(path.join(worldBase, 'remote', relOf(id))));
    await run(repo, ['remote', 'add', '-q', 's3', ref.url]);
    const args = ['gc', '--all-commits', '--grace', '0', '--cloud', '-r', 's3'];
    const r = await crashRun(repo, args, 'gc:delete-remote@5', env);
    expectKilled(r, 'gc:delete-remote@5');
    const ids = await checkBucket(view, 'gc s3', true);
    for (const id of inScope) expect(ids.has(id), `${id} in scope was removed from the bucket`).toBe(true);
    expect(ids.size).toBeLessThan(folder.size);
    await expectRerunOk(repo, args, env);
    expect([...(await checkBucket(view, 'gc s3 rerun'))].sort()).toEqual(clean.remote);
    expect(cacheIds(repo)).toEqual(clean.cache);
  });
});

/**
 * A project with a history, for the tests of the read-only history commands (`mlv ls`, `diff`,
 * `get`, `export`; docs/history.md), built with the real CLI:
 *
 *   main:        v1 (tag v1, annotated) -- v2 -- v3 (tag v3)
 *                                          \
 *   experiment:                             e1
 *
 * Each commit holds a tracked folder `data/` (nested subfolders, an empty folder, an empty file,
 * names with spaces and non-ASCII letters, ~35 small files) and a tracked file `models/model.bin`
 * (~300 KiB, different in each version). Between v1 and v2 exactly one file is renamed with the
 * same content, one deleted, one modified, one added and one changes only its executable bit
 * (V1_TO_V2 lists them). Every version is pushed with `mlv push` to the data remote (a folder, or
 * the S3 remote given), and the Git history to a bare repository `<originRoot>/origin.git` (serve
 * `originRoot` with startGitHttpServer for http:// URLs).
 *
 * The expected content of every version is computed here, independently of mlv: `files` maps each
 * project-relative path to its bytes and executable bit; ids are BLAKE3 of the bytes. The source
 * repository ends on main at v3 with every version's objects in its cache.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { expect } from 'vitest';
import { blake3Hex, lsTree, mlvAsync, pseudoRandomBytes, treeEntries, write } from './assert.js';
import { GIT_ENV, git, initRepo, snapshotTree, tempDir } from './cli.js';

export type VersionName = 'v1' | 'v2' | 'v3' | 'experiment';
export const VERSION_NAMES: VersionName[] = ['v1', 'v2', 'v3', 'experiment'];

export interface FileSpec {
  bytes: Buffer;
  exec: boolean;
}

export interface Version {
  name: VersionName;
  commit: string;
  /** Every tracked file, by project-relative path (`data/...`, `models/model.bin`). */
  files: Map<string, FileSpec>;
  /** Every folder below and including `data`, and `models`. */
  dirs: Set<string>;
  /** Tree ids of the folders of `data` (`data` itself: the pointer's id), read from the source cache. */
  trees: Map<string, string>;
  /** Bytes and file counts of the folders of `data`. */
  dirSizes: Map<string, { size: number; files: number }>;
  dataId: string;
  modelId: string;
  committerTime: number;
}

export interface History {
  /** The repository the history was made in: on main at v3, every version's objects in its cache. */
  source: string;
  /** The bare Git repository (`<originRoot>/origin.git`) holding main, experiment and the tags. */
  origin: string;
  originRoot: string;
  /** The data remote's URL, as committed in `.mlv/config` (remote `store`, the default). */
  remoteUrl: string;
  /** Environment for every mlv command (the S3 endpoint and credentials; {} for a folder). */
  env: Record<string, string>;
  versions: Record<VersionName, Version>;
  /** A fresh `git clone` of the origin (checked out at main = v3), with an empty mlv cache. */
  clone(...gitArgs: string[]): Promise<string>;
}

/** The changes from v1 to v2 (project-relative paths). */
export const V1_TO_V2 = {
  renamedFrom: 'data/train/old-name.bin',
  renamedTo: 'data/train/new-name.bin',
  deleted: 'data/val/0003.bin',
  modified: 'data/labels.csv',
  added: 'data/val/extra.bin',
  execChanged: 'data/scripts/run.sh',
  model: 'models/model.bin',
};

/** The changes from v2 to v3. */
export const V2_TO_V3 = {
  modified: 'data/sub/deep/x.txt',
  added: 'data/sub/deep/deeper/new.txt',
  deleted: 'data/sub/b.txt',
  model: 'models/model.bin',
};

/** The changes from v2 to experiment. */
export const V2_TO_EXPERIMENT = {
  modified: 'data/sub/a.txt',
  added: 'data/exp-only.txt',
};

const KiB = 1024;
const EMPTY_DIRS = ['data/empty'];

const text = (s: string) => ({ bytes: Buffer.from(s, 'utf8'), exec: false });
const bin = (size: number, seed: number) => ({ bytes: pseudoRandomBytes(size, seed), exec: false });

function v1Files(): Map<string, FileSpec> {
  const f = new Map<string, FileSpec>();
  f.set('data/README.txt', text('A small data set for the history tests.\n'));
  f.set('data/labels.csv', text(Array.from({ length: 40 }, (_, i) => `${i},${i % 5}`).join('\n') + '\n'));
  for (let i = 0; i < 16; i++) f.set(`data/train/${String(i).padStart(4, '0')}.bin`, bin(100 + ((i * 97) % 1900), 1000 + i));
  f.set('data/train/old-name.bin', bin(777, 4242));
  for (let i = 0; i < 6; i++) f.set(`data/val/${String(i).padStart(4, '0')}.bin`, bin(64 + i * 211, 2000 + i));
  f.set('data/sub/a.txt', text('alpha\n'));
  f.set('data/sub/b.txt', text('bravo\n'));
  f.set('data/sub/with space.txt', text('a name with a space\n'));
  f.set('data/sub/empty.txt', text(''));
  f.set('data/sub/deep/x.txt', text('x version 1\n'));
  f.set('data/sub/deep/y.bin', bin(3000, 3001));
  f.set('data/sub/deep/deeper/z.txt', text('deepest\n'));
  f.set('data/scripts/run.sh', text('#!/bin/sh\necho run\n'));
  f.set('data/scripts/tool.sh', { bytes: Buffer.from('#!/bin/sh\necho tool\n'), exec: true });
  f.set('data/ünïcödé/naïve café.txt', text('café\n'));
  f.set('data/ünïcödé/Zebra.txt', text('zebra\n'));
  f.set('models/model.bin', bin(300 * KiB + 1, 9001));
  return f;
}

function v2Files(v1: Map<string, FileSpec>): Map<string, FileSpec> {
  const f = new Map(v1);
  const c = V1_TO_V2;
  f.set(c.renamedTo, f.get(c.renamedFrom)!);
  f.delete(c.renamedFrom);
  f.delete(c.deleted);
  f.set(c.modified, text(Array.from({ length: 45 }, (_, i) => `${i},${(i * 3) % 5}`).join('\n') + '\n'));
  f.set(c.added, bin(555, 5555));
  f.set(c.execChanged, { bytes: f.get(c.execChanged)!.bytes, exec: true });
  f.set(c.model, bin(300 * KiB + 2, 9002));
  return f;
}

function v3Files(v2: Map<string, FileSpec>): Map<string, FileSpec> {
  const f = new Map(v2);
  f.set(V2_TO_V3.modified, text('x version 3, longer\n'));
  f.set(V2_TO_V3.added, text('new in v3\n'));
  f.delete(V2_TO_V3.deleted);
  f.set(V2_TO_V3.model, bin(300 * KiB + 3, 9003));
  return f;
}

function experimentFiles(v2: Map<string, FileSpec>): Map<string, FileSpec> {
  const f = new Map(v2);
  f.set(V2_TO_EXPERIMENT.modified, text('alpha, experimental\n'));
  f.set(V2_TO_EXPERIMENT.added, text('only on the experiment branch\n'));
  return f;
}

function dirsOf(files: Map<string, FileSpec>): Set<string> {
  const dirs = new Set<string>(EMPTY_DIRS);
  for (const p of files.keys()) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return dirs;
}

/** Makes the workspace's data/ and models/model.bin match `to`, changing only what differs from `from`. */
function applyFiles(repo: string, from: Map<string, FileSpec>, to: Map<string, FileSpec>): void {
  for (const p of from.keys()) if (!to.has(p)) fs.rmSync(path.join(repo, p));
  for (const [p, spec] of to) {
    const old = from.get(p);
    if (!old || !old.bytes.equals(spec.bytes)) write(repo, p, spec.bytes);
    if (!old || old.exec !== spec.exec || !old.bytes.equals(spec.bytes)) fs.chmodSync(path.join(repo, p), spec.exec ? 0o755 : 0o644);
  }
  for (const d of EMPTY_DIRS) fs.mkdirSync(path.join(repo, d), { recursive: true });
}

async function mlvOk(cwd: string, args: string[], env: Record<string, string>): Promise<string> {
  const r = await mlvAsync(cwd, args, env);
  if (r.code !== 0) throw new Error(`history: mlv ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function commit(repo: string, message: string): string {
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-q', '-m', message]);
  return git(repo, ['rev-parse', 'HEAD']).trim();
}

/** The id in a pointer file as committed at `rev`. */
function pointerIdAt(repo: string, rev: string, pointer: string): string {
  const m = /^id: ([0-9a-f]{64})$/m.exec(git(repo, ['show', `${rev}:${pointer}`]));
  if (!m) throw new Error(`history: no id in ${pointer} at ${rev}`);
  return m[1]!;
}

/**
 * Builds the history. `remote`: the data remote's URL and the environment mlv needs for it (S3);
 * default: a fresh folder remote.
 */
export async function buildHistory(remote?: { url: string; env: Record<string, string> }): Promise<History> {
  const env = remote?.env ?? {};
  const remoteUrl = remote?.url ?? tempDir('mlv-history-store-');
  const source = initRepo();
  const files: Record<VersionName, Map<string, FileSpec>> = {} as Record<VersionName, Map<string, FileSpec>>;
  files.v1 = v1Files();
  files.v2 = v2Files(files.v1);
  files.v3 = v3Files(files.v2);
  files.experiment = experimentFiles(files.v2);
  const commits = {} as Record<VersionName, string>;

  const record = async (name: VersionName, message: string) => {
    // The builder's own check: the workspace holds exactly the expected data.
    expect(snapshotTree(path.join(source, 'data'))).toEqual(expectedSnapshot(files[name], dirsOf(files[name]), 'data'));
    await mlvOk(source, ['add', 'data', 'models/model.bin'], env);
    commits[name] = commit(source, message);
    await mlvOk(source, ['push'], env);
  };

  applyFiles(source, new Map(), files.v1);
  await mlvOk(source, ['remote', 'add', '--default', 'store', remoteUrl], env);
  await record('v1', 'data v1');
  git(source, ['tag', '-a', '-m', 'version 1', 'v1']);

  applyFiles(source, files.v1, files.v2);
  await record('v2', 'data v2');

  applyFiles(source, files.v2, files.v3);
  await record('v3', 'data v3');
  git(source, ['tag', 'v3']);

  git(source, ['checkout', '-q', '-b', 'experiment', commits.v2]);
  await mlvOk(source, ['checkout'], env);
  applyFiles(source, files.v2, files.experiment);
  await record('experiment', 'experiment off v2');
  git(source, ['checkout', '-q', 'main']);
  await mlvOk(source, ['checkout'], env);
  expect(snapshotTree(path.join(source, 'data'))).toEqual(expectedSnapshot(files.v3, dirsOf(files.v3), 'data'));

  const originRoot = tempDir('mlv-history-origin-');
  const origin = path.join(originRoot, 'origin.git');
  git(originRoot, ['init', '-q', '--bare', '-b', 'main', origin]);
  git(source, ['remote', 'add', 'origin', origin]);
  git(source, ['push', '-q', 'origin', 'main', 'experiment', '--tags']);

  const versions = {} as Record<VersionName, Version>;
  for (const name of VERSION_NAMES) {
    const c = commits[name];
    const dataId = pointerIdAt(source, c, 'data.mlv');
    const modelId = pointerIdAt(source, c, 'models/model.bin.mlv');
    const f = files[name];
    // The trees mlv made must describe exactly the expected files (ids are BLAKE3 of the bytes).
    const trees = new Map<string, string>([['data', dataId]]);
    const seen = new Map<string, { id: string; exec: boolean; size: number }>();
    for (const [rel, e] of treeEntries(source, dataId)) {
      if (e.kind === 'dir') trees.set(`data/${rel}`, e.id);
      else seen.set(`data/${rel}`, { id: e.id, exec: e.exec, size: e.size });
    }
    const expectedData = [...f].filter(([p]) => p.startsWith('data/'));
    expect(new Map([...seen].sort()), `${name}: mlv's tree of data`).toEqual(
      new Map(expectedData.map(([p, s]) => [p, { id: blake3Hex(s.bytes), exec: s.exec, size: s.bytes.length }] as const).sort()),
    );
    expect(modelId).toBe(blake3Hex(f.get('models/model.bin')!.bytes));
    const dirs = dirsOf(f);
    const dirSizes = new Map<string, { size: number; files: number }>();
    for (const d of dirs) {
      if (!d.startsWith('data')) continue;
      const below = expectedData.filter(([p]) => p.startsWith(`${d}/`));
      dirSizes.set(d, { size: below.reduce((n, [, s]) => n + s.bytes.length, 0), files: below.length });
    }
    expect(new Set(trees.keys())).toEqual(new Set([...dirs].filter((d) => d.startsWith('data'))));
    versions[name] = {
      name,
      commit: c,
      files: f,
      dirs,
      trees,
      dirSizes,
      dataId,
      modelId,
      committerTime: Number(git(source, ['log', '-1', '--format=%ct', c]).trim()),
    };
  }

  return {
    source,
    origin,
    originRoot,
    remoteUrl,
    env,
    versions,
    async clone(...gitArgs: string[]) {
      const parent = tempDir('mlv-history-clone-');
      git(parent, ['clone', '-q', ...gitArgs, origin, 'repo']);
      return path.join(parent, 'repo');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Expectations

/**
 * What snapshotTree() of an output folder holding `prefix` of a version must give: keys relative
 * to `prefix` (a folder), files with bytes and exec bit, folders as 'dir'.
 */
export function expectedSnapshot(files: Map<string, FileSpec>, dirs: Set<string>, prefix: string): Map<string, { bytes: Buffer; exec: boolean } | 'dir'> {
  const out = new Map<string, { bytes: Buffer; exec: boolean } | 'dir'>();
  const under = `${prefix}/`;
  for (const d of dirs) if (d.startsWith(under)) out.set(d.slice(under.length), 'dir');
  for (const [p, s] of files) if (p.startsWith(under)) out.set(p.slice(under.length), { bytes: s.bytes, exec: s.exec });
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The expected snapshot of a version's `prefix` (a folder inside `data`, `data` itself, or `models`). */
export function expectedOf(v: Version, prefix: string) {
  return expectedSnapshot(v.files, v.dirs, prefix);
}

/**
 * `dir` holds exactly `expected` (every file's bytes and executable bit, every folder, nothing
 * else). Reports differences by path rather than dumping buffers.
 */
export function expectTreeEquals(dir: string, expected: Map<string, { bytes: Buffer; exec: boolean } | 'dir'>, what = dir): void {
  const actual = snapshotTree(dir);
  const keys = (m: Map<string, unknown>) => [...m.keys()].sort();
  expect(keys(actual), `${what}: paths`).toEqual(keys(expected));
  for (const [p, e] of expected) {
    const a = actual.get(p)!;
    if (e === 'dir') {
      expect(a, `${what}: ${p}`).toBe('dir');
      continue;
    }
    expect(a, `${what}: ${p} is a file`).not.toBe('dir');
    const f = a as { bytes: Buffer; exec: boolean };
    expect(f.bytes.equals(e.bytes), `${what}: bytes of ${p}`).toBe(true);
    expect(f.exec, `${what}: executable bit of ${p}`).toBe(e.exec);
  }
}

/** What read-only commands must leave as it was: working tree (pointers included), Git index, status. */
export interface CloneState {
  tree: Record<string, string>;
  mlvConfig: string;
  index: string;
  status: string;
  head: string;
}

export function cloneState(repo: string): CloneState {
  return {
    tree: lsTree(repo, ['.git', '.mlv']),
    mlvConfig: fs.readFileSync(path.join(repo, '.mlv', 'config'), 'utf8'),
    index: git(repo, ['ls-files', '-s']),
    status: git(repo, ['status', '--porcelain', '--untracked-files=all']),
    head: git(repo, ['rev-parse', 'HEAD']).trim(),
  };
}

// ---------------------------------------------------------------------------------------------
// Running mlv with binary output, tar archives

export { mlvRaw } from './assert.js';

export interface TarEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  size: number;
  data: Buffer;
}

/** Every entry of a tar archive, in order, with its header fields (pax headers applied). */
export async function readTar(archive: Buffer): Promise<TarEntry[]> {
  const extract = tarStream.extract();
  const out: TarEntry[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        out.push({
          name: header.name,
          type: header.type ?? 'file',
          mode: (header.mode ?? 0) & 0o7777,
          uid: header.uid ?? -1,
          gid: header.gid ?? -1,
          uname: header.uname ?? '',
          gname: header.gname ?? '',
          mtime: header.mtime ? Math.floor(header.mtime.getTime() / 1000) : -1,
          size: header.size ?? 0,
          data: Buffer.concat(chunks),
        });
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([archive]).pipe(extract);
  await done;
  return out;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------
// An ambiguous abbreviated commit id

/**
 * Writes two dangling commits (on v1's tree, v1 as parent) whose ids share their first 4 hex
 * digits, found by hashing candidate commit objects here (~300 SHA-1s) and writing only the two.
 * Returns the shared prefix and the two ids.
 */
export function makeAmbiguousCommits(repo: string, tree: string, parent: string): { prefix: string; ids: [string, string] } {
  const seen = new Map<string, { body: string; id: string }>();
  for (let i = 0; ; i++) {
    const body = `tree ${tree}\nparent ${parent}\nauthor a <a@example.invalid> 1700000000 +0000\ncommitter a <a@example.invalid> 1700000000 +0000\n\ncandidate ${i}\n`;
    const id = createHash('sha1').update(`commit ${Buffer.byteLength(body)}\0${body}`).digest('hex');
    const prefix = id.slice(0, 4);
    const other = seen.get(prefix);
    if (other) {
      for (const c of [other, { body, id }]) {
        const written = gitStdin(repo, ['hash-object', '-t', 'commit', '-w', '--stdin'], c.body).trim();
        if (written !== c.id) throw new Error(`hash-object wrote ${written}, expected ${c.id}`);
      }
      return { prefix, ids: [other.id, id] };
    }
    seen.set(prefix, { body, id });
  }
}

function gitStdin(cwd: string, args: string[], input: string): string {
  const r = spawnSync('git', args, { cwd, input, encoding: 'utf8', env: { ...process.env, ...GIT_ENV } });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

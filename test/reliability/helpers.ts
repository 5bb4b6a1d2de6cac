/**
 * Helpers for the reliability tests (docs: /shared/reference/reliability.md, "Bad inputs and
 * faults"): a full snapshot of everything a refused command must leave alone, and hand-made
 * pointer and tree objects, stored in a cache or on a folder remote under any id, to play the part
 * of a malicious colleague (hostile pointers committed in Git, hostile trees pushed to the remote).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { blake3Hex } from '../helpers/assert.js';
import { git, gitIndex, tempDir, type RunResult } from '../helpers/cli.js';
import { run } from '../remote/remote-helpers.js';

export { blake3Hex };

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Everything below `dir`, links not followed: files with their permission bits, size and a
 * SHA-256 of their bytes, folders, symbolic links with their target, special files. `skip` gets
 * each relative POSIX path and leaves it (and what is below it) out.
 */
export function listAll(dir: string, skip: (rel: string) => boolean = () => false, opts: { filesOnly?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch {
    return opts.filesOnly ? {} : { '': 'absent' };
  }
  if (!st.isDirectory()) return { '': describe(dir, st) };
  const walk = (rel: string) => {
    const abs = rel ? path.join(dir, rel) : dir;
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      const p = path.join(abs, name);
      const s = fs.lstatSync(p);
      if (!(opts.filesOnly && s.isDirectory())) out[r] = describe(p, s);
      if (s.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

function describe(p: string, st: fs.Stats): string {
  if (st.isSymbolicLink()) return `link -> ${fs.readlinkSync(p)}`;
  if (st.isDirectory()) return `dir ${(st.mode & 0o777).toString(8)}`;
  if (st.isFile()) return `file ${(st.mode & 0o777).toString(8)} ${st.size} ${sha256(fs.readFileSync(p))}`;
  return 'special';
}

export interface FullState {
  /** The workspace outside .git and .mlv: bytes, permission bits (so exec bits), links. */
  workspace: Record<string, string>;
  /** Every pointer file of the workspace, with its text. */
  pointers: Record<string, string>;
  /** .mlv's own files (config, config.local, .gitignore), not the cache or mlv's private state. */
  mlvFiles: Record<string, string>;
  /** Every object file in the cache (complete, incomplete and moved-aside ones), name and bytes (folders left out). */
  cache: Record<string, string>;
  /** `git ls-files -s`: the Git index. */
  index: string;
  /** All of .git (with `git: true`): hooks, config, refs, objects. */
  gitDir?: Record<string, string>;
  /** A folder remote's objects (with `remote`). */
  remote?: Record<string, string>;
  /** Folders or files outside the repository that must not change (with `outside`). */
  outside?: Record<string, Record<string, string>>;
}

export interface StateOptions {
  /** A folder remote to include. */
  remote?: string;
  /** Paths outside the repository (canaries) to include. */
  outside?: string[];
  /** Include every file of .git. */
  git?: boolean;
}

/** What a refused or hostile-input command must leave exactly as it was. */
export function fullState(repo: string, opts: StateOptions = {}): FullState {
  const workspace = listAll(repo, (r) => r === '.git' || r === '.mlv');
  const pointers: Record<string, string> = {};
  for (const rel of Object.keys(workspace)) {
    if (rel.endsWith('.mlv') && workspace[rel]!.startsWith('file ')) pointers[rel] = fs.readFileSync(path.join(repo, rel), 'latin1');
  }
  const mlvDir = path.join(repo, '.mlv');
  const state: FullState = {
    workspace,
    pointers,
    mlvFiles: listAll(mlvDir, (r) => ['cache', 'tmp', 'state', 'lock'].includes(r) || r.startsWith('lock.')),
    cache: listAll(path.join(mlvDir, 'cache'), (r) => r === 'tmp', { filesOnly: true }),
    index: fs.existsSync(path.join(repo, '.git')) ? gitIndex(repo) : '',
  };
  if (opts.git) state.gitDir = listAll(path.join(repo, '.git'));
  if (opts.remote !== undefined) state.remote = listAll(opts.remote);
  if (opts.outside) state.outside = Object.fromEntries(opts.outside.map((o) => [o, listAll(o)]));
  return state;
}

/** Compares two snapshots part by part, so a failure says which part changed. */
export function expectUnchanged(before: FullState, after: FullState, label = ''): void {
  for (const key of Object.keys(before) as Array<keyof FullState>) {
    expect(after[key], `${label}${label ? ': ' : ''}${key} changed`).toEqual(before[key]);
  }
}

// ---- hand-made objects ---------------------------------------------------------------------

export type EntryKind = 'f' | 'x' | 'd';

export interface RawEntry {
  kind: EntryKind;
  id: string;
  size: number;
  name: string;
  /** The name exactly as written in the line (default: JSON.stringify(name)). */
  rawName?: string;
}

/**
 * Tree bytes as docs/formats.md defines them: `mlv-tree 1`, then `<kind> <id> <size> <"name">`
 * lines sorted by the UTF-8 bytes of the names (a stable sort: duplicates stay), final LF. With
 * `sort: false` the entries keep the order given.
 */
export function treeBytes(entries: RawEntry[], opts: { sort?: boolean } = {}): Buffer {
  const list = opts.sort === false ? entries : [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  let text = 'mlv-tree 1\n';
  for (const e of list) text += `${e.kind} ${e.id} ${e.size} ${e.rawName ?? JSON.stringify(e.name)}\n`;
  return Buffer.from(text, 'utf8');
}

export interface Obj {
  id: string;
  bytes: Buffer;
  size: number;
}

/** A file object: its bytes and id. */
export function fileObject(content: string | Buffer): Obj {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
  return { id: blake3Hex(bytes), bytes, size: bytes.length };
}

/** A tree object from entries (see treeBytes); `size` is the sum of the entries' sizes. */
export function treeObject(entries: RawEntry[], opts: { sort?: boolean } = {}): Obj {
  const bytes = treeBytes(entries, opts);
  return { id: blake3Hex(bytes), bytes, size: entries.reduce((n, e) => n + e.size, 0) };
}

/** A tree entry for a file object. */
export function fileEntry(name: string, obj: Obj, exec = false): RawEntry {
  return { kind: exec ? 'x' : 'f', id: obj.id, size: obj.size, name };
}

/** A tree entry for a tree object. */
export function dirEntry(name: string, tree: Obj): RawEntry {
  return { kind: 'd', id: tree.id, size: tree.size, name };
}

export interface PointerFields {
  kind: 'file' | 'dir';
  path: string;
  id: string;
  size: number;
  files?: number;
  executable?: boolean;
  description?: string;
}

/** A pointer file as mlv writes it (docs/pointer-format.md); line 6 is `id`, line 7 `size`. */
export function pointerText(p: PointerFields): string {
  const lines = [
    '# mlv pointer file: commit it to Git. Format: docs/pointer-format.md',
    'version: 1',
    'hash: blake3',
    `kind: ${p.kind}`,
    `path: ${JSON.stringify(p.path)}`,
    `id: ${p.id}`,
    `size: ${p.size}`,
  ];
  if (p.kind === 'dir') lines.push(`files: ${p.files ?? 0}`);
  if (p.executable) lines.push('executable: true');
  if (p.description !== undefined) lines.push(`description: ${JSON.stringify(p.description)}`);
  return lines.join('\n') + '\n';
}

/** Writes `bytes` as object `id` (default: its own hash) below `root` (`ab/cdef...`). */
export function storeObject(root: string, bytes: Buffer, id: string = blake3Hex(bytes), opts: { readOnly?: boolean } = {}): string {
  const p = path.join(root, id.slice(0, 2), id.slice(2));
  fs.mkdirSync(path.dirname(p), { recursive: true });
  if (fs.existsSync(p)) fs.chmodSync(p, 0o644);
  fs.writeFileSync(p, bytes);
  if (opts.readOnly) fs.chmodSync(p, 0o444);
  return p;
}

/** Stores an object in a project's cache, read-only like mlv's own objects. */
export function storeInCache(repo: string, bytes: Buffer, id?: string): string {
  return storeObject(path.join(repo, '.mlv', 'cache'), bytes, id, { readOnly: true });
}

// ---- a malicious colleague ---------------------------------------------------------------

export interface HostileProject {
  /** Temp folder holding everything below. */
  parent: string;
  /** The attacker's repository (a plain Git repository with an mlv config). */
  attacker: string;
  /** The folder remote both use. */
  store: string;
  /** The victim's `git clone` of the attacker's repository (nothing run in it yet). */
  victim: string;
  /** A folder beside the victim's repository with a few files, which nothing may touch. */
  canary: string;
  /** The attacker's commit. */
  commit: string;
}

/** Writes a file below `root`, creating folders; strings are UTF-8, Buffers are written as is. */
export function put(root: string, rel: string, data: string | Buffer, mode?: number): void {
  const p = path.join(root, ...rel.split('/'));
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  if (mode !== undefined) fs.chmodSync(p, mode);
}

/**
 * The attack: a repository whose commit holds `files` (pointer files, written exactly as given)
 * and whose folder remote holds `remoteObjects` (each stored under `id`, default its own hash).
 * The victim clones it; nothing has been run in the clone yet.
 */
type Attack = { files: Record<string, string | Buffer>; objects: Array<Obj | { id: string; bytes: Buffer }> };
export function hostileProject(files: Record<string, string | Buffer>, remoteObjects: Array<Obj | { id: string; bytes: Buffer }>): HostileProject;
/** The same, with the attack built from the project's paths (e.g. an absolute path to its canary). */
export function hostileProject(build: (where: { parent: string; canary: string; store: string }) => Attack): HostileProject;
export function hostileProject(
  filesOrBuild: Record<string, string | Buffer> | ((where: { parent: string; canary: string; store: string }) => Attack),
  objects: Array<Obj | { id: string; bytes: Buffer }> = [],
): HostileProject {
  const parent = tempDir('mlv-hostile-');
  const attacker = path.join(parent, 'attacker');
  const store = path.join(parent, 'store');
  const canary = path.join(parent, 'outside');
  const { files, objects: remoteObjects } = typeof filesOrBuild === 'function' ? filesOrBuild({ parent, canary, store }) : { files: filesOrBuild, objects };
  fs.mkdirSync(store);
  put(canary, 'keep.txt', 'canary: must never change\n');
  put(canary, 'x', 'canary x\n');
  put(canary, 'passwd', 'root:x:0:0:canary:/root:/bin/sh\n');
  put(canary, 'hooks/pre-commit', '#!/bin/sh\nexit 0\n', 0o755);
  fs.mkdirSync(attacker);
  git(attacker, ['init', '-q', '-b', 'main']);
  put(attacker, '.mlv/.gitignore', '/config.local\n/cache/\n/tmp/\n/state/\n/lock\n/lock.*\n');
  put(attacker, '.mlv/config', `[remote "store"]\n\turl = ${store}\n[core]\n\tremote = store\n`);
  for (const [rel, data] of Object.entries(files)) put(attacker, rel, data);
  for (const o of remoteObjects) storeObject(store, o.bytes, o.id);
  git(attacker, ['add', '-A']);
  git(attacker, ['commit', '-q', '-m', 'data']);
  const commit = git(attacker, ['rev-parse', 'HEAD']).trim();
  const victim = path.join(parent, 'victim');
  git(parent, ['clone', '-q', attacker, victim]);
  return { parent, attacker, store, victim, canary, commit };
}

/** Commits a file into a repository with `git hash-object`/`update-index`, bypassing Git's path checks on the work tree. */
export function commitRaw(repo: string, entries: Array<{ path: string; data: string | Buffer; mode?: string }>, message = 'raw'): string {
  for (const e of entries) {
    const r = spawnSync('git', ['hash-object', '-w', '--stdin'], { cwd: repo, input: e.data });
    if (r.status !== 0) throw new Error(`git hash-object failed: ${r.stderr}`);
    const blob = r.stdout.toString().trim();
    git(repo, ['update-index', '--add', '--cacheinfo', `${e.mode ?? '100644'},${blob},${e.path}`]);
  }
  git(repo, ['commit', '-q', '-m', message]);
  return git(repo, ['rev-parse', 'HEAD']).trim();
}

// ---- assertions on what the user sees -----------------------------------------------------

/**
 * A refusal that may list several items first (exit 9 lists each failed object on a `failed:`
 * line; checkout after a failed fetch lists `not in the cache:` lines): every line is one of
 * mlv's own prefixes, at least one `error:` line, no stack trace, no internal error.
 */
export function expectListedError(r: RunResult, codes: number[], message?: RegExp): void {
  const ctx = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  expect(codes, ctx).toContain(r.code);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines.some((l) => l.startsWith('error: ')), ctx).toBe(true);
  for (const l of lines) expect(l, ctx).toMatch(/^(error|hint|failed|warning|not in the cache|corrupt|saved|removed): |^\.\.\. and \d+ more /);
  expect(r.stderr, ctx).not.toMatch(/^\s+at /m);
  expect(r.stderr + r.stdout, ctx).not.toMatch(/internal error|TypeError|RangeError|ReferenceError|ENOENT|EACCES/);
  if (message) expect(r.stderr, ctx).toMatch(message);
}

/** A fresh empty temp folder (removed after the test file). */
export function scratch(prefix = 'mlv-rel-'): string {
  return tempDir(prefix);
}

// ---- a small tracked project, copied per test ---------------------------------------------

export interface Project {
  /** Holds repo/, store/ (its folder remote) and outside/ (a canary folder beside the repository). */
  root: string;
  repo: string;
  store: string;
  canary: string;
}

/** The files of `trackedProject()`: a folder `data`, a file `model.bin`, an executable file `tool.sh`. */
export const PROJECT_FILES: Record<string, { text: string; mode: number }> = {
  'data/a.txt': { text: 'alpha\n', mode: 0o644 },
  'data/b.txt': { text: 'bravo\n', mode: 0o644 },
  'data/sub/c.sh': { text: '#!/bin/sh\necho c\n', mode: 0o755 },
  'model.bin': { text: 'model weights, version 1: 0123456789abcdef\n', mode: 0o644 },
  'tool.sh': { text: '#!/bin/sh\necho tool\n', mode: 0o755 },
};

let projectTemplate: Promise<Project> | undefined;

/**
 * A fresh copy of a project (built once per test file with the real CLI): `data`, `model.bin` and
 * `tool.sh` added, committed and pushed to a folder remote; a canary folder `outside/` beside the
 * repository. The copy has its own remote (its config is rewritten; commit it if a revision must
 * see it).
 */
export async function trackedProject(run: (cwd: string, args: string[]) => Promise<RunResult>): Promise<Project> {
  projectTemplate ??= (async () => {
    const root = tempDir('mlv-rel-tpl-');
    const repo = path.join(root, 'repo');
    const store = path.join(root, 'store');
    fs.mkdirSync(repo);
    fs.mkdirSync(store);
    git(repo, ['init', '-q', '-b', 'main']);
    for (const [rel, f] of Object.entries(PROJECT_FILES)) put(repo, rel, f.text, f.mode);
    await new Promise((r) => setTimeout(r, 120)); // past mlv's racy-file window
    for (const args of [['init'], ['remote', 'add', '--default', 'store', store], ['add', 'data', 'model.bin', 'tool.sh'], ['push']]) {
      const r = await run(repo, args);
      if (r.code !== 0) throw new Error(`mlv ${args.join(' ')} failed: ${r.stderr}`);
    }
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-q', '-m', 'v1']);
    return { root, repo, store, canary: path.join(root, 'outside') };
  })();
  const t = await projectTemplate;
  const root = tempDir('mlv-rel-');
  fs.cpSync(t.root, root, { recursive: true, verbatimSymlinks: true });
  const p: Project = { root, repo: path.join(root, 'repo'), store: path.join(root, 'store'), canary: path.join(root, 'outside') };
  const configPath = path.join(p.repo, '.mlv', 'config');
  fs.writeFileSync(configPath, fs.readFileSync(configPath, 'utf8').replace(t.store, p.store));
  put(p.canary, 'victim.bin', 'outside data: must never change\n');
  put(p.canary, 'tool-copy.sh', PROJECT_FILES['tool.sh']!.text, 0o644);
  put(p.canary, 'sub/c.sh', 'outside c.sh\n');
  return p;
}

/** The id and path (relative to the cache) of the object holding `text`. */
export function objectOf(text: string | Buffer): { id: string; rel: string } {
  const id = blake3Hex(Buffer.isBuffer(text) ? text : Buffer.from(text));
  return { id, rel: `${id.slice(0, 2)}/${id.slice(2)}` };
}

/**
 * A world folder: `<base>/<name>` a Git repository with mlv initialised, whose default remote
 * `origin` is the empty folder `<base>/remote`, named as `../remote` so that a copy of the world
 * talks to its own remote.
 */
export async function folderRemoteWorld(tempPrefix: string, name = 'repo'): Promise<{ base: string; repo: string }> {
  const base = tempDir(tempPrefix);
  const repo = path.join(base, name);
  fs.mkdirSync(repo);
  fs.mkdirSync(path.join(base, 'remote'));
  git(repo, ['init', '-q', '-b', 'main']);
  await run(repo, ['init', '-q']);
  await run(repo, ['remote', 'add', '-q', '--default', 'origin', '../remote']);
  return { base, repo };
}

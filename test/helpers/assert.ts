/**
 * Assertion helpers for the CLI end-to-end tests (test/cli). They only read files, the cache and
 * the Git index; every command under test is run through the real CLI (test/helpers/cli.ts).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, expect } from 'vitest';
import { GIT_ENV, MLV_BIN, cacheObjects, copyFixture, git, gitIndex, tempDir, type RunResult } from './cli.js';

const require = createRequire(import.meta.url);

/** Independent BLAKE3 (the native module mlv also uses, called directly here). */
export function blake3Hex(bytes: Uint8Array): string {
  const native = require('@napi-rs/blake-hash') as { blake3(input: Uint8Array): Buffer };
  return native.blake3(bytes).toString('hex');
}
/** BLAKE3 of the empty input (from the BLAKE3 reference test vectors). */
export const BLAKE3_EMPTY = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

/*
 * Async twins of mlv() / mlvJson() / initRepo() from cli.ts (same environment), so that the tests
 * of one file can run concurrently: vitest gives this suite a single worker on 2 cores, and the
 * tests mostly wait for child processes.
 */

/** Repositories made by the helpers below, removed after the test file (unless MLV_TEST_KEEP=1). */
const madeHere: string[] = [];
function ownTempDir(): string {
  const dir = tempDir();
  madeHere.push(dir);
  return dir;
}
afterAll(() => {
  if (process.env.MLV_TEST_KEEP === '1') return;
  for (const dir of madeHere.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `mlv <args>` in `cwd` without blocking, stdout as raw bytes (for `export -o -`); never rejects on a non-zero exit. */
export function mlvRaw(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MLV_BIN, ...args], {
      cwd,
      env: { ...process.env, ...GIT_ENV, MLV_DEBUG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** Runs `mlv <args>` in `cwd` without blocking; never rejects on a non-zero exit. */
export async function mlvAsync(cwd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const r = await mlvRaw(cwd, args, env);
  return { ...r, stdout: r.stdout.toString('utf8') };
}

/** Runs `mlv <args> --json` and parses stdout. */
export async function mlvJsonAsync<T = any>(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; json: T; stderr: string }> {
  const r = await mlvAsync(cwd, [...args, '--json'], env);
  try {
    return { code: r.code, json: JSON.parse(r.stdout) as T, stderr: r.stderr };
  } catch {
    throw new Error(`mlv ${args.join(' ')} --json did not print JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** A fresh Git repository with `mlv init` done. */
export async function initRepoAsync(): Promise<string> {
  const dir = ownTempDir();
  git(dir, ['init', '-q', '-b', 'main']);
  const r = await mlvAsync(dir, ['init']);
  if (r.code !== 0) throw new Error(`mlv init failed: ${r.stderr}`);
  return dir;
}

/**
 * mlv does not trust the stat cache for files modified within the last ~50 ms (Git's "racy"
 * files). Tests that count hashed files wait this long after writing data.
 */
export function settle(ms = 120): Promise<void> {
  return delay(ms);
}

/*
 * Repositories built once per test file by the real CLI and copied for each test (a copy behaves
 * like a fresh clone: new inodes, so mlv's stat cache starts cold). Saves an `mlv init` and an
 * `mlv add` per test.
 */
const templates = new Map<string, Promise<string>>();
async function fromTemplate(name: string, build: () => Promise<string>): Promise<string> {
  let template = templates.get(name);
  if (!template) {
    template = build();
    templates.set(name, template);
  }
  const src = await template;
  const dest = ownTempDir();
  fs.cpSync(src, dest, { recursive: true, verbatimSymlinks: true });
  await settle();
  return dest;
}

/** A fresh initialised repository with fixtures/basic copied into its root (nothing tracked). */
export function fixtureRepo(): Promise<string> {
  return fromTemplate('fixture', async () => {
    const repo = await initRepoAsync();
    copyFixture('basic', repo);
    return repo;
  });
}

/** fixtureRepo() with `mlv add dataset model.bin` done (staged, not committed). */
export function trackedRepo(): Promise<string> {
  return fromTemplate('tracked', async () => {
    const repo = await initRepoAsync();
    copyFixture('basic', repo);
    await settle();
    const r = await mlvAsync(repo, ['add', 'dataset', 'model.bin']);
    if (r.code !== 0) throw new Error(`mlv add failed: ${r.stderr}`);
    return repo;
  });
}

/** The path of an object in the cache, from its id. */
export function objectPath(repo: string, id: string): string {
  return path.join(repo, '.mlv', 'cache', id.slice(0, 2), id.slice(2));
}

/** Parses a pointer file into its keys, in order (comment lines skipped). */
export function readPointer(file: string): { keys: string[]; values: Record<string, string> } {
  const text = fs.readFileSync(file, 'utf8');
  const keys: string[] = [];
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z]+): (.*)$/.exec(line);
    if (!m) throw new Error(`unexpected pointer line in ${file}: ${JSON.stringify(line)}`);
    keys.push(m[1]!);
    values[m[1]!] = m[2]!;
  }
  return { keys, values };
}

export function pointerId(file: string): string {
  return readPointer(file).values.id!;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);

/**
 * Everything under `dir` (lstat, links not followed): files with a digest of their bytes and their
 * permission bits, folders, symbolic links with their target. `skip` lists top-level relative paths
 * to leave out (e.g. '.git').
 */
export function lsTree(dir: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const abs = rel ? path.join(dir, rel) : dir;
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip.includes(r)) continue;
      const p = path.join(abs, name);
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out[r] = `link -> ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[r] = 'dir';
        walk(r);
      } else if (st.isFile()) out[r] = `file ${(st.mode & 0o777).toString(8)} ${st.size} ${sha(fs.readFileSync(p))}`;
      else out[r] = 'special';
    }
  };
  walk('');
  return out;
}

export interface RepoState {
  /** The workspace and .mlv's configuration files (not .git, the cache, mlv's private state). */
  files: Record<string, string>;
  cache: string[];
  index: string;
}

/** What a refused command must leave untouched. */
export function repoState(repo: string): RepoState {
  return {
    files: lsTree(repo, ['.git', '.mlv/cache', '.mlv/state', '.mlv/tmp']),
    cache: cacheObjects(repo),
    index: fs.existsSync(path.join(repo, '.git')) ? gitIndex(repo) : '',
  };
}

/**
 * A refusal: the expected exit code, nothing on stdout, one `error:` line (plus an optional
 * `hint:` line) on stderr and no stack trace.
 */
export function expectCleanError(r: RunResult, code: number, message?: RegExp): void {
  const ctx = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  expect(r.code, ctx).toBe(code);
  expect(r.stdout, ctx).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines.length, ctx).toBeGreaterThanOrEqual(1);
  expect(lines[0], ctx).toMatch(/^error: \S/);
  expect(lines.filter((l) => l.startsWith('error:')).length, ctx).toBe(1);
  for (const l of lines.slice(1)) expect(l, ctx).toMatch(/^hint: /);
  expect(lines.length, ctx).toBeLessThanOrEqual(2);
  expect(r.stderr, ctx).not.toMatch(/^\s+at /m);
  expect(r.stderr, ctx).not.toMatch(/internal error/);
  if (message) expect(lines[0], ctx).toMatch(message);
}

/** Successful run: exit 0, nothing alarming on stderr. */
export function expectOk(r: RunResult): void {
  expect(r.code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  expect(r.stderr, `stderr: ${r.stderr}`).not.toMatch(/error:/);
}

/** Writes a file, creating parent folders. */
export function write(repo: string, rel: string, data: string | Buffer, mode?: number): void {
  const p = path.join(repo, ...rel.split('/'));
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  if (mode !== undefined) fs.chmodSync(p, mode);
}

/** Deterministic pseudo-random bytes (xorshift), so large test files are incompressible but stable. */
export function pseudoRandomBytes(size: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  for (; i < size; i++) buf[i] = (i * 31 + seed) & 0xff;
  return buf;
}

/** Makes a cache object writable, lets `mutate` change its bytes, and makes it read-only again. */
export function tamperObject(repo: string, id: string, mutate: (b: Buffer) => Buffer): void {
  const p = objectPath(repo, id);
  fs.chmodSync(p, 0o644);
  fs.writeFileSync(p, mutate(fs.readFileSync(p)));
  fs.chmodSync(p, 0o444);
}

/** Ids of every file below a folder pointer's tree, by path relative to the folder (reads the cache). */
export function treeFiles(repo: string, treeId: string): Map<string, { id: string; exec: boolean; size: number }> {
  const out = new Map<string, { id: string; exec: boolean; size: number }>();
  for (const [p, e] of treeEntries(repo, treeId)) if (e.kind === 'file') out.set(p, { id: e.id, exec: e.exec, size: e.size });
  return out;
}

/** Every entry below a tree in `repo`'s cache (incomplete trees too), parents before children. */
export function treeEntries(repo: string, treeId: string): Map<string, { id: string; kind: 'file' | 'dir'; exec: boolean; size: number }> {
  const out = new Map<string, { id: string; kind: 'file' | 'dir'; exec: boolean; size: number }>();
  const read = (id: string) => {
    const p = objectPath(repo, id);
    const alt = path.join(repo, '.mlv', 'cache', 'incomplete', id.slice(0, 2), id.slice(2));
    return fs.readFileSync(fs.existsSync(p) ? p : alt, 'utf8');
  };
  const walk = (id: string, prefix: string) => {
    const lines = read(id).split('\n').filter(Boolean);
    expect(lines[0]).toBe('mlv-tree 1');
    for (const line of lines.slice(1)) {
      const m = /^([fxd]) ([0-9a-f]{64}) (\d+) (".*")$/.exec(line);
      if (!m) throw new Error(`bad tree line ${line}`);
      const name = JSON.parse(m[4]!) as string;
      const p = prefix ? `${prefix}/${name}` : name;
      out.set(p, { id: m[2]!, kind: m[1] === 'd' ? 'dir' : 'file', exec: m[1] === 'x', size: Number(m[3]) });
      if (m[1] === 'd') walk(m[2]!, p);
    }
  };
  walk(treeId, '');
  return out;
}

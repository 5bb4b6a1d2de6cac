/**
 * Test helpers: spawn the real mlv CLI (bin/mlv.js, built into dist/) in temporary Git
 * repositories, and inspect files, the cache and the Git index.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MLV_BIN = path.join(ROOT, 'bin', 'mlv.js');
export const FIXTURES = path.join(ROOT, 'fixtures');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A fixed Git identity and no user or system config, for every git and mlv child process. */
export const GIT_ENV = {
  GIT_AUTHOR_NAME: 'mlv test',
  GIT_AUTHOR_EMAIL: 'test@example.invalid',
  GIT_COMMITTER_NAME: 'mlv test',
  GIT_COMMITTER_EMAIL: 'test@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: os.tmpdir(),
};

/** Runs `mlv <args>` in `cwd`; never throws on a non-zero exit. */
export function mlv(cwd: string, args: string[], env: Record<string, string> = {}): RunResult {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [MLV_BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...GIT_ENV, MLV_DEBUG: '', ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `mlv <args> --json` and parses stdout. */
export function mlvJson<T = any>(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; json: T; stderr: string } {
  const r = mlv(cwd, [...args, '--json'], env);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`mlv ${args.join(' ')} --json did not print JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, json, stderr: r.stderr };
}

export function git(cwd: string, args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, ...GIT_ENV } });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const made: string[] = [];
// Registered while the importing test file is collected, so it runs after that file's tests.
afterAll(() => {
  if (process.env.MLV_TEST_KEEP === '1') return;
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp folder, removed when the test process exits (unless MLV_TEST_KEEP=1). */
export function tempDir(prefix = 'mlv-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** A fresh Git repository with `mlv init` done. */
export function initRepo(): string {
  const dir = tempDir();
  git(dir, ['init', '-q', '-b', 'main']);
  const r = mlv(dir, ['init']);
  if (r.code !== 0) throw new Error(`mlv init failed: ${r.stderr}`);
  return dir;
}

/**
 * Copies fixtures/<name> into `dest`, then creates what Git cannot carry: empty folders listed in
 * the fixture's `.empty-dirs` file and the executable bit for files listed in `.executables`.
 */
export function copyFixture(name: string, dest: string): void {
  const src = path.join(FIXTURES, name);
  fs.cpSync(src, dest, { recursive: true, filter: (p) => !['.empty-dirs', '.executables'].includes(path.basename(p)) });
  const list = (file: string) => {
    const p = path.join(src, file);
    return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
  };
  for (const d of list('.empty-dirs')) fs.mkdirSync(path.join(dest, d), { recursive: true });
  for (const f of list('.executables')) fs.chmodSync(path.join(dest, f), 0o755);
}

/** Every regular file below `dir` with its bytes (hex-free: Buffer) and exec bit, keyed by POSIX path. */
export function snapshotTree(dir: string): Map<string, { bytes: Buffer; exec: boolean } | 'dir'> {
  const out = new Map<string, { bytes: Buffer; exec: boolean } | 'dir'>();
  const walk = (rel: string) => {
    const abs = rel ? path.join(dir, rel) : dir;
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.set(r, 'dir');
        walk(r);
      } else {
        const st = fs.statSync(path.join(abs, e.name));
        out.set(r, { bytes: fs.readFileSync(path.join(abs, e.name)), exec: (st.mode & 0o100) !== 0 });
      }
    }
  };
  walk('');
  return out;
}

/** Every object file in the cache (relative paths), sorted. */
export function cacheObjects(repo: string): string[] {
  const cache = path.join(repo, '.mlv', 'cache');
  const out = new Set<string>();
  if (!fs.existsSync(cache)) return [];
  for (const shard of fs.readdirSync(cache)) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const name of fs.readdirSync(path.join(cache, shard))) out.add(`${shard}/${name}`);
  }
  for (const id of packedObjects(repo).keys()) out.add(`${id.slice(0, 2)}/${id.slice(2)}`);
  return [...out].sort();
}

/**
 * Objects in the cache's packs, read from the pack indexes here rather than by mlv
 * (docs/formats.md: a 16-byte header with the count at byte 8, then 44-byte entries: id, offset
 * as two little-endian u32, size).
 */
export function packedObjects(repo: string): Map<string, { pack: string; offset: number; size: number }> {
  const dir = path.join(repo, '.mlv', 'cache', 'packs');
  const out = new Map<string, { pack: string; offset: number; size: number }>();
  if (!fs.existsSync(dir)) return out;
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.idx') && !n.startsWith('.'))) {
    const b = fs.readFileSync(path.join(dir, name));
    const count = b.readUInt32LE(8);
    for (let i = 0; i < count; i++) {
      const at = 16 + i * 44;
      const id = b.toString('hex', at, at + 32);
      if (!out.has(id)) out.set(id, { pack: path.join(dir, name.slice(0, -4) + '.pack'), offset: b.readUInt32LE(at + 32) + b.readUInt32LE(at + 36) * 2 ** 32, size: b.readUInt32LE(at + 40) });
    }
  }
  return out;
}

/** The stored bytes of a cache object, a file of its own or packed. */
export function cacheObjectBytes(repo: string, id: string): Buffer {
  const file = path.join(repo, '.mlv', 'cache', id.slice(0, 2), id.slice(2));
  if (fs.existsSync(file)) return fs.readFileSync(file);
  const e = packedObjects(repo).get(id);
  if (!e) throw new Error(`object ${id} is not in the cache of ${repo}`);
  return packedBytes(e);
}

/** The bytes at a packed object's place in its pack. */
export function packedBytes(e: { pack: string; offset: number; size: number }): Buffer {
  const fd = fs.openSync(e.pack, 'r');
  try {
    const out = Buffer.alloc(e.size);
    fs.readSync(fd, out, 0, e.size, e.offset);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** `git ls-files --stage` output: the Git index, to compare before and after a command. */
export function gitIndex(repo: string): string {
  return git(repo, ['ls-files', '--stage']);
}

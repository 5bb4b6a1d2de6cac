/**
 * Shared helpers of the remote tests (test/remote): generated data sets, Git plumbing for the
 * "colleague clones and pulls" loop, and independent checks of caches and remotes (object ids
 * recomputed with BLAKE3 here, trees parsed here).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { expect } from 'vitest';
import { blake3Hex, mlvAsync, pseudoRandomBytes, treeEntries, write } from '../helpers/assert.js';
import { cacheObjectBytes, cacheObjects, git, tempDir, type RunResult } from '../helpers/cli.js';
import type { BucketView } from '../helpers/s3-server.js';

export const MiB = 1024 * 1024;

/** `ab/cdef...` -> `abcdef...` */
export const idOf = (rel: string) => rel.replace('/', '');
/** `abcdef...` -> `ab/cdef...` */
export const relOf = (id: string) => `${id.slice(0, 2)}/${id.slice(2)}`;

/** Object ids in a repository's cache (the `ab/` shards only: no tmp, no incomplete trees). */
export function cacheIds(repo: string): string[] {
  return cacheObjects(repo).map(idOf).sort();
}

/** Every object file in the cache hashes to its name; returns how many were checked. */
export function expectCacheVerified(repo: string): number {
  const ids = cacheIds(repo);
  for (const id of ids) {
    const bytes = cacheObjectBytes(repo, id);
    expect(blake3Hex(bytes), `cache object ${id} does not hash to its name`).toBe(id);
  }
  return ids.length;
}

/** Files under .mlv/cache/tmp (partial downloads and temp files), temp files beside objects (ab/.tmp-*) and unpublished packs. */
export function cacheTemps(repo: string): string[] {
  const cache = path.join(repo, '.mlv', 'cache');
  const dir = path.join(cache, 'tmp');
  const out = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  for (const shard of fs.existsSync(cache) ? fs.readdirSync(cache) : []) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const name of fs.readdirSync(path.join(cache, shard))) if (name.startsWith('.tmp-')) out.push(`${shard}/${name}`);
  }
  // Pack temps, and a pack whose index was never published.
  const packs = path.join(cache, 'packs');
  const names = fs.existsSync(packs) ? fs.readdirSync(packs) : [];
  for (const name of names) if (name.startsWith('.tmp-') || (name.endsWith('.pack') && !names.includes(`${name.slice(0, -5)}.idx`))) out.push(`packs/${name}`);
  return out.sort();
}

export interface TreeNode {
  id: string;
  kind: 'file' | 'dir';
  size: number;
}

/** Every entry below a tree in `repo`'s cache (incomplete trees too), keyed by path relative to it. */
export function treeNodes(repo: string, treeId: string): Map<string, TreeNode> {
  const out = new Map<string, TreeNode>();
  for (const [p, e] of treeEntries(repo, treeId)) out.set(p, { id: e.id, kind: e.kind, size: e.size });
  return out;
}

/** The id in a pointer file. */
export function pointerIdOf(repo: string, target: string): string {
  const text = fs.readFileSync(path.join(repo, `${target}.mlv`), 'utf8');
  return /^id: ([0-9a-f]{64})$/m.exec(text)![1]!;
}

/** Ids of every object below `sub` of a tracked folder (the subfolder's tree and everything in it). */
export function idsBelow(repo: string, target: string, sub: string): string[] {
  const nodes = treeNodes(repo, pointerIdOf(repo, target));
  const ids = new Set<string>();
  const self = nodes.get(sub);
  if (self) ids.add(self.id);
  for (const [p, n] of nodes) if (p.startsWith(sub + '/')) ids.add(n.id);
  return [...ids].sort();
}

/**
 * A data set: `<root>/train/NNNN.bin` and `<root>/val/NNNN.bin` (small, distinct, pseudo-random),
 * `<root>/labels.csv`, written into `repo`.
 */
export function writeDataset(repo: string, root: string, train: number, val: number, seed = 1): void {
  for (let i = 0; i < train; i++) write(repo, `${root}/train/${String(i).padStart(4, '0')}.bin`, pseudoRandomBytes(64 + ((i * 37) % 1500), seed * 100_000 + i + 1));
  for (let i = 0; i < val; i++) write(repo, `${root}/val/${String(i).padStart(4, '0')}.bin`, pseudoRandomBytes(64 + ((i * 53) % 1500), seed * 100_000 + 50_000 + i + 1));
  write(repo, `${root}/labels.csv`, Array.from({ length: train + val }, (_, i) => `${i},${i % 7}`).join('\n') + '\n');
}

/** Runs mlv and fails the test (with its output) unless it exits with `code`. */
export async function run(cwd: string, args: string[], env: Record<string, string> = {}, code = 0): Promise<RunResult> {
  const r = await mlvAsync(cwd, args, env);
  expect(r.code, `mlv ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(code);
  return r;
}

/** Runs `mlv <args> --json`, expects `code`, returns the parsed output. */
export async function runJson<T = any>(cwd: string, args: string[], env: Record<string, string> = {}, code = 0): Promise<T> {
  const r = await run(cwd, [...args, '--json'], env, code);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`mlv ${args.join(' ')} --json printed no JSON:\n${r.stdout}\n${r.stderr}`);
  }
}

export function commitAll(repo: string, message: string): void {
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-q', '-m', message]);
}

/** A bare repository to push to and clone from. */
export function bareRepo(): string {
  const dir = tempDir('mlv-origin-');
  git(dir, ['init', '-q', '--bare', '-b', 'main']);
  return dir;
}

export function cloneRepo(origin: string): string {
  const parent = tempDir('mlv-clone-');
  git(parent, ['clone', '-q', origin, 'repo']);
  return path.join(parent, 'repo');
}

/** Objects in a folder remote: rel key -> size. */
export function folderObjects(root: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!fs.existsSync(root)) return out;
  for (const shard of fs.readdirSync(root).sort()) {
    const dir = path.join(root, shard);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const name of fs.readdirSync(dir).sort()) out.set(`${shard}/${name}`, fs.statSync(path.join(dir, name)).size);
  }
  return out;
}

/** Objects in a bucket view: rel key -> size. */
export async function bucketObjects(view: BucketView): Promise<Map<string, number>> {
  return new Map((await view.list()).map((o) => [o.key, o.size]));
}

/** Runs `fn` over items, at most `n` at once. */
export async function eachLimit<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Every object on a remote has the bytes of the same object in `repo`'s cache. */
export async function expectRemoteMatchesCache(repo: string, keys: string[], read: (rel: string) => Promise<Buffer>): Promise<void> {
  await eachLimit(keys, 16, async (key) => {
    const bytes = await read(key);
    expect(blake3Hex(bytes), `remote object ${key} does not hash to its name`).toBe(idOf(key));
    expect(bytes.equals(cacheObjectBytes(repo, idOf(key))), key).toBe(true);
  });
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs `make` on the first call; every call gets that one promise. */
export function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

/** Runs `body` on the case `open` gives, then stops the case whatever happens. */
export async function withCase<T extends { stop(): Promise<void> }>(open: Promise<T>, body: (c: T) => Promise<void>): Promise<void> {
  const c = await open;
  try {
    await body(c);
  } finally {
    await c.stop();
  }
}

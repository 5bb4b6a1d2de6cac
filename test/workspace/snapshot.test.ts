/**
 * Snapshots of a folder through the hashing pool: worker threads (packed result batches) and the
 * inline path must agree file by file, the stat cache must learn every hashed file, the tree must
 * not depend on whether its levels are kept, and a failing file must leave nothing behind.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlvError } from '../../dist/core/errors.js';
import { findRepo } from '../../dist/workspace/repo.js';
import { snapshotFolder } from '../../dist/workspace/snapshot.js';
import { StatCache } from '../../dist/workspace/stat-cache.js';
import { blake3Hex, initRepoAsync, pseudoRandomBytes, settle, treeFiles } from '../helpers/assert.js';
import { cacheTemps } from '../remote/remote-helpers.js';

/** Above twice the pool's worker threshold (1,000 files): even half of them go to worker threads. */
const FILES = 2500;
let repoDir: string;
const expected = new Map<string, { id: string; exec: boolean; size: number }>();

beforeAll(async () => {
  repoDir = await initRepoAsync();
  for (let i = 0; i < FILES; i++) {
    const rel = `d${i % 7}/s${i % 3}/f${i}.bin`;
    const bytes = pseudoRandomBytes(i % 5 === 0 ? 0 : 100 + (i % 300), i + 1);
    const abs = path.join(repoDir, 'data', rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, bytes, { mode: i % 11 === 0 ? 0o755 : 0o644 });
    expected.set(rel, { id: blake3Hex(bytes), exec: i % 11 === 0, size: bytes.length });
  }
  await settle();
}, 60_000);

afterAll(() => fs.rmSync(repoDir, { recursive: true, force: true }));

const freshStats = (repo: ReturnType<typeof findRepo>) => {
  fs.rmSync(repo.statCachePath, { force: true });
  return StatCache.load(repo.statCachePath);
};

describe('snapshotFolder', () => {
  it('workers and the inline path give the same ids, sizes and exec bits, file by file', async () => {
    const repo = findRepo(repoDir);
    const abs = path.join(repoDir, 'data');
    const pooled = await snapshotFolder(repo, abs, { mode: 'ingest', stats: freshStats(repo), jobs: 2, storeTrees: true });
    const inline = await snapshotFolder(repo, abs, { mode: 'hash', stats: freshStats(repo), jobs: 1 });
    expect(pooled.built.id).toBe(inline.built.id);
    expect(pooled.hashedFiles).toBe(FILES);
    expect(inline.hashedFiles).toBe(FILES);
    expect(pooled.built.files).toBe(FILES);
    expect(pooled.built.size).toBe([...expected.values()].reduce((s, e) => s + e.size, 0));
    for (const snap of [pooled, inline]) {
      snap.scan.files.forEach((rel, i) => {
        expect({ rel, id: snap.results.id(i), exec: snap.results.exec(i), size: snap.results.size(i) }).toEqual({ rel, ...expected.get(rel)! });
      });
    }
    // The trees stored by the pooled run list exactly the files on disk.
    const stored = treeFiles(repoDir, pooled.built.id);
    expect(new Map([...stored].sort())).toEqual(new Map([...expected].sort()));
    expect(cacheTemps(repoDir)).toEqual([]);
  });

  it('records every hashed file in the stat cache: the next snapshot reads nothing', async () => {
    const repo = findRepo(repoDir);
    const abs = path.join(repoDir, 'data');
    const stats = freshStats(repo);
    const first = await snapshotFolder(repo, abs, { mode: 'hash', stats, jobs: 2 });
    expect(first.hashedFiles).toBe(FILES);
    stats.save(repo.tmpDir);
    const again = await snapshotFolder(repo, abs, { mode: 'hash', stats: StatCache.load(repo.statCachePath), jobs: 2 });
    expect(again.hashedFiles).toBe(0);
    expect(again.built.id).toBe(first.built.id);
    expect(again.results.hashed(0)).toBe(false);
  });

  it('builds the same tree with and without keeping the levels', async () => {
    const repo = findRepo(repoDir);
    const abs = path.join(repoDir, 'data');
    const kept = await snapshotFolder(repo, abs, { mode: 'hash', stats: StatCache.load(repo.statCachePath), jobs: 2 });
    const lean = await snapshotFolder(repo, abs, { mode: 'hash', stats: StatCache.load(repo.statCachePath), jobs: 2, keepLevels: false });
    expect(lean.built.id).toBe(kept.built.id);
    expect(lean.built.levels.size).toBe(0);
    expect([...kept.built.levels.keys()].sort()).toEqual([...kept.scan.dirs].sort());
    expect(kept.built.levels.get('')!.map((e) => e.name)).toEqual(['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6']);
    expect(kept.built.ids.size).toBe(kept.scan.dirs.length);
  });

  it('scattered re-hashes through workers and links into the cache map back to their own files', async () => {
    const repo = findRepo(repoDir);
    const abs = path.join(repoDir, 'data');
    const stats = freshStats(repo);
    const ingested = await snapshotFolder(repo, abs, { mode: 'ingest', stats, jobs: 2 });
    stats.save(repo.tmpDir);
    // Every other file gets new times (same bytes): 1,250 misses at scattered positions.
    const later = new Date(Date.now() - 60_000);
    const touched = ingested.scan.files.filter((_, i) => i % 2 === 1);
    const wasTouched = new Set(touched);
    for (const rel of touched) fs.utimesSync(path.join(abs, rel), later, later);
    // Two symbolic links into the cache (the symlink strategy's files) count as their objects.
    const linkDir = path.join(abs, 'links');
    fs.mkdirSync(linkDir);
    const linked = ['d1/s1/f1.bin', 'd2/s2/f2.bin'];
    linked.forEach((rel, k) => fs.symlinkSync(repo.cache.loosePath(expected.get(rel)!.id), path.join(linkDir, `l${k}.bin`)));
    try {
      await settle();
      const snap = await snapshotFolder(repo, abs, { mode: 'hash', stats: StatCache.load(repo.statCachePath), jobs: 2 });
      expect(snap.hashedFiles).toBe(touched.length);
      snap.scan.files.forEach((rel, i) => {
        const want = rel.startsWith('links/') ? expected.get(linked[Number(rel[7])]!)!.id : expected.get(rel)!.id;
        expect({ rel, id: snap.results.id(i) }).toEqual({ rel, id: want });
        expect(snap.results.hashed(i)).toBe(wasTouched.has(rel));
      });
    } finally {
      fs.rmSync(linkDir, { recursive: true });
    }
  });

  it('a file that turns into a FIFO while workers hash: a typed error naming it, and no temp files left', async () => {
    const repo = findRepo(repoDir);
    const abs = path.join(repoDir, 'data');
    const victim = path.join(abs, 'd6', 's1', 'f1000.bin'); // i = 1000
    const bytes = fs.readFileSync(victim);
    const scan = (await import('../../dist/workspace/scan.js')).scanFolder(abs, repo.cache.dir);
    fs.rmSync(victim);
    execFileSync('mkfifo', [victim]);
    try {
      const err = await snapshotFolder(repo, abs, { mode: 'ingest', stats: freshStats(repo), jobs: 2, scan }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MlvError);
      expect((err as MlvError).code).toBe('UNSUPPORTED_FILE');
      expect((err as MlvError).message).toContain('f1000.bin');
      expect(cacheTemps(repoDir)).toEqual([]);
    } finally {
      fs.rmSync(victim);
      fs.writeFileSync(victim, bytes);
    }
  });
});

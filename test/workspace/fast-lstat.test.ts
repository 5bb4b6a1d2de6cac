import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FastLstat } from '../../dist/workspace/fast-lstat.js';
import { statKeyOf } from '../../dist/workspace/racy.js';
import { StatProbe } from '../../dist/workspace/stat-cache.js';
import { initRepo, mlvJson, tempDir } from '../helpers/cli.js';

const probeOfPath = (p: string) => StatProbe.of(statKeyOf(fs.lstatSync(p, { bigint: true })));

describe('FastLstat (stat-cache hot path without Stats objects)', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is available on this Node and gives exactly what fs.lstatSync gives', () => {
    expect(FastLstat.available).toBe(true);
    const fast = new FastLstat();
    const file = path.join(dir, 'a.bin');
    fs.writeFileSync(file, Buffer.alloc(12345, 7));
    fs.chmodSync(file, 0o755);
    for (let round = 0; round < 3; round++) {
      expect(fast.lstat(file)).toBe(true);
      expect([...fast.probe.words]).toEqual([...probeOfPath(file).words]);
      expect(fast.isFile).toBe(true);
      expect(fast.size).toBe(fs.statSync(file).size);
      expect(fast.mode & 0o777).toBe(0o755);
      fs.appendFileSync(file, 'more');
      fs.utimesSync(file, new Date(1_600_000_000_123), new Date(1_600_000_000_456 + round));
    }
  });

  it('reports folders and links as not regular files, and fails (for the slow path) on missing ones', () => {
    const fast = new FastLstat();
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.symlinkSync('sub', path.join(dir, 'link'));
    expect(fast.lstat(path.join(dir, 'sub'))).toBe(true);
    expect(fast.isFile).toBe(false);
    expect(fast.lstat(path.join(dir, 'link'))).toBe(true);
    expect(fast.isFile).toBe(false);
    expect(fast.lstat(path.join(dir, 'missing'))).toBe(false);
  });

  it('status finds the same changes with the portable path (MLV_PORTABLE_STAT=1) as with the fast one', () => {
    const repo = initRepo();
    try {
      fs.mkdirSync(path.join(repo, 'data/sub'), { recursive: true });
      for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(repo, `data/sub/f${i}`), `file ${i}`);
      expect(mlvJson(repo, ['add', 'data', '--json']).code).toBe(0);
      fs.writeFileSync(path.join(repo, 'data/sub/f7'), 'changed, same folder');
      fs.rmSync(path.join(repo, 'data/sub/f9'));
      for (const env of [{}, { MLV_PORTABLE_STAT: '1' }]) {
        const r = mlvJson(repo, ['status', '-v', '--json'], env);
        expect(r.json.targets[0].state).toBe('modified');
        expect(r.json.targets[0].paths).toEqual({ added: [], deleted: ['sub/f9'], modified: ['sub/f7'], unsupported: [] });
      }
    } finally {
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });
});

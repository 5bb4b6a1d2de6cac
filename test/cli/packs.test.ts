/**
 * The daily loop on a folder of many small files, which `mlv add` writes into packs: few files
 * are created in the cache, and checkout (copy and hard links), status, export, get, the files
 * API, push to a folder remote, a clone's pull, gc, fsck (a damaged byte in a pack, restored by
 * pull) and kills between a pack and its index all behave as with one file per object.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../dist/index.js';
import { blake3Hex, initRepoAsync, lsTree, mlvAsync, pseudoRandomBytes, settle, write } from '../helpers/assert.js';
import { cacheObjects, git, packedObjects } from '../helpers/cli.js';
import { cacheIds, cacheTemps, expectCacheVerified, run, runJson } from '../remote/remote-helpers.js';

/** Above the hashing pool's worker threshold (1,000 files), so the worker threads write packs. */
const FILES = 1500;
const BIG = 300 * 1024;
let repo: string;
let remote: string;
const expected: Record<string, string> = {};

function shardFiles(dir: string): number {
  const cache = path.join(dir, '.mlv', 'cache');
  return fs.readdirSync(cache).filter((s) => /^[0-9a-f]{2}$/.test(s)).reduce((n, s) => n + fs.readdirSync(path.join(cache, s)).length, 0);
}

beforeAll(async () => {
  repo = await initRepoAsync();
  remote = path.join(path.dirname(repo), `${path.basename(repo)}-remote`);
  fs.mkdirSync(remote);
  for (let i = 0; i < FILES; i++) {
    const rel = `data/d${i % 9}/f${i}.bin`;
    const bytes = pseudoRandomBytes(i < 2 ? BIG : 1 + ((i * 53) % 6000), i + 3);
    write(repo, rel, bytes, i % 13 === 0 ? 0o755 : 0o644);
    expected[rel] = blake3Hex(bytes);
  }
  await settle();
  await run(repo, ['add', 'data']);
  git(repo, ['commit', '-qm', 'data']);
  await run(repo, ['remote', 'add', '--default', 'origin', remote]);
  git(repo, ['commit', '-qam', 'remote']);
}, 120_000);

describe.sequential('packs in the daily loop', () => {
  it('add packs the small files: a handful of cache files, every object listed and hashing to its id', () => {
    const packed = packedObjects(repo);
    expect(packed.size).toBeGreaterThanOrEqual(FILES - 2 - 20);
    // Plain files left: the two large files and the trees (one per folder), nothing per small file.
    expect(shardFiles(repo)).toBeLessThanOrEqual(2 + 10 + 1);
    const ids = new Set(cacheIds(repo));
    for (const id of Object.values(expected)) expect(ids.has(id)).toBe(true);
    expect(packed.has(expected['data/d0/f0.bin']!)).toBe(false);
    expect(expectCacheVerified(repo)).toBe(ids.size);
  });

  it('status is clean; checkout after deleting the data writes every byte and mode back', async () => {
    expect((await run(repo, ['status'])).stdout).toContain('data: up to date');
    const before = lsTree(path.join(repo, 'data'));
    const exec = fs.statSync(path.join(repo, 'data/d0/f0.bin')).mode & 0o111;
    fs.rmSync(path.join(repo, 'data'), { recursive: true });
    await run(repo, ['checkout']);
    expect(lsTree(path.join(repo, 'data'))).toEqual(before);
    expect(fs.statSync(path.join(repo, 'data/d0/f0.bin')).mode & 0o111).toBe(exec);
    for (const [rel, id] of Object.entries(expected)) expect(blake3Hex(fs.readFileSync(path.join(repo, rel)))).toBe(id);
    const st = await run(repo, ['status']);
    expect(st.stdout).toContain('data: up to date');
  });

  it('export, get and the files API read packed objects byte for byte', async () => {
    const out = path.join(path.dirname(repo), `${path.basename(repo)}-export`);
    fs.mkdirSync(out);
    await run(repo, ['export', '--rev', 'HEAD', 'data', '-o', path.join(out, 'data.tar')]);
    execFileSync('tar', ['-xf', path.join(out, 'data.tar'), '-C', out]);
    expect(lsTree(path.join(out, 'data'))).toEqual(lsTree(path.join(repo, 'data')));
    const rel = 'data/d4/f40.bin';
    await run(repo, ['get', rel, '-o', path.join(out, 'one.bin')]);
    expect(blake3Hex(fs.readFileSync(path.join(out, 'one.bin')))).toBe(expected[rel]);
    expect(blake3Hex(await api.readFile({ cwd: repo, path: rel }))).toBe(expected[rel]);
  });

  it('with hard links, a packed object is taken out of its pack once and linked', async () => {
    await run(repo, ['config', '-q', 'core.link', 'hardlink,copy']);
    const rel = 'data/d1/f10.bin';
    fs.rmSync(path.join(repo, rel));
    await run(repo, ['checkout']);
    const st = fs.statSync(path.join(repo, rel));
    expect(st.nlink).toBe(2);
    const object = path.join(repo, '.mlv', 'cache', expected[rel]!.slice(0, 2), expected[rel]!.slice(2));
    expect(fs.statSync(object).ino).toBe(st.ino);
    expect(blake3Hex(fs.readFileSync(object))).toBe(expected[rel]);
    await run(repo, ['config', '-q', '--unset', 'core.link']);
    fs.rmSync(path.join(repo, rel));
    await run(repo, ['checkout']);
    git(repo, ['checkout', '-q', '--', '.mlv/config']);
  });

  it('push sends every packed object to a folder remote as a file; a clone pulls the same bytes', async () => {
    await run(repo, ['push']);
    const onRemote = fs.readdirSync(remote).filter((s) => /^[0-9a-f]{2}$/.test(s)).flatMap((s) => fs.readdirSync(path.join(remote, s)).map((n) => s + n));
    expect(onRemote.sort()).toEqual(cacheIds(repo));
    for (const id of onRemote) expect(blake3Hex(fs.readFileSync(path.join(remote, id.slice(0, 2), id.slice(2))))).toBe(id);
    const clone = path.join(path.dirname(repo), `${path.basename(repo)}-clone`);
    git(path.dirname(repo), ['clone', '-q', repo, clone]);
    await run(clone, ['pull']);
    expect(lsTree(path.join(clone, 'data'))).toEqual(lsTree(path.join(repo, 'data')));
    // The downloads went into packs too: the clone's cache holds a handful of files.
    expect(packedObjects(clone).size).toBeGreaterThanOrEqual(FILES - 2 - 20);
    expect(shardFiles(clone)).toBeLessThanOrEqual(2 + 10 + 1);
    expect(expectCacheVerified(clone)).toBe(cacheIds(repo).length);
  });

  it('get, which runs without the repository lock, stores what it downloads as files of their own, never in a pack', async () => {
    const clone = path.join(path.dirname(repo), `${path.basename(repo)}-clone-get`);
    git(path.dirname(repo), ['clone', '-q', repo, clone]);
    const out = path.join(clone, 'got');
    await run(clone, ['get', 'data/d3', '-o', out]);
    for (const [rel, id] of Object.entries(expected)) {
      if (rel.startsWith('data/d3/')) expect(blake3Hex(fs.readFileSync(path.join(out, rel.slice('data/d3/'.length))))).toBe(id);
    }
    expect(packedObjects(clone).size).toBe(0);
    expect(fs.existsSync(path.join(clone, '.mlv', 'cache', 'packs'))).toBe(false);
  });

  it('a damaged object on the remote fails only itself; the verified downloads around it are published', async () => {
    const rel = 'data/d7/f70.bin';
    const id = expected[rel]!;
    const onRemote = path.join(remote, id.slice(0, 2), id.slice(2));
    const good = fs.readFileSync(onRemote);
    fs.chmodSync(onRemote, 0o644);
    fs.writeFileSync(onRemote, Buffer.concat([Buffer.from([good[0]! ^ 1]), good.subarray(1)]));
    try {
      const clone = path.join(path.dirname(repo), `${path.basename(repo)}-clone2`);
      git(path.dirname(repo), ['clone', '-q', repo, clone]);
      const r = await mlvAsync(clone, ['fetch']);
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toContain(`failed: ${rel} (${id.slice(0, 12)})`);
      const ids = new Set(cacheIds(clone));
      expect(ids.has(id)).toBe(false);
      for (const other of Object.values(expected)) if (other !== id) expect(ids.has(other)).toBe(true);
      expect(expectCacheVerified(clone)).toBe(ids.size);
      expect(cacheTemps(clone)).toEqual([]);
    } finally {
      fs.writeFileSync(onRemote, good);
      fs.chmodSync(onRemote, 0o444);
    }
  });

  it('gc removes superseded packed objects and keeps the rest of their packs readable', async () => {
    const changed = Object.keys(expected).slice(100, 140);
    const old = changed.map((rel) => expected[rel]!);
    for (const rel of changed) {
      const bytes = Buffer.from(`changed ${rel}\n`);
      write(repo, rel, bytes);
      expected[rel] = blake3Hex(bytes);
    }
    await settle();
    await run(repo, ['add', 'data']);
    git(repo, ['commit', '-qam', 'change']);
    const gc = await runJson(repo, ['gc', '--grace', '0']);
    // The old files and the old trees of the nine folders and the root.
    expect(gc.local.removed).toBe(old.length + 10);
    const ids = new Set(cacheIds(repo));
    for (const id of old) expect(ids.has(id)).toBe(false);
    for (const id of Object.values(expected)) expect(ids.has(id)).toBe(true);
    expect(expectCacheVerified(repo)).toBe(ids.size);
    expect(cacheTemps(repo)).toEqual([]);
    const fsck = await runJson(repo, ['fsck']);
    expect(fsck.healthy).toBe(true);
  });

  it('gc killed after writing the new pack, before deleting the old: every object still verified, the rerun converges', async () => {
    const changed = Object.keys(expected).slice(200, 210);
    const old = changed.map((rel) => expected[rel]!);
    for (const rel of changed) {
      const bytes = Buffer.from(`changed again ${rel}\n`);
      write(repo, rel, bytes);
      expected[rel] = blake3Hex(bytes);
    }
    await settle();
    await run(repo, ['add', 'data']);
    git(repo, ['commit', '-qam', 'change again']);
    const killed = await mlvAsync(repo, ['gc', '--grace', '0'], { MLV_TEST_CRASH_AT: 'pack:drop' });
    expect(killed.code).toBe(-1);
    const during = new Set(cacheIds(repo));
    for (const id of Object.values(expected)) expect(during.has(id)).toBe(true);
    expect(expectCacheVerified(repo)).toBe(during.size);
    await run(repo, ['gc', '--grace', '0']);
    const ids = new Set(cacheIds(repo));
    for (const id of old) expect(ids.has(id)).toBe(false);
    for (const id of Object.values(expected)) expect(ids.has(id)).toBe(true);
    expect(cacheTemps(repo)).toEqual([]);
    expect((await runJson(repo, ['fsck'])).healthy).toBe(true);
  });

  it('fsck finds a damaged byte in a pack, moves that object aside, keeps the others; pull restores it', async () => {
    await run(repo, ['push']);
    const victimRel = 'data/d5/f500.bin';
    const victim = expected[victimRel]!;
    const e = packedObjects(repo).get(victim)!;
    fs.chmodSync(e.pack, 0o644);
    const fd = fs.openSync(e.pack, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, e.offset);
    b[0] = b[0]! ^ 0x40;
    fs.writeSync(fd, b, 0, 1, e.offset);
    fs.closeSync(fd);
    const objects = cacheObjects(repo).length;

    const fsck = await runJson(repo, ['fsck'], {}, 6);
    expect(fsck.local.checked).toBe(objects);
    expect(fsck.local.problems).toEqual([expect.objectContaining({ id: victim, problem: 'corrupt', where: 'cache', path: victimRel, movedTo: `.mlv/cache/corrupt/${victim}` })]);
    expect(fs.existsSync(path.join(repo, '.mlv', 'cache', 'corrupt', victim))).toBe(true);
    const ids = new Set(cacheIds(repo));
    expect(ids.has(victim)).toBe(false);
    for (const id of Object.values(expected)) if (id !== victim) expect(ids.has(id)).toBe(true);
    expect(expectCacheVerified(repo)).toBe(ids.size);

    await run(repo, ['pull']);
    expect((await runJson(repo, ['fsck'])).healthy).toBe(true);
    expect(blake3Hex(fs.readFileSync(path.join(repo, victimRel)))).toBe(victim);
  });

  it('killed between a pack and its index: nothing of it is visible, and the rerun publishes it and removes the leftovers', async () => {
    for (let i = 0; i < 200; i++) write(repo, `more/m${i}.txt`, `more ${i}\n`);
    await settle();
    const before = new Set(cacheIds(repo));
    const killed = await mlvAsync(repo, ['add', 'more'], { MLV_TEST_CRASH_AT: 'pack:index' });
    expect(killed.code).toBe(-1);
    expect(fs.existsSync(path.join(repo, 'more.mlv'))).toBe(false);
    expect(new Set(cacheIds(repo))).toEqual(before);
    expect(cacheTemps(repo).length).toBeGreaterThan(0);
    await run(repo, ['add', 'more']);
    expect(cacheTemps(repo)).toEqual([]);
    for (let i = 0; i < 200; i++) expect(new Set(cacheIds(repo)).has(blake3Hex(Buffer.from(`more ${i}\n`)))).toBe(true);
    expect((await runJson(repo, ['fsck'])).healthy).toBe(true);
  });
});

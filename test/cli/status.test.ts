import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheObjects } from '../helpers/cli.js';
import {
  expectCleanError,
  expectOk,
  initRepoAsync,
  mlvAsync,
  mlvJsonAsync,
  objectPath,
  pointerId,
  repoState,
  settle,
  write,
  trackedRepo,
} from '../helpers/assert.js';

const byPath = (json: any) => Object.fromEntries(json.targets.map((t: any) => [t.path, t]));

describe.concurrent('mlv status', () => {
  it('is up to date right after add', async () => {
    const repo = await trackedRepo();
    const { code, json } = await mlvJsonAsync(repo, ['status']);
    expect(code).toBe(0);
    expect(json).toEqual({
      targets: [
        { path: 'dataset', pointer: 'dataset.mlv', kind: 'dir', state: 'up-to-date', inCache: true },
        { path: 'model.bin', pointer: 'model.bin.mlv', kind: 'file', state: 'up-to-date', inCache: true },
      ],
      clean: true,
    });
    const r = await mlvAsync(repo, ['status']);
    expectOk(r);
    expect(r.stdout).toBe('dataset: up to date\nmodel.bin: up to date\neverything up to date\n');
  });

  it('status does not change the workspace, the cache or the index', async () => {
    const repo = await trackedRepo();
    write(repo, 'dataset/new.txt', 'new');
    fs.rmSync(path.join(repo, 'model.bin'));
    const before = repoState(repo);
    expectOk(await mlvAsync(repo, ['status', '-v']));
    expect(repoState(repo)).toEqual(before);
  });

  it('counts added, deleted and modified files in a folder (-v and --json list them)', async () => {
    const repo = await trackedRepo();
    write(repo, 'dataset/new.txt', 'brand new\n');
    write(repo, 'dataset/images/test/img_009.pbm', 'P1\n1 1\n1\n');
    fs.rmSync(path.join(repo, 'dataset', 'labels', 'val.csv'));
    write(repo, 'dataset/labels/train.csv', 'id,label\n1,dog\n');
    write(repo, 'dataset/ünïcödé dir/café ☕.txt', 'tea now\n');
    fs.chmodSync(path.join(repo, 'dataset', 'prepare.sh'), 0o644);

    const { code, json } = await mlvJsonAsync(repo, ['status']);
    expect(code).toBe(0);
    expect(json.clean).toBe(false);
    const ds = byPath(json).dataset;
    expect(ds).toMatchObject({ state: 'modified', kind: 'dir', inCache: true, changes: { added: 2, deleted: 1, modified: 3, unsupported: 0 } });
    expect([...ds.paths.added].sort()).toEqual(['images/test/img_009.pbm', 'new.txt']);
    expect(ds.paths.deleted).toEqual(['labels/val.csv']);
    expect([...ds.paths.modified].sort()).toEqual(['labels/train.csv', 'prepare.sh', 'ünïcödé dir/café ☕.txt']);
    expect(byPath(json)['model.bin'].state).toBe('up-to-date');

    const plain = await mlvAsync(repo, ['status']);
    expectOk(plain);
    expect(plain.stdout).toMatch(/^dataset: modified \(2 added, 1 deleted, 3 modified\)$/m);
    expect(plain.stdout).not.toMatch(/new\.txt/);

    const verbose = await mlvAsync(repo, ['status', '-v']);
    expectOk(verbose);
    expect(verbose.stdout).toMatch(/^ +added: +dataset\/new\.txt$/m);
    expect(verbose.stdout).toMatch(/^ +added: +dataset\/images\/test\/img_009\.pbm$/m);
    expect(verbose.stdout).toMatch(/^ +deleted: +dataset\/labels\/val\.csv$/m);
    expect(verbose.stdout).toMatch(/^ +modified: +dataset\/labels\/train\.csv$/m);
    expect(verbose.stdout).toMatch(/^ +modified: +dataset\/ünïcödé dir\/café ☕\.txt$/m);
    expect(verbose.stdout).toMatch(/^ +modified: +dataset\/prepare\.sh$/m);
  });

  it('a deleted subfolder counts all its files; a removed empty folder is still a change', async () => {
    const repo = await trackedRepo();
    fs.rmSync(path.join(repo, 'dataset', 'images'), { recursive: true });
    let ds = byPath((await mlvJsonAsync(repo, ['status'])).json).dataset;
    expect(ds.changes).toEqual({ added: 0, deleted: 3, modified: 0, unsupported: 0 });
    expect([...ds.paths.deleted].sort()).toEqual(['images/train/img_001.pbm', 'images/train/img_002.pbm', 'images/val/img_003.pbm']);

    const repo2 = await trackedRepo();
    fs.rmdirSync(path.join(repo2, 'dataset', 'empty-folder'));
    ds = byPath((await mlvJsonAsync(repo2, ['status'])).json).dataset;
    expect(ds.state).toBe('modified');
  });

  it('reports links inside a tracked folder as unsupported', async () => {
    const repo = await trackedRepo();
    fs.symlinkSync('../model.bin', path.join(repo, 'dataset', 'link.bin'));
    const ds = byPath((await mlvJsonAsync(repo, ['status'])).json).dataset;
    expect(ds.state).toBe('modified');
    expect(ds.changes.unsupported).toBe(1);
    expect(ds.paths.unsupported).toEqual(['link.bin']);
  });

  it('a modified single file', async () => {
    const repo = await trackedRepo();
    write(repo, 'model.bin', 'other weights, other size');
    const { json } = await mlvJsonAsync(repo, ['status']);
    expect(byPath(json)['model.bin']).toMatchObject({ state: 'modified', kind: 'file', inCache: true, changes: { modified: 1 } });
    expect(byPath(json).dataset.state).toBe('up-to-date');
    expect((await mlvAsync(repo, ['status'])).stdout).toMatch(/^model\.bin: modified$/m);
  });

  it('a file that lost its executable bit is modified', async () => {
    const repo = await initRepoAsync();
    write(repo, 'run.sh', '#!/bin/sh\n', 0o755);
    await settle();
    expectOk(await mlvAsync(repo, ['add', 'run.sh']));
    fs.chmodSync(path.join(repo, 'run.sh'), 0o644);
    expect((await mlvJsonAsync(repo, ['status'])).json.targets[0].state).toBe('modified');
  });

  it('a target missing from the workspace', async () => {
    const repo = await trackedRepo();
    fs.rmSync(path.join(repo, 'dataset'), { recursive: true });
    fs.rmSync(path.join(repo, 'model.bin'));
    const { code, json } = await mlvJsonAsync(repo, ['status']);
    expect(code).toBe(0);
    expect(json.targets).toEqual([
      { path: 'dataset', pointer: 'dataset.mlv', kind: 'dir', state: 'missing', inCache: true },
      { path: 'model.bin', pointer: 'model.bin.mlv', kind: 'file', state: 'missing', inCache: true },
    ]);
    expect(json.clean).toBe(false);
    expect((await mlvAsync(repo, ['status'])).stdout).toMatch(/^model\.bin: missing from the workspace \(restore it with mlv checkout\)$/m);
  });

  it('"not-in-cache" when the cache lost the objects', async () => {
    const repo = await trackedRepo();
    const cache = path.join(repo, '.mlv', 'cache');
    for (const o of cacheObjects(repo)) {
      fs.chmodSync(path.join(cache, o), 0o644);
      fs.rmSync(path.join(cache, o));
    }
    const { json } = await mlvJsonAsync(repo, ['status']);
    expect(json.targets.map((t: any) => [t.path, t.state, t.inCache])).toEqual([
      ['dataset', 'not-in-cache', false],
      ['model.bin', 'not-in-cache', false],
    ]);
    expect(json.clean).toBe(false);
    expect((await mlvAsync(repo, ['status'])).stdout).toMatch(/^model\.bin: not in the cache/m);

    // Missing from both places.
    fs.rmSync(path.join(repo, 'model.bin'));
    const t = byPath((await mlvJsonAsync(repo, ['status'])).json)['model.bin'];
    expect(t).toMatchObject({ state: 'missing', inCache: false });
    expect((await mlvAsync(repo, ['status'])).stdout).toMatch(/^model\.bin: missing from the workspace and not in the cache$/m);
  });

  it('a folder whose root tree object alone is gone is not in the cache', async () => {
    const repo = await trackedRepo();
    const id = pointerId(path.join(repo, 'dataset.mlv'));
    fs.rmSync(objectPath(repo, id));
    expect(byPath((await mlvJsonAsync(repo, ['status'])).json).dataset).toMatchObject({ state: 'not-in-cache', inCache: false });
  });

  it('an invalid pointer is reported as "invalid" and the others still checked', async () => {
    const repo = await trackedRepo();
    fs.writeFileSync(path.join(repo, 'model.bin.mlv'), 'version: 1\nthis is not a pointer\n');
    const { code, json } = await mlvJsonAsync(repo, ['status']);
    expect(code).toBe(0);
    const m = byPath(json)['model.bin'];
    expect(m).toMatchObject({ path: 'model.bin', pointer: 'model.bin.mlv', state: 'invalid', inCache: false });
    expect(m.error).toMatch(/^model\.bin\.mlv:2: /);
    expect(byPath(json).dataset.state).toBe('up-to-date');
    expect(json.clean).toBe(false);
    expect((await mlvAsync(repo, ['status'])).stdout).toMatch(/^model\.bin\.mlv: invalid pointer file: model\.bin\.mlv:2: /m);

    // Other kinds of damage: wrong path key, CRLF line endings, malformed id.
    const good = fs.readFileSync(path.join(repo, 'dataset.mlv'), 'utf8');
    for (const bad of [good.replace('path: "dataset"', 'path: "other"'), good.replace(/\n/g, '\r\n'), good.replace(/^id: .*$/m, 'id: 1234'), '']) {
      fs.writeFileSync(path.join(repo, 'dataset.mlv'), bad);
      const ds = byPath((await mlvJsonAsync(repo, ['status'])).json).dataset;
      expect(ds.state, JSON.stringify(bad)).toBe('invalid');
      expect(ds.error).toMatch(/^dataset\.mlv:\d+: /);
    }
  });

  it('status of specific targets (by target, pointer or folder of pointers)', async () => {
    const repo = await trackedRepo();
    write(repo, 'models/a.bin', 'a');
    write(repo, 'models/deep/b.bin', 'b');
    await settle();
    expectOk(await mlvAsync(repo, ['add', 'models/a.bin', 'models/deep/b.bin']));
    write(repo, 'model.bin', 'changed');

    const paths = async (args: string[], cwd = repo) => {
      const r = await mlvJsonAsync(cwd, ['status', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return r.json.targets.map((t: any) => `${t.path}:${t.state}`);
    };
    expect(await paths(['model.bin'])).toEqual(['model.bin:modified']);
    expect(await paths(['model.bin.mlv'])).toEqual(['model.bin:modified']);
    expect(await paths(['dataset/'])).toEqual(['dataset:up-to-date']);
    expect(await paths(['models'])).toEqual(['models/a.bin:up-to-date', 'models/deep/b.bin:up-to-date']);
    expect(await paths(['models/deep'])).toEqual(['models/deep/b.bin:up-to-date']);
    expect(await paths(['deep/b.bin'], path.join(repo, 'models'))).toEqual(['models/deep/b.bin:up-to-date']);
    expect(await paths(['model.bin', 'dataset'])).toEqual(['model.bin:modified', 'dataset:up-to-date']);
    // Without arguments: everything, wherever it is run from.
    expect(await paths([], path.join(repo, 'models'))).toEqual(['dataset:up-to-date', 'model.bin:modified', 'models/a.bin:up-to-date', 'models/deep/b.bin:up-to-date']);

    const human = await mlvAsync(repo, ['status', 'models']);
    expectOk(human);
    expect(human.stdout).toBe('models/a.bin: up to date\nmodels/deep/b.bin: up to date\neverything up to date\n');
  });

  it('refuses untracked paths and paths inside a tracked folder (exit 2)', async () => {
    const repo = await trackedRepo();
    expectCleanError(await mlvAsync(repo, ['status', 'params.json']), 2, /not tracked/);
    expectCleanError(await mlvAsync(repo, ['status', 'nope']), 2, /not tracked/);
    expectCleanError(await mlvAsync(repo, ['status', 'dataset/labels']), 2, /inside the tracked folder dataset/);
    expectCleanError(await mlvAsync(repo, ['status', 'dataset/labels/train.csv']), 2, /inside the tracked folder dataset/);
    expectCleanError(await mlvAsync(repo, ['status', '../elsewhere']), 2, /outside the repository/);
  });

  it('nothing tracked', async () => {
    const repo = await initRepoAsync();
    write(repo, 'data/a.txt', 'a');
    const { code, json } = await mlvJsonAsync(repo, ['status']);
    expect(code).toBe(0);
    expect(json).toEqual({ targets: [], clean: true });
    const r = await mlvAsync(repo, ['status']);
    expectOk(r);
    expect(r.stdout).toBe('nothing tracked yet (start with mlv add <path>)\n');
    expectCleanError(await mlvAsync(repo, ['status', 'data']), 2, /no tracked data in data/);
  });

  it('detects a same-size change whose mtime was restored (ctime changed)', async () => {
    const repo = await initRepoAsync();
    write(repo, 'data/a.txt', 'AAAA\n');
    write(repo, 'single.txt', 'SSSS\n');
    // Whole-second mtimes, so utimesSync can restore them exactly.
    const when = new Date('2024-01-02T03:04:05Z');
    for (const f of ['data/a.txt', 'single.txt']) fs.utimesSync(path.join(repo, f), when, when);
    await settle();
    expectOk(await mlvAsync(repo, ['add', 'data', 'single.txt']));
    // Stat cache is warm: status hashes nothing and agrees.
    expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);
    await settle(20);
    for (const f of ['data/a.txt', 'single.txt']) {
      const p = path.join(repo, f);
      const before = fs.statSync(p, { bigint: true });
      fs.writeFileSync(p, f === 'single.txt' ? 'TTTT\n' : 'BBBB\n');
      fs.utimesSync(p, when, when);
      const after = fs.statSync(p, { bigint: true });
      expect(after.size).toBe(before.size);
      expect(after.mtimeNs).toBe(before.mtimeNs);
      expect(after.ino).toBe(before.ino);
      expect(after.ctimeNs).not.toBe(before.ctimeNs);
    }
    await settle();
    const { json } = await mlvJsonAsync(repo, ['status']);
    expect(byPath(json).data).toMatchObject({ state: 'modified', changes: { modified: 1 } });
    expect(byPath(json)['single.txt']).toMatchObject({ state: 'modified' });
    const re = (await mlvJsonAsync(repo, ['add', 'data', 'single.txt'])).json.targets;
    expect(re.map((t: any) => [t.status, t.hashedFiles])).toEqual([
      ['updated', 1],
      ['updated', 1],
    ]);
  });

  it('a folder replaced by a file and a file replaced by a folder are modified', async () => {
    const repo = await trackedRepo();
    fs.rmSync(path.join(repo, 'dataset'), { recursive: true });
    write(repo, 'dataset', 'now a file');
    fs.rmSync(path.join(repo, 'model.bin'));
    write(repo, 'model.bin/inner', 'now a folder');
    const { json } = await mlvJsonAsync(repo, ['status']);
    expect(byPath(json).dataset.state).toBe('modified');
    expect(byPath(json)['model.bin'].state).toBe('modified');
  });
});

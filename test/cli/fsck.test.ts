/**
 * `mlv fsck` on the cache: a healthy cache; a truncated, a bit-flipped and a deleted object (the
 * damaged ones moved aside with their bytes, never deleted); a damaged tree; a missing object; an
 * invalid pointer; objects that cannot be read (exit 8); and the exit code precedence.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheObjects } from '../helpers/cli.js';
import { blake3Hex, mlvAsync, mlvJsonAsync, objectPath, pointerId, tamperObject, trackedRepo, treeEntries, write } from '../helpers/assert.js';

const corruptDir = (repo: string) => path.join(repo, '.mlv', 'cache', 'corrupt');
const corruptFiles = (repo: string) => (fs.existsSync(corruptDir(repo)) ? fs.readdirSync(corruptDir(repo)).sort() : []);
const datasetIds = (repo: string) => treeEntries(repo, pointerId(path.join(repo, 'dataset.mlv')));
const fileId = (repo: string, rel: string) => datasetIds(repo).get(rel)!.id;
const short = (id: string) => id.slice(0, 12);
const flipBit = (at: number) => (b: Buffer) => {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 0x01;
  return c;
};

describe.concurrent('mlv fsck', () => {
  it('a healthy cache: exit 0, every object re-hashed', async () => {
    const repo = await trackedRepo();
    const objects = cacheObjects(repo);
    const r = await mlvAsync(repo, ['fsck']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^cache: checked ${objects.length} objects \\(`, 'm'));
    expect(r.stdout).toMatch(/^no problems found$/m);
    const j = await mlvJsonAsync(repo, ['fsck']);
    expect(j.code).toBe(0);
    expect(j.json).toMatchObject({ healthy: true, local: { checked: objects.length, problems: [], unchecked: [], invalidPointers: [] } });
    expect(j.json.local.checkedBytes).toBe(objects.reduce((s, rel) => s + fs.statSync(path.join(repo, '.mlv', 'cache', rel)).size, 0));
    expect(j.json.remote).toBeUndefined();
  });

  it('finds a truncated, a bit-flipped and a missing object; moves the damaged ones aside with their bytes', async () => {
    const repo = await trackedRepo();
    const model = pointerId(path.join(repo, 'model.bin.mlv'));
    const train = fileId(repo, 'labels/train.csv');
    const val = fileId(repo, 'labels/val.csv');
    const modelSize = fs.statSync(objectPath(repo, model)).size;
    tamperObject(repo, model, (b) => b.subarray(0, 10));
    tamperObject(repo, train, flipBit(3));
    const damagedModel = fs.readFileSync(objectPath(repo, model));
    const damagedTrain = fs.readFileSync(objectPath(repo, train));
    fs.rmSync(objectPath(repo, val));
    const objects = cacheObjects(repo).length;

    const j = await mlvJsonAsync(repo, ['fsck']);
    expect(j.code, j.stderr).toBe(6);
    expect(j.json.healthy).toBe(false);
    expect(j.json.local.checked).toBe(objects);
    const problems = j.json.local.problems;
    expect(problems).toHaveLength(3);
    expect(problems.find((p: any) => p.id === model)).toEqual({
      id: model,
      problem: 'truncated',
      where: 'cache',
      path: 'model.bin',
      detail: `10 of ${modelSize} bytes (content hashes to ${blake3Hex(damagedModel).slice(0, 12)}...)`,
      movedTo: `.mlv/cache/corrupt/${model}`,
    });
    expect(problems.find((p: any) => p.id === train)).toEqual({
      id: train,
      problem: 'corrupt',
      where: 'cache',
      path: 'dataset/labels/train.csv',
      detail: `content hashes to ${blake3Hex(damagedTrain)}`,
      movedTo: `.mlv/cache/corrupt/${train}`,
    });
    // Below a tree that is in the cache: the trees-last rule is broken.
    expect(problems.find((p: any) => p.id === val)).toMatchObject({ id: val, problem: 'missing-below-tree', where: 'cache', path: 'dataset/labels/val.csv' });
    // Moved, not deleted: the bytes are there for inspection.
    expect(corruptFiles(repo)).toEqual([model, train].sort());
    expect(fs.readFileSync(path.join(corruptDir(repo), model))).toEqual(damagedModel);
    expect(fs.readFileSync(path.join(corruptDir(repo), train))).toEqual(damagedTrain);
    expect(fs.existsSync(objectPath(repo, model))).toBe(false);
    expect(fs.existsSync(objectPath(repo, train))).toBe(false);

    // Again: the moved objects are now missing; nothing more is moved.
    const again = await mlvAsync(repo, ['fsck']);
    expect(again.code).toBe(6);
    expect(again.stdout).toContain(`missing: model.bin (${short(model)}): not in the cache`);
    expect(again.stdout).toContain(`missing below a tree: dataset/labels/train.csv (${short(train)})`);
    expect(again.stdout).toContain(`missing below a tree: dataset/labels/val.csv (${short(val)})`);
    expect(again.stdout).toMatch(/^hint: missing objects: mlv fetch downloads them/m);
    expect(again.stdout).toMatch(/^3 problems found$/m);
    expect(corruptFiles(repo)).toEqual([model, train].sort());

    // The workspace copies are intact: mlv add stores them again, and the cache is healthy.
    expect((await mlvAsync(repo, ['add', 'dataset', 'model.bin'])).code).toBe(0);
    expect((await mlvAsync(repo, ['fsck'])).code).toBe(0);
  });

  it('prints each problem with its path, object id and a hint', async () => {
    const repo = await trackedRepo();
    const model = pointerId(path.join(repo, 'model.bin.mlv'));
    const img = fileId(repo, 'images/train/img_001.pbm');
    tamperObject(repo, model, flipBit(0));
    tamperObject(repo, img, (b) => b.subarray(0, 1));
    const r = await mlvAsync(repo, ['fsck']);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain(`corrupt: model.bin (${short(model)}): content hashes to `);
    expect(r.stdout).toContain(`; moved to .mlv/cache/corrupt/${model}`);
    expect(r.stdout).toMatch(new RegExp(`^truncated: dataset/images/train/img_001.pbm \\(${short(img)}\\): 1 of \\d+ bytes`, 'm'));
    expect(r.stdout).toMatch(/^hint: corrupt objects were moved to \.mlv\/cache\/corrupt\/ .*mlv fetch .*mlv add/m);
    expect(r.stdout).toMatch(/^2 problems found$/m);
    expect(r.stderr).toBe('');
    expect((await mlvAsync(repo, ['fsck', '-q'])).stdout).toBe('');
  });

  it('a damaged tree is moved aside; what was below it is not reported missing', async () => {
    const repo = await trackedRepo();
    const images = fileId(repo, 'images');
    tamperObject(repo, images, (b) => Buffer.concat([b, Buffer.from('x')]));
    const j = await mlvJsonAsync(repo, ['fsck']);
    expect(j.code).toBe(6);
    expect(j.json.local.problems).toEqual([
      { id: images, problem: 'corrupt', where: 'cache', path: 'dataset/images', detail: expect.stringMatching(/^content hashes to [0-9a-f]{64}$/), movedTo: `.mlv/cache/corrupt/${images}` },
    ]);
    const again = await mlvJsonAsync(repo, ['fsck']);
    expect(again.json.local.problems).toEqual([expect.objectContaining({ id: images, problem: 'missing-below-tree', path: 'dataset/images' })]);
    // The same id damaged again gets a second name in corrupt/.
    fs.writeFileSync(objectPath(repo, images), 'garbage', { mode: 0o444 });
    await mlvJsonAsync(repo, ['fsck']);
    expect(corruptFiles(repo)).toEqual([images, `${images}.1`]);
    expect(fs.readFileSync(path.join(corruptDir(repo), `${images}.1`), 'utf8')).toBe('garbage');
  });

  it('reports a missing object a pointer references, a tree missing a file nothing uses, and an invalid pointer', async () => {
    const repo = await trackedRepo();
    const model = pointerId(path.join(repo, 'model.bin.mlv'));
    fs.rmSync(objectPath(repo, model));
    // An orphaned version of the dataset with a file only it has, whose object is then lost.
    write(repo, 'dataset/extra.txt', 'only in an old version');
    expect((await mlvAsync(repo, ['add', 'dataset'])).code).toBe(0);
    const orphanTree = pointerId(path.join(repo, 'dataset.mlv'));
    const extra = treeEntries(repo, orphanTree).get('extra.txt')!.id;
    fs.rmSync(path.join(repo, 'dataset/extra.txt'));
    expect((await mlvAsync(repo, ['add', 'dataset'])).code).toBe(0);
    fs.rmSync(objectPath(repo, extra));
    write(repo, 'params.json.mlv', 'version: 1\nnot a pointer\n');

    const j = await mlvJsonAsync(repo, ['fsck']);
    expect(j.code).toBe(6);
    expect(j.json.local.problems).toEqual([
      { id: model, problem: 'missing', where: 'cache', path: 'model.bin', detail: 'not in the cache' },
      expect.objectContaining({ id: extra, problem: 'missing-below-tree', where: 'cache', detail: expect.stringContaining(`the tree ${short(orphanTree)}`) }),
    ]);
    expect(j.json.local.problems[1].path).toBeUndefined();
    expect(j.json.local.invalidPointers).toEqual([{ pointer: 'params.json.mlv', error: expect.stringMatching(/^params\.json\.mlv:2: /) }]);
    const r = await mlvAsync(repo, ['fsck']);
    expect(r.stdout).toContain(`missing below a tree: (not used by the workspace) (${short(extra)})`);
    expect(r.stdout).toMatch(/^invalid pointer: params\.json\.mlv: params\.json\.mlv:2: /m);
    expect(r.stdout).toMatch(/^hint: invalid pointers: restore them from Git/m);
  });

  it('objects that cannot be read: exit 8 when nothing else is wrong, 6 when something is', async () => {
    const repo = await trackedRepo();
    const model = pointerId(path.join(repo, 'model.bin.mlv'));
    const train = fileId(repo, 'labels/train.csv');
    // A folder where an object should be cannot be read as one (this works as root too).
    fs.rmSync(objectPath(repo, model));
    fs.mkdirSync(objectPath(repo, model));
    const j = await mlvJsonAsync(repo, ['fsck']);
    expect(j.code).toBe(8);
    expect(j.json.healthy).toBe(false);
    expect(j.json.local.problems).toEqual([]);
    expect(j.json.local.unchecked).toEqual([{ id: model, path: 'model.bin', reason: `cannot read .mlv/cache/${model.slice(0, 2)}/${model.slice(2)}: not a regular file` }]);
    const r = await mlvAsync(repo, ['fsck']);
    expect(r.code).toBe(8);
    expect(r.stdout).toContain(`not checked: model.bin (${short(model)}): cannot read`);
    expect(r.stdout).toMatch(/^no problems found in what could be checked; some objects could not be checked$/m);
    if (process.getuid?.() !== 0) {
      // Permission denied on an object file (root reads it anyway).
      fs.chmodSync(objectPath(repo, train), 0o000);
      const p = await mlvJsonAsync(repo, ['fsck']);
      expect(p.code).toBe(8);
      expect(p.json.local.unchecked.map((u: any) => u.id).sort()).toEqual([model, train].sort());
      fs.chmodSync(objectPath(repo, train), 0o444);
    }
    tamperObject(repo, train, flipBit(0));
    const both = await mlvJsonAsync(repo, ['fsck']);
    expect(both.code).toBe(6);
    expect(both.json.local.unchecked).toHaveLength(1);
    expect(both.json.local.problems.map((p: any) => p.id)).toEqual([train]);
  });

  it('--remote without a remote configured is a usage error', async () => {
    const repo = await trackedRepo();
    const r = await mlvAsync(repo, ['fsck', '--remote']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: no remote is configured/m);
    expect(corruptFiles(repo)).toEqual([]);
  });
});

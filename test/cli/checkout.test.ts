import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheObjects, git, gitIndex, snapshotTree, tempDir } from '../helpers/cli.js';
import {
  blake3Hex,
  expectCleanError,
  expectOk,
  fixtureRepo,
  initRepoAsync,
  lsTree,
  mlvAsync,
  mlvJsonAsync,
  objectPath,
  pointerId,
  pseudoRandomBytes,
  repoState,
  settle,
  tamperObject,
  treeFiles,
  write,
  trackedRepo,
} from '../helpers/assert.js';

const ds = (repo: string) => path.join(repo, 'dataset');
const rm = (repo: string, rel: string) => fs.rmSync(path.join(repo, rel), { recursive: true, force: true });
/** The id of a file inside the tracked dataset, read from its tree in the cache. */
const fileId = (repo: string, rel: string) => treeFiles(repo, pointerId(path.join(repo, 'dataset.mlv'))).get(rel)!.id;

describe.concurrent('mlv checkout', () => {
  it('restores a deleted folder and file bit for bit', async () => {
    const repo = await trackedRepo();
    const dataset = snapshotTree(ds(repo));
    const model = fs.readFileSync(path.join(repo, 'model.bin'));
    expect(dataset.get('empty-folder')).toBe('dir');
    expect(dataset.get('ünïcödé dir/café ☕.txt')).toBeTruthy();
    rm(repo, 'dataset');
    rm(repo, 'model.bin');
    const index = gitIndex(repo);

    const { code, json, stderr } = await mlvJsonAsync(repo, ['checkout']);
    expect(code, stderr).toBe(0);
    expect(snapshotTree(ds(repo))).toEqual(dataset);
    expect(fs.readFileSync(path.join(repo, 'model.bin'))).toEqual(model);
    expect(json).toMatchObject({ written: 10, deleted: 0, unchanged: 0, saved: [], removedLinks: [], missing: [], corrupt: [] });
    expect(json.targets).toEqual([
      { path: 'dataset', written: 9, deleted: 0, unchanged: 0, missing: 0 },
      { path: 'model.bin', written: 1, deleted: 0, unchanged: 0, missing: 0 },
    ]);
    // Copies (the default on a file system without reflinks) are ordinary writable files.
    const st = fs.lstatSync(path.join(repo, 'dataset', 'labels', 'train.csv'));
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o200).not.toBe(0);
    expect(st.mode & 0o111).toBe(0);
    expect(fs.statSync(path.join(repo, 'dataset', 'prepare.sh')).mode & 0o111).not.toBe(0);
    expect(gitIndex(repo)).toBe(index);
    expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);
    // Nothing left behind by the atomic writes.
    expect([...snapshotTree(repo).keys()].filter((p) => /\.mlv-tmp-/.test(p))).toEqual([]);
  });

  it('restores single deleted files and a lost executable bit; up-to-date files are left alone', async () => {
    const repo = await trackedRepo();
    const dataset = snapshotTree(ds(repo));
    rm(repo, 'dataset/labels/val.csv');
    rm(repo, 'dataset/empty-folder');
    fs.chmodSync(path.join(repo, 'dataset', 'prepare.sh'), 0o644);
    const inode = fs.statSync(path.join(repo, 'dataset', 'labels', 'train.csv')).ino;
    const { code, json } = await mlvJsonAsync(repo, ['checkout']);
    expect(code).toBe(0);
    expect(json.targets[0]).toEqual({ path: 'dataset', written: 2, deleted: 0, unchanged: 7, missing: 0 });
    expect(json.targets[1]).toEqual({ path: 'model.bin', written: 0, deleted: 0, unchanged: 1, missing: 0 });
    expect(snapshotTree(ds(repo))).toEqual(dataset);
    expect(fs.statSync(path.join(repo, 'dataset', 'labels', 'train.csv')).ino).toBe(inode);
  });

  it('does nothing when everything is up to date', async () => {
    const repo = await trackedRepo();
    const before = repoState(repo);
    const { code, json } = await mlvJsonAsync(repo, ['checkout']);
    expect(code).toBe(0);
    expect(json).toMatchObject({ written: 0, deleted: 0, unchanged: 10 });
    expect(repoState(repo)).toEqual(before);
  });

  it('checks out only the targets given', async () => {
    const repo = await trackedRepo();
    rm(repo, 'dataset');
    rm(repo, 'model.bin');
    expectOk(await mlvAsync(repo, ['checkout', 'model.bin']));
    expect(fs.existsSync(path.join(repo, 'model.bin'))).toBe(true);
    expect(fs.existsSync(ds(repo))).toBe(false);
    expectOk(await mlvAsync(path.join(repo), ['checkout', 'dataset.mlv']));
    expect(fs.existsSync(path.join(repo, 'dataset', 'labels', 'train.csv'))).toBe(true);
    expectCleanError(await mlvAsync(repo, ['checkout', 'params.json']), 2, /not tracked/);
  });

  it('checks out a part of a tracked folder, leaving the rest alone', async () => {
    const repo = await trackedRepo();
    const original = snapshotTree(ds(repo));
    rm(repo, 'dataset');
    expectOk(await mlvAsync(repo, ['checkout', 'dataset/labels']));
    expect(fs.readdirSync(ds(repo))).toEqual(['labels']);
    expect(fs.readFileSync(path.join(ds(repo), 'labels', 'train.csv'))).toEqual((original.get('labels/train.csv') as { bytes: Buffer }).bytes);
    expectOk(await mlvAsync(repo, ['checkout', 'dataset/images/val/img_003.pbm']));
    expect(fs.existsSync(path.join(ds(repo), 'images', 'val', 'img_003.pbm'))).toBe(true);
    expect(fs.existsSync(path.join(ds(repo), 'images', 'train'))).toBe(false);
    expectCleanError(await mlvAsync(repo, ['checkout', 'dataset/no-such-file']), 2, /not part of the tracked data/);
    expectOk(await mlvAsync(repo, ['checkout']));
    expect(snapshotTree(ds(repo))).toEqual(original);
  });

  describe('conflicts', () => {
    async function conflicted(): Promise<{ repo: string; original: ReturnType<typeof snapshotTree> }> {
      const repo = await trackedRepo();
      const original = snapshotTree(ds(repo));
      write(repo, 'dataset/labels/train.csv', 'id,label\n1,edited by hand\n');
      write(repo, 'dataset/extra.txt', 'an untracked new file\n');
      return { repo, original };
    }

    it('a modified file and an extra untracked file: exit 4, nothing changes', async () => {
      const { repo } = await conflicted();
      rm(repo, 'model.bin'); // would be restorable, but checkout plans everything first
      const before = repoState(repo);
      const r = await mlvAsync(repo, ['checkout']);
      expectCleanError(r, 4, /not in the cache/);
      expect(r.stderr).toMatch(/dataset\/labels\/train\.csv \(modified\)/);
      expect(r.stderr).toMatch(/dataset\/extra\.txt \(not tracked\)/);
      expect(r.stderr).toMatch(/^hint: .*--force/m);
      expect(repoState(repo)).toEqual(before);
      expect(fs.existsSync(path.join(repo, 'model.bin'))).toBe(false);

      const j = await mlvJsonAsync(repo, ['checkout']);
      expect(j.code).toBe(4);
      expect(j.json.error).toMatchObject({ code: 'CONFLICT', exitCode: 4 });
      expect(j.json.error.details.conflicts.map((c: any) => c.path).sort()).toEqual(['dataset/extra.txt', 'dataset/labels/train.csv']);
      expect(repoState(repo)).toEqual(before);
    });

    it('a modified single-file target is a conflict too', async () => {
      const repo = await trackedRepo();
      write(repo, 'model.bin', 'retrained weights');
      const before = repoState(repo);
      expectCleanError(await mlvAsync(repo, ['checkout', 'model.bin']), 4, /model\.bin \(modified\)/);
      expect(repoState(repo)).toEqual(before);
    });

    it('--force replaces them and saves what it replaced in the cache', async () => {
      const { repo, original } = await conflicted();
      const edited = fs.readFileSync(path.join(repo, 'dataset', 'labels', 'train.csv'));
      const extra = fs.readFileSync(path.join(repo, 'dataset', 'extra.txt'));
      const index = gitIndex(repo);
      const { code, json, stderr } = await mlvJsonAsync(repo, ['checkout', '--force']);
      expect(code, stderr).toBe(0);
      expect(snapshotTree(ds(repo))).toEqual(original);
      const saved = [...json.saved].sort((a: any, b: any) => a.path.localeCompare(b.path));
      expect(saved).toEqual([
        { path: 'dataset/extra.txt', id: blake3Hex(extra), object: `.mlv/cache/${blake3Hex(extra).slice(0, 2)}/${blake3Hex(extra).slice(2)}` },
        { path: 'dataset/labels/train.csv', id: blake3Hex(edited), object: `.mlv/cache/${blake3Hex(edited).slice(0, 2)}/${blake3Hex(edited).slice(2)}` },
      ]);
      for (const s of saved) {
        const p = path.join(repo, s.object);
        expect((fs.statSync(p).mode & 0o777).toString(8)).toBe('444');
      }
      expect(fs.readFileSync(path.join(repo, saved[0].object))).toEqual(extra);
      expect(fs.readFileSync(path.join(repo, saved[1].object))).toEqual(edited);
      expect(json.targets[0]).toMatchObject({ path: 'dataset', deleted: 1 });
      expect(gitIndex(repo)).toBe(index);
      expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);
    });

    it('--force prints where the replaced content went', async () => {
      const { repo } = await conflicted();
      const r = await mlvAsync(repo, ['checkout', '--force']);
      expectOk(r);
      const id = blake3Hex(Buffer.from('an untracked new file\n'));
      expect(r.stdout).toContain(`saved dataset/extra.txt in the cache before replacing it: .mlv/cache/${id.slice(0, 2)}/${id.slice(2)}`);
    });

    it('a symbolic link inside a tracked folder: refused, then removed by --force (its target untouched)', async () => {
      const repo = await trackedRepo();
      const params = fs.readFileSync(path.join(repo, 'params.json'));
      fs.symlinkSync('../params.json', path.join(repo, 'dataset', 'link.json'));
      const before = repoState(repo);
      expectCleanError(await mlvAsync(repo, ['checkout']), 4, /dataset\/link\.json \(symbolic link\)/);
      expect(repoState(repo)).toEqual(before);
      const { code, json } = await mlvJsonAsync(repo, ['checkout', '--force']);
      expect(code).toBe(0);
      expect(json.removedLinks).toEqual(['dataset/link.json']);
      expect(fs.existsSync(path.join(repo, 'dataset', 'link.json'))).toBe(false);
      expect(fs.readFileSync(path.join(repo, 'params.json'))).toEqual(params);
    });

    it('a file where the tracked folder was: refused, then saved and replaced by --force', async () => {
      const repo = await trackedRepo();
      const original = snapshotTree(ds(repo));
      rm(repo, 'dataset');
      write(repo, 'dataset', 'not a folder any more');
      const before = repoState(repo);
      expectCleanError(await mlvAsync(repo, ['checkout']), 4);
      expect(repoState(repo)).toEqual(before);
      const { code, json } = await mlvJsonAsync(repo, ['checkout', '--force']);
      expect(code).toBe(0);
      expect(json.saved.map((s: any) => s.path)).toEqual(['dataset']);
      expect(fs.readFileSync(path.join(repo, json.saved[0].object), 'utf8')).toBe('not a folder any more');
      expect(snapshotTree(ds(repo))).toEqual(original);
    });

    it('a folder where the tracked file was: refused, then saved and replaced by --force', async () => {
      const repo = await trackedRepo();
      const model = fs.readFileSync(path.join(repo, 'model.bin'));
      rm(repo, 'model.bin');
      write(repo, 'model.bin/notes.txt', 'unsaved notes\n');
      const before = repoState(repo);
      expectCleanError(await mlvAsync(repo, ['checkout', 'model.bin']), 4, /model\.bin\/notes\.txt \(not tracked\)/);
      expect(repoState(repo)).toEqual(before);
      const { code, json } = await mlvJsonAsync(repo, ['checkout', '--force', 'model.bin']);
      expect(code).toBe(0);
      expect(json.saved.map((s: any) => s.path)).toEqual(['model.bin/notes.txt']);
      expect(fs.readFileSync(path.join(repo, json.saved[0].object), 'utf8')).toBe('unsaved notes\n');
      expect(fs.readFileSync(path.join(repo, 'model.bin'))).toEqual(model);
    });

    it('extra files whose content is in the cache are removed without --force', async () => {
      const repo = await trackedRepo();
      const original = snapshotTree(ds(repo));
      write(repo, 'dataset/copy-of-train.csv', fs.readFileSync(path.join(repo, 'dataset', 'labels', 'train.csv')));
      write(repo, 'dataset/new dir/model-copy.bin', fs.readFileSync(path.join(repo, 'model.bin')));
      // A modification back to content the cache holds is not a conflict either.
      write(repo, 'dataset/labels/val.csv', fs.readFileSync(path.join(repo, 'model.bin')));
      const cache = cacheObjects(repo);
      const { code, json } = await mlvJsonAsync(repo, ['checkout']);
      expect(code).toBe(0);
      expect(json.saved).toEqual([]);
      expect(json.targets[0]).toMatchObject({ path: 'dataset', deleted: 2, written: 1 });
      expect(snapshotTree(ds(repo))).toEqual(original);
      expect(cacheObjects(repo)).toEqual(cache);
    });
    it('regular files whose names mlv cannot track are never deleted unsaved, even with --force', async () => {
      const repo = await trackedRepo();
      // A backslash and a control character: legal on Linux, refused in tracked folders by mlv.
      const names = ['back\\slash.txt', 'ctl\u0001char.txt'];
      names.forEach((n, i) => write(repo, `dataset/${n}`, `precious ${i}\n`));
      const before = repoState(repo);
      expectCleanError(await mlvAsync(repo, ['checkout']), 4);
      expect(repoState(repo)).toEqual(before);
      const r = await mlvAsync(repo, ['checkout', '--force']);
      expect(r.code, r.stderr).toBe(0);
      names.forEach((n, i) => {
        const bytes = Buffer.from(`precious ${i}\n`);
        const id = blake3Hex(bytes);
        const kept = fs.existsSync(path.join(repo, 'dataset', n));
        const saved = cacheObjects(repo).includes(`${id.slice(0, 2)}/${id.slice(2)}`);
        expect(kept || saved, `dataset/${JSON.stringify(n)} was deleted without being saved in the cache`).toBe(true);
      });
    });

    it('a tracked folder replaced by a link to elsewhere: refused; --force removes only the link', async () => {
      const repo = await trackedRepo();
      const original = snapshotTree(ds(repo));
      const elsewhere = tempDir();
      write(elsewhere, 'victim.txt', 'not yours');
      write(elsewhere, 'labels/train.csv', 'not yours either');
      const outside = lsTree(elsewhere);
      rm(repo, 'dataset');
      fs.symlinkSync(elsewhere, ds(repo));
      const before = repoState(repo);
      expectCleanError(await mlvAsync(repo, ['checkout']), 4, /dataset \(symbolic link\)/);
      expect(repoState(repo)).toEqual(before);
      const { code, json } = await mlvJsonAsync(repo, ['checkout', '--force']);
      expect(code).toBe(0);
      expect(json.removedLinks).toEqual(['dataset']);
      expect(fs.lstatSync(ds(repo)).isDirectory()).toBe(true);
      expect(snapshotTree(ds(repo))).toEqual(original);
      expect(lsTree(elsewhere)).toEqual(outside);
    });

    it('never writes through a symbolic link in the parent path of a target', async () => {
      const repo = await fixtureRepo();
      write(repo, 'models/deep/b.bin', 'b');
      await settle();
      expectOk(await mlvAsync(repo, ['add', 'models/deep/b.bin']));
      const elsewhere = tempDir();
      fs.mkdirSync(path.join(elsewhere, 'deep'));
      fs.copyFileSync(path.join(repo, 'models', 'deep', 'b.bin.mlv'), path.join(elsewhere, 'deep', 'b.bin.mlv'));
      rm(repo, 'models');
      fs.symlinkSync(elsewhere, path.join(repo, 'models'));
      const outside = lsTree(elsewhere);
      for (const force of [[], ['--force']]) {
        expectCleanError(await mlvAsync(repo, ['checkout', ...force, 'models/deep/b.bin']), 2, /symbolic link/);
        expect(lsTree(elsewhere)).toEqual(outside);
      }
    });
  });

  describe('link strategies', () => {
    it('hardlink: files share the inode of the read-only cache object; executables are copied', async () => {
      const repo = await trackedRepo();
      const original = snapshotTree(ds(repo));
      expectOk(await mlvAsync(repo, ['config', 'core.link', 'hardlink']));
      rm(repo, 'dataset');
      rm(repo, 'model.bin');
      const { code, json } = await mlvJsonAsync(repo, ['checkout']);
      expect(code).toBe(0);
      expect(json.strategies).toEqual({ hardlink: 9, copy: 1 });
      expect(snapshotTree(ds(repo))).toEqual(original);
      for (const [rel, e] of treeFiles(repo, pointerId(path.join(repo, 'dataset.mlv')))) {
        const st = fs.lstatSync(path.join(repo, 'dataset', rel));
        const obj = fs.statSync(objectPath(repo, e.id));
        if (rel === 'prepare.sh') {
          expect(st.ino, rel).not.toBe(obj.ino);
          expect(st.nlink, rel).toBe(1);
          expect(st.mode & 0o111, rel).not.toBe(0);
          expect(obj.nlink, rel).toBe(1);
        } else {
          expect(st.ino, rel).toBe(obj.ino);
          expect(st.nlink, rel).toBe(2);
          expect((st.mode & 0o777).toString(8), rel).toBe('444');
        }
      }
      const model = fs.statSync(path.join(repo, 'model.bin'));
      expect(model.ino).toBe(fs.statSync(objectPath(repo, pointerId(path.join(repo, 'model.bin.mlv')))).ino);
      expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);
      // Re-adding hard-linked data changes nothing.
      const again = (await mlvJsonAsync(repo, ['add', 'dataset', 'model.bin'])).json.targets;
      expect(again.map((t: any) => t.status)).toEqual(['unchanged', 'unchanged']);
    });

    it('symlink: files are links into .mlv/cache; status is up to date; executables are copied', async () => {
      const repo = await trackedRepo();
      const original = snapshotTree(ds(repo));
      expectOk(await mlvAsync(repo, ['config', 'core.link', 'symlink']));
      rm(repo, 'dataset');
      rm(repo, 'model.bin');
      const { code, json } = await mlvJsonAsync(repo, ['checkout']);
      expect(code).toBe(0);
      expect(json.strategies).toEqual({ symlink: 9, copy: 1 });
      // Bytes and exec bits as seen through the links are the originals.
      expect(snapshotTree(ds(repo))).toEqual(original);
      const cacheDir = fs.realpathSync(path.join(repo, '.mlv', 'cache'));
      for (const [rel, e] of treeFiles(repo, pointerId(path.join(repo, 'dataset.mlv')))) {
        const p = path.join(repo, 'dataset', rel);
        if (rel === 'prepare.sh') {
          expect(fs.lstatSync(p).isFile(), rel).toBe(true);
        } else {
          expect(fs.lstatSync(p).isSymbolicLink(), rel).toBe(true);
          expect(fs.realpathSync(p), rel).toBe(path.join(cacheDir, e.id.slice(0, 2), e.id.slice(2)));
        }
      }
      expect(fs.lstatSync(path.join(repo, 'model.bin')).isSymbolicLink()).toBe(true);
      const status = await mlvJsonAsync(repo, ['status']);
      expect(status.json.targets.map((t: any) => t.state)).toEqual(['up-to-date', 'up-to-date']);
      // A second checkout sees the links as the objects they point to.
      expect((await mlvJsonAsync(repo, ['checkout'])).json).toMatchObject({ written: 0, deleted: 0, unchanged: 10 });
    });

    it('symlink: re-adding checked-out data records nothing new; an edited file is picked up', async () => {
      const repo = await trackedRepo();
      expectOk(await mlvAsync(repo, ['config', 'core.link', 'symlink']));
      rm(repo, 'dataset');
      rm(repo, 'model.bin');
      expectOk(await mlvAsync(repo, ['checkout']));
      const pointers = [fs.readFileSync(path.join(repo, 'dataset.mlv')), fs.readFileSync(path.join(repo, 'model.bin.mlv'))];
      const again = await mlvJsonAsync(repo, ['add', 'dataset', 'model.bin']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.json.targets.map((t: any) => [t.status, t.hashedFiles])).toEqual([
        ['unchanged', 0],
        ['unchanged', 0],
      ]);
      expect([fs.readFileSync(path.join(repo, 'dataset.mlv')), fs.readFileSync(path.join(repo, 'model.bin.mlv'))]).toEqual(pointers);
      // Replace one link with an edited regular file: add records it and hashes only that file.
      rm(repo, 'dataset/labels/train.csv');
      write(repo, 'dataset/labels/train.csv', 'edited after a symlink checkout\n');
      await settle();
      const edited = await mlvJsonAsync(repo, ['add', 'dataset']);
      expect(edited.code, edited.stderr).toBe(0);
      expect(edited.json.targets[0]).toMatchObject({ status: 'updated', hashedFiles: 1 });
    });

    it('copy: independent writable files', async () => {
      const repo = await trackedRepo();
      const original = snapshotTree(ds(repo));
      expectOk(await mlvAsync(repo, ['config', 'core.link', 'copy']));
      rm(repo, 'dataset');
      const { code, json } = await mlvJsonAsync(repo, ['checkout']);
      expect(code).toBe(0);
      expect(json.strategies).toEqual({ copy: 9 });
      expect(snapshotTree(ds(repo))).toEqual(original);
      for (const [rel, e] of treeFiles(repo, pointerId(path.join(repo, 'dataset.mlv')))) {
        const st = fs.lstatSync(path.join(repo, 'dataset', rel));
        expect(st.isFile(), rel).toBe(true);
        expect(st.nlink, rel).toBe(1);
        expect(st.ino, rel).not.toBe(fs.statSync(objectPath(repo, e.id)).ino);
        expect(st.mode & 0o200, rel).not.toBe(0);
      }
    });
  });

  it('missing cache objects: reports the path, exit 5, restores everything else', async () => {
    const repo = await trackedRepo();
    const original = snapshotTree(ds(repo));
    const id = fileId(repo, 'labels/train.csv');
    fs.rmSync(objectPath(repo, id));
    rm(repo, 'dataset');
    const r = await mlvAsync(repo, ['checkout']);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(`not in the cache: dataset/labels/train.csv (${id})`);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const now = snapshotTree(ds(repo));
    const expected = new Map(original);
    expected.delete('labels/train.csv');
    expect(now).toEqual(expected);

    rm(repo, 'dataset');
    const j = await mlvJsonAsync(repo, ['checkout']);
    expect(j.code).toBe(5);
    expect(j.json.missing).toEqual([{ path: 'dataset/labels/train.csv', id }]);
    expect(j.json.targets[0]).toMatchObject({ path: 'dataset', written: 8, missing: 1 });
  });

  it('a missing object never costs the workspace file that is there', async () => {
    const repo = await trackedRepo();
    const id = fileId(repo, 'labels/train.csv');
    fs.rmSync(objectPath(repo, id));
    write(repo, 'dataset/labels/train.csv', 'local edit, in no cache\n');
    const r = await mlvAsync(repo, ['checkout', '--force']);
    expect(r.code).toBe(5);
    expect(fs.readFileSync(path.join(repo, 'dataset', 'labels', 'train.csv'), 'utf8')).toBe('local edit, in no cache\n');
  });

  it('a folder whose root tree is not in the cache: exit 5, nothing touched', async () => {
    const repo = await trackedRepo();
    fs.rmSync(objectPath(repo, pointerId(path.join(repo, 'dataset.mlv'))));
    write(repo, 'dataset/extra.txt', 'extra');
    const before = repoState(repo);
    const { code, json } = await mlvJsonAsync(repo, ['checkout', 'dataset']);
    expect(code).toBe(5);
    expect(json.missing.map((m: any) => m.path)).toEqual(['dataset']);
    expect(repoState(repo)).toEqual(before);
  });

  for (const link of ['copy', 'hardlink', 'symlink']) {
    it(`a corrupt cache object is never written to the workspace (exit 6, core.link ${link})`, async () => {
      const repo = await trackedRepo();
      expectOk(await mlvAsync(repo, ['config', 'core.link', link]));
      const original = snapshotTree(ds(repo));
      const id = fileId(repo, 'labels/train.csv');
      tamperObject(repo, id, (b) => {
        b[0] ^= 0x01;
        return b;
      });
      rm(repo, 'dataset');
      const r = await mlvAsync(repo, ['checkout']);
      expect(r.code, r.stdout + r.stderr).toBe(6);
      expect(r.stderr).toContain('corrupt in the cache, not written: dataset/labels/train.csv');
      expect(fs.existsSync(path.join(repo, 'dataset', 'labels', 'train.csv'))).toBe(false);
      const expected = new Map(original);
      expected.delete('labels/train.csv');
      expect(snapshotTree(ds(repo))).toEqual(expected);
      expect(fs.readdirSync(path.join(repo, 'dataset', 'labels'))).toEqual(['val.csv']);
    });
  }

  it('a large object (copied by the kernel, then the copy verified) comes back byte for byte; damaged, it is never placed', async () => {
    const repo = await initRepoAsync();
    const bytes = pseudoRandomBytes(9 * 1024 * 1024 + 5, 11);
    write(repo, 'model.bin', bytes, 0o755);
    expectOk(await mlvAsync(repo, ['add', 'model.bin']));
    // Copy only: with reflink first, its check of the object would catch the damage before the copy.
    expectOk(await mlvAsync(repo, ['config', 'core.link', 'copy']));
    const id = pointerId(path.join(repo, 'model.bin.mlv'));
    rm(repo, 'model.bin');
    expectOk(await mlvAsync(repo, ['checkout']));
    expect(fs.readFileSync(path.join(repo, 'model.bin')).equals(bytes)).toBe(true);
    expect(fs.statSync(path.join(repo, 'model.bin')).mode & 0o777).toBe(0o755 & ~process.umask());
    tamperObject(repo, id, (b) => {
      b[b.length - 1] ^= 0x01;
      return b;
    });
    rm(repo, 'model.bin');
    const r = await mlvAsync(repo, ['checkout']);
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expect(r.stderr).toContain('corrupt in the cache, not written: model.bin');
    expect(fs.readdirSync(repo).filter((n) => n.startsWith('model.bin') || n.startsWith('.mlv-tmp'))).toEqual(['model.bin.mlv']);
    // Without cp on the PATH the object is copied through mlv's buffer: the same check holds.
    const noCp = { PATH: tempDir('mlv-empty-path-') };
    const r2 = await mlvAsync(repo, ['checkout'], noCp);
    expect(r2.code, r2.stdout + r2.stderr).toBe(6);
    expect(fs.readdirSync(repo).filter((n) => n.startsWith('model.bin') || n.startsWith('.mlv-tmp'))).toEqual(['model.bin.mlv']);
    expect(fs.readdirSync(path.join(repo, '.mlv', 'cache', 'tmp')), 'no copy left').toEqual([]);
  });

  it('a corrupt tree object: exit 6 with a one-line error, nothing touched', async () => {
    const repo = await trackedRepo();
    const id = pointerId(path.join(repo, 'dataset.mlv'));
    tamperObject(repo, id, (b) => Buffer.concat([b, Buffer.from('f ' + '0'.repeat(64) + ' 1 "zzz"\n')]));
    rm(repo, 'dataset/labels');
    const before = repoState(repo);
    expectCleanError(await mlvAsync(repo, ['checkout', 'dataset']), 6, /corrupt/);
    expect(repoState(repo)).toEqual(before);
  });

  it('follows Git history: v1 and v2 of the data come back byte for byte', async () => {
    const repo = await trackedRepo();
    git(repo, ['commit', '-q', '-m', 'data v1']);
    const v1 = snapshotTree(ds(repo));
    const v1model = fs.readFileSync(path.join(repo, 'model.bin'));

    write(repo, 'dataset/labels/train.csv', 'id,label\n1,cat\n2,dog\n3,fish\n');
    rm(repo, 'dataset/labels/val.csv');
    write(repo, 'dataset/extra/new.txt', 'added in v2\n');
    rm(repo, 'dataset/empty-folder');
    fs.chmodSync(path.join(repo, 'dataset', 'prepare.sh'), 0o644);
    write(repo, 'model.bin', 'weights v2!');
    await settle();
    expectOk(await mlvAsync(repo, ['add', 'dataset', 'model.bin']));
    git(repo, ['commit', '-q', '-m', 'data v2']);
    const v2 = snapshotTree(ds(repo));
    const v2model = fs.readFileSync(path.join(repo, 'model.bin'));
    expect(v2).not.toEqual(v1);

    git(repo, ['checkout', '-q', 'HEAD~1', '--', 'dataset.mlv', 'model.bin.mlv']);
    let r = await mlvJsonAsync(repo, ['checkout']);
    expect(r.code, r.stderr).toBe(0);
    expect(snapshotTree(ds(repo))).toEqual(v1);
    expect(fs.readFileSync(path.join(repo, 'model.bin'))).toEqual(v1model);
    expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);

    git(repo, ['checkout', '-q', 'main', '--', 'dataset.mlv', 'model.bin.mlv']);
    r = await mlvJsonAsync(repo, ['checkout']);
    expect(r.code, r.stderr).toBe(0);
    expect(snapshotTree(ds(repo))).toEqual(v2);
    expect(fs.readFileSync(path.join(repo, 'model.bin'))).toEqual(v2model);

    // Checking out the whole first commit (detached) works the same way.
    git(repo, ['checkout', '-q', 'HEAD~1']);
    expectOk(await mlvAsync(repo, ['checkout']));
    expect(snapshotTree(ds(repo))).toEqual(v1);
    git(repo, ['checkout', '-q', 'main']);
    expectOk(await mlvAsync(repo, ['checkout']));
    expect(snapshotTree(ds(repo))).toEqual(v2);
  });
});

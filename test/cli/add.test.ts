import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheObjectBytes, cacheObjects, git, gitIndex, snapshotTree, tempDir } from '../helpers/cli.js';
import {
  BLAKE3_EMPTY,
  blake3Hex,
  expectCleanError,
  expectOk,
  fixtureRepo,
  initRepoAsync,
  mlvAsync,
  mlvJsonAsync,
  objectPath,
  pointerId,
  pseudoRandomBytes,
  readPointer,
  repoState,
  settle,
  treeFiles,
  write,
} from '../helpers/assert.js';

const stagedPaths = (repo: string) =>
  gitIndex(repo)
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t')[1]!)
    .sort();

/** Files (not folders) of the fixture's dataset as the workspace holds them. */
function datasetFiles(repo: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [p, v] of snapshotTree(path.join(repo, 'dataset'))) if (v !== 'dir') out.set(p, v.bytes);
  return out;
}

describe.concurrent('mlv add', () => {
  it('sanity: the independent BLAKE3 matches the reference vector', async () => {
    expect(blake3Hex(Buffer.alloc(0))).toBe(BLAKE3_EMPTY);
  });

  it('adds a folder and a file in one command and writes documented pointers', async () => {
    const repo = await fixtureRepo();
    const files = datasetFiles(repo);
    const totalSize = [...files.values()].reduce((n, b) => n + b.length, 0);
    const { code, json, stderr } = await mlvJsonAsync(repo, ['add', 'dataset', 'model.bin']);
    expect(code, stderr).toBe(0);

    const dir = readPointer(path.join(repo, 'dataset.mlv'));
    expect(dir.keys).toEqual(['version', 'hash', 'kind', 'path', 'id', 'size', 'files']);
    expect(dir.values).toMatchObject({ version: '1', hash: 'blake3', kind: 'dir', path: '"dataset"', size: String(totalSize), files: String(files.size) });
    expect(dir.values.id).toMatch(/^[0-9a-f]{64}$/);

    const file = readPointer(path.join(repo, 'model.bin.mlv'));
    expect(file.keys).toEqual(['version', 'hash', 'kind', 'path', 'id', 'size']);
    const modelBytes = fs.readFileSync(path.join(repo, 'model.bin'));
    expect(file.values).toEqual({ version: '1', hash: 'blake3', kind: 'file', path: '"model.bin"', id: blake3Hex(modelBytes), size: String(modelBytes.length) });

    expect(json.targets).toEqual([
      { path: 'dataset', pointer: 'dataset.mlv', kind: 'dir', id: dir.values.id, size: totalSize, files: files.size, status: 'added', hashedFiles: files.size, hashedBytes: totalSize },
      { path: 'model.bin', pointer: 'model.bin.mlv', kind: 'file', id: file.values.id, size: modelBytes.length, status: 'added', hashedFiles: 1, hashedBytes: modelBytes.length },
    ]);

    // The cache holds every file under its BLAKE3 id, and the folder's Merkle tree.
    expect(fs.readFileSync(objectPath(repo, file.values.id!))).toEqual(modelBytes);
    const tree = treeFiles(repo, dir.values.id!);
    expect([...tree.keys()].sort()).toEqual([...files.keys()].sort());
    for (const [p, bytes] of files) {
      const e = tree.get(p)!;
      expect(e.id, p).toBe(blake3Hex(bytes));
      expect(e.size, p).toBe(bytes.length);
      expect(e.exec, p).toBe(p === 'prepare.sh');
      expect(fs.readFileSync(objectPath(repo, e.id)), p).toEqual(bytes);
    }
    expect(blake3Hex(fs.readFileSync(objectPath(repo, dir.values.id!)))).toBe(dir.values.id);

    // The data itself is ignored by Git; the pointers are not.
    expect(fs.readFileSync(path.join(repo, '.gitignore'), 'utf8')).toBe('/dataset\n/model.bin\n');
    const untracked = git(repo, ['status', '--porcelain', '--untracked-files=all']);
    expect(untracked).not.toMatch(/dataset\//);
    expect(untracked).not.toMatch(/ model\.bin\n/);
    expect(untracked).toMatch(/\?\? params\.json/);
  });

  it('stages Git objects that Git itself reads back byte for byte (git fsck, cat-file)', async () => {
    const repo = await initRepoAsync();
    write(repo, 'data/a.txt', 'alpha\n');
    write(repo, 'model.bin', pseudoRandomBytes(3000, 7));
    expectOk(await mlvAsync(repo, ['add', 'data', 'model.bin']));
    for (const staged of ['data.mlv', 'model.bin.mlv', '.gitignore']) {
      expect(git(repo, ['cat-file', '-p', `:${staged}`])).toBe(fs.readFileSync(path.join(repo, staged), 'utf8'));
    }
    git(repo, ['fsck', '--full', '--strict']);
    git(repo, ['commit', '-q', '-m', 'pointers']);
    expect(git(repo, ['status', '--porcelain'])).toBe('');
  });

  it('records the executable bit of a single file and a description', async () => {
    const repo = await fixtureRepo();
    write(repo, 'run.sh', '#!/bin/sh\necho hi\n', 0o755);
    await settle();
    expectOk(await mlvAsync(repo, ['add', 'run.sh', '-d', 'a "quoted" description']));
    const p = readPointer(path.join(repo, 'run.sh.mlv'));
    expect(p.keys).toEqual(['version', 'hash', 'kind', 'path', 'id', 'size', 'executable', 'description']);
    expect(p.values.executable).toBe('true');
    expect(JSON.parse(p.values.description!)).toBe('a "quoted" description');
    // Re-adding keeps the description.
    const again = await mlvJsonAsync(repo, ['add', 'run.sh']);
    expect(again.json.targets[0].status).toBe('unchanged');
    expect(JSON.parse(readPointer(path.join(repo, 'run.sh.mlv')).values.description!)).toBe('a "quoted" description');
  });

  it('writes /dataset to .gitignore exactly once, keeping existing lines', async () => {
    const repo = await fixtureRepo();
    write(repo, '.gitignore', '*.log\n# comment');
    expectOk(await mlvAsync(repo, ['add', 'dataset']));
    expectOk(await mlvAsync(repo, ['add', 'dataset']));
    write(repo, 'dataset/labels/train.csv', 'changed\n');
    await settle();
    expectOk(await mlvAsync(repo, ['add', 'dataset', 'dataset']));
    expect(fs.readFileSync(path.join(repo, '.gitignore'), 'utf8')).toBe('*.log\n# comment\n/dataset\n');
  });

  it('writes the pointer and .gitignore beside a nested target (paths relative to the cwd)', async () => {
    const repo = await fixtureRepo();
    const { code, json } = await mlvJsonAsync(path.join(repo, 'dataset'), ['add', 'labels']);
    expect(code).toBe(0);
    expect(json.targets[0]).toMatchObject({ path: 'dataset/labels', pointer: 'dataset/labels.mlv', kind: 'dir' });
    expect(fs.readFileSync(path.join(repo, 'dataset', '.gitignore'), 'utf8')).toBe('/labels\n');
    expect(fs.existsSync(path.join(repo, '.gitignore'))).toBe(false);
    expect(readPointer(path.join(repo, 'dataset', 'labels.mlv')).values.path).toBe('"labels"');
    expect(stagedPaths(repo)).toEqual(['.mlv/.gitignore', '.mlv/config', 'dataset/.gitignore', 'dataset/labels.mlv']);
  });

  it('escapes special characters in .gitignore entries so Git ignores exactly that name', async () => {
    const repo = await initRepoAsync();
    const names = ['weird #1 [x]*?.bin', '!bang.txt', ' leading space.txt', 'trailing space.txt '];
    for (const n of names) write(repo, n, `content of ${n}`);
    write(repo, 'weird #1 [y]*?.bin', 'sibling, not tracked');
    await settle();
    expectOk(await mlvAsync(repo, ['add', ...names]));
    const status = git(repo, ['-c', 'core.quotePath=false', 'status', '--porcelain', '--untracked-files=all']);
    const untracked = status
      .split('\n')
      .filter((l) => l.startsWith('?? '))
      .map((l) => l.slice(3));
    expect(untracked.map((u) => (u.startsWith('"') ? JSON.parse(u) : u)).sort()).toEqual(['weird #1 [y]*?.bin']);
    // Every pointer is staged (the ignore entries do not hide them).
    for (const n of names) expect(stagedPaths(repo), n).toContain(`${n}.mlv`);
  });

  it('stages the pointers and .gitignore (and nothing else)', async () => {
    const repo = await fixtureRepo();
    const { json } = await mlvJsonAsync(repo, ['add', 'dataset', 'model.bin']);
    expect([...json.staged].sort()).toEqual(['.gitignore', 'dataset.mlv', 'model.bin.mlv']);
    expect(stagedPaths(repo)).toEqual(['.gitignore', '.mlv/.gitignore', '.mlv/config', 'dataset.mlv', 'model.bin.mlv']);
    // The staged blobs are exactly the files on disk.
    expect(git(repo, ['diff', '--name-only']).trim()).toBe('');
  });

  it('refuses a target whose pointer Git would ignore, and changes nothing', async () => {
    const repo = await fixtureRepo();
    write(repo, '.gitignore', '/dataset/\n');
    const before = repoState(repo);
    const r = await mlvAsync(repo, ['add', 'dataset/labels']);
    expectCleanError(r, 2, /would be ignored by Git/);
    expect(repoState(repo)).toEqual(before);
  });

  it('every path reported as staged is in the Git index', async () => {
    const repo = await fixtureRepo();
    const { code, json } = await mlvJsonAsync(repo, ['add', 'dataset/labels']);
    expect(code).toBe(0);
    expect(json.staged.length).toBeGreaterThan(0);
    const index = stagedPaths(repo);
    for (const p of json.staged) expect(index, `reported as staged: ${p}`).toContain(p);
  });

  it('--no-stage stages nothing', async () => {
    const repo = await fixtureRepo();
    const before = gitIndex(repo);
    const { code, json } = await mlvJsonAsync(repo, ['add', '--no-stage', 'dataset', 'model.bin']);
    expect(code).toBe(0);
    expect(json.staged).toEqual([]);
    expect(gitIndex(repo)).toBe(before);
    expect(fs.existsSync(path.join(repo, 'dataset.mlv'))).toBe(true);
    expect(fs.readFileSync(path.join(repo, '.gitignore'), 'utf8')).toBe('/dataset\n/model.bin\n');
  });

  it('core.autostage false stages nothing either', async () => {
    const repo = await fixtureRepo();
    expectOk(await mlvAsync(repo, ['config', 'core.autostage', 'false']));
    const before = gitIndex(repo);
    expectOk(await mlvAsync(repo, ['add', 'model.bin']));
    expect(gitIndex(repo)).toBe(before);
  });

  it('stores identical content once, as read-only objects', async () => {
    const repo = await initRepoAsync();
    write(repo, 'dups/a.txt', 'same bytes\n');
    write(repo, 'dups/b.txt', 'same bytes\n');
    write(repo, 'dups/sub/c.txt', 'same bytes\n');
    write(repo, 'dups/sub/d.txt', 'other bytes\n');
    write(repo, 'single.txt', 'same bytes\n');
    await settle();
    const { json } = await mlvJsonAsync(repo, ['add', 'dups', 'single.txt']);
    const same = blake3Hex(Buffer.from('same bytes\n'));
    expect(json.targets[1].id).toBe(same);
    const objects = cacheObjects(repo);
    // Two file contents and two trees (dups, dups/sub).
    expect(objects).toHaveLength(4);
    expect(objects).toContain(`${same.slice(0, 2)}/${same.slice(2)}`);
    for (const o of objects) {
      const st = fs.statSync(path.join(repo, '.mlv', 'cache', o));
      expect((st.mode & 0o777).toString(8), o).toBe('444');
      expect(st.nlink, o).toBe(1);
    }
    // The workspace files are left as they were (not replaced by links).
    expect((fs.statSync(path.join(repo, 'dups', 'a.txt')).mode & 0o777).toString(8)).toBe('644');
  });

  it('re-adding unchanged data hashes nothing and reports "unchanged"', async () => {
    const repo = await fixtureRepo();
    expectOk(await mlvAsync(repo, ['add', 'dataset', 'model.bin']));
    const pointers = [fs.readFileSync(path.join(repo, 'dataset.mlv')), fs.readFileSync(path.join(repo, 'model.bin.mlv'))];
    const before = repoState(repo);
    const { code, json } = await mlvJsonAsync(repo, ['add', 'dataset', 'model.bin']);
    expect(code).toBe(0);
    expect(json.targets.map((t: any) => [t.path, t.status, t.hashedFiles, t.hashedBytes])).toEqual([
      ['dataset', 'unchanged', 0, 0],
      ['model.bin', 'unchanged', 0, 0],
    ]);
    expect(json.staged).toEqual([]);
    expect(repoState(repo)).toEqual(before);
    expect([fs.readFileSync(path.join(repo, 'dataset.mlv')), fs.readFileSync(path.join(repo, 'model.bin.mlv'))]).toEqual(pointers);
    const human = await mlvAsync(repo, ['add', 'dataset']);
    expectOk(human);
    expect(human.stdout).toMatch(/^unchanged dataset /m);
  });

  it('changing one file records a new id and hashes only that file', async () => {
    const repo = await fixtureRepo();
    const first = (await mlvJsonAsync(repo, ['add', 'dataset'])).json.targets[0];
    const oldObjects = cacheObjects(repo);
    write(repo, 'dataset/labels/train.csv', 'id,label\n1,cat\n2,dog\n3,bird\n');
    await settle();
    const { code, json } = await mlvJsonAsync(repo, ['add', 'dataset']);
    expect(code).toBe(0);
    const t = json.targets[0];
    expect(t.status).toBe('updated');
    expect(t.hashedFiles).toBe(1);
    expect(t.id).not.toBe(first.id);
    expect(pointerId(path.join(repo, 'dataset.mlv'))).toBe(t.id);
    expect(json.staged).toEqual(['dataset.mlv']);
    // Old objects are kept; new: the file and the trees on its path (labels, root).
    const now = cacheObjects(repo);
    for (const o of oldObjects) expect(now).toContain(o);
    expect(now.length - oldObjects.length).toBe(3);
    expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);
  });

  it('a changed single file gets a new id', async () => {
    const repo = await fixtureRepo();
    const first = (await mlvJsonAsync(repo, ['add', 'model.bin'])).json.targets[0];
    write(repo, 'model.bin', 'new weights');
    await settle();
    const t = (await mlvJsonAsync(repo, ['add', 'model.bin'])).json.targets[0];
    expect(t).toMatchObject({ status: 'updated', hashedFiles: 1, id: blake3Hex(Buffer.from('new weights')) });
    expect(t.id).not.toBe(first.id);
  });

  it('adds a folder of 1500 small files on worker threads; a second add hashes nothing', async () => {
    const repo = await initRepoAsync();
    const expected = new Map<string, string>();
    for (let d = 0; d < 15; d++) {
      fs.mkdirSync(path.join(repo, 'many', `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) {
        const rel = `d${d}/f${f}.txt`;
        const content = `file ${d}/${f}\n`;
        fs.writeFileSync(path.join(repo, 'many', rel), content);
        expected.set(rel, content);
      }
    }
    await settle();
    const first = await mlvJsonAsync(repo, ['add', 'many', '--jobs', '2']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json.targets[0]).toMatchObject({ kind: 'dir', files: 1500, hashedFiles: 1500, status: 'added' });
    const tree = treeFiles(repo, first.json.targets[0].id);
    expect(tree.size).toBe(1500);
    for (const [rel, content] of expected) {
      const e = tree.get(rel)!;
      expect(e.id, rel).toBe(blake3Hex(Buffer.from(content)));
      expect(cacheObjectBytes(repo, e.id).toString('utf8'), rel).toBe(content);
    }
    expect(cacheObjects(repo)).toHaveLength(1500 + 16);

    const second = await mlvJsonAsync(repo, ['add', 'many', '--jobs', '2']);
    expect(second.json.targets[0]).toMatchObject({ status: 'unchanged', hashedFiles: 0, id: first.json.targets[0].id });
    expect((await mlvJsonAsync(repo, ['status', '--jobs', '2'])).json.clean).toBe(true);

    write(repo, 'many/d7/f42.txt', 'changed\n');
    await settle();
    const third = await mlvJsonAsync(repo, ['add', 'many', '--jobs', '2']);
    expect(third.json.targets[0]).toMatchObject({ status: 'updated', hashedFiles: 1, files: 1500 });
    expect(treeFiles(repo, third.json.targets[0].id).get('d7/f42.txt')!.id).toBe(blake3Hex(Buffer.from('changed\n')));

    // Round trip through checkout.
    const snapshot = snapshotTree(path.join(repo, 'many'));
    fs.rmSync(path.join(repo, 'many'), { recursive: true });
    const co = await mlvJsonAsync(repo, ['checkout', '--jobs', '2']);
    expect(co.code, co.stderr).toBe(0);
    expect(co.json.written).toBe(1500);
    expect(snapshotTree(path.join(repo, 'many'))).toEqual(snapshot);
  });

  it('round-trips a file larger than 8 MiB', async () => {
    const repo = await initRepoAsync();
    const bytes = pseudoRandomBytes(9 * 1024 * 1024 + 12345, 7);
    write(repo, 'big.bin', bytes);
    await settle();
    const { code, json } = await mlvJsonAsync(repo, ['add', 'big.bin']);
    expect(code).toBe(0);
    expect(json.targets[0]).toMatchObject({ size: bytes.length, id: blake3Hex(bytes), hashedFiles: 1 });
    expect(fs.readFileSync(objectPath(repo, json.targets[0].id)).equals(bytes)).toBe(true);
    fs.rmSync(path.join(repo, 'big.bin'));
    expectOk(await mlvAsync(repo, ['checkout']));
    expect(fs.readFileSync(path.join(repo, 'big.bin')).equals(bytes)).toBe(true);
    expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);
  });

  it('without cp on the PATH, a large file is copied through mlv itself, byte for byte', async () => {
    const repo = await initRepoAsync();
    const bytes = pseudoRandomBytes(9 * 1024 * 1024 + 7, 8);
    write(repo, 'big.bin', bytes);
    await settle();
    const { code, json } = await mlvJsonAsync(repo, ['add', 'big.bin'], { PATH: tempDir('mlv-empty-path-') });
    expect(code).toBe(0);
    expect(json.targets[0]).toMatchObject({ size: bytes.length, id: blake3Hex(bytes) });
    expect(fs.readFileSync(objectPath(repo, json.targets[0].id)).equals(bytes)).toBe(true);
    expect(fs.readdirSync(path.join(repo, '.mlv', 'cache', 'tmp'))).toEqual([]);
  });

  describe('refusals change nothing', () => {
    /** Runs a refused add and checks the exit code, the one-line error, and that nothing changed. */
    async function refused(repo: string, args: string[], code: number, message?: RegExp, cwd = repo): Promise<void> {
      const before = repoState(repo);
      const r = await mlvAsync(cwd, ['add', ...args]);
      expectCleanError(r, code, message);
      expect(repoState(repo), `mlv add ${args.join(' ')}`).toEqual(before);
    }

    it('a missing path (also next to a valid one)', async () => {
      const repo = await fixtureRepo();
      await refused(repo, ['nope'], 2, /nope does not exist/);
      await refused(repo, ['model.bin', 'nope'], 2, /nope does not exist/);
      await refused(repo, ['dataset/nope.csv'], 2);
    });

    it('a path outside the repository', async () => {
      const repo = await fixtureRepo();
      const outside = tempDir();
      write(outside, 'x.bin', 'outside');
      await refused(repo, [path.join(outside, 'x.bin')], 2, /outside the repository/);
      await refused(repo, [path.relative(repo, path.join(outside, 'x.bin'))], 2, /outside the repository/);
      await refused(repo, ['../..'], 2, /outside the repository/, path.join(repo, 'dataset'));
    });

    it('.git, .mlv and paths inside them', async () => {
      const repo = await fixtureRepo();
      for (const p of ['.git', '.mlv', '.git/config', '.git/objects', '.mlv/config', '.mlv/cache', 'dataset/../.mlv', './.git/HEAD']) {
        await refused(repo, [p], 2);
      }
    });

    it('a folder named .git or .mlv deeper down', async () => {
      const repo = await initRepoAsync();
      write(repo, 'data/.mlv/x', 'x');
      write(repo, 'other/.git', 'gitdir: elsewhere');
      await refused(repo, ['data/.mlv'], 2);
      await refused(repo, ['data'], 2);
      await refused(repo, ['other/.git'], 2);
    });

    it('the repository root', async () => {
      const repo = await fixtureRepo();
      await refused(repo, ['.'], 2, /repository root/);
      await refused(repo, [repo], 2, /repository root/);
      await refused(repo, ['..'], 2, /repository root/, path.join(repo, 'dataset'));
    });

    it('a path inside an already tracked folder', async () => {
      const repo = await fixtureRepo();
      expectOk(await mlvAsync(repo, ['add', 'dataset']));
      await refused(repo, ['dataset/labels'], 2, /already tracks/);
      await refused(repo, ['dataset/labels/train.csv'], 2, /already tracks/);
    });

    it('a folder containing an already tracked path', async () => {
      const repo = await fixtureRepo();
      expectOk(await mlvAsync(repo, ['add', 'dataset/labels/train.csv']));
      await refused(repo, ['dataset'], 2, /already tracks/);
      await refused(repo, ['dataset/labels'], 2, /already tracks/);
    });

    it('a path Git already tracks (itself or something inside it)', async () => {
      const repo = await fixtureRepo();
      git(repo, ['add', 'params.json', 'dataset/labels/val.csv']);
      git(repo, ['commit', '-q', '-m', 'tracked by git']);
      await refused(repo, ['params.json'], 2, /already tracked by Git/);
      await refused(repo, ['dataset'], 2, /already tracked by Git/);
      await refused(repo, ['model.bin', 'params.json'], 2, /already tracked by Git/);
      // Staged but not committed counts too.
      git(repo, ['add', 'model.bin']);
      await refused(repo, ['model.bin'], 2, /already tracked by Git/);
    });

    it('a folder containing a symbolic link', async () => {
      const repo = await fixtureRepo();
      fs.symlinkSync('../../model.bin', path.join(repo, 'dataset', 'labels', 'link.bin'));
      await refused(repo, ['dataset'], 2, /symbolic link/);
      await refused(repo, ['model.bin', 'dataset'], 2, /symbolic link/);
      fs.rmSync(path.join(repo, 'dataset', 'labels', 'link.bin'));
      fs.symlinkSync('does-not-exist', path.join(repo, 'dataset', 'dangling'));
      await refused(repo, ['dataset'], 2, /symbolic link/);
      fs.rmSync(path.join(repo, 'dataset', 'dangling'));
      fs.symlinkSync('images', path.join(repo, 'dataset', 'dirlink'));
      await refused(repo, ['dataset'], 2, /symbolic link/);
    });

    it('a symbolic link as the target, or a path reached through one', async () => {
      const repo = await fixtureRepo();
      fs.symlinkSync('model.bin', path.join(repo, 'model-link.bin'));
      fs.symlinkSync('dataset', path.join(repo, 'data-link'));
      await refused(repo, ['model-link.bin'], 2, /symbolic link/);
      await refused(repo, ['data-link'], 2, /symbolic link/);
      await refused(repo, ['data-link/labels'], 2, /symbolic link/);
    });

    it('a *.mlv path', async () => {
      const repo = await fixtureRepo();
      write(repo, 'notes.mlv', 'some file');
      await refused(repo, ['notes.mlv'], 2, /pointer file/);
      expectOk(await mlvAsync(repo, ['add', 'model.bin']));
      await refused(repo, ['model.bin.mlv'], 2, /pointer file/);
      fs.mkdirSync(path.join(repo, 'folder.mlv'));
      write(repo, 'folder.mlv/x', 'x');
      await refused(repo, ['folder.mlv'], 2, /pointer file/);
    });

    it('a backslash in a name is not taken as a path separator', async () => {
      const repo = await fixtureRepo();
      // On POSIX "dataset\\labels" is one file name (which mlv cannot track), not dataset/labels.
      write(repo, 'dataset\\labels', 'a file whose name holds a backslash');
      await refused(repo, ['dataset\\labels'], 2);
      // The refusal names the real problem, not a missing file.
      write(repo, 'back\\slash.txt', 'x');
      await refused(repo, ['back\\slash.txt'], 2);
      expect((await mlvAsync(repo, ['add', 'back\\slash.txt'])).stderr).not.toMatch(/does not exist/);
    });

    it('a folder and a path inside it in one command', async () => {
      const repo = await fixtureRepo();
      await refused(repo, ['dataset', 'dataset/labels'], 2, /inside/);
      await refused(repo, ['dataset/labels/train.csv', 'dataset'], 2, /inside/);
    });
  });
});

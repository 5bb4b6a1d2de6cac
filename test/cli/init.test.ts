import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, gitIndex, tempDir } from '../helpers/cli.js';
import {
  expectCleanError,
  expectOk,
  initRepoAsync,
  lsTree,
  mlvAsync,
  mlvJsonAsync,
  repoState,
  settle,
  write,
} from '../helpers/assert.js';

function gitRepo(): string {
  const dir = tempDir();
  git(dir, ['init', '-q', '-b', 'main']);
  return dir;
}

describe.concurrent('mlv init', () => {
  it('creates .mlv with its layout and stages config and .gitignore', async () => {
    const repo = gitRepo();
    const r = await mlvAsync(repo, ['init']);
    expectOk(r);
    const mlvDir = path.join(repo, '.mlv');
    for (const f of ['config', 'config.local', '.gitignore']) expect(fs.statSync(path.join(mlvDir, f)).isFile(), f).toBe(true);
    for (const d of ['cache', 'tmp', 'state']) expect(fs.statSync(path.join(mlvDir, d)).isDirectory(), d).toBe(true);

    const tracked = git(repo, ['ls-files']).split('\n').filter(Boolean).sort();
    expect(tracked).toEqual(['.mlv/.gitignore', '.mlv/config']);
    // The staged blobs are the files as written.
    expect(git(repo, ['diff', '--name-only']).trim()).toBe('');
    // Machine-local parts of .mlv stay out of Git.
    for (const p of ['.mlv/config.local', '.mlv/cache/ab/cdef', '.mlv/tmp/x', '.mlv/state/stat-cache', '.mlv/lock']) {
      expect(git(repo, ['check-ignore', '--no-index', '-q', p]) === '', p).toBe(true);
    }
    expect(git(repo, ['status', '--porcelain', '--untracked-files=all']).trim().split('\n').sort()).toEqual(['A  .mlv/.gitignore', 'A  .mlv/config']);
  });

  it('reports what it did with --json', async () => {
    const repo = gitRepo();
    const { code, json } = await mlvJsonAsync(repo, ['init']);
    expect(code).toBe(0);
    expect(json).toEqual({ root: fs.realpathSync(repo), created: true, scm: true, staged: ['.mlv/config', '.mlv/.gitignore'] });
  });

  it('is harmless when run twice', async () => {
    const repo = await initRepoAsync();
    const before = repoState(repo);
    const mlvBefore = lsTree(path.join(repo, '.mlv'));
    const again = await mlvJsonAsync(repo, ['init']);
    expect(again.code).toBe(0);
    expect(again.json.created).toBe(false);
    expect(repoState(repo)).toEqual(before);
    expect(lsTree(path.join(repo, '.mlv'))).toEqual(mlvBefore);
    // Human output says so too.
    const r = await mlvAsync(repo, ['init']);
    expectOk(r);
    expect(r.stdout).toMatch(/already initialised/);
    expect(lsTree(path.join(repo, '.mlv'))).toEqual(mlvBefore);
  });

  it('keeps existing configuration and tracked data when run again', async () => {
    const repo = await initRepoAsync();
    expectOk(await mlvAsync(repo, ['config', 'core.link', 'hardlink,copy']));
    write(repo, 'data/a.txt', 'a\n');
    await settle();
    expectOk(await mlvAsync(repo, ['add', 'data']));
    const before = repoState(repo);
    expectOk(await mlvAsync(repo, ['init']));
    const after = repoState(repo);
    expect(after.files).toEqual(before.files);
    expect(after.cache).toEqual(before.cache);
    // (init re-stages .mlv/config, so the index may now hold the edited config: not compared.)
    expect((await mlvAsync(repo, ['config', 'core.link'])).stdout).toBe('hardlink,copy\n');
  });

  it('re-creates missing parts of the layout', async () => {
    const repo = await initRepoAsync();
    fs.rmSync(path.join(repo, '.mlv', 'tmp'), { recursive: true });
    fs.rmSync(path.join(repo, '.mlv', 'config.local'));
    expectOk(await mlvAsync(repo, ['init']));
    expect(fs.statSync(path.join(repo, '.mlv', 'tmp')).isDirectory()).toBe(true);
    expect(fs.existsSync(path.join(repo, '.mlv', 'config.local'))).toBe(true);
  });

  it('initialises at the Git root when run from a subfolder', async () => {
    const repo = gitRepo();
    const sub = path.join(repo, 'src', 'deep');
    fs.mkdirSync(sub, { recursive: true });
    const { code, json } = await mlvJsonAsync(sub, ['init']);
    expect(code).toBe(0);
    expect(json.root).toBe(fs.realpathSync(repo));
    expect(fs.statSync(path.join(repo, '.mlv')).isDirectory()).toBe(true);
    expect(fs.existsSync(path.join(repo, 'src', '.mlv'))).toBe(false);
    expect(fs.existsSync(path.join(sub, '.mlv'))).toBe(false);
    expect(git(repo, ['ls-files']).split('\n').filter(Boolean).sort()).toEqual(['.mlv/.gitignore', '.mlv/config']);
    // Commands run from the subfolder find the project.
    expectOk(await mlvAsync(sub, ['status']));
  });

  it('--no-stage creates .mlv but stages nothing', async () => {
    const repo = gitRepo();
    const { code, json } = await mlvJsonAsync(repo, ['init', '--no-stage']);
    expect(code).toBe(0);
    expect(json.staged).toEqual([]);
    expect(fs.existsSync(path.join(repo, '.mlv', 'config'))).toBe(true);
    expect(gitIndex(repo)).toBe('');
  });

  it('refuses to run outside Git without --no-scm (exit 3, with a hint)', async () => {
    const dir = tempDir();
    const before = lsTree(dir);
    const r = await mlvAsync(dir, ['init']);
    expectCleanError(r, 3, /not inside a Git repository/);
    expect(r.stderr).toMatch(/^hint: .*--no-scm/m);
    expect(lsTree(dir)).toEqual(before);
    expect(fs.existsSync(path.join(dir, '.mlv'))).toBe(false);
  });

  it('--no-scm works outside Git, and add then never touches Git', async () => {
    const dir = tempDir();
    const init = await mlvJsonAsync(dir, ['init', '--no-scm']);
    expect(init.code).toBe(0);
    expect(init.json).toMatchObject({ root: fs.realpathSync(dir), created: true, scm: false, staged: [] });
    expect((await mlvAsync(dir, ['config', 'core.no_scm'])).stdout).toBe('true\n');
    expect(fs.existsSync(path.join(dir, '.git'))).toBe(false);

    write(dir, 'data/a.txt', 'hello\n');
    write(dir, 'model.bin', 'weights');
    await settle();
    const add = await mlvJsonAsync(dir, ['add', 'data', 'model.bin']);
    expect(add.code).toBe(0);
    expect(add.json.staged).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'data.mlv'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'model.bin.mlv'))).toBe(true);
    expect(fs.existsSync(path.join(dir, '.git'))).toBe(false);
    expect((await mlvJsonAsync(dir, ['status'])).json.clean).toBe(true);
    fs.rmSync(path.join(dir, 'data'), { recursive: true });
    expectOk(await mlvAsync(dir, ['checkout']));
    expect(fs.readFileSync(path.join(dir, 'data', 'a.txt'), 'utf8')).toBe('hello\n');
    const un = await mlvJsonAsync(dir, ['untrack', 'model.bin']);
    expect(un.code).toBe(0);
    expect(un.json.staged).toEqual([]);
    expect(fs.existsSync(path.join(dir, '.git'))).toBe(false);
  });

  it('--no-scm inside a Git repository leaves the Git index alone', async () => {
    const repo = gitRepo();
    expectOk(await mlvAsync(repo, ['init', '--no-scm']));
    expect(gitIndex(repo)).toBe('');
    write(repo, 'data/a.txt', 'hello\n');
    await settle();
    const add = await mlvJsonAsync(repo, ['add', 'data']);
    expect(add.code).toBe(0);
    expect(add.json.staged).toEqual([]);
    expect(gitIndex(repo)).toBe('');
    // The .gitignore entry is still written, so the data stays out of Git.
    expect(fs.readFileSync(path.join(repo, '.gitignore'), 'utf8')).toBe('/data\n');
  });

  it('fails with exit 3 when the folder has no .mlv', async () => {
    for (const dir of [gitRepo(), tempDir()]) {
      write(dir, 'data/a.txt', 'x');
      write(dir, 'data.mlv', 'not a pointer\n');
      const before = lsTree(dir);
      for (const args of [['add', 'data'], ['status'], ['status', 'data'], ['checkout'], ['untrack', 'data'], ['config', 'core.link'], ['config', '--list'], ['config', 'core.link', 'copy']]) {
        const r = await mlvAsync(dir, args);
        expectCleanError(r, 3, /not inside an mlv project/);
        expect(r.stderr).toMatch(/^hint: .*mlv init/m);
      }
      expect(lsTree(dir)).toEqual(before);
    }
  });

  it('refuses when .mlv exists and is not a folder', async () => {
    const repo = gitRepo();
    write(repo, '.mlv', 'junk');
    const before = lsTree(repo, ['.git']);
    expectCleanError(await mlvAsync(repo, ['init']), 2, /not a folder/);
    expect(lsTree(repo, ['.git'])).toEqual(before);
  });
});

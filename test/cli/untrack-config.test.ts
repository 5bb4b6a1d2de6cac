import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, cacheObjects, git, gitIndex, snapshotTree, tempDir } from '../helpers/cli.js';
import {
  expectCleanError,
  expectOk,
  fixtureRepo,
  initRepoAsync,
  lsTree,
  mlvAsync,
  mlvJsonAsync,
  repoState,
  write,
} from '../helpers/assert.js';

const indexPaths = (repo: string) =>
  gitIndex(repo)
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t')[1]!)
    .sort();
const read = (repo: string, rel: string) => fs.readFileSync(path.join(repo, rel), 'utf8');
const exists = (repo: string, rel: string) => fs.existsSync(path.join(repo, rel));

describe.concurrent('mlv untrack', () => {
  it('removes the pointer and the .gitignore entry, keeps the data, stages the removal', async () => {
    const repo = await fixtureRepo();
    write(repo, '.gitignore', '*.log\n');
    expectOk(await mlvAsync(repo, ['add', 'dataset', 'model.bin']));
    git(repo, ['commit', '-q', '-m', 'track data']);
    const data = snapshotTree(path.join(repo, 'dataset'));
    const cache = cacheObjects(repo);

    const { code, json, stderr } = await mlvJsonAsync(repo, ['untrack', 'dataset']);
    expect(code, stderr).toBe(0);
    expect(json.untracked).toEqual([{ path: 'dataset', pointer: 'dataset.mlv' }]);
    expect([...json.staged].sort()).toEqual(['.gitignore', 'dataset.mlv']);
    expect(exists(repo, 'dataset.mlv')).toBe(false);
    expect(read(repo, '.gitignore')).toBe('*.log\n/model.bin\n');
    expect(snapshotTree(path.join(repo, 'dataset'))).toEqual(data);
    expect(cacheObjects(repo)).toEqual(cache);
    expect(git(repo, ['diff', '--cached', '--name-status']).trim().split('\n').sort()).toEqual(['D\tdataset.mlv', 'M\t.gitignore']);
    expect(git(repo, ['diff', '--name-only']).trim()).toBe('');
    // The data is no longer ignored by Git.
    expect(git(repo, ['status', '--porcelain', '--untracked-files=all'])).toMatch(/^\?\? dataset\/labels\/train\.csv$/m);
    // mlv no longer knows it; the other target is untouched.
    expect((await mlvJsonAsync(repo, ['status'])).json.targets.map((t: any) => t.path)).toEqual(['model.bin']);
  });

  it('deletes the .gitignore when it becomes empty, and stages that', async () => {
    const repo = await fixtureRepo();
    expectOk(await mlvAsync(repo, ['add', 'model.bin']));
    expect(indexPaths(repo)).toContain('.gitignore');
    const { code, json } = await mlvJsonAsync(repo, ['untrack', 'model.bin.mlv']);
    expect(code).toBe(0);
    expect(json.untracked).toEqual([{ path: 'model.bin', pointer: 'model.bin.mlv' }]);
    expect(exists(repo, '.gitignore')).toBe(false);
    expect(exists(repo, 'model.bin.mlv')).toBe(false);
    expect(read(repo, 'model.bin')).toBe(fs.readFileSync(path.join(FIXTURES, 'basic', 'model.bin'), 'utf8'));
    // Never committed: both simply leave the index.
    expect(indexPaths(repo)).toEqual(['.mlv/.gitignore', '.mlv/config']);
  });

  it('works for nested targets and several targets at once', async () => {
    const repo = await fixtureRepo();
    expectOk(await mlvAsync(repo, ['add', 'dataset/labels', 'dataset/images/val', 'model.bin']));
    git(repo, ['commit', '-q', '-m', 'nested']);
    const { code } = await mlvJsonAsync(path.join(repo, 'dataset'), ['untrack', 'labels', 'images/val']);
    expect(code).toBe(0);
    expect(exists(repo, 'dataset/.gitignore')).toBe(false);
    expect(exists(repo, 'dataset/images/.gitignore')).toBe(false);
    expect(exists(repo, 'dataset/labels.mlv')).toBe(false);
    expect(exists(repo, 'dataset/images/val.mlv')).toBe(false);
    expect(read(repo, '.gitignore')).toBe('/model.bin\n');
    expect(indexPaths(repo)).toEqual(['.gitignore', '.mlv/.gitignore', '.mlv/config', 'model.bin.mlv']);
    expect(git(repo, ['diff', '--cached', '--name-status']).trim().split('\n').sort()).toEqual([
      'D\tdataset/.gitignore',
      'D\tdataset/images/.gitignore',
      'D\tdataset/images/val.mlv',
      'D\tdataset/labels.mlv',
    ]);
  });

  it('--no-stage leaves the index alone', async () => {
    const repo = await fixtureRepo();
    expectOk(await mlvAsync(repo, ['add', 'dataset']));
    const index = gitIndex(repo);
    const { code, json } = await mlvJsonAsync(repo, ['untrack', '--no-stage', 'dataset']);
    expect(code).toBe(0);
    expect(json.staged).toEqual([]);
    expect(gitIndex(repo)).toBe(index);
    expect(exists(repo, 'dataset.mlv')).toBe(false);
  });

  it('refuses what is not tracked (exit 2) and changes nothing', async () => {
    const repo = await fixtureRepo();
    expectOk(await mlvAsync(repo, ['add', 'dataset']));
    const before = repoState(repo);
    expectCleanError(await mlvAsync(repo, ['untrack', 'model.bin']), 2, /not tracked/);
    expectCleanError(await mlvAsync(repo, ['untrack', 'nope']), 2, /not tracked/);
    expectCleanError(await mlvAsync(repo, ['untrack', 'dataset/labels']), 2, /inside the tracked folder/);
    expectCleanError(await mlvAsync(repo, ['untrack', 'dataset', 'model.bin']), 2, /not tracked/);
    expect(repoState(repo)).toEqual(before);
  });
});

describe('mlv config', () => {
  it('sets and gets a value in .mlv/config', async () => {
    const repo = await initRepoAsync();
    const r = await mlvAsync(repo, ['config', 'core.link', 'hardlink,copy']);
    expectOk(r);
    expect(r.stdout).toBe('core.link = hardlink,copy (in .mlv/config)\n');
    expect(read(repo, '.mlv/config')).toMatch(/^\[core\]\n\tlink = hardlink,copy$/m);
    expect((await mlvAsync(repo, ['config', 'core.link'])).stdout).toBe('hardlink,copy\n');
    expect((await mlvJsonAsync(repo, ['config', 'core.link'])).json).toEqual({ action: 'get', key: 'core.link', value: 'hardlink,copy', source: 'config' });
    // Setting again replaces the value, keeping one line.
    expectOk(await mlvAsync(repo, ['config', 'core.link', 'copy']));
    expect(read(repo, '.mlv/config').match(/link =/g)).toHaveLength(1);
    expect((await mlvAsync(repo, ['config', 'core.link'])).stdout).toBe('copy\n');
    // The header comments survive.
    expect(read(repo, '.mlv/config')).toMatch(/^# mlv project configuration/);
  });

  it('gets defaults, and fails (exit 2) for a key that is not set and has none', async () => {
    const repo = await initRepoAsync();
    expect((await mlvJsonAsync(repo, ['config', 'core.link'])).json).toEqual({ action: 'get', key: 'core.link', value: 'reflink,copy', source: 'default' });
    expect((await mlvAsync(repo, ['config', 'core.autostage'])).stdout).toBe('true\n');
    expectCleanError(await mlvAsync(repo, ['config', 'core.jobs']), 2, /core\.jobs is not set/);
  });

  it('--local writes .mlv/config.local, which overrides .mlv/config', async () => {
    const repo = await initRepoAsync();
    const shared = read(repo, '.mlv/config');
    expectOk(await mlvAsync(repo, ['config', '--local', 'core.jobs', '3']));
    expect(read(repo, '.mlv/config')).toBe(shared);
    expect(read(repo, '.mlv/config.local')).toMatch(/^\tjobs = 3$/m);
    expect((await mlvJsonAsync(repo, ['config', 'core.jobs'])).json).toMatchObject({ value: '3', source: 'config.local' });
    expectOk(await mlvAsync(repo, ['config', 'core.link', 'copy']));
    expectOk(await mlvAsync(repo, ['config', '--local', 'core.link', 'hardlink,copy']));
    expect((await mlvJsonAsync(repo, ['config', 'core.link'])).json).toMatchObject({ value: 'hardlink,copy', source: 'config.local' });
    expect((await mlvAsync(repo, ['config', '--local', 'core.link'])).stdout).toBe('hardlink,copy\n');
    expectCleanError(await mlvAsync(repo, ['config', '--local', 'core.autostage']), 2, /not set in \.mlv\/config\.local/);
    // config.local is not staged or committed.
    expect(indexPaths(repo)).toEqual(['.mlv/.gitignore', '.mlv/config']);
  });

  it('--unset removes a key (and is a no-op when it is not set)', async () => {
    const repo = await initRepoAsync();
    const pristine = read(repo, '.mlv/config');
    expectOk(await mlvAsync(repo, ['config', 'core.link', 'copy']));
    const r = await mlvJsonAsync(repo, ['config', '--unset', 'core.link']);
    expect(r.json).toEqual({ action: 'unset', key: 'core.link', file: '.mlv/config', existed: true });
    expect((await mlvAsync(repo, ['config', 'core.link'])).stdout).toBe('reflink,copy\n');
    expect(read(repo, '.mlv/config')).not.toMatch(/link/);
    const before = lsTree(path.join(repo, '.mlv'), ['cache', 'state', 'tmp']);
    const again = await mlvJsonAsync(repo, ['config', '--unset', 'core.link']);
    expect(again.code).toBe(0);
    expect(again.json.existed).toBe(false);
    expect(lsTree(path.join(repo, '.mlv'), ['cache', 'state', 'tmp'])).toEqual(before);
    expect((await mlvAsync(repo, ['config', '--unset', 'core.link'])).stdout).toBe('core.link was not set in .mlv/config\n');
    // --local --unset touches only config.local.
    expectOk(await mlvAsync(repo, ['config', 'core.jobs', '2']));
    expectOk(await mlvAsync(repo, ['config', '--local', 'core.jobs', '4']));
    expectOk(await mlvAsync(repo, ['config', '--local', '--unset', 'core.jobs']));
    expect((await mlvAsync(repo, ['config', 'core.jobs'])).stdout).toBe('2\n');
    expectOk(await mlvAsync(repo, ['config', '--unset', 'core.jobs']));
    expect(read(repo, '.mlv/config').replace(/\[core\]\n/, '')).toBe(pristine);
  });

  it('--list shows every setting in effect and where it comes from', async () => {
    const repo = await initRepoAsync();
    expectOk(await mlvAsync(repo, ['config', 'core.link', 'copy']));
    expectOk(await mlvAsync(repo, ['config', '--local', 'core.jobs', '2']));
    const r = await mlvAsync(repo, ['config', '--list']);
    expectOk(r);
    expect(r.stdout).toBe('core.link=copy\ncore.autostage=true  (default)\ncore.jobs=2  (config.local)\ncore.no_scm=false  (default)\ncore.lock_timeout=60  (default)\n');
    const j = await mlvJsonAsync(repo, ['config', '--list']);
    expect(j.json.action).toBe('list');
    expect(j.json.entries).toContainEqual({ key: 'core.link', value: 'copy', source: 'config' });
    expect(j.json.entries).toContainEqual({ key: 'core.jobs', value: '2', source: 'config.local' });
    expect((await mlvAsync(repo, ['config', '--list', '--local'])).stdout).toBe('core.jobs=2  (config.local)\n');
  });

  it('refuses unknown keys and invalid values (exit 2) and changes nothing', async () => {
    const repo = await initRepoAsync();
    expectOk(await mlvAsync(repo, ['config', 'core.link', 'copy']));
    const before = repoState(repo);
    const bad: Array<[string[], RegExp]> = [
      [['core.nope', 'x'], /unknown configuration key/],
      [['core.nope'], /unknown configuration key/],
      [['--unset', 'core.nope'], /unknown configuration key/],
      [['--local', 'remote.url', 'x'], /unknown configuration key/],
      [['nodot', 'x'], /unknown configuration key|malformed/],
      [['core.autostage', 'yes'], /invalid value for core\.autostage/],
      [['core.no_scm', '1'], /invalid value/],
      [['core.jobs', '0'], /invalid value for core\.jobs/],
      [['core.jobs', '257'], /invalid value/],
      [['core.jobs', 'four'], /invalid value/],
      [['--local', 'core.jobs', '-1'], /invalid value/],
      [['core.lock_timeout', '1.5'], /invalid value/],
      [['core.lock_timeout', '-3'], /invalid value/],
    ];
    for (const [args, message] of bad) {
      expectCleanError(await mlvAsync(repo, ['config', ...args]), 2, message);
      expect(repoState(repo), args.join(' ')).toEqual(before);
    }
    expectCleanError(await mlvAsync(repo, ['config']), 2, /missing configuration key/);
  });

  it('validates core.link', async () => {
    const repo = await initRepoAsync();
    for (const good of ['reflink,hardlink,symlink,copy', 'hardlink', 'symlink,copy', 'copy,reflink', 'hardlink, copy']) {
      expectOk(await mlvAsync(repo, ['config', 'core.link', good]));
      expect((await mlvAsync(repo, ['config', 'core.link'])).stdout).toBe(`${good}\n`);
    }
    expectOk(await mlvAsync(repo, ['config', 'core.link', 'copy']));
    const before = repoState(repo);
    for (const bad of ['', 'fast', 'hardlink,hardlink', 'hardlink,,copy', 'Copy', 'copy;hardlink', 'hardlink,copy,']) {
      const r = await mlvAsync(repo, ['config', 'core.link', bad]);
      expectCleanError(r, 2, /invalid value for core\.link/);
      expect(repoState(repo), JSON.stringify(bad)).toEqual(before);
    }
    // Still usable afterwards.
    expectOk(await mlvAsync(repo, ['status']));
  });

  it('works in a fresh Git clone, where .mlv holds only the committed files', async () => {
    const origin = await fixtureRepo();
    expectOk(await mlvAsync(origin, ['add', 'model.bin']));
    git(origin, ['commit', '-q', '-m', 'track model']);
    const clone = path.join(tempDir(), 'clone');
    git(path.dirname(clone), ['clone', '-q', origin, clone]);
    expect(fs.readdirSync(path.join(clone, '.mlv')).sort()).toEqual(['.gitignore', 'config']);
    for (const args of [['config', 'core.link', 'hardlink,copy'], ['config', '--local', 'core.jobs', '2'], ['config', '--unset', 'core.link']]) {
      const r = await mlvAsync(clone, args);
      expect(r.code, `mlv ${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    expect((await mlvAsync(clone, ['config', 'core.jobs'])).stdout).toBe('2\n');
  });

  it('a broken config file makes commands fail cleanly (exit 6)', async () => {
    const repo = await initRepoAsync();
    fs.appendFileSync(path.join(repo, '.mlv', 'config'), '[core]\n\tlink = teleport\n');
    write(repo, 'model.bin', 'weights');
    const before = repoState(repo);
    expectCleanError(await mlvAsync(repo, ['add', 'model.bin']), 6, /\.mlv\/config.*core\.link/);
    expectCleanError(await mlvAsync(repo, ['config', 'core.jobs', '2']), 6, /\.mlv\/config.*core\.link/);
    expect(repoState(repo)).toEqual(before);
    fs.writeFileSync(path.join(repo, '.mlv', 'config'), 'this is not ini\n');
    expectCleanError(await mlvAsync(repo, ['config', 'core.link']), 6, /config:1:/);
  });
});

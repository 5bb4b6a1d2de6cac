/**
 * `mlv install-hooks` / `mlv uninstall-hooks`: real Git runs the installed hooks, which run the real
 * mlv. Nothing here runs `mlv checkout` or `mlv push` by hand.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GIT_ENV, MLV_BIN, git, snapshotTree, tempDir, type RunResult } from '../helpers/cli.js';
import { expectCleanError, expectOk, lsTree, mlvAsync, mlvJsonAsync, settle, write } from '../helpers/assert.js';
import { bareRepo, folderObjects } from '../remote/remote-helpers.js';

const HOOKS = ['post-checkout', 'post-merge', 'pre-push'];

/** Runs git without blocking (its hooks run mlv); never rejects on a non-zero exit. */
function gitAsync(cwd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { ...process.env, ...GIT_ENV, MLV_DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

async function gitOk(cwd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const r = await gitAsync(cwd, args, env);
  expect(r.code, `git ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
}

async function mlvOk(cwd: string, args: string[]): Promise<RunResult> {
  const r = await mlvAsync(cwd, args);
  expectOk(r);
  return r;
}

interface History {
  repo: string;
  /** Before `mlv init`, v1, v2: the data (`data/` folder, `model.bin` file) of v1 and v2 differ. */
  c0: string;
  v1: string;
  v2: string;
}

interface DataState {
  data: ReturnType<typeof snapshotTree>;
  model: Buffer;
}
const dataState = (repo: string): DataState => ({ data: snapshotTree(path.join(repo, 'data')), model: fs.readFileSync(path.join(repo, 'model.bin')) });
let v1State: DataState;
let v2State: DataState;

let template: Promise<History> | undefined;
async function buildHistory(): Promise<History> {
  const repo = tempDir();
  git(repo, ['init', '-q', '-b', 'main']);
  write(repo, 'README.md', '# project\n');
  git(repo, ['add', 'README.md']);
  git(repo, ['commit', '-q', '-m', 'before mlv']);
  const c0 = git(repo, ['rev-parse', 'HEAD']).trim();
  await mlvOk(repo, ['init', '-q']);
  write(repo, 'data/a.csv', 'id,label\n1,cat\n');
  write(repo, 'data/sub/b.bin', Buffer.from([0, 1, 2, 3, 255]));
  write(repo, 'data/run.sh', '#!/bin/sh\necho v1\n', 0o755);
  write(repo, 'model.bin', 'weights v1');
  await settle();
  await mlvOk(repo, ['add', '-q', 'data', 'model.bin']);
  git(repo, ['commit', '-q', '-m', 'v1']);
  const v1 = git(repo, ['rev-parse', 'HEAD']).trim();
  v1State = dataState(repo);
  write(repo, 'data/a.csv', 'id,label\n1,cat\n2,dog\n');
  fs.rmSync(path.join(repo, 'data/sub/b.bin'));
  write(repo, 'data/new/c.txt', 'new in v2\n');
  write(repo, 'model.bin', 'weights v2, longer');
  await settle();
  await mlvOk(repo, ['add', '-q', 'data', 'model.bin']);
  git(repo, ['commit', '-q', '-m', 'v2']);
  const v2 = git(repo, ['rev-parse', 'HEAD']).trim();
  v2State = dataState(repo);
  expect(v2State).not.toEqual(v1State);
  return { repo, c0, v1, v2 };
}

/** A copy of a repository with three commits (no mlv, data v1, data v2), on main at v2. */
async function history(): Promise<History> {
  template ??= buildHistory();
  const h = await template;
  const repo = tempDir();
  fs.cpSync(h.repo, repo, { recursive: true, verbatimSymlinks: true });
  return { ...h, repo };
}

/** Everything the current pointers reference is on the default mlv remote. */
async function expectOnRemote(repo: string): Promise<void> {
  const { code, json } = await mlvJsonAsync(repo, ['status', '--remote']);
  expect(code).toBe(0);
  expect(json).toMatchObject({ inSync: true, notOnRemote: [] });
}

const hookPath = (repo: string, name: string) => path.join(repo, '.git', 'hooks', name);
const hooksTree = (repo: string) => lsTree(path.join(repo, '.git', 'hooks'));

function expectData(repo: string, want: DataState, label: string): void {
  expect(dataState(repo), label).toEqual(want);
}

/** A folder remote as the default mlv remote, committed, and a bare Git origin. */
async function withRemotes(repo: string): Promise<{ store: string; origin: string }> {
  const store = path.join(tempDir('mlv-hooks-store-'), 'store');
  fs.mkdirSync(store);
  await mlvOk(repo, ['remote', 'add', '-q', '--default', 'store', store]);
  git(repo, ['add', '.mlv/config']);
  git(repo, ['commit', '-q', '-m', 'data remote']);
  const origin = bareRepo();
  git(repo, ['remote', 'add', 'origin', origin]);
  return { store, origin };
}

describe.concurrent('mlv install-hooks', () => {
  it('after git checkout of an older commit the data is that commit\'s, bit for bit, and back on main the newest again', async () => {
    const { repo, c0, v1 } = await history();
    const install = await mlvJsonAsync(repo, ['install-hooks']);
    expect(install.code, install.stderr).toBe(0);
    for (const name of HOOKS) expect(fs.statSync(hookPath(repo, name)).mode & 0o111, name).toBe(0o111);

    const back = await gitOk(repo, ['checkout', '-q', v1]);
    expect(back.stderr).toBe('');
    expectData(repo, v1State, 'after git checkout v1');
    expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);

    await gitOk(repo, ['checkout', '-q', 'main']);
    expectData(repo, v2State, 'after git checkout main');
    await gitOk(repo, ['switch', '-q', '--detach', v1]);
    expectData(repo, v1State, 'after git switch --detach v1');
    await gitOk(repo, ['switch', '-q', 'main']);
    expectData(repo, v2State, 'after git switch main');

    // A commit without .mlv/: the hook does nothing, quietly; the data stays as it is.
    const old = await gitOk(repo, ['checkout', '-q', c0]);
    expect(old.stderr).toBe('');
    expectData(repo, v2State, 'after git checkout of the commit before mlv init');
    await gitOk(repo, ['checkout', '-q', v1]);
    expectData(repo, v1State, 'from the commit before mlv init to v1');
    await gitOk(repo, ['checkout', '-q', 'main']);

    // MLV_SKIP_HOOKS=1 skips mlv; the pointers change, the data does not.
    await gitOk(repo, ['checkout', '-q', v1], { MLV_SKIP_HOOKS: '1' });
    expectData(repo, v2State, 'with MLV_SKIP_HOOKS=1');
    // A file checkout (third argument 0) does not run mlv either.
    await gitOk(repo, ['checkout', '-q', 'main']);
    await gitOk(repo, ['checkout', '-q', v1, '--', 'model.bin.mlv']);
    expect(fs.readFileSync(path.join(repo, 'model.bin'))).toEqual(v2State.model);
  });

  it('git merge, git pull and git rebase bring new pointers and the data follows (post-merge, post-checkout)', async () => {
    const { repo, v1 } = await history();
    await mlvOk(repo, ['install-hooks', '-q']);
    await gitOk(repo, ['checkout', '-q', '-b', 'old', v1]);
    expectData(repo, v1State, 'branch old at v1');
    await gitOk(repo, ['merge', '-q', '--ff-only', 'main']);
    expectData(repo, v2State, 'after a fast-forward git merge');

    // A true merge commit.
    await gitOk(repo, ['checkout', '-q', '-b', 'side', v1]);
    write(repo, 'notes.txt', 'side work\n');
    git(repo, ['add', 'notes.txt']);
    git(repo, ['commit', '-q', '-m', 'side']);
    expectData(repo, v1State, 'branch side');
    await gitOk(repo, ['merge', '-q', '--no-edit', 'main']);
    expectData(repo, v2State, 'after a merge commit');

    // A squash merge leaves HEAD where it was; the merged pointers are in the work tree.
    await gitOk(repo, ['checkout', '-q', '-b', 'squash', v1]);
    await gitOk(repo, ['merge', '-q', '--squash', 'main']);
    expectData(repo, v2State, 'after git merge --squash');
    git(repo, ['commit', '-q', '-m', 'squashed']);

    // git pull from a remote repository.
    const origin = bareRepo();
    git(repo, ['remote', 'add', 'origin', origin]);
    await gitOk(repo, ['push', '-q', 'origin', 'main'], { MLV_SKIP_HOOKS: '1' });
    await gitOk(repo, ['checkout', '-q', '-B', 'main', v1]);
    expectData(repo, v1State, 'main reset to v1');
    await gitOk(repo, ['pull', '-q', '--no-rebase', 'origin', 'main']);
    expectData(repo, v2State, 'after git pull');

    // git rebase checks out the new base (post-checkout).
    await gitOk(repo, ['checkout', '-q', '-b', 'topic', v1]);
    write(repo, 'topic.txt', 'topic\n');
    git(repo, ['add', 'topic.txt']);
    git(repo, ['commit', '-q', '-m', 'topic']);
    expectData(repo, v1State, 'branch topic');
    await gitOk(repo, ['rebase', '-q', 'main']);
    expectData(repo, v2State, 'after git rebase main');
  });

  it('keeps existing hooks running first, with the same arguments and stdin', async () => {
    const { repo, v1 } = await history();
    const { store, origin } = await withRemotes(repo);
    const head = git(repo, ['rev-parse', 'HEAD']).trim();
    write(repo, '.git/hooks/post-checkout', '#!/bin/sh\nprintf "%s\\n" "$@" > .git/post-checkout-args\n', 0o755);
    write(repo, '.git/hooks/pre-push', '#!/bin/sh\nprintf "%s\\n" "$@" > .git/pre-push-args\ncat > .git/pre-push-stdin\n', 0o755);
    const originals = { pc: fs.readFileSync(hookPath(repo, 'post-checkout')), pp: fs.readFileSync(hookPath(repo, 'pre-push')) };

    const { code, json } = await mlvJsonAsync(repo, ['install-hooks']);
    expect(code).toBe(0);
    expect(json.hooks).toEqual([
      { name: 'post-checkout', action: 'chained', chained: 'post-checkout.pre-mlv' },
      { name: 'post-merge', action: 'installed' },
      { name: 'pre-push', action: 'chained', chained: 'pre-push.pre-mlv' },
    ]);
    expect(fs.readFileSync(hookPath(repo, 'post-checkout.pre-mlv'))).toEqual(originals.pc);
    expect(fs.readFileSync(hookPath(repo, 'pre-push.pre-mlv'))).toEqual(originals.pp);

    await gitOk(repo, ['checkout', '-q', v1]);
    expect(fs.readFileSync(path.join(repo, '.git/post-checkout-args'), 'utf8')).toBe(`${head}\n${v1}\n1\n`);
    expectData(repo, v1State, 'after git checkout v1');
    await gitOk(repo, ['checkout', '-q', 'main']);
    expect(fs.readFileSync(path.join(repo, '.git/post-checkout-args'), 'utf8')).toBe(`${v1}\n${head}\n1\n`);
    expectData(repo, v2State, 'after git checkout main');

    await gitOk(repo, ['push', '-q', 'origin', 'main']);
    expect(fs.readFileSync(path.join(repo, '.git/pre-push-args'), 'utf8')).toBe(`origin\n${origin}\n`);
    expect(fs.readFileSync(path.join(repo, '.git/pre-push-stdin'), 'utf8')).toBe(`refs/heads/main ${head} refs/heads/main ${'0'.repeat(40)}\n`);
    // ... and mlv push ran after it.
    await expectOnRemote(repo);
  });

  it('a failing existing hook makes the Git command fail: post-checkout (the data still follows), pre-push (nothing is pushed)', async () => {
    const { repo, v1 } = await history();
    const { store, origin } = await withRemotes(repo);
    write(repo, '.git/hooks/post-checkout', '#!/bin/sh\necho "own post-checkout failed" >&2\nexit 1\n', 0o755);
    write(repo, '.git/hooks/pre-push', '#!/bin/sh\necho "own pre-push refuses" >&2\nexit 1\n', 0o755);
    await mlvOk(repo, ['install-hooks', '-q']);

    const co = await gitAsync(repo, ['checkout', '-q', v1]);
    expect(co.code).not.toBe(0);
    expect(co.stderr).toMatch(/own post-checkout failed/);
    expectData(repo, v1State, 'after a failing own post-checkout');

    await gitAsync(repo, ['checkout', '-q', 'main']);
    expectData(repo, v2State, 'after git checkout main');
    const push = await gitAsync(repo, ['push', '-q', 'origin', 'main']);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/own pre-push refuses/);
    expect(folderObjects(store).size).toBe(0);
    expect(git(origin, ['for-each-ref']).trim()).toBe('');
  });

  it('is idempotent: a second install changes nothing and says so; an outdated mlv hook is rewritten', async () => {
    const { repo } = await history();
    write(repo, '.git/hooks/post-merge', '#!/bin/sh\necho mine\n', 0o755);
    write(repo, '.git/hooks/pre-commit', '#!/bin/sh\nexit 0\n', 0o755);
    const first = await mlvJsonAsync(repo, ['install-hooks']);
    expect(first.code).toBe(0);
    const installed = hooksTree(repo);

    const second = await mlvJsonAsync(repo, ['install-hooks']);
    expect(second.code).toBe(0);
    expect(second.json).toEqual({
      workTree: fs.realpathSync(repo),
      hooksDir: path.join(fs.realpathSync(repo), '.git', 'hooks'),
      hooks: [
        { name: 'post-checkout', action: 'unchanged' },
        { name: 'post-merge', action: 'unchanged', chained: 'post-merge.pre-mlv' },
        { name: 'pre-push', action: 'unchanged' },
      ],
      mlv: { node: process.execPath, script: MLV_BIN },
    });
    expect(hooksTree(repo)).toEqual(installed);
    const human = await mlvOk(repo, ['install-hooks']);
    expect(human.stdout).toMatch(/already installed/);
    expect(hooksTree(repo)).toEqual(installed);

    // An mlv hook written by another mlv (another path) is rewritten; the chained hook stays.
    const file = hookPath(repo, 'post-merge');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^mlv_script=.*$/m, "mlv_script='/old/place/bin/mlv.js'"));
    const third = await mlvJsonAsync(repo, ['install-hooks']);
    expect(third.json.hooks.map((h: { action: string }) => h.action)).toEqual(['unchanged', 'updated', 'unchanged']);
    expect(hooksTree(repo)).toEqual(installed);
    const human2 = await mlvOk(repo, ['install-hooks']);
    expect(human2.stdout).toMatch(/already installed/);
  });

  it('refuses to chain when <hook>.pre-mlv is taken, and changes nothing', async () => {
    const { repo } = await history();
    write(repo, '.git/hooks/pre-push', '#!/bin/sh\necho new\n', 0o755);
    write(repo, '.git/hooks/pre-push.pre-mlv', '#!/bin/sh\necho old\n', 0o755);
    const before = hooksTree(repo);
    const r = await mlvAsync(repo, ['install-hooks']);
    expectCleanError(r, 4, /pre-push\.pre-mlv already exists/);
    expect(hooksTree(repo)).toEqual(before);
  });

  it('uninstall removes only mlv\'s hooks and puts the earlier ones back byte for byte', async () => {
    const { repo } = await history();
    write(repo, '.git/hooks/post-checkout', '#!/bin/sh\n# mine\necho "checked out $3"\n', 0o755);
    write(repo, '.git/hooks/pre-push', '#!/bin/sh\nexit 0\n', 0o700);
    write(repo, '.git/hooks/pre-commit', '#!/bin/sh\necho lint\n', 0o755);
    const before = hooksTree(repo);
    await mlvOk(repo, ['install-hooks', '-q']);
    expect(hooksTree(repo)).not.toEqual(before);

    const { code, json } = await mlvJsonAsync(repo, ['uninstall-hooks']);
    expect(code).toBe(0);
    expect(json.hooks).toEqual([
      { name: 'post-checkout', action: 'restored', chained: 'post-checkout.pre-mlv' },
      { name: 'post-merge', action: 'removed' },
      { name: 'pre-push', action: 'restored', chained: 'pre-push.pre-mlv' },
    ]);
    expect(hooksTree(repo)).toEqual(before);
    const again = await mlvJsonAsync(repo, ['uninstall-hooks']);
    // The restored hooks are not mlv's.
    expect(again.json.hooks.map((h: { action: string }) => h.action)).toEqual(['kept', 'absent', 'kept']);
    expect((await mlvOk(repo, ['uninstall-hooks'])).stdout).toMatch(/no mlv hooks/);
    expect(hooksTree(repo)).toEqual(before);

    // A hook that replaced mlv's after the install is not mlv's: left alone, with what it chains.
    await mlvOk(repo, ['install-hooks', '-q']);
    write(repo, '.git/hooks/post-merge', '#!/bin/sh\necho replaced\n', 0o755);
    const replaced = hooksTree(repo)['post-merge'];
    const third = await mlvJsonAsync(repo, ['uninstall-hooks']);
    expect(third.json.hooks.map((h: { action: string }) => h.action)).toEqual(['restored', 'kept', 'restored']);
    expect(hooksTree(repo)['post-merge']).toBe(replaced);
    expect(hooksTree(repo)['pre-commit']).toBe(before['pre-commit']);
  });

  it('pre-push pushes the data to the default mlv remote; MLV_SKIP_HOOKS=1 skips it; a failed upload stops git push', async () => {
    const { repo } = await history();
    const { store, origin } = await withRemotes(repo);
    await mlvOk(repo, ['install-hooks', '-q']);
    const pushed = await gitOk(repo, ['push', '-q', 'origin', 'main']);
    // Git passes pre-push's stdout through to its own.
    expect(pushed.stdout).toMatch(/^pushed \d+ objects .* to store/);
    await expectOnRemote(repo);

    write(repo, 'model.bin', 'weights v3');
    await settle();
    await mlvOk(repo, ['add', '-q', 'model.bin']);
    git(repo, ['commit', '-q', '-m', 'v3']);
    const storeBefore = folderObjects(store);
    await gitOk(repo, ['push', '-q', 'origin', 'main'], { MLV_SKIP_HOOKS: '1' });
    expect(folderObjects(store)).toEqual(storeBefore);
    expect(git(origin, ['rev-parse', 'main'])).toBe(git(repo, ['rev-parse', 'HEAD']));

    // The data remote is unusable: git push stops and says how to go on.
    write(repo, 'model.bin', 'weights v4');
    await settle();
    await mlvOk(repo, ['add', '-q', 'model.bin']);
    git(repo, ['commit', '-q', '-m', 'v4']);
    await mlvOk(repo, ['remote', 'modify', '-q', 'store', 'url', path.join(store, 'gone')]);
    const refused = await gitAsync(repo, ['push', '-q', 'origin', 'main']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/^error: /m);
    expect(refused.stderr).toMatch(/git push was stopped/);
    expect(refused.stderr).toMatch(/MLV_SKIP_HOOKS=1 git push/);
    expect(refused.stderr).toMatch(/--no-verify/);
    expect(git(origin, ['rev-parse', 'main'])).not.toBe(git(repo, ['rev-parse', 'HEAD']));
  });

  it('honours core.hooksPath (relative to the work tree)', async () => {
    const { repo, v1 } = await history();
    git(repo, ['config', 'core.hooksPath', '.githooks']);
    const samples = hooksTree(repo);
    const { code, json } = await mlvJsonAsync(repo, ['install-hooks']);
    expect(code).toBe(0);
    const root = fs.realpathSync(repo);
    expect(json.hooksDir).toBe(path.join(root, '.githooks'));
    expect(json.hooksPathFrom).toBe(path.join(root, '.git', 'config'));
    expect(fs.readdirSync(path.join(repo, '.githooks')).sort()).toEqual(HOOKS);
    expect(hooksTree(repo)).toEqual(samples);
    await gitOk(repo, ['checkout', '-q', v1]);
    expectData(repo, v1State, 'after git checkout v1');
    expect((await mlvOk(repo, ['install-hooks'])).stdout).toMatch(/\.githooks \(core\.hooksPath, set in .*config\)/);
  });

  it('in a linked worktree installs into the common hooks folder; data missing from the cache is reported', async () => {
    const { repo, v1 } = await history();
    const wt = path.join(tempDir('mlv-wt-'), 'wt');
    git(repo, ['worktree', 'add', '-q', '-b', 'wt', wt, 'main']);
    const { code, json } = await mlvJsonAsync(wt, ['install-hooks']);
    expect(code).toBe(0);
    expect(json.workTree).toBe(fs.realpathSync(wt));
    expect(json.hooksDir).toBe(path.join(fs.realpathSync(repo), '.git', 'hooks'));
    // The new worktree's cache is empty: the hook says how to get the data.
    const co = await gitAsync(wt, ['checkout', '-q', v1]);
    expect(co.code).not.toBe(0);
    expect(co.stderr).toMatch(/not in the local cache; mlv pull downloads it/);
    // The main work tree uses the same hooks.
    await gitOk(repo, ['checkout', '-q', v1]);
    expectData(repo, v1State, 'main work tree after git checkout v1');
  });

  it('changed workspace data: the hook\'s mlv checkout refuses, git reports it, and the data is untouched', async () => {
    const { repo, v1 } = await history();
    await mlvOk(repo, ['install-hooks', '-q']);
    write(repo, 'data/a.csv', 'id,label\n1,cat\n2,dog\n3,my unsaved edit\n');
    const edited = dataState(repo);

    // A new branch at the same commit changes no pointer: nothing to do, nothing to complain about.
    const branch = await gitOk(repo, ['checkout', '-q', '-b', 'feature']);
    expect(branch.stderr).toBe('');

    const r = await gitAsync(repo, ['checkout', '-q', v1]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^error: checkout would overwrite or delete data that is not in the cache: data\/a\.csv/m);
    expect(r.stderr).toMatch(/your data changes were left in place/);
    expect(dataState(repo)).toEqual(edited);
    expect(git(repo, ['rev-parse', 'HEAD']).trim()).toBe(v1);
  });

  it('falls back to mlv on PATH when the recorded mlv is gone, and says so when there is none', async () => {
    const { repo, v1 } = await history();
    await mlvOk(repo, ['install-hooks', '-q']);
    const file = hookPath(repo, 'post-checkout');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^mlv_script=.*$/m, "mlv_script='/nonexistent/bin/mlv.js'"));
    const bin = tempDir('mlv-fake-bin-');
    const log = path.join(bin, 'calls');
    write(bin, 'mlv', `#!/bin/sh\necho "$PWD $*" >> '${log}'\n`, 0o755);
    const gitDir = path.dirname(spawnSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).stdout.trim());
    await gitOk(repo, ['checkout', '-q', v1], { PATH: `${bin}:${gitDir}:/usr/bin:/bin` });
    expect(fs.readFileSync(log, 'utf8')).toBe(`${fs.realpathSync(repo)} checkout -q\n`);

    const none = await gitAsync(repo, ['checkout', '-q', 'main'], { PATH: `${gitDir}:/usr/bin:/bin` });
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/mlv is not installed/);
  });

  it('refuses in a --no-scm project and outside Git (exit 3)', async () => {
    const noScm = tempDir();
    await mlvOk(noScm, ['init', '-q', '--no-scm']);
    expectCleanError(await mlvAsync(noScm, ['install-hooks']), 3, /need Git.*core\.no_scm/);
    expectCleanError(await mlvAsync(noScm, ['uninstall-hooks']), 3, /need Git/);
    const { code, json } = await mlvJsonAsync(noScm, ['install-hooks']);
    expect(code).toBe(3);
    expect(json.error).toMatchObject({ code: 'NOT_IN_GIT', exitCode: 3 });

    const bare = tempDir();
    expectCleanError(await mlvAsync(bare, ['install-hooks']), 3, /not inside an mlv project/);
    expectCleanError(await mlvAsync(bare, ['uninstall-hooks']), 3, /not inside a Git repository/);
  });
});

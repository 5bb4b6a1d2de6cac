/**
 * Reading files and pointer files from Git objects at a commit, checked against `git ls-tree` and
 * `git cat-file` on repositories built with the git CLI; the working tree and index stay untouched.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GIT_ENV } from '../helpers/cli.js';
import { commitInfo, listFilesAt, listPointersAt, readFileAt } from '../../dist/git/read-at-commit.js';

const ENV = {
  ...process.env,
  ...GIT_ENV,
};

function gitBytes(cwd: string, args: string[]): Buffer {
  const r = spawnSync('git', args, { cwd, env: ENV, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return r.stdout;
}
const git = (cwd: string, args: string[]) => gitBytes(cwd, args).toString('utf8').trim();

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function newRepo(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-rac-'));
  dirs.push(dir);
  git(dir, ['init', '-q', '-b', 'main', '.']);
  return dir;
}
function write(root: string, rel: string, content: string | Buffer, mode?: number): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), content);
  if (mode !== undefined) fs.chmodSync(path.join(root, rel), mode);
}
function commitAll(root: string, message: string): string {
  git(root, ['add', '-A']);
  git(root, ['commit', '-q', '-m', message]);
  return git(root, ['rev-parse', 'HEAD']);
}
const pointerText = (name: string, n: number) => `version: 1\nhash: blake3\nkind: file\npath: ${name}\nid: ${n.toString(16).padStart(64, '0')}\nsize: ${n}\n`;

/** `git ls-tree -r -z`: mode, type and path of every entry below the root. */
function lsTree(root: string, oid: string): Array<{ mode: string; type: string; path: string }> {
  return gitBytes(root, ['ls-tree', '-r', '-z', oid])
    .toString('utf8')
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta, p] = line.split('\t') as [string, string];
      const [mode, type] = meta.split(' ') as [string, string];
      return { mode, type, path: p };
    });
}

/** The pointer rules of src/workspace/targets.ts, applied to git's own listing. */
function expectedPointers(root: string, oid: string): string[] {
  const entries = lsTree(root, oid);
  const all = new Set(entries.map((e) => e.path));
  return entries
    .filter((e) => (e.mode === '100644' || e.mode === '100755') && e.path.endsWith('.mlv'))
    .filter((e) => {
      const parts = e.path.split('/');
      if (parts[parts.length - 1]!.length <= 4) return false;
      return parts.slice(0, -1).every((dir, i) => dir.toLowerCase() !== '.mlv' && !all.has(parts.slice(0, i + 1).join('/') + '.mlv'));
    })
    .map((e) => e.path)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

let repo: string;
const commits: string[] = [];
let workState: { status: string; stage: string; index: Buffer; mtime: number };

beforeAll(() => {
  repo = newRepo();
  write(repo, '.mlv/config', '[core]\n  remote = store\n');
  write(repo, '.mlv/state.mlv', 'internal, not a pointer\n');
  write(repo, 'data.mlv', pointerText('data', 1));
  write(repo, 'models/resnet.mlv', pointerText('resnet', 2));
  write(repo, 'raw.mlv', pointerText('raw', 3));
  write(repo, 'raw/inner.mlv', 'inside a tracked folder\n');
  write(repo, 'raw/a.txt', 'a\n');
  write(repo, 'docs/.mlv', 'only the suffix\n');
  write(repo, 'sub/.MLV/x.mlv', 'internals, other case\n');
  write(repo, 'bin/run.mlv', pointerText('run', 4), 0o755);
  write(repo, 'données/été.mlv', pointerText('été', 5));
  write(repo, 'with space/a b.mlv', pointerText('a b', 6));
  write(repo, 'notes.mlv.txt', 'not a pointer\n');
  write(repo, 'blob.bin', randomBytes(70_000));
  fs.symlinkSync('data.mlv', path.join(repo, 'link.mlv'));
  git(repo, ['add', '-A']);
  git(repo, ['update-index', '--add', '--cacheinfo', `160000,${'1'.repeat(40)},vendor/lib`]); // a submodule
  git(repo, ['commit', '-q', '-m', 'first\n\nwith a body']);
  commits.push(git(repo, ['rev-parse', 'HEAD']));

  write(repo, 'data.mlv', pointerText('data', 7));
  fs.rmSync(path.join(repo, 'models'), { recursive: true });
  write(repo, 'deep/a/b/c/d.mlv', pointerText('d', 8));
  commits.push(commitAll(repo, 'second'));
  write(repo, 'crlf.mlv', pointerText('crlf', 9).replace(/\n/g, '\r\n'));
  commits.push(commitAll(repo, 'third'));

  // Uncommitted work that reading commits must not disturb.
  write(repo, 'data.mlv', 'modified, not staged\n');
  write(repo, 'staged.mlv', pointerText('staged', 10));
  git(repo, ['add', 'staged.mlv']);
  write(repo, 'untracked.mlv', 'untracked\n');
  workState = snapshot(repo);
});

function snapshot(root: string) {
  const indexPath = path.join(root, '.git', 'index');
  const index = fs.readFileSync(indexPath);
  const mtime = fs.statSync(indexPath).mtimeMs;
  // GIT_OPTIONAL_LOCKS=0: git status would otherwise refresh (rewrite) the index itself.
  const status = spawnSync('git', ['status', '--porcelain=v1', '-uall'], { cwd: root, env: { ...ENV, GIT_OPTIONAL_LOCKS: '0' }, encoding: 'utf8' });
  return { status: status.stdout, stage: git(root, ['ls-files', '--stage']), index, mtime };
}

async function checkCommit(oid: string): Promise<void> {
  const pointers = await listPointersAt(repo, oid);
  expect(pointers.map((p) => p.pointerRel)).toEqual(expectedPointers(repo, oid));
  for (const p of pointers) {
    expect(p.targetRel).toBe(p.pointerRel.slice(0, -4));
    expect(p.text).toBe(gitBytes(repo, ['cat-file', 'blob', `${oid}:${p.pointerRel}`]).toString('utf8'));
  }
  const files = lsTree(repo, oid).filter((e) => e.type === 'blob');
  expect(await listFilesAt(repo, oid)).toEqual(files.map((e) => e.path));
  expect(await listFilesAt(repo, oid, (p) => p.endsWith('.txt'))).toEqual(files.map((e) => e.path).filter((p) => p.endsWith('.txt')));
  for (const f of files) {
    expect((await readFileAt(repo, oid, f.path))?.equals(gitBytes(repo, ['cat-file', 'blob', `${oid}:${f.path}`])), f.path).toBe(true);
  }
}

describe('reading at a commit', () => {
  it('lists pointers and files and reads them exactly as git does, at every commit', async () => {
    for (const oid of commits) await checkCommit(oid);
    const first = (await listPointersAt(repo, commits[0]!)).map((p) => p.pointerRel);
    expect(first).toEqual(['bin/run.mlv', 'data.mlv', 'données/été.mlv', 'models/resnet.mlv', 'raw.mlv', 'with space/a b.mlv']);
    expect((await listPointersAt(repo, commits[2]!)).find((p) => p.pointerRel === 'crlf.mlv')?.text).toContain('\r\n');
  });

  it('reads the config, returns undefined for absent paths and refuses folders and bad paths', async () => {
    const [first, second] = commits as [string, string];
    expect((await readFileAt(repo, first, '.mlv/config'))?.toString()).toBe('[core]\n  remote = store\n');
    expect((await readFileAt(repo, first, 'models/resnet.mlv'))?.toString()).toBe(pointerText('resnet', 2));
    expect(await readFileAt(repo, second, 'models/resnet.mlv')).toBeUndefined();
    for (const absent of ['nope', 'data.mlv/x', 'raw/zzz', 'vendor/lib/file', 'untracked.mlv', 'staged.mlv']) {
      expect(await readFileAt(repo, first, absent), absent).toBeUndefined();
    }
    await expect(readFileAt(repo, first, 'raw')).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/raw is a folder/) });
    await expect(readFileAt(repo, first, 'vendor/lib')).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/submodule/) });
    for (const bad of ['', '/data.mlv', 'raw/', 'raw/../data.mlv', './data.mlv']) {
      await expect(readFileAt(repo, first, bad), bad).rejects.toMatchObject({ code: 'INVALID_PATH' });
    }
    await expect(listPointersAt(repo, '2'.repeat(40))).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/does not exist/) });
    const tree = git(repo, ['rev-parse', `${first}^{tree}`]);
    await expect(listFilesAt(repo, tree)).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/not a commit/) });
    await expect(readFileAt(repo, 'HEAD', 'data.mlv')).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('describes a commit', async () => {
    for (const oid of commits) {
      const raw = git(repo, ['cat-file', 'commit', oid]);
      const info = await commitInfo(repo, oid);
      expect(info).toEqual({
        oid,
        message: gitBytes(repo, ['cat-file', 'commit', oid]).toString('utf8').split('\n\n').slice(1).join('\n\n'),
        author: 'mlv test <test@example.invalid>',
        timestamp: Number(/^author .* (\d+) [+-]\d{4}$/m.exec(raw)![1]),
        committedAt: Number(/^committer .* (\d+) [+-]\d{4}$/m.exec(raw)![1]),
      });
    }
    expect((await commitInfo(repo, commits[0]!)).message).toBe('first\n\nwith a body\n');
  });

  it('leaves the working tree and the index untouched', () => {
    const after = snapshot(repo);
    expect(after.status).toBe(workState.status);
    expect(after.stage).toBe(workState.stage);
    expect(after.index.equals(workState.index)).toBe(true);
    expect(after.mtime).toBe(workState.mtime);
    expect(fs.readFileSync(path.join(repo, 'data.mlv'), 'utf8')).toBe('modified, not staged\n');
  });

  it('gives the same answers once the objects are packed (deltas included)', async () => {
    git(repo, ['gc', '-q', '--aggressive', '--prune=now']);
    expect(fs.readdirSync(path.join(repo, '.git/objects/pack')).some((f) => f.endsWith('.pack'))).toBe(true);
    for (const oid of commits) await checkCommit(oid);
  });

  it('lists 50 pointers among 2,000 files in well under a second', async () => {
    const big = newRepo();
    for (let i = 0; i < 2000; i++) write(big, `d${i % 100}/sub${i % 7}/file${i}.txt`, `${i}\n`);
    for (let i = 0; i < 50; i++) write(big, `d${(i * 3) % 100}/p${i}.mlv`, pointerText(`p${i}`, i));
    const oid = commitAll(big, 'big');
    for (const label of ['loose', 'packed']) {
      if (label === 'packed') git(big, ['gc', '-q', '--prune=now']);
      const start = performance.now();
      const pointers = await listPointersAt(big, oid);
      const ms = performance.now() - start;
      console.log(`listPointersAt, 2,050 files, ${label} objects: ${ms.toFixed(0)} ms`);
      expect(pointers).toHaveLength(50);
      expect(ms).toBeLessThan(1000);
    }
    expect((await listFilesAt(big, oid)).length).toBe(2050);
  });
});

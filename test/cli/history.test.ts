/**
 * The read-only history commands end to end (docs/history.md): `mlv get`, `ls`, `diff` and
 * `export` against a history of three versions and a branch (test/helpers/history.ts), with a
 * folder remote; reading from fresh clones with an empty cache, from another local clone, and from
 * an http:// Git URL served by the real git http-backend (test/helpers/git-http.ts).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blake3Hex, expectCleanError, initRepoAsync, lsTree, mlvAsync, settle, write } from '../helpers/assert.js';
import { cacheObjects, git, tempDir, type RunResult } from '../helpers/cli.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/git-http.js';
import {
  V1_TO_V2,
  V2_TO_V3,
  buildHistory,
  cloneState,
  expectTreeEquals,
  expectedOf,
  makeAmbiguousCommits,
  mlvRaw,
  readTar,
  type History,
  type Version,
} from '../helpers/history.js';

let h: History;
let server: GitHttpServer;

beforeAll(async () => {
  h = await buildHistory();
  server = await startGitHttpServer(h.originRoot);
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const v = (name: 'v1' | 'v2' | 'v3' | 'experiment'): Version => h.versions[name];

async function ok(cwd: string, args: string[]): Promise<RunResult> {
  const r = await mlvAsync(cwd, args, h.env);
  expect(r.code, `mlv ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r;
}

/** `mlv <command> --json <rest>` (the option before the arguments, so a `--` among them is harmless). */
async function okJson<T = any>(cwd: string, args: string[]): Promise<T> {
  const r = await ok(cwd, [args[0]!, '--json', ...args.slice(1)]);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`mlv ${args.join(' ')} --json printed no JSON:\n${r.stdout}\n${r.stderr}`);
  }
}

const fail = (cwd: string, args: string[]) => mlvAsync(cwd, args, h.env);

interface LsEntry {
  path: string;
  kind: 'file' | 'dir';
  size: number;
  id: string;
  files?: number;
  executable?: boolean;
  cached: boolean;
}

/** The file entries expected from `ls -R` of `prefix` at a version (cached left out). */
function expectedLsFiles(ver: Version, prefix: string) {
  return [...ver.files]
    .filter(([p]) => p === prefix || p.startsWith(`${prefix}/`) || prefix === '')
    .map(([p, s]) => ({ path: p, kind: 'file', size: s.bytes.length, id: blake3Hex(s.bytes), executable: s.exec }))
    .sort((a, b) => cmp(a.path, b.path));
}

const cmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
/** ls file entries normalised: executable as a boolean, cached dropped, sorted by path. */
const lsFiles = (entries: LsEntry[]) =>
  entries
    .filter((e) => e.kind === 'file')
    .map((e) => ({ path: e.path, kind: e.kind, size: e.size, id: e.id, executable: e.executable === true }))
    .sort((a, b) => cmp(a.path, b.path));

/**
 * Folder entries of ls must agree with the trees mlv made. The file count is checked where present
 * here; that it must be present for every folder is the separate test 'folder entries ... count'.
 */
function expectDirEntriesConsistent(ver: Version, entries: LsEntry[]): void {
  for (const e of entries.filter((x) => x.kind === 'dir')) {
    const p = e.path.replace(/\/$/, '');
    expect(e.id, `tree id of ${p}`).toBe(ver.trees.get(p));
    expect(e.size, `size of ${p}`).toBe(ver.dirSizes.get(p)!.size);
    if (e.files !== undefined) expect(e.files, `file count of ${p}`).toBe(ver.dirSizes.get(p)!.files);
  }
}

describe.concurrent('mlv get', () => {
  it('gives v1 bit for bit in a fresh clone with an empty cache, keeps the objects, and changes nothing in the clone', async () => {
    const clone = await h.clone();
    expect(cacheObjects(clone)).toEqual([]);
    const before = cloneState(clone);
    const outParent = tempDir();
    const out = path.join(outParent, 'out');
    const r = await okJson(clone, ['get', '--rev', 'v1', 'data', '-o', out]);
    expectTreeEquals(out, expectedOf(v('v1'), 'data'), 'get --rev v1 data');
    const dataFiles = [...v('v1').files].filter(([p]) => p.startsWith('data/'));
    expect(r).toMatchObject({ rev: 'v1', commit: v('v1').commit, path: 'data', files: dataFiles.length, bytes: v('v1').dirSizes.get('data')!.size, fromCache: 0 });
    expect(r.fetched).toBeGreaterThan(0);
    // Nothing but the output beside it (the temporary folder was renamed into place).
    expect(fs.readdirSync(outParent)).toEqual(['out']);
    expect(cloneState(clone)).toEqual(before);
    // Fetched objects are kept in the project's cache: a second get fetches nothing.
    expect(cacheObjects(clone).length).toBeGreaterThan(0);
    const again = await okJson(clone, ['get', '--rev', 'v1', 'data', '-o', path.join(outParent, 'again')]);
    expect(again.fetched).toBe(0);
    expect(again.fromCache).toBeGreaterThan(0);
    expectTreeEquals(path.join(outParent, 'again'), expectedOf(v('v1'), 'data'));
    expect(cloneState(clone)).toEqual(before);
  });

  it('resolves HEAD~2, an abbreviated id, the full id, tags, main~1 and a remote-tracking branch', async () => {
    const clone = await h.clone();
    const before = cloneState(clone);
    const out = tempDir();
    const cases: Array<[string, Version]> = [
      ['HEAD~2', v('v1')],
      [v('v1').commit.slice(0, 7), v('v1')],
      [v('v1').commit, v('v1')],
      ['main~1', v('v2')],
      ['HEAD^', v('v2')],
      ['v3', v('v3')],
      ['origin/experiment', v('experiment')],
    ];
    for (const [i, [rev, ver]] of cases.entries()) {
      const dest = path.join(out, `o${i}`);
      const r = await okJson(clone, ['get', '--rev', rev, 'data', '-o', dest]);
      expect(r.commit, rev).toBe(ver.commit);
      expectTreeEquals(dest, expectedOf(ver, 'data'), `get --rev ${rev}`);
    }
    expect(cloneState(clone)).toEqual(before);
  });

  it('gets a subfolder, one file inside a folder (with its executable bit), the model, and a plain folder', async () => {
    const clone = await h.clone();
    const before = cloneState(clone);
    const out = tempDir();
    // `path` is relative to the repository root even when run from a subfolder.
    await ok(path.join(clone, 'models'), ['get', '--rev', 'v1', 'data/sub', '-o', path.join(out, 'sub')]);
    expectTreeEquals(path.join(out, 'sub'), expectedOf(v('v1'), 'data/sub'), 'get data/sub');

    await ok(clone, ['get', '--rev', 'v1', 'data/sub/deep/x.txt', '-o', path.join(out, 'x.txt')]);
    expect(fs.readFileSync(path.join(out, 'x.txt'))).toEqual(v('v1').files.get('data/sub/deep/x.txt')!.bytes);
    expect(fs.readFileSync(path.join(out, 'x.txt'), 'utf8')).toBe('x version 1\n');

    await ok(clone, ['get', '--rev', 'v1', V1_TO_V2.execChanged, '-o', path.join(out, 'run-v1.sh')]);
    await ok(clone, ['get', '--rev', 'main~1', V1_TO_V2.execChanged, '-o', path.join(out, 'run-v2.sh')]);
    expect(fs.statSync(path.join(out, 'run-v1.sh')).mode & 0o100).toBe(0);
    expect(fs.statSync(path.join(out, 'run-v2.sh')).mode & 0o100).not.toBe(0);
    expect(fs.readFileSync(path.join(out, 'run-v2.sh'))).toEqual(fs.readFileSync(path.join(out, 'run-v1.sh')));

    await ok(clone, ['get', '--rev', 'v1', 'models/model.bin', '-o', path.join(out, 'model-v1.bin')]);
    expect(fs.readFileSync(path.join(out, 'model-v1.bin')).equals(v('v1').files.get('models/model.bin')!.bytes)).toBe(true);

    // A plain folder holding a tracked target.
    await ok(clone, ['get', '--rev', 'v3', 'models', '-o', path.join(out, 'models-v3')]);
    expectTreeEquals(path.join(out, 'models-v3'), expectedOf(v('v3'), 'models'), 'get models');

    // -o naming an existing folder: the data goes inside it under its own name.
    fs.mkdirSync(path.join(out, 'existing'));
    await ok(clone, ['get', '--rev', 'v1', 'data/sub/deep', '-o', path.join(out, 'existing')]);
    expect(fs.readdirSync(path.join(out, 'existing'))).toEqual(['deep']);
    expectTreeEquals(path.join(out, 'existing', 'deep'), expectedOf(v('v1'), 'data/sub/deep'));

    expect(cloneState(clone)).toEqual(before);
  });

  it('never overwrites: an existing file or non-empty destination is refused (exit 4) and nothing is written', async () => {
    const clone = await h.clone();
    const out = tempDir();
    write(out, 'x.txt', 'mine');
    expectCleanError(await fail(clone, ['get', '--rev', 'v1', 'data/sub/a.txt', '-o', path.join(out, 'x.txt')]), 4);
    expect(fs.readFileSync(path.join(out, 'x.txt'), 'utf8')).toBe('mine');
    write(out, 'dest/data/keep.txt', 'keep');
    expectCleanError(await fail(clone, ['get', '--rev', 'v1', 'data', '-o', path.join(out, 'dest')]), 4);
    expect(Object.keys(lsTree(out)).sort()).toEqual(['dest', 'dest/data', 'dest/data/keep.txt', 'x.txt']);
    write(out, 'nonempty/file', 'x');
    expectCleanError(await fail(clone, ['get', '--rev', 'v1', 'data/sub', '-o', path.join(out, 'nonempty', 'file')]), 4);
    expect(fs.readFileSync(path.join(out, 'nonempty', 'file'), 'utf8')).toBe('x');
  });

  it('refuses an output inside .mlv, .git or a tracked target (exit 2), writing nothing', async () => {
    const clone = await h.clone();
    const before = cloneState(clone);
    const mlvDir = lsTree(path.join(clone, '.mlv'), ['cache']);
    for (const o of ['.mlv/out', '.git/out', 'data/out', 'models/model.bin/x']) {
      expectCleanError(await fail(clone, ['get', '--rev', 'v1', 'data/sub', '-o', o]), 2);
    }
    expect(lsTree(path.join(clone, '.mlv'), ['cache'])).toEqual(mlvDir);
    expect(fs.existsSync(path.join(clone, '.git', 'out'))).toBe(false);
    expect(cloneState(clone)).toEqual(before);
  });

  it('reads another local repository with --repo (its cache, or its remote), writing nothing in it; -o defaults to the last path component', async () => {
    const cwd = tempDir(); // not inside any project
    const sourceBefore = { tree: lsTree(h.source, ['.git']), index: git(h.source, ['ls-files', '-s']) };
    const r = await okJson(cwd, ['get', '--repo', h.source, '--rev', 'v1', 'data', '-o', path.join(cwd, 'out')]);
    expectTreeEquals(path.join(cwd, 'out'), expectedOf(v('v1'), 'data'), 'get --repo source');
    expect(r).toMatchObject({ commit: v('v1').commit, fetched: 0 });
    await ok(cwd, ['get', '--repo', h.source, '--rev', 'HEAD~1', 'data/sub']);
    expectTreeEquals(path.join(cwd, 'sub'), expectedOf(v('v2'), 'data/sub'), 'default -o');
    expect({ tree: lsTree(h.source, ['.git']), index: git(h.source, ['ls-files', '-s']) }).toEqual(sourceBefore);

    // A clone with an empty cache: the objects come from the remote and are not kept anywhere.
    const clone = await h.clone();
    const cloneBefore = cloneState(clone);
    await ok(cwd, ['get', '--repo', clone, '--rev', 'v1', 'models/model.bin', '-o', path.join(cwd, 'm.bin')]);
    expect(fs.readFileSync(path.join(cwd, 'm.bin')).equals(v('v1').files.get('models/model.bin')!.bytes)).toBe(true);
    expect(cacheObjects(clone)).toEqual([]);
    expect(cloneState(clone)).toEqual(cloneBefore);
    expect(fs.readdirSync(cwd).sort()).toEqual(['m.bin', 'out', 'sub']);
  });

  it('reads an http:// Git URL (git http-backend): --rev v1, v3 and HEAD~1', async () => {
    const cwd = tempDir();
    const url = `${server.url}/origin.git`;
    const cases: Array<[string, Version]> = [
      ['v1', v('v1')],
      ['v3', v('v3')],
      ['HEAD~1', v('v2')],
    ];
    for (const [rev, ver] of cases) {
      const dest = path.join(cwd, `out-${rev.replace(/\W/g, '_')}`);
      const r = await okJson(cwd, ['get', '--repo', url, '--rev', rev, 'data', '-o', dest]);
      expect(r.commit, rev).toBe(ver.commit);
      expect(r.repository, rev).toBe(url);
      expectTreeEquals(dest, expectedOf(ver, 'data'), `get --repo ${url} --rev ${rev}`);
    }
    await ok(cwd, ['get', '--repo', url, '--rev', 'v1', 'models/model.bin', '-o', path.join(cwd, 'model.bin')]);
    expect(fs.readFileSync(path.join(cwd, 'model.bin')).equals(v('v1').files.get('models/model.bin')!.bytes)).toBe(true);
    // export --repo: the manifest names the URL.
    const exported = await okJson(cwd, ['export', '--repo', url, '--rev', 'v1', 'data/sub', '-o', path.join(cwd, 'sub.tar')]);
    expect(exported.commit).toBe(v('v1').commit);
    const entries = await readTar(fs.readFileSync(path.join(cwd, 'sub.tar')));
    expect(JSON.parse(entries[0]!.data.toString('utf8'))).toMatchObject({ repository: url, commit: v('v1').commit, paths: ['data/sub'] });
    await server.settled();
    expect(server.requests.filter((q) => q.method === 'POST' && q.path === '/origin.git/git-upload-pack' && q.status === 200).length).toBeGreaterThanOrEqual(3);
    expect(server.requests.filter((q) => q.method !== 'GET' && q.method !== 'POST')).toEqual([]);
    // Nothing left in the current folder but the outputs (the temporary Git folder is gone).
    expect(fs.readdirSync(cwd).sort()).toEqual(['model.bin', 'out-HEAD_1', 'out-v1', 'out-v3', 'sub.tar']);
  });
});

describe.concurrent('mlv ls', () => {
  it('lists the targets at v1, every file with -R, and a folder part; cached is false with an empty cache', async () => {
    const clone = await h.clone();
    const before = cloneState(clone);
    const v1 = v('v1');
    const top = await okJson(clone, ['ls', '--rev', 'v1']);
    expect(top).toMatchObject({ rev: 'v1', commit: v1.commit });
    const model = v1.files.get('models/model.bin')!;
    expect(top.entries.map((e: LsEntry) => ({ ...e, executable: e.executable === true }))).toEqual([
      { path: 'data', kind: 'dir', size: v1.dirSizes.get('data')!.size, id: v1.dataId, files: v1.dirSizes.get('data')!.files, executable: false, cached: false },
      { path: 'models/model.bin', kind: 'file', size: model.bytes.length, id: v1.modelId, executable: false, cached: false },
    ]);

    const recursive = await okJson(clone, ['ls', '--rev', 'v1', 'data', '-R']);
    expect(lsFiles(recursive.entries)).toEqual(expectedLsFiles(v1, 'data'));
    for (const e of recursive.entries as LsEntry[]) expect(e.cached, e.path).toBe(false);
    expectDirEntriesConsistent(v1, recursive.entries);

    const all = await okJson(clone, ['ls', '--rev', 'v1', '-R']);
    expect(lsFiles(all.entries)).toEqual(expectedLsFiles(v1, ''));

    // A path inside the folder: its direct entries; with -R every file below it.
    const sub = await okJson(clone, ['ls', '--rev', 'v1', 'data/sub']);
    const direct = (sub.entries as LsEntry[]).map((e) => `${e.kind} ${e.path.replace(/\/$/, '')}`).sort(cmp);
    expect(direct).toEqual(['dir data/sub/deep', 'file data/sub/a.txt', 'file data/sub/b.txt', 'file data/sub/empty.txt', 'file data/sub/with space.txt'].sort(cmp));
    expectDirEntriesConsistent(v1, sub.entries);
    expect(lsFiles(sub.entries)).toEqual(expectedLsFiles(v1, 'data/sub').filter((e) => !e.path.startsWith('data/sub/deep/')));
    const subR = await okJson(clone, ['ls', '--rev', 'v1', 'data/sub', '-R']);
    expect(lsFiles(subR.entries)).toEqual(expectedLsFiles(v1, 'data/sub'));

    // The pointer file names the target itself.
    const byPointer = await okJson(clone, ['ls', '--rev', 'v1', 'data.mlv']);
    expect(byPointer.entries).toHaveLength(1);
    expect(byPointer.entries[0]).toMatchObject({ path: 'data', kind: 'dir', id: v1.dataId, cached: false });

    // The tags' target and other versions differ where they should.
    const v2 = await okJson(clone, ['ls', '--rev', 'main~1', 'data', '-R']);
    expect(lsFiles(v2.entries)).toEqual(expectedLsFiles(v('v2'), 'data'));
    const exp = await okJson(clone, ['ls', '--rev', 'origin/experiment', '-R']);
    expect(lsFiles(exp.entries)).toEqual(expectedLsFiles(v('experiment'), ''));

    expect(cloneState(clone)).toEqual(before);
  });

  it('folders named by a pointer carry its file count; folders inside them carry their size (a count would need every tree below)', async () => {
    // docs/history.md: "file count for folders named by a pointer file".
    const clone = await h.clone();
    const v1 = v('v1');
    const top = await okJson(clone, ['ls', '--rev', 'v1', 'data']);
    expect(top.entries).toEqual([expect.objectContaining({ path: 'data', kind: 'dir', files: v1.dirSizes.get('data')!.files, size: v1.dirSizes.get('data')!.size })]);
    const inner = await okJson(clone, ['ls', '--rev', 'v1', 'data/sub']);
    const dirs = (inner.entries as LsEntry[]).filter((e) => e.kind === 'dir');
    expect(dirs.length).toBeGreaterThan(0);
    for (const e of dirs) {
      expect(e.files, e.path).toBeUndefined();
      expect(e.size, e.path).toBe(v1.dirSizes.get(e.path)!.size);
    }
  });

  it('reads pointers from the commit, never from the working tree or the index; without --rev, from the working tree', async () => {
    const clone = await h.clone();
    const v1 = v('v1');
    const v3 = v('v3');
    // The working tree's and the index's data.mlv say v1; HEAD (v3) says otherwise.
    fs.writeFileSync(path.join(clone, 'data.mlv'), git(clone, ['show', `${v1.commit}:data.mlv`]));
    git(clone, ['add', 'data.mlv']);
    const before = cloneState(clone);
    expect(before.status).toMatch(/^M {2}data\.mlv$/m);
    const atHead = await okJson(clone, ['ls', '--rev', 'HEAD', 'data']);
    expect(atHead.entries).toEqual([expect.objectContaining({ path: 'data', id: v3.dataId })]);
    const ws = await okJson(clone, ['ls', 'data']);
    expect(ws).toMatchObject({ rev: null, commit: null });
    expect(ws.entries).toEqual([expect.objectContaining({ path: 'data', id: v1.dataId })]);
    const out = tempDir();
    await ok(clone, ['get', '--rev', 'HEAD', 'data/sub', '-o', path.join(out, 'sub')]);
    expectTreeEquals(path.join(out, 'sub'), expectedOf(v3, 'data/sub'), 'get --rev HEAD with a changed pointer in the index');
    expect(cloneState(clone)).toEqual(before);
  });

  it('prints one human line per entry: size, 12-digit id, cached flag, path (folders end in /)', async () => {
    const clone = await h.clone();
    const r = await ok(clone, ['ls', '--rev', 'v1']);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    const v1 = v('v1');
    expect(lines[0]).toMatch(new RegExp(`^\\s*${v1.dirSizes.get('data')!.size}\\s+${v1.dataId.slice(0, 12)}\\s+-\\s+data/$`));
    expect(lines[1]).toMatch(new RegExp(`^\\s*${v1.files.get('models/model.bin')!.bytes.length}\\s+${v1.modelId.slice(0, 12)}\\s+-\\s+models/model\\.bin$`));
  });

  it('cached flags turn true after mlv fetch (for what the fetch brought)', async () => {
    const clone = await h.clone();
    const v3 = v('v3');
    const before = await okJson(clone, ['ls', '--rev', 'v3', '-R']);
    expect((before.entries as LsEntry[]).filter((e) => e.cached)).toEqual([]);
    await ok(clone, ['fetch']);
    const state = cloneState(clone);
    const after = await okJson(clone, ['ls', '--rev', 'v3', '-R']);
    expect(lsFiles(after.entries)).toEqual(expectedLsFiles(v3, ''));
    for (const e of after.entries as LsEntry[]) expect(e.cached, e.path).toBe(true);
    const top = await okJson(clone, ['ls', '--rev', 'v3']);
    for (const e of top.entries as LsEntry[]) expect(e.cached, e.path).toBe(true);
    // v1 files: cached exactly when v3 has the same content.
    const v3Ids = new Set([...v3.files.values()].map((s) => blake3Hex(s.bytes)));
    const v1 = await okJson(clone, ['ls', '--rev', 'v1', 'data', '-R']);
    const files = (v1.entries as LsEntry[]).filter((e) => e.kind === 'file');
    expect(files.length).toBe(expectedLsFiles(v('v1'), 'data').length);
    for (const e of files) expect(e.cached, e.path).toBe(v3Ids.has(e.id));
    expect(files.some((e) => !e.cached)).toBe(true);
    // The workspace listing (no --rev): rev and commit null, same ids as HEAD.
    const ws = await okJson(clone, ['ls', '-R']);
    expect(ws).toMatchObject({ rev: null, commit: null });
    expect(lsFiles(ws.entries)).toEqual(expectedLsFiles(v3, ''));
    expect(cloneState(clone)).toEqual(state);
  });

  it('fails cleanly for an unknown revision (exit 2) and a path not tracked at that revision (exit 2)', async () => {
    const clone = await h.clone();
    const before = cloneState(clone);
    expectCleanError(await fail(clone, ['ls', '--rev', 'no-such-rev']), 2, /no-such-rev/);
    expectCleanError(await fail(clone, ['ls', '--rev', 'v1', V1_TO_V2.added]), 2);
    expectCleanError(await fail(clone, ['ls', '--rev', 'v1', 'nothing/here']), 2);
    expectCleanError(await fail(clone, ['ls', '--rev', 'HEAD~10']), 2);
    expect(cloneState(clone)).toEqual(before);
  });
});

describe.concurrent('mlv diff', () => {
  const id = (ver: Version, p: string) => blake3Hex(ver.files.get(p)!.bytes);
  const size = (ver: Version, p: string) => ver.files.get(p)!.bytes.length;
  const byPath = <T extends { path: string }>(xs: T[]) => [...xs].sort((a, b) => cmp(a.path, b.path));
  /*
   * docs/history.md lists modified entries as {path, oldId, newId, oldSize, newSize}; the
   * implementation adds `executable` (the new bit). Tolerated here, but it must be right.
   */
  const stripExec = (xs: Array<Record<string, unknown>>) => xs.map(({ executable: _e, ...rest }) => rest);
  const expectExecFlags = (xs: Array<{ path: string; executable?: boolean }>, b?: Version, explicit: Record<string, boolean> = {}) => {
    for (const m of xs) {
      if (m.executable === undefined) continue;
      const want = m.path in explicit ? explicit[m.path] : b?.files.get(m.path)?.exec;
      expect(m.executable, `executable of ${m.path}`).toBe(want);
    }
  };

  it('diff v1 v2 --json lists exactly the changes: added, deleted, modified (content and executable bit), renamed', async () => {
    const clone = await h.clone();
    const before = cloneState(clone);
    const v1 = v('v1');
    const v2 = v('v2');
    const c = V1_TO_V2;
    const d = await okJson(clone, ['diff', 'v1', 'main~1']);
    expect(d.a).toEqual({ rev: 'v1', commit: v1.commit });
    expect(d.b).toEqual({ rev: 'main~1', commit: v2.commit });
    expect(d.added).toEqual([{ path: c.added, id: id(v2, c.added), size: size(v2, c.added) }]);
    expect(d.deleted).toEqual([{ path: c.deleted, id: id(v1, c.deleted), size: size(v1, c.deleted) }]);
    expect(d.renamed).toEqual([{ from: c.renamedFrom, to: c.renamedTo, id: id(v1, c.renamedFrom), size: size(v1, c.renamedFrom) }]);
    const modified = [c.modified, c.execChanged, c.model].map((p) => ({ path: p, oldId: id(v1, p), newId: id(v2, p), oldSize: size(v1, p), newSize: size(v2, p) }));
    expect(stripExec(byPath(d.modified))).toEqual(byPath(modified));
    expectExecFlags(d.modified, v2);
    // The executable-bit change keeps its content.
    expect(d.modified.find((m: { path: string }) => m.path === c.execChanged)).toMatchObject({ oldId: id(v1, c.execChanged), newId: id(v1, c.execChanged) });
    expect(d.counts).toEqual({ added: 1, deleted: 1, modified: 3, renamed: 1 });
    expect(d.bytes.added).toBe(size(v2, c.added));
    expect(d.bytes.deleted).toBe(size(v1, c.deleted));
    // docs/history.md does not define bytes.modified further; the bytes of the modified files as they are in b.
    expect(d.bytes.modified).toBe(modified.reduce((n, m) => n + m.newSize, 0));

    const human = await ok(clone, ['diff', 'v1', 'main~1']);
    const lines = human.stdout.split('\n').filter(Boolean);
    const shown = human.stdout;
    // `<size>` may be shown as a number of bytes or in readable units ("555 B", "307.2 kB").
    const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const has = (re: RegExp) => expect(lines.some((l) => re.test(l)), `${re}\n${shown}`).toBe(true);
    has(new RegExp(`^added:\\s+${esc(c.added)} \\(${size(v2, c.added)}( B)?\\)$`));
    has(new RegExp(`^deleted:\\s+${esc(c.deleted)} \\(${size(v1, c.deleted)}( B)?\\)$`));
    has(new RegExp(`^renamed:\\s+${esc(c.renamedFrom)} -> ${esc(c.renamedTo)}$`));
    has(new RegExp(`^modified:\\s+${esc(c.modified)} \\(${size(v1, c.modified)}( B)? -> ${size(v2, c.modified)}( B)?\\)$`));
    has(new RegExp(`^modified:\\s+${esc(c.model)} \\(.+ -> .+\\)$`));
    has(new RegExp(`^modified:\\s+${esc(c.execChanged)} \\(`));
    has(/\b1 added\b.*\b1 deleted\b.*\b3 modified\b.*\b1 renamed\b/);
    expect(lines.filter((l) => /^(added|deleted|modified|renamed):\s/.test(l)), shown).toHaveLength(6);
    expect(cloneState(clone)).toEqual(before);
  });

  it('diff v2 v3, diff v2 origin/experiment, and diff v1 v1 (empty)', async () => {
    const clone = await h.clone();
    const v2 = v('v2');
    const v3 = v('v3');
    const d = await okJson(clone, ['diff', v2.commit.slice(0, 8), 'v3']);
    expect(d.a.commit).toBe(v2.commit);
    expect(d.b).toEqual({ rev: 'v3', commit: v3.commit });
    expect(d.added).toEqual([{ path: V2_TO_V3.added, id: id(v3, V2_TO_V3.added), size: size(v3, V2_TO_V3.added) }]);
    expect(d.deleted).toEqual([{ path: V2_TO_V3.deleted, id: id(v2, V2_TO_V3.deleted), size: size(v2, V2_TO_V3.deleted) }]);
    expect(byPath(d.modified).map((m: { path: string }) => m.path)).toEqual([V2_TO_V3.modified, V2_TO_V3.model].sort(cmp));
    expect(d.renamed).toEqual([]);
    expect(d.counts).toEqual({ added: 1, deleted: 1, modified: 2, renamed: 0 });

    const e = await okJson(clone, ['diff', 'main~1', 'origin/experiment']);
    expect(e.added.map((x: { path: string }) => x.path)).toEqual(['data/exp-only.txt']);
    expect(e.modified.map((x: { path: string }) => x.path)).toEqual(['data/sub/a.txt']);
    expect(e.counts).toEqual({ added: 1, deleted: 0, modified: 1, renamed: 0 });

    const same = await okJson(clone, ['diff', 'v1', 'v1']);
    expect(same).toMatchObject({ added: [], deleted: [], modified: [], renamed: [], counts: { added: 0, deleted: 0, modified: 0, renamed: 0 }, bytes: { added: 0, deleted: 0, modified: 0 } });
  });

  it('restricts the comparison to the given paths', async () => {
    const clone = await h.clone();
    const c = V1_TO_V2;
    const val = await okJson(clone, ['diff', 'v1', 'main~1', 'data/val']);
    expect(val.added.map((x: { path: string }) => x.path)).toEqual([c.added]);
    expect(val.deleted.map((x: { path: string }) => x.path)).toEqual([c.deleted]);
    expect(val.counts).toEqual({ added: 1, deleted: 1, modified: 0, renamed: 0 });
    const train = await okJson(clone, ['diff', 'v1', 'main~1', 'data/train']);
    expect(train.counts).toEqual({ added: 0, deleted: 0, modified: 0, renamed: 1 });
    const model = await okJson(clone, ['diff', 'v1', 'main~1', '--', 'models']);
    expect(model.modified.map((x: { path: string }) => x.path)).toEqual([c.model]);
    expect(model.counts).toEqual({ added: 0, deleted: 0, modified: 1, renamed: 0 });
    const two = await okJson(clone, ['diff', 'v1', 'main~1', 'data/scripts', 'data/labels.csv']);
    expect(byPath(two.modified).map((x: { path: string }) => x.path)).toEqual([c.modified, c.execChanged].sort(cmp));
    expect(two.counts).toEqual({ added: 0, deleted: 0, modified: 2, renamed: 0 });
  });

  it('compares with the workspace: not pulled is not deleted; changes made after a pull show up', async () => {
    const clone = await h.clone();
    const v3 = v('v3');
    // Data absent from the workspace counts as its pointer says: no differences.
    const empty = await okJson(clone, ['diff']);
    expect(empty.b).toEqual({ rev: 'workspace', commit: null });
    expect(empty.counts).toEqual({ added: 0, deleted: 0, modified: 0, renamed: 0 });
    await ok(clone, ['pull']);
    fs.appendFileSync(path.join(clone, 'data/sub/a.txt'), 'changed in the workspace\n');
    write(clone, 'data/new-file.txt', 'new\n');
    fs.chmodSync(path.join(clone, 'data/scripts/tool.sh'), 0o644);
    await settle();
    const state = cloneState(clone);
    const newA = fs.readFileSync(path.join(clone, 'data/sub/a.txt'));
    const d = await okJson(clone, ['diff', 'v3']);
    expect(d.a).toEqual({ rev: 'v3', commit: v3.commit });
    expect(d.b).toEqual({ rev: 'workspace', commit: null });
    expect(d.added).toEqual([{ path: 'data/new-file.txt', id: blake3Hex(Buffer.from('new\n')), size: 4 }]);
    expect(d.deleted).toEqual([]);
    expect(d.renamed).toEqual([]);
    expectExecFlags(d.modified, undefined, { 'data/scripts/tool.sh': false, 'data/sub/a.txt': false });
    expect(stripExec(byPath(d.modified))).toEqual([
      { path: 'data/scripts/tool.sh', oldId: id(v3, 'data/scripts/tool.sh'), newId: id(v3, 'data/scripts/tool.sh'), oldSize: size(v3, 'data/scripts/tool.sh'), newSize: size(v3, 'data/scripts/tool.sh') },
      { path: 'data/sub/a.txt', oldId: id(v3, 'data/sub/a.txt'), newId: blake3Hex(newA), oldSize: size(v3, 'data/sub/a.txt'), newSize: newA.length },
    ]);
    // No revision: HEAD against the workspace, the same.
    const head = await okJson(clone, ['diff']);
    expect(head.a.commit).toBe(v3.commit);
    expect({ ...head, a: undefined }).toEqual({ ...d, a: undefined });
    // A path filter.
    const sub = await okJson(clone, ['diff', 'v3', 'data/sub']);
    expect(sub.modified.map((x: { path: string }) => x.path)).toEqual(['data/sub/a.txt']);
    expect(sub.counts).toEqual({ added: 0, deleted: 0, modified: 1, renamed: 0 });
    // v1 against the workspace includes the committed changes since v1.
    const fromV1 = await okJson(clone, ['diff', 'v1']);
    expect(fromV1.renamed).toEqual([expect.objectContaining({ from: V1_TO_V2.renamedFrom, to: V1_TO_V2.renamedTo })]);
    expect(fromV1.added.map((x: { path: string }) => x.path).sort(cmp)).toEqual([V1_TO_V2.added, V2_TO_V3.added, 'data/new-file.txt'].sort(cmp));
    expect(cloneState(clone)).toEqual(state);
  });
});

describe.concurrent('mlv export', () => {
  let reference: Promise<{ archive: Buffer; clone: string }> | undefined;
  /** The v1 archive of data and models, made once in a fresh clone. */
  const referenceArchive = () =>
    (reference ??= (async () => {
      const clone = await h.clone();
      const out = path.join(tempDir(), 'a.tar');
      await ok(clone, ['export', '--rev', 'v1', 'data', 'models', '-o', out]);
      return { archive: fs.readFileSync(out), clone };
    })());

  it('is byte-identical when repeated, from another clone, and to stdout; --json reports it', async () => {
    const { archive, clone } = await referenceArchive();
    const before = cloneState(clone);
    const dir = tempDir();
    const again = await okJson(clone, ['export', '--rev', 'v1', 'data', 'models', '-o', path.join(dir, 'again.tar')]);
    expect(fs.readFileSync(path.join(dir, 'again.tar')).equals(archive)).toBe(true);
    expect(again).toMatchObject({ commit: v('v1').commit, files: [...v('v1').files.keys()].length, archiveBytes: archive.length });
    expect(again.bytes).toBe([...v('v1').files.values()].reduce((n, s) => n + s.bytes.length, 0));
    // Another clone (its own empty cache), with the revision named differently.
    const other = await h.clone();
    await ok(other, ['export', '--rev', 'HEAD~2', 'data', 'models', '-o', path.join(dir, 'other.tar')]);
    expect(fs.readFileSync(path.join(dir, 'other.tar')).equals(archive)).toBe(true);
    // To stdout.
    const piped = await mlvRaw(clone, ['export', '--rev', 'v1', 'data', 'models', '-o', '-'], h.env);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.equals(archive)).toBe(true);
    expect(cloneState(clone)).toEqual(before);
    expect(fs.readdirSync(dir).sort()).toEqual(['again.tar', 'other.tar']);
  });

  it('starts with .mlv-export.json, then every folder and file sorted by path, with fixed modes, owners and times', async () => {
    const { archive } = await referenceArchive();
    const v1 = v('v1');
    const entries = await readTar(archive);
    expect(entries[0]!.name).toBe('.mlv-export.json');
    const manifest = JSON.parse(entries[0]!.data.toString('utf8'));
    expect(manifest).toMatchObject({ format: 'mlv-export 1', repository: h.origin, commit: v1.commit, paths: ['data', 'models'] });
    const expectedFiles = [...v1.files]
      .map(([p, s]) => ({ path: p, id: blake3Hex(s.bytes), size: s.bytes.length, executable: s.exec }))
      .sort((a, b) => cmp(a.path, b.path));
    expect([...manifest.files].sort((a: { path: string }, b: { path: string }) => cmp(a.path, b.path))).toEqual(expectedFiles);

    const rest = entries.slice(1);
    const names = rest.map((e) => e.name.replace(/\/$/, ''));
    expect(names, 'sorted by UTF-8 bytes').toEqual([...names].sort(cmp));
    expect(new Set(names).size).toBe(names.length);
    for (const e of entries) {
      expect({ uid: e.uid, gid: e.gid, uname: e.uname, gname: e.gname, mtime: e.mtime }, e.name).toEqual({ uid: 0, gid: 0, uname: '', gname: '', mtime: v1.committerTime });
    }
    const files = rest.filter((e) => e.type === 'file');
    const dirs = rest.filter((e) => e.type === 'directory');
    expect(files.length + dirs.length).toBe(rest.length);
    expect(files.map((e) => e.name).sort(cmp)).toEqual([...v1.files.keys()].sort(cmp));
    for (const f of files) {
      const spec = v1.files.get(f.name)!;
      expect(f.data.equals(spec.bytes), f.name).toBe(true);
      expect(f.mode, f.name).toBe(spec.exec ? 0o755 : 0o644);
    }
    const dirNames = new Set(dirs.map((e) => e.name.replace(/\/$/, '')));
    for (const d of dirNames) expect(v1.dirs.has(d), `unexpected folder ${d}`).toBe(true);
    for (const d of v1.dirs) if (d.startsWith('data/')) expect(dirNames.has(d), `folder ${d} in the archive`).toBe(true);
    for (const d of dirs) expect(d.mode, d.name).toBe(0o755);
    // No entry escapes the extraction folder.
    for (const e of entries) expect(e.name.startsWith('/') || e.name.split('/').includes('..'), e.name).toBe(false);
  });

  it('extracts with the system tar to exactly v1 with its modes', async () => {
    const { archive } = await referenceArchive();
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a.tar'), archive);
    const x = path.join(dir, 'x');
    fs.mkdirSync(x);
    const r = spawnSync('tar', ['-xf', path.join(dir, 'a.tar'), '-C', x], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readdirSync(x).sort()).toEqual(['.mlv-export.json', 'data', 'models']);
    expectTreeEquals(path.join(x, 'data'), expectedOf(v('v1'), 'data'), 'extracted data');
    expectTreeEquals(path.join(x, 'models'), expectedOf(v('v1'), 'models'), 'extracted models');
    for (const [p, s] of v('v1').files) expect(fs.statSync(path.join(x, p)).mode & 0o777, p).toBe(s.exec ? 0o755 : 0o644);
    for (const d of v('v1').dirs) if (d.startsWith('data/')) expect(fs.statSync(path.join(x, d)).mode & 0o777, d).toBe(0o755);
  });

  it('refuses to replace an existing file (exit 4) unless --force', async () => {
    const { archive, clone } = await referenceArchive();
    const dir = tempDir();
    const out = path.join(dir, 'a.tar');
    fs.writeFileSync(out, 'precious');
    expectCleanError(await fail(clone, ['export', '--rev', 'v1', 'data', 'models', '-o', out]), 4);
    expect(fs.readFileSync(out, 'utf8')).toBe('precious');
    await ok(clone, ['export', '--rev', 'v1', 'data', 'models', '-o', out, '--force']);
    expect(fs.readFileSync(out).equals(archive)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['a.tar']);
  });

  it('exports a part of a folder; an unknown revision fails (exit 2) without creating the output', async () => {
    const clone = await h.clone();
    const dir = tempDir();
    await ok(clone, ['export', '--rev', 'v1', 'data/sub', '-o', path.join(dir, 'sub.tar')]);
    const entries = await readTar(fs.readFileSync(path.join(dir, 'sub.tar')));
    expect(entries[0]!.name).toBe('.mlv-export.json');
    const files = entries.slice(1).filter((e) => e.type === 'file').map((e) => e.name).sort(cmp);
    expect(files).toEqual([...v('v1').files.keys()].filter((p) => p.startsWith('data/sub/')).sort(cmp));
    const manifest = JSON.parse(entries[0]!.data.toString('utf8'));
    expect(manifest).toMatchObject({ commit: v('v1').commit, paths: ['data/sub'] });
    expect(manifest.files.map((f: { path: string }) => f.path).sort(cmp)).toEqual(files);
    expectCleanError(await fail(clone, ['export', '--rev', 'no-such-rev', 'data', '-o', path.join(dir, 'bad.tar')]), 2, /no-such-rev/);
    expect(fs.readdirSync(dir)).toEqual(['sub.tar']);
  });
});

describe.concurrent('errors', () => {
  it('an unknown revision and a path not tracked at the revision are one-line errors (exit 2)', async () => {
    const clone = await h.clone();
    const before = cloneState(clone);
    const out = tempDir();
    expectCleanError(await fail(clone, ['get', '--rev', 'no-such-rev', 'data', '-o', path.join(out, 'o')]), 2, /no-such-rev/);
    expectCleanError(await fail(clone, ['get', '--rev', 'v1', V1_TO_V2.added, '-o', path.join(out, 'o')]), 2);
    expectCleanError(await fail(clone, ['get', '--rev', 'v1', 'nothing/here', '-o', path.join(out, 'o')]), 2);
    expectCleanError(await fail(clone, ['get', '--rev', 'v1', 'data/sub/nope.txt', '-o', path.join(out, 'o')]), 2);
    expectCleanError(await fail(clone, ['get', '--rev', 'HEAD~3', 'data', '-o', path.join(out, 'o')]), 2);
    expect(fs.readdirSync(out)).toEqual([]);
    expect(cloneState(clone)).toEqual(before);
  });

  it('an ambiguous abbreviated id is refused (exit 2) listing the candidates; the full id works', async () => {
    const clone = await h.clone();
    const tree = git(clone, ['rev-parse', `${v('v1').commit}^{tree}`]).trim();
    const { prefix, ids } = makeAmbiguousCommits(clone, tree, v('v1').commit);
    const out = tempDir();
    const r = await fail(clone, ['get', '--rev', prefix, 'data', '-o', path.join(out, 'o')]);
    expectCleanError(r, 2, /ambiguous/);
    for (const c of ids) expect(r.stderr, 'the candidates are listed').toContain(c.slice(0, 7));
    expect(fs.readdirSync(out)).toEqual([]);
    const full = await okJson(clone, ['get', '--rev', ids[0], 'data', '-o', path.join(out, 'full')]);
    expect(full.commit).toBe(ids[0]);
    expectTreeEquals(path.join(out, 'full'), expectedOf(v('v1'), 'data'));
  });

  it('missing objects with no remote: exit 5 for get, ls inside the folder and export', async () => {
    const repo = await initRepoAsync();
    write(repo, 'd/f.txt', 'f\n');
    write(repo, 'd/sub/g.txt', 'g\n');
    write(repo, 'm.bin', 'model\n');
    await settle();
    await ok(repo, ['add', 'd', 'm.bin']);
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-q', '-m', 'no remote']);
    const parent = tempDir();
    git(parent, ['clone', '-q', repo, 'c']);
    const clone = path.join(parent, 'c');
    const out = tempDir();
    expectCleanError(await fail(clone, ['get', '--rev', 'HEAD', 'd', '-o', path.join(out, 'd')]), 5);
    expectCleanError(await fail(clone, ['get', 'm.bin', '-o', path.join(out, 'm.bin')]), 5);
    expectCleanError(await fail(clone, ['ls', '--rev', 'HEAD', 'd', '-R']), 5, /\bd\b/);
    expectCleanError(await fail(clone, ['export', 'd', '-o', path.join(out, 'd.tar')]), 5);
    expect(fs.readdirSync(out)).toEqual([]);
    // The targets themselves are listed from the pointers (the ids are known without the objects).
    const top = await okJson(clone, ['ls', '--rev', 'HEAD']);
    expect(top.entries.map((e: LsEntry) => [e.path, e.cached])).toEqual([
      ['d', false],
      ['m.bin', false],
    ]);
  });
});

describe.concurrent('checking out an old version', () => {
  it('git checkout <v1 commit> then mlv checkout restores v1; the workspace ls agrees with ls --rev v1', async () => {
    const repo = tempDir();
    fs.cpSync(h.source, repo, { recursive: true });
    await settle();
    git(repo, ['checkout', '-q', v('v1').commit]);
    await ok(repo, ['checkout']);
    expectTreeEquals(path.join(repo, 'data'), expectedOf(v('v1'), 'data'), 'checked out v1');
    expect(fs.readFileSync(path.join(repo, 'models/model.bin')).equals(v('v1').files.get('models/model.bin')!.bytes)).toBe(true);
    const ws = await okJson(repo, ['ls', 'data', '-R']);
    const atRev = await okJson(repo, ['ls', '--rev', 'v1', 'data', '-R']);
    expect(ws).toMatchObject({ rev: null, commit: null });
    const strip = (es: LsEntry[]) => es.map(({ cached: _c, ...rest }) => rest).sort((a, b) => cmp(a.path, b.path));
    expect(strip(ws.entries)).toEqual(strip(atRev.entries));
    expect(lsFiles(ws.entries)).toEqual(expectedLsFiles(v('v1'), 'data'));
    for (const e of atRev.entries as LsEntry[]) expect(e.cached, e.path).toBe(true);
    expect((await okJson(repo, ['status'])).clean).toBe(true);
  });

  it('mlv pull in a fresh clone checked out at v1 restores v1', async () => {
    const clone = await h.clone();
    git(clone, ['checkout', '-q', 'v1']);
    await ok(clone, ['pull']);
    expectTreeEquals(path.join(clone, 'data'), expectedOf(v('v1'), 'data'), 'pulled v1');
    expect(fs.readFileSync(path.join(clone, 'models/model.bin')).equals(v('v1').files.get('models/model.bin')!.bytes)).toBe(true);
    expect((await okJson(clone, ['status'])).clean).toBe(true);
  });
});

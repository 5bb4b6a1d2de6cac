/**
 * `mlv gc` end to end on a real history: a folder dataset and a model file in several versions, on
 * two branches, a tag, a commit only a tag reaches, one only a remote-tracking ref reaches, a
 * commit with an invalid pointer, an uncommitted workspace version and an orphaned version. For
 * every scope, every object of every commit in scope (all trees walked, independently of mlv) must
 * still be in the cache afterwards, and every other object must be gone.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listPointersAt } from '../../dist/git/read-at-commit.js';
import { CommitPointers } from '../../dist/git/refs.js';
import { expectCleanError, initRepoAsync, lsTree, mlvAsync, mlvJsonAsync, objectPath, pseudoRandomBytes, treeEntries, write } from '../helpers/assert.js';
import { GIT_ENV, cacheObjects, git, tempDir, type RunResult } from '../helpers/cli.js';

const idOf = (rel: string) => rel.replace('/', '');
const cacheIds = (repo: string) => new Set(cacheObjects(repo).map(idOf));

async function run(repo: string, args: string[], code = 0): Promise<RunResult> {
  const r = await mlvAsync(repo, args);
  expect(r.code, `mlv ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`).toBe(code);
  return r;
}
async function runJson(repo: string, args: string[], code = 0): Promise<any> {
  const r = await run(repo, [...args, '--json'], code);
  return JSON.parse(r.stdout);
}
function commit(repo: string, message: string): string {
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-q', '-m', message]);
  return git(repo, ['rev-parse', 'HEAD']).trim();
}
const pointerText = (repo: string, target: string) => fs.readFileSync(path.join(repo, `${target}.mlv`), 'utf8');
const idIn = (text: string) => /^id: ([0-9a-f]{64})$/m.exec(text)![1]!;

/** Every object a pointer's text names: the id, and for a folder everything below its tree (read from the cache). */
function objectsOfPointer(repo: string, text: string): string[] {
  const ids = [...new Set(text.match(/[0-9a-f]{64}/g) ?? [])];
  const kind = /^kind: (\w+)$/m.exec(text)?.[1];
  const out = [...ids];
  if (kind === 'dir') for (const id of ids) for (const e of treeEntries(repo, id).values()) out.push(e.id);
  return out;
}

/** Objects referenced at a commit, found with the git CLI (ls-tree, show) and the cache's trees. */
function objectsAtCommit(repo: string, commitId: string): Set<string> {
  const out = new Set<string>();
  const files = git(repo, ['ls-tree', '-r', '--name-only', commitId]).split('\n').filter((f) => f.endsWith('.mlv') && !f.startsWith('.mlv/'));
  for (const f of files) for (const id of objectsOfPointer(repo, git(repo, ['show', `${commitId}:${f}`]))) out.add(id);
  return out;
}

function workspaceObjects(repo: string): Set<string> {
  const out = new Set<string>();
  for (const t of ['data', 'model.bin', 'nested/deep/w.bin']) {
    if (fs.existsSync(path.join(repo, `${t}.mlv`))) for (const id of objectsOfPointer(repo, pointerText(repo, t))) out.add(id);
  }
  return out;
}

/** Commits in each scope, independently of mlv (git CLI). */
function scopeCommits(repo: string, flags: string[]): string[] {
  const lines = (args: string[]) => git(repo, args).split('\n').filter(Boolean);
  const commits = new Set<string>();
  if (flags.includes('--all-branches')) {
    for (const c of lines(['for-each-ref', '--format=%(objectname)', 'refs/heads'])) commits.add(c);
    commits.add(git(repo, ['rev-parse', 'HEAD']).trim());
  }
  if (flags.includes('--all-tags')) for (const t of lines(['tag', '-l'])) commits.add(git(repo, ['rev-parse', `${t}^{commit}`]).trim());
  if (flags.includes('--all-commits')) for (const c of lines(['rev-list', '--all'])) commits.add(c);
  return [...commits];
}

function expectedKeep(repo: string, flags: string[]): Set<string> {
  const keep = workspaceObjects(repo);
  for (const c of scopeCommits(repo, flags)) for (const id of objectsAtCommit(repo, c)) keep.add(id);
  return keep;
}

/** Sets the modification time of cache objects (by id) to `ageMs` ago. */
function age(repo: string, ids: Iterable<string>, ageMs: number): void {
  const t = new Date(Date.now() - ageMs);
  for (const id of ids) if (fs.existsSync(objectPath(repo, id))) fs.utimesSync(objectPath(repo, id), t, t);
}

interface History {
  repo: string;
  commits: Record<string, string>;
  ids: Record<string, string>;
}

/** Builds the history once; each test works on a copy. */
async function buildHistory(): Promise<History> {
  const repo = await initRepoAsync();
  const commits: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const bin = (seed: number, size = 300) => pseudoRandomBytes(size + seed, seed);
  const model = async (seed: number, name: string) => {
    write(repo, 'model.bin', bin(seed, 2000));
    await run(repo, ['add', 'model.bin']);
    ids[name] = idIn(pointerText(repo, 'model.bin'));
  };

  // v1 (tagged, annotated)
  write(repo, 'data/train/a.bin', bin(1));
  write(repo, 'data/train/b.bin', bin(2));
  write(repo, 'data/train/c.bin', bin(3));
  write(repo, 'data/val/x.bin', bin(4));
  write(repo, 'data/labels.csv', 'a,1\nb,2\n');
  await run(repo, ['add', 'data']);
  ids.dataV1 = idIn(pointerText(repo, 'data'));
  await model(10, 'modelV1');
  commits.v1 = commit(repo, 'v1');
  git(repo, ['tag', '-a', 'v1', '-m', 'release 1']);

  // an orphaned version: added, then replaced before any commit
  write(repo, 'data/train/scratch.bin', bin(50));
  await run(repo, ['add', 'data']);
  ids.scratchRoot = idIn(pointerText(repo, 'data'));
  ids.scratchTrain = treeEntries(repo, ids.scratchRoot).get('train')!.id;
  ids.scratchFile = treeEntries(repo, ids.scratchRoot).get('train/scratch.bin')!.id;
  fs.rmSync(path.join(repo, 'data/train/scratch.bin'));

  // v2: files changed, added and removed; a nested pointer
  write(repo, 'data/train/b.bin', bin(5));
  write(repo, 'data/train/d.bin', bin(6));
  fs.rmSync(path.join(repo, 'data/val/x.bin'));
  write(repo, 'data/val/y.bin', bin(7));
  write(repo, 'nested/deep/w.bin', bin(8));
  await run(repo, ['add', 'data', 'nested/deep/w.bin']);
  ids.dataV2 = idIn(pointerText(repo, 'data'));
  await model(11, 'modelV2');
  commits.v2 = commit(repo, 'v2');

  // branch feature: a new subfolder and model v3
  git(repo, ['checkout', '-q', '-b', 'feature']);
  write(repo, 'data/extra/e.bin', bin(9));
  await run(repo, ['add', 'data']);
  ids.dataV3 = idIn(pointerText(repo, 'data'));
  await model(12, 'modelV3');
  commits.v3 = commit(repo, 'v3');

  // branch broken: a committed pointer that no longer parses
  git(repo, ['checkout', '-q', '-b', 'broken']);
  await model(13, 'modelBroken');
  fs.writeFileSync(path.join(repo, 'model.bin.mlv'), pointerText(repo, 'model.bin').replace('version: 1', 'version: 99'));
  commits.broken = commit(repo, 'broken pointer');

  // a commit only the tag only-tag reaches
  git(repo, ['checkout', '-q', '-b', 'tmp', commits.v2]);
  await run(repo, ['checkout', '--force']);
  write(repo, 'data/train/a.bin', bin(14));
  await run(repo, ['add', 'data']);
  ids.dataV5 = idIn(pointerText(repo, 'data'));
  commits.v5 = commit(repo, 'v5');
  git(repo, ['tag', 'only-tag']);

  // a commit only a remote-tracking ref reaches
  git(repo, ['checkout', '-q', '--detach', commits.v2]);
  await run(repo, ['checkout', '--force']);
  await model(15, 'modelV6');
  commits.v6 = commit(repo, 'v6');
  git(repo, ['update-ref', 'refs/remotes/origin/gone', commits.v6]);

  // main moves on; tmp is deleted
  git(repo, ['checkout', '-q', 'main']);
  git(repo, ['branch', '-q', '-D', 'tmp']);
  await run(repo, ['checkout', '--force']);
  write(repo, 'data/labels.csv', 'a,1\nb,2\nd,3\n');
  await run(repo, ['add', 'data']);
  ids.dataV4 = idIn(pointerText(repo, 'data'));
  commits.v4 = commit(repo, 'v4');

  // uncommitted workspace version of the model
  await model(16, 'modelWork');
  return { repo, commits, ids };
}

let template: History;
beforeAll(async () => {
  template = await buildHistory();
}, 120_000);

function copy(): History {
  const dest = tempDir('mlv-gc-');
  fs.cpSync(template.repo, dest, { recursive: true, verbatimSymlinks: true });
  return { ...template, repo: dest };
}

const SCOPES: string[][] = [[], ['--workspace'], ['--all-branches'], ['--all-tags'], ['--all-branches', '--all-tags'], ['--all-commits']];

describe.concurrent('mlv gc', () => {
  for (const flags of SCOPES) {
    it(`keeps every object of every commit in scope, and removes the rest: ${flags.join(' ') || '(no scope: workspace)'}`, async () => {
      const { repo, ids } = copy();
      const before = cacheIds(repo);
      const keep = expectedKeep(repo, flags);
      for (const id of workspaceObjects(repo)) expect(before.has(id)).toBe(true);
      const json = await runJson(repo, ['gc', ...flags, '--grace', '0']);
      const after = cacheIds(repo);
      for (const id of keep) if (before.has(id)) expect(after.has(id), `object ${id} is referenced in scope but was removed`).toBe(true);
      for (const id of after) expect(keep.has(id), `object ${id} is not referenced in scope but was kept`).toBe(true);
      expect(json.local.removed).toBe(before.size - after.size);
      expect(json.local.referenced).toBe(after.size);
      expect(json.local.young).toBe(0);
      expect(json.dryRun).toBe(false);
      expect(json.scope).toEqual(['workspace', ...flags.filter((f) => f !== '--workspace').map((f) => f.slice(2))]);
      const removedBytes = [...before].filter((id) => !after.has(id)).reduce((n, id) => n + sizeOf(template.repo, id), 0);
      expect(json.local.removedBytes).toBe(removedBytes);

      // What each scope must (not) keep, spelled out.
      const has = (name: string) => after.has(ids[name]!);
      expect(has('modelWork')).toBe(true);
      expect(has('dataV4')).toBe(true);
      expect(has('scratchRoot') || has('scratchFile')).toBe(false);
      const branches = flags.includes('--all-branches') || flags.includes('--all-commits');
      const tags = flags.includes('--all-tags') || flags.includes('--all-commits');
      expect(has('modelV2')).toBe(branches || tags); // v4 (main) and v5 (only-tag) use it
      expect(has('dataV3') && has('modelV3')).toBe(branches);
      expect(has('modelBroken')).toBe(branches);
      expect(has('modelV1') && has('dataV1')).toBe(tags);
      expect(has('dataV5')).toBe(tags);
      expect(has('modelV6')).toBe(flags.includes('--all-commits'));
      expect(has('dataV2')).toBe(flags.includes('--all-commits'));
      if (branches) expect(json.warnings.join('\n')).toMatch(/model\.bin\.mlv.*unsupported pointer version.*kept the object id/);

      // The cache is consistent afterwards: every tree's children are there.
      const fsck = await mlvJsonAsync(repo, ['fsck']);
      expect(fsck.code, JSON.stringify(fsck.json)).toBe(0);
    });
  }

  it('--dry-run lists exactly what a real run removes, and changes nothing', async () => {
    const { repo } = copy();
    const bytes = lsTree(path.join(repo, '.mlv'));
    const dry = await runJson(repo, ['gc', '--all-branches', '--grace', '0', '--dry-run']);
    expect(lsTree(path.join(repo, '.mlv'))).toEqual(bytes);
    expect(dry.dryRun).toBe(true);
    const listed = dry.local.list.map((o: any) => o.id).sort();
    expect(listed.length).toBeGreaterThan(0);
    expect(dry.local.removed).toBe(listed.length);
    for (const o of dry.local.list) {
      expect(o.size).toBe(fs.statSync(objectPath(repo, o.id)).size);
      expect(o.kind).toBe(fs.readFileSync(objectPath(repo, o.id)).subarray(0, 11).toString() === 'mlv-tree 1\n' ? 'tree' : 'file');
      expect(o.where).toBe('cache');
    }
    const human = await run(repo, ['gc', '--all-branches', '--grace', '0', '--dry-run']);
    expect(human.stdout).toMatch(/^dry run: nothing was changed$/m);
    expect(human.stdout).toMatch(new RegExp(`^cache: would remove ${listed.length} objects`, 'm'));
    for (const id of listed) expect(human.stdout).toContain(id);
    expect(lsTree(path.join(repo, '.mlv'))).toEqual(bytes);

    const before = cacheIds(repo);
    await run(repo, ['gc', '--all-branches', '--grace', '0']);
    const after = cacheIds(repo);
    expect([...before].filter((id) => !after.has(id)).sort()).toEqual(listed);
  });

  it('keeps objects younger than the grace period (default 7d, gc.grace, --grace), and everything below a young tree', async () => {
    const { repo, ids } = copy();
    const before = cacheIds(repo);
    // Just written: nothing is old enough.
    const first = await runJson(repo, ['gc']);
    expect(first.grace).toBe('7d');
    expect(first.local.removed).toBe(0);
    expect(cacheIds(repo)).toEqual(before);
    const unreferenced = [...before].filter((id) => !workspaceObjects(repo).has(id));
    expect(first.local.young).toBe(unreferenced.length);

    // Everything 2 hours old, except model v6 (10 minutes) and the orphaned version's root tree (young):
    // the root's subtree and file, though old, are below a young tree and stay.
    age(repo, before, 2 * 3_600_000);
    age(repo, [ids.modelV6!], 10 * 60_000);
    age(repo, [ids.scratchRoot!], 0);
    expect((await runJson(repo, ['gc'])).local.removed).toBe(0);
    await run(repo, ['config', '--local', 'gc.grace', '1h']);
    const second = await runJson(repo, ['gc']);
    expect(second.grace).toBe('1h');
    const after = cacheIds(repo);
    for (const name of ['modelV6', 'scratchRoot', 'scratchTrain', 'scratchFile', 'modelWork', 'dataV4']) expect(after.has(ids[name]!), name).toBe(true);
    for (const name of ['modelV1', 'modelV2', 'dataV1', 'dataV2', 'modelBroken']) expect(after.has(ids[name]!), name).toBe(false);
    // Kept because young: model v6, the root tree, and the orphaned files below it that nothing else uses.
    expect(second.local.young).toBeGreaterThanOrEqual(4);

    // --grace overrides the setting.
    const third = await runJson(repo, ['gc', '--grace', '5m']);
    expect(third.grace).toBe('5m');
    expect(cacheIds(repo).has(ids.modelV6!)).toBe(false);
    expect(cacheIds(repo).has(ids.scratchRoot!)).toBe(true);
    await run(repo, ['gc', '--grace', '0']);
    expect(cacheIds(repo)).toEqual(workspaceObjectsPresent(repo));
  });

  it('stops without removing anything when a referenced folder listing cannot be read', async () => {
    const { repo, ids } = copy();
    fs.rmSync(objectPath(repo, ids.dataV1!));
    const before = cacheIds(repo);
    const r = await mlvAsync(repo, ['gc', '--all-tags', '--grace', '0']);
    expectCleanError(r, 5, /cannot read the folder listing of data \(tree [0-9a-f]{12}, commit [0-9a-f]{12} \(v1\)\): not in the cache; .* nothing was removed/);
    expect(r.stderr).toMatch(/^hint: read the missing listings from a remote with -r <name>/m);
    expect(cacheIds(repo)).toEqual(before);
    const j = await mlvJsonAsync(repo, ['gc', '--all-commits', '--grace', '0']);
    expect(j.code).toBe(5);
    expect(j.json.error.details.unreadable.map((u: any) => u.id)).toEqual([ids.dataV1]);
    expect(cacheIds(repo)).toEqual(before);
    // A scope without v1 does not need that listing.
    await run(repo, ['gc', '--all-branches', '--grace', '0']);
    expect(cacheIds(repo).has(ids.dataV4!)).toBe(true);
  });

  it('keeps referenced trees in incomplete/ and removes unreferenced ones', async () => {
    const { repo, ids } = copy();
    const inc = (id: string) => path.join(repo, '.mlv', 'cache', 'incomplete', id.slice(0, 2), id.slice(2));
    const valTree = treeEntries(repo, ids.dataV4!).get('val')!.id;
    for (const id of [valTree, ids.scratchRoot!]) {
      fs.mkdirSync(path.dirname(inc(id)), { recursive: true });
      fs.renameSync(objectPath(repo, id), inc(id));
    }
    const json = await runJson(repo, ['gc', '--grace', '0', '--dry-run']);
    expect(json.local.list).toContainEqual({ id: ids.scratchRoot, size: fs.statSync(inc(ids.scratchRoot!)).size, kind: 'tree', where: 'incomplete' });
    await run(repo, ['gc', '--grace', '0']);
    expect(fs.existsSync(inc(valTree))).toBe(true);
    expect(fs.existsSync(inc(ids.scratchRoot!))).toBe(false);
    for (const e of treeEntries(repo, ids.dataV4!).values()) expect(fs.existsSync(objectPath(repo, e.id)) || e.id === valTree).toBe(true);
  });

  it('refuses bad usage with exit 2 and changes nothing', async () => {
    const { repo } = copy();
    const before = lsTree(path.join(repo, '.mlv'));
    expectCleanError(await mlvAsync(repo, ['gc', '--cloud']), 2, /gc --cloud needs an explicit scope/);
    expectCleanError(await mlvAsync(repo, ['gc', '--grace', '3 days']), 2, /invalid grace period "3 days"/);
    expectCleanError(await mlvAsync(repo, ['gc', '--grace', '7']), 2, /invalid grace period/);
    expectCleanError(await mlvAsync(repo, ['gc', '--cloud', '--all-commits', '-r', 'nope']), 2, /no remote/);
    expectCleanError(await mlvAsync(repo, ['config', 'gc.grace', 'soon']), 2, /invalid value for gc.grace/);
    expect((await mlvJsonAsync(repo, ['gc', '--cloud'])).json.error.code).toBe('USAGE');
    expect(lsTree(path.join(repo, '.mlv'))).toEqual(before);
  });

  it('a project without Git has only the workspace scope', async () => {
    const dir = tempDir('mlv-gc-noscm-');
    await run(dir, ['init', '--no-scm']);
    write(dir, 'm.bin', 'one');
    await run(dir, ['add', 'm.bin']);
    write(dir, 'm.bin', 'two');
    await run(dir, ['add', 'm.bin']);
    expectCleanError(await mlvAsync(dir, ['gc', '--all-commits']), 2, /does not use Git/);
    const json = await runJson(dir, ['gc', '--grace', '0']);
    expect(json.local.removed).toBe(1);
    expect(cacheIds(dir)).toEqual(new Set([idIn(pointerText(dir, 'm.bin'))]));
  });
});

function sizeOf(repo: string, id: string): number {
  return fs.statSync(objectPath(repo, id)).size;
}
function workspaceObjectsPresent(repo: string): Set<string> {
  const all = cacheIds(repo);
  return new Set([...workspaceObjects(repo)].filter((id) => all.has(id)));
}

describe('pointer files at commits (src/git/refs.ts)', () => {
  it('finds the same pointer files as listPointersAt at every commit', async () => {
    const dir = tempDir('mlv-refs-');
    git(dir, ['init', '-q', '-b', 'main']);
    const files: Record<string, string | null> = {
      'a.mlv': 'x',
      'sub/b.bin.mlv': 'y',
      't.mlv': 'z',
      't/inner.mlv': 'inside a tracked folder',
      '.mlv/config.mlv': 'inside .mlv',
      '.MLV/q.mlv': 'inside .MLV',
      'deep/er/c.mlv': 'c',
      'deep/er/c/d.mlv': 'inside c',
      'plain.txt': 'not a pointer',
      '.mlv.mlv': 'a pointer named .mlv.mlv',
    };
    for (const [f, text] of Object.entries(files)) write(dir, f, text!);
    fs.symlinkSync('a.mlv', path.join(dir, 'link.mlv'));
    write(dir, 'exec.mlv', 'x', 0o755);
    const c1 = commit(dir, 'one');
    fs.rmSync(path.join(dir, 't.mlv'));
    write(dir, 'deep/er/new.mlv', 'n');
    const c2 = commit(dir, 'two');
    const lister = new CommitPointers(dir);
    for (const c of [c1, c2]) {
      const expected = await listPointersAt(dir, c);
      const got = await lister.at(c);
      expect(got.map((p: any) => [p.pointerRel, p.targetRel])).toEqual(expected.map((p: any) => [p.pointerRel, p.targetRel]));
      for (const p of got) expect((await lister.bytes(p.blob, p.pointerRel)).toString('utf8')).toBe(expected.find((e: any) => e.pointerRel === p.pointerRel)!.text);
    }
    expect((await lister.at(c2)).map((p: any) => p.pointerRel)).toContain('t/inner.mlv');
    expect((await lister.at(c1)).map((p: any) => p.pointerRel)).not.toContain('t/inner.mlv');
  });

  it('reads 300 commits quickly (pointer listings are shared per Git tree)', async () => {
    const repo = await initRepoAsync();
    let stream = '';
    const pointer = (n: number, v: number) => {
      const id = pseudoRandomBytes(32, n * 1000 + v + 1).toString('hex');
      return `version: 1\nhash: blake3\nkind: file\npath: "f${n}.bin"\nid: ${id}\nsize: 1\n`;
    };
    for (let i = 1; i <= 300; i++) {
      const msg = `c${i}`;
      stream += `commit refs/heads/main\nmark :${i}\ncommitter t <t@example.invalid> ${1_700_000_000 + i} +0000\ndata ${msg.length}\n${msg}\n`;
      if (i > 1) stream += `from :${i - 1}\n`;
      const files = i === 1 ? Array.from({ length: 40 }, (_, n) => n) : [i % 40];
      for (const n of files) {
        const text = pointer(n, i);
        stream += `M 100644 inline p/${String(n % 8)}/${n}/f${n}.bin.mlv\ndata ${Buffer.byteLength(text)}\n${text}\n`;
      }
    }
    const r = spawnSync('git', ['fast-import', '--quiet'], { cwd: repo, input: stream, env: { ...process.env, ...GIT_ENV } });
    expect(r.status, r.stderr?.toString()).toBe(0);
    const started = Date.now();
    const json = await runJson(repo, ['gc', '--all-commits', '--grace', '0', '--dry-run']);
    expect(json.commits).toBe(300);
    expect(json.pointerFiles).toBe(40 + 299);
    expect(json.referenced).toBe(40 + 299);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

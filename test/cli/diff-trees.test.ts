/**
 * mlv diff reads only the tree objects on changed paths: with the trees of unchanged folders
 * gone from the cache and no remote to fetch them from, a diff still succeeds, while a diff that
 * needs one of them fails with exit 5 naming the folder. The working tree and the index are never
 * touched.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectCleanError, objectPath, pointerId, treeEntries, write } from '../helpers/assert.js';
import { git, gitIndex, initRepo, mlv, mlvJson, snapshotTree } from '../helpers/cli.js';

/** The workspace without .git and .mlv, for before/after comparisons. */
function snapshotTreeOf(repo: string) {
  return [...snapshotTree(repo).entries()].filter(([p]) => !p.startsWith('.git') && !p.startsWith('.mlv')).map(([p, v]) => [p, v === 'dir' ? 'dir' : v.bytes.toString('hex')]);
}

describe('mlv diff reads only what changed', () => {
  it('skips unchanged subtrees by id; needs exactly the trees on changed paths', () => {
    const repo = initRepo();
    for (let s = 0; s < 4; s++) for (let f = 0; f < 5; f++) write(repo, `data/s${s}/deep/f${f}.txt`, `v1 ${s} ${f}\n`);
    expect(mlv(repo, ['add', 'data']).code).toBe(0);
    git(repo, ['commit', '-qm', 'v1']);
    const v1Tree = pointerId(`${repo}/data.mlv`);
    const v1 = treeEntries(repo, v1Tree);
    write(repo, 'data/s0/deep/f0.txt', 'v2 changed\n');
    expect(mlv(repo, ['add', 'data']).code).toBe(0);
    git(repo, ['commit', '-qm', 'v2']);

    // Remove the tree objects of the unchanged folders s1..s3 (and their deep/ subfolders).
    const unchanged = [...v1].filter(([p, e]) => e.kind === 'dir' && !p.startsWith('s0')).map(([, e]) => e.id);
    expect(unchanged).toHaveLength(6);
    for (const id of unchanged) fs.rmSync(objectPath(repo, id), { force: true });

    const before = { index: gitIndex(repo), tree: snapshotTreeOf(repo) };
    const r = mlvJson(repo, ['diff', 'HEAD~1', 'HEAD']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.modified.map((m: { path: string }) => m.path)).toEqual(['data/s0/deep/f0.txt']);
    expect(r.json.counts).toEqual({ added: 0, deleted: 0, modified: 1, renamed: 0 });
    // Against the workspace too (its own trees are built in memory).
    expect(mlvJson(repo, ['diff', 'HEAD~1']).json.counts.modified).toBe(1);
    expect({ index: gitIndex(repo), tree: snapshotTreeOf(repo) }).toEqual(before);

    // Changing a file in s1 makes s1's old tree necessary: it is gone and there is no remote.
    write(repo, 'data/s1/deep/f0.txt', 'v3\n');
    const e = mlv(repo, ['diff', 'HEAD~1']);
    expectCleanError(e, 5, /data\/s1/);
  });
});

/**
 * `mlv gc --cloud` and `mlv fsck --remote` against a folder remote and S3 (s3rver, or
 * MLV_TEST_S3_ENDPOINT; one bucket for this file). gc keeps every object of every commit in scope
 * on the remote (checked by walking every tree independently), removes the rest parents-first,
 * reads trees missing from a clone's cache from the remote, and stops when a referenced tree is
 * nowhere; fsck finds a truncated, a bit-flipped and a missing remote object without modifying the
 * remote, and tells "could not check" (exit 9) from "corrupt" (exit 6).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blake3Hex, initRepoAsync, lsTree, objectPath, pseudoRandomBytes, treeEntries, write } from '../helpers/assert.js';
import { git, tempDir } from '../helpers/cli.js';
import { fault, startFaultProxy } from '../helpers/fault-proxy.js';
import { openBucket, s3Env, subRef, via } from '../helpers/s3-server.js';
import { bareRepo, bucketObjects, cacheIds, cloneRepo, closedPort, commitAll, folderObjects, idOf, relOf, run, runJson } from './remote-helpers.js';
import { useS3Bucket, useS3Target } from './s3-fixture.js';

const s3 = useS3Target();
const bucket = useS3Bucket(s3, 'gc-fsck');

interface RemoteUnderTest {
  url: string;
  env: Record<string, string>;
  /** rel key -> size */
  objects(): Promise<Map<string, number>>;
  /** A fingerprint of everything on the remote (keys, sizes, content). */
  snapshot(): Promise<unknown>;
  replace(rel: string, bytes: Buffer): Promise<void>;
  read(rel: string): Promise<Buffer>;
  remove(rel: string): Promise<void>;
}

function folderRemote(): RemoteUnderTest {
  const dir = tempDir('mlv-gc-remote-');
  const abs = (rel: string) => path.join(dir, ...rel.split('/'));
  return {
    url: dir,
    env: {},
    objects: async () => folderObjects(dir),
    snapshot: async () => lsTree(dir),
    async replace(rel, bytes) {
      fs.chmodSync(abs(rel), 0o644);
      fs.writeFileSync(abs(rel), bytes);
    },
    read: async (rel) => fs.readFileSync(abs(rel)),
    remove: async (rel) => fs.rmSync(abs(rel)),
  };
}

function s3Remote(name: string): RemoteUnderTest {
  const ref = subRef(bucket, name);
  const view = openBucket(s3, ref);
  return {
    url: ref.url,
    env: s3Env(s3),
    objects: () => bucketObjects(view),
    snapshot: async () => (await view.list()).map((o) => `${o.key} ${o.size} ${o.etag}`),
    replace: (rel, bytes) => view.put(rel, bytes),
    read: (rel) => view.get(rel),
    remove: (rel) => view.delete(rel),
  };
}

const REMOTES: Array<[string, (name: string) => RemoteUnderTest]> = [
  ['folder', () => folderRemote()],
  ['s3', (name) => s3Remote(name)],
];

const pointerText = (repo: string, target: string) => fs.readFileSync(path.join(repo, `${target}.mlv`), 'utf8');
const idIn = (text: string) => /^id: ([0-9a-f]{64})$/m.exec(text)![1]!;
const isTree = (repo: string, id: string) => fs.readFileSync(objectPath(repo, id)).subarray(0, 11).toString() === 'mlv-tree 1\n';

/** The objects a commit references: pointer files read with git, trees walked in `cacheRepo`'s cache. */
function objectsAtCommit(repo: string, cacheRepo: string, commit: string): Set<string> {
  const out = new Set<string>();
  for (const f of git(repo, ['ls-tree', '-r', '--name-only', commit]).split('\n').filter((l) => l.endsWith('.mlv'))) {
    const text = git(repo, ['show', `${commit}:${f}`]);
    const id = idIn(text);
    out.add(id);
    if (/^kind: dir$/m.test(text)) for (const e of treeEntries(cacheRepo, id).values()) out.add(e.id);
  }
  return out;
}

/**
 * main: v1 (tagged) -> v2 -> v4; feature: v3 from v2; an orphaned version pushed but never
 * committed. Every version is pushed, and the Git history goes to a bare origin.
 */
async function pushedHistory(remote: RemoteUnderTest) {
  const env = remote.env;
  const repo = await initRepoAsync();
  await run(repo, ['remote', 'add', '--default', 'origin', remote.url]);
  const bin = (seed: number, size = 400) => pseudoRandomBytes(size + seed, seed);
  const ids: Record<string, string> = {};
  const commits: Record<string, string> = {};
  const version = async (name: string, files: Record<string, Buffer | null>, modelSeed?: number) => {
    for (const [rel, bytes] of Object.entries(files)) {
      if (bytes) write(repo, rel, bytes);
      else fs.rmSync(path.join(repo, rel));
    }
    if (modelSeed !== undefined) write(repo, 'model.bin', bin(modelSeed, 3000));
    await run(repo, ['add', 'data', 'model.bin']);
    await run(repo, ['push'], env);
    ids[`data_${name}`] = idIn(pointerText(repo, 'data'));
    ids[`model_${name}`] = idIn(pointerText(repo, 'model.bin'));
  };
  await version('v1', { 'data/train/a.bin': bin(1), 'data/train/b.bin': bin(2), 'data/val/c.bin': bin(3), 'data/labels.csv': Buffer.from('a,1\n') }, 10);
  commitAll(repo, 'v1');
  commits.v1 = git(repo, ['rev-parse', 'HEAD']).trim();
  git(repo, ['tag', 'v1']);
  await version('orphan', { 'data/train/orphan.bin': bin(50) }, 51);
  await version('v2', { 'data/train/orphan.bin': null, 'data/train/b.bin': bin(4), 'data/val/d.bin': bin(5) }, 11);
  commitAll(repo, 'v2');
  commits.v2 = git(repo, ['rev-parse', 'HEAD']).trim();
  git(repo, ['checkout', '-q', '-b', 'feature']);
  await version('v3', { 'data/extra/e.bin': bin(6) }, 12);
  commitAll(repo, 'v3');
  commits.v3 = git(repo, ['rev-parse', 'HEAD']).trim();
  git(repo, ['checkout', '-q', 'main']);
  await run(repo, ['checkout']);
  await version('v4', { 'data/labels.csv': Buffer.from('a,1\nb,2\n') });
  commitAll(repo, 'v4');
  commits.v4 = git(repo, ['rev-parse', 'HEAD']).trim();
  const origin = bareRepo();
  git(repo, ['remote', 'add', 'origin', origin]);
  git(repo, ['push', '-q', 'origin', 'main', 'feature', 'v1']);
  return { repo, ids, commits, origin };
}

describe.concurrent.each(REMOTES)('gc --cloud and fsck --remote: %s remote', (kind, make) => {
  it('gc --cloud keeps every object of every commit in scope on the remote, and removes the rest', async () => {
    const remote = make(`gc-${kind}`);
    const { repo, ids, commits, origin } = await pushedHistory(remote);
    const env = remote.env;
    const before = await remote.objects();
    const beforeIds = new Set([...before.keys()].map(idOf));
    expect(beforeIds).toEqual(new Set(cacheIds(repo)));
    const at = (...names: string[]) => new Set(names.flatMap((n) => [...objectsAtCommit(repo, repo, commits[n]!)]));
    // --all-branches: main (HEAD, v4) and feature (v3), and the workspace (= v4).
    const keepBranches = at('v4', 'v3');
    const keepAll = at('v1', 'v2', 'v3', 'v4');
    const gone = [...beforeIds].filter((id) => !keepBranches.has(id)).sort();
    const orphans = [...beforeIds].filter((id) => !keepAll.has(id)).sort();
    expect(orphans).toEqual(expect.arrayContaining([ids.data_orphan, ids.model_orphan]));
    expect(gone).toEqual(expect.arrayContaining([ids.data_orphan, ids.model_v1, ids.data_v2]));
    expect(gone).not.toContain(ids.model_v2); // v4 still uses it

    // A dry run lists them and changes nothing.
    const snap = await remote.snapshot();
    const cacheBytes = lsTree(path.join(repo, '.mlv'));
    const dry = await runJson(repo, ['gc', '--cloud', '--all-branches', '--grace', '0', '--dry-run'], env);
    expect(dry.remote.list.map((o: any) => o.id).sort()).toEqual(gone);
    expect(dry.remote.removedBytes).toBe(gone.reduce((s, id) => s + before.get(relOf(id))!, 0));
    for (const o of dry.remote.list) expect(o.kind).toBe(isTree(repo, o.id) ? 'tree' : 'file');
    expect(dry.local.list.map((o: any) => o.id).sort()).toEqual(gone);
    expect(await remote.snapshot()).toEqual(snap);
    expect(lsTree(path.join(repo, '.mlv'))).toEqual(cacheBytes);

    // Everything was just uploaded: the default grace period keeps it all.
    const young = await runJson(repo, ['gc', '--cloud', '--all-branches'], env);
    expect(young.remote).toMatchObject({ removed: 0, young: gone.length, referenced: keepBranches.size, failed: [] });
    expect(await remote.snapshot()).toEqual(snap);

    // A clone whose cache holds only the workspace's version: the trees of every other commit are
    // read from the remote, so --all-commits removes exactly the orphaned version.
    const clone = cloneRepo(origin);
    git(clone, ['fetch', '-q', 'origin', 'feature:feature']);
    await run(clone, ['pull'], env);
    expect(cacheIds(clone)).not.toContain(ids.data_v3);
    expect(cacheIds(clone)).not.toContain(ids.data_v1);
    const all = await runJson(clone, ['gc', '--cloud', '--all-commits', '--grace', '0'], env);
    expect(all).toMatchObject({ commits: 4, local: { removed: 0 }, remote: { removed: orphans.length, failed: [] } });
    expect(new Set([...(await remote.objects()).keys()].map(idOf))).toEqual(new Set([...beforeIds].filter((id) => keepAll.has(id))));

    // Back in the first repository: --all-branches removes v1 and v2 as well, parents first.
    const json = await runJson(repo, ['gc', '--cloud', '--all-branches', '--grace', '0'], env);
    expect(json.remote).toMatchObject({ referenced: keepBranches.size, young: 0, removed: gone.length - orphans.length, failed: [] });
    expect(json.remote.remote).toBe(`origin (${remote.url})`);
    expect(json.local.removed).toBe(gone.length);
    const after = await remote.objects();
    expect(new Set([...after.keys()].map(idOf))).toEqual(keepBranches);
    for (const [rel, size] of after) expect(size).toBe(before.get(rel));
    expect(new Set(cacheIds(repo))).toEqual(keepBranches);
    // The remote is consistent: every tree there has its children there.
    const fsck = await runJson(repo, ['fsck', '--remote'], env);
    expect(fsck.healthy).toBe(true);
    expect(fsck.remote.checked).toBe(keepBranches.size);

    // Local gc in the clone cannot read feature's trees from its cache: it refuses, unless -r
    // names a remote to read them from (nothing is removed from that remote).
    write(clone, 'stray.bin', 'stray');
    await run(clone, ['add', 'stray.bin']);
    await run(clone, ['untrack', 'stray.bin']);
    const refused = await run(clone, ['gc', '--all-branches', '--grace', '0'], env, 5);
    expect(refused.stderr).toMatch(/cannot read the folder listing of data \(tree [0-9a-f]{12}, commit [0-9a-f]{12} \(feature\)\)/);
    const remoteBefore = await remote.snapshot();
    const withRemote = await runJson(clone, ['gc', '--all-branches', '--grace', '0', '-r', 'origin'], env);
    expect(withRemote.local.removed).toBe(1);
    expect(withRemote.remote).toBeUndefined();
    expect(await remote.snapshot()).toEqual(remoteBefore);
  });

  it('gc --cloud stops when a referenced tree is neither in the cache nor on the remote', async () => {
    const remote = make(`gc-missing-${kind}`);
    const { repo, ids } = await pushedHistory(remote);
    const env = remote.env;
    const clone = cloneRepo(git(repo, ['remote', 'get-url', 'origin']).trim());
    await run(clone, ['pull'], env);
    await remote.remove(relOf(ids.data_v1!));
    const snap = await remote.snapshot();
    const r = await run(clone, ['gc', '--cloud', '--all-tags', '--grace', '0'], env, 5);
    expect(r.stderr).toMatch(/^error: cannot read the folder listing of data \(tree [0-9a-f]{12}, commit [0-9a-f]{12} \(v1\)\): not in the cache, nor on the remote .*nothing was removed$/m);
    expect(await remote.snapshot()).toEqual(snap);
    // The workspace scope does not need it.
    const ok = await runJson(clone, ['gc', '--cloud', '--workspace', '--grace', '0'], env);
    expect(ok.remote.removed).toBeGreaterThan(0);
  });

  it('fsck --remote finds a truncated, a bit-flipped and a missing object, and changes nothing', async () => {
    const remote = make(`fsck-${kind}`);
    const env = remote.env;
    const repo = await initRepoAsync();
    await run(repo, ['remote', 'add', '--default', 'origin', remote.url]);
    for (let i = 0; i < 6; i++) write(repo, `data/part/${i}.bin`, pseudoRandomBytes(500 + i, 100 + i));
    write(repo, 'model.bin', pseudoRandomBytes(5000, 7));
    await run(repo, ['add', 'data', 'model.bin']);
    await run(repo, ['push'], env);
    const healthy = await runJson(repo, ['fsck', '--remote'], env);
    expect(healthy.healthy).toBe(true);
    expect(healthy.remote).toMatchObject({ problems: [], unchecked: [], checked: cacheIds(repo).length });

    const entries = treeEntries(repo, idIn(pointerText(repo, 'data')));
    const model = idIn(pointerText(repo, 'model.bin'));
    const p0 = entries.get('part/0.bin')!.id;
    const p1 = entries.get('part/1.bin')!.id;
    const partTree = entries.get('part')!.id;
    await remote.replace(relOf(model), (await remote.read(relOf(model))).subarray(0, 100));
    const flipped = Buffer.from(await remote.read(relOf(p0)));
    flipped[7] = flipped[7]! ^ 0x10;
    await remote.replace(relOf(p0), flipped);
    await remote.remove(relOf(p1));
    // And a new object that was never pushed: missing on the remote, fine locally.
    write(repo, 'extra.bin', 'never pushed');
    await run(repo, ['add', 'extra.bin']);
    const extra = idIn(pointerText(repo, 'extra.bin'));
    const snap = await remote.snapshot();
    const cacheBytes = lsTree(path.join(repo, '.mlv', 'cache'));

    const j = await runJson(repo, ['fsck', '--remote'], env, 6);
    expect(j.local).toMatchObject({ problems: [], unchecked: [] });
    expect(j.remote.remote).toBe(`origin (${remote.url})`);
    expect(j.remote.unchecked).toEqual([]);
    const byId = new Map(j.remote.problems.map((p: any) => [p.id, p]));
    expect(byId.get(model)).toMatchObject({ problem: 'truncated', where: 'remote', path: 'model.bin', detail: expect.stringMatching(/^100 of 5000 bytes/) });
    expect(byId.get(p0)).toMatchObject({ problem: 'corrupt', where: 'remote', path: 'data/part/0.bin', detail: `content hashes to ${blake3Hex(flipped)}` });
    expect(byId.get(p1)).toMatchObject({ problem: 'missing-below-tree', where: 'remote', path: 'data/part/1.bin', detail: expect.stringContaining(`the tree ${partTree.slice(0, 12)}`) });
    expect(byId.get(extra)).toMatchObject({ problem: 'missing', where: 'remote', path: 'extra.bin', detail: 'not on the remote' });
    expect(j.remote.problems).toHaveLength(4);
    // Nothing modified, on either side.
    expect(await remote.snapshot()).toEqual(snap);
    expect(lsTree(path.join(repo, '.mlv', 'cache'))).toEqual(cacheBytes);

    const human = await run(repo, ['fsck', '--remote'], env, 6);
    expect(human.stdout).toContain(`truncated on the remote: model.bin (${model.slice(0, 12)}): 100 of 5000 bytes`);
    expect(human.stdout).toContain(`corrupt on the remote: data/part/0.bin (${p0.slice(0, 12)})`);
    expect(human.stdout).toContain(`missing below a tree on the remote: data/part/1.bin (${p1.slice(0, 12)})`);
    expect(human.stdout).toMatch(/^hint: corrupt remote copies of the right size: mlv push does not replace them/m);
    expect(human.stdout).toMatch(/^4 problems found$/m);

    // mlv push repairs what it can (wrong sizes, missing objects); the same-size corrupt copy stays.
    await run(repo, ['push'], env);
    const afterPush = await runJson(repo, ['fsck', '--remote'], env, 6);
    expect(afterPush.remote.problems.map((p: any) => [p.id, p.problem])).toEqual([[p0, 'corrupt']]);
    await remote.remove(relOf(p0));
    await run(repo, ['push'], env);
    expect((await runJson(repo, ['fsck', '--remote'], env)).healthy).toBe(true);
  });
});

describe.concurrent('could not check, versus corrupt', () => {
  it('fsck --remote against an unreachable endpoint exits 9; with local corruption, 6', async () => {
    const repo = await initRepoAsync();
    write(repo, 'model.bin', 'weights');
    await run(repo, ['add', 'model.bin']);
    const port = await closedPort();
    await run(repo, ['remote', 'add', 'dead', 's3://no-such-bucket/x']);
    await run(repo, ['remote', 'modify', 'dead', 'endpoint', `http://127.0.0.1:${port}`]);
    const env = { ...s3Env(s3), AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: '' };
    const j = await runJson(repo, ['fsck', '-r', 'dead'], env, 9);
    expect(j.healthy).toBe(false);
    expect(j.local).toMatchObject({ problems: [], unchecked: [] });
    expect(j.remote).toMatchObject({ checked: 0, problems: [], unchecked: [] });
    expect(j.remote.error).toMatch(/^cannot list the remote dead \(s3:\/\/no-such-bucket\/x\): .*(ECONNREFUSED|connection refused)/i);
    // A folder remote that does not exist: could not check either.
    const missing = path.join(tempDir(), 'not-there');
    await run(repo, ['remote', 'add', 'gone', missing]);
    expect((await runJson(repo, ['fsck', '-r', 'gone'], {}, 9)).remote.error).toMatch(/does not exist/);
    const human = await run(repo, ['fsck', '-r', 'gone'], {}, 9);
    expect(human.stdout).toContain(`remote gone (${missing}): could not be checked`);
    expect(human.stdout).toMatch(/^no problems found in what could be checked; some objects could not be checked$/m);
    // Corruption found locally wins over "could not check".
    const id = idIn(pointerText(repo, 'model.bin'));
    fs.chmodSync(objectPath(repo, id), 0o644);
    fs.writeFileSync(objectPath(repo, id), 'weighs');
    expect((await runJson(repo, ['fsck', '-r', 'dead'], env, 6)).local.problems).toHaveLength(1);
  });

  it('fsck --remote: an object the remote refuses to send is "not checked" (exit 9); gc --cloud keeps a tree it cannot delete, and what is below it', async () => {
    const proxy = await startFaultProxy(s3.endpoint);
    const ref = subRef(bucket, 'refused');
    const env = s3Env(via(s3, proxy.url));
    const repo = await initRepoAsync();
    await run(repo, ['remote', 'add', '--default', 'origin', ref.url]);
    for (let i = 0; i < 3; i++) write(repo, `data/sub/${i}.bin`, pseudoRandomBytes(300 + i, 900 + i));
    await run(repo, ['add', 'data']);
    await run(repo, ['push'], env);
    const v1 = idIn(pointerText(repo, 'data'));
    const v1Entries = treeEntries(repo, v1);
    const sub = v1Entries.get('sub')!.id;
    const file0 = v1Entries.get('sub/0.bin')!.id;
    proxy.addRule({ method: 'GET', path: new RegExp(`/${relOf(file0)}$`), action: fault.status(403) });
    const j = await runJson(repo, ['fsck', '--remote'], env, 9);
    expect(j.remote.problems).toEqual([]);
    expect(j.remote.unchecked).toEqual([{ id: file0, path: 'data/sub/0.bin', reason: expect.stringMatching(/403/) }]);
    proxy.clearRules();

    // A new version; the old one (v1 root, sub tree, three files) becomes unreferenced.
    for (let i = 0; i < 3; i++) write(repo, `data/sub/${i}.bin`, pseudoRandomBytes(300 + i, 1900 + i));
    await run(repo, ['add', 'data']);
    await run(repo, ['push'], env);
    proxy.clearLog();
    proxy.addRule({ method: 'DELETE', path: new RegExp(`/${relOf(sub)}$`), action: fault.status(403) });
    const r = await run(repo, ['gc', '--cloud', '--workspace', '--grace', '0'], env, 9);
    expect(r.stderr).toMatch(new RegExp(`^failed: ${sub.slice(0, 12)}: `, 'm'));
    expect(r.stderr).toMatch(/^error: 4 remote objects could not be removed/m);
    const left = new Set([...(await bucketObjects(openBucket(s3, ref))).keys()].map(idOf));
    // The root went first; the refused tree stays, and so does everything below it.
    expect(left.has(v1)).toBe(false);
    expect(left.has(sub)).toBe(true);
    for (let i = 0; i < 3; i++) expect(left.has(v1Entries.get(`sub/${i}.bin`)!.id)).toBe(true);
    await proxy.settled();
    const deletes = proxy.find('DELETE').map((q) => idOf(q.path.split('/').slice(-2).join('/')));
    expect(deletes).toEqual([v1, sub]);
    // The remote never holds a tree without its children.
    proxy.clearRules();
    expect((await runJson(repo, ['fsck', '--remote'], env)).healthy).toBe(true);
    await run(repo, ['gc', '--cloud', '--workspace', '--grace', '0'], env);
    expect((await runJson(repo, ['fsck', '--remote'], env)).healthy).toBe(true);
  });
});

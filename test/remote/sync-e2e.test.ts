/**
 * Remotes end to end with the real CLI: the daily loop (add, commit, push; a colleague clones,
 * pulls, changes, pushes; we pull) against S3 (s3rver, or MLV_TEST_S3_ENDPOINT) and against a
 * folder remote; partial pulls; fetch; status --remote; push with objects missing from the cache;
 * and the configuration of remotes (validation, secrets only in config.local).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCleanError, initRepoAsync, lsTree, mlvAsync, objectPath, pseudoRandomBytes, repoState, write } from '../helpers/assert.js';
import { cacheObjectBytes, cacheObjects, git, snapshotTree, tempDir } from '../helpers/cli.js';
import { fault, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { openBucket, s3Env, subRef, via } from '../helpers/s3-server.js';
import {
  MiB,
  bareRepo,
  bucketObjects,
  cacheIds,
  cloneRepo,
  closedPort,
  commitAll,
  expectCacheVerified,
  expectRemoteMatchesCache,
  folderObjects,
  idOf,
  idsBelow,
  pointerIdOf,
  relOf,
  run,
  runJson,
  treeNodes,
  writeDataset,
} from './remote-helpers.js';
import { useS3Target } from './s3-fixture.js';

const s3 = useS3Target();

/** Workspace files outside .git and .mlv, for "untouched" checks. */
const workspace = (repo: string) => lsTree(repo, ['.git', '.mlv']);
const ids = (list: Array<{ id: string }>) => list.map((e) => e.id).sort();

interface RemoteUnderTest {
  url: string;
  env: Record<string, string>;
  /** rel key ('ab/cdef...') -> size of everything on the remote. */
  objects(): Promise<Map<string, number>>;
  read(rel: string): Promise<Buffer>;
  /** S3 only: a pass-through proxy that watches the requests of the pushes, and its environment. */
  proxy?: FaultProxy;
  proxyEnv?: Record<string, string>;
}

const TRAIN = 340;
const VAL = 180;
/** 520 small files (more than 500: existence is checked with a listing), labels.csv, 3 trees, and the large model. */
const OBJECTS = TRAIN + VAL + 1 + 3 + 1;

/** Tree ids of the data folder. */
function v1Trees(repo: string): Set<string> {
  const root = pointerIdOf(repo, 'data');
  return new Set([root, ...[...treeNodes(repo, root).values()].filter((n) => n.kind === 'dir').map((n) => n.id)]);
}

/** The daily loop against one remote; returns repository A (which ends with both versions) and the Git origin. */
async function dailyLoop(remote: RemoteUnderTest): Promise<{ a: string; b: string; origin: string }> {
  const env = remote.env;
  const listRequests = () => remote.proxy?.requests.filter((r) => r.method === 'GET' && /(^|&)list-type=2(&|$)/.test(r.query)) ?? [];
  const heads = () => remote.proxy?.find('HEAD') ?? [];
  const puts = () => remote.proxy?.find('PUT') ?? [];

  // Repo A: a folder of 520 small files and a ~20 MiB model, committed, with the remote.
  const a = await initRepoAsync();
  writeDataset(a, 'data', TRAIN, VAL);
  write(a, 'models/big.bin', pseudoRandomBytes(20 * MiB + 123, 4242));
  await run(a, ['add', 'data', 'models/big.bin']);
  await run(a, ['remote', 'add', '--default', 'origin', remote.url]);
  commitAll(a, 'data v1');
  const origin = bareRepo();
  git(a, ['remote', 'add', 'origin', origin]);
  git(a, ['push', '-q', 'origin', 'main']);
  const v1 = cacheIds(a);
  expect(v1).toHaveLength(OBJECTS);
  const trees = v1Trees(a);

  // Before the push: everything is missing on the remote.
  const before = await runJson(a, ['status', '--remote'], env);
  expect(before).toMatchObject({ objects: OBJECTS, onlyOnRemote: [], missingEverywhere: [], unreadable: [], inSync: false });
  expect(ids(before.notOnRemote)).toEqual(v1);
  expect(await remote.objects()).toEqual(new Map());

  // Push: every object, exactly once; the bulk existence check is a listing, not a HEAD per
  // object (and a listing answered with 503 once is tried again).
  remote.proxy?.clearLog();
  remote.proxy?.addRule({ name: 'busy', method: 'GET', query: /(^|&)list-type=2(&|$)/, times: 1, action: fault.status(503, { retryAfterSeconds: 0 }) });
  const pushed = await runJson(a, ['push', '-j', '16'], remote.proxyEnv ?? env);
  expect(pushed).toMatchObject({ transferred: OBJECTS, skipped: 0, failed: [] });
  expect(pushed.transferredBytes).toBeGreaterThan(20 * MiB);
  const onRemote = await remote.objects();
  expect([...onRemote.keys()].map(idOf).sort()).toEqual(v1);
  for (const [key, size] of onRemote) expect(size, key).toBe(cacheObjectBytes(a, idOf(key)).length);
  const keys = [...onRemote.keys()];
  // Every byte of a folder remote; on S3 the trees, the model and every 8th file (the sizes of all
  // were compared above).
  const sample = remote.proxy ? keys.filter((k, i) => i % 8 === 0 || onRemote.get(k)! > MiB || trees.has(idOf(k))) : keys;
  await expectRemoteMatchesCache(a, sample, remote.read);
  if (remote.proxy) {
    await remote.proxy.settled();
    expect(listRequests().map((r) => r.status).slice(0, 2)).toEqual([503, 200]);
    expect(listRequests().length).toBeGreaterThanOrEqual(3); // before the uploads (twice), and the read-back
    expect(heads().length).toBeLessThanOrEqual(3); // at most the 3 trees, each checked once published
    expect(puts()).toHaveLength(OBJECTS);
    // Trees go up last: after every file upload and after the read-back listing.
    const isTreePut = (r: { path: string }) => trees.has(idOf(r.path.split('/').slice(-2).join('/')));
    const lastFilePut = Math.max(...puts().filter((r) => !isTreePut(r)).map((r) => r.seq));
    const firstTreePut = Math.min(...puts().filter(isTreePut).map((r) => r.seq));
    expect(puts().filter(isTreePut)).toHaveLength(3);
    expect(firstTreePut).toBeGreaterThan(lastFilePut);
    expect(firstTreePut).toBeGreaterThan(Math.max(...listRequests().map((r) => r.seq)));
    // The data folder's tree (the root) is the very last.
    expect(idOf(puts().at(-1)!.path.split('/').slice(-2).join('/'))).toBe(pointerIdOf(a, 'data'));
  }

  // After: in sync. A second push uploads nothing.
  const after = await runJson(a, ['status', '--remote'], env);
  expect(after).toMatchObject({ objects: OBJECTS, notOnRemote: [], onlyOnRemote: [], missingEverywhere: [], inSync: true });
  remote.proxy?.clearLog();
  expect(await runJson(a, ['push'], remote.proxyEnv ?? env)).toMatchObject({ transferred: 0, transferredBytes: 0, skipped: OBJECTS, failed: [] });
  if (remote.proxy) {
    await remote.proxy.settled();
    expect(puts()).toHaveLength(0);
    expect(heads()).toHaveLength(0);
  }

  // Repo B: a clone (empty cache) pulls identical bytes.
  const b = cloneRepo(origin);
  expect(cacheObjects(b)).toEqual([]);
  const pulled = await runJson(b, ['pull', '-j', '16'], env);
  expect(pulled.fetch).toMatchObject({ transferred: TRAIN + VAL + 1 + 1, skipped: 0, failed: [] });
  expect(pulled.checkout).toMatchObject({ written: TRAIN + VAL + 2, missing: [], corrupt: [] });
  expect(snapshotTree(path.join(b, 'data'))).toEqual(snapshotTree(path.join(a, 'data')));
  expect(fs.readFileSync(path.join(b, 'models/big.bin')).equals(fs.readFileSync(path.join(a, 'models/big.bin')))).toBe(true);
  expect(cacheIds(b)).toEqual(v1);
  expectCacheVerified(b);
  expect((await runJson(b, ['status'])).clean).toBe(true);

  // B changes a file, adds one, deletes one; commits and pushes.
  write(b, 'data/train/0007.bin', pseudoRandomBytes(999, 777_777));
  write(b, 'data/val/new.bin', pseudoRandomBytes(2048, 888_888));
  fs.rmSync(path.join(b, 'data/train/0010.bin'));
  await run(b, ['add', 'data']);
  commitAll(b, 'data v2');
  const v2new = cacheIds(b).filter((id) => !v1.includes(id));
  expect(v2new).toHaveLength(2 + 3); // two files, three trees (data, data/train, data/val)
  const pushedB = await runJson(b, ['push'], env);
  expect(pushedB).toMatchObject({ transferred: 5, skipped: OBJECTS - 5, failed: [] });
  git(b, ['push', '-q', 'origin', 'main']);

  // A pulls with Git; status --remote sees the new objects only there; fetch leaves the workspace alone.
  git(a, ['pull', '-q', 'origin', 'main']);
  const ahead = await runJson(a, ['status', '--remote'], env);
  expect(ids(ahead.onlyOnRemote)).toEqual(v2new);
  expect(ahead).toMatchObject({ notOnRemote: [], missingEverywhere: [], unreadable: [], inSync: false });
  const untouched = workspace(a);
  const fetched = await runJson(a, ['fetch'], env);
  expect(fetched).toMatchObject({ transferred: 2, failed: [] });
  expect(workspace(a)).toEqual(untouched);
  expect(cacheIds(a)).toEqual([...v1, ...v2new].sort());
  const pulledA = await runJson(a, ['pull'], env);
  expect(pulledA.fetch).toMatchObject({ transferred: 0, failed: [] });
  expect(pulledA.checkout).toMatchObject({ written: 2, deleted: 1, missing: [], corrupt: [] });
  expect(snapshotTree(path.join(a, 'data'))).toEqual(snapshotTree(path.join(b, 'data')));
  expect((await runJson(a, ['status'])).clean).toBe(true);
  expect((await runJson(a, ['status', '--remote'], env)).inSync).toBe(true);

  // The remote holds exactly the objects of both versions: nothing else, nothing twice.
  const final = await remote.objects();
  expect([...final.keys()].map(idOf).sort()).toEqual(cacheIds(a));
  for (const id of v2new) expect(final.get(relOf(id))).toBe(cacheObjectBytes(a, id).length);
  expectCacheVerified(a);
  return { a, b, origin };
}

/** Every object the current pointers of `targets` reference (trees included). */
function referencedIds(repo: string, targets: string[]): string[] {
  const out = new Set<string>();
  for (const t of targets) {
    const id = pointerIdOf(repo, t);
    out.add(id);
    if (fs.statSync(path.join(repo, t)).isDirectory()) for (const n of treeNodes(repo, id).values()) out.add(n.id);
  }
  return [...out].sort();
}

/** Partial pulls: a subfolder, then one file inside the tracked folder, then the rest. */
async function partialPulls(remote: RemoteUnderTest, origin: string, full: string, opts: { complete: boolean }): Promise<void> {
  const env = remote.env;
  const c = cloneRepo(origin);
  const valIds = idsBelow(full, 'data', 'val');
  expect(valIds).toHaveLength(VAL + 2); // the files, the new one, the val tree

  const r1 = await runJson(c, ['pull', 'data/val'], env);
  expect(r1.fetch).toMatchObject({ transferred: VAL + 1, failed: [] });
  expect(cacheIds(c)).toEqual(valIds);
  expect(r1.checkout).toMatchObject({ written: VAL + 1, missing: [], corrupt: [] });
  const onlyVal = new Map<string, ReturnType<typeof snapshotTree> extends Map<string, infer V> ? V : never>([['val', 'dir']]);
  for (const [k, v] of snapshotTree(path.join(full, 'data/val'))) onlyVal.set(`val/${k}`, v);
  expect(snapshotTree(path.join(c, 'data'))).toEqual(onlyVal);
  expect(fs.existsSync(path.join(c, 'models/big.bin'))).toBe(false);

  const one = treeNodes(full, pointerIdOf(full, 'data')).get('train/0003.bin')!;
  const r2 = await runJson(c, ['pull', 'data/train/0003.bin'], env);
  expect(r2.fetch).toMatchObject({ transferred: 1, failed: [] });
  expect(cacheIds(c)).toEqual([...valIds, one.id].sort());
  expect(r2.checkout).toMatchObject({ written: 1, missing: [], corrupt: [] });
  expect(fs.readdirSync(path.join(c, 'data')).sort()).toEqual(['train', 'val']);
  expect(fs.readdirSync(path.join(c, 'data/train'))).toEqual(['0003.bin']);
  expect(fs.readFileSync(path.join(c, 'data/train/0003.bin')).equals(fs.readFileSync(path.join(full, 'data/train/0003.bin')))).toBe(true);
  expectCacheVerified(c);

  // Pushing from this partial clone: everything it lacks is on the remote already, so nothing
  // fails and nothing is uploaded.
  const pushedC = await runJson(c, ['push'], env);
  expect(pushedC).toMatchObject({ failed: [] });
  expect(pushedC.transferredBytes).toBe(0);

  // A part that is not in the tracked data: a usage error, nothing fetched.
  const before = cacheIds(c);
  expectCleanError(await mlvAsync(c, ['pull', 'data/train/nope.bin'], env), 2, /data\/train\/nope\.bin is not part of the tracked data/);
  expect(cacheIds(c)).toEqual(before);

  if (!opts.complete) return;
  // The rest comes with a plain pull; then everything matches.
  const r3 = await runJson(c, ['pull', '-j', '16'], env);
  expect(r3.fetch.failed).toEqual([]);
  expect(cacheIds(c)).toEqual(referencedIds(full, ['data', 'models/big.bin']));
  expect(snapshotTree(path.join(c, 'data'))).toEqual(snapshotTree(path.join(full, 'data')));
  expect((await runJson(c, ['status'])).clean).toBe(true);
}

// Everything here mostly waits for child processes and servers: run it all concurrently.
describe.concurrent('remotes end to end', () => {
  describe.concurrent('the daily loop against S3', () => {
    it('push, clone + pull, change + push, pull back; a subfolder and a single file pulled; the bucket holds exactly the objects', async () => {
      // Below a prefix, with a foreign object beside it that must survive and never be listed.
      const bucket = await s3.createBucket('daily');
      const ref = subRef(bucket, 'team/datasets');
      const outside = openBucket(s3, bucket);
      await outside.put('team/datasets-old/ab/' + 'c'.repeat(62), 'not ours');
      const view = openBucket(s3, ref);
      const proxy = await startFaultProxy(s3.endpoint); // pass-through: only to watch the requests
      const remote: RemoteUnderTest = {
        url: ref.url,
        env: s3Env(s3),
        proxyEnv: s3Env(via(s3, proxy.url)),
        objects: () => bucketObjects(view),
        read: (key) => view.get(key),
        proxy,
      };
      try {
        const { a, origin } = await dailyLoop(remote);
        // No foreign keys anywhere under the prefix: only `ab/cdef...` objects.
        for (const key of (await view.list()).map((o) => o.key)) expect(key).toMatch(/^[0-9a-f]{2}\/[0-9a-f]{62}$/);
        expect((await outside.list()).filter((o) => !o.key.startsWith('team/datasets/')).map((o) => o.key)).toEqual(['team/datasets-old/ab/' + 'c'.repeat(62)]);
        await partialPulls(remote, origin, a, { complete: false });
      } finally {
        await proxy.stop();
        view.destroy();
        outside.destroy();
      }
    }, 120_000);
  });

  describe.concurrent('the daily loop against a folder remote', () => {
    it('push, clone + pull, change + push, pull back; partial pulls, then the rest; the folder holds exactly the objects', async () => {
      const store = path.join(tempDir('mlv-folder-store-'), 'store');
      fs.mkdirSync(store);
      const remote: RemoteUnderTest = {
        url: store,
        env: {},
        objects: async () => folderObjects(store),
        read: async (key) => fs.readFileSync(path.join(store, key)),
      };
      const { a, origin } = await dailyLoop(remote);
      // Nothing but objects: no temp files left by the atomic uploads.
      for (const key of folderObjects(store).keys()) expect(key).toMatch(/^[0-9a-f]{2}\/[0-9a-f]{62}$/);
      // Objects on a folder remote are read-only, like in the cache.
      const [first] = [...folderObjects(store).keys()];
      expect(fs.statSync(path.join(store, first!)).mode & 0o222).toBe(0);
      await partialPulls(remote, origin, a, { complete: true });
    }, 120_000);

    it('a file:/// URL works the same as a path', async () => {
      const store = path.join(tempDir('mlv-folder-url-'), 'store');
      fs.mkdirSync(store);
      const a = await initRepoAsync();
      writeDataset(a, 'data', 5, 3);
      await run(a, ['add', 'data']);
      await run(a, ['remote', 'add', '--default', 'origin', `file://${store}`]);
      expect(await runJson(a, ['push'])).toMatchObject({ transferred: 5 + 3 + 1 + 3, failed: [] });
      expect([...folderObjects(store).keys()].map(idOf).sort()).toEqual(cacheIds(a));
    });
  });

  describe.concurrent('push and status --remote, more cases', () => {
    it('push of data whose cache objects are missing reports them (exit 9) and does not publish the folders above them', async () => {
      const ref = await s3.createBucket('missing');
      const view = openBucket(s3, ref);
      const proxy = await startFaultProxy(s3.endpoint);
      const env = s3Env(via(s3, proxy.url));
      try {
        const repo = await initRepoAsync();
        writeDataset(repo, 'data', 6, 4);
        write(repo, 'model.bin', pseudoRandomBytes(5000, 3));
        await run(repo, ['add', 'data', 'model.bin']);
        await run(repo, ['remote', 'add', '--default', 'origin', ref.url]);
        const nodes = treeNodes(repo, pointerIdOf(repo, 'data'));
        const lost = nodes.get('train/0002.bin')!.id;
        fs.rmSync(objectPath(repo, lost));

        const r = await mlvAsync(repo, ['push'], env);
        expect(r.code, r.stderr).toBe(9);
        expect(r.stderr).toMatch(/failed: data\/train\/0002\.bin \([0-9a-f]{12}\): not in the local cache/);
        expect(r.stderr).toMatch(/^error: 3 objects could not be pushed/m);
        expect(r.stderr).not.toMatch(/internal error|\n\s+at /);

        const keys = new Set((await view.keys()).map(idOf));
        const dataTree = pointerIdOf(repo, 'data');
        const trainTree = nodes.get('train')!.id;
        expect(keys.has(lost)).toBe(false);
        expect(keys.has(dataTree)).toBe(false);
        expect(keys.has(trainTree)).toBe(false);
        // Everything else is there: the other files, the val folder, the model.
        const expected = [...new Set([...nodes.values()].map((n) => n.id))].filter((id) => id !== lost && id !== trainTree);
        expected.push(pointerIdOf(repo, 'model.bin'));
        expect([...keys].sort()).toEqual(expected.sort());
        // A small remote: existence is answered by one listing page (before upload and for the
        // read-back), not by a HEAD per object; only the few trees are HEADed after their upload.
        await proxy.settled();
        expect(proxy.requests.filter((q) => /(^|&)list-type=2(&|$)/.test(q.query))).toHaveLength(2);
        expect(proxy.find('HEAD').length).toBeLessThan(nodes.size);

        // --json names the same failures; a second run retries only what is missing.
        const j = await runJson(repo, ['push'], env, 9);
        expect(j.failed.map((f: { path: string }) => f.path).sort()).toEqual(['data', 'data/train', 'data/train/0002.bin']);
        expect(j.failed.find((f: { path: string }) => f.path === 'data/train/0002.bin')).toMatchObject({ id: lost, reason: expect.stringMatching(/^not in the local cache/) });
        expect(j.failed.find((f: { path: string }) => f.path === 'data')).toMatchObject({ id: dataTree, reason: expect.stringMatching(/not published/) });
        expect(j.transferred).toBe(0);

        // Status --remote: the lost object is missing everywhere.
        const st = await runJson(repo, ['status', '--remote'], env);
        expect(ids(st.missingEverywhere)).toEqual([lost]);
        expect(st.inSync).toBe(false);

        // Re-adding the data restores the object; the next push completes the folder.
        fs.rmSync(path.join(repo, '.mlv/state'), { recursive: true, force: true });
        await run(repo, ['add', 'data']);
        expect(await runJson(repo, ['push'], env)).toMatchObject({ transferred: 3, failed: [] });
        expect((await view.keys()).map(idOf).sort()).toEqual(cacheIds(repo));
      } finally {
        await proxy.stop();
        view.destroy();
      }
    });

    it('pull with nothing on the remote: exit 9, the workspace and cache untouched', async () => {
      const ref = await s3.createBucket('empty');
      const a = await initRepoAsync();
      writeDataset(a, 'data', 3, 2);
      await run(a, ['add', 'data']);
      await run(a, ['remote', 'add', '--default', 'origin', ref.url]);
      commitAll(a, 'v1');
      const origin = bareRepo();
      git(a, ['push', '-q', origin, 'main']);
      const b = cloneRepo(origin);
      const state = repoState(b);
      const r = await mlvAsync(b, ['pull'], s3Env(s3));
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toMatch(/failed: data /);
      expect(repoState(b)).toEqual(state);
      const st = await runJson(b, ['status', '--remote'], s3Env(s3));
      expect(st.unreadable.map((u: { path: string }) => u.path)).toEqual(['data']);
    });

    it('credentials and endpoint from the config files (no AWS variables in the environment); a prefix with a space, non-ASCII and a trailing slash', async () => {
      const ref = await s3.createBucket('creds');
      const view = openBucket(s3, ref);
      try {
        const repo = await initRepoAsync();
        writeDataset(repo, 'data', 2, 1);
        await run(repo, ['add', 'data']);
        // A prefix with a space, a non-ASCII letter and a trailing slash.
        await run(repo, ['remote', 'add', '--default', 'origin', `${ref.url}/team data/süd/`]);
        await run(repo, ['remote', 'modify', 'origin', 'endpoint', s3.endpoint]);
        await run(repo, ['remote', 'modify', '--local', 'origin', 'access_key_id', s3.accessKeyId]);
        await run(repo, ['remote', 'modify', '--local', 'origin', 'secret_access_key', s3.secretAccessKey]);
        // No endpoint, region or credentials in the environment: all of it comes from the config files.
        const env = { AWS_CONFIG_FILE: os.devNull, AWS_SHARED_CREDENTIALS_FILE: os.devNull, AWS_EC2_METADATA_DISABLED: 'true' };
        expect(await runJson(repo, ['push'], env)).toMatchObject({ transferred: 2 + 1 + 1 + 3, failed: [] });
        const keys = await view.keys();
        expect(keys.every((k) => k.startsWith('team data/süd/')), keys.join('\n')).toBe(true);
        expect(keys.map((k) => idOf(k.slice('team data/süd/'.length))).sort()).toEqual(cacheIds(repo));
        // And back, into an empty cache.
        fs.rmSync(path.join(repo, '.mlv/cache'), { recursive: true });
        fs.rmSync(path.join(repo, 'data'), { recursive: true });
        expect((await runJson(repo, ['pull'], env)).fetch).toMatchObject({ transferred: 4, failed: [] });
        expectCacheVerified(repo);
      } finally {
        view.destroy();
      }
    });

    it('refused credentials stop the run with a clear error, not an internal error', async (ctx) => {
      if (s3.external) ctx.skip('s3rver accepts one access key id only; other servers differ');
      const ref = await s3.createBucket('badcreds');
      const view = openBucket(s3, ref);
      try {
        const repo = await initRepoAsync();
        writeDataset(repo, 'data', 2, 1);
        await run(repo, ['add', 'data']);
        await run(repo, ['remote', 'add', '--default', 'origin', ref.url]);
        const env = { ...s3Env(s3), AWS_ACCESS_KEY_ID: 'NOT-S3RVER', AWS_SECRET_ACCESS_KEY: 'wrong-secret-value' };
        for (const cmd of [['push'], ['status', '--remote']]) {
          const r = await mlvAsync(repo, cmd, env);
          expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).not.toBe(0);
          expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).not.toBe(1);
          expectCleanError(r, r.code);
          expect(r.stderr, cmd.join(' ')).toMatch(/credential|access key|denied|403/i);
          expect(r.stderr + r.stdout, cmd.join(' ')).not.toContain('wrong-secret-value');
        }
        expect(await view.keys()).toEqual([]);
      } finally {
        view.destroy();
      }
    });

    it('an endpoint nobody listens on: push and status --remote give up with a clear error, quickly, nothing changed', async () => {
      const port = await closedPort();
      const repo = await initRepoAsync();
      writeDataset(repo, 'data', 2, 1);
      await run(repo, ['add', 'data']);
      await run(repo, ['remote', 'add', '--default', 'origin', 's3://some-bucket/x']);
      const state = repoState(repo);
      const env = s3Env(via(s3, `http://127.0.0.1:${port}`));
      // (pull needs no remote here: everything is in the cache already.)
      expect((await mlvAsync(repo, ['pull'], env)).code).toBe(0);
      for (const args of [['push'], ['status', '--remote']]) {
        const t0 = Date.now();
        const r = await mlvAsync(repo, args, env);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).not.toBe(0);
        expectCleanError(r, r.code);
        expect(r.code).not.toBe(1);
        expect(r.stderr).toMatch(/refused|unreachable|could not connect|ECONNREFUSED/i);
        expect(Date.now() - t0).toBeLessThan(30_000);
      }
      expect(repoState(repo)).toEqual(state);
    });

    it('-r picks a remote; with two remotes and no default, push refuses (exit 2)', async () => {
      const one = await s3.createBucket('one');
      const store = path.join(tempDir('mlv-second-'), 'store');
      fs.mkdirSync(store);
      const repo = await initRepoAsync();
      writeDataset(repo, 'data', 2, 2);
      await run(repo, ['add', 'data']);
      await run(repo, ['remote', 'add', 'origin', one.url]);
      await run(repo, ['remote', 'add', 'backup', store]);
      const state = repoState(repo);
      expectCleanError(await mlvAsync(repo, ['push'], s3Env(s3)), 2, /no default remote/);
      expectCleanError(await mlvAsync(repo, ['push', '-r', 'nope'], s3Env(s3)), 2, /no remote named "nope"/);
      expect(repoState(repo)).toEqual(state);
      expect(await runJson(repo, ['push', '-r', 'backup'])).toMatchObject({ transferred: 2 + 2 + 1 + 3, failed: [] });
      expect(folderObjects(store).size).toBe(8);
      const view = openBucket(s3, one);
      expect(await view.keys()).toEqual([]);
      expect(await runJson(repo, ['push', '-r', 'origin', '-j', '2'], s3Env(s3))).toMatchObject({ transferred: 8, failed: [] });
      expect((await view.keys()).length).toBe(8);
      view.destroy();
      const st = await runJson(repo, ['status', '--remote', '-r', 'backup']);
      expect(st).toMatchObject({ inSync: true, remote: `backup (${store})` });
    });
  });

  describe.concurrent('mlv remote: configuration', () => {
    const read = (repo: string, file: string) => {
      const p = path.join(repo, '.mlv', file);
      return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined;
    };

    it('add, list, modify, default, remove', async () => {
      const repo = await initRepoAsync();
      expect((await run(repo, ['remote', 'list'])).stdout).toMatch(/no remotes/);
      expect(await runJson(repo, ['remote', 'add', 'origin', 's3://my-bucket/datasets/v1'])).toEqual({
        action: 'add',
        name: 'origin',
        url: 's3://my-bucket/datasets/v1',
        default: false,
        file: '.mlv/config',
      });
      await run(repo, ['remote', 'add', '--default', 'nas', '/mnt/nas/mlv-store']);
      await run(repo, ['remote', 'add', 'usb', 'file:///media/usb/store']);
      await run(repo, ['remote', 'modify', 'origin', 'endpoint', 'https://minio.example.com:9000']);
      await run(repo, ['remote', 'modify', 'origin', 'region', 'eu-west-1']);
      await run(repo, ['remote', 'modify', 'origin', 'path_style', 'true']);
      await run(repo, ['remote', 'modify', 'origin', 'checksum', 'when_required']);
      await run(repo, ['remote', 'modify', 'origin', 'jobs', '32']);
      await run(repo, ['remote', 'modify', 'origin', 'profile', 'ml-team']);
      const list = await runJson(repo, ['remote', 'list']);
      expect(list).toEqual({
        action: 'list',
        remotes: [
          { name: 'nas', url: '/mnt/nas/mlv-store', default: true, options: {} },
          {
            name: 'origin',
            url: 's3://my-bucket/datasets/v1',
            default: false,
            options: { endpoint: 'https://minio.example.com:9000', region: 'eu-west-1', path_style: 'true', checksum: 'when_required', jobs: '32', profile: 'ml-team' },
          },
          { name: 'usb', url: 'file:///media/usb/store', default: false, options: {} },
        ],
      });
      const text = (await run(repo, ['remote', 'list'])).stdout;
      expect(text).toMatch(/^nas\t\/mnt\/nas\/mlv-store\t\(default\)$/m);
      expect(text).toMatch(/^origin\ts3:\/\/my-bucket\/datasets\/v1\tendpoint=https:\/\/minio\.example\.com:9000 region=eu-west-1/m);
      expect(await runJson(repo, ['remote', 'default', 'origin'])).toEqual({ action: 'default', name: 'origin', file: '.mlv/config' });
      expect((await runJson(repo, ['config', 'core.remote'])).value).toBe('origin');
      await run(repo, ['remote', 'modify', 'origin', 'url', 's3://other-bucket']);
      await run(repo, ['remote', 'modify', 'origin', 'region', '--unset']);
      const again = await runJson(repo, ['remote', 'list']);
      expect(again.remotes.find((x: { name: string }) => x.name === 'origin')).toMatchObject({ url: 's3://other-bucket', default: true });
      expect(again.remotes.find((x: { name: string }) => x.name === 'origin').options.region).toBeUndefined();
      // The committed file is git-config style and readable.
      expect(read(repo, 'config')).toMatch(/\[remote "origin"\]\n\turl = s3:\/\/other-bucket\n/);
      expect(await runJson(repo, ['remote', 'remove', 'origin'])).toEqual({ action: 'remove', name: 'origin' });
      expect(read(repo, 'config')).not.toMatch(/origin/);
      expect((await runJson(repo, ['remote', 'list'])).remotes.map((x: { name: string }) => x.name)).toEqual(['nas', 'usb']);
      // The only remote left is the default, even without core.remote.
      await run(repo, ['remote', 'remove', 'usb']);
      await run(repo, ['remote', 'remove', 'nas']);
      await run(repo, ['remote', 'add', 'solo', '/tmp/solo']);
      expect((await runJson(repo, ['remote', 'list'])).remotes).toEqual([{ name: 'solo', url: '/tmp/solo', default: true, options: {} }]);
    });

    it('invalid names and URLs: exit 2, nothing changed, and a secret in a URL is never echoed', async () => {
      const repo = await initRepoAsync();
      await run(repo, ['remote', 'add', 'origin', 's3://bucket/x']);
      const state = repoState(repo);
      const config = read(repo, 'config');
      const local = read(repo, 'config.local');
      const badNames = ['has space', 'a/b', '_lead', 'x'.repeat(65), 'a"b]'];
      for (const name of badNames) {
        expectCleanError(await mlvAsync(repo, ['remote', 'add', name, 's3://bucket/y']), 2, /invalid remote name/);
      }
      const badUrls = [
        's3://AKIAEXAMPLE:wJalrXUtnSECRETKEY@bucket/x',
        's3://user@bucket/x',
        's3://bucket:9000/x',
        's3://bucket/x\nurl = s3://evil',
        's3://bucket/x\r',
        '/data/store\n[core]',
        's3://bucket/../x',
        's3://b/x',
        's3://Bad_Bucket!/x',
        'https://example.com/store',
        'ftp://example.com/store',
        'file://relative/path',
        '',
      ];
      for (const url of badUrls) {
        const r = await mlvAsync(repo, ['remote', 'add', 'other', url]);
        expectCleanError(r, 2, /invalid remote URL/);
        expect(r.stderr).not.toContain('wJalrXUtnSECRETKEY');
      }
      // The same through modify and config.
      expectCleanError(await mlvAsync(repo, ['remote', 'modify', 'origin', 'url', 's3://AKIAEXAMPLE:wJalrXUtnSECRETKEY@bucket/x']), 2);
      expectCleanError(await mlvAsync(repo, ['config', 'remote.origin.url', 's3://bucket/x\nevil']), 2);
      expectCleanError(await mlvAsync(repo, ['remote', 'add', 'origin', 's3://bucket/z']), 2, /already exists/);
      for (const [option, value] of [
        ['endpoint', 'ftp://minio:9000'],
        ['endpoint', 'http://user:pass@minio:9000'],
        ['region', 'EU West'],
        ['path_style', 'yes'],
        ['checksum', 'md5'],
        ['jobs', '0'],
        ['colour', 'blue'],
      ] as const) {
        expectCleanError(await mlvAsync(repo, ['remote', 'modify', 'origin', option, value]), 2);
      }
      expectCleanError(await mlvAsync(repo, ['remote', 'modify', 'nope', 'region', 'eu-west-1']), 2, /no remote named/);
      expectCleanError(await mlvAsync(repo, ['remote', 'default', 'nope']), 2, /no remote named/);
      expectCleanError(await mlvAsync(repo, ['remote', 'remove', 'nope']), 2, /no remote named/);
      expect((await mlvAsync(repo, ['push', '-j', '0'])).code).toBe(2);
      expect(read(repo, 'config')).toBe(config);
      expect(read(repo, 'config.local')).toBe(local);
      expect(repoState(repo)).toEqual(state);
    });

    it('secrets go only to config.local (--local) and are never printed', async () => {
      const repo = await initRepoAsync();
      await run(repo, ['remote', 'add', '--default', 'origin', 's3://bucket/x']);
      const config = read(repo, 'config');
      const local = read(repo, 'config.local');
      const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET';
      for (const option of ['secret_access_key', 'access_key_id', 'session_token']) {
        const r = await mlvAsync(repo, ['remote', 'modify', 'origin', option, secret]);
        expectCleanError(r, 2, new RegExp(`${option} is a secret`));
        expect(r.stderr).toMatch(/--local/);
        expect(r.stderr).not.toContain(secret);
        expectCleanError(await mlvAsync(repo, ['config', `remote.origin.${option}`, secret]), 2, /is a secret/);
      }
      expect(read(repo, 'config')).toBe(config);
      expect(read(repo, 'config.local')).toBe(local);

      const set = await run(repo, ['remote', 'modify', '--local', 'origin', 'secret_access_key', secret]);
      expect(set.stdout + set.stderr).not.toContain(secret);
      const setJson = await runJson(repo, ['remote', 'modify', '--local', 'origin', 'access_key_id', 'AKIAEXAMPLEKEYID']);
      expect(setJson).toEqual({ action: 'modify', name: 'origin', option: 'access_key_id', file: '.mlv/config.local' });
      expect(read(repo, 'config')).toBe(config);
      expect(read(repo, 'config.local')).toContain(secret);
      expect(read(repo, 'config.local')).toContain('AKIAEXAMPLEKEYID');
      // config.local stays out of Git.
      expect(git(repo, ['status', '--porcelain', '--ignored', '.mlv'])).toMatch(/^!! \.mlv\/config\.local$/m);

      for (const args of [['remote', 'list'], ['remote', 'list', '--json'], ['config', '--list'], ['config', '--list', '--json'], ['config', '--list', '--local'], ['config', 'remote.origin.secret_access_key'], ['config', 'remote.origin.secret_access_key', '--json']]) {
        const r = await run(repo, args);
        expect(r.stdout + r.stderr, args.join(' ')).not.toContain(secret);
        expect(r.stdout + r.stderr, args.join(' ')).not.toContain('AKIAEXAMPLEKEYID');
      }
      const list = await runJson(repo, ['remote', 'list']);
      expect(list.remotes[0].options).toEqual({ secret_access_key: '(set)', access_key_id: '(set)' });
      expect((await run(repo, ['config', '--list'])).stdout).toMatch(/^remote\.origin\.secret_access_key=\(set, hidden\)/m);

      // Removing the remote removes its secrets too.
      await run(repo, ['remote', 'remove', 'origin']);
      expect(read(repo, 'config.local') ?? '').not.toContain(secret);
    });

    it('a secret written by hand into the committed .mlv/config: commands refuse (exit 6) and say to move it', async () => {
      const repo = await initRepoAsync();
      writeDataset(repo, 'data', 2, 1);
      await run(repo, ['add', 'data']);
      await run(repo, ['remote', 'add', '--default', 'origin', 's3://bucket/x']);
      const secret = 'HANDWRITTENSECRETVALUE123';
      const file = path.join(repo, '.mlv/config');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('\turl = s3://bucket/x\n', `\turl = s3://bucket/x\n\tsecret_access_key = ${secret}\n`));
      expect(read(repo, 'config')).toMatch(/\[remote "origin"\]\n\turl = s3:\/\/bucket\/x\n(.*\n)*\tsecret_access_key = /);
      const state = repoState(repo);
      for (const args of [['push'], ['pull'], ['status'], ['remote', 'list'], ['config', '--list']]) {
        const r = await mlvAsync(repo, args, s3Env(s3));
        expectCleanError(r, 6, /secret_access_key is a secret and must not be in the committed config/);
        expect(r.stderr, args.join(' ')).toMatch(/^hint: .*move it to \.mlv\/config\.local/m);
        expect(r.stderr, args.join(' ')).not.toContain(secret);
      }
      expect(repoState(repo)).toEqual(state);
    });

    it('status --remote, push, pull and fetch without any remote: exit 2 with a hint to add one', async () => {
      const repo = await initRepoAsync();
      writeDataset(repo, 'data', 2, 1);
      await run(repo, ['add', 'data']);
      const state = repoState(repo);
      for (const args of [['push'], ['pull'], ['fetch'], ['status', '--remote']]) {
        const r = await mlvAsync(repo, args);
        expectCleanError(r, 2, /no remote is configured/);
        expect(r.stderr).toMatch(/^hint: .*mlv remote add/m);
      }
      expect(repoState(repo)).toEqual(state);
    });

    it('a folder remote that does not exist: push refuses with a hint to create it (exit 2)', async () => {
      const repo = await initRepoAsync();
      writeDataset(repo, 'data', 2, 1);
      await run(repo, ['add', 'data']);
      const missing = path.join(tempDir('mlv-nostore-'), 'not-there');
      await run(repo, ['remote', 'add', '--default', 'origin', missing]);
      const r = await mlvAsync(repo, ['push']);
      expectCleanError(r, 2, /does not exist/);
      expect(fs.existsSync(missing)).toBe(false);
    });
  });
});

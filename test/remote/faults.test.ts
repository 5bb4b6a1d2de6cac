/**
 * Transfers under faults: the real mlv CLI talks to s3rver through the fault-injection proxy
 * (test/helpers/fault-proxy.ts), which resets connections, answers with errors, corrupts,
 * truncates, replaces or delays bodies and strips headers. Every case checks what ends up on the
 * remote (read directly from the bucket) and in the local cache (every object re-hashed).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blake3Hex, initRepoAsync, mlvAsync, objectPath, pseudoRandomBytes, write } from '../helpers/assert.js';
import { git, tempDir } from '../helpers/cli.js';
import { fault, startFaultProxy, type FaultProxy, type RequestLog } from '../helpers/fault-proxy.js';
import { s3Env, via, type BucketView } from '../helpers/s3-server.js';
import {
  MiB,
  bareRepo,
  cacheIds,
  cacheTemps,
  cloneRepo,
  commitAll,
  expectCacheVerified,
  expectRemoteMatchesCache,
  idOf,
  once,
  pointerIdOf,
  run,
  runJson,
  relOf,
  treeNodes,
  withCase,
  writeDataset,
} from './remote-helpers.js';
import { objectUrlPath, proxiedUpload, useS3Target, type PushedSource, type UploadCase } from './s3-fixture.js';

const s3 = useS3Target();

const failedPaths = (j: { failed: Array<{ path: string }> }) => j.failed.map((f) => f.path).sort();

/** Size of the large object of the download tests: just over 10 MiB (resumable: >= 8 MiB). */
const BIG = 10 * MiB + 4321;

/**
 * The data of these tests: data/{train/5, val/3, labels.csv, blob.bin (300 kB)}: 10 files and 3
 * trees; with `big`, also big.bin (BIG bytes).
 */
async function makeRepo(big: boolean): Promise<string> {
  const repo = await initRepoAsync();
  writeDataset(repo, 'data', 5, 3);
  write(repo, 'data/blob.bin', pseudoRandomBytes(300_000, 5));
  const targets = ['data'];
  if (big) {
    write(repo, 'big.bin', pseudoRandomBytes(BIG, 6));
    targets.push('big.bin');
  }
  await run(repo, ['add', ...targets]);
  return repo;
}

interface Ids {
  /** Id of a path inside the data folder ('' for the folder itself), or of big.bin. */
  of(p: string): string;
  /** Every object referenced. */
  all: string[];
}

function idsOf(repo: string): Ids {
  const root = pointerIdOf(repo, 'data');
  const nodes = treeNodes(repo, root);
  const all = new Set([root, ...[...nodes.values()].map((n) => n.id)]);
  const big = fs.existsSync(path.join(repo, 'big.bin.mlv')) ? pointerIdOf(repo, 'big.bin') : undefined;
  if (big) all.add(big);
  return {
    of: (p) => (p === '' ? root : p === 'big.bin' ? big! : nodes.get(p)!.id),
    all: [...all].sort(),
  };
}

// ---------------------------------------------------------------------------------------------
// Uploads: each test pushes a fresh copy of one repository into a bucket of its own.

const uploadTemplate = once(() => makeRepo(false));
async function uploadRepo(): Promise<string> {
  const src = await uploadTemplate();
  const dest = path.join(tempDir('mlv-up-'), 'repo');
  fs.cpSync(src, dest, { recursive: true });
  return dest;
}

async function uploadCase(hint: string): Promise<UploadCase<Ids>> {
  const repo = await uploadRepo();
  const upload = await proxiedUpload(s3, await s3.createBucket(hint));
  await run(repo, ['remote', 'add', '--default', 'origin', upload.ref.url]);
  return { ...upload, repo, ids: idsOf(repo), env: s3Env(via(s3, upload.proxy.url)) };
}

/** The bucket holds exactly `ids`, each with the bytes of the cache object. */
async function expectBucketHolds(c: { repo: string; view: BucketView }, ids: string[]): Promise<void> {
  const keys = await c.view.keys();
  expect(keys.map(idOf).sort()).toEqual([...ids].sort());
  await expectRemoteMatchesCache(c.repo, keys, (k) => c.view.get(k));
}

/** Every tree object in the bucket has all of its entries in the bucket, with the sizes it records. */
async function expectTreesComplete(view: BucketView): Promise<void> {
  const objects = new Map((await view.list()).map((o) => [idOf(o.key), o.size]));
  for (const id of objects.keys()) {
    const text = (await view.get(relOf(id))).toString('utf8');
    if (!text.startsWith('mlv-tree 1\n')) continue;
    for (const line of text.split('\n').slice(1).filter(Boolean)) {
      const [kind, child, size] = line.split(' ');
      expect(objects.has(child!), `tree ${id} is published but its entry ${child} is not on the remote`).toBe(true);
      if (kind !== 'd') expect(objects.get(child!), `entry ${child} of tree ${id}`).toBe(Number(size));
    }
  }
}

describe.concurrent('faults during push', () => {
  it('a connection reset in the middle of an upload (the server keeping the truncated part): retried, every object right', async () => {
    await withCase(uploadCase('reset-up'), async (c) => {
      const blob = c.ids.of('blob.bin');
      c.proxy.addRule({ method: 'PUT', path: c.url(blob), times: 1, action: fault.resetRequestAfterBytes(100_000, { forwardPartial: true }) });
      const r = await run(c.repo, ['push', '-j', '4', '--json'], c.env);
      expect(JSON.parse(r.stdout)).toMatchObject({ transferred: c.ids.all.length, failed: [] });
      await c.proxy.settled();
      expect(c.puts(blob).map((r) => r.outcome)).toEqual(['reset', 'ok']);
      expect(c.puts(blob)[0]!.requestBytes).toBe(100_000);
      await expectBucketHolds(c, c.ids.all);
      expect((await c.view.list(relOf(blob)))[0]!.size).toBe(300_000);
      await expectTreesComplete(c.view);
      expectCacheVerified(c.repo);
      // A fault that a retry got over is nobody's business: nothing on stderr (no SDK chatter).
      expect(r.stderr).toBe('');
    });
  });

  it('503 SlowDown with Retry-After: retried after the requested delay', async () => {
    await withCase(uploadCase('retry-after'), async (c) => {
      const blob = c.ids.of('blob.bin');
      const stamps: number[] = [];
      // A rule that never fires, to time every PUT of that object.
      c.proxy.addRule({ name: 'clock', method: 'PUT', path: c.url(blob), when: () => (stamps.push(Date.now()), false), action: fault.delay(0) });
      c.proxy.addRule({ name: 'slowdown', method: 'PUT', path: c.url(blob), times: 1, action: fault.status(503, { retryAfterSeconds: 2 }) });
      const j = await runJson(c.repo, ['push', '-j', '4'], c.env);
      expect(j).toMatchObject({ transferred: c.ids.all.length, failed: [] });
      await c.proxy.settled();
      expect(c.puts(blob).map((r) => [r.status, r.rule])).toEqual([
        [503, 'slowdown'],
        [200, undefined],
      ]);
      expect(stamps).toHaveLength(2);
      const gap = stamps[1]! - stamps[0]!;
      expect(gap).toBeGreaterThanOrEqual(1900); // the backoff alone would be ~100-200 ms
      expect(gap).toBeLessThan(8000);
      await expectBucketHolds(c, c.ids.all);
    });
  });

  it('500 InternalError (twice) on a PUT and 429 SlowDown on the existence listing: retried, push succeeds', async () => {
    await withCase(uploadCase('http-500'), async (c) => {
      const file = c.ids.of('train/0001.bin');
      c.proxy.addRule({ method: 'PUT', path: c.url(file), times: 2, action: fault.status(500) });
      c.proxy.addRule({ method: 'GET', query: /(^|&)list-type=2(&|$)/, times: 1, action: fault.status(429) });
      const j = await runJson(c.repo, ['push', '-j', '4'], c.env);
      expect(j).toMatchObject({ transferred: c.ids.all.length, failed: [] });
      await c.proxy.settled();
      expect(c.puts(file).map((r) => r.status)).toEqual([500, 500, 200]);
      const listings = c.proxy.requests.filter((r) => r.method === 'GET' && /(^|&)list-type=2(&|$)/.test(r.query));
      expect(listings.map((r) => r.status).slice(0, 2)).toEqual([429, 200]);
      await expectBucketHolds(c, c.ids.all);
    });
  });

  it('403 on one object\'s PUT every time: tried once, exit 9 naming it, the folders above it not published, the rest uploaded', async () => {
    await withCase(uploadCase('forbidden-put'), async (c) => {
      const denied = c.ids.of('val/0001.bin');
      c.proxy.addRule({ name: 'deny', method: 'PUT', path: c.url(denied), action: fault.status(403) });
      const r = await mlvAsync(c.repo, ['push', '-j', '4'], c.env);
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toMatch(new RegExp(`^failed: data/val/0001\\.bin \\(${denied.slice(0, 12)}\\): .*403`, 'm'));
      expect(r.stderr).toMatch(/^error: 3 objects could not be pushed/m);
      expect(r.stderr).not.toMatch(/internal error/);
      await c.proxy.settled();
      expect(c.puts(denied)).toHaveLength(1);
      // Not published: the object, data/val and data. Everything else is there and right.
      const unpublished = [denied, c.ids.of('val'), c.ids.of('')];
      await expectBucketHolds(c, c.ids.all.filter((id) => !unpublished.includes(id)));
      await expectTreesComplete(c.view);

      // --json says the same; once the server lets it in, the next push completes the folder.
      const j = await runJson(c.repo, ['push', '-j', '4'], c.env, 9);
      expect(failedPaths(j)).toEqual(['data', 'data/val', 'data/val/0001.bin']);
      c.proxy.clearRules();
      expect(await runJson(c.repo, ['push'], c.env)).toMatchObject({ transferred: 3, failed: [] });
      await expectBucketHolds(c, c.ids.all);
      // Only mlv's own lines on stderr: the failures and the summary (no SDK chatter).
      for (const line of r.stderr.split('\n').filter(Boolean)) expect(line).toMatch(/^(failed|error|hint): /);
    });
  });

  it('a truncated leftover under an object\'s key (an earlier interrupted upload): the size check sees it, the object is uploaded again', async () => {
    await withCase(uploadCase('leftover'), async (c) => {
      const blob = c.ids.of('blob.bin');
      const full = fs.readFileSync(objectPath(c.repo, blob));
      await c.view.put(relOf(blob), full.subarray(0, 1000));
      const before = await runJson(c.repo, ['status', '--remote'], c.env);
      // A copy of the wrong size does not count as being on the remote.
      expect(before.notOnRemote.map((e: { id: string }) => e.id)).toContain(blob);
      const j = await runJson(c.repo, ['push', '-j', '4'], c.env);
      expect(j).toMatchObject({ transferred: c.ids.all.length, skipped: 0, failed: [] });
      await c.proxy.settled();
      expect(c.puts(blob)).toHaveLength(1);
      await expectBucketHolds(c, c.ids.all);
    });
  });

  it('a slow server (every request delayed): push still succeeds', async () => {
    await withCase(uploadCase('slow-up'), async (c) => {
      c.proxy.addRule({ action: fault.delay(400) });
      const t0 = Date.now();
      expect(await runJson(c.repo, ['push', '-j', '8'], c.env)).toMatchObject({ transferred: c.ids.all.length, failed: [] });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
      await expectBucketHolds(c, c.ids.all);
    });
  });

  it('a server that ignores conditional writes (If-None-Match stripped): pushes stay correct, also two at once', async () => {
    await withCase(uploadCase('no-conditional'), async (c) => {
      c.proxy.addRule({ method: 'PUT', action: fault.stripRequestHeader('if-none-match') });
      const twin = path.join(tempDir('mlv-twin-'), 'repo');
      const third = path.join(tempDir('mlv-third-'), 'repo');
      fs.cpSync(c.repo, twin, { recursive: true });
      fs.cpSync(c.repo, third, { recursive: true });
      // Two pushes of the same objects at the same time. s3rver overwrites in place (an object
      // being rewritten is briefly short or absent), so a push may see its own upload vanish and
      // report it (exit 9); what must never happen is a published tree without its objects.
      const both = await Promise.all([mlvAsync(c.repo, ['push', '-j', '4', '--json'], c.env), mlvAsync(twin, ['push', '-j', '4', '--json'], c.env)]);
      for (const r of both) {
        expect([0, 9], r.stderr).toContain(r.code);
        for (const f of JSON.parse(r.stdout).failed) expect(f.reason).toMatch(/after upload|instead of|not published/);
      }
      await expectTreesComplete(c.view);
      // A third push completes whatever a race left out; then everything is there and right.
      expect(await runJson(third, ['push', '-j', '4'], c.env)).toMatchObject({ failed: [] });
      await expectBucketHolds(c, c.ids.all);
      await expectTreesComplete(c.view);
      expect(await runJson(c.repo, ['status', '--remote'], c.env)).toMatchObject({ inSync: true });
    });
  });

  it('a server that stores something else than the bytes sent (aws-chunked framing with checksum=auto): caught by the read-back, no tree published, exit 9', async (ctx) => {
    if (s3.external) ctx.skip('this is how s3rver behaves; real S3 and MinIO decode the framing');
    await withCase(uploadCase('chunked'), async (c) => {
      await run(c.repo, ['remote', 'modify', 'origin', 'checksum', 'auto']);
      const r = await mlvAsync(c.repo, ['push', '-j', '4'], c.env);
      expect(r.code, r.stderr).toBe(9);
      // Small files are sent from memory with a known length (no aws-chunked framing even then);
      // the trees are streamed from their files, and those come back the wrong size.
      expect(r.stderr).toMatch(/the remote stored \d+ bytes (instead of \d+|for tree)/);
      expect(r.stderr).not.toMatch(/internal error/);
      // Every upload came back the wrong size (re-uploading once did not help): no tree object was
      // published, so nothing on the remote claims a folder whose files are not there.
      await expectTreesComplete(c.view);
      expect(await c.view.exists(relOf(c.ids.of('')))).toBe(false);
      // With the default (when_required) for a custom endpoint, the same push works.
      await run(c.repo, ['remote', 'modify', 'origin', 'checksum', '--unset']);
      expect(await runJson(c.repo, ['push', '-j', '4'], c.env)).toMatchObject({ failed: [] });
      await expectBucketHolds(c, c.ids.all);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Downloads: one repository pushed once (directly); each test pulls into a fresh clone through a
// proxy of its own.

type Source = PushedSource<Ids>;

const downloadSource = once(async (): Promise<Source> => {
  const a = await makeRepo(true);
  const ref = await s3.createBucket('downloads');
  await run(a, ['remote', 'add', '--default', 'origin', ref.url]);
  commitAll(a, 'data');
  const origin = bareRepo();
  git(a, ['push', '-q', origin, 'main']);
  await runJson(a, ['push', '-j', '8'], s3Env(s3));
  return { a, origin, ref, ids: idsOf(a) };
});

interface DownloadCase extends Source {
  b: string;
  proxy: FaultProxy;
  env: Record<string, string>;
  url: (id: string) => string;
  gets: (id: string) => RequestLog[];
  stop(): Promise<void>;
}

async function downloadCase(): Promise<DownloadCase> {
  const src = await downloadSource();
  const b = cloneRepo(src.origin);
  const proxy = await startFaultProxy(s3.endpoint);
  return {
    ...src,
    b,
    proxy,
    env: s3Env(via(s3, proxy.url)),
    url: (id) => objectUrlPath(src.ref, id),
    gets: (id) => proxy.find('GET', objectUrlPath(src.ref, id)),
    stop: () => proxy.stop(),
  };
}

/** After a successful pull: B has every object, verified, and the same files as A. */
function expectComplete(c: DownloadCase): void {
  expect(cacheIds(c.b)).toEqual(c.ids.all);
  expectCacheVerified(c.b);
  expect(cacheTemps(c.b)).toEqual([]);
  expect(fs.readFileSync(path.join(c.b, 'big.bin')).equals(fs.readFileSync(path.join(c.a, 'big.bin')))).toBe(true);
  for (const rel of ['data/blob.bin', 'data/train/0001.bin', 'data/val/0002.bin', 'data/labels.csv']) {
    expect(fs.readFileSync(path.join(c.b, rel)).equals(fs.readFileSync(path.join(c.a, rel))), rel).toBe(true);
  }
}

const rangeStart = (r: RequestLog) => {
  const m = /^bytes=(\d+)-$/.exec(String(r.headers.range ?? ''));
  return m ? Number(m[1]) : undefined;
};

describe.concurrent('faults during pull', () => {
  it('a connection reset in the middle of a large download: the retry resumes with a Range request', async () => {
    await withCase(downloadCase(), async (c) => {
      const big = c.ids.of('big.bin');
      c.proxy.addRule({ method: 'GET', path: c.url(big), times: 1, action: fault.resetResponseAfterBytes(3 * MiB) });
      const r = await run(c.b, ['pull', '--json'], c.env);
      expect(r.stderr).toBe(''); // the retry got over it: nothing to tell
      const j = JSON.parse(r.stdout);
      expect(j.fetch).toMatchObject({ transferred: c.ids.all.length - 3, failed: [] });
      await c.proxy.settled();
      const gets = c.gets(big);
      expect(gets.length).toBeGreaterThanOrEqual(2);
      expect(gets[0]!.headers.range).toBeUndefined();
      expect(gets[0]!.outcome).toBe('reset');
      const last = gets.at(-1)!;
      const start = rangeStart(last);
      expect(start, `range header: ${last.headers.range}`).toBeGreaterThan(0);
      expect(start).toBeLessThanOrEqual(3 * MiB);
      expect(last.status).toBe(206);
      expect(last.responseBytes).toBe(BIG - start!);
      // Only the missing part was downloaded again.
      const smallBytes = [...treeNodes(c.a, c.ids.of('')).values()].filter((n) => n.kind === 'file').reduce((s, n) => s + n.size, 0);
      expect(j.fetch.transferredBytes).toBe(smallBytes + BIG - start!);
      expectComplete(c);
    });
  });

  it('resets on every attempt: each attempt resumes further; a download that still fails keeps its partial file, and the next pull finishes it', async () => {
    await withCase(downloadCase(), async (c) => {
      const big = c.ids.of('big.bin');
      c.proxy.addRule({ name: 'cut', method: 'GET', path: c.url(big), action: fault.resetResponseAfterBytes(2 * MiB) });
      const r = await mlvAsync(c.b, ['pull'], c.env);
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toMatch(new RegExp(`^failed: big\\.bin \\(${big.slice(0, 12)}\\)`, 'm'));
      await c.proxy.settled();
      const starts = c.gets(big).map((g) => rangeStart(g) ?? 0);
      expect(starts.length).toBeGreaterThanOrEqual(3);
      // (A reset may also discard bytes the client had not read yet, so an attempt can gain little.)
      for (let i = 1; i < starts.length; i++) expect(starts[i]!).toBeGreaterThanOrEqual(starts[i - 1]!);
      expect(starts.at(-1)!).toBeGreaterThan(2 * MiB);
      expect(cacheIds(c.b)).not.toContain(big);
      expect(cacheTemps(c.b)).toEqual([`partial-${big}`]);
      const partial = fs.statSync(path.join(c.b, '.mlv/cache/tmp', `partial-${big}`)).size;
      expect(partial).toBeGreaterThanOrEqual(starts.at(-1)!);
      expect(partial).toBeLessThan(BIG);
      // What is kept is the true beginning of the object.
      expect(fs.readFileSync(path.join(c.b, '.mlv/cache/tmp', `partial-${big}`)).equals(fs.readFileSync(path.join(c.a, 'big.bin')).subarray(0, partial))).toBe(true);
      expect(fs.existsSync(path.join(c.b, 'big.bin'))).toBe(false);
      expectCacheVerified(c.b);

      c.proxy.clearRules();
      c.proxy.clearLog();
      const j = await runJson(c.b, ['pull'], c.env);
      expect(j.fetch).toMatchObject({ transferred: 1, transferredBytes: BIG - partial, failed: [] });
      await c.proxy.settled();
      // Resumed where the partial file ends (every request, should one need repeating).
      expect(c.gets(big).length).toBeGreaterThanOrEqual(1);
      for (const g of c.gets(big)) expect(g.headers.range).toBe(`bytes=${partial}-`);
      expect(c.gets(big).at(-1)).toMatchObject({ status: 206, responseBytes: BIG - partial });
      expectComplete(c);
    });
  });

  it('a partial file whose bytes are wrong (left by an earlier run): the finished download does not verify, it starts over, right bytes', async () => {
    await withCase(downloadCase(), async (c) => {
      const big = c.ids.of('big.bin');
      const partial = path.join(c.b, '.mlv/cache/tmp', `partial-${big}`);
      fs.mkdirSync(path.dirname(partial), { recursive: true });
      fs.writeFileSync(partial, Buffer.alloc(MiB, 0x55));
      const j = await runJson(c.b, ['pull'], c.env);
      expect(j.fetch).toMatchObject({ failed: [] });
      await c.proxy.settled();
      expect(c.gets(big).map((g) => g.headers.range)).toEqual([`bytes=${MiB}-`, undefined]);
      expectComplete(c);
    });
  });

  it('a server that ignores Range (answers 200 with the whole object) while a partial file exists: the object still arrives, the others too', async () => {
    await withCase(downloadCase(), async (c) => {
      const big = c.ids.of('big.bin');
      const partial = path.join(c.b, '.mlv/cache/tmp', `partial-${big}`);
      fs.mkdirSync(path.dirname(partial), { recursive: true });
      fs.writeFileSync(partial, fs.readFileSync(path.join(c.a, 'big.bin')).subarray(0, 3 * MiB));
      c.proxy.addRule({ method: 'GET', action: fault.stripRequestHeader('range') });
      const r = await mlvAsync(c.b, ['pull'], c.env);
      // Whatever happens to the large object, the other objects are not abandoned.
      expect(cacheIds(c.b)).toContain(c.ids.of('blob.bin'));
      expect(r.code, r.stderr).toBe(0);
      expectComplete(c);
    });
  });

  it('disk full while downloading: not retried, the run stops with a clear error (exit 8), nothing half-written published', async (ctx) => {
    const c = await downloadCase();
    const cacheDir = path.join(c.b, '.mlv', 'cache');
    fs.mkdirSync(cacheDir, { recursive: true });
    // A 2 MiB file system for the cache: the small objects fit, the 10 MiB one does not.
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', cacheDir], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      await c.proxy.stop();
      ctx.skip(`cannot mount a small tmpfs here (needs root): ${mounted.stderr.trim()}`);
      return;
    }
    try {
      const big = c.ids.of('big.bin');
      const r = await mlvAsync(c.b, ['pull'], c.env);
      expect(r.code, r.stderr).toBe(8);
      expect(r.stderr).toMatch(/^error: no space left on device/m);
      expect(r.stderr).not.toMatch(/internal error/);
      await c.proxy.settled();
      // Disk full is not retried (a retried failure would be tried 5 times). On a loaded machine the
      // first GET can still be dropped in transit before the disk fills, which is retried once.
      const gets = c.gets(big);
      expect(gets.length).toBeGreaterThanOrEqual(1);
      expect(gets.length).toBeLessThanOrEqual(2);
      expect(cacheIds(c.b)).not.toContain(big);
      expectCacheVerified(c.b);
      expect(fs.existsSync(path.join(c.b, 'big.bin'))).toBe(false);
    } finally {
      await c.proxy.stop();
      spawnSync('umount', [cacheDir]);
    }
  });

  it('404 and 403 on GET: not retried, exit 9 naming both, nothing of them kept in the cache', async () => {
    await withCase(downloadCase(), async (c) => {
      const gone = c.ids.of('train/0003.bin');
      const denied = c.ids.of('blob.bin');
      c.proxy.addRule({ method: 'GET', path: c.url(gone), action: fault.status(404) });
      c.proxy.addRule({ method: 'GET', path: c.url(denied), action: fault.status(403) });
      const r = await mlvAsync(c.b, ['pull'], c.env);
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toMatch(new RegExp(`^failed: data/train/0003\\.bin \\(${gone.slice(0, 12)}\\): .*not on the remote`, 'm'));
      expect(r.stderr).toMatch(new RegExp(`^failed: data/blob\\.bin \\(${denied.slice(0, 12)}\\): .*403`, 'm'));
      expect(r.stderr).not.toMatch(/internal error/);
      await c.proxy.settled();
      expect(c.gets(gone)).toHaveLength(1);
      expect(c.gets(denied)).toHaveLength(1);
      // Everything else arrived; the two objects and the folders above them are not in the cache.
      const absent = [gone, denied, c.ids.of('train'), c.ids.of('')];
      expect(cacheIds(c.b)).toEqual(c.ids.all.filter((id) => !absent.includes(id)));
      expect(cacheTemps(c.b)).toEqual([]);
      expectCacheVerified(c.b);
      expect(fs.existsSync(path.join(c.b, 'data/train/0003.bin'))).toBe(false);
      expect(fs.existsSync(path.join(c.b, 'data/blob.bin'))).toBe(false);
      // The status of the remote still says they are there (nothing was deleted or cached).
      c.proxy.clearRules();
      expect(await runJson(c.b, ['pull'], c.env)).toMatchObject({ fetch: { transferred: 2, failed: [] } });
      expectComplete(c);
    });
  });

  it('a bit flipped in transit once (a small and a large object): detected by the hash, retried, right bytes', async () => {
    await withCase(downloadCase(), async (c) => {
      const small = c.ids.of('blob.bin');
      const big = c.ids.of('big.bin');
      c.proxy.addRule({ method: 'GET', path: c.url(small), times: 1, action: fault.corruptResponse(12_345) });
      c.proxy.addRule({ method: 'GET', path: c.url(big), times: 1, action: fault.corruptResponse(9 * MiB) });
      const r = await run(c.b, ['pull', '--json'], c.env);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout).fetch).toMatchObject({ failed: [] });
      await c.proxy.settled();
      expect(c.gets(small)).toHaveLength(2);
      // The damaged large download is not resumed: it starts again from the first byte.
      expect(c.gets(big).map((g) => g.headers.range)).toEqual([undefined, undefined]);
      expectComplete(c);
    });
  });

  it('a bit flipped every time: exit 9 with an error naming the object and the remote; no corrupt object kept', async () => {
    await withCase(downloadCase(), async (c) => {
      const bad = c.ids.of('val/0001.bin');
      c.proxy.addRule({ method: 'GET', path: c.url(bad), action: fault.corruptResponse(10) });
      const r = await mlvAsync(c.b, ['pull'], c.env);
      expect(r.code, r.stderr).toBe(9);
      const line = r.stderr.split('\n').find((l) => l.startsWith('failed: data/val/0001.bin'));
      expect(line, r.stderr).toBeDefined();
      expect(line).toContain(bad);
      expect(line).toContain(`s3://${c.ref.bucket}`);
      expect(line).toMatch(/corrupt/);
      await c.proxy.settled();
      expect(c.gets(bad).length).toBeGreaterThanOrEqual(2); // retried before giving up
      expect(cacheIds(c.b)).not.toContain(bad);
      expect(cacheIds(c.b)).not.toContain(c.ids.of('val'));
      expect(cacheIds(c.b)).not.toContain(c.ids.of(''));
      expectCacheVerified(c.b);
      expect(cacheTemps(c.b)).toEqual([]);
      expect(fs.existsSync(path.join(c.b, 'data/val/0001.bin'))).toBe(false);
    });
  });

  it('wrong content under the right key: refused, exit 9, nothing kept; other objects arrive', async () => {
    await withCase(downloadCase(), async (c) => {
      const victim = c.ids.of('train/0002.bin');
      // Another real object's bytes (valid content, wrong id), and garbage of the right length.
      const other = fs.readFileSync(path.join(c.a, 'data/train/0004.bin'));
      const victimSize = fs.statSync(path.join(c.a, 'data/train/0002.bin')).size;
      c.proxy.addRule({ method: 'GET', path: c.url(victim), times: 2, action: fault.replaceResponseBody(other) });
      c.proxy.addRule({ method: 'GET', path: c.url(victim), action: fault.replaceResponseBody(Buffer.alloc(victimSize, 0x55)) });
      const r = await mlvAsync(c.b, ['pull'], c.env);
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toMatch(new RegExp(`^failed: data/train/0002\\.bin \\(${victim.slice(0, 12)}\\): .*(corrupt|bytes)`, 'm'));
      expect(cacheIds(c.b)).not.toContain(victim);
      expect(cacheIds(c.b)).toContain(blake3Hex(other)); // fetched under its own name, as itself
      expectCacheVerified(c.b);
      expect(cacheTemps(c.b)).toEqual([]);
      expect(fs.existsSync(path.join(c.b, 'data/train/0002.bin'))).toBe(false);
      expect(fs.readFileSync(path.join(c.b, 'data/train/0004.bin')).equals(other)).toBe(true);
    });
  });

  it('a tree object served damaged once (bit flip) is retried like any other object', async () => {
    await withCase(downloadCase(), async (c) => {
      const tree = c.ids.of('val');
      c.proxy.addRule({ method: 'GET', path: c.url(tree), times: 1, action: fault.corruptResponse(20) });
      const r = await mlvAsync(c.b, ['pull'], c.env);
      expect(r.code, r.stderr).toBe(0);
      await c.proxy.settled();
      expect(c.gets(tree)).toHaveLength(2);
      expectComplete(c);
    });
  });

  it('a wrong tree object (persistently): exit 9 naming the folder, nothing below it fetched or cached', async () => {
    await withCase(downloadCase(), async (c) => {
      const tree = c.ids.of('train');
      const fake = Buffer.from(`mlv-tree 1\nf ${'0'.repeat(64)} 1 "evil.bin"\n`);
      c.proxy.addRule({ method: 'GET', path: c.url(tree), action: fault.replaceResponseBody(fake) });
      const r = await mlvAsync(c.b, ['pull'], c.env);
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toMatch(/^failed: data\/train \(/m);
      const below = [...treeNodes(c.a, c.ids.of('')).entries()].filter(([p]) => p === 'train' || p.startsWith('train/')).map(([, n]) => n.id);
      for (const id of [...below, c.ids.of('')]) expect(cacheIds(c.b)).not.toContain(id);
      expect(fs.existsSync(path.join(c.b, 'data/train/evil.bin'))).toBe(false);
      expect(c.gets('0'.repeat(64))).toHaveLength(0);
      expectCacheVerified(c.b);
    });
  });

  it('a clean truncation (a well-formed short reply) once, small and large: retried, right bytes; persistent: exit 9, nothing kept', async () => {
    await withCase(downloadCase(), async (c) => {
      const small = c.ids.of('blob.bin');
      const big = c.ids.of('big.bin');
      const always = c.ids.of('labels.csv');
      c.proxy.addRule({ method: 'GET', path: c.url(small), times: 1, action: fault.truncateResponseClean(1000) });
      c.proxy.addRule({ method: 'GET', path: c.url(big), times: 1, action: fault.truncateResponseClean(4 * MiB) });
      c.proxy.addRule({ method: 'GET', path: c.url(always), action: fault.truncateResponseClean(5) });
      const r = await mlvAsync(c.b, ['pull'], c.env);
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toMatch(new RegExp(`^failed: data/labels\\.csv \\(${always.slice(0, 12)}\\)`, 'm'));
      expect(r.stderr.match(/^failed: /gm)).toHaveLength(1);
      await c.proxy.settled();
      expect(c.gets(small)).toHaveLength(2);
      expect(c.gets(big)).toHaveLength(2);
      expect(cacheIds(c.b)).toContain(small);
      expect(cacheIds(c.b)).toContain(big);
      expect(cacheIds(c.b)).not.toContain(always);
      expect(cacheTemps(c.b)).toEqual([]);
      expectCacheVerified(c.b);
      expect(fs.readFileSync(path.join(c.b, 'big.bin')).equals(fs.readFileSync(path.join(c.a, 'big.bin')))).toBe(true);
      c.proxy.clearRules();
      expect(await runJson(c.b, ['pull'], c.env)).toMatchObject({ fetch: { transferred: 1, failed: [] } });
      expectComplete(c);
    });
  });

  it('a slow server (a large and a small download delayed 1.5 s): pull still succeeds', async () => {
    await withCase(downloadCase(), async (c) => {
      c.proxy.addRule({ method: 'GET', path: c.url(c.ids.of('big.bin')), action: fault.delay(1500) });
      c.proxy.addRule({ method: 'GET', path: c.url(c.ids.of('')), action: fault.delay(1500) });
      const t0 = Date.now();
      expect(await runJson(c.b, ['pull'], c.env)).toMatchObject({ fetch: { failed: [] }, checkout: { missing: [], corrupt: [] } });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
      expectComplete(c);
    });
  });

  it('a 503 with Retry-After on a download: retried, succeeds', async () => {
    await withCase(downloadCase(), async (c) => {
      const small = c.ids.of('val/0000.bin');
      c.proxy.addRule({ method: 'GET', path: c.url(small), times: 1, action: fault.status(503, { retryAfterSeconds: 1 }) });
      c.proxy.addRule({ method: 'GET', path: c.url(c.ids.of('big.bin')), times: 1, action: fault.status(500) });
      expect(await runJson(c.b, ['pull'], c.env)).toMatchObject({ fetch: { failed: [] } });
      await c.proxy.settled();
      expect(c.gets(small).map((g) => g.status)).toEqual([503, 200]);
      expect(c.gets(c.ids.of('big.bin')).map((g) => g.status)).toEqual([500, 200]);
      expectComplete(c);
    });
  });
});

// The object paths used above exist in the data set (a guard against a silent typo).
it('the data set of these tests has the objects the cases name', async () => {
  const src = await downloadSource();
  for (const p of ['', 'val', 'train', 'blob.bin', 'labels.csv', 'train/0001.bin', 'train/0002.bin', 'train/0003.bin', 'train/0004.bin', 'val/0000.bin', 'val/0001.bin', 'val/0002.bin', 'big.bin']) {
    expect(src.ids.of(p), p).toMatch(/^[0-9a-f]{64}$/);
  }
  expect(src.ids.all).toHaveLength(10 + 3 + 1);
  expect(fs.statSync(objectPath(src.a, src.ids.of('big.bin'))).size).toBe(BIG);
});

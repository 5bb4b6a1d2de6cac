/**
 * The read-only history commands (docs/history.md) with an S3 data remote (s3rver, or the server
 * named by MLV_TEST_S3_ENDPOINT): the same history as test/cli/history.test.ts, pushed to one
 * bucket; `get`, `ls`, `diff` and `export` in fresh clones whose cache is empty, so every object
 * comes from S3 (and from an http:// Git URL for `get --repo`).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blake3Hex, mlvAsync } from '../helpers/assert.js';
import { cacheObjects, git, tempDir, type RunResult } from '../helpers/cli.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/git-http.js';
import { V1_TO_V2, buildHistory, cloneState, expectTreeEquals, expectedOf, mlvRaw, readTar, type History, type Version } from '../helpers/history.js';
import { openBucket, s3Env } from '../helpers/s3-server.js';
import { useS3Target } from './s3-fixture.js';

const s3 = useS3Target();
let h: History;
let server: GitHttpServer;
let remoteKeys: string[];

beforeAll(async () => {
  const ref = await s3.createBucket('history');
  h = await buildHistory({ url: ref.url, env: s3Env(s3) });
  server = await startGitHttpServer(h.originRoot);
  const view = openBucket(s3, ref);
  remoteKeys = await view.keys();
  view.destroy();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const v = (name: 'v1' | 'v2' | 'v3' | 'experiment'): Version => h.versions[name];
const cmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

async function ok(cwd: string, args: string[]): Promise<RunResult> {
  const r = await mlvAsync(cwd, args, h.env);
  expect(r.code, `mlv ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r;
}

async function okJson<T = any>(cwd: string, args: string[]): Promise<T> {
  const r = await ok(cwd, [args[0]!, '--json', ...args.slice(1)]);
  return JSON.parse(r.stdout) as T;
}

describe.concurrent('history commands with an S3 remote', () => {
  it('every version was pushed to the bucket', () => {
    const ids = new Set(remoteKeys.map((k) => k.replace('/', '')));
    for (const ver of Object.values(h.versions)) {
      for (const [p, s] of ver.files) expect(ids.has(blake3Hex(s.bytes)), `${ver.name} ${p}`).toBe(true);
      for (const [d, id] of ver.trees) expect(ids.has(id), `${ver.name} tree ${d}`).toBe(true);
    }
  });

  it('get --rev v1 (and HEAD~2, a file, a subfolder) in a fresh clone with an empty cache gives v1 bit for bit', async () => {
    const clone = await h.clone();
    expect(cacheObjects(clone)).toEqual([]);
    const before = cloneState(clone);
    const out = tempDir();
    const r = await okJson(clone, ['get', '--rev', 'v1', 'data', '-o', path.join(out, 'v1')]);
    expect(r).toMatchObject({ commit: v('v1').commit, fromCache: 0 });
    expect(r.fetched).toBeGreaterThan(0);
    expectTreeEquals(path.join(out, 'v1'), expectedOf(v('v1'), 'data'), 'get --rev v1 data');
    await ok(clone, ['get', '--rev', 'HEAD~2', 'data/sub', '-o', path.join(out, 'sub')]);
    expectTreeEquals(path.join(out, 'sub'), expectedOf(v('v1'), 'data/sub'), 'get --rev HEAD~2 data/sub');
    await ok(clone, ['get', '--rev', v('v1').commit.slice(0, 10), V1_TO_V2.renamedFrom, '-o', path.join(out, 'old.bin')]);
    expect(fs.readFileSync(path.join(out, 'old.bin')).equals(v('v1').files.get(V1_TO_V2.renamedFrom)!.bytes)).toBe(true);
    await ok(clone, ['get', '--rev', 'v1', 'models/model.bin', '-o', path.join(out, 'model.bin')]);
    expect(fs.readFileSync(path.join(out, 'model.bin')).equals(v('v1').files.get('models/model.bin')!.bytes)).toBe(true);
    expect(cloneState(clone)).toEqual(before);
  });

  it('ls --rev v1 -R lists v1 (cached false); after mlv fetch, v3 is cached', async () => {
    const clone = await h.clone();
    const before = cloneState(clone);
    const ls = await okJson(clone, ['ls', '--rev', 'v1', 'data', '-R']);
    const files = (ls.entries as Array<{ path: string; kind: string; id: string; size: number; executable?: boolean; cached: boolean }>).filter((e) => e.kind === 'file');
    expect(files.map((e) => [e.path, e.id, e.size, e.executable === true]).sort((a, b) => cmp(a[0] as string, b[0] as string))).toEqual(
      [...v('v1').files].filter(([p]) => p.startsWith('data/')).map(([p, s]) => [p, blake3Hex(s.bytes), s.bytes.length, s.exec]).sort((a, b) => cmp(a[0] as string, b[0] as string)),
    );
    for (const e of ls.entries) expect(e.cached, e.path).toBe(false);
    expect(cloneState(clone)).toEqual(before);
    await ok(clone, ['fetch']);
    const after = await okJson(clone, ['ls', '--rev', 'v3', '-R']);
    expect(after.entries.filter((e: { kind: string }) => e.kind === 'file')).toHaveLength(v('v3').files.size);
    for (const e of after.entries) expect(e.cached, e.path).toBe(true);
  });

  it('diff v1 v2 --json reads both versions from the bucket', async () => {
    const clone = await h.clone();
    const d = await okJson(clone, ['diff', 'v1', 'HEAD~1']);
    expect(d.a.commit).toBe(v('v1').commit);
    expect(d.b.commit).toBe(v('v2').commit);
    expect(d.counts).toEqual({ added: 1, deleted: 1, modified: 3, renamed: 1 });
    expect(d.added.map((x: { path: string }) => x.path)).toEqual([V1_TO_V2.added]);
    expect(d.deleted.map((x: { path: string }) => x.path)).toEqual([V1_TO_V2.deleted]);
    expect(d.renamed).toEqual([{ from: V1_TO_V2.renamedFrom, to: V1_TO_V2.renamedTo, id: blake3Hex(v('v1').files.get(V1_TO_V2.renamedFrom)!.bytes), size: 777 }]);
    expect(d.modified.map((x: { path: string }) => x.path).sort(cmp)).toEqual([V1_TO_V2.modified, V1_TO_V2.execChanged, V1_TO_V2.model].sort(cmp));
  });

  it('export --rev v1 is byte-identical from two clones and to stdout, and holds exactly v1', async () => {
    const [a, b] = await Promise.all([h.clone(), h.clone()]);
    const dir = tempDir();
    await Promise.all([
      ok(a, ['export', '--rev', 'v1', 'data', 'models', '-o', path.join(dir, 'a.tar')]),
      ok(b, ['export', '--rev', 'v1', 'data', 'models', '-o', path.join(dir, 'b.tar')]),
    ]);
    const archive = fs.readFileSync(path.join(dir, 'a.tar'));
    expect(fs.readFileSync(path.join(dir, 'b.tar')).equals(archive)).toBe(true);
    const piped = await mlvRaw(b, ['export', '--rev', 'v1', 'data', 'models', '-o', '-'], h.env);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.equals(archive)).toBe(true);
    const entries = await readTar(archive);
    expect(entries[0]!.name).toBe('.mlv-export.json');
    expect(JSON.parse(entries[0]!.data.toString('utf8'))).toMatchObject({ format: 'mlv-export 1', commit: v('v1').commit, paths: ['data', 'models'] });
    const x = path.join(dir, 'x');
    fs.mkdirSync(x);
    const t = spawnSync('tar', ['-xf', path.join(dir, 'a.tar'), '-C', x], { encoding: 'utf8' });
    expect(t.status, t.stderr).toBe(0);
    expectTreeEquals(path.join(x, 'data'), expectedOf(v('v1'), 'data'), 'extracted data');
    expectTreeEquals(path.join(x, 'models'), expectedOf(v('v1'), 'models'), 'extracted models');
  });

  it('get --repo with an http:// Git URL and with a local clone whose cache is empty (objects from S3)', async () => {
    const cwd = tempDir();
    const url = `${server.url}/origin.git`;
    for (const [rev, ver] of [
      ['v1', v('v1')],
      ['HEAD~1', v('v2')],
      ['v3', v('v3')],
    ] as const) {
      const dest = path.join(cwd, `http-${rev.replace(/\W/g, '_')}`);
      const r = await okJson(cwd, ['get', '--repo', url, '--rev', rev, 'data', '-o', dest]);
      expect(r.commit, rev).toBe(ver.commit);
      expectTreeEquals(dest, expectedOf(ver, 'data'), `get --repo ${url} --rev ${rev}`);
    }
    const clone = await h.clone();
    const before = cloneState(clone);
    await ok(cwd, ['get', '--repo', clone, '--rev', 'v1', 'data', '-o', path.join(cwd, 'local')]);
    expectTreeEquals(path.join(cwd, 'local'), expectedOf(v('v1'), 'data'), 'get --repo <clone>');
    expect(cacheObjects(clone)).toEqual([]);
    expect(cloneState(clone)).toEqual(before);
  });

  it('mlv pull in a fresh clone checked out at v1 restores v1', async () => {
    const clone = await h.clone();
    git(clone, ['checkout', '-q', 'v1']);
    await ok(clone, ['pull']);
    expectTreeEquals(path.join(clone, 'data'), expectedOf(v('v1'), 'data'), 'pulled v1');
    expect(fs.readFileSync(path.join(clone, 'models/model.bin')).equals(v('v1').files.get('models/model.bin')!.bytes)).toBe(true);
  });
});

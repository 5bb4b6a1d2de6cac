/**
 * The package's programmatic API, imported by its package name (package.json "exports"), against
 * real repositories built with the CLI: files at any revision from the cache or streamed from the
 * remote, verified; listings; the commands as functions.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as api from 'mlv';
import { git, initRepo, mlv, mlvJson, tempDir } from '../helpers/cli.js';
import { pseudoRandomBytes, write } from '../helpers/assert.js';

const GIT_ENV_KEYS = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.invalid' };
Object.assign(process.env, GIT_ENV_KEYS);

const v1 = { 'data/a.bin': pseudoRandomBytes(300_000, 1), 'data/sub/b.txt': Buffer.from('bee\n'), 'model.bin': pseudoRandomBytes(50_000, 2) };
const v2 = { 'data/a.bin': pseudoRandomBytes(300_000, 3), 'data/sub/b.txt': Buffer.from('bee\n'), 'data/sub/c.txt': Buffer.from('sea\n'), 'model.bin': pseudoRandomBytes(50_000, 4) };

let repo: string;
let store: string;
let clone: string;

function expectOk(r: { code: number; stderr: string }) {
  expect(r.code, r.stderr).toBe(0);
}

function objectFile(root: string, id: string): string {
  return path.join(root, id.slice(0, 2), id.slice(2));
}

beforeAll(() => {
  repo = initRepo();
  store = tempDir('mlv-api-store-');
  const origin = tempDir('mlv-api-origin-');
  git(origin, ['init', '-q', '--bare', '-b', 'main']);
  expectOk(mlv(repo, ['remote', 'add', '--default', 'origin', store]));
  for (const [version, files] of [['v1', v1], ['v2', v2]] as const) {
    for (const [rel, bytes] of Object.entries(files)) write(repo, rel, bytes);
    expectOk(mlv(repo, ['add', 'data', 'model.bin']));
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', version]);
    git(repo, ['tag', version]);
    expectOk(mlv(repo, ['push']));
  }
  git(repo, ['push', '-q', origin, 'main', '--tags']);
  clone = path.join(tempDir('mlv-api-clone-'), 'c');
  git(path.dirname(clone), ['clone', '-q', origin, clone]);
});

describe('programmatic API', () => {
  it('readFile gives the exact bytes of a file at any revision, from the cache', async () => {
    for (const [rev, files] of [['v1', v1], ['HEAD~1', v1], ['HEAD', v2], ['v2', v2]] as const) {
      for (const [rel, bytes] of Object.entries(files)) {
        expect((await api.readFile({ cwd: repo, rev, path: rel })).equals(bytes), `${rel} at ${rev}`).toBe(true);
      }
    }
  });

  it('openFile streams from the remote when the cache lacks the object, verified, storing nothing', async () => {
    const shards = () => (fs.existsSync(path.join(clone, '.mlv', 'cache')) ? fs.readdirSync(path.join(clone, '.mlv', 'cache')).filter((n) => n.length === 2) : []);
    const before = shards();
    const stream = await api.openFile({ cwd: clone, rev: 'v1', path: 'data/a.bin' });
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(v1['data/a.bin'])).toBe(true);
    // Folder listings read from the remote are kept as incomplete trees; no file object enters the cache.
    expect(shards()).toEqual(before);
  });

  it('a damaged object fails the stream with CORRUPT_OBJECT before it ends (remote and cache)', async () => {
    const ls = await api.ls({ cwd: repo }, { rev: 'v1', path: 'model.bin' });
    const id = ls.entries[0]!.id;
    const remoteFile = objectFile(store, id);
    const original = fs.readFileSync(remoteFile);
    const flipped = Buffer.from(original);
    flipped[1000] ^= 0x10;
    fs.chmodSync(remoteFile, 0o644);
    fs.writeFileSync(remoteFile, flipped);
    try {
      await expect(api.readFile({ cwd: clone, rev: 'v1', path: 'model.bin' })).rejects.toMatchObject({ code: 'CORRUPT_OBJECT' });
    } finally {
      fs.writeFileSync(remoteFile, original);
    }
    const cacheFile = objectFile(path.join(repo, '.mlv', 'cache'), id);
    fs.chmodSync(cacheFile, 0o644);
    fs.writeFileSync(cacheFile, original.subarray(0, 1000));
    try {
      const err = await api.readFile({ cwd: repo, rev: 'v1', path: 'model.bin' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(api.MlvError);
      expect(err).toMatchObject({ code: 'CORRUPT_OBJECT', exitCode: api.ExitCode.corrupt });
    } finally {
      fs.writeFileSync(cacheFile, original);
      fs.chmodSync(cacheFile, 0o444);
    }
  });

  it('listFiles lists every file below a path with ids, sizes and the executable bit', async () => {
    const files = await api.listFiles({ cwd: clone, rev: 'v2', path: 'data' });
    expect(files.map((f) => [f.path, f.size, f.executable])).toEqual([
      ['data/a.bin', 300_000, false],
      ['data/sub/b.txt', 4, false],
      ['data/sub/c.txt', 4, false],
    ]);
    const all = await api.listFiles({ cwd: repo, rev: 'v1' });
    expect(all.map((f) => f.path)).toEqual(['data/a.bin', 'data/sub/b.txt', 'model.bin']);
  });

  it('rev null reads the working tree pointer files; another repository is read with repo', async () => {
    expect((await api.readFile({ cwd: repo, rev: null, path: 'data/sub/c.txt' })).toString()).toBe('sea\n');
    const elsewhere = tempDir('mlv-api-elsewhere-');
    expect((await api.readFile({ cwd: elsewhere, repo, rev: 'v1', path: 'model.bin' })).equals(v1['model.bin'])).toBe(true);
  });

  it('the commands are functions returning what --json prints', async () => {
    const fromApi = await api.diff({ cwd: repo }, { args: ['v1', 'v2'] });
    const fromCli = mlvJson(repo, ['diff', 'v1', 'v2']).json;
    expect(JSON.parse(JSON.stringify(fromApi))).toEqual(fromCli);
    expect(fromApi.counts).toEqual({ added: 1, deleted: 0, modified: 2, renamed: 0 });
    const status = await api.status({ cwd: repo });
    expect(status.clean).toBe(true);
    expect(await api.ls({ cwd: repo }, { rev: 'v1' })).toEqual(mlvJson(repo, ['ls', '--rev', 'v1']).json);
  });

  it('errors are MlvError with a code and an exit code; nothing is printed', async () => {
    await expect(api.readFile({ cwd: repo, rev: 'nope', path: 'model.bin' })).rejects.toMatchObject({ code: 'USAGE', exitCode: 2 });
    await expect(api.readFile({ cwd: repo, path: 'data' })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(api.readFile({ cwd: repo, path: 'data/none.txt' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('a long-lived process reading packed files', () => {
  /** The pack files this process holds open. */
  function openPacks(): string[] {
    const out: string[] = [];
    for (const fd of fs.readdirSync('/proc/self/fd')) {
      try {
        const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
        if (target.endsWith('.pack')) out.push(target);
      } catch {
        // closed between the listing and the readlink
      }
    }
    return out;
  }

  it.runIf(process.platform === 'linux')('holds no pack file open once a read, a stream or a listing is done', async () => {
    const packed = initRepo();
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 100; i++) files.set(`data/${i}.txt`, Buffer.from(`packed file ${i}\n`));
    for (const [rel, bytes] of files) write(packed, rel, bytes);
    expectOk(mlv(packed, ['add', 'data']));
    git(packed, ['add', '-A']);
    git(packed, ['commit', '-qm', 'packed']);
    expect(fs.readdirSync(path.join(packed, '.mlv', 'cache', 'packs')).filter((n) => n.endsWith('.pack')).length, 'the files went into a pack').toBe(1);
    const before = openPacks();
    for (const [rel, bytes] of [...files].slice(0, 5)) {
      expect((await api.readFile({ cwd: packed, path: rel })).equals(bytes)).toBe(true);
      expect(openPacks()).toEqual(before);
    }
    const chunks: Buffer[] = [];
    for await (const c of await api.openFile({ cwd: packed, path: 'data/7.txt' })) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(files.get('data/7.txt')!)).toBe(true);
    expect((await api.listFiles({ cwd: packed, path: 'data' })).length).toBe(100);
    expect(openPacks()).toEqual(before);
  });
});

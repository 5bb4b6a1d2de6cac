/**
 * Tests of the Git smart-HTTP test server (test/helpers/git-http.ts): system git and
 * isomorphic-git clone through it (full and shallow), gzip and chunked request bodies reach
 * http-backend intact, pushes are refused, and server-side configuration applies.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import git from 'isomorphic-git';
import gitHttp from 'isomorphic-git/http/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GIT_ENV, git as runGit, tempDir } from '../helpers/cli.js';
import { gitAsync, gitOk, startGitHttpServer, type GitHttpServer } from '../helpers/git-http.js';

const COMMITS = 6;
let root: string;
let origin: string;
let commits: string[];
let server: GitHttpServer;

/** Number of objects in a repository (loose and packed). */
function objectCount(repo: string): number {
  const out = runGit(repo, ['count-objects', '-v']);
  const n = (key: string) => Number(new RegExp(`^${key}: (\\d+)$`, 'm').exec(out)![1]);
  return n('count') + n('in-pack');
}

/*
 * The server runs in this process: git commands that talk to it must not block the event loop
 * (gitOk / gitAsync); local-only git commands may use the synchronous runGit.
 */

beforeAll(async () => {
  root = tempDir('mlv-git-http-');
  const work = path.join(root, 'work');
  fs.mkdirSync(work);
  runGit(work, ['init', '-q', '-b', 'main']);
  commits = [];
  for (let i = 0; i < COMMITS; i++) {
    fs.writeFileSync(path.join(work, `file-${i}.txt`), `content ${i}\n`.repeat(50 + i));
    fs.mkdirSync(path.join(work, `dir-${i}`));
    fs.writeFileSync(path.join(work, `dir-${i}`, 'nested.txt'), `nested ${i}\n`);
    runGit(work, ['add', '-A']);
    runGit(work, ['commit', '-q', '-m', `commit ${i}`]);
    commits.push(runGit(work, ['rev-parse', 'HEAD']).trim());
  }
  runGit(work, ['tag', '-a', '-m', 'first', 'first', commits[0]!]);
  runGit(work, ['branch', 'side', commits[2]!]);
  origin = path.join(root, 'origin.git');
  runGit(root, ['clone', '-q', '--bare', work, origin]);
  server = await startGitHttpServer(root);
});

afterAll(async () => {
  await server?.stop();
});

describe.concurrent('git smart-HTTP test server', () => {
  it('serves a full clone to system git (protocol v2), through info/refs and git-upload-pack', async () => {
    const dest = path.join(tempDir(), 'clone');
    const before = server.requests.length;
    await gitOk(path.dirname(dest), ['clone', '-q', `${server.url}/origin.git`, dest]);
    await server.settled();
    expect(runGit(dest, ['rev-parse', 'HEAD']).trim()).toBe(commits.at(-1));
    expect(runGit(dest, ['rev-list', '--count', 'HEAD']).trim()).toBe(String(COMMITS));
    expect(runGit(dest, ['rev-parse', 'first^{commit}']).trim()).toBe(commits[0]);
    expect(fs.readFileSync(path.join(dest, 'file-3.txt'), 'utf8')).toBe('content 3\n'.repeat(53));
    expect(runGit(dest, ['fsck', '--strict']).trim()).toBe('');
    // Other tests of this file run at the same time (isomorphic-git speaks protocol v1): this
    // clone's requests are the ones that carry Git-Protocol.
    const mine = server.requests.slice(before).filter((r) => r.path.startsWith('/origin.git/') && r.gitProtocol === 'version=2');
    expect(mine.find((r) => r.method === 'GET' && r.path === '/origin.git/info/refs')).toMatchObject({ query: 'service=git-upload-pack', status: 200, gitProtocol: 'version=2' });
    const posts = mine.filter((r) => r.method === 'POST' && r.path === '/origin.git/git-upload-pack');
    expect(posts.length).toBeGreaterThanOrEqual(1);
    for (const p of posts) expect(p.status).toBe(200);
    expect(posts.reduce((n, p) => n + p.responseBytes, 0)).toBeGreaterThan(0);
  });

  it('a depth-1 clone transfers fewer objects than a full one (system git)', async () => {
    const parent = tempDir();
    await gitOk(parent, ['clone', '-q', `${server.url}/origin.git`, 'full']);
    await gitOk(parent, ['clone', '-q', '--depth', '1', `${server.url}/origin.git`, 'shallow']);
    const full = objectCount(path.join(parent, 'full'));
    const shallow = objectCount(path.join(parent, 'shallow'));
    // full: 6 commits, 6 root trees, 6 nested trees, 12 blobs and the annotated tag;
    // shallow: 1 commit, 7 trees, 12 blobs.
    expect(full).toBe(COMMITS * 5 + 1);
    expect(shallow).toBe(1 + 1 + COMMITS + 2 * COMMITS);
    expect(shallow).toBeLessThan(full);
    expect(runGit(path.join(parent, 'shallow'), ['rev-list', '--count', 'HEAD']).trim()).toBe('1');
  });

  it('isomorphic-git clones through it: depth 1, single branch, no checkout, and a full clone with more objects', async () => {
    const parent = tempDir();
    const shallowDir = path.join(parent, 'shallow');
    const fullDir = path.join(parent, 'full');
    await git.clone({ fs, http: gitHttp, dir: shallowDir, url: `${server.url}/origin.git`, ref: 'main', depth: 1, singleBranch: true, noCheckout: true });
    await git.clone({ fs, http: gitHttp, dir: fullDir, url: `${server.url}/origin.git`, ref: 'main', singleBranch: true, noCheckout: true });
    // No checkout: only .git.
    expect(fs.readdirSync(shallowDir)).toEqual(['.git']);
    expect(fs.readFileSync(path.join(shallowDir, '.git', 'shallow'), 'utf8').trim()).toBe(commits.at(-1));
    expect(await git.resolveRef({ fs, dir: shallowDir, ref: 'HEAD' })).toBe(commits.at(-1));
    const log = await git.log({ fs, dir: shallowDir, ref: 'HEAD' });
    expect(log.map((c) => c.oid)).toEqual([commits.at(-1)]);
    const fullLog = await git.log({ fs, dir: fullDir, ref: 'HEAD' });
    expect(fullLog.map((c) => c.oid)).toEqual([...commits].reverse());
    // Data of the shallow commit is readable (by isomorphic-git and by system git).
    const { blob } = await git.readBlob({ fs, dir: shallowDir, oid: commits.at(-1)!, filepath: 'file-5.txt' });
    expect(Buffer.from(blob).toString()).toBe('content 5\n'.repeat(55));
    expect(runGit(shallowDir, ['cat-file', '-p', `HEAD:dir-5/nested.txt`])).toBe('nested 5\n');
    const shallow = objectCount(shallowDir);
    const full = objectCount(fullDir);
    expect(shallow).toBe(1 + 1 + COMMITS + 2 * COMMITS);
    expect(full).toBe(COMMITS * 5); // single branch: no tag object
    expect(shallow).toBeLessThan(full);
  });

  it('isomorphic-git fetches another branch shallowly, then deepens it', async () => {
    const dir = path.join(tempDir(), 'r');
    await git.clone({ fs, http: gitHttp, dir, url: `${server.url}/origin.git`, ref: 'side', depth: 1, singleBranch: true, noCheckout: true });
    expect(await git.resolveRef({ fs, dir, ref: 'HEAD' })).toBe(commits[2]);
    await git.fetch({ fs, http: gitHttp, dir, url: `${server.url}/origin.git`, ref: 'side', depth: 2, singleBranch: true, relative: true });
    const log = await git.log({ fs, dir, ref: 'HEAD' });
    expect(log.map((c) => c.oid)).toEqual([commits[2], commits[1], commits[0]]);
  });

  it('passes gzip and chunked request bodies to http-backend (HTTP_CONTENT_ENCODING, no CONTENT_LENGTH)', async () => {
    const pkt = (s: string) => (s.length + 4).toString(16).padStart(4, '0') + s;
    const body = gzipSync(Buffer.from(pkt(`want ${commits.at(-1)}\n`) + '0000' + pkt('done\n')));
    const res = await new Promise<{ status: number; type: string | undefined; body: Buffer }>((resolve, reject) => {
      const req = http.request(`${server.url}/origin.git/git-upload-pack`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-git-upload-pack-request', 'Content-Encoding': 'gzip', 'Transfer-Encoding': 'chunked' },
      });
      req.on('error', reject);
      req.on('response', (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, type: r.headers['content-type'], body: Buffer.concat(chunks) }));
      });
      // Two chunks, so the body really is chunked.
      req.write(body.subarray(0, 10));
      setTimeout(() => req.end(body.subarray(10)), 20);
    });
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/x-git-upload-pack-result');
    expect(res.body.subarray(0, 8).toString()).toBe('0008NAK\n');
    expect(res.body.includes(Buffer.from('PACK'))).toBe(true);
  });

  it('refuses pushes and unknown repositories', async () => {
    const parent = tempDir();
    await gitOk(parent, ['clone', '-q', `${server.url}/origin.git`, 'c']);
    const c = path.join(parent, 'c');
    fs.writeFileSync(path.join(c, 'new.txt'), 'x');
    runGit(c, ['add', '-A']);
    runGit(c, ['commit', '-q', '-m', 'x']);
    const pushed = await gitAsync(c, ['push', 'origin', 'main']);
    expect(pushed.code).not.toBe(0);
    expect(runGit(origin, ['rev-parse', 'main']).trim()).toBe(commits.at(-1));
    const missing = await gitAsync(parent, ['clone', '-q', `${server.url}/nope.git`, 'n']);
    expect(missing.code).not.toBe(0);
    await server.settled();
    expect(server.requests.some((r) => r.path === '/nope.git/info/refs' && r.status === 404)).toBe(true);
    expect(server.requests.some((r) => r.path === '/origin.git/info/refs' && r.query === 'service=git-receive-pack' && r.status === 403)).toBe(true);
  });

  it('applies server-side configuration: uploadpack.allowAnySHA1InWant serves an unreachable commit', async () => {
    // A commit that no ref reaches, written straight into the bare repository.
    const tree = runGit(origin, ['rev-parse', `${commits[0]}^{tree}`]).trim();
    const r = spawnSync('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], {
      cwd: origin,
      encoding: 'utf8',
      env: { ...process.env, ...GIT_ENV },
      input: `tree ${tree}\nauthor a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\n\nunreachable\n`,
    });
    const dangling = r.stdout.trim();
    expect(dangling).toMatch(/^[0-9a-f]{40}$/);
    const configured = await startGitHttpServer(root, { gitConfig: { 'uploadpack.allowAnySHA1InWant': 'true' } });
    try {
      const dir = tempDir();
      runGit(dir, ['init', '-q']);
      // protocol v0, where upload-pack checks wants against the advertised refs
      const refused = await gitAsync(dir, ['-c', 'protocol.version=0', 'fetch', '-q', `${server.url}/origin.git`, dangling]);
      expect(refused.code).not.toBe(0);
      const ok = await gitAsync(dir, ['-c', 'protocol.version=0', 'fetch', '-q', `${configured.url}/origin.git`, dangling]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(runGit(dir, ['cat-file', '-t', dangling]).trim()).toBe('commit');
    } finally {
      await configured.stop();
    }
  });
});

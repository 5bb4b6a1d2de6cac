/**
 * Secrets (docs: /shared/reference/reliability.md, promise 11 and "Bad inputs and faults" group
 * 22; docs/remotes.md "Secrets" and "Credentials"): mlv never prints a credential (human output,
 * --json, error messages, MLV_DEBUG=1 stack traces), never writes one anywhere but
 * .mlv/config.local (not in .mlv's other files, not in the Git index or objects, not in what `get`
 * and `export` write, not on the remote), refuses to store one in the committed config, refuses a
 * committed config that holds one, and rejects remote URLs and endpoints with embedded credentials
 * or control characters, leaving the configuration unchanged.
 *
 * Credentials come from three places: `mlv remote modify --local` (config.local), the AWS_*
 * environment variables, and a profile in a shared credentials file (AWS_SHARED_CREDENTIALS_FILE,
 * AWS_CONFIG_FILE, AWS_PROFILE). The access key id is not a secret in AWS's sense, but mlv treats
 * it as one (remote list prints "(set)"), so it is checked like the secret key and the session
 * token. s3rver accepts the access key id S3RVER only (any other: InvalidAccessKeyId) and does not
 * check the secret or the token, so the successful runs use S3RVER with a unique secret and token,
 * and the refused ones a unique access key id as well.
 *
 * Already covered elsewhere (not repeated): test/remote/sync-e2e.test.ts "secrets go only to
 * config.local (--local) and are never printed" (modify/config refused without --local; remote
 * list, config --list, config <key>, remote modify --json hide them), "a secret written by hand into
 * the committed .mlv/config" (secret_access_key; push, pull, status, remote list, config --list),
 * "invalid names and URLs" (remote add with s3://KEY:SECRET@bucket never echoes the secret), and
 * "refused credentials stop the run with a clear error" (push and status --remote, env keys).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCleanError, initRepoAsync, mlvAsync, pseudoRandomBytes, repoState, write } from '../helpers/assert.js';
import { GIT_ENV, git, tempDir, type RunResult } from '../helpers/cli.js';
import { openBucket, s3Env, subRef, type S3BucketRef } from '../helpers/s3-server.js';
import { bareRepo, cloneRepo, closedPort, commitAll, run, writeDataset } from '../remote/remote-helpers.js';
import { useS3Bucket, useS3Target } from '../remote/s3-fixture.js';

const s3 = useS3Target();
const bucket = useS3Bucket(s3, 'rel-secrets');

const RUN = randomBytes(4).toString('hex').toUpperCase();
let seq = 0;
/** Unique credentials: an access key id, a secret key (with the / and + real ones have) and a token. */
function credentials(tag: string, keyId?: string) {
  const n = `${tag}${++seq}${RUN}`;
  return {
    keyId: keyId ?? `AKIAMLVTEST${n}`.toUpperCase().replace(/[^A-Z0-9]/g, ''),
    secret: `mlvSecret/${n}+wJalrXUtnFEMIK7MDENGbPxRfiCY`,
    token: `IQoJb3JpZ2luX2VjEMLVTOKEN${n}/////wEaCXVzLWVhc3QtMSJH`,
  };
}
type Creds = ReturnType<typeof credentials>;
const secretsOf = (c: Creds, withKeyId = true) => (withKeyId ? [c.secret, c.token, c.keyId] : [c.secret, c.token]);

/** Nothing of the machine's own AWS setup, no credentials in the environment, stack traces on. */
function baseEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: s3.region,
    AWS_DEFAULT_REGION: s3.region,
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    AWS_SESSION_TOKEN: '',
    AWS_PROFILE: '',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    MLV_DEBUG: '1',
  };
}

// ---------------------------------------------------------------------------------------------
// Where a secret must never be

interface Seen {
  what: string;
  r: RunResult;
}

function expectNotIn(where: string, bytes: string | Buffer, secrets: string[]): void {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  for (const s of secrets) expect(b.includes(s), `${where} contains the credential ${s.slice(0, 14)}...`).toBe(false);
}

function expectOutputsClean(seen: Seen[], secrets: string[]): void {
  for (const { what, r } of seen) {
    expectNotIn(`stdout of mlv ${what}`, r.stdout, secrets);
    expectNotIn(`stderr of mlv ${what}`, r.stderr, secrets);
  }
}

/** Every file below `dir` (links not followed), except the skipped relative paths. */
function scanFiles(dir: string, secrets: string[], skip: (rel: string) => boolean = () => false): number {
  let n = 0;
  const walk = (rel: string) => {
    const abs = rel ? path.join(dir, rel) : dir;
    for (const name of fs.readdirSync(abs)) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      const st = fs.lstatSync(path.join(abs, name));
      if (st.isDirectory()) walk(r);
      else if (st.isFile()) {
        expectNotIn(path.join(dir, r), fs.readFileSync(path.join(abs, name)), secrets);
        n++;
      }
    }
  };
  if (fs.statSync(dir).isDirectory()) walk('');
  else {
    expectNotIn(dir, fs.readFileSync(dir), secrets);
    n = 1;
  }
  return n;
}

/**
 * What mlv wrote in a repository: every file outside .git except .mlv/config.local; .git's own
 * files (index, config, hooks, refs: the objects are compressed, so also) every blob staged in the
 * index, read back with git; and config.local stays git-ignored and out of the index.
 */
function expectRepoClean(repo: string, secrets: string[]): void {
  expect(scanFiles(repo, secrets, (rel) => rel === '.git' || rel === '.mlv/config.local')).toBeGreaterThan(3);
  scanFiles(path.join(repo, '.git'), secrets);
  for (const s of secrets) {
    const g = spawnSync('git', ['grep', '--cached', '-F', '-q', '-e', s], { cwd: repo, env: { ...process.env, ...GIT_ENV } });
    expect(g.status, `git grep --cached found a credential in the staged content of ${repo}`).toBe(1);
  }
  expect(git(repo, ['ls-files', '.mlv'])).not.toMatch(/config\.local/);
  expect(spawnSync('git', ['check-ignore', '-q', '.mlv/config.local'], { cwd: repo }).status).toBe(0);
}

async function expectRemoteClean(ref: S3BucketRef, secrets: string[]): Promise<void> {
  const view = openBucket(s3, ref);
  try {
    for (const key of await view.keys()) expectNotIn(`remote object ${key}`, await view.get(key), secrets);
  } finally {
    view.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The project: data pushed to the bucket, a committed remote (URL only), the history in a bare
// origin. Each case works in a fresh clone.

interface Project {
  origin: string;
  ref: S3BucketRef;
}

let project: Promise<Project> | undefined;
function theProject(): Promise<Project> {
  project ??= (async () => {
    const repo = await initRepoAsync();
    writeDataset(repo, 'data', 2, 1);
    write(repo, 'model.bin', pseudoRandomBytes(3000, 9));
    await run(repo, ['add', 'data', 'model.bin']);
    const ref = subRef(bucket, 'project');
    await run(repo, ['remote', 'add', '--default', 'origin', ref.url]);
    commitAll(repo, 'data');
    await run(repo, ['push'], s3Env(s3));
    const origin = bareRepo();
    git(repo, ['push', '-q', origin, 'main']);
    return { origin, ref };
  })();
  return project;
}

type Source = 'config.local' | 'environment' | 'profile';

/** A fresh clone given the credentials through `source`; returns the environment to run mlv with. */
async function cloneWith(source: Source | 'config.local file', creds: Creds, endpoint = s3.endpoint): Promise<{ b: string; env: Record<string, string> }> {
  const { origin } = await theProject();
  const b = cloneRepo(origin);
  const env = baseEnv(endpoint);
  if (source === 'config.local file') {
    // The same file as `mlv remote modify --local` writes, written directly.
    fs.writeFileSync(path.join(b, '.mlv', 'config.local'), `[remote "origin"]\n\taccess_key_id = ${creds.keyId}\n\tsecret_access_key = ${creds.secret}\n\tsession_token = ${creds.token}\n`);
  } else if (source === 'config.local') {
    await run(b, ['remote', 'modify', '--local', 'origin', 'access_key_id', creds.keyId]);
    await run(b, ['remote', 'modify', '--local', 'origin', 'secret_access_key', creds.secret]);
    await run(b, ['remote', 'modify', '--local', 'origin', 'session_token', creds.token]);
  } else if (source === 'environment') {
    Object.assign(env, { AWS_ACCESS_KEY_ID: creds.keyId, AWS_SECRET_ACCESS_KEY: creds.secret, AWS_SESSION_TOKEN: creds.token });
  } else {
    const dir = tempDir('mlv-rel-aws-');
    fs.writeFileSync(path.join(dir, 'credentials'), `[mlvsecrets]\naws_access_key_id = ${creds.keyId}\naws_secret_access_key = ${creds.secret}\naws_session_token = ${creds.token}\n`);
    fs.writeFileSync(path.join(dir, 'config'), `[profile mlvsecrets]\nregion = ${s3.region}\n`);
    Object.assign(env, { AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'), AWS_CONFIG_FILE: path.join(dir, 'config'), AWS_PROFILE: 'mlvsecrets' });
  }
  return { b, env };
}

/** Every command that talks to the remote, for a clone whose cache is empty (ls and get first). */
function remoteCommands(outDir: string): string[][] {
  return [
    ['ls', '--rev', 'HEAD', 'data', '-R'],
    ['get', '--rev', 'HEAD', 'data', '-o', path.join(outDir, 'got')],
    ['export', '--rev', 'HEAD', 'data', 'model.bin', '-o', path.join(outDir, 'data.tar')],
    ['status', '--remote'],
    ['fetch'],
    ['pull'],
    ['push'],
    ['fsck', '--remote'],
    ['gc', '--cloud', '--all-branches', '--dry-run'],
  ];
}

const CONFIG_COMMANDS = [
  ['remote', 'list'],
  ['remote', 'list', '--json'],
  ['config', '--list'],
  ['config', '--list', '--json'],
  ['config', 'remote.origin.session_token', '--json'],
];

const skipExternal = (ctx: { skip: (note?: string) => void }) => {
  if (s3.external) ctx.skip('s3rver accepts any secret and one key id; another server needs real keys');
};

// ---------------------------------------------------------------------------------------------

describe.concurrent.each(['config.local', 'environment', 'profile'] as const)('credentials from %s', (source) => {
  it('every remote command succeeds and prints none of them (human, --json, MLV_DEBUG=1); nothing mlv writes holds them', async (ctx) => {
    skipExternal(ctx);
    const creds = credentials('ok', 'S3RVER');
    const { b, env } = await cloneWith(source, creds);
    const out = tempDir('mlv-rel-out-');
    const seen: Seen[] = [];
    const go = async (args: string[]) => {
      const r = await mlvAsync(b, args, env);
      seen.push({ what: args.join(' '), r });
      expect(r.code, `mlv ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
      return r;
    };
    // Something new to push, so that push uploads.
    write(b, `new-${source}.bin`, `pushed with credentials from ${source} ${RUN}\n`);
    await go(['add', `new-${source}.bin`]);
    const [ls, get, exp, status, fetch, pull, push, fsck, gc] = remoteCommands(out);
    const full = source === 'config.local';
    // (The SDK reads environment and profile keys itself: fewer commands for those.)
    // The cache is empty: ls, get, export and status --remote read trees from the remote.
    await Promise.all((full ? [ls, get, exp, status] : [ls, status]).map((a) => go(a!)));
    await Promise.all((full ? [fetch, pull] : [fetch]).map((a) => go(a!)));
    await go(push!);
    const last = full
      ? [fsck!, gc!, ['status', '--remote', '--json'], ['push', '--json'], ['gc', '--cloud', '--all-branches', '--dry-run', '--json'], ...CONFIG_COMMANDS]
      : [['fsck', '--remote', '--json'], gc!];
    await Promise.all(last.map((a) => go(a)));
    if (full) {
      expect(JSON.parse(seen.find((s) => s.what === 'remote list --json')!.r.stdout).remotes[0].options).toEqual({ access_key_id: '(set)', secret_access_key: '(set)', session_token: '(set)' });
    }
    // The access key id S3RVER is what s3rver needs; it is never printed either.
    expectOutputsClean(seen, secretsOf(creds));
    expectRepoClean(b, secretsOf(creds));
    scanFiles(out, secretsOf(creds));
    if (source === 'config.local') expect(fs.readFileSync(path.join(b, '.mlv/config.local'), 'utf8')).toContain(creds.secret);
    await expectRemoteClean((await theProject()).ref, secretsOf(creds));
  });

  it('refused credentials (InvalidAccessKeyId): every remote command fails without printing them, also with --json and MLV_DEBUG=1', async (ctx) => {
    skipExternal(ctx);
    const creds = credentials('bad');
    const { b, env } = await cloneWith(source, creds);
    write(b, 'new.bin', 'to push');
    await run(b, ['add', 'new.bin']);
    const before = repoState(b);
    const out = tempDir('mlv-rel-out-');
    const all = remoteCommands(out);
    // (The SDK reads environment and profile keys itself: fewer commands for those.)
    const commands = source === 'config.local' ? all : all.filter((a) => ['ls', 'push', 'fsck'].includes(a[0]!));
    const results = await Promise.all(commands.map((args) => mlvAsync(b, [...args, '--json'], env)));
    const seen = results.map((r, i) => ({ what: `${commands[i]!.join(' ')} --json (MLV_DEBUG=1)`, r }));
    for (const { what, r } of seen) {
      // fsck: the fresh clone's cache lacks the data (exit 6 wins over "remote not checked", 9).
      expect(r.code, `${what}\n${r.stdout}\n${r.stderr}`).toBe(what.startsWith('fsck') ? 6 : 9);
      expect(r.stderr + r.stdout, what).toMatch(/InvalidAccessKeyId|credentials were refused|403|access denied/i);
      expect(r.stderr, what).not.toMatch(/internal error/);
    }
    if (source === 'config.local') {
      // Without MLV_DEBUG and --json: one clean line (and a hint) each; fsck reports instead.
      for (const args of commands.filter((a) => ['ls', 'fetch', 'push', 'fsck', 'gc'].includes(a[0]!))) {
        const r = await mlvAsync(b, args, { ...env, MLV_DEBUG: '' });
        seen.push({ what: args.join(' '), r });
        if (args[0] === 'fsck') {
          expect(r.code).toBe(6);
          expect(r.stdout).toMatch(/could not be checked/);
        } else expectCleanError(r, 9, /cannot use the remote|could not be fetched/);
      }
    }
    expectOutputsClean(seen, secretsOf(creds));
    expect(repoState(b)).toEqual(before);
    expectRepoClean(b, secretsOf(creds));
    scanFiles(out, secretsOf(creds));
  });
});

describe.concurrent('credentials in config.local, the remote unusable', () => {
  it('an endpoint nobody listens on: every remote command fails (retried, then one line) without printing them', async () => {
    const creds = credentials('unreachable', 'S3RVER');
    const { b, env } = await cloneWith('config.local file', creds, `http://127.0.0.1:${await closedPort()}`);
    write(b, 'new.bin', 'to push');
    await run(b, ['add', 'new.bin']);
    const before = repoState(b);
    const out = tempDir('mlv-rel-out-');
    const commands = remoteCommands(out).filter((a) => ['ls', 'get', 'status', 'push', 'fsck'].includes(a[0]!));
    const results = await Promise.all(commands.map((args) => mlvAsync(b, [...args, '--json'], env)));
    const seen = results.map((r, i) => ({ what: `${commands[i]!.join(' ')} --json`, r }));
    for (const { what, r } of seen) {
      expect(r.code, `${what}\n${r.stdout}\n${r.stderr}`).toBe(what.startsWith('fsck') ? 6 : 9);
      expect(r.stderr + r.stdout, what).toMatch(/ECONNREFUSED|connection refused/i);
      expect(r.stderr, what).not.toMatch(/internal error/);
    }
    expectOutputsClean(seen, secretsOf(creds));
    expect(repoState(b)).toEqual(before);
    expectRepoClean(b, secretsOf(creds));
    scanFiles(out, secretsOf(creds));
  });

  it('a bucket that does not exist: every remote command fails or reports, without printing them', async (ctx) => {
    skipExternal(ctx);
    const creds = credentials('nobucket', 'S3RVER');
    const { b, env } = await cloneWith('config.local file', creds);
    fs.appendFileSync(path.join(b, '.mlv', 'config.local'), `\turl = s3://mlv-no-such-bucket-${RUN.toLowerCase()}/x\n`);
    write(b, 'new.bin', 'to push');
    await run(b, ['add', 'new.bin']);
    const before = repoState(b);
    const out = tempDir('mlv-rel-out-');
    const commands = remoteCommands(out).filter((a) => ['ls', 'status', 'fetch', 'push', 'fsck', 'gc'].includes(a[0]!));
    const results = await Promise.all(commands.map((args) => mlvAsync(b, [...args, '--json'], env)));
    const seen = results.map((r, i) => ({ what: `${commands[i]!.join(' ')} --json`, r }));
    for (const { what, r } of seen) {
      expect(r.stderr, what).not.toMatch(/internal error/);
      expect(r.code, what).not.toBe(1);
      expect(r.code, `${what}\n${r.stderr}`).toBeGreaterThan(1);
    }
    const codes = Object.fromEntries(seen.map(({ what, r }) => [what.split(' --json')[0]!.split(' ').slice(0, 2).join(' '), r.code]));
    // push, gc and status --remote say the bucket does not exist (exit 2); fsck reports the remote
    // as not checked, but the fresh clone's missing data wins (6).
    expect(codes).toMatchObject({ push: 2, 'gc --cloud': 2, 'status --remote': 2, 'fsck --remote': 6 });
    expectOutputsClean(seen, secretsOf(creds));
    expect(repoState(b)).toEqual(before);
    expectRepoClean(b, secretsOf(creds));
    scanFiles(out, secretsOf(creds));
  });

  // docs/remotes.md: "a bucket or remote folder that does not exist (exit 2)" stops the run. push
  // and gc --cloud say so; but a GET of a missing bucket answers 404 NoSuchBucket, which
  // src/storage/s3-remote.ts takes for a missing object, and a HEAD cannot tell either: fetch and
  // pull report every object as "not on the remote" (exit 9), ls / get / export as missing data
  // (exit 5), and status --remote reports everything "not on the remote" (exit 0).
  it('a bucket that does not exist: fetch, ls --rev, get --rev and status --remote say so (exit 2)', async (ctx) => {
    skipExternal(ctx);
    const { b, env } = await cloneWith('config.local file', credentials('nobucket2', 'S3RVER'));
    fs.appendFileSync(path.join(b, '.mlv', 'config.local'), `\turl = s3://mlv-no-such-bucket-${RUN.toLowerCase()}/y\n`);
    const out = tempDir('mlv-rel-out-');
    for (const args of [['fetch'], ['ls', '--rev', 'HEAD', 'data', '-R'], ['get', '--rev', 'HEAD', 'data', '-o', path.join(out, 'got')], ['status', '--remote']]) {
      expectCleanError(await mlvAsync(b, args, { ...env, MLV_DEBUG: '' }), 2, /bucket .* does not exist/);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Group 22: writing a secret into the committed config; a committed config that holds one.

let remoteTemplate: Promise<string> | undefined;
/** A committed project with a remote `origin` (URL only), copied from a template. */
async function repoWithRemote(): Promise<string> {
  remoteTemplate ??= (async () => {
    const repo = await initRepoAsync();
    writeDataset(repo, 'data', 2, 1);
    await run(repo, ['add', 'data']);
    await run(repo, ['remote', 'add', '--default', 'origin', 's3://bucket-of-mlv/x']);
    commitAll(repo, 'data and remote');
    return repo;
  })();
  const dest = path.join(tempDir('mlv-rel-sec-'), 'repo');
  fs.cpSync(await remoteTemplate, dest, { recursive: true });
  return dest;
}

const read = (repo: string, file: string) => {
  const p = path.join(repo, '.mlv', file);
  return fs.existsSync(p) ? fs.readFileSync(p) : undefined;
};

describe.concurrent('group 22: secrets and the committed config', () => {
  it('a secret without --local (remote modify, config): refused with exit 2, not echoed (also --json, MLV_DEBUG=1), both config files and the Git index unchanged', async () => {
    const repo = await repoWithRemote();
    const creds = credentials('cli');
    const state = repoState(repo);
    const config = read(repo, 'config');
    const local = read(repo, 'config.local');
    const seen: Seen[] = [];
    const values: Record<string, string> = { access_key_id: creds.keyId, secret_access_key: creds.secret, session_token: creds.token };
    let i = 0;
    for (const [option, value] of Object.entries(values)) {
      const setters = [['remote', 'modify', 'origin', option, value], ['config', `remote.origin.${option}`, value]];
      for (const args of setters) {
        const json = await mlvAsync(repo, [...args, '--json'], { MLV_DEBUG: '1' });
        expect(json.code).toBe(2);
        expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'USAGE', exitCode: 2, message: expect.stringContaining(`${option} is a secret`) });
        seen.push({ what: `${args.slice(0, -1).join(' ')} --json`, r: json });
      }
      const args = setters[i++ % 2]!;
      const plain = await mlvAsync(repo, args);
      expectCleanError(plain, 2, new RegExp(`${option} is a secret`));
      expect(plain.stderr).toMatch(/^hint: .*--local/m);
      seen.push({ what: args.slice(0, -1).join(' '), r: plain });
    }
    expectOutputsClean(seen, secretsOf(creds));
    expect(read(repo, 'config')).toEqual(config);
    expect(read(repo, 'config.local')).toEqual(local);
    expect(repoState(repo)).toEqual(state);
    expectRepoClean(repo, secretsOf(creds));
  });

  it('a committed config holding access_key_id or session_token (plain or quoted): every command refuses on load (exit 6, one line, value not echoed; --json and MLV_DEBUG=1 too)', async () => {
    const repo = await repoWithRemote();
    const creds = credentials('committed');
    const file = path.join(repo, '.mlv/config');
    const clean = fs.readFileSync(file, 'utf8');
    const state = repoState(repo);
    const seen: Seen[] = [];
    for (const [key, line] of [
      ['access_key_id', `\taccess_key_id = ${creds.keyId}\n`],
      ['session_token', `\tsession_token = "${creds.token}"\n`],
    ] as const) {
      fs.writeFileSync(file, clean.replace('\turl = s3://bucket-of-mlv/x\n', `\turl = s3://bucket-of-mlv/x\n${line}`));
      const commands = key === 'access_key_id' ? [['status'], ['remote', 'list'], ['push'], ['fsck', '--remote']] : [['config', '--list'], ['fetch'], ['gc', '--cloud', '--all-branches', '--dry-run'], ['checkout']];
      for (const args of commands) {
        const r = await mlvAsync(repo, args, s3Env(s3));
        expectCleanError(r, 6, new RegExp(`remote\\.origin\\.${key} is a secret and must not be in the committed config`));
        expect(r.stderr).toMatch(/^hint: .*move it to \.mlv\/config\.local/m);
        seen.push({ what: args.join(' '), r });
      }
      for (const args of key === 'access_key_id' ? [['remote', 'list', '--json'], ['push', '--json']] : [['config', '--list', '--json'], ['status', '--remote', '--json']]) {
        const r = await mlvAsync(repo, args, { ...s3Env(s3), MLV_DEBUG: '1' });
        expect(r.code).toBe(6);
        expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'INVALID_CONFIG', exitCode: 6 });
        seen.push({ what: args.join(' '), r });
      }
    }
    expectOutputsClean(seen, secretsOf(creds));
    fs.writeFileSync(file, clean);
    expect(repoState(repo)).toEqual(state);
  });
});

// ---------------------------------------------------------------------------------------------
// Group 22: remote URLs and endpoints with credentials or control characters.

const URL_SECRET = 'wJalrXUtnURLSECRET/K7MDENG';
const URL_KEY = 'AKIAURLKEYIDEXAMPLE';
const ENDPOINT_PASS = 'hunter2EndpointPASS';

/** Ways of setting a URL-like value; each must be refused with exit 2 and change nothing. */
function urlSetters(value: string): string[][] {
  return [
    ['remote', 'add', 'other', value],
    ['remote', 'add', '--local', 'other', value],
    ['remote', 'modify', 'origin', 'url', value],
    ['remote', 'modify', '--local', 'origin', 'url', value],
    ['config', 'remote.origin.url', value],
    ['config', '--local', 'remote.origin.url', value],
  ];
}
function endpointSetters(value: string): string[][] {
  return [
    ['remote', 'modify', 'origin', 'endpoint', value],
    ['remote', 'modify', '--local', 'origin', 'endpoint', value],
    ['config', 'remote.origin.endpoint', value],
    ['config', '--local', 'remote.origin.endpoint', value],
  ];
}

const CREDENTIAL_URLS = [`s3://${URL_KEY}:${URL_SECRET}@bucket/x`, `s3://${URL_KEY}@bucket/x`, `s3://:${URL_SECRET}@bucket`];
const CREDENTIAL_ENDPOINTS = [`https://user:${ENDPOINT_PASS}@minio.example.com:9000`, `http://${URL_KEY}:${ENDPOINT_PASS}@127.0.0.1:9000/`];
/** Control characters and line breaks (NUL cannot be passed in argv; see the hand-written case). */
const CONTROL = ['\r', '\n', '\r\n', '\t', '\x1b', '\x7f', '\x01', '\u2028', '\u2029'];

describe.concurrent('group 22: URLs and endpoints with credentials or control characters', () => {
  it('credentials in a URL or an endpoint, set any way (add, modify, config; committed or --local): exit 2, config files unchanged', async () => {
    const repo = await repoWithRemote();
    const state = repoState(repo);
    const config = read(repo, 'config');
    const local = read(repo, 'config.local');
    // Every setter once, the values taken in turn.
    const tries = [
      ...urlSetters('').map((a, i) => [...a.slice(0, -1), CREDENTIAL_URLS[i % CREDENTIAL_URLS.length]!]),
      ...endpointSetters('').map((a, i) => [...a.slice(0, -1), CREDENTIAL_ENDPOINTS[i % CREDENTIAL_ENDPOINTS.length]!]),
    ];
    const results = await Promise.all(tries.map((args) => mlvAsync(repo, args)));
    results.forEach((r, i) => {
      expectCleanError(r, 2, /credentials must not be part of the URL/);
      expect(tries[i]).toBeDefined();
    });
    expect(read(repo, 'config')).toEqual(config);
    expect(read(repo, 'config.local')).toEqual(local);
    expect(repoState(repo)).toEqual(state);
    // The URL forms of remote add never echo the credential part (covered for one URL in sync-e2e).
    results.forEach((r, i) => {
      if (tries[i]![1] === 'add') expectNotIn(`mlv ${tries[i]!.slice(0, -1).join(' ')}`, r.stderr + r.stdout, [URL_SECRET, URL_KEY]);
    });
    // An endpoint with credentials in the environment: refused before any request, not echoed.
    const env = { ...s3Env(s3), AWS_ENDPOINT_URL_S3: CREDENTIAL_ENDPOINTS[0]!, AWS_ENDPOINT_URL: CREDENTIAL_ENDPOINTS[0]! };
    for (const args of [['push'], ['status', '--remote']]) {
      const r = await mlvAsync(repo, args, env);
      expectCleanError(r, 2, /invalid S3 endpoint in AWS_ENDPOINT_URL_S3.*credentials must not be part of the URL/);
      expectNotIn(`mlv ${args.join(' ')}`, r.stderr + r.stdout, [ENDPOINT_PASS]);
    }
  });

  // src/workspace/config.ts validateConfigValue: `invalid value for <key>: "<value>": <problem>`.
  // `mlv remote modify` and `mlv config` validate through it, so the refusal repeats the whole URL,
  // credentials included (docs/remotes.md: "the message never repeats the URL").
  it('remote modify / config refuse a URL or endpoint with credentials without printing them', async () => {
    const repo = await repoWithRemote();
    const tries = [
      ['remote', 'modify', 'origin', 'url', CREDENTIAL_URLS[0]!],
      ['config', '--local', 'remote.origin.url', CREDENTIAL_URLS[0]!],
      ['remote', 'modify', '--local', 'origin', 'endpoint', CREDENTIAL_ENDPOINTS[0]!],
      ['config', 'remote.origin.endpoint', CREDENTIAL_ENDPOINTS[1]!],
    ];
    for (const args of tries) {
      const r = await mlvAsync(repo, args);
      expect(r.code).toBe(2);
      expectNotIn(`mlv ${args.slice(0, -1).join(' ')} <url>`, r.stderr + r.stdout, [URL_SECRET, URL_KEY, ENDPOINT_PASS]);
    }
  });

  it('a URL or endpoint with credentials written by hand into the committed config: every command refuses (exit 6), nothing changes', async () => {
    const repo = await repoWithRemote();
    const file = path.join(repo, '.mlv/config');
    const clean = fs.readFileSync(file, 'utf8');
    for (const edit of [
      (t: string) => t.replace('url = s3://bucket-of-mlv/x', `url = ${CREDENTIAL_URLS[0]}`),
      (t: string) => t.replace('\turl = s3://bucket-of-mlv/x\n', `\turl = s3://bucket-of-mlv/x\n\tendpoint = ${CREDENTIAL_ENDPOINTS[0]}\n`),
    ]) {
      fs.writeFileSync(file, edit(clean));
      const state = repoState(repo);
      for (const args of [['remote', 'list'], ['push', '--json']]) {
        const r = await mlvAsync(repo, args, s3Env(s3));
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(6);
        expect(r.stderr).toMatch(/^error: .*credentials must not be part of the URL/m);
        expect(r.stderr).not.toMatch(/^\s+at /m);
      }
      expect(repoState(repo)).toEqual(state);
    }
    fs.writeFileSync(file, clean);
  });

  it('a URL or endpoint with credentials written by hand into the committed config: refused without printing the credentials', async () => {
    const repo = await repoWithRemote();
    const file = path.join(repo, '.mlv/config');
    const clean = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, clean.replace('\turl = s3://bucket-of-mlv/x\n', `\turl = s3://bucket-of-mlv/x\n\tendpoint = ${CREDENTIAL_ENDPOINTS[0]}\n`));
    const r = await mlvAsync(repo, ['remote', 'list']);
    expect(r.code).toBe(6);
    expectNotIn('mlv remote list', r.stderr + r.stdout, [ENDPOINT_PASS]);
  });

  it('control characters and line breaks in a URL or an endpoint (add, modify, config; committed or --local): exit 2, nothing written', async () => {
    const repo = await repoWithRemote();
    const state = repoState(repo);
    const config = read(repo, 'config');
    const local = read(repo, 'config.local');
    // Each character through one URL setter and one endpoint setter, the setters taken in turn.
    const tries = CONTROL.flatMap((ch, i) => [
      [...urlSetters('')[i % 6]!.slice(0, -1), i % 2 ? `s3://bucket-of-mlv/x${ch}url = s3://evil` : `/data/store${ch}[core]`],
      [...endpointSetters('')[i % 4]!.slice(0, -1), `http://127.0.0.1:9000/${ch}x`],
    ]);
    const results = await Promise.all(tries.map((args) => mlvAsync(repo, args)));
    results.forEach((r, i) => {
      expect(r.code, `${JSON.stringify(tries[i])}: ${r.stderr}`).toBe(2);
      expectCleanError(r, 2, /control characters|line breaks|invalid/);
    });
    expect(read(repo, 'config')).toEqual(config);
    expect(read(repo, 'config.local')).toEqual(local);
    expect(repoState(repo)).toEqual(state);
  });

  it('NUL, CR and other control characters written by hand into config or config.local: refused on load (exit 6), one line', async () => {
    const repo = await repoWithRemote();
    const state = repoState(repo);
    for (const [file, text] of [
      ['config', '[remote "origin"]\n\turl = s3://bucket-of-mlv/x\0y\n'],
      ['config', '[remote "origin"]\r\n\turl = s3://bucket-of-mlv/x\r\n'],
      ['config', '[remote "origin"]\n\turl = "s3://bucket-of-mlv/x\\ty"\n'],
      ['config.local', '[remote "origin"]\n\tendpoint = "http://127.0.0.1:9000/\\nx"\n'],
      ['config.local', '[remote "origin"]\n\tsecret_access_key = ab\0cd\n'],
    ] as const) {
      const p = path.join(repo, '.mlv', file);
      const saved = fs.existsSync(p) ? fs.readFileSync(p) : undefined;
      fs.writeFileSync(p, text);
      for (const args of [['remote', 'list']]) {
        const r = await mlvAsync(repo, args, s3Env(s3));
        expectCleanError(r, 6);
        expect(r.stderr).toMatch(new RegExp(`\\.mlv/${file.replace('.', '\\.')}`));
        expect(r.stderr).not.toMatch(/\0|\r/);
      }
      if (saved) fs.writeFileSync(p, saved);
      else fs.rmSync(p);
    }
    expect(repoState(repo)).toEqual(state);
  });

  // docs/remotes.md refuses "control characters" in URLs; src/workspace/remote-options.ts checks
  // U+0000-U+001F and U+007F only. The C1 controls U+0080-U+009F (NEL; CSI, which some terminals
  // take as an escape sequence) pass, land in the committed config and are printed raw by
  // `mlv remote list`.
  it('C1 control characters (U+0085 NEL, U+009B CSI) in a URL or an endpoint are refused, config unchanged', async () => {
    const repo = await repoWithRemote();
    const config = read(repo, 'config');
    for (const ch of ['\u0085', '\u009b']) {
      for (const args of [['remote', 'add', 'other', `s3://bucket-of-mlv/x${ch}31m`], ['remote', 'modify', 'origin', 'endpoint', `http://127.0.0.1:9000/${ch}`]]) {
        const r = await mlvAsync(repo, args);
        expect(r.code, `${JSON.stringify(args)}: ${r.stdout}`).toBe(2);
      }
    }
    expect(read(repo, 'config')).toEqual(config);
  });
});

// ---------------------------------------------------------------------------------------------
// Secret values that mlv refuses: the refusal must not print them either.

describe.concurrent('refused secret values are not printed', () => {
  it('a secret value mlv refuses (a space, too long) is not written anywhere, exit 2', async () => {
    const repo = await repoWithRemote();
    const state = repoState(repo);
    const local = read(repo, 'config.local');
    for (const value of [`${URL_SECRET} pasted with a space`, `x${'y'.repeat(300)}${URL_SECRET}`]) {
      for (const args of [['remote', 'modify', '--local', 'origin', 'secret_access_key', value], ['config', '--local', 'remote.origin.secret_access_key', value]]) {
        const r = await mlvAsync(repo, args);
        expectCleanError(r, 2, /invalid value for remote\.origin\.secret_access_key/);
      }
    }
    expect(read(repo, 'config.local')).toEqual(local);
    expect(repoState(repo)).toEqual(state);
  });

  // validateConfigValue repeats the value it refuses, secrets included; the same message comes on
  // every command when config.local holds such a value, and a malformed line (no "=") is quoted
  // (its first 60 characters) by the parser.
  it('a refused secret value is never printed back (remote modify --local, config --local, and on load from config.local)', async () => {
    const repo = await repoWithRemote();
    const value = `${URL_SECRET} pasted with a space`;
    const seen: Seen[] = [];
    for (const args of [['remote', 'modify', '--local', 'origin', 'secret_access_key', value], ['config', '--local', 'remote.origin.secret_access_key', value]]) {
      seen.push({ what: args.slice(0, -1).join(' '), r: await mlvAsync(repo, args) });
    }
    const local = path.join(repo, '.mlv/config.local');
    fs.writeFileSync(local, `[remote "origin"]\n\taccess_key_id = ${URL_KEY}\n\tsecret_access_key = "${value}"\n`);
    seen.push({ what: 'remote list (invalid secret in config.local)', r: await mlvAsync(repo, ['remote', 'list']) });
    fs.writeFileSync(local, `[remote "origin"]\n\tsecret_access_key ${URL_SECRET}\n`);
    seen.push({ what: 'remote list (line without "=" in config.local)', r: await mlvAsync(repo, ['remote', 'list']) });
    for (const { r } of seen) expect(r.code).not.toBe(0);
    expectOutputsClean(seen, [URL_SECRET]);
  });
});

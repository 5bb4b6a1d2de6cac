import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, git, tempDir } from '../helpers/cli.js';
import {
  expectCleanError,
  expectOk,
  fixtureRepo,
  initRepoAsync,
  mlvAsync,
  mlvJsonAsync,
  repoState,
  write,
} from '../helpers/assert.js';

const COMMANDS = ['init', 'add', 'status', 'checkout', 'untrack', 'config'];

describe.concurrent('the mlv command line', () => {
  it('--help of every command exits 0 and shows examples', async () => {
    const dir = tempDir();
    for (const c of COMMANDS) {
      const r = await mlvAsync(dir, [c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toContain('Examples');
      expect(r.stdout, c).toContain(`mlv ${c}`);
      const viaHelp = await mlvAsync(dir, ['help', c]);
      expect(viaHelp.code, c).toBe(0);
      expect(viaHelp.stdout, c).toContain('Examples');
    }
    const top = await mlvAsync(dir, ['--help']);
    expect(top.code).toBe(0);
    for (const c of COMMANDS) expect(top.stdout).toContain(c);
  });

  it('--version prints the package.json version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await mlvAsync(tempDir(), [flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  it('unknown commands and options, and missing arguments, exit 2 with a message', async () => {
    const repo = await initRepoAsync();
    const before = repoState(repo);
    for (const args of [['frobnicate'], ['status', '--frobnicate'], ['add', '--nope', 'x'], ['add'], ['untrack'], ['init', '--bogus']]) {
      const r = await mlvAsync(repo, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^error: /m);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
    expect(repoState(repo)).toEqual(before);
  });

  it('invalid --jobs values exit 2 and say why', async () => {
    const repo = await fixtureRepo();
    const before = repoState(repo);
    for (const args of [['status', '--jobs', '0'], ['add', 'model.bin', '-j', 'abc'], ['checkout', '--jobs', '1000']]) {
      const r = await mlvAsync(repo, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^error: .*--jobs/m);
    }
    expect(repoState(repo)).toEqual(before);
  });

  it('--json output of add, status and checkout parses', async () => {
    const repo = await fixtureRepo();
    const add = await mlvJsonAsync(repo, ['add', 'dataset', 'model.bin']);
    expect(add.code).toBe(0);
    expect(add.json).toMatchObject({ targets: [{ path: 'dataset' }, { path: 'model.bin' }] });
    expect(Array.isArray(add.json.staged)).toBe(true);
    const status = await mlvJsonAsync(repo, ['status']);
    expect(status.code).toBe(0);
    expect(status.json).toMatchObject({ clean: true });
    fs.rmSync(path.join(repo, 'model.bin'));
    const checkout = await mlvJsonAsync(repo, ['checkout']);
    expect(checkout.code).toBe(0);
    expect(checkout.json).toMatchObject({ written: 1, saved: [], missing: [], corrupt: [] });
    expect(typeof checkout.json.strategies).toBe('object');
    // stderr stays quiet with --json.
    expect(add.stderr + status.stderr + checkout.stderr).toBe('');
  });

  it('errors with --json are JSON on stdout as well as a line on stderr', async () => {
    const repo = await initRepoAsync();
    const r = await mlvJsonAsync(repo, ['add', 'does-not-exist']);
    expect(r.code).toBe(2);
    expect(r.json).toEqual({ error: { code: 'NOT_FOUND', message: 'does-not-exist does not exist', hint: 'check the path', exitCode: 2 } });
    expect(r.stderr).toMatch(/^error: does-not-exist does not exist$/m);
    const outside = await mlvJsonAsync(tempDir(), ['status']);
    expect(outside.code).toBe(3);
    expect(outside.json.error).toMatchObject({ code: 'NOT_A_REPO', exitCode: 3 });
  });

  it('-q prints nothing on success', async () => {
    const dir = tempDir();
    git(dir, ['init', '-q', '-b', 'main']);
    const quiet = async (args: string[]) => {
      const r = await mlvAsync(dir, [...args, '-q']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toBe('');
    };
    await quiet(['init']);
    write(dir, 'data/a.txt', 'a');
    write(dir, 'model.bin', 'm');
    await quiet(['add', 'data', 'model.bin']);
    await quiet(['status']);
    fs.rmSync(path.join(dir, 'data'), { recursive: true });
    await quiet(['checkout']);
    expect(fs.readFileSync(path.join(dir, 'data', 'a.txt'), 'utf8')).toBe('a');
    await quiet(['config', 'core.link', 'copy']);
    await quiet(['config', '--unset', 'core.link']);
    await quiet(['untrack', 'model.bin']);
    // Errors are still reported.
    const err = await mlvAsync(dir, ['add', 'nope', '-q']);
    expectCleanError(err, 2, /nope does not exist/);
  });

  it('-C runs as if started in another folder', async () => {
    const repo = await fixtureRepo();
    const elsewhere = tempDir();
    const r = await mlvAsync(elsewhere, ['-C', repo, 'add', 'model.bin']);
    expectOk(r);
    expect(fs.existsSync(path.join(repo, 'model.bin.mlv'))).toBe(true);
    expect((await mlvJsonAsync(elsewhere, ['-C', path.join(repo, 'dataset'), 'status'])).json.targets.map((t: any) => t.path)).toEqual(['model.bin']);
  });

  it('two writers at once: one waits for the other, both succeed', async () => {
    const repo = await fixtureRepo();
    const [a, b] = await Promise.all([mlvJsonAsync(repo, ['add', 'dataset']), mlvJsonAsync(repo, ['add', 'model.bin'])]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(fs.readFileSync(path.join(repo, '.gitignore'), 'utf8').split('\n').filter(Boolean).sort()).toEqual(['/dataset', '/model.bin']);
    expect(fs.existsSync(path.join(repo, '.mlv', 'lock'))).toBe(false);
    expect((await mlvJsonAsync(repo, ['status'])).json.clean).toBe(true);
  });

  it('a held lock makes writers wait, then fail with exit 7 and name the holder', async () => {
    const repo = await fixtureRepo();
    // A live process on this host (this test worker) holds the lock.
    const holder = { pid: process.pid, host: os.hostname(), command: 'add', started: new Date().toISOString() };
    fs.writeFileSync(path.join(repo, '.mlv', 'lock'), JSON.stringify(holder) + '\n');
    const before = repoState(repo);
    for (const args of [['add', 'model.bin'], ['checkout'], ['untrack', 'x'], ['config', 'core.link', 'copy']]) {
      const r = await mlvAsync(repo, args, { MLV_LOCK_TIMEOUT: '0.3' });
      expectCleanError(r, 7, new RegExp(`locked by "mlv add" \\(pid ${process.pid}`));
    }
    expect(repoState(repo)).toEqual(before);
    expect(fs.existsSync(path.join(repo, '.mlv', 'lock'))).toBe(true);
    // A lock left by a dead process is taken over.
    fs.writeFileSync(path.join(repo, '.mlv', 'lock'), JSON.stringify({ ...holder, pid: 2 ** 22 + 12345 }) + '\n');
    expectOk(await mlvAsync(repo, ['add', 'model.bin'], { MLV_LOCK_TIMEOUT: '0.3' }));
    expect(fs.existsSync(path.join(repo, '.mlv', 'lock'))).toBe(false);
  });
});

/**
 * Large files (8 MiB and more) are copied by GNU cp (copy_file_range or a reflink) while mlv hashes
 * the copy. A `cp` placed first on the PATH that logs its calls and then runs the real cp shows
 * which files went that way: in add (on hashing worker threads) and in checkout. A cp that writes
 * a wrong copy is caught by checkout's check without blaming the cache, and MLV_KERNEL_COPY=0 turns
 * the kernel copy off.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blake3Hex, expectCleanError, initRepoAsync, mlvAsync, pseudoRandomBytes, settle, write } from '../helpers/assert.js';
import { git, tempDir } from '../helpers/cli.js';
import { cacheIds, cacheTemps, expectCacheVerified, run } from '../remote/remote-helpers.js';

const MiB = 1024 * 1024;
const realCp = execFileSync('sh', ['-c', 'command -v cp || true'], { encoding: 'utf8' }).trim();
const gnuCp = realCp !== '' && /\(GNU coreutils\)/.test(execFileSync(realCp, ['--version'], { encoding: 'utf8' }));
if (!gnuCp) console.warn('skipped: the kernel-copy tests need GNU cp first on the PATH');

/** A folder holding a `cp` that logs each call's last argument to `log`, then does `after`. */
function cpShim(after: 'exec' | 'wrong' | 'slow-after-rm'): { env: Record<string, string>; calls: () => string[] } {
  const dir = tempDir('mlv-cp-shim-');
  const log = path.join(dir, 'calls.log');
  const body = {
    exec: `exec '${realCp}' "$@"`,
    // Writes a copy of the same size in which every zero byte is a one, and reports success.
    wrong: `for last; do :; done\ntr '\\000' '\\001' < /dev/stdin > "$last"`,
    // Removes the folder $RM_BEFORE_COPY (so that another hashing thread fails), then copies late.
    'slow-after-rm': `rm -rf "$RM_BEFORE_COPY"\nsleep 3\nexec '${realCp}' "$@"`,
  }[after];
  fs.writeFileSync(path.join(dir, 'cp'), `#!/bin/sh\n[ "$1" = --version ] && exec '${realCp}' --version\nfor last; do :; done\necho "$last" >> '${log}'\n${body}\n`, { mode: 0o755 });
  return {
    env: { PATH: `${dir}${path.delimiter}${process.env['PATH']}` },
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
  };
}

describe.concurrent.runIf(gnuCp)('large files copied by the kernel', () => {
  it('add on worker threads and checkout copy each large file with cp; bytes and cache objects are exact', async () => {
    const repo = await initRepoAsync();
    const big = [0, 1, 2].map((i) => pseudoRandomBytes(9 * MiB + i * 4097, 40 + i));
    big.forEach((bytes, i) => write(repo, `data/big-${i}.bin`, bytes));
    // Over the hashing pool's threshold (1,000 files to read), so the large files go through worker threads.
    for (let i = 0; i < 1100; i++) write(repo, `data/small/${i}.txt`, `small ${i}\n`);
    await run(repo, ['config', 'core.jobs', '2']);
    await settle();
    const shim = cpShim('exec');
    await run(repo, ['add', 'data'], shim.env);
    expect(shim.calls().length, 'one cp per large file').toBe(3);
    expectCacheVerified(repo);
    expect(cacheTemps(repo)).toEqual([]);
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', 'data']);
    fs.rmSync(path.join(repo, 'data'), { recursive: true });
    await run(repo, ['checkout'], shim.env);
    expect(shim.calls().length, 'and one per large file placed').toBe(6);
    big.forEach((bytes, i) => expect(fs.readFileSync(path.join(repo, `data/big-${i}.bin`)).equals(bytes), `big-${i}`).toBe(true));
    expect(fs.readFileSync(path.join(repo, 'data/small/7.txt'), 'utf8')).toBe('small 7\n');
    expect(cacheTemps(repo)).toEqual([]);
  });

  it('a cp whose copy differs from the object: checkout redoes it through mlv and places the right bytes; the cache is not blamed', async () => {
    const repo = await initRepoAsync();
    const bytes = pseudoRandomBytes(12 * MiB, 44);
    write(repo, 'model.bin', bytes);
    await run(repo, ['add', 'model.bin'], { MLV_KERNEL_COPY: '0' });
    await run(repo, ['config', 'core.link', 'copy']);
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', 'model']);
    fs.rmSync(path.join(repo, 'model.bin'));
    const shim = cpShim('wrong');
    const r = await run(repo, ['checkout'], shim.env);
    expect(shim.calls().length, 'the wrong cp ran').toBe(1);
    expect(r.stderr).not.toMatch(/corrupt/);
    expect(fs.readFileSync(path.join(repo, 'model.bin')).equals(bytes)).toBe(true);
    expect(expectCacheVerified(repo)).toBe(1);
    expect(fs.readdirSync(repo).filter((n) => n.startsWith('.mlv-tmp'))).toEqual([]);
  });

  it('a hashing thread that fails while another copies: the copy is killed and its temp removed, nothing is written later', async () => {
    const repo = await initRepoAsync();
    write(repo, 'data/a-big.bin', pseudoRandomBytes(30 * MiB, 46));
    for (let i = 0; i < 1100; i++) write(repo, `data/small/${i}.txt`, `small ${i}\n`);
    await run(repo, ['config', 'core.jobs', '2']);
    await settle();
    const shim = cpShim('slow-after-rm');
    const r = await mlvAsync(repo, ['add', 'data'], { ...shim.env, RM_BEFORE_COPY: path.join(repo, 'data', 'small') });
    expect(shim.calls().length, 'the slow cp started').toBe(1);
    expectCleanError(r, 2, /disappeared/);
    expect(cacheTemps(repo)).toEqual([]);
    // The killed cp would have written its copy 3 s after it started.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect(cacheTemps(repo), 'no late copy').toEqual([]);
    expect(cacheIds(repo)).toEqual([]);
  });

  it('MLV_KERNEL_COPY=0: no cp runs, the bytes are the same', async () => {
    const repo = await initRepoAsync();
    const bytes = pseudoRandomBytes(9 * MiB, 45);
    write(repo, 'model.bin', bytes);
    await settle();
    const shim = cpShim('exec');
    await run(repo, ['add', 'model.bin'], { ...shim.env, MLV_KERNEL_COPY: '0' });
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', 'model']);
    fs.rmSync(path.join(repo, 'model.bin'));
    await run(repo, ['checkout'], { ...shim.env, MLV_KERNEL_COPY: '0' });
    expect(shim.calls()).toEqual([]);
    expect(fs.readFileSync(path.join(repo, 'model.bin')).equals(bytes)).toBe(true);
    expect(blake3Hex(bytes)).toBe(fs.readFileSync(path.join(repo, 'model.bin.mlv'), 'utf8').match(/[0-9a-f]{64}/)![0]);
  });
});

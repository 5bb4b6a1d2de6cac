/**
 * Reliability, groups 8-10 of "Bad inputs and faults" (/shared/reference/reliability.md): the
 * workspace itself is hostile or holds unsaved work.
 *
 *   8. symbolic links on the way to a target (`data -> ../outside`), a target that is a symbolic
 *      link or a hard link to a file outside the repository;
 *   9. modified unsaved files at a checkout target, untracked files inside a tracked folder;
 *  10. a target that is a cache object itself.
 *
 * Each project has a canary folder `outside/` beside the repository; nothing in it may change.
 * Cases already covered elsewhere (not repeated here):
 *   test/cli/add.test.ts        'a symbolic link as the target, or a path reached through one',
 *                               'a folder containing a symbolic link', '.git, .mlv and paths inside them'
 *   test/cli/checkout.test.ts   'never writes through a symbolic link in the parent path of a target',
 *                               'a symbolic link inside a tracked folder: refused, then removed by --force',
 *                               'a tracked folder replaced by a link to elsewhere: refused; --force removes only the link',
 *                               'a modified file and an extra untracked file: exit 4, nothing changes',
 *                               'a modified single-file target is a conflict too',
 *                               '--force replaces them and saves what it replaced in the cache',
 *                               'regular files whose names mlv cannot track are never deleted unsaved, even with --force'
 *   test/cli/history.test.ts    'refuses an output inside .mlv, .git or a tracked target (exit 2), writing nothing'
 *   test/cli/status.test.ts     'detects a same-size change whose mtime was restored (ctime changed)'
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCleanError, mlvAsync, mlvJsonAsync, settle } from '../helpers/assert.js';
import { git } from '../helpers/cli.js';
import { type Project, PROJECT_FILES, expectListedError, expectUnchanged, fullState, listAll, objectOf, put, trackedProject } from './helpers.js';

const log = (...args: unknown[]) => {
  if (process.env.MLV_REL_LOG) console.log(...args);
};
const project = () => trackedProject(mlvAsync);
const state = (p: Project) => fullState(p.repo, { remote: p.store, outside: [p.canary], git: true });
const read = (p: Project, rel: string) => fs.readFileSync(path.join(p.repo, ...rel.split('/')), 'utf8');
const rm = (p: Project, rel: string) => fs.rmSync(path.join(p.repo, ...rel.split('/')), { recursive: true, force: true });
const inCache = (p: Project, text: string) => fs.existsSync(path.join(p.repo, '.mlv', 'cache', objectOf(text).rel));

describe.concurrent('group 8: symbolic and hard links on the way to a target, or as the target', () => {
  it('add through an intermediate link (data2 -> ../outside) or of a link to outside: refused (exit 2), nothing changed', async () => {
    const p = await project();
    fs.symlinkSync('../outside', path.join(p.repo, 'data2'));
    fs.symlinkSync('../outside/victim.bin', path.join(p.repo, 'victim.bin'));
    const before = state(p);
    for (const args of [['add', 'data2/victim.bin'], ['add', 'data2/sub'], ['add', 'data2'], ['add', 'victim.bin']]) {
      const r = await mlvAsync(p.repo, args);
      log(args.join(' '), r.code, r.stderr);
      expectCleanError(r, 2, /symbolic link/);
      expectUnchanged(before, state(p), `mlv ${args.join(' ')}`);
    }
  });

  it('pull and checkout of a target below a linked folder (nested -> ../outside/nested): refused (exit 2), with and without --force; outside untouched', async () => {
    const p = await project();
    put(p.repo, 'nested/m.bin', 'nested model\n');
    await settle();
    for (const args of [['add', 'nested/m.bin'], ['push']]) expect((await mlvAsync(p.repo, args)).code).toBe(0);
    // The folder moves outside and a link takes its place; the data file is gone, the pointer stays.
    fs.renameSync(path.join(p.repo, 'nested'), path.join(p.canary, 'nested'));
    fs.rmSync(path.join(p.canary, 'nested', 'm.bin'));
    fs.symlinkSync('../outside/nested', path.join(p.repo, 'nested'));
    const before = state(p);
    for (const args of [['pull', 'nested/m.bin'], ['pull', '--force', 'nested/m.bin'], ['checkout', 'nested/m.bin'], ['checkout', '--force', 'nested/m.bin'], ['checkout', 'nested/m.bin.mlv']]) {
      const r = await mlvAsync(p.repo, args);
      log(args.join(' '), r.code, r.stdout, r.stderr);
      expectCleanError(r, 2, /symbolic link/);
      expectUnchanged(before, state(p), `mlv ${args.join(' ')}`);
    }
    // Without arguments: pointers behind the link are not discovered, nothing is written there.
    for (const args of [['checkout'], ['pull']]) {
      const r = await mlvJsonAsync(p.repo, args);
      expect(r.code, r.stderr).toBe(0);
      const targets = (args[0] === 'pull' ? r.json.checkout : r.json).targets.map((t: any) => t.path);
      expect(targets.sort()).toEqual(['data', 'model.bin', 'tool.sh']);
      expectUnchanged(before, state(p), `mlv ${args.join(' ')}`);
    }
  });

  it('a subfolder of a tracked folder replaced by a link to outside (data/sub -> ../../outside/sub): checkout and pull refuse (exit 4); --force removes only the link', async () => {
    const p = await project();
    rm(p, 'data/sub');
    fs.symlinkSync('../../outside/sub', path.join(p.repo, 'data', 'sub'));
    const before = state(p);
    for (const args of [['checkout'], ['pull']]) {
      const r = await mlvAsync(p.repo, args);
      log(args.join(' '), r.code, r.stdout, r.stderr);
      expectListedError(r, [4], /data\/sub \(symbolic link\)/);
      expectUnchanged(before, state(p), `mlv ${args.join(' ')}`);
    }
    const outside = listAll(p.canary);
    const f = await mlvJsonAsync(p.repo, ['checkout', '--force']);
    expect(f.code, f.stderr).toBe(0);
    expect(f.json.removedLinks).toEqual(['data/sub']);
    expect(fs.lstatSync(path.join(p.repo, 'data', 'sub')).isDirectory()).toBe(true);
    expect(read(p, 'data/sub/c.sh')).toBe(PROJECT_FILES['data/sub/c.sh']!.text);
    expect(listAll(p.canary)).toEqual(outside);
  });

  /*
   * docs/history.md: the output of get "may not be inside .git, .mlv or a tracked target". A link
   * inside the repository leading there must not get around that (tool.sh is executable: written
   * as .git/hooks/post-checkout it would run on the next git checkout). mlv checks where the path
   * really leads, links followed.
   */
  const getThroughLink = [
    { label: '.git (gitlink -> .git, -o gitlink/hooks/post-checkout)', link: 'gitlink', to: '.git', out: 'gitlink/hooks/post-checkout' },
    { label: '.mlv/cache (cachelink -> .mlv/cache, -o cachelink/zz)', link: 'cachelink', to: '.mlv/cache', out: 'cachelink/zz' },
    { label: 'a tracked folder (datalink -> data, -o datalink/x.sh)', link: 'datalink', to: 'data', out: 'datalink/x.sh' },
  ];
  it.each(getThroughLink)('get -o through a link into $label is refused (exit 2), nothing written there', async (c) => {
    const p = await project();
    fs.symlinkSync(c.to, path.join(p.repo, c.link));
    const before = state(p);
    const r = await mlvAsync(p.repo, ['get', '--rev', 'HEAD', 'tool.sh', '-o', c.out]);
    log('get -o', c.out, r.code, r.stdout, r.stderr);
    expect(fs.existsSync(path.join(p.repo, c.out)), `mlv get wrote ${c.out} through a link`).toBe(false);
    expectCleanError(r, 2, /inside|tracked/);
    expectUnchanged(before, state(p), `mlv get -o ${c.out}`);
  });

  it('a target that is a link to a file outside: checkout and pull refuse (exit 4); --force only unlinks it; the outside file keeps its bytes', async () => {
    const p = await project();
    rm(p, 'model.bin');
    fs.symlinkSync('../outside/victim.bin', path.join(p.repo, 'model.bin'));
    const before = state(p);
    for (const args of [['checkout'], ['checkout', 'model.bin'], ['pull', 'model.bin']]) {
      const r = await mlvAsync(p.repo, args);
      log(args.join(' '), r.code, r.stdout, r.stderr);
      expectListedError(r, [4], /model\.bin \(symbolic link\)/);
      expectUnchanged(before, state(p), `mlv ${args.join(' ')}`);
    }
    const f = await mlvJsonAsync(p.repo, ['checkout', '--force', 'model.bin']);
    expect(f.code, f.stderr).toBe(0);
    expect(f.json.removedLinks).toEqual(['model.bin']);
    expect(fs.lstatSync(path.join(p.repo, 'model.bin')).isFile()).toBe(true);
    expect(read(p, 'model.bin')).toBe(PROJECT_FILES['model.bin']!.text);
    expect(fs.readFileSync(path.join(p.canary, 'victim.bin'), 'utf8')).toBe('outside data: must never change\n');
  });

  it('a target that is a hard link to a file outside (unsaved content): refused (exit 4); --force saves it first, then replaces the link, never writing into the outside file', async () => {
    const p = await project();
    rm(p, 'model.bin');
    fs.linkSync(path.join(p.canary, 'victim.bin'), path.join(p.repo, 'model.bin'));
    await settle();
    const before = state(p);
    for (const args of [['checkout'], ['pull']]) {
      const r = await mlvAsync(p.repo, args);
      log(args.join(' '), r.code, r.stdout, r.stderr);
      expectListedError(r, [4], /model\.bin \(modified\)/);
      expectUnchanged(before, state(p), `mlv ${args.join(' ')}`);
    }
    const victim = listAll(path.join(p.canary, 'victim.bin'));
    const f = await mlvJsonAsync(p.repo, ['checkout', '--force', 'model.bin']);
    expect(f.code, f.stderr).toBe(0);
    const saved = objectOf('outside data: must never change\n');
    expect(f.json.saved).toEqual([{ path: 'model.bin', id: saved.id, object: `.mlv/cache/${saved.rel}` }]);
    expect(read(p, 'model.bin')).toBe(PROJECT_FILES['model.bin']!.text);
    expect(fs.statSync(path.join(p.repo, 'model.bin')).ino).not.toBe(fs.statSync(path.join(p.canary, 'victim.bin')).ino);
    expect(listAll(path.join(p.canary, 'victim.bin')), 'the outside file changed (written through the hard link?)').toEqual({ '': victim[''] });
  });

  it('a hard link to an outside copy without the exec bit at an executable target: checkout sets the bit on a new file, not on the outside one', async () => {
    const p = await project();
    rm(p, 'tool.sh');
    fs.linkSync(path.join(p.canary, 'tool-copy.sh'), path.join(p.repo, 'tool.sh'));
    await settle();
    const outside = listAll(p.canary);
    const r = await mlvJsonAsync(p.repo, ['checkout', 'tool.sh']);
    log('checkout tool.sh', r.code, JSON.stringify(r.json), r.stderr);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.statSync(path.join(p.repo, 'tool.sh')).mode & 0o100).toBe(0o100);
    expect(listAll(p.canary), 'the outside file changed mode or bytes').toEqual(outside);
  });

  it('add of a hard link to an outside file: the outside file keeps its bytes and mode, and editing it later does not touch the cache', async () => {
    const p = await project();
    fs.linkSync(path.join(p.canary, 'victim.bin'), path.join(p.repo, 'linked.bin'));
    await settle();
    const outside = listAll(p.canary);
    const r = await mlvAsync(p.repo, ['add', 'linked.bin']);
    expect(r.code, r.stderr).toBe(0);
    expect(listAll(p.canary)).toEqual(outside);
    const obj = objectOf('outside data: must never change\n');
    const objPath = path.join(p.repo, '.mlv', 'cache', obj.rel);
    expect(fs.statSync(objPath).ino).not.toBe(fs.statSync(path.join(p.canary, 'victim.bin')).ino);
    fs.writeFileSync(path.join(p.canary, 'victim.bin'), 'edited outside later\n');
    expect(fs.readFileSync(objPath, 'utf8')).toBe('outside data: must never change\n');
  });
});

describe.concurrent('group 9: unsaved work at a checkout target', () => {
  it('pull with a modified file and an untracked file in the tracked folder: exit 4 after the fetch, bytes intact; pull --force saves both first', async () => {
    const p = await project();
    // Work for the fetch: an object of data missing from the cache.
    fs.rmSync(path.join(p.repo, '.mlv', 'cache', objectOf(PROJECT_FILES['data/b.txt']!.text).rel));
    rm(p, 'data/b.txt');
    put(p.repo, 'data/a.txt', 'alpha, edited and not saved\n');
    put(p.repo, 'data/notes.txt', 'my notes, never added\n');
    await settle();
    const ws = fullState(p.repo).workspace;
    const r = await mlvAsync(p.repo, ['pull']);
    log('pull', r.code, r.stdout, r.stderr);
    expectListedError(r, [4], /data\/a\.txt \(modified\).*data\/notes\.txt \(not tracked\)|data\/notes\.txt \(not tracked\).*data\/a\.txt \(modified\)/);
    expect(fullState(p.repo).workspace).toEqual(ws);
    expect(inCache(p, PROJECT_FILES['data/b.txt']!.text), 'the fetched object was not kept').toBe(true);
    const f = await mlvJsonAsync(p.repo, ['pull', '--force']);
    expect(f.code, f.stderr).toBe(0);
    expect(f.json.checkout.saved.map((s: any) => s.path).sort()).toEqual(['data/a.txt', 'data/notes.txt']);
    expect(inCache(p, 'alpha, edited and not saved\n')).toBe(true);
    expect(inCache(p, 'my notes, never added\n')).toBe(true);
    for (const rel of ['data/a.txt', 'data/b.txt', 'data/sub/c.sh']) expect(read(p, rel)).toBe(PROJECT_FILES[rel]!.text);
    expect(fs.existsSync(path.join(p.repo, 'data', 'notes.txt'))).toBe(false);
  });

  it('an edit that keeps size and mtime (ctime changes) at a file checkout must replace: still a conflict, never overwritten unsaved', async () => {
    const p = await project();
    // v2 of data/a.txt is recorded and committed; the pointer then goes back to v1.
    put(p.repo, 'data/a.txt', 'ALPHA\n');
    await settle();
    expect((await mlvAsync(p.repo, ['add', 'data'])).code).toBe(0);
    git(p.repo, ['commit', '-q', '-am', 'v2']);
    git(p.repo, ['checkout', '-q', 'HEAD~1', '--', 'data.mlv']);
    // Status once, so the stat cache knows the v2 file; then an edit with the same size and mtime.
    expect((await mlvAsync(p.repo, ['status'])).code).toBe(0);
    const file = path.join(p.repo, 'data', 'a.txt');
    const st = fs.statSync(file);
    fs.writeFileSync(file, 'aLpHa\n');
    fs.utimesSync(file, st.atime, st.mtime);
    await settle();
    const before = state(p);
    const r = await mlvAsync(p.repo, ['checkout']);
    log('checkout', r.code, r.stdout, r.stderr);
    expectCleanError(r, 4, /data\/a\.txt \(modified\)/);
    expectUnchanged(before, state(p), 'mlv checkout');
    expect(read(p, 'data/a.txt')).toBe('aLpHa\n');
  });

  it('untracked files in a new subfolder and hidden files inside a tracked folder: a conflict (exit 4), never deleted silently; --force saves them', async () => {
    const p = await project();
    put(p.repo, 'data/new/deep/notes.txt', 'deep notes\n');
    put(p.repo, 'data/.hidden', 'hidden\n');
    put(p.repo, 'data/sub/.cache-file', 'tool cache\n');
    await settle();
    const before = state(p);
    const r = await mlvAsync(p.repo, ['checkout']);
    log('checkout', r.code, r.stdout, r.stderr);
    expectCleanError(r, 4, /not tracked/);
    for (const rel of ['data/new/deep/notes.txt', 'data/.hidden', 'data/sub/.cache-file']) expect(r.stderr).toContain(`${rel} (not tracked)`);
    expectUnchanged(before, state(p), 'mlv checkout');
    const f = await mlvJsonAsync(p.repo, ['checkout', '--force']);
    expect(f.code, f.stderr).toBe(0);
    for (const text of ['deep notes\n', 'hidden\n', 'tool cache\n']) expect(inCache(p, text), text).toBe(true);
    expect(fs.existsSync(path.join(p.repo, 'data', 'new'))).toBe(false);
  });
});

describe.concurrent('group 10: a target that is a cache object itself', () => {
  it('mlv add of a cache object, of the cache, or through a link into the cache folder: refused (exit 2), nothing changed', async () => {
    const p = await project();
    const obj = objectOf(PROJECT_FILES['model.bin']!.text);
    fs.symlinkSync('.mlv/cache', path.join(p.repo, 'cachelink'));
    const before = state(p);
    for (const args of [['add', `.mlv/cache/${obj.rel}`], ['add', '.mlv/cache'], ['add', '.MLV/cache'], ['add', `cachelink/${obj.rel}`]]) {
      const r = await mlvAsync(p.repo, args);
      log(args.join(' '), r.code, r.stderr);
      expectCleanError(r, 2);
      expectUnchanged(before, state(p), `mlv ${args.join(' ')}`);
    }
  });

  it('core.link hardlink, then the workspace file (which is the cache object) edited in place: detected, never spread, the edit is recoverable, fsck and pull repair the cache', async () => {
    const p = await project();
    expect((await mlvAsync(p.repo, ['config', 'core.link', 'hardlink'])).code).toBe(0);
    rm(p, 'data');
    expect((await mlvAsync(p.repo, ['checkout', 'data'])).code).toBe(0);
    const a = objectOf(PROJECT_FILES['data/a.txt']!.text);
    const objPath = path.join(p.repo, '.mlv', 'cache', a.rel);
    const file = path.join(p.repo, 'data', 'a.txt');
    expect(fs.statSync(file).ino).toBe(fs.statSync(objPath).ino);
    // An editor that writes in place (possible for root, or after a chmod): the cache object changes too.
    fs.chmodSync(file, 0o644);
    fs.writeFileSync(file, 'alpha, edited in place\n');
    fs.chmodSync(file, 0o444);
    await settle();

    const st = await mlvJsonAsync(p.repo, ['status', 'data']);
    expect(st.json.targets[0].state).toBe('modified');
    // The edited content is not saved anywhere under its own id: checkout must not drop it.
    const before = state(p);
    const r = await mlvAsync(p.repo, ['checkout', 'data']);
    log('checkout', r.code, r.stdout, r.stderr);
    expectCleanError(r, 4, /data\/a\.txt \(modified\)/);
    expectUnchanged(before, state(p), 'mlv checkout');
    // --force saves the edit under its own id, then refuses to spread the damaged object.
    const f = await mlvJsonAsync(p.repo, ['checkout', '--force', 'data']);
    log('checkout --force', f.code, JSON.stringify(f.json), f.stderr);
    expect(f.code).toBe(6);
    const edited = objectOf('alpha, edited in place\n');
    expect(fs.readFileSync(path.join(p.repo, '.mlv', 'cache', edited.rel), 'utf8')).toBe('alpha, edited in place\n');
    expect(f.json.saved).toEqual([{ path: 'data/a.txt', id: edited.id, object: `.mlv/cache/${edited.rel}` }]);
    expect(f.json.corrupt).toEqual([{ path: 'data/a.txt', id: a.id }]);
    expect(fs.existsSync(file), 'the damaged object was written to the workspace').toBe(false);
    // fsck finds the damaged object and moves it aside; pull brings the right bytes back.
    const fsck = await mlvAsync(p.repo, ['fsck']);
    log('fsck', fsck.code, fsck.stdout, fsck.stderr);
    expect(fsck.code).toBe(6);
    expect(fsck.stdout + fsck.stderr).toContain(a.id.slice(0, 12));
    expect(fs.existsSync(objPath)).toBe(false);
    const pull = await mlvAsync(p.repo, ['pull', 'data']);
    log('pull', pull.code, pull.stdout, pull.stderr);
    expect(pull.code, pull.stderr).toBe(0);
    expect(read(p, 'data/a.txt')).toBe(PROJECT_FILES['data/a.txt']!.text);
    expect(fs.readFileSync(objPath, 'utf8')).toBe(PROJECT_FILES['data/a.txt']!.text);
  });
});

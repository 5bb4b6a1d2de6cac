/**
 * Reliability, groups 4-7 of "Bad inputs and faults" (/shared/reference/reliability.md): hostile
 * paths in tree objects and pointer files, colliding names, and trees that do not hash to their id.
 *
 * Every attack is delivered the way a malicious colleague would deliver it: a hostile tree object
 * pushed to the shared folder remote and a pointer committed in Git referencing it (or a hostile
 * pointer committed in Git). The victim clones and runs `mlv pull`, `mlv checkout`, `mlv get --rev`,
 * `mlv export`, `mlv ls -R`. Each must fail with a clear error and write nothing outside the
 * repository (a canary folder beside it, the remote), nothing into .git or .mlv, and keep nothing
 * corrupt in the cache.
 *
 * Case-insensitive file systems: when fusefat and mkfs.vfat are installed and this runs as root, a
 * FAT file system is mounted inside the victim's repository and the colliding checkout runs there
 * for real; otherwise that test is skipped with the reason logged. MLV_TEST_ASSUME_FOLDING (mlv's
 * test switch) simulates case-insensitive and Unicode-normalising file systems everywhere.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCleanError, mlvAsync, mlvJsonAsync } from '../helpers/assert.js';
import {
  type FullState,
  type HostileProject,
  type Obj,
  type RawEntry,
  blake3Hex,
  dirEntry,
  expectListedError,
  expectUnchanged,
  fileEntry,
  fileObject,
  fullState,
  hostileProject,
  listAll,
  pointerText,
  put,
  scratch,
  treeObject,
} from './helpers.js';

const PAYLOAD = fileObject('#!/bin/sh\necho pwned > /tmp/mlv-pwned\n');
const OK = fileObject('an ordinary file\n');
const log = (...args: unknown[]) => {
  if (process.env.MLV_REL_LOG) console.log(...args);
};

/** Everything beside the victim's repository: the canary folder, the remote, stray outputs. */
function around(h: HostileProject): Record<string, string> {
  return listAll(h.parent, (r) => r === 'victim' || r === 'attacker');
}

interface Snapshot {
  repo: FullState;
  around: Record<string, string>;
}
const snap = (h: HostileProject): Snapshot => ({ repo: fullState(h.victim, { git: true }), around: around(h) });
function expectSame(h: HostileProject, before: Snapshot, label: string): void {
  expectUnchanged(before.repo, fullState(h.victim, { git: true }), label);
  expect(around(h), `${label}: something changed outside the repository`).toEqual(before.around);
}

/** Every object in the cache (and incomplete/) hashes to its own name: nothing corrupt was kept. */
function expectCacheSound(repo: string): void {
  const cache = path.join(repo, '.mlv', 'cache');
  for (const rel of Object.keys(listAll(cache, (r) => r === 'tmp' || r === 'corrupt', { filesOnly: true }))) {
    const parts = rel.split('/');
    const id = parts.at(-2)! + parts.at(-1)!;
    expect(blake3Hex(fs.readFileSync(path.join(cache, rel))), `cache object ${rel}`).toBe(id);
  }
}

const BAD_NAME = /bad name|must not contain|not allowed|empty name|reserved/;
const DUPLICATE = /not sorted or contain a duplicate/;
const WRONG_ID = /hashes to|corrupt|not to its id/;

/** A project whose `data` folder is the tree `tree`; `others` are further objects on the remote. */
function dataProject(tree: Obj, others: Obj[], files = 2): HostileProject {
  return hostileProject({ 'data.mlv': pointerText({ kind: 'dir', path: 'data', id: tree.id, size: tree.size, files }) }, [tree, ...others]);
}

// ---- the hostile trees of groups 4-7, all in one attacker's repository -----------------------

interface TreeCase {
  group: number;
  label: string;
  /** The tree the pointer names, and the bytes the remote serves under its id. */
  id: string;
  bytes: Buffer;
  size: number;
  objects: Obj[];
  reason: RegExp;
}

const passwd = (() => {
  try {
    // Byte-identical to the machine's own /etc/passwd, so even a broken mlv could not damage it.
    return fileObject(fs.readFileSync('/etc/passwd'));
  } catch {
    return fileObject('root:x:0:0::/root:/bin/sh\n');
  }
})();
const hook = fileObject('#!/bin/sh\necho pwned > /tmp/mlv-pwned\n');
const hooksTree = treeObject([fileEntry('post-checkout', hook, true), fileEntry('pre-commit', hook, true)]);
const gitConfig = fileObject('[core]\n\tfsmonitor = "echo pwned > /tmp/mlv-pwned"\n');
const mlvConfig = fileObject('[core]\n\tremote = evil\n[remote "evil"]\n\turl = /tmp/evil\n');
const dotGit = treeObject([dirEntry('hooks', hooksTree), fileEntry('config', gitConfig)]);
const dotMlv = treeObject([fileEntry('config', mlvConfig), fileEntry('config.local', mlvConfig)]);
const SUPPORT = [OK, PAYLOAD, passwd, hook, hooksTree, gitConfig, mlvConfig, dotGit, dotMlv];

function treeCases(canary: string): TreeCase[] {
  const sub = treeObject([fileEntry('x', PAYLOAD)]);
  const out: TreeCase[] = [];
  const add = (group: number, label: string, entries: RawEntry[], reason: RegExp, opts: { sort?: boolean; extra?: Obj[] } = {}) => {
    const t = treeObject([fileEntry('ok.txt', OK), ...entries], { sort: opts.sort });
    out.push({ group, label, id: t.id, bytes: t.bytes, size: t.size, objects: opts.extra ?? [], reason });
  };
  // group 4: entries that leave the folder
  add(4, '../../x', [fileEntry('../../x', PAYLOAD)], BAD_NAME);
  add(4, '../outside/x (the canary beside the repository)', [fileEntry('../outside/x', PAYLOAD)], BAD_NAME);
  add(4, 'a folder named ..', [dirEntry('..', sub)], BAD_NAME, { extra: [sub] });
  add(4, '/etc/passwd', [fileEntry('/etc/passwd', passwd)], BAD_NAME);
  add(4, 'an absolute path to the canary', [fileEntry(path.join(canary, 'x'), PAYLOAD)], BAD_NAME);
  add(4, 'C:\\x', [fileEntry('C:\\x', PAYLOAD)], BAD_NAME);
  add(4, 'a\\..\\b', [fileEntry('a\\..\\b', PAYLOAD)], BAD_NAME);
  add(4, '..\\..\\x', [fileEntry('..\\..\\x', PAYLOAD)], BAD_NAME);
  add(4, 'an empty name', [fileEntry('', PAYLOAD)], BAD_NAME);
  add(4, 'a folder named .', [dirEntry('.', sub)], BAD_NAME, { extra: [sub] });
  add(4, './x', [fileEntry('./x', PAYLOAD)], BAD_NAME);
  add(4, 'a//b (an empty segment)', [fileEntry('a//b', PAYLOAD)], BAD_NAME);
  add(4, 'x/./y (a . segment)', [fileEntry('x/./y', PAYLOAD)], BAD_NAME);
  // group 5: entries aimed at .git and .mlv
  add(5, '.git/hooks/post-checkout', [dirEntry('.git', dotGit)], /reserved/);
  add(5, '.GIT/config', [dirEntry('.GIT', dotGit)], /reserved/);
  add(5, '.Git/config', [dirEntry('.Git', dotGit)], /reserved/);
  add(5, '.mlv/config', [dirEntry('.mlv', dotMlv)], /reserved/);
  add(5, '.MLV/config', [dirEntry('.MLV', dotMlv)], /reserved/);
  add(5, 'a file named .git', [fileEntry('.git', gitConfig)], /reserved/);
  // group 6: duplicates (case and normalisation collisions are legitimate names: see below)
  const other = fileObject('another a\n');
  const aDir = treeObject([fileEntry('b', PAYLOAD)]);
  add(6, 'the same name twice', [fileEntry('a', OK), fileEntry('a', other)], DUPLICATE, { extra: [other] });
  add(6, 'a file and a folder of one name (a beside a/b)', [fileEntry('a', OK), dirEntry('a', aDir)], DUPLICATE, { extra: [aDir] });
  add(6, 'entries out of order', [fileEntry('b', other), fileEntry('a', OK)], DUPLICATE, { sort: false, extra: [other] });
  // group 7: the remote serves other (valid) tree bytes under the id the pointer names
  const honest = treeObject([fileEntry('ok.txt', OK)]);
  const swapped = treeObject([fileEntry('ok.txt', OK), fileEntry('run.sh', PAYLOAD, true)]);
  out.push({ group: 7, label: 'other tree bytes under the id', id: honest.id, bytes: swapped.bytes, size: honest.size, objects: [], reason: WRONG_ID });
  return out;
}

const targetOf = (i: number) => `c${String(i + 1).padStart(2, '0')}`;

let sharedProject: { h: HostileProject; cases: TreeCase[]; before: Snapshot } | undefined;
/** One attacker's repository with every hostile tree of groups 4-7 as its own tracked folder. */
function shared(): { h: HostileProject; cases: TreeCase[]; before: Snapshot } {
  if (sharedProject) return sharedProject;
  let cases: TreeCase[] = [];
  const h = hostileProject(({ canary }) => {
    cases = treeCases(canary);
    const files: Record<string, string> = {};
    cases.forEach((c, i) => (files[`${targetOf(i)}.mlv`] = pointerText({ kind: 'dir', path: targetOf(i), id: c.id, size: c.size, files: 2 })));
    const objects = [...SUPPORT, ...cases.flatMap((c) => [{ id: c.id, bytes: c.bytes }, ...c.objects])];
    return { files, objects };
  });
  sharedProject = { h, cases, before: snap(h) };
  return sharedProject;
}

describe.concurrent('groups 4-7: hostile trees on the remote, referenced by committed pointers', () => {
  const { cases } = shared();

  it('mlv pull and mlv fetch refuse every hostile listing, each named with its reason (exit 9); checkout finds nothing to write (exit 5); nothing written anywhere', async () => {
    const { h, before } = shared();
    // What the user sees (the first 20 failures are listed, then a count).
    for (const args of [['pull'], ['checkout']]) {
      const r = await mlvAsync(h.victim, args);
      log(args.join(' '), r.code, r.stdout, r.stderr);
      expectListedError(r, args[0] === 'checkout' ? [5] : [9]);
      expect(r.stderr).toMatch(args[0] === 'checkout' ? /^not in the cache: c01 / : /^failed: c01 \(059c09a5a3e5\): .*bad name "\.\.\/\.\.\/x"/m);
      expectSame(h, before, `mlv ${args.join(' ')}`);
      expectCacheSound(h.victim);
    }
    // Every hostile listing is named with its reason.
    const fetch = await mlvJsonAsync(h.victim, ['fetch']);
    expect(fetch.code, fetch.stderr).toBe(9);
    const failed = new Map<string, string>(fetch.json.failed.map((f: { path: string; reason: string }) => [f.path, f.reason]));
    cases.forEach((c, i) => expect(failed.get(targetOf(i)), `${targetOf(i)}: ${c.label}`).toMatch(c.reason));
    expect(failed.size).toBe(cases.length);
    expectSame(h, before, 'mlv fetch --json');
    const checkout = await mlvJsonAsync(h.victim, ['checkout']);
    expect(checkout.code).toBe(5);
    expect(checkout.json.missing.map((m: { path: string }) => m.path)).toEqual(cases.map((_, i) => targetOf(i)));
    expect(checkout.json.written).toBe(0);
    expect(fs.existsSync('/tmp/mlv-pwned')).toBe(false);
    expect(listAll('/etc/passwd')).toEqual(passwdState);
  });

  const passwdState = listAll('/etc/passwd');
  it.each(cases.map((c, i) => ({ ...c, target: targetOf(i) })))('group $group, $label: get --rev, export and ls -R refuse it (exit 6, one line), nothing written', async (c) => {
    const { h, before } = shared();
    const readers = [
      ['get', '--rev', 'HEAD', c.target, '-o', path.join(h.parent, `got-${c.target}`)],
      ['export', '--rev', 'HEAD', c.target, '-o', path.join(h.parent, `${c.target}.tar`)],
      ['ls', '-R', '--rev', 'HEAD', c.target],
    ];
    for (const args of readers) {
      const r = await mlvAsync(h.victim, args);
      log(args.join(' '), r.code, r.stdout, r.stderr);
      expectCleanError(r, 6, c.reason);
    }
    expectSame(h, before, `${c.target}: get / export / ls -R`);
    expectCacheSound(h.victim);
    expect(listAll('/etc/passwd')).toEqual(passwdState);
  });

  it('a hostile name two levels down (data/mid/sub/../../../x): that listing is refused, nothing of it written; the rest of the folder arrives', async () => {
    const deep = treeObject([fileEntry('fine.txt', OK), fileEntry('../../../x', PAYLOAD)]);
    const mid = treeObject([dirEntry('sub', deep)]);
    const root = treeObject([fileEntry('ok.txt', OK), dirEntry('mid', mid)]);
    const h = dataProject(root, [mid, deep, OK, PAYLOAD]);
    const before = around(h);
    const gitBefore = fullState(h.victim, { git: true }).gitDir;
    const r = await mlvAsync(h.victim, ['pull']);
    log('pull', r.code, r.stdout, r.stderr);
    expectListedError(r, [9], /failed: data\/mid\/sub \([0-9a-f]+\): .*bad name "\.\.\/\.\.\/\.\.\/x"/);
    // Partial checkout by design: what could be verified is written, the refused listing is missing.
    expect(listAll(path.join(h.victim, 'data'))).toEqual({ 'ok.txt': expect.stringMatching(/^file 644 17 /), mid: 'dir 755' });
    expect(around(h)).toEqual(before);
    expect(fullState(h.victim, { git: true }).gitDir).toEqual(gitBefore);
    expect(Object.keys(fullState(h.victim).cache).some((c) => c.endsWith(PAYLOAD.id.slice(2)) || c.endsWith(deep.id.slice(2)))).toBe(false);
    expectCacheSound(h.victim);
    const state = snap(h);
    for (const args of [['get', '--rev', 'HEAD', 'data', '-o', path.join(h.parent, 'got')], ['export', '--rev', 'HEAD', 'data', '-o', path.join(h.parent, 'out.tar')], ['ls', '-R', '--rev', 'HEAD', 'data']]) {
      expectCleanError(await mlvAsync(h.victim, args), 6, BAD_NAME);
    }
    expectSame(h, state, 'get / export / ls -R');
  });
});

describe.concurrent('group 4: hostile pointers committed in Git (a path: value, or the pointer file name itself)', () => {
  const PATH_LINE = /escapes the repository|is not a plain file or folder name|does not match the pointer's file name/;
  const cases: Array<{ label: string; file: string; path: string; atCommit?: RegExp }> = [
    { label: 'path: "../../x"', file: 'x.mlv', path: '../../x' },
    { label: 'path: "../outside/x"', file: 'x.mlv', path: '../outside/x' },
    { label: 'path: "/etc/passwd"', file: 'x.mlv', path: '/etc/passwd' },
    { label: 'path: "C:\\x"', file: 'x.mlv', path: 'C:\\x' },
    { label: 'path: "a\\..\\b"', file: 'x.mlv', path: 'a\\..\\b' },
    { label: 'path: "" (empty)', file: 'x.mlv', path: '' },
    { label: 'path: "."', file: 'x.mlv', path: '.' },
    { label: 'path: "sub/x"', file: 'x.mlv', path: 'sub/x' },
    { label: 'file ..mlv (target ".")', file: '..mlv', path: '.' },
    { label: 'file sub/...mlv (target "sub/..")', file: 'sub/...mlv', path: '..' },
    // isomorphic-git itself refuses to list such a commit (get --rev): still exit 6, one line naming the file.
    { label: 'file a\\..\\b.mlv (a Windows traversal)', file: 'a\\..\\b.mlv', path: 'a\\..\\b', atCommit: /^error: could not read the files of commit [0-9a-f]{40} from Git: The filepath "a.\.\..b\.mlv" contains unsafe character sequences/ },
    { label: 'file C:evil.mlv (a drive letter)', file: 'C:evil.mlv', path: 'C:evil' },
  ];
  it.each(cases)('$label: invalid pointer (exit 6, naming the file and line 5) for pull, checkout and get; nothing written', async (c) => {
    const h = hostileProject(
      {
        [c.file]: pointerText({ kind: 'file', path: c.path, id: PAYLOAD.id, size: PAYLOAD.size, executable: true }),
        'good.mlv': pointerText({ kind: 'file', path: 'good', id: OK.id, size: OK.size }),
      },
      [PAYLOAD, OK],
    );
    const before = snap(h);
    const file = c.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const args of [['pull'], ['checkout'], ['get', '--rev', 'HEAD', 'good', '-o', path.join(h.parent, 'got')]]) {
      const r = await mlvAsync(h.victim, args);
      log(c.label, args.join(' '), r.code, r.stdout, r.stderr);
      if (c.atCommit && args[0] === 'get') {
        expectCleanError(r, 6, c.atCommit);
      } else {
        expectCleanError(r, 6, new RegExp(`^error: ${file}( at [0-9a-f]{12})?:5: path `));
        expect(r.stderr).toMatch(PATH_LINE);
      }
      expectSame(h, before, `mlv ${args.join(' ')}`);
    }
    expect(fs.existsSync('/tmp/mlv-pwned')).toBe(false);
  });
});

describe.concurrent('group 5: pointers aimed at .git and .mlv', () => {
  // Pointers whose own name targets .git or .mlv of the repository (or of a subfolder).
  const pointerCases: Array<{ label: string; file: string; name: string; tree: Obj }> = [
    { label: '.git.mlv -> .git/hooks/post-checkout', file: '.git.mlv', name: '.git', tree: dotGit },
    { label: '.GIT.mlv -> .GIT/config', file: '.GIT.mlv', name: '.GIT', tree: dotGit },
    { label: '.mlv.mlv -> .mlv/config', file: '.mlv.mlv', name: '.mlv', tree: dotMlv },
    { label: 'sub/.git.mlv -> sub/.git (a nested repository)', file: 'sub/.git.mlv', name: '.git', tree: dotGit },
  ];
  it.each(pointerCases)('a committed pointer $label: invalid pointer (exit 6) for every command, nothing written', async (c) => {
    const h = hostileProject(
      {
        [c.file]: pointerText({ kind: 'dir', path: c.name, id: c.tree.id, size: c.tree.size, files: 3 }),
        'good.mlv': pointerText({ kind: 'file', path: 'good', id: OK.id, size: OK.size }),
      },
      [c.tree, dotGit, hooksTree, hook, gitConfig, dotMlv, mlvConfig, OK],
    );
    const before = snap(h);
    const line = new RegExp(`${c.file.replace(/\./g, '\\.')}( at [0-9a-f]{12})?:5: path "${c.name.replace(/\./g, '\\.')}" is not a plain file or folder name: .*reserved`);
    for (const args of [['pull'], ['checkout'], ['push'], ['ls', '-R', '--rev', 'HEAD'], ['get', '--rev', 'HEAD', 'good', '-o', path.join(h.parent, 'got')]]) {
      const r = await mlvAsync(h.victim, args);
      log(args.join(' '), r.code, r.stdout, r.stderr);
      expectCleanError(r, 6, line);
      expectSame(h, before, `mlv ${args.join(' ')}`);
    }
    const st = await mlvJsonAsync(h.victim, ['status']);
    expect(st.code).toBe(0);
    expect(st.json.targets.find((t: any) => t.pointer === c.file)).toMatchObject({ state: 'invalid' });
    expectSame(h, before, 'mlv status');
  });

  it('pointers committed inside .mlv (and .MLV) are never acted on; naming them is refused', async () => {
    const local = fileObject('[core]\n\tremote = evil\n');
    const h = hostileProject(
      {
        '.mlv/config.local.mlv': pointerText({ kind: 'file', path: 'config.local', id: local.id, size: local.size }),
        '.mlv/cache.mlv': pointerText({ kind: 'dir', path: 'cache', id: dotMlv.id, size: dotMlv.size, files: 2 }),
        '.MLV/config.mlv': pointerText({ kind: 'file', path: 'config', id: mlvConfig.id, size: mlvConfig.size }),
        'good.mlv': pointerText({ kind: 'file', path: 'good', id: OK.id, size: OK.size }),
      },
      [local, dotMlv, mlvConfig, OK],
    );
    const pull = await mlvJsonAsync(h.victim, ['pull']);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.json.checkout.targets.map((t: any) => t.path)).toEqual(['good']);
    expect(fs.readFileSync(path.join(h.victim, 'good'), 'utf8')).toBe('an ordinary file\n');
    expect(fs.existsSync(path.join(h.victim, '.mlv', 'config.local'))).toBe(false);
    expect(fs.existsSync(path.join(h.victim, '.MLV', 'config'))).toBe(false);
    expect(fs.readFileSync(path.join(h.victim, '.mlv', 'config'), 'utf8')).toBe(fs.readFileSync(path.join(h.attacker, '.mlv', 'config'), 'utf8'));
    const before = snap(h);
    for (const args of [['checkout', '.mlv/config.local'], ['checkout', '.mlv/cache'], ['checkout', '.MLV/config'], ['pull', '.mlv/cache'], ['get', '--rev', 'HEAD', '.mlv/config.local', '-o', path.join(h.parent, 'got')], ['ls', '--rev', 'HEAD', '.mlv/cache']]) {
      const r = await mlvAsync(h.victim, args);
      log(args.join(' '), r.code, r.stdout, r.stderr);
      expectCleanError(r, 2, /\.mlv|\.MLV/);
      expectSame(h, before, `mlv ${args.join(' ')}`);
    }
    const ls = await mlvJsonAsync(h.victim, ['ls', '-R', '--rev', 'HEAD']);
    expect(ls.json.entries.map((e: any) => e.path)).toEqual(['good']);
  });
});

describe.concurrent('group 6: colliding entries', () => {
  const upper = fileObject('upper-case A\n');
  const lower = fileObject('lower-case a\n');
  const nfc = fileObject('NFC café\n');
  const nfd = fileObject('NFD café\n');
  const subUpper = treeObject([fileEntry('f.txt', upper)]);
  const subLower = treeObject([fileEntry('f.txt', lower)]);
  const NFC = 'caf\u00e9.txt';
  const NFD = 'cafe\u0301.txt';
  const colliding = treeObject([fileEntry('A', upper), fileEntry('a', lower), fileEntry(NFC, nfc), fileEntry(NFD, nfd), dirEntry('Sub', subUpper), dirEntry('sub', subLower)]);
  const objects = [upper, lower, nfc, nfd, subUpper, subLower];
  const expected = new Map([
    ['A', upper],
    ['a', lower],
    [NFC, nfc],
    [NFD, nfd],
    ['Sub/f.txt', upper],
    ['sub/f.txt', lower],
  ]);

  it('A and a, NFC and NFD forms, Sub/ and sub/ on this case-sensitive, non-normalising file system: all distinct, all checked out', async () => {
    const h = dataProject(colliding, objects, 6);
    const before = around(h);
    const pull = await mlvJsonAsync(h.victim, ['pull']);
    expect(pull.code, pull.stderr).toBe(0);
    for (const [rel, obj] of expected) expect(fs.readFileSync(path.join(h.victim, 'data', ...rel.split('/'))), rel).toEqual(obj.bytes);
    expect(fs.readdirSync(path.join(h.victim, 'data')).sort()).toEqual(['A', 'Sub', 'a', 'sub', NFD, NFC].sort());
    expect((await mlvJsonAsync(h.victim, ['status'])).json.clean).toBe(true);
    const got = path.join(h.parent, 'got');
    expect((await mlvAsync(h.victim, ['get', '--rev', 'HEAD', 'data', '-o', got])).code).toBe(0);
    for (const [rel, obj] of expected) expect(fs.readFileSync(path.join(got, ...rel.split('/'))), rel).toEqual(obj.bytes);
    fs.rmSync(got, { recursive: true });
    expect(around(h)).toEqual(before);
  });

  for (const folding of ['case', 'nfc']) {
    it(`simulated ${folding === 'case' ? 'case-insensitive' : 'Unicode-normalising'} file system (MLV_TEST_ASSUME_FOLDING=${folding}): checkout and get refuse the collision, nothing written`, async () => {
      const h = dataProject(colliding, objects, 6);
      const env = { MLV_TEST_ASSUME_FOLDING: folding };
      const fetch = await mlvAsync(h.victim, ['fetch'], env);
      expect(fetch.code, fetch.stderr).toBe(0);
      const before = snap(h);
      const pair = folding === 'case' ? /data\/(A|Sub|a|sub)\b.* and data\/(a|sub|A|Sub)\b/ : /data\/caf\S+\.txt and data\/caf\S+\.txt/;
      for (const args of [['checkout'], ['checkout', '--force'], ['pull'], ['get', '--rev', 'HEAD', 'data', '-o', path.join(h.parent, 'got')]]) {
        const r = await mlvAsync(h.victim, args, env);
        log(args.join(' '), r.code, r.stdout, r.stderr);
        expectListedError(r, [4], /would be the same file/);
        expect(r.stderr.split('\n').find((l) => l.startsWith('error:')), r.stderr).toMatch(args[0] === 'get' ? /would be the same file/ : pair);
        expectSame(h, before, `mlv ${args.join(' ')}`);
      }
    });
  }

  it('a case-insensitive file system (FAT via fusefat, mounted inside the repository): checkout refuses A/a, overwrites nothing', async (ctx) => {
    const why = fatUnavailable();
    if (why) {
      console.log(`skipped: no case-insensitive file system here: ${why}`);
      ctx.skip();
      return;
    }
    const ascii = treeObject([fileEntry('A', upper), fileEntry('a', lower), fileEntry('ok.txt', OK)]);
    const h = hostileProject({ 'mnt/data.mlv': pointerText({ kind: 'dir', path: 'data', id: ascii.id, size: ascii.size, files: 3 }) }, [ascii, upper, lower, OK]);
    const mnt = path.join(h.victim, 'mnt');
    const pointer = fs.readFileSync(path.join(mnt, 'data.mlv'));
    const image = path.join(scratch('mlv-fat-'), 'fat.img');
    fs.rmSync(path.join(mnt, 'data.mlv'));
    const mounted = mountFat(image, mnt);
    if (typeof mounted === 'string') {
      console.log(`skipped: could not mount a FAT file system: ${mounted}`);
      ctx.skip();
      return;
    }
    try {
      fs.writeFileSync(path.join(mnt, 'data.mlv'), pointer);
      // Sanity: this file system really is case-insensitive.
      fs.writeFileSync(path.join(mnt, 'Probe'), 'x');
      expect(fs.existsSync(path.join(mnt, 'pROBE'))).toBe(true);
      fs.rmSync(path.join(mnt, 'Probe'));
      const fetch = await mlvAsync(h.victim, ['fetch']);
      expect(fetch.code, fetch.stderr).toBe(0);
      let before = snap(h);
      for (const args of [['checkout'], ['pull'], ['checkout', '--force']]) {
        const r = await mlvAsync(h.victim, args);
        log(args.join(' '), r.code, r.stdout, r.stderr);
        expectListedError(r, [4], /mnt\/data\/A and mnt\/data\/a would be the same file on this case-insensitive file system/);
        expectSame(h, before, `mlv ${args.join(' ')}`);
        expect(fs.readdirSync(mnt)).toEqual(['data.mlv']);
      }
      // The file `a` is already there, with content the cache holds: checkout must not write A over it.
      fs.mkdirSync(path.join(mnt, 'data'));
      fs.writeFileSync(path.join(mnt, 'data', 'a'), lower.bytes);
      before = snap(h);
      const r = await mlvAsync(h.victim, ['checkout']);
      expectListedError(r, [4], /would be the same file/);
      expectSame(h, before, 'mlv checkout over an existing a');
      expect(fs.readFileSync(path.join(mnt, 'data', 'a'))).toEqual(lower.bytes);
      // get into a folder on that file system refuses too.
      const out = path.join(mnt, 'got');
      const g = await mlvAsync(h.victim, ['get', '--rev', 'HEAD', 'mnt/data', '-o', out]);
      expectListedError(g, [4], /would be the same file/);
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      unmount(mnt);
    }
  });

  it('a beside a/b across pointers (a.mlv is a file, a/b.mlv inside it): checkout refuses (exit 4), the pointer a/b.mlv survives', async () => {
    const h = hostileProject(
      {
        'a.mlv': pointerText({ kind: 'file', path: 'a', id: OK.id, size: OK.size }),
        'a/b.mlv': pointerText({ kind: 'file', path: 'b', id: PAYLOAD.id, size: PAYLOAD.size }),
      },
      [OK, PAYLOAD],
    );
    const fetch = await mlvAsync(h.victim, ['fetch']);
    expect(fetch.code, fetch.stderr).toBe(0);
    const before = snap(h);
    for (const args of [['checkout'], ['pull']]) {
      const r = await mlvAsync(h.victim, args);
      log(args.join(' '), r.code, r.stdout, r.stderr);
      expectListedError(r, [4], /a\/b\.mlv \(not tracked\)/);
      expectSame(h, before, `mlv ${args.join(' ')}`);
    }
  });
});

describe.concurrent('group 7: a tree whose bytes do not hash to its id', () => {

  it('a subfolder tree swapped on the remote: the folder above it is not stored, no file from the swapped listing arrives', async () => {
    const honestSub = treeObject([fileEntry('x.txt', OK)]);
    const evilSub = treeObject([fileEntry('x.txt', OK), fileEntry('run.sh', PAYLOAD, true)]);
    const root = treeObject([fileEntry('top.txt', OK), dirEntry('sub', honestSub)]);
    const h = hostileProject({ 'data.mlv': pointerText({ kind: 'dir', path: 'data', id: root.id, size: root.size, files: 2 }) }, [root, { id: honestSub.id, bytes: evilSub.bytes }, OK, PAYLOAD]);
    const r = await mlvAsync(h.victim, ['pull']);
    log('pull', r.code, r.stdout, r.stderr);
    expectListedError(r, [9], /data\/sub .*(hashes to|corrupt|not to its id)/);
    expectCacheSound(h.victim);
    const cache = Object.keys(fullState(h.victim).cache);
    const complete = (id: string) => `${id.slice(0, 2)}/${id.slice(2)}`;
    expect(cache, 'the root tree is complete in the cache although a listing below it was refused').not.toContain(complete(root.id));
    expect(cache.some((c) => c.endsWith(honestSub.id.slice(2))), 'the swapped listing was kept').toBe(false);
    expect(cache.some((c) => c.endsWith(PAYLOAD.id.slice(2))), 'a file named only by the swapped listing arrived').toBe(false);
    expect(fs.existsSync(path.join(h.victim, 'data', 'sub', 'run.sh'))).toBe(false);
    expect(fs.readdirSync(h.parent).sort()).toEqual(['attacker', 'outside', 'store', 'victim']);
  });

  it('in the local cache (complete or incomplete/): checkout, get, export and ls -R refuse it (exit 6), nothing written', async () => {
    for (const where of ['cache', 'incomplete']) {
      const honest = treeObject([fileEntry('ok.txt', OK)]);
      const swapped = treeObject([fileEntry('ok.txt', OK), fileEntry('run.sh', PAYLOAD, true)]);
      const h = hostileProject({ 'data.mlv': pointerText({ kind: 'dir', path: 'data', id: honest.id, size: honest.size, files: 1 }) }, []);
      const cacheRoot = path.join(h.victim, '.mlv', 'cache', ...(where === 'incomplete' ? ['incomplete'] : []));
      for (const o of [OK, PAYLOAD]) put(path.join(h.victim, '.mlv', 'cache'), `${o.id.slice(0, 2)}/${o.id.slice(2)}`, o.bytes, 0o444);
      put(cacheRoot, `${honest.id.slice(0, 2)}/${honest.id.slice(2)}`, swapped.bytes, 0o444);
      const before = snap(h);
      const commands =
        where === 'cache'
          ? [['checkout'], ['checkout', '--force'], ['get', '--rev', 'HEAD', 'data', '-o', path.join(h.parent, 'got')], ['export', '--rev', 'HEAD', 'data', '-o', path.join(h.parent, 'out.tar')], ['ls', '-R', 'data']]
          : [['checkout'], ['ls', '-R', '--rev', 'HEAD', 'data']];
      for (const args of commands) {
        const r = await mlvAsync(h.victim, args);
        log(where, args.join(' '), r.code, r.stdout, r.stderr);
        expectCleanError(r, 6, /corrupt|hashes to|not to its id/);
        expectSame(h, before, `${where}: mlv ${args.join(' ')}`);
      }
    }
  });
});

// ---- a real case-insensitive file system ----------------------------------------------------

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function fatUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not running as root';
  if (!fs.existsSync('/dev/fuse')) return 'no /dev/fuse';
  for (const cmd of ['fusefat', 'mkfs.vfat', 'umount']) if (!have(cmd)) return `${cmd} is not installed (apt-get install fusefat dosfstools)`;
  return undefined;
}

function mountFat(image: string, at: string): true | string {
  fs.writeFileSync(image, Buffer.alloc(0));
  fs.truncateSync(image, 16 * 1024 * 1024);
  const mk = spawnSync('mkfs.vfat', [image], { encoding: 'utf8' });
  if (mk.status !== 0) return `mkfs.vfat: ${mk.stderr.trim()}`;
  const m = spawnSync('fusefat', ['-o', 'rw+', image, at], { encoding: 'utf8' });
  if (m.status !== 0) return `fusefat: ${m.stderr.trim()}`;
  for (let i = 0; i < 50; i++) {
    const mounts = fs.readFileSync('/proc/mounts', 'utf8');
    if (mounts.split('\n').some((l) => l.split(' ')[1] === at)) return true;
    spawnSync('sleep', ['0.05']);
  }
  return 'the mount did not appear in /proc/mounts';
}

function unmount(at: string): void {
  for (let i = 0; i < 20; i++) {
    if (spawnSync('umount', [at]).status === 0) return;
    spawnSync('sleep', ['0.1']);
  }
  spawnSync('umount', ['-l', at]);
}


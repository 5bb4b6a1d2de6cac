/**
 * Reliability, groups 1-3 of "Bad inputs and faults" (/shared/reference/reliability.md): pointer
 * files with a bad hash, a bad size, or bad text (CRLF, BOM, NUL, duplicate or unknown keys,
 * trailing junk, a huge pointer), through every command that reads pointers.
 *
 * Each case breaks `data.mlv` (a tracked folder) and commits it, so the bad pointer is both in the
 * working tree and at HEAD. The project is set up so that every command would have work to do:
 * `model.bin` is deleted from the workspace (checkout would restore it), one object of `data` is
 * missing from the cache (fetch would download it), and model.bin's object is missing from the
 * remote (push would upload it). Every command must stop before doing any of it: exit 6, one
 * `error: data.mlv:<line>: ...` line (`data.mlv at <commit>:<line>` at a revision), a hint, no
 * stack trace; the workspace, cache, remote, Git index and pointers unchanged. `mlv status`
 * reports the pointer as invalid (naming file and line) and carries on with the other targets.
 *
 * The unit tests of the parser itself are test/core/pointer.test.ts (every rule, with its line
 * number) and test/core/fuzz.test.ts (random and mutated texts); test/cli/status.test.ts covers
 * status with a few invalid pointers. This file checks what reaches the user through the CLI.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { git } from '../helpers/cli.js';
import { expectCleanError, mlvAsync, mlvJsonAsync } from '../helpers/assert.js';
import { type FullState, PROJECT_FILES, blake3Hex, expectListedError, expectUnchanged, fullState, trackedProject } from './helpers.js';

const log = (...args: unknown[]) => {
  if (process.env.MLV_REL_LOG) console.log(...args);
};

const MODEL = Buffer.from(PROJECT_FILES['model.bin']!.text);
const C_SH = PROJECT_FILES['data/sub/c.sh']!.text;

interface Broken {
  /** The folder holding repo/ and store/ (outputs of get and export go here). */
  parent: string;
  repo: string;
  store: string;
}

/** The good text of data.mlv and model.bin.mlv (the same in every copy of the project). */
let goodTexts: Promise<{ data: string; model: string }> | undefined;
function good(): Promise<{ data: string; model: string }> {
  goodTexts ??= trackedProject(mlvAsync).then((p) => ({
    data: fs.readFileSync(path.join(p.repo, 'data.mlv'), 'utf8'),
    model: fs.readFileSync(path.join(p.repo, 'model.bin.mlv'), 'utf8'),
  }));
  return goodTexts;
}

const objRel = (id: string) => `${id.slice(0, 2)}/${id.slice(2)}`;

/**
 * A copy of the project of helpers.trackedProject (own remote), with `pointer` (`data.mlv` or
 * `model.bin.mlv`) replaced by `bad` and committed, and work left for every command (see the file
 * comment).
 */
async function brokenProject(bad: string | Buffer, pointer = 'data.mlv'): Promise<Broken> {
  const p = await trackedProject(mlvAsync);
  fs.writeFileSync(path.join(p.repo, pointer), bad);
  git(p.repo, ['commit', '-q', '-a', '-m', 'bad pointer']); // with the copy's own remote in .mlv/config
  fs.rmSync(path.join(p.repo, 'model.bin'));
  fs.rmSync(path.join(p.repo, '.mlv', 'cache', objRel(blake3Hex(Buffer.from(C_SH)))));
  fs.rmSync(path.join(p.store, objRel(blake3Hex(MODEL))));
  return { parent: p.root, repo: p.repo, store: p.store };
}

const state = (p: Broken): FullState => fullState(p.repo, { remote: p.store });

/** The commands that read the working tree's pointers, and how each must fail. */
const WORKSPACE_COMMANDS = {
  checkout: ['checkout'],
  pull: ['pull'],
  fetch: ['fetch'],
  push: ['push'],
  ls: ['ls', '-R'],
  diff: ['diff'],
} as const;
/** The commands that read pointers at a revision (the bad pointer is committed at HEAD). */
const REVISION_COMMANDS = (p: Broken) => ({
  'ls --rev': ['ls', '-R', '--rev', 'HEAD'],
  'get --rev': ['get', '--rev', 'HEAD', 'model.bin', '-o', path.join(p.parent, 'got')],
  'diff revs': ['diff', 'HEAD~1', 'HEAD'],
  'export --rev': ['export', '--rev', 'HEAD', 'model.bin', '-o', path.join(p.parent, 'out.tar')],
});

interface Case {
  group: number;
  label: string;
  /** Builds the bad text from the good text of data.mlv. */
  make: (good: string) => string | Buffer;
  /** The line the error must name, and what it must say. */
  line: number;
  says: RegExp;
  /** Run every command (else status, checkout, pull, push and one revision command). */
  full?: boolean;
}

const onLine = (text: string, key: string, value: string) => text.replace(new RegExp(`^${key}: .*$`, 'm'), `${key}: ${value}`);
const ID = (good: string) => /^id: ([0-9a-f]{64})$/m.exec(good)![1]!;

const CASES: Case[] = [
  // group 1: the hash
  { group: 1, label: 'id of 63 hex digits', make: (g) => onLine(g, 'id', ID(g).slice(0, 63)), line: 6, says: /malformed id/, full: true },
  { group: 1, label: 'id of 65 hex digits', make: (g) => onLine(g, 'id', ID(g) + 'a'), line: 6, says: /malformed id/ },
  { group: 1, label: 'id in upper case', make: (g) => onLine(g, 'id', ID(g).toUpperCase()), line: 6, says: /malformed id/ },
  { group: 1, label: 'id with a non-hex digit', make: (g) => onLine(g, 'id', 'g' + ID(g).slice(1)), line: 6, says: /malformed id/ },
  { group: 1, label: 'hash: sha256', make: (g) => onLine(g, 'hash', 'sha256'), line: 3, says: /unsupported hash algorithm "sha256"/ },
  { group: 1, label: 'hash: BLAKE3 (case matters)', make: (g) => onLine(g, 'hash', 'BLAKE3'), line: 3, says: /unsupported hash algorithm "BLAKE3"/ },
  // group 2: the size
  { group: 2, label: 'size -1', make: (g) => onLine(g, 'size', '-1'), line: 7, says: /size: expected a non-negative integer in decimal, found "-1"/, full: true },
  { group: 2, label: 'size 1.5', make: (g) => onLine(g, 'size', '1.5'), line: 7, says: /size: expected a non-negative integer/ },
  { group: 2, label: 'size 1e3', make: (g) => onLine(g, 'size', '1e3'), line: 7, says: /size: expected a non-negative integer/ },
  { group: 2, label: 'size 2^53', make: (g) => onLine(g, 'size', '9007199254740992'), line: 7, says: /size: 9007199254740992 is larger than 2\^53 - 1/ },
  { group: 2, label: 'size 2^64', make: (g) => onLine(g, 'size', '18446744073709551616'), line: 7, says: /larger than 2\^53 - 1/ },
  { group: 2, label: 'size +18', make: (g) => onLine(g, 'size', '+18'), line: 7, says: /size: expected a non-negative integer/ },
  { group: 2, label: 'size 018 (leading zero)', make: (g) => onLine(g, 'size', '018'), line: 7, says: /size: expected a non-negative integer/ },
  { group: 2, label: 'files -3', make: (g) => onLine(g, 'files', '-3'), line: 8, says: /files: expected a non-negative integer/ },
  // group 3: the text
  { group: 3, label: 'CRLF line endings', make: (g) => g.replace(/\n/g, '\r\n'), line: 1, says: /carriage return/, full: true },
  { group: 3, label: 'one CRLF (on the id line)', make: (g) => g.replace(/^(id: .*)$/m, '$1\r'), line: 6, says: /carriage return/ },
  { group: 3, label: 'a byte-order mark', make: (g) => '\uFEFF' + g, line: 1, says: /byte-order mark/ },
  { group: 3, label: 'NUL in a value', make: (g) => g.replace(/^(id: .*)$/m, '$1\0'), line: 6, says: /NUL/ },
  { group: 3, label: 'NUL in a comment', make: (g) => g.replace(/^#/, '#\0'), line: 1, says: /NUL/ },
  { group: 3, label: 'a duplicate key', make: (g) => g + 'size: 18\n', line: 9, says: /duplicate key "size"/ },
  { group: 3, label: 'an unknown key', make: (g) => g + 'owner: "eve"\n', line: 9, says: /unknown key "owner"/ },
  { group: 3, label: 'trailing junk without a final newline', make: (g) => g + 'garbage', line: 9, says: /last line must end with a newline/ },
  { group: 3, label: 'a YAML document marker', make: (g) => g + '---\n', line: 9, says: /expected "key: value"/ },
  { group: 3, label: 'junk after a value', make: (g) => onLine(g, 'size', '18 # bytes'), line: 7, says: /size: expected a non-negative integer/ },
  { group: 3, label: 'trailing whitespace', make: (g) => onLine(g, 'size', '18 '), line: 7, says: /trailing whitespace/ },
  { group: 3, label: 'indentation (a YAML mapping)', make: (g) => g + 'extra:\n  nested: 1\n', line: 9, says: /expected "key: value"/ },
  { group: 3, label: 'version: 2', make: (g) => onLine(g, 'version', '2'), line: 2, says: /unsupported pointer version "2".*upgrade mlv/ },
  { group: 3, label: 'a huge pointer (1 MiB of comments)', make: (g) => g + ('#' + 'x'.repeat(1023) + '\n').repeat(1024), line: 1, says: /larger than 65536 bytes/ },
  { group: 3, label: 'a description over the size limit (70,000 bytes)', make: (g) => g + `description: "${'d'.repeat(70_000)}"\n`, line: 1, says: /larger than 65536 bytes/ },
];

/**
 * A regex for the file:line a message must name: `data.mlv:<line>` in the working tree,
 * `data.mlv at <commit>:<line>` at a revision (`diff` without revisions compares HEAD with the
 * working tree, so either).
 */
function where(line: number, atRevision: boolean | 'either'): RegExp {
  const at = atRevision === 'either' ? '( at [0-9a-f]{12})?' : atRevision ? ' at [0-9a-f]{12}' : '';
  return new RegExp(`^error: data\\.mlv${at}:${line}: `);
}

describe.concurrent('groups 1-3: invalid pointers through every command that reads pointers', () => {
  it.each(CASES.map((c, i) => ({ ...c, n: i })))('group $group, $label: exit 6 naming data.mlv:$line, nothing changed', async (c) => {
    const goodData = (await good()).data;
    const bad = c.make(goodData);
    const p = await brokenProject(bad);
    const before = state(p);
    const tried: string[] = [];

    // status: reports it, carries on with the other target, exit 0.
    const st = await mlvJsonAsync(p.repo, ['status']);
    tried.push('status');
    expect(st.code, st.stderr).toBe(0);
    const byPath = Object.fromEntries(st.json.targets.map((t: any) => [t.path, t]));
    expect(byPath.data).toMatchObject({ state: 'invalid', pointer: 'data.mlv' });
    expect(byPath.data.error).toMatch(new RegExp(`^data\\.mlv:${c.line}: `));
    expect(byPath.data.error).toMatch(c.says);
    expect(byPath['model.bin']).toMatchObject({ state: 'missing' });
    expectUnchanged(before, state(p), 'mlv status');

    const revision = REVISION_COMMANDS(p);
    const revNames = Object.keys(revision) as Array<keyof typeof revision>;
    type Cmd = [string, readonly string[], boolean | 'either'];
    const commands: Cmd[] = c.full
      ? [...Object.entries(WORKSPACE_COMMANDS).map(([k, v]): Cmd => [k, v, k === 'diff' ? 'either' : false]), ...revNames.map((k): Cmd => [k, revision[k], true])]
      : [
          ['checkout', WORKSPACE_COMMANDS.checkout, false],
          ['pull', WORKSPACE_COMMANDS.pull, false],
          ['push', WORKSPACE_COMMANDS.push, false],
          [revNames[c.n % revNames.length]!, revision[revNames[c.n % revNames.length]!], true],
        ];
    for (const [name, args, atRevision] of commands) {
      const r = await mlvAsync(p.repo, [...args]);
      tried.push(name);
      log(c.label, name, r.code, r.stdout, r.stderr);
      expectCleanError(r, 6, where(c.line, atRevision));
      expect(r.stderr, name).toMatch(c.says);
      expect(r.stderr, name).toMatch(/^hint: restore the pointer from Git/m);
      expectUnchanged(before, state(p), `mlv ${args.join(' ')}`);
    }
    log(c.label, 'tried', tried.join(', '));
  });

  it('with an invalid pointer beside it, the other target still works when named (checkout model.bin, ls --rev HEAD~1)', async () => {
    const goodData = (await good()).data;
    const p = await brokenProject(onLine(goodData, 'id', ID(goodData).toUpperCase()));
    const r = await mlvAsync(p.repo, ['checkout', 'model.bin']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(p.repo, 'model.bin'))).toEqual(MODEL);
    const ls = await mlvJsonAsync(p.repo, ['ls', '--rev', 'HEAD~1']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.json.entries.map((e: any) => e.path)).toEqual(['data', 'model.bin', 'tool.sh']);
  });

  // docs/pointer-format.md: "Encoding UTF-8". mlv decodes with replacement characters instead and
  // accepts the pointer (status: up-to-date); a re-add would then rewrite the description. Reported.
  it('invalid UTF-8 in a pointer (a 0xff byte in the description) is refused like any other bad text', async () => {
    const goodData = (await good()).data;
    const bad = Buffer.concat([Buffer.from(goodData), Buffer.from('description: "caf'), Buffer.from([0xff]), Buffer.from('"\n')]);
    const p = await brokenProject(bad);
    const before = state(p);
    const st = await mlvJsonAsync(p.repo, ['status']);
    const data = st.json.targets.find((t: any) => t.path === 'data');
    log('invalid utf-8: status', JSON.stringify(data));
    expect(data.state, 'status accepted a pointer that is not valid UTF-8').toBe('invalid');
    expect(data.error).toMatch(/^data\.mlv:9: /);
    for (const args of [['checkout'], ['ls', '-R', '--rev', 'HEAD']]) {
      const r = await mlvAsync(p.repo, args);
      log('invalid utf-8', args.join(' '), r.code, r.stdout, r.stderr);
      expectCleanError(r, 6, /^error: data\.mlv( at [0-9a-f]{12})?:9: /);
      expectUnchanged(before, state(p), `mlv ${args.join(' ')}`);
    }
  });

  /*
   * docs/maintenance.md: gc keeps "every object id written in the file (64 hex characters anywhere
   * in it)" of a pointer that does not parse. Upper-case hex digits are hex characters too: an id
   * upper-cased by some tool must not cost the data.
   */
  const gcCases = [
    { label: 'CRLF line endings', make: (g: string) => g.replace(/\n/g, '\r\n') },
    { label: 'an unknown key', make: (g: string) => g + 'owner: "eve"\n' },
    { label: 'a byte-order mark', make: (g: string) => '\uFEFF' + g },
  ];
  it.each(gcCases)('mlv gc --grace 0 with an invalid pointer ($label) keeps every object it names, and warns', async (c) => {
    await gcKeeps(c.make);
  });
  it('mlv gc --grace 0 with an invalid pointer (upper-case id) keeps every object it names, and warns', async () => {
    await gcKeeps((g) => onLine(g, 'id', ID(g).toUpperCase()));
  });
});

async function gcKeeps(make: (good: string) => string): Promise<void> {
  const p = await brokenProject(make((await good()).data));
  const cacheBefore = fullState(p.repo).cache;
  const r = await mlvAsync(p.repo, ['gc', '--grace', '0']);
  log('gc', r.code, r.stdout, r.stderr);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/^warning: workspace: data\.mlv:\d+: /m);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(fullState(p.repo).cache, 'gc deleted objects named by the invalid pointer').toEqual(cacheBefore);
}

describe.concurrent("group 2: a size that is not the object's size", () => {
  const modelId = blake3Hex(MODEL);
  const sizes = [
    { label: 'one byte short', size: MODEL.length - 1 },
    { label: 'far too large (2^53 - 1)', size: Number.MAX_SAFE_INTEGER },
  ];

  it.each(sizes)('model.bin.mlv with a size $label: fetch and pull refuse the download (exit 9) naming both sizes; nothing kept, nothing written', async (s) => {
    const p = await brokenProject((await good()).model.replace(/^size: .*$/m, `size: ${s.size}`), 'model.bin.mlv');
    // The object is on the remote (with its real size), not in the cache.
    fs.writeFileSync(path.join(p.store, objRel(modelId)), MODEL);
    fs.rmSync(path.join(p.repo, '.mlv', 'cache', objRel(modelId)), { force: true });
    const before = state(p);
    for (const args of [['fetch', 'model.bin'], ['pull', 'model.bin']]) {
      const r = await mlvAsync(p.repo, args);
      log(s.label, args.join(' '), r.code, r.stdout, r.stderr);
      expectListedError(r, [9], new RegExp(`failed: model\\.bin \\(${modelId.slice(0, 12)}\\): .*has ${MODEL.length} bytes, expected ${s.size}`));
      expectUnchanged(before, state(p), `mlv ${args.join(' ')}`);
    }
  });

  it('with the object in the cache: checkout writes the verified bytes (the id decides), status does not call the file modified', async () => {
    const p = await brokenProject((await good()).model.replace(/^size: .*$/m, `size: ${MODEL.length + 5}`), 'model.bin.mlv');
    const r = await mlvJsonAsync(p.repo, ['checkout', 'model.bin']);
    log('wrong size checkout', r.code, JSON.stringify(r.json), r.stderr);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(p.repo, 'model.bin'))).toEqual(MODEL);
    const st = await mlvJsonAsync(p.repo, ['status', 'model.bin']);
    log('wrong size status', JSON.stringify(st.json));
    expect(st.code).toBe(0);
    expect(st.json.targets[0].state).not.toBe('modified');
  });

  it('a folder pointer whose size and file count are wrong: the tree decides what is written; ls shows the pointer', async () => {
    const p = await brokenProject((await good()).data.replace(/^size: .*$/m, 'size: 999999').replace(/^files: .*$/m, 'files: 42'));
    fs.rmSync(path.join(p.repo, 'data'), { recursive: true });
    const c = blake3Hex(Buffer.from(C_SH));
    const r = await mlvAsync(p.repo, ['pull', 'data']);
    log('wrong dir size pull', r.code, r.stdout, r.stderr);
    expect(r.code, r.stderr).toBe(0);
    for (const rel of ['data/a.txt', 'data/b.txt', 'data/sub/c.sh']) expect(fs.readFileSync(path.join(p.repo, rel), 'utf8')).toBe(PROJECT_FILES[rel]!.text);
    expect(fs.existsSync(path.join(p.repo, '.mlv', 'cache', objRel(c)))).toBe(true);
    const ls = await mlvJsonAsync(p.repo, ['ls', 'data.mlv']);
    expect(ls.json.entries[0]).toMatchObject({ path: 'data', size: 999999, files: 42 });
  });
});

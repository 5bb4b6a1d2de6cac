/**
 * resolveRevision against the real `git rev-parse --verify <rev>^{commit}` on a repository built
 * with the git CLI: linear history, two merges, branches, lightweight, annotated and nested tags,
 * remote-tracking refs, then the same table again after packing refs and objects.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GIT_ENV } from '../helpers/cli.js';
import { resolveRevision } from '../../dist/git/revisions.js';

const ENV = {
  ...process.env,
  ...GIT_ENV,
  GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z',
};

function git(cwd: string, args: string[], input?: string): string {
  const r = spawnSync('git', args, { cwd, env: ENV, encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}
/** What real git resolves `rev` to, or undefined when it refuses. */
function gitRevParse(cwd: string, rev: string): string | undefined {
  const r = spawnSync('git', ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { cwd, env: ENV, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
async function outcome(root: string, rev: string): Promise<{ oid?: string; code?: string; message?: string }> {
  try {
    return { oid: await resolveRevision(root, rev) };
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
}

const dirs: string[] = [];
const tempDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-rev-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

let repo: string;
const c: Record<string, string> = {};

/** main: c1 c2 c3 M1(c3, f2) M2(M1, g1); feature: c2 f1 f2; side: c3 g1; bulk: 600 commits on c1. */
beforeAll(() => {
  repo = tempDir();
  const commit = (name: string) => {
    fs.writeFileSync(path.join(repo, 'file.txt'), `${name}\n`);
    git(repo, ['add', 'file.txt']);
    git(repo, ['commit', '-q', '-m', name]);
    c[name] = git(repo, ['rev-parse', 'HEAD']);
  };
  git(repo, ['init', '-q', '-b', 'main', '.']);
  commit('c1');
  commit('c2');
  git(repo, ['checkout', '-q', '-b', 'feature']);
  fs.writeFileSync(path.join(repo, 'f.txt'), 'f1\n');
  git(repo, ['add', 'f.txt']);
  git(repo, ['commit', '-q', '-m', 'f1']);
  c.f1 = git(repo, ['rev-parse', 'HEAD']);
  fs.writeFileSync(path.join(repo, 'f.txt'), 'f2\n');
  git(repo, ['commit', '-q', '-am', 'f2']);
  c.f2 = git(repo, ['rev-parse', 'HEAD']);
  git(repo, ['checkout', '-q', 'main']);
  commit('c3');
  git(repo, ['checkout', '-q', '-b', 'side']);
  fs.writeFileSync(path.join(repo, 'g.txt'), 'g1\n');
  git(repo, ['add', 'g.txt']);
  git(repo, ['commit', '-q', '-m', 'g1']);
  c.g1 = git(repo, ['rev-parse', 'HEAD']);
  git(repo, ['checkout', '-q', 'main']);
  git(repo, ['merge', '-q', '--no-ff', '-m', 'M1', 'feature']);
  c.M1 = git(repo, ['rev-parse', 'HEAD']);
  git(repo, ['merge', '-q', '--no-ff', '-m', 'M2', 'side']);
  c.M2 = git(repo, ['rev-parse', 'HEAD']);

  git(repo, ['tag', 'v0', c.c1!]);
  git(repo, ['tag', '-a', 'v1', '-m', 'release 1', c.c2!]);
  git(repo, ['tag', '-a', 'v1-again', '-m', 'tag of a tag', 'v1']);
  git(repo, ['tag', '-a', 'treetag', '-m', 'a tree', 'HEAD^{tree}']);
  git(repo, ['tag', 'blobtag', 'HEAD:file.txt']);
  git(repo, ['branch', 'dup', c.c1!]);
  git(repo, ['tag', 'dup', c.c3!]); // a tag wins over a branch of the same name
  git(repo, ['branch', 'topic/x', c.f1!]);
  git(repo, ['branch', c.c2!.slice(0, 7), c.c1!]); // a hex-looking branch wins over the id prefix
  git(repo, ['update-ref', 'refs/remotes/origin/main', c.c3!]);
  git(repo, ['symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/main']);
  git(repo, ['symbolic-ref', 'refs/remotes/gone/HEAD', 'refs/remotes/gone/main']); // dangling

  addBulkCommits(300);
});

/** Commits on branch bulk (from c1), made in one git process, so that 4-hex id prefixes collide. */
let bulkMade = 0;
function addBulkCommits(count: number): void {
  const stream = [`reset refs/heads/bulk\nfrom ${bulkMade === 0 ? c.c1 : 'refs/heads/bulk^0'}\n`];
  for (let i = bulkMade; i < bulkMade + count; i++) {
    stream.push(`commit refs/heads/bulk\ncommitter mlv test <test@example.invalid> ${1704067200 + i} +0000\ndata <<EOM\nbulk ${i}\nEOM\n\n`);
  }
  git(repo, ['fast-import', '--quiet'], stream.join(''));
  bulkMade += count;
}

function revisionTable(): string[] {
  const abbrev = [c.c3!, c.f1!, c.M1!].flatMap((oid) => [4, 5, 6, 7, 8, 10, 12].map((n) => oid.slice(0, n)));
  return [
    'HEAD', '@', '@~1', 'HEAD~0', 'HEAD~1', 'HEAD~2', 'HEAD~3', 'HEAD~4', 'HEAD~', 'HEAD~~', 'HEAD^', 'HEAD^^',
    'HEAD^0', 'HEAD^1', 'HEAD^2', 'HEAD^2~1', 'HEAD~1^2', 'HEAD~1^2~1', 'HEAD^{commit}~2', 'main', 'main~1^2',
    'main~1^2~1', 'main^{}^2', 'main~01', 'refs/heads/main', 'heads/main', 'feature', 'feature~1', 'topic/x',
    'refs/heads/feature', 'side', 'v0', 'v1', 'v1^{commit}', 'v1^{}', 'v1~1', 'v1^0', 'tags/v1', 'refs/tags/v1',
    'v1-again', 'v1-again^{commit}', 'v1-again^{}~1', 'dup', 'origin/main', 'origin', 'remotes/origin/main',
    'refs/remotes/origin/main', c.c2!, c.c2!.toUpperCase(), c.c2!.slice(0, 7), c.f2!.slice(0, 9).toUpperCase(),
    ...abbrev,
  ];
}

async function expectSameAsGit(): Promise<void> {
  let resolvedByGit = 0;
  for (const rev of revisionTable()) {
    const expected = gitRevParse(repo, rev);
    const got = await outcome(repo, rev);
    if (expected === undefined) {
      expect(got.code, `git refuses ${rev}`).toBe('USAGE');
    } else {
      resolvedByGit++;
      expect(got, rev).toEqual({ oid: expected });
    }
  }
  expect(resolvedByGit).toBeGreaterThan(60);
}

describe('resolveRevision', () => {
  it('resolves ~70 revisions exactly like git rev-parse (loose refs and objects)', async () => {
    await expectSameAsGit();
    expect(await resolveRevision(repo, 'HEAD^2')).toBe(c.g1);
    expect(await resolveRevision(repo, 'main~1^2~1')).toBe(c.f1);
    expect(await resolveRevision(repo, 'dup')).toBe(c.c3);
    expect(await resolveRevision(repo, c.c2!.slice(0, 7))).toBe(c.c1);
  });

  it('gives one clear USAGE error for unknown names, past-the-root and missing parents', async () => {
    const cases: Array<[string, RegExp]> = [
      ['nope', /^unknown revision "nope"$/],
      ['gone', /^unknown revision "gone"$/],
      ['abc', /^unknown revision "abc"$/],
      ['0000000000000000000000000000000000000000', /unknown revision|not a commit/],
      ['HEAD~5', /^HEAD~5 goes past the first commit \(HEAD~4 has no parent\)$/],
      ['HEAD~4^', /^HEAD~4\^ goes past the first commit \(HEAD~4 has no parent\)$/],
      ['HEAD^3', /^HEAD\^3 does not exist: HEAD has only 2 parents$/],
      ['v1^2', /^v1\^2 does not exist: v1 has only 1 parent$/],
      ['treetag', /treetag points at a tree, not a commit/],
      ['blobtag', /blobtag is a blob, not a commit/],
    ];
    for (const [rev, message] of cases) {
      expect(gitRevParse(repo, rev), `git refuses ${rev} too`).toBeUndefined();
      const got = await outcome(repo, rev);
      expect(got.code, rev).toBe('USAGE');
      expect(got.message, rev).toMatch(message);
    }
  });

  it('reports an ambiguous commit id prefix like git does', async (ctx) => {
    const collision = () => {
      const byPrefix = new Map<string, number>();
      for (const oid of git(repo, ['rev-list', '--all']).split('\n')) byPrefix.set(oid.slice(0, 4), (byPrefix.get(oid.slice(0, 4)) ?? 0) + 1);
      return [...byPrefix].find(([, n]) => n > 1);
    };
    let hit = collision();
    for (let round = 0; !hit && round < 5; round++) {
      addBulkCommits(300); // ids are fixed (fixed dates), but keep going rather than depend on luck
      hit = collision();
    }
    if (!hit) return ctx.skip();
    const [prefix, count] = hit;
    expect(gitRevParse(repo, prefix)).toBeUndefined();
    const got = await outcome(repo, prefix);
    const candidates = git(repo, ['rev-list', '--all']).split('\n').filter((o) => o.startsWith(prefix)).sort().map((o) => o.slice(0, 12));
    expect(got).toEqual({ code: 'USAGE', message: `ambiguous commit id prefix "${prefix}": ${count} commits match (${candidates.join(', ')})` });
    expect((await outcome(repo, `${prefix}~1`)).message).toMatch(/ambiguous/);
  });

  it('rejects reflog, range, path and other unsupported syntax instead of guessing', async () => {
    const cases: Array<[string, RegExp]> = [
      ['HEAD@{1}', /reflog syntax .* not supported/],
      ['@{-1}', /reflog syntax .* not supported/],
      ['main@{yesterday}', /reflog syntax .* not supported/],
      ['main..feature', /ranges are not supported/],
      ['main...feature', /ranges are not supported/],
      ['HEAD^!', /ranges are not supported/],
      ['HEAD^@', /ranges are not supported/],
      ['HEAD^-1', /ranges are not supported/],
      ['^main', /exclusion/],
      ['HEAD:file.txt', /rev:path .* not supported/],
      [':/c1', /not supported/],
      ['ma in', /whitespace or control/],
      ['HEAD\n', /whitespace or control/],
      ['HEAD\u0000', /whitespace or control/],
      ['', /empty revision/],
      ['~1', /needs a name before/],
      ['HEAD^{tree}', /\^\{tree\} is not supported/],
      ['HEAD^{/c1}', /is not supported/],
      ['HEAD^{commit', /unsupported revision syntax/],
      ['HEAD~x', /unsupported revision syntax/],
      ['a*b', /not a valid/],
      ['.hidden', /not a valid/],
      ['x.lock', /not a valid/],
      ['refs//heads', /not a valid/],
      ['-main', /not a valid/],
    ];
    for (const [rev, message] of cases) {
      const got = await outcome(repo, rev);
      expect(got.code, JSON.stringify(rev)).toBe('USAGE');
      expect(got.message, JSON.stringify(rev)).toMatch(message);
      expect(got.message).not.toContain('\n');
    }
  });

  it('says a repository without commits is empty, and a folder outside Git is not a repository', async () => {
    const empty = tempDir();
    git(empty, ['init', '-q', '-b', 'main', '.']);
    for (const rev of ['HEAD', 'main', 'HEAD~1']) {
      const got = await outcome(empty, rev);
      expect(got.code).toBe('USAGE');
      expect(got.message).toMatch(/has no commits yet/);
    }
    expect((await outcome(tempDir(), 'HEAD')).code).toBe('NOT_IN_GIT');
  });

  it('still matches git after refs and objects are packed', async () => {
    git(repo, ['pack-refs', '--all']);
    git(repo, ['repack', '-adq']);
    git(repo, ['prune-packed']);
    expect(fs.existsSync(path.join(repo, '.git/refs/tags/v1'))).toBe(false);
    await expectSameAsGit();
    expect((await outcome(repo, 'HEAD~5')).message).toMatch(/past the first commit/);
  });
});

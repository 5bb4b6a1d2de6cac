/**
 * Git revision syntax (`main~2^2`, `v1.0^{commit}`, abbreviated ids) resolved to a commit id, the
 * way `git rev-parse --verify <rev>^{commit}` does, on top of isomorphic-git (which has no parser).
 */
import * as fs from 'node:fs';
import { MlvError } from '../core/errors.js';
import { gitCache, gitWhere, isGitRepository, isoGit } from './read-at-commit.js';

type Step = { kind: 'parent' | 'ancestor'; n: number; text: string } | { kind: 'peel'; toCommit: boolean; text: string };

const HINT = 'check the name with git log --oneline, git branch -a or git tag';
const HISTORY_HINT = 'see the history with git log --oneline --graph';
const usage = (message: string, hint?: string) => new MlvError('USAGE', message, hint ? { hint } : {});
const codeOf = (err: unknown) => (err as { code?: string } | undefined)?.code;

/** Splits `rev` into a name and suffix steps, rejecting syntax mlv does not support. */
function parseRevision(rev: string): { name: string; steps: Step[] } {
  const shown = JSON.stringify(rev);
  if (rev === '') throw usage('empty revision', HINT);
  if (/[\s\x00-\x1f\x7f]/.test(rev)) throw usage(`revision ${shown} contains whitespace or control characters`);
  if (rev.includes('@{')) throw usage(`reflog syntax (@{...}) is not supported: ${shown}`, 'name a commit, branch or tag instead, e.g. HEAD~1');
  if (rev.includes('..') || /\^[!@-]/.test(rev)) throw usage(`ranges are not supported: ${shown}`, 'give a single commit');
  if (rev.includes(':')) throw usage(`rev:path and :/search syntax is not supported: ${shown}`, 'give a single commit');
  if (rev.startsWith('^')) throw usage(`^rev (exclusion) is range syntax, not supported: ${shown}`, 'give a single commit');
  const cut = rev.search(/[~^]/);
  const name = cut < 0 ? rev : rev.slice(0, cut);
  if (name === '') throw usage(`${shown} needs a name before ~, e.g. HEAD~1`);
  if (!isValidName(name)) throw usage(`${JSON.stringify(name)} is not a valid branch, tag or commit name`, HINT);
  const steps: Step[] = [];
  let rest = cut < 0 ? '' : rev.slice(cut);
  while (rest !== '') {
    const m = /^(?:~(\d*)|\^\{([^{}]*)\}|\^(\d*))/.exec(rest);
    if (!m) throw usage(`unsupported revision syntax ${JSON.stringify(rest)} in ${shown}`, 'use ~N, ^N, ^{commit} or ^{}');
    const text = m[0];
    if (m[1] !== undefined) steps.push({ kind: 'ancestor', n: m[1] === '' ? 1 : Number(m[1]), text });
    else if (m[3] !== undefined) steps.push({ kind: 'parent', n: m[3] === '' ? 1 : Number(m[3]), text });
    else if (m[2] === '' || m[2] === 'commit') steps.push({ kind: 'peel', toCommit: m[2] === 'commit', text });
    else throw usage(`${text} is not supported in ${shown}`, 'only ^{commit} and ^{} are: mlv needs a commit');
    rest = rest.slice(text.length);
  }
  return { name: name === '@' ? 'HEAD' : name, steps };
}

/** `git check-ref-format` rules for one name (one-level names allowed). */
function isValidName(name: string): boolean {
  if (name === '@') return true;
  if (/[?*[\\]/.test(name) || name.startsWith('-') || name.endsWith('.')) return false;
  return name.split('/').every((c) => c !== '' && !c.startsWith('.') && !c.endsWith('.lock'));
}

/** `git rev-parse` lookup order; bare names are looked up in the Git folder only if ALL_CAPS. */
function refCandidates(name: string): string[] {
  const own = /^[A-Z_]+$/.test(name) || name.startsWith('refs/') ? [name] : [];
  return [...own, `refs/${name}`, `refs/tags/${name}`, `refs/heads/${name}`, `refs/remotes/${name}`, `refs/remotes/${name}/HEAD`];
}

type Git = Awaited<ReturnType<typeof isoGit>>;

async function lookupRef(g: Git, root: string, ref: string): Promise<string | undefined> {
  try {
    // expandRef and resolveRef each try several prefixes; insist on this exact ref.
    if ((await g.expandRef({ fs, ...gitWhere(root), ref })) !== ref) return undefined;
    return await g.resolveRef({ fs, ...gitWhere(root), ref });
  } catch (err) {
    if (codeOf(err) === 'NotFoundError') return undefined; // absent, or a symbolic ref to nothing
    throw err;
  }
}

async function readObject(g: Git, root: string, oid: string, desc: string): Promise<{ type: string; object: unknown }> {
  try {
    return await g.readObject({ fs, ...gitWhere(root), oid, format: 'parsed', cache: gitCache });
  } catch (err) {
    throw new MlvError('CORRUPT_OBJECT', `${desc} points at Git object ${oid}, which cannot be read: ${(err as Error).message}`, {
      hint: 'the repository may be a shallow or partial clone, or damaged; try git fsck',
      cause: err,
    });
  }
}

/** Follows tags; with `toCommit`, the result must be a commit. */
async function peel(g: Git, root: string, oid: string, desc: string, toCommit: boolean): Promise<{ oid: string; type: string; parents: string[] }> {
  let viaTag = false;
  for (;;) {
    const { type, object } = await readObject(g, root, oid, desc);
    if (type === 'tag') {
      oid = (object as { object: string }).object;
      viaTag = true;
    } else if (type === 'commit') {
      return { oid, type, parents: (object as { parent: string[] }).parent };
    } else if (toCommit) {
      throw usage(`${desc} ${viaTag ? 'points at' : 'is'} a ${type}, not a commit`, HINT);
    } else {
      return { oid, type, parents: [] };
    }
  }
}

async function isEmptyRepo(g: Git, root: string): Promise<boolean> {
  const [branches, tags] = await Promise.all([g.listBranches({ fs, ...gitWhere(root) }), g.listTags({ fs, ...gitWhere(root) })]);
  return branches.length === 0 && tags.length === 0 && (await lookupRef(g, root, 'HEAD')) === undefined;
}

/** Commits (or tags of commits) whose id starts with `prefix`: git's "committish" disambiguation. */
async function expandPrefix(g: Git, root: string, prefix: string): Promise<string | undefined> {
  let matches: string[];
  try {
    matches = [await g.expandOid({ fs, ...gitWhere(root), oid: prefix, cache: gitCache })];
  } catch (err) {
    if (codeOf(err) === 'NotFoundError') return undefined;
    if (codeOf(err) !== 'AmbiguousError') throw err;
    matches = (err as { data: { matches: string[] } }).data.matches;
  }
  const commitish: string[] = [];
  for (const oid of matches) {
    const hit = await peel(g, root, oid, oid, false);
    if (hit.type === 'commit') commitish.push(oid);
  }
  if (commitish.length > 1) {
    const listed = commitish.sort().slice(0, 10).map((c) => c.slice(0, 12)).join(', ');
    throw usage(`ambiguous commit id prefix "${prefix}": ${commitish.length} commits match (${listed}${commitish.length > 10 ? ', ...' : ''})`, 'give more characters of the commit id');
  }
  if (commitish.length === 0) throw usage(`"${prefix}" is not a commit (it matches ${matches.length} other Git object${matches.length === 1 ? '' : 's'})`, HINT);
  return commitish[0];
}

async function resolveName(g: Git, root: string, name: string): Promise<string> {
  const full = /^[0-9a-fA-F]{40}$/.test(name); // a full id wins over a ref, as in git
  for (const ref of full ? [] : refCandidates(name)) {
    const oid = await lookupRef(g, root, ref);
    if (oid !== undefined) return oid;
  }
  if (/^[0-9a-fA-F]{4,40}$/.test(name)) {
    const oid = await expandPrefix(g, root, name.toLowerCase());
    if (oid !== undefined) return oid;
  }
  if (await isEmptyRepo(g, root)) throw usage(`the repository has no commits yet, so "${name}" does not exist`, 'commit something first');
  if (name === 'HEAD') throw usage('HEAD is on a branch that has no commits yet', 'commit something first, or name another branch');
  throw usage(`unknown revision "${name}"`, HINT);
}

/** The full commit id that `rev` names, like `git rev-parse --verify <rev>^{commit}`. */
export async function resolveRevision(root: string, rev: string): Promise<string> {
  const { name, steps } = parseRevision(rev);
  const g = await isoGit();
  if (!isGitRepository(root)) throw new MlvError('NOT_IN_GIT', `${root} is not the root of a Git repository`);
  let oid = await resolveName(g, root, name);
  let desc = rev.slice(0, rev.length - steps.reduce((n, s) => n + s.text.length, 0));
  for (const step of steps) {
    if (step.kind === 'peel') {
      oid = (await peel(g, root, oid, desc, step.toCommit)).oid;
    } else if (step.kind === 'parent') {
      const commit = await peel(g, root, oid, desc, true);
      if (step.n === 0) oid = commit.oid;
      else if (commit.parents.length === 0) throw usage(`${desc}${step.text} goes past the first commit (${desc} has no parent)`, HISTORY_HINT);
      else if (step.n > commit.parents.length) {
        const count = commit.parents.length;
        throw usage(`${desc}${step.text} does not exist: ${desc} has only ${count} parent${count === 1 ? '' : 's'}`, HISTORY_HINT);
      } else oid = commit.parents[step.n - 1]!;
    } else {
      for (let i = 0; i < step.n; i++) {
        const commit = await peel(g, root, oid, i === 0 ? desc : `${desc}~${i}`, true);
        if (commit.parents.length === 0) {
          throw usage(`${desc}${step.text} goes past the first commit (${i === 0 ? desc : `${desc}~${i}`} has no parent)`, HISTORY_HINT);
        }
        oid = commit.parents[0]!;
      }
      if (step.n === 0) oid = (await peel(g, root, oid, desc, true)).oid;
    }
    desc += step.text;
  }
  return (await peel(g, root, oid, rev, true)).oid;
}

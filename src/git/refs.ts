/**
 * What Git history holds, for `mlv gc`: local branch tips, tags (peeled to commits), every commit
 * reachable from any ref, and the pointer files committed at each commit. Built on isomorphic-git
 * (shared `gitCache`). Pointer listings are memoised per Git tree id, so a subtree shared by
 * hundreds of commits is read once, and each pointer blob is read once however many commits hold it.
 *
 * The pointer rules are those of `listPointersAt` (src/git/read-at-commit.ts) and of the
 * working-tree discovery: regular files named `<name>.mlv`, not inside `.mlv` folders, not inside
 * a folder `x` that has a sibling `x.mlv`, never inside submodules.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { POINTER_SUFFIX } from '../core/pointer.js';
import { gitCache, isoGit } from './read-at-commit.js';

type Git = Awaited<ReturnType<typeof isoGit>>;

export interface RefTip {
  /** Full ref name (`refs/heads/main`, `refs/tags/v1`, `HEAD`). */
  ref: string;
  /** The commit it names (tags peeled). */
  commit: string;
}

export interface CommitPointerFile {
  pointerRel: string;
  targetRel: string;
  /** Git blob id of the pointer file. */
  blob: string;
}

const codeOf = (err: unknown) => (err as { code?: string } | undefined)?.code;

function unreadable(err: unknown, what: string): MlvError {
  if (err instanceof MlvError) return err;
  return new MlvError('CORRUPT_OBJECT', `could not read ${what} from Git: ${(err as Error).message}`, {
    hint: 'the Git object store may be incomplete (partial clone) or damaged; try git fsck',
    cause: err,
  });
}

function requireGit(root: string): void {
  if (!fs.existsSync(path.join(root, '.git'))) throw new MlvError('NOT_IN_GIT', `${root} is not the root of a Git repository`, { hint: 'history scopes need Git; use --workspace' });
}

/** Follows annotated tags to what they name; undefined when that is not a commit (a tagged tree or blob). */
async function peelToCommit(g: Git, root: string, oid: string, ref: string): Promise<string | undefined> {
  for (let depth = 0; depth < 32; depth++) {
    let obj: { type: string; object: unknown };
    try {
      obj = await g.readObject({ fs, dir: root, oid, format: 'parsed', cache: gitCache });
    } catch (err) {
      throw unreadable(err, `${ref} (object ${oid})`);
    }
    if (obj.type === 'commit') return oid;
    if (obj.type !== 'tag') return undefined;
    oid = (obj.object as { object: string }).object;
  }
  return undefined;
}

async function resolveTip(g: Git, root: string, ref: string): Promise<RefTip | undefined> {
  let oid: string;
  try {
    oid = await g.resolveRef({ fs, dir: root, ref });
  } catch (err) {
    if (codeOf(err) === 'NotFoundError') return undefined; // an unborn branch, a dangling symbolic ref
    throw unreadable(err, ref);
  }
  const commit = await peelToCommit(g, root, oid, ref);
  return commit ? { ref, commit } : undefined;
}

async function tipsUnder(root: string, prefix: 'refs/heads' | 'refs/tags' | 'refs'): Promise<RefTip[]> {
  requireGit(root);
  const g = await isoGit();
  const names = await g.listRefs({ fs, dir: root, filepath: prefix });
  const tips: RefTip[] = [];
  for (const name of names) {
    const tip = await resolveTip(g, root, `${prefix}/${name}`);
    if (tip) tips.push(tip);
  }
  return tips;
}

/** The commit at the tip of every local branch. */
export function branchTips(root: string): Promise<RefTip[]> {
  return tipsUnder(root, 'refs/heads');
}

/** The commit of every tag (annotated tags peeled; tags of trees or blobs are left out). */
export function tagCommits(root: string): Promise<RefTip[]> {
  return tipsUnder(root, 'refs/tags');
}

/** Every ref under `refs/` (branches, tags, remote-tracking branches, the stash, ...) and HEAD. */
export async function allRefTips(root: string): Promise<RefTip[]> {
  const tips = await tipsUnder(root, 'refs');
  const head = await resolveTip(await isoGit(), root, 'HEAD');
  if (head) tips.push(head);
  return tips;
}

/** The commit HEAD names, if any (detached or on a branch). */
export async function headCommit(root: string): Promise<string | undefined> {
  requireGit(root);
  return (await resolveTip(await isoGit(), root, 'HEAD'))?.commit;
}

/** Commits whose parents are absent on purpose (`.git/shallow`). */
function shallowBoundary(root: string): Set<string> {
  try {
    return new Set(fs.readFileSync(path.join(root, '.git', 'shallow'), 'utf8').split('\n').filter((l) => /^[0-9a-f]{40}$/.test(l)));
  } catch {
    return new Set();
  }
}

/**
 * Every commit reachable from `tips` (all parents). In a shallow clone the walk stops at the
 * boundary (`shallow` tells); any other unreadable commit is an error, since its pointers are unknown.
 */
export async function reachableCommits(root: string, tips: string[]): Promise<{ commits: string[]; shallow: boolean }> {
  requireGit(root);
  const g = await isoGit();
  const boundary = shallowBoundary(root);
  const seen = new Set<string>();
  const order: string[] = [];
  const stack = [...new Set(tips)];
  let shallow = false;
  while (stack.length > 0) {
    const oid = stack.pop()!;
    if (seen.has(oid)) continue;
    seen.add(oid);
    let parents: string[];
    try {
      parents = (await g.readCommit({ fs, dir: root, oid, cache: gitCache })).commit.parent;
    } catch (err) {
      throw unreadable(err, `commit ${oid}`);
    }
    order.push(oid);
    if (boundary.has(oid)) {
      shallow = true;
      continue;
    }
    for (const p of parents) if (!seen.has(p)) stack.push(p);
  }
  return { commits: order, shallow };
}

interface GitTreeEntry {
  mode: string;
  path: string;
  oid: string;
  type: 'blob' | 'tree' | 'commit';
}

/** Pointer files at commits, memoised per Git tree id and per blob id. */
export class CommitPointers {
  private readonly trees = new Map<string, Promise<CommitPointerFile[]>>();
  private readonly blobs = new Map<string, Promise<Buffer>>();
  private gitPromise: Promise<Git> | undefined;

  constructor(private readonly root: string) {}

  private git(): Promise<Git> {
    this.gitPromise ??= isoGit();
    return this.gitPromise;
  }

  /** The pointer files committed at `commit`, sorted by target. */
  async at(commit: string): Promise<CommitPointerFile[]> {
    const g = await this.git();
    let tree: string;
    try {
      tree = (await g.readCommit({ fs, dir: this.root, oid: commit, cache: gitCache })).commit.tree;
    } catch (err) {
      throw unreadable(err, `commit ${commit}`);
    }
    const found = await this.underTree(tree);
    return [...found].sort((a, b) => (a.targetRel < b.targetRel ? -1 : a.targetRel > b.targetRel ? 1 : 0));
  }

  /** The bytes of a pointer blob (read once per blob id). */
  bytes(blob: string, rel: string): Promise<Buffer> {
    let p = this.blobs.get(blob);
    if (!p) {
      p = (async () => {
        const g = await this.git();
        try {
          const { blob: bytes } = await g.readBlob({ fs, dir: this.root, oid: blob, cache: gitCache });
          return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        } catch (err) {
          throw unreadable(err, `file "${rel}" (blob ${blob})`);
        }
      })();
      this.blobs.set(blob, p);
    }
    return p;
  }

  /** Pointer files below one Git tree, with paths relative to it. */
  private underTree(oid: string): Promise<CommitPointerFile[]> {
    let p = this.trees.get(oid);
    if (!p) {
      p = this.readUnderTree(oid);
      this.trees.set(oid, p);
    }
    return p;
  }

  private async readUnderTree(oid: string): Promise<CommitPointerFile[]> {
    const g = await this.git();
    let entries: GitTreeEntry[];
    try {
      entries = (await g.readTree({ fs, dir: this.root, oid, cache: gitCache })).tree as GitTreeEntry[];
    } catch (err) {
      throw unreadable(err, `Git tree ${oid}`);
    }
    const names = new Set(entries.map((e) => e.path));
    const out: CommitPointerFile[] = [];
    for (const e of entries) {
      if (e.type === 'blob') {
        const regular = e.mode === '100644' || e.mode === '100755';
        if (regular && e.path.endsWith(POINTER_SUFFIX) && e.path.length > POINTER_SUFFIX.length) {
          out.push({ pointerRel: e.path, targetRel: e.path.slice(0, -POINTER_SUFFIX.length), blob: e.oid });
        }
      } else if (e.type === 'tree') {
        if (e.path.toLowerCase() === '.mlv') continue;
        if (names.has(e.path + POINTER_SUFFIX)) continue; // a tracked folder's own files are data, not pointers
        for (const sub of await this.underTree(e.oid)) {
          out.push({ pointerRel: `${e.path}/${sub.pointerRel}`, targetRel: `${e.path}/${sub.targetRel}`, blob: sub.blob });
        }
      }
    }
    return out;
  }
}

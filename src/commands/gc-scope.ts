/**
 * What `mlv gc` must keep, part 1: the pointers in scope. The working tree's pointer files always;
 * with history scopes, the pointer files committed at branch tips, tagged commits or every commit.
 * An invalid pointer never lets gc delete silently: the object ids written in it are kept anyway
 * (and gc warns), so a pointer damaged by, say, a committed merge conflict still protects its data.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError, errnoCode } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import { parsePointer } from '../core/pointer.js';
import { CommitPointers, allRefTips, branchTips, headCommit, reachableCommits, tagCommits } from '../git/refs.js';
import type { Repo } from '../workspace/repo.js';
import { discoverPointers } from '../workspace/targets.js';

export interface GcScope {
  workspace?: boolean;
  allBranches?: boolean;
  allTags?: boolean;
  allCommits?: boolean;
}

/** An object a pointer names: where gc starts walking. */
export interface ScopeRoot {
  id: ObjectId;
  /** `unknown`: named by an invalid pointer; gc finds out from the object itself. */
  kind: 'file' | 'dir' | 'unknown';
  /** The tracked path, for messages. */
  path: string;
  /** `workspace`, or `commit 1a2b3c4d5e6f (main)`. */
  where: string;
}

export interface ScopePointers {
  roots: ScopeRoot[];
  /** Commits whose pointer files were read. */
  commits: number;
  /** Distinct pointer files (by content) read. */
  pointerFiles: number;
  warnings: string[];
}

const ID_IN_TEXT = /[0-9a-fA-F]{64}/g;

/**
 * Object ids in the text of a pointer that does not parse (in either case: an upper-cased id still
 * names the object); `file` only when it says so unambiguously.
 */
function salvage(text: string): { ids: ObjectId[]; kind: 'file' | 'unknown' } {
  const ids = [...new Set((text.match(ID_IN_TEXT) ?? []).map((id) => id.toLowerCase()))] as ObjectId[];
  const kind = /^kind: *file *$/m.test(text) && !/kind: *dir/.test(text) ? 'file' : 'unknown';
  return { ids, kind };
}

class RootSet {
  readonly roots = new Map<string, ScopeRoot>();
  readonly warnings: string[] = [];
  pointerFiles = 0;

  add(bytes: Buffer, pointerRel: string, targetRel: string, where: string): void {
    this.pointerFiles++;
    try {
      const p = parsePointer(bytes, pointerRel, path.posix.basename(targetRel));
      this.put({ id: p.id, kind: p.kind, path: targetRel, where });
    } catch (err) {
      if (!(err instanceof MlvError) || err.code !== 'INVALID_POINTER') throw err;
      const { ids, kind } = salvage(bytes.toString('latin1'));
      for (const id of ids) this.put({ id, kind, path: targetRel, where });
      this.warnings.push(
        `${where}: ${err.message}; ${ids.length === 0 ? 'it names no object id, so nothing is kept for it' : `kept the ${ids.length === 1 ? 'object id' : `${ids.length} object ids`} written in it`}`,
      );
    }
  }

  private put(root: ScopeRoot): void {
    const key = `${root.id}:${root.kind}`;
    if (!this.roots.has(key)) this.roots.set(key, root);
  }
}

/** The working tree's pointer files (invalid ones salvaged as described above). */
function addWorkspace(repo: Repo, set: RootSet): void {
  for (const t of discoverPointers(repo)) {
    let text: Buffer;
    try {
      text = fs.readFileSync(repo.abs(t.pointerRel));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    set.add(text, t.pointerRel, t.targetRel, 'workspace');
  }
}

export const hasHistoryScope = (s: GcScope) => Boolean(s.allBranches || s.allTags || s.allCommits);

export async function scopePointers(repo: Repo, scope: GcScope): Promise<ScopePointers> {
  const set = new RootSet();
  addWorkspace(repo, set);
  if (!hasHistoryScope(scope)) return { roots: [...set.roots.values()], commits: 0, pointerFiles: set.pointerFiles, warnings: set.warnings };
  if (repo.config.noScm) {
    throw new MlvError('USAGE', 'this project does not use Git (core.no_scm), so it has no branches, tags or commits to keep', { hint: 'use --workspace' });
  }
  const root = repo.root;
  /** commit -> names of the refs at it, for messages */
  const names = new Map<string, string[]>();
  const note = (commit: string, ref: string) => {
    const short = ref.replace(/^refs\/(heads|tags|remotes)\//, '');
    const list = names.get(commit) ?? [];
    if (!list.includes(short)) list.push(short);
    names.set(commit, list);
  };
  const commits = new Set<string>();
  if (scope.allBranches) {
    for (const t of await branchTips(root)) {
      commits.add(t.commit);
      note(t.commit, t.ref);
    }
    const head = await headCommit(root);
    if (head) {
      commits.add(head);
      note(head, 'HEAD');
    }
  }
  if (scope.allTags) {
    for (const t of await tagCommits(root)) {
      commits.add(t.commit);
      note(t.commit, t.ref);
    }
  }
  if (scope.allCommits) {
    const tips = await allRefTips(root);
    for (const t of tips) note(t.commit, t.ref);
    const walk = await reachableCommits(root, tips.map((t) => t.commit));
    for (const c of walk.commits) commits.add(c);
    if (walk.shallow) {
      set.warnings.push('this is a shallow clone: commits before its boundary are not in the repository, so objects only they use are not kept (git fetch --unshallow first to keep them)');
    }
  }
  const lister = new CommitPointers(root);
  const describe = (c: string) => `commit ${c.slice(0, 12)}${names.has(c) ? ` (${names.get(c)!.join(', ')})` : ''}`;
  // Commits share most pointer blobs: each blob is parsed once per name, under the first commit seen.
  const seen = new Set<string>();
  for (const commit of commits) {
    for (const p of await lister.at(commit)) {
      const key = `${p.blob}:${path.posix.basename(p.targetRel)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      set.add(await lister.bytes(p.blob, p.pointerRel), p.pointerRel, p.targetRel, describe(commit));
    }
  }
  return { roots: [...set.roots.values()], commits: commits.size, pointerFiles: set.pointerFiles, warnings: set.warnings };
}

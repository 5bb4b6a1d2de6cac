/**
 * Reading files, pointer files and commit metadata straight from Git objects at a given commit,
 * without touching the working tree or the index (isomorphic-git, loaded lazily).
 */
import * as fs from 'node:fs';
import { MlvError } from '../core/errors.js';
import { POINTER_SUFFIX } from '../core/pointer.js';

type IsoGit = typeof import('isomorphic-git');
let loaded: Promise<IsoGit> | undefined;
export function isoGit(): Promise<IsoGit> {
  loaded ??= import('isomorphic-git').then((m) => ((m as unknown as { default?: IsoGit }).default ?? m) as IsoGit);
  return loaded;
}

/**
 * Shared by every call: isomorphic-git keeps parsed pack indexes and pack contents here, keyed by
 * pack file path. Packs are immutable under their names, so the cache never goes stale.
 */
export const gitCache = {};

export interface CommitInfo {
  oid: string;
  message: string;
  /** `Name <email>`. */
  author: string;
  /** Author time, seconds since the epoch. */
  timestamp: number;
}

export interface PointerAtCommit {
  pointerRel: string;
  targetRel: string;
  text: string;
}

interface TreeEntry {
  mode: string;
  path: string;
  oid: string;
  type: 'blob' | 'tree' | 'commit';
}

/** At most `n` calls of the returned wrapper run at once (bounds open files on wide trees). */
function limit(n: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active < n) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve)); // the slot is handed over
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
const io = limit(32);

const isRegularFile = (e: TreeEntry) => e.type === 'blob' && (e.mode === '100644' || e.mode === '100755');
const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);

function missingObject(err: unknown, what: string): never {
  if (err instanceof MlvError) throw err;
  throw new MlvError('CORRUPT_OBJECT', `could not read ${what} from Git: ${(err as Error).message}`, {
    hint: 'the Git object store may be incomplete (shallow or partial clone) or damaged; try git fsck',
    cause: err,
  });
}

/** The commit object, with one clear error for a bad id, a missing commit or a non-commit. */
async function readCommitChecked(root: string, oid: string) {
  if (!/^[0-9a-f]{40}$/.test(oid)) throw new MlvError('USAGE', `"${oid}" is not a full commit id`);
  const g = await isoGit();
  try {
    return await g.readCommit({ fs, dir: root, oid, cache: gitCache });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'NotFoundError') throw new MlvError('USAGE', `commit ${oid} does not exist in this repository`, { cause: err });
    if (code === 'ObjectTypeError') throw new MlvError('USAGE', `${oid} is not a commit`, { cause: err });
    return missingObject(err, `commit ${oid}`);
  }
}

async function readTreeEntries(root: string, treeOid: string, dirRel: string): Promise<TreeEntry[]> {
  const g = await isoGit();
  try {
    return (await io(() => g.readTree({ fs, dir: root, oid: treeOid, cache: gitCache }))).tree as TreeEntry[];
  } catch (err) {
    return missingObject(err, `folder "${dirRel || '.'}" (tree ${treeOid})`);
  }
}

async function readBlobBytes(root: string, oid: string, rel: string): Promise<Buffer> {
  const g = await isoGit();
  try {
    const { blob } = await io(() => g.readBlob({ fs, dir: root, oid, cache: gitCache }));
    return Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  } catch (err) {
    return missingObject(err, `file "${rel}" (blob ${oid})`);
  }
}

/**
 * Depth-first walk in Git's tree order (the order of `git ls-tree -r`). Sibling subtrees are read
 * concurrently; `enter` decides whether to descend into a folder. Submodules are never followed.
 */
async function walkFiles(root: string, commitOid: string, enter: (dirRel: string, names: Set<string>) => boolean): Promise<Array<TreeEntry & { rel: string }>> {
  const commit = await readCommitChecked(root, commitOid);
  const walk = async (treeOid: string, dirRel: string): Promise<Array<TreeEntry & { rel: string }>> => {
    const entries = await readTreeEntries(root, treeOid, dirRel);
    const names = new Set(entries.map((e) => e.path));
    const parts = await Promise.all(
      entries.map(async (e) => {
        const rel = join(dirRel, e.path);
        if (e.type === 'blob') return [{ ...e, rel }];
        if (e.type === 'tree' && enter(rel, names)) return walk(e.oid, rel);
        return [];
      }),
    );
    return parts.flat();
  };
  return walk(commit.commit.tree, '');
}

/** Every file (regular file or symlink) in the commit's tree, as POSIX paths in Git's order. */
export async function listFilesAt(root: string, commitOid: string, predicate?: (path: string) => boolean): Promise<string[]> {
  const files = await walkFiles(root, commitOid, () => true);
  const paths = files.map((f) => f.rel);
  return predicate ? paths.filter(predicate) : paths;
}

/** The bytes of one file at a commit; undefined when the path does not exist there. */
export async function readFileAt(root: string, commitOid: string, path: string): Promise<Buffer | undefined> {
  const parts = path.split('/');
  if (path === '' || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new MlvError('INVALID_PATH', `"${path}" is not a relative path inside the repository`);
  }
  const commit = await readCommitChecked(root, commitOid);
  let treeOid = commit.commit.tree;
  for (let i = 0; i < parts.length; i++) {
    const rel = parts.slice(0, i + 1).join('/');
    const entry = (await readTreeEntries(root, treeOid, parts.slice(0, i).join('/'))).find((e) => e.path === parts[i]);
    if (!entry) return undefined;
    const last = i === parts.length - 1;
    if (entry.type === 'tree') {
      if (last) throw new MlvError('USAGE', `${rel} is a folder at commit ${commitOid.slice(0, 12)}, not a file`);
      treeOid = entry.oid;
    } else if (entry.type === 'commit') {
      if (last) throw new MlvError('USAGE', `${rel} is a Git submodule at commit ${commitOid.slice(0, 12)}, not a file`);
      return undefined; // inside a submodule: not part of this repository's objects
    } else {
      return last ? readBlobBytes(root, entry.oid, rel) : undefined;
    }
  }
  return undefined;
}

/**
 * Every pointer file committed at `commitOid`, sorted by target, found by the same rules as the
 * working-tree discovery (src/workspace/targets.ts): regular files named `<name>.mlv`, skipping
 * `.mlv` folders and the folder `x` beside a pointer `x.mlv`.
 */
export async function listPointersAt(root: string, commitOid: string): Promise<PointerAtCommit[]> {
  const files = await walkFiles(root, commitOid, (dirRel, siblings) => {
    const name = dirRel.slice(dirRel.lastIndexOf('/') + 1);
    return name.toLowerCase() !== '.mlv' && !siblings.has(name + POINTER_SUFFIX);
  });
  const pointers = files.filter((f) => isRegularFile(f) && f.path.endsWith(POINTER_SUFFIX) && f.path.length > POINTER_SUFFIX.length);
  const found = await Promise.all(
    pointers.map(async (p) => ({
      pointerRel: p.rel,
      targetRel: p.rel.slice(0, -POINTER_SUFFIX.length),
      text: (await readBlobBytes(root, p.oid, p.rel)).toString('utf8'),
    })),
  );
  return found.sort((a, b) => (a.targetRel < b.targetRel ? -1 : a.targetRel > b.targetRel ? 1 : 0));
}

export async function commitInfo(root: string, oid: string): Promise<CommitInfo> {
  const { commit } = await readCommitChecked(root, oid);
  return { oid, message: commit.message, author: `${commit.author.name} <${commit.author.email}>`, timestamp: commit.author.timestamp };
}

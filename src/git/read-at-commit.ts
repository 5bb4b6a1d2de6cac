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

/**
 * isomorphic-git's location arguments for a repository: `dir` for a work tree (its `.git` folder,
 * or a `.git` file pointing elsewhere, is found by isomorphic-git), `gitdir` for a bare repository.
 */
export function gitWhere(root: string): { dir: string } | { gitdir: string } {
  if (!fs.existsSync(`${root}/.git`) && fs.existsSync(`${root}/HEAD`) && fs.existsSync(`${root}/objects`)) return { gitdir: root };
  return { dir: root };
}

/** Whether `root` is a Git work tree root or a bare repository. */
export function isGitRepository(root: string): boolean {
  return fs.existsSync(`${root}/.git`) || 'gitdir' in gitWhere(root);
}

export interface CommitInfo {
  oid: string;
  message: string;
  /** `Name <email>`. */
  author: string;
  /** Author time, seconds since the epoch. */
  timestamp: number;
  /** Committer time, seconds since the epoch. */
  committedAt: number;
}

export interface PointerAtCommit {
  pointerRel: string;
  targetRel: string;
  /** The blob's bytes (parsePointer checks that they are UTF-8). */
  bytes: Buffer;
  /** The same, decoded (invalid UTF-8 replaced): for display and salvaging only. */
  text: string;
}

interface FileEntry {
  rel: string;
  oid: string;
  /** Numeric Git mode: 0o100644, 0o100755 or 0o120000 (symlink). */
  mode: number;
}

interface TreeEntry {
  mode: string;
  path: string;
  oid: string;
  type: 'blob' | 'tree' | 'commit';
}

/** At most `n` calls of the returned wrapper run at once (bounds open files with many pointers). */
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
    return await g.readCommit({ fs, ...gitWhere(root), oid, cache: gitCache });
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
    return (await g.readTree({ fs, ...gitWhere(root), oid: treeOid, cache: gitCache })).tree as TreeEntry[];
  } catch (err) {
    return missingObject(err, `folder "${dirRel || '.'}" (tree ${treeOid})`);
  }
}

async function readBlobBytes(root: string, oid: string, rel: string): Promise<Buffer> {
  const g = await isoGit();
  try {
    const { blob } = await io(() => g.readBlob({ fs, ...gitWhere(root), oid, cache: gitCache }));
    return Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  } catch (err) {
    return missingObject(err, `file "${rel}" (blob ${oid})`);
  }
}

/** Git's order for full paths (`git ls-tree -r`): by UTF-8 bytes, so `raw.mlv` before `raw/a`. */
function gitOrder<T extends { rel: string }>(items: T[]): T[] {
  const keyed = items.map((item) => ({ item, key: Buffer.from(item.rel) }));
  return keyed.sort((x, y) => Buffer.compare(x.key, y.key)).map((k) => k.item);
}

/**
 * Files (blobs: regular files and symlinks) of a commit, in Git's order, and the set of every
 * path seen. git.walk is ~3x faster than one readTree call per folder (fewer stat/readdir calls
 * per object). Folders for which `skip` is true are not entered; submodules never are.
 */
async function walkFiles(root: string, commitOid: string, skip: (dirRel: string) => boolean = () => false) {
  const commit = await readCommitChecked(root, commitOid);
  const g = await isoGit();
  const files: FileEntry[] = [];
  const seen = new Set<string>();
  try {
    await g.walk({
      fs,
      ...gitWhere(root),
      cache: gitCache,
      trees: [g.TREE({ ref: commit.commit.tree })],
      map: async (rel, [entry]) => {
        if (rel === '.' || !entry) return undefined;
        seen.add(rel);
        const type = await entry.type();
        if (type === 'tree' && skip(rel)) return null; // null prunes the folder
        if (type === 'blob') files.push({ rel, oid: await entry.oid(), mode: await entry.mode() });
        return undefined;
      },
    });
  } catch (err) {
    return missingObject(err, `the files of commit ${commitOid}`);
  }
  return { files: gitOrder(files), seen };
}

/** Every file (regular file or symlink) in the commit's tree, as POSIX paths in Git's order. */
export async function listFilesAt(root: string, commitOid: string, predicate?: (path: string) => boolean): Promise<string[]> {
  const paths = (await walkFiles(root, commitOid)).files.map((f) => f.rel);
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
  const name = (rel: string) => rel.slice(rel.lastIndexOf('/') + 1);
  const { files, seen } = await walkFiles(root, commitOid, (dir) => name(dir).toLowerCase() === '.mlv');
  const insideTarget = (rel: string) => {
    for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) if (seen.has(rel.slice(0, i) + POINTER_SUFFIX)) return true;
    return false;
  };
  const isRegular = (f: FileEntry) => f.mode === 0o100644 || f.mode === 0o100755;
  const isPointer = (f: FileEntry) => name(f.rel).endsWith(POINTER_SUFFIX) && name(f.rel).length > POINTER_SUFFIX.length;
  const pointers = files.filter((f) => isRegular(f) && isPointer(f) && !insideTarget(f.rel));
  const found = await Promise.all(
    pointers.map(async (p) => {
      const bytes = await readBlobBytes(root, p.oid, p.rel);
      return { pointerRel: p.rel, targetRel: p.rel.slice(0, -POINTER_SUFFIX.length), bytes, text: bytes.toString('utf8') };
    }),
  );
  return found.sort((a, b) => (a.targetRel < b.targetRel ? -1 : a.targetRel > b.targetRel ? 1 : 0));
}

export async function commitInfo(root: string, oid: string): Promise<CommitInfo> {
  const { commit } = await readCommitChecked(root, oid);
  return { oid, message: commit.message, author: `${commit.author.name} <${commit.author.email}>`, timestamp: commit.author.timestamp, committedAt: commit.committer.timestamp };
}

/** The URL of a Git remote (e.g. origin) of a repository, if configured. */
export async function gitRemoteUrl(root: string, name: string): Promise<string | undefined> {
  const g = await isoGit();
  try {
    const url = await g.getConfig({ fs, ...gitWhere(root), path: `remote.${name}.url` });
    return typeof url === 'string' && url !== '' ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * All Git access goes through here (isomorphic-git, loaded lazily so commands that do not touch
 * Git start fast).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';

type IsoGit = typeof import('isomorphic-git');
let loaded: Promise<IsoGit> | undefined;
function git(): Promise<IsoGit> {
  loaded ??= import('isomorphic-git').then((m) => ((m as unknown as { default?: IsoGit }).default ?? m) as IsoGit);
  return loaded;
}

/** The working-tree root of the Git repository containing `dir`, or undefined outside Git. */
export async function findGitRoot(dir: string): Promise<string | undefined> {
  const g = await git();
  try {
    return await g.findRoot({ fs, filepath: dir });
  } catch (err) {
    if ((err as { code?: string }).code === 'NotFoundError') return undefined;
    throw err;
  }
}

/** The Git directory of a work tree: `.git`, or where a `.git` file (worktrees, submodules) points. */
function gitDirOf(root: string): string {
  const dotGit = path.join(root, '.git');
  try {
    if (fs.statSync(dotGit).isFile()) {
      const m = /^gitdir: (.+)$/m.exec(fs.readFileSync(dotGit, 'utf8'));
      if (m) return path.resolve(root, m[1]!.trim());
    }
  } catch {
    // no .git: the default below
  }
  return dotGit;
}

export class GitRepo {
  private indexFiles: Promise<string[]> | undefined;
  private readonly cache = {};

  constructor(readonly root: string) {}

  /** Paths in the Git index (POSIX, relative to the root). */
  private listIndex(): Promise<string[]> {
    this.indexFiles ??= git().then((g) => g.listFiles({ fs, dir: this.root, cache: this.cache }));
    return this.indexFiles;
  }

  /** For each path, the first index entry that is the path itself or lies below it. */
  async trackedEntries(relPaths: string[]): Promise<Map<string, string>> {
    const files = await this.listIndex();
    const found = new Map<string, string>();
    for (const rel of relPaths) {
      const prefix = rel + '/';
      const hit = files.find((f) => f === rel || f.startsWith(prefix));
      if (hit !== undefined) found.set(rel, hit);
    }
    return found;
  }

  /** Whether Git's ignore rules (.gitignore files, .git/info/exclude) match the path. */
  async isIgnored(relPath: string): Promise<boolean> {
    const g = await git();
    return g.isIgnored({ fs, dir: this.root, filepath: relPath });
  }

  /** Of these paths, those whose working copy differs from the index (e.g. left unstaged by a killed run). */
  async unstaged(relPaths: string[], opts: { newOnly?: boolean } = {}): Promise<string[]> {
    const g = await git();
    const out: string[] = [];
    for (const p of relPaths) {
      const st = await g.status({ fs, dir: this.root, filepath: p, cache: this.cache });
      if (opts.newOnly ? st === '*added' : st.startsWith('*') && st !== '*unmodified' && st !== '*absent') out.push(p);
    }
    return out;
  }

  /**
   * Waits (up to `timeoutMs`) while a Git command holds the index lock, as Git itself refuses to
   * touch the index then: isomorphic-git ignores that lock, and Git's rename at its end would drop
   * mlv's entries.
   */
  async waitForIndexLock(timeoutMs = 5000): Promise<void> {
    const lock = path.join(gitDirOf(this.root), 'index.lock');
    const deadline = Date.now() + timeoutMs;
    while (fs.existsSync(lock)) {
      if (Date.now() > deadline) {
        throw new MlvError('LOCKED', `Git is using the index of this repository (${lock} exists), so mlv did not stage anything`, {
          hint: 'wait for that Git command to finish (or remove the file if no Git command is running), then git add the pointer files mlv wrote',
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stages files that exist and removes from the index those that no longer do. */
  async stage(relPaths: string[]): Promise<void> {
    await this.waitForIndexLock();
    const g = await git();
    const present = relPaths.filter((p) => fs.existsSync(`${this.root}/${p}`));
    const gone = relPaths.filter((p) => !present.includes(p));
    try {
      if (present.length > 0) await withoutWebCompression(() => g.add({ fs, dir: this.root, filepath: present, cache: this.cache }));
      for (const p of gone) await g.remove({ fs, dir: this.root, filepath: p, cache: this.cache });
    } catch (err) {
      throw new MlvError('IO', `could not stage ${relPaths.join(', ')} in Git: ${(err as Error).message}`, {
        hint: 'stage the files yourself with git add, or pass --no-stage',
        cause: err,
      });
    }
    this.indexFiles = undefined;
  }
}

/**
 * isomorphic-git deflates objects with the web CompressionStream when the global exists, which makes
 * Node load its web streams and fetch implementation: about 22 ms on every add that stages a
 * pointer. Without the global it uses its bundled pako, as in browsers that lack it (same bytes,
 * and pointer files are tiny). It checks once, at its first deflate, and remembers the answer.
 */
async function withoutWebCompression<T>(fn: () => Promise<T>): Promise<T> {
  const g = globalThis as { CompressionStream?: unknown };
  const own = Object.getOwnPropertyDescriptor(g, 'CompressionStream');
  if (!own?.configurable) return fn();
  delete g.CompressionStream;
  try {
    return await fn();
  } finally {
    Object.defineProperty(g, 'CompressionStream', own);
  }
}

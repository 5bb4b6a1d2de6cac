/**
 * All Git access goes through here (isomorphic-git, loaded lazily so commands that do not touch
 * Git start fast).
 */
import * as fs from 'node:fs';
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

  /** Stages files that exist and removes from the index those that no longer do. */
  async stage(relPaths: string[]): Promise<void> {
    const g = await git();
    const present = relPaths.filter((p) => fs.existsSync(`${this.root}/${p}`));
    const gone = relPaths.filter((p) => !present.includes(p));
    try {
      if (present.length > 0) await g.add({ fs, dir: this.root, filepath: present, cache: this.cache });
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

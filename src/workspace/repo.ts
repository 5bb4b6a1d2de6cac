/** Locating an mlv project (the folder holding `.mlv/`) and the paths inside it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { badRelPathReason, toPosix } from '../core/paths.js';
import { LocalCache } from '../storage/local-cache.js';
import { Config } from './config.js';

export const MLV_DIR = '.mlv';

export class Repo {
  readonly root: string;
  readonly mlvDir: string;
  readonly tmpDir: string;
  readonly stateDir: string;
  readonly cache: LocalCache;
  private loadedConfig: Config | undefined;

  constructor(root: string) {
    this.root = root;
    this.mlvDir = path.join(root, MLV_DIR);
    this.tmpDir = path.join(this.mlvDir, 'tmp');
    this.stateDir = path.join(this.mlvDir, 'state');
    this.cache = new LocalCache(path.join(this.mlvDir, 'cache'));
  }

  get config(): Config {
    this.loadedConfig ??= Config.load(this.mlvDir);
    return this.loadedConfig;
  }

  reloadConfig(): Config {
    this.loadedConfig = undefined;
    return this.config;
  }

  get statCachePath(): string {
    return path.join(this.stateDir, 'stat-cache');
  }

  /** Absolute path of a repository-relative POSIX path. */
  abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, ...rel.split('/'));
  }

  /** The first folder on the way to `rel` (not `rel` itself) that is a symbolic link, if any. */
  symlinkOnPath(rel: string): string | undefined {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      try {
        if (fs.lstatSync(this.abs(parent)).isSymbolicLink()) return parent;
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * Repository-relative POSIX path of a user-supplied path (resolved against `cwd`), refusing
   * anything outside the repository or inside `.git` / `.mlv`.
   */
  relFromUser(userPath: string, cwd: string): string {
    const absolute = path.resolve(cwd, userPath);
    const rel = path.relative(this.root, absolute);
    if (rel === '') return '';
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new MlvError('INVALID_PATH', `${userPath} is outside the repository (${this.root})`, {
        hint: 'mlv tracks data inside the project folder only; move or copy it in first',
      });
    }
    const posix = toPosix(rel);
    const first = posix.split('/')[0]!.toLowerCase();
    if (first === '.git' || first === MLV_DIR) {
      throw new MlvError('INVALID_PATH', `${userPath} is inside ${first}, which mlv never tracks`);
    }
    const problem = badRelPathReason(posix);
    if (problem) throw new MlvError('INVALID_PATH', `${userPath}: ${problem}`);
    return posix;
  }
}

/** Finds the project containing `cwd` by walking up to the first folder that has `.mlv/`. */
export function findRepo(cwd: string): Repo {
  let dir = path.resolve(cwd);
  for (;;) {
    try {
      if (fs.statSync(path.join(dir, MLV_DIR)).isDirectory()) return new Repo(dir);
    } catch {
      // keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new MlvError('NOT_A_REPO', `not inside an mlv project (no ${MLV_DIR} folder here or in any parent of ${cwd})`, {
    hint: 'run mlv init at the root of your Git repository',
  });
}

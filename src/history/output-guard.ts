/**
 * Outputs of get and export never land in .git, .mlv or the tracked data of a project: checked on
 * the path where the output really goes, after following any symbolic links on the way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { toPosix } from '../core/paths.js';
import { POINTER_SUFFIX } from '../core/pointer.js';
import { gitWhere } from '../git/read-at-commit.js';
import { MLV_DIR, Repo } from '../workspace/repo.js';
import { enclosingTracked } from '../workspace/targets.js';

/** `p` with every symbolic link in its existing part resolved (the rest appended as given). */
export function realDestination(p: string): string {
  const rest: string[] = [];
  let dir = path.resolve(p);
  for (;;) {
    try {
      return path.join(fs.realpathSync(dir), ...rest.reverse());
    } catch {
      const parent = path.dirname(dir);
      if (parent === dir) return path.resolve(p);
      rest.push(path.basename(dir));
      dir = parent;
    }
  }
}

/** Refuses an output inside .git, .mlv or tracked data of any of the given projects. */
export function refuseInsideProject(output: string, ...repos: Array<Repo | string | undefined>): void {
  const real = realDestination(output);
  for (const r of repos) {
    if (!r) continue;
    const repo = typeof r === 'string' ? new Repo(r) : r;
    const root = realDestination(repo.root);
    const rel = path.relative(root, real);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) continue;
    const posix = toPosix(rel);
    const shown = real === path.resolve(output) ? output : `${output} (really ${real})`;
    if ('gitdir' in gitWhere(root)) throw new MlvError('INVALID_PATH', `the output ${shown} is inside the bare Git repository ${root}`, { hint: 'choose a folder outside it' });
    const first = posix.split('/')[0]!.toLowerCase();
    if (first === '.git' || first === MLV_DIR) throw new MlvError('INVALID_PATH', `the output ${shown} is inside ${first}`, { hint: 'choose a folder outside .git and .mlv' });
    if (fs.existsSync(real + POINTER_SUFFIX)) throw new MlvError('INVALID_PATH', `the output ${shown} is a tracked target`, { hint: 'mlv checkout restores tracked data in place; mlv get writes elsewhere' });
    const tracked = enclosingTracked(new Repo(root), posix);
    if (tracked) throw new MlvError('INVALID_PATH', `the output ${shown} is inside the tracked ${tracked.targetRel}`, { hint: 'mlv checkout restores tracked data in place; mlv get writes elsewhere' });
  }
}

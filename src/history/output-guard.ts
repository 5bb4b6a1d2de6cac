/** Outputs of get and export never land in .git, .mlv or the tracked data of the project. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { toPosix } from '../core/paths.js';
import { POINTER_SUFFIX } from '../core/pointer.js';
import { MLV_DIR, type Repo } from '../workspace/repo.js';
import { enclosingTracked } from '../workspace/targets.js';

export /** The output may not land in .git, .mlv or tracked data of the project it runs in. */
function refuseInsideProject(output: string, repo: Repo | undefined): void {
  if (!repo) return;
  const rel = path.relative(repo.root, output);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return;
  const posix = toPosix(rel);
  const first = posix.split('/')[0]!.toLowerCase();
  if (first === '.git' || first === MLV_DIR) throw new MlvError('INVALID_PATH', `the output ${output} is inside ${first}`, { hint: 'choose a folder outside .git and .mlv' });
  if (fs.existsSync(output + POINTER_SUFFIX)) throw new MlvError('INVALID_PATH', `the output ${output} is a tracked target of this project`, { hint: 'mlv checkout restores tracked data in place; mlv get writes elsewhere' });
  const tracked = enclosingTracked(repo, posix);
  if (tracked) throw new MlvError('INVALID_PATH', `the output ${output} is inside the tracked ${tracked.targetRel}`, { hint: 'mlv checkout restores tracked data in place; mlv get writes elsewhere' });
}

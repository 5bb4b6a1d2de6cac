/** `mlv untrack`: stop tracking targets. The data stays; the pointer and ignore entry go. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { GitRepo } from '../git/git-adapter.js';
import { removeIgnoreEntry } from '../workspace/gitignore.js';
import { findRepo } from '../workspace/repo.js';
import { resolveTargets } from '../workspace/targets.js';
import { withLock, type CommandContext } from './context.js';

export interface UntrackOptions {
  targets: string[];
  stage?: boolean;
}

export interface UntrackResult {
  untracked: Array<{ path: string; pointer: string }>;
  staged: string[];
}

export async function untrack(ctx: CommandContext, opts: UntrackOptions): Promise<UntrackResult> {
  if (opts.targets.length === 0) throw new MlvError('USAGE', 'nothing to untrack', { hint: 'give the tracked targets: mlv untrack data' });
  const repo = findRepo(ctx.cwd);
  return withLock(repo, 'untrack', async () => {
    const tracked = resolveTargets(repo, opts.targets, ctx.cwd);
    const toStage = new Set<string>();
    const untracked: UntrackResult['untracked'] = [];
    for (const t of tracked) {
      fs.rmSync(repo.abs(t.pointerRel));
      toStage.add(t.pointerRel);
      const dirRel = path.posix.dirname(t.targetRel) === '.' ? '' : path.posix.dirname(t.targetRel);
      if (removeIgnoreEntry(repo.abs(dirRel), path.posix.basename(t.targetRel))) {
        toStage.add(dirRel === '' ? '.gitignore' : `${dirRel}/.gitignore`);
      }
      untracked.push({ path: t.targetRel, pointer: t.pointerRel });
    }
    const staged: string[] = [];
    if ((opts.stage ?? repo.config.autostage) && !repo.config.noScm) {
      const git = new GitRepo(repo.root);
      const inIndex = await git.trackedEntries([...toStage]);
      const relevant = [...toStage].filter((p) => inIndex.has(p) || fs.existsSync(repo.abs(p)));
      if (relevant.length > 0) await git.stage(relevant);
      staged.push(...relevant);
    }
    return { untracked, staged };
  });
}

/** `mlv init`: create `.mlv/` at the root of the Git repository (or here, with --no-scm). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { GitRepo, findGitRoot } from '../git/git-adapter.js';
import { writeFileAtomic } from '../workspace/atomic.js';
import { ConfigFile } from '../workspace/config-file.js';
import { MLV_DIR } from '../workspace/repo.js';
import type { CommandContext } from './context.js';

export interface InitOptions {
  /** Work outside Git. */
  noScm?: boolean;
  /** Stage `.mlv/config` and `.mlv/.gitignore` (default true). */
  stage?: boolean;
}

export interface InitResult {
  root: string;
  /** False when `.mlv/` already existed (missing parts are re-created). */
  created: boolean;
  scm: boolean;
  staged: string[];
}

export const MLV_GITIGNORE = `# written by mlv init: these parts of .mlv stay out of Git
/config.local
/cache/
/tmp/
/state/
/lock
/lock.*
`;

const CONFIG_HEADER = `# mlv project configuration, committed to Git (docs/configuration.md).
# Machine-specific settings and secrets belong in config.local, which Git ignores.
`;

export async function init(ctx: CommandContext, opts: InitOptions = {}): Promise<InitResult> {
  let root: string;
  if (opts.noScm) {
    root = path.resolve(ctx.cwd);
  } else {
    const gitRoot = await findGitRoot(ctx.cwd);
    if (!gitRoot) {
      throw new MlvError('NOT_IN_GIT', `${ctx.cwd} is not inside a Git repository`, {
        hint: 'run git init first, or use mlv init --no-scm to work without Git',
      });
    }
    root = gitRoot;
  }
  const mlvDir = path.join(root, MLV_DIR);
  const existed = fs.existsSync(mlvDir);
  if (existed && !fs.statSync(mlvDir).isDirectory()) {
    throw new MlvError('INVALID_PATH', `${mlvDir} exists and is not a folder`, { hint: 'move it aside and run mlv init again' });
  }
  for (const sub of ['', 'cache', 'tmp', 'state']) fs.mkdirSync(path.join(mlvDir, sub), { recursive: true });
  const created: string[] = [];
  const configPath = path.join(mlvDir, 'config');
  if (!fs.existsSync(configPath)) {
    writeFileAtomic(configPath, CONFIG_HEADER);
    created.push(`${MLV_DIR}/config`);
  }
  const gitignore = path.join(mlvDir, '.gitignore');
  if (!fs.existsSync(gitignore)) {
    writeFileAtomic(gitignore, MLV_GITIGNORE);
    created.push(`${MLV_DIR}/.gitignore`);
  }
  const localPath = path.join(mlvDir, 'config.local');
  if (!fs.existsSync(localPath)) writeFileAtomic(localPath, '# machine-specific mlv settings and secrets; never committed\n');
  if (opts.noScm) {
    const config = ConfigFile.load(configPath);
    if (config.get('core.no_scm') !== 'true') {
      config.set('core.no_scm', 'true');
      config.save(path.join(mlvDir, 'tmp'));
    }
  }
  const staged: string[] = [];
  // Only what this run created is staged: re-running init never stages a user's config edits.
  if (!opts.noScm && opts.stage !== false && created.length > 0) {
    await new GitRepo(root).stage(created);
    staged.push(...created);
  }
  return { root, created: !existed, scm: !opts.noScm, staged };
}

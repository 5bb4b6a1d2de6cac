/**
 * `mlv install-hooks` / `mlv uninstall-hooks`: Git hooks that keep the workspace data in step with
 * Git (docs/hooks.md). post-checkout and post-merge run `mlv checkout`, pre-push runs `mlv push`. A
 * hook that was there before is renamed `<hook>.pre-mlv` and run first by mlv's hook; uninstall
 * puts it back. Files that mlv did not write are never changed or removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MlvError, isMlvError, wrapFsError } from '../core/errors.js';
import { locateHooks, type HooksLocation } from '../git/hooks-dir.js';
import { findRepo } from '../workspace/repo.js';
import type { CommandContext } from './context.js';

export const HOOK_NAMES = ['post-checkout', 'post-merge', 'pre-push'] as const;
export type HookName = (typeof HOOK_NAMES)[number];
export const CHAINED_SUFFIX = '.pre-mlv';

export type HookAction = 'installed' | 'updated' | 'unchanged' | 'chained' | 'removed' | 'restored' | 'absent' | 'kept';

export interface HookReport {
  name: HookName;
  action: HookAction;
  /** The file name of the hook that was there before: run first (install), or put back (uninstall). */
  chained?: string;
}

export interface HooksResult {
  workTree: string;
  hooksDir: string;
  /** The config file that set core.hooksPath, when one did. */
  hooksPathFrom?: string;
  hooks: HookReport[];
}

export interface InstallHooksResult extends HooksResult {
  /** How the hooks start mlv: node and the script, else `mlv` on PATH once these are gone. */
  mlv: { node: string; script: string };
}

export interface InstallHooksOptions {
  /** How the hooks start mlv (default: this node and this mlv's bin/mlv.js). */
  launcher?: { node: string; script: string };
}

export async function installHooks(ctx: CommandContext, opts: InstallHooksOptions = {}): Promise<InstallHooksResult> {
  const loc = hooksLocation(ctx.cwd, true);
  const launcher = opts.launcher ?? defaultLauncher();
  const plans = HOOK_NAMES.map((name) => {
    const file = path.join(loc.hooksDir, name);
    const chainedFile = file + CHAINED_SUFFIX;
    const script = hookScript(name, launcher);
    const current = readHook(file);
    let action: HookAction;
    if (current === 'absent') action = 'installed';
    else if (current !== undefined && isMlvHook(current.text)) action = current.text === script && current.executable ? 'unchanged' : 'updated';
    else action = 'chained';
    return { name, file, chainedFile, script, action, hasChained: exists(chainedFile) };
  });
  const blocked = plans.filter((p) => p.action === 'chained' && p.hasChained);
  if (blocked.length > 0) {
    throw new MlvError('CONFLICT', `cannot keep the existing ${blocked.map((p) => p.name).join(', ')} hook: ${blocked.map((p) => path.basename(p.chainedFile)).join(', ')} already exists in ${loc.hooksDir}`, {
      hint: 'merge the two hooks into one (or remove one of them) yourself, then run mlv install-hooks again; nothing was changed',
    });
  }
  const hooks: HookReport[] = [];
  try {
    fs.mkdirSync(loc.hooksDir, { recursive: true });
    for (const p of plans) {
      if (p.action === 'chained') fs.renameSync(p.file, p.chainedFile);
      if (p.action !== 'unchanged') writeExecutable(p.file, p.script);
      const chained = p.action === 'chained' || p.hasChained ? path.basename(p.chainedFile) : undefined;
      hooks.push(chained ? { name: p.name, action: p.action, chained } : { name: p.name, action: p.action });
    }
  } catch (err) {
    wrapFsError(err, `install the Git hooks in ${loc.hooksDir}`);
  }
  return { ...describe(loc), hooks, mlv: launcher };
}

export async function uninstallHooks(ctx: CommandContext): Promise<HooksResult> {
  const loc = hooksLocation(ctx.cwd, false);
  const hooks: HookReport[] = [];
  try {
    for (const name of HOOK_NAMES) {
      const file = path.join(loc.hooksDir, name);
      const chainedFile = file + CHAINED_SUFFIX;
      const chained = path.basename(chainedFile);
      const current = readHook(file);
      if (current !== 'absent' && (current === undefined || !isMlvHook(current.text))) {
        hooks.push({ name, action: 'kept' });
        continue;
      }
      if (current !== 'absent') fs.rmSync(file);
      if (exists(chainedFile)) {
        fs.renameSync(chainedFile, file);
        hooks.push({ name, action: 'restored', chained });
      } else {
        hooks.push({ name, action: current === 'absent' ? 'absent' : 'removed' });
      }
    }
  } catch (err) {
    wrapFsError(err, `remove the Git hooks from ${loc.hooksDir}`);
  }
  return { ...describe(loc), hooks };
}

function describe(loc: HooksLocation): HooksResult {
  const r: HooksResult = { workTree: loc.workTree, hooksDir: loc.hooksDir, hooks: [] };
  if (loc.hooksPathFrom) r.hooksPathFrom = loc.hooksPathFrom;
  return r;
}

/**
 * The Git repository of the mlv project around `cwd`. Uninstalling also works in a Git repository
 * whose `.mlv/` is gone, so that hooks can always be removed.
 */
function hooksLocation(cwd: string, requireProject: boolean): HooksLocation {
  let root = path.resolve(cwd);
  let project = true;
  try {
    const repo = findRepo(cwd);
    if (repo.config.noScm) {
      throw new MlvError('NOT_IN_GIT', `Git hooks need Git, and this project works without it (core.no_scm = true in ${path.join(repo.root, '.mlv', 'config')})`, {
        hint: 'in a --no-scm project run mlv checkout and mlv push yourself',
      });
    }
    root = repo.root;
  } catch (err) {
    if (requireProject || !isMlvError(err) || err.code !== 'NOT_A_REPO') throw err;
    project = false;
  }
  const loc = locateHooks(root);
  if (!loc) {
    throw new MlvError('NOT_IN_GIT', `${root} is not inside a Git repository, so there are no Git hooks to ${requireProject ? 'install' : 'remove'}`, {
      hint: 'run git init (then mlv install-hooks), or run mlv checkout and mlv push yourself',
    });
  }
  if (project && loc.workTree !== root) {
    throw new MlvError('USAGE', `the mlv project (${root}) is not at the root of its Git work tree (${loc.workTree}), where Git runs hooks`, {
      hint: 'run mlv checkout and mlv push yourself in this project',
    });
  }
  return loc;
}

/** This node and this mlv's bin/mlv.js (dist/commands/hooks.js -> bin/mlv.js). */
function defaultLauncher(): { node: string; script: string } {
  const script = fileURLToPath(new URL('../../bin/mlv.js', import.meta.url));
  return { node: process.execPath, script: fs.existsSync(script) ? script : path.resolve(process.argv[1] ?? script) };
}

function readHook(file: string): { text: string; executable: boolean } | 'absent' | undefined {
  if (!exists(file)) return 'absent';
  try {
    return { text: fs.readFileSync(file, 'utf8'), executable: (fs.statSync(file).mode & 0o111) === 0o111 };
  } catch {
    return undefined; // a dangling link or a folder: not mlv's
  }
}

function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

function writeExecutable(file: string, text: string): void {
  const tmp = `${file}.mlv-tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, text, { mode: 0o755 });
    fs.chmodSync(tmp, 0o755);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

const BEGIN = '# >>> mlv hook';
const END = '# <<< mlv hook <<<';

/** Whether a hook file is one mlv wrote (any version): a shell script that is all one marked block. */
export function isMlvHook(text: string): boolean {
  const lines = text.split('\n');
  return lines[0] === '#!/bin/sh' && (lines[1] ?? '').startsWith(BEGIN) && text.endsWith(`\n${END}\n`);
}

/** A string quoted for sh: '...' with each ' written as '\''. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const WHAT: Record<HookName, string> = {
  'post-checkout': 'mlv checkout after a branch checkout (git checkout, git switch) that changed pointer files',
  'post-merge': 'mlv checkout after a merge (git merge, git pull) that changed pointer files',
  'pre-push': 'mlv push (to the default mlv remote) before git push; a failed upload stops the git push',
};

/** The whole hook file. Its text depends only on the hook and the launcher, so reinstalling is a no-op. */
export function hookScript(name: HookName, launcher: { node: string; script: string }): string {
  const common = `#!/bin/sh
${BEGIN} (v1): written by mlv install-hooks, removed by mlv uninstall-hooks; do not edit >>>
# Runs ${WHAT[name]}.
# The hook that was here before, if any, is ${name}${CHAINED_SUFFIX} and runs first.
# MLV_SKIP_HOOKS=1 skips mlv (not that hook). See docs/hooks.md of mlv.
mlv_node=${shQuote(launcher.node)}
mlv_script=${shQuote(launcher.script)}
run_mlv() {
  if [ -f "$mlv_script" ] && [ -x "$mlv_node" ]; then "$mlv_node" "$mlv_script" "$@"
  elif command -v mlv >/dev/null 2>&1; then command mlv "$@"
  else
    echo "mlv (${name} hook): mlv is not installed: $mlv_script is gone and there is no mlv on PATH; install mlv, or remove this hook with mlv uninstall-hooks (or delete $0)" >&2
    return 127
  fi
}
`;
  const sync = `# True unless no pointer file differs between two commits.
mlv_pointers_changed() {
  ! git diff-tree -r --quiet "$1" "$2" -- '*.mlv' 2>/dev/null
}
mlv_checkout() {
  run_mlv checkout -q </dev/null && return 0
  mlv_code=$?
  case $mlv_code in
    4) echo "mlv (${name} hook): your data changes were left in place, so the workspace data does not match the checked-out pointers; see mlv status" >&2 ;;
    5) echo "mlv (${name} hook): some data of this commit is not in the local cache; mlv pull downloads it" >&2 ;;
    *) echo "mlv (${name} hook): mlv checkout failed (exit $mlv_code), so the workspace data may not match the checked-out pointers; run mlv checkout once the problem is fixed" >&2 ;;
  esac
  return $mlv_code
}
`;
  const skip = `mlv_skipped() {
  case \${MLV_SKIP_HOOKS:-} in 1|true) return 0 ;; esac
  [ ! -f .mlv/config ] # the checked-out commit has no mlv project (Git runs hooks at the work tree root)
}
`;
  const end = `${END}\n`;
  if (name === 'pre-push') {
    return `${common}${skip}
mlv_stdin=$(cat; echo .) # the ref lines on stdin, for the hook that runs first
mlv_stdin=\${mlv_stdin%.}
if [ -x "$0${CHAINED_SUFFIX}" ]; then printf '%s' "$mlv_stdin" | "$0${CHAINED_SUFFIX}" "$@" || exit $?; fi
mlv_skipped && exit 0
run_mlv push </dev/null && exit 0
mlv_code=$?
echo "mlv (pre-push hook): mlv push failed (exit $mlv_code), so git push was stopped: the pushed commits would reference data that is not on the data remote. Fix the problem above and push again, or push without the data: MLV_SKIP_HOOKS=1 git push (git push --no-verify also skips any other pre-push hook)" >&2
exit $mlv_code
${end}`;
  }
  // post-checkout: $1 $2 are the old and new HEAD, $3 is 1 for a branch checkout and 0 for a file
  // checkout; $1 is all zeros after a clone or worktree add (the cache is empty: mlv pull).
  // post-merge: $1 is 1 for a squash merge, which leaves HEAD where it was.
  const changed =
    name === 'post-checkout'
      ? `[ "$3" = 1 ] || exit "$mlv_status"
case $1 in *[!0]*) ;; *) exit "$mlv_status" ;; esac
mlv_pointers_changed "$1" "$2" || exit "$mlv_status"`
      : `[ "$1" = 1 ] || mlv_pointers_changed ORIG_HEAD HEAD || exit "$mlv_status"`;
  return `${common}${sync}${skip}
mlv_status=0
if [ -x "$0${CHAINED_SUFFIX}" ]; then "$0${CHAINED_SUFFIX}" "$@" || mlv_status=$?; fi
mlv_skipped && exit "$mlv_status"
${changed}
mlv_checkout || { mlv_code=$?; [ "$mlv_status" -ne 0 ] || mlv_status=$mlv_code; }
exit "$mlv_status"
${end}`;
}

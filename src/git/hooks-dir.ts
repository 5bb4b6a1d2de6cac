/**
 * Where Git looks for hooks, found from the files Git itself reads (no git process): the folder
 * `core.hooksPath` names (repository config over global over system config; a relative path is
 * relative to the work tree), else `hooks/` in the common Git directory. In a linked worktree or a
 * submodule `.git` is a file `gitdir: <path>`; a worktree's Git directory names the common one in
 * its `commondir` file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface HooksLocation {
  /** The folder holding `.git`. */
  workTree: string;
  gitDir: string;
  /** Where the config and the default hooks folder live (the main repository's, for a linked worktree). */
  commonDir: string;
  hooksDir: string;
  /** The config file that set `core.hooksPath`, when one did. */
  hooksPathFrom?: string;
}

/** The Git work tree containing `dir` and where its hooks go, or undefined outside Git. */
export function locateHooks(dir: string): HooksLocation | undefined {
  let workTree = path.resolve(dir);
  let dotGit: fs.Stats | undefined;
  for (;;) {
    dotGit = statOrUndefined(path.join(workTree, '.git'));
    if (dotGit) break;
    const parent = path.dirname(workTree);
    if (parent === workTree) return undefined;
    workTree = parent;
  }
  const gitDir = dotGit.isDirectory() ? path.join(workTree, '.git') : gitDirFromFile(path.join(workTree, '.git'));
  if (!gitDir) return undefined;
  const commondir = readOrUndefined(path.join(gitDir, 'commondir'))?.trim();
  const commonDir = commondir ? path.resolve(gitDir, commondir) : gitDir;

  for (const file of configFiles(commonDir)) {
    const value = configValue(readOrUndefined(file) ?? '', 'core', 'hookspath');
    if (value) return { workTree, gitDir, commonDir, hooksDir: path.resolve(workTree, expandHome(value)), hooksPathFrom: file };
  }
  return { workTree, gitDir, commonDir, hooksDir: path.join(commonDir, 'hooks') };
}

function gitDirFromFile(file: string): string | undefined {
  const m = /^gitdir:\s*(.+?)\s*$/m.exec(readOrUndefined(file) ?? '');
  return m ? path.resolve(path.dirname(file), m[1]!) : undefined;
}

/** Config files, highest precedence first (as Git reads them, without `include` directives). */
function configFiles(commonDir: string): string[] {
  const home = process.env.HOME || os.homedir();
  const files = [path.join(commonDir, 'config')];
  if (process.env.GIT_CONFIG_GLOBAL !== undefined) files.push(process.env.GIT_CONFIG_GLOBAL);
  else files.push(path.join(home, '.gitconfig'), path.join(process.env.XDG_CONFIG_HOME || path.join(home, '.config'), 'git', 'config'));
  if (!/^(1|true|yes|on)$/i.test(process.env.GIT_CONFIG_NOSYSTEM ?? '')) files.push(process.env.GIT_CONFIG_SYSTEM ?? '/etc/gitconfig');
  return files.filter((f) => f !== '');
}

function expandHome(p: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(process.env.HOME || os.homedir(), p.slice(1));
  return p;
}

/**
 * The last value of `<section>.<key>` (both lower case; no subsection) in git-config text:
 * case-insensitive names, quotes, backslash escapes, comments, line continuations.
 */
export function configValue(text: string, section: string, key: string): string | undefined {
  const lines = text.split(/\r?\n/);
  let current = '';
  let value: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    const header = /^\s*\[\s*([A-Za-z0-9.-]+)(\s+"(?:[^"\\]|\\.)*")?\s*\](.*)$/.exec(line);
    if (header) {
      current = header[2] ? '' : header[1]!.toLowerCase();
      line = header[3]!;
    }
    const m = /^\s*([A-Za-z][A-Za-z0-9-]*)\s*(=(.*))?$/.exec(line);
    if (!m || current !== section || m[1]!.toLowerCase() !== key) continue;
    if (m[2] === undefined) {
      value = 'true';
      continue;
    }
    let raw = m[3]!;
    while (/(^|[^\\])(\\\\)*\\$/.test(raw) && i + 1 < lines.length) raw = raw.slice(0, -1) + lines[++i]!;
    value = unquote(raw);
  }
  return value;
}

function unquote(raw: string): string {
  let out = '';
  let spaces = '';
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (!quoted && (c === '#' || c === ';')) break;
    if (!quoted && (c === ' ' || c === '\t')) {
      spaces += c;
      continue;
    }
    if (out !== '') out += spaces;
    spaces = '';
    if (c === '"') quoted = !quoted;
    else if (c === '\\' && i + 1 < raw.length) {
      const n = raw[++i]!;
      out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'b' ? '\b' : n;
    } else out += c;
  }
  return out;
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function readOrUndefined(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

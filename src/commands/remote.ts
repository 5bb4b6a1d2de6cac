/** `mlv remote add|list|remove|modify|default`: where data is pushed to and pulled from. */
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { REMOTE_NAME, validateConfigValue } from '../workspace/config.js';
import { ConfigFile } from '../workspace/config-file.js';
import { REMOTE_OPTIONS, remoteUrlProblem } from '../workspace/remote-options.js';
import { findRepo, type Repo } from '../workspace/repo.js';
import { withLock, type CommandContext } from './context.js';

export interface RemoteInfo {
  name: string;
  url: string;
  default: boolean;
  /** Options set besides the URL (secrets shown as "(set)"). */
  options: Record<string, string>;
}

export type RemoteResult =
  | { action: 'add'; name: string; url: string; default: boolean; file: string }
  | { action: 'list'; remotes: RemoteInfo[] }
  | { action: 'remove'; name: string }
  | { action: 'modify'; name: string; option: string; value?: string; file: string }
  | { action: 'default'; name: string; file: string };

function checkName(name: string): void {
  if (!REMOTE_NAME.test(name)) {
    throw new MlvError('USAGE', `invalid remote name ${JSON.stringify(name)}`, { hint: 'use letters, digits, "-" and "_" (up to 64), starting with a letter or digit' });
  }
}

function files(repo: Repo, local: boolean): { file: ConfigFile; label: string } {
  const name = local ? 'config.local' : 'config';
  return { file: ConfigFile.load(path.join(repo.mlvDir, name)), label: `.mlv/${name}` };
}

export async function remoteAdd(ctx: CommandContext, opts: { name: string; url: string; makeDefault?: boolean; local?: boolean }): Promise<RemoteResult> {
  checkName(opts.name);
  const problem = remoteUrlProblem(opts.url);
  if (problem) throw new MlvError('USAGE', `invalid remote URL: ${problem}`);
  const repo = findRepo(ctx.cwd);
  return withLock(repo, 'remote add', async () => {
    if (repo.config.remoteNames.includes(opts.name)) {
      throw new MlvError('USAGE', `a remote named ${opts.name} already exists`, { hint: `change it with mlv remote modify ${opts.name} url <url>, or remove it first` });
    }
    const { file, label } = files(repo, opts.local ?? false);
    file.set(`remote.${opts.name}.url`, opts.url);
    if (opts.makeDefault) file.set('core.remote', opts.name);
    file.save(repo.tmpDir);
    return { action: 'add', name: opts.name, url: opts.url, default: opts.makeDefault ?? false, file: label };
  });
}

export async function remoteList(ctx: CommandContext): Promise<RemoteResult> {
  const repo = findRepo(ctx.cwd);
  const config = repo.config;
  const def = config.get('core.remote') ?? (config.remoteNames.length === 1 ? config.remoteNames[0] : undefined);
  const remotes = config.remoteNames.map((name) => {
    const section = config.section(`remote.${name}`);
    const options: Record<string, string> = {};
    for (const [k, v] of section) if (k !== 'url') options[k] = REMOTE_OPTIONS[k]?.secret ? '(set)' : v;
    return { name, url: section.get('url')!, default: name === def, options };
  });
  return { action: 'list', remotes };
}

export async function remoteRemove(ctx: CommandContext, opts: { name: string }): Promise<RemoteResult> {
  const repo = findRepo(ctx.cwd);
  return withLock(repo, 'remote remove', async () => {
    if (!repo.config.remoteNames.includes(opts.name)) throw new MlvError('USAGE', `no remote named ${JSON.stringify(opts.name)}`, { hint: 'list them with mlv remote list' });
    for (const local of [false, true]) {
      const { file } = files(repo, local);
      file.removeSection(`remote.${opts.name}`);
      if (file.get('core.remote') === opts.name) file.unset('core.remote');
      file.save(repo.tmpDir);
    }
    return { action: 'remove', name: opts.name };
  });
}

export async function remoteModify(ctx: CommandContext, opts: { name: string; option: string; value?: string; local?: boolean; unset?: boolean }): Promise<RemoteResult> {
  checkName(opts.name);
  const repo = findRepo(ctx.cwd);
  const key = `remote.${opts.name}.${opts.option}`;
  const spec = Object.hasOwn(REMOTE_OPTIONS, opts.option) ? REMOTE_OPTIONS[opts.option] : undefined;
  if (!spec) {
    throw new MlvError('USAGE', `unknown remote option ${JSON.stringify(opts.option)}`, { hint: `options: ${Object.keys(REMOTE_OPTIONS).join(', ')}` });
  }
  if (spec.secret && !opts.local) {
    throw new MlvError('USAGE', `${opts.option} is a secret: mlv will not write it into the committed .mlv/config`, {
      hint: `use --local to keep it in the git-ignored .mlv/config.local, or better, the AWS credential chain (AWS_PROFILE, ~/.aws/credentials)`,
    });
  }
  return withLock(repo, 'remote modify', async () => {
    if (!repo.config.remoteNames.includes(opts.name)) throw new MlvError('USAGE', `no remote named ${JSON.stringify(opts.name)}`, { hint: 'add it first with mlv remote add' });
    const { file, label } = files(repo, opts.local ?? false);
    if (opts.unset) {
      if (opts.option === 'url') throw new MlvError('USAGE', 'a remote needs its url; remove the remote instead');
      file.unset(key);
      file.save(repo.tmpDir);
      return { action: 'modify', name: opts.name, option: opts.option, file: label };
    }
    if (opts.value === undefined) throw new MlvError('USAGE', `missing value for ${opts.option}`);
    validateConfigValue(key, opts.value);
    file.set(key, opts.value);
    file.save(repo.tmpDir);
    const result: RemoteResult = { action: 'modify', name: opts.name, option: opts.option, file: label };
    if (!spec.secret) result.value = opts.value;
    return result;
  });
}

export async function remoteDefault(ctx: CommandContext, opts: { name: string; local?: boolean }): Promise<RemoteResult> {
  const repo = findRepo(ctx.cwd);
  return withLock(repo, 'remote default', async () => {
    if (!repo.config.remoteNames.includes(opts.name)) throw new MlvError('USAGE', `no remote named ${JSON.stringify(opts.name)}`, { hint: 'list them with mlv remote list' });
    const { file, label } = files(repo, opts.local ?? false);
    file.set('core.remote', opts.name);
    file.save(repo.tmpDir);
    return { action: 'default', name: opts.name, file: label };
  });
}

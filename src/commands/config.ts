/** `mlv config`: read and write configuration, git-config style. */
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { CONFIG_KEYS, configKeySpec, validateConfigValue } from '../workspace/config.js';
import { ConfigFile } from '../workspace/config-file.js';
import { findRepo } from '../workspace/repo.js';
import { withLock, type CommandContext } from './context.js';

export interface ConfigOptions {
  key?: string;
  value?: string;
  /** Read or write `.mlv/config.local` only. */
  local?: boolean;
  unset?: boolean;
  list?: boolean;
}

export type ConfigResult =
  | { action: 'get'; key: string; value: string; source: 'config' | 'config.local' | 'default' }
  | { action: 'set'; key: string; value: string; file: string }
  | { action: 'unset'; key: string; file: string; existed: boolean }
  | { action: 'list'; entries: Array<{ key: string; value: string; source: 'config' | 'config.local' | 'default' }> };

export async function config(ctx: CommandContext, opts: ConfigOptions): Promise<ConfigResult> {
  const repo = findRepo(ctx.cwd);
  const fileName = opts.local ? 'config.local' : 'config';
  if (opts.list) {
    const c = repo.config;
    const entries: Array<{ key: string; value: string; source: 'config' | 'config.local' | 'default' }> = [];
    for (const key of Object.keys(CONFIG_KEYS)) {
      const local = c.local.get(key);
      const shared = c.shared.get(key);
      if (!opts.local && shared !== undefined && local === undefined) entries.push({ key, value: shared, source: 'config' });
      else if (local !== undefined) entries.push({ key, value: local, source: 'config.local' });
      else if (!opts.local && CONFIG_KEYS[key]!.default !== undefined) entries.push({ key, value: CONFIG_KEYS[key]!.default!, source: 'default' });
    }
    for (const file of opts.local ? [c.local] : [c.shared, c.local]) {
      for (const [key, value] of file.entries()) {
        if (!key.startsWith('remote.')) continue;
        const source = file === c.local ? ('config.local' as const) : ('config' as const);
        const existing = entries.findIndex((e) => e.key === key);
        const entry = { key, value: configKeySpec(key)?.secret ? '(set, hidden)' : value, source };
        if (existing >= 0) entries[existing] = entry;
        else entries.push(entry);
      }
    }
    return { action: 'list', entries };
  }
  const key = opts.key;
  if (!key) throw new MlvError('USAGE', 'missing configuration key', { hint: 'e.g. mlv config core.link, or mlv config --list' });
  if (!configKeySpec(key)) validateConfigValue(key, '');
  if (opts.unset || opts.value !== undefined) {
    return withLock(repo, 'config', async () => {
      const file = ConfigFile.load(path.join(repo.mlvDir, fileName));
      if (opts.unset) {
        const existed = file.unset(key);
        if (existed) file.save(repo.tmpDir);
        return { action: 'unset' as const, key, file: `.mlv/${fileName}`, existed };
      }
      validateConfigValue(key, opts.value!);
      if (configKeySpec(key)?.secret && !opts.local) {
        throw new MlvError('USAGE', `${key} is a secret: mlv will not write it into the committed .mlv/config`, {
          hint: 'use --local to keep it in the git-ignored .mlv/config.local, or the AWS credential chain (AWS_PROFILE, ~/.aws/credentials)',
        });
      }
      file.set(key, opts.value!);
      file.save(repo.tmpDir);
      return { action: 'set' as const, key, value: configKeySpec(key)?.secret ? '(set, hidden)' : opts.value!, file: `.mlv/${fileName}` };
    });
  }
  const c = repo.config;
  if (opts.local) {
    const v = c.local.get(key);
    if (v === undefined) throw new MlvError('NOT_FOUND', `${key} is not set in .mlv/config.local`);
    return { action: 'get', key, value: configKeySpec(key)?.secret ? '(set, hidden)' : v, source: 'config.local' };
  }
  const local = c.local.get(key);
  if (local !== undefined) return { action: 'get', key, value: configKeySpec(key)?.secret ? '(set, hidden)' : local, source: 'config.local' };
  const shared = c.shared.get(key);
  if (shared !== undefined) return { action: 'get', key, value: shared, source: 'config' };
  const def = configKeySpec(key)!.default;
  if (def === undefined) throw new MlvError('NOT_FOUND', `${key} is not set`, { hint: `set it with mlv config ${key} <value>` });
  return { action: 'get', key, value: def, source: 'default' };
}

/**
 * Configuration: `.mlv/config` (committed) overlaid by `.mlv/config.local` (git-ignored, for
 * machine-specific settings and secrets). Keys are validated against a schema.
 */
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { ConfigFile } from './config-file.js';
import { CONTROL, REMOTE_OPTIONS } from './remote-options.js';

export type LinkStrategy = 'reflink' | 'hardlink' | 'symlink' | 'copy';
export const LINK_STRATEGIES: readonly LinkStrategy[] = ['reflink', 'hardlink', 'symlink', 'copy'];
export const DEFAULT_LINK: readonly LinkStrategy[] = ['reflink', 'copy'];

export interface KeySpec {
  description: string;
  default?: string;
  /** Secrets may live only in the git-ignored config.local. */
  secret?: boolean;
  validate(value: string): string | undefined;
}

const bool = (v: string) => (v === 'true' || v === 'false' ? undefined : 'expected true or false');

export const CONFIG_KEYS: Record<string, KeySpec> = {
  'core.link': {
    description: 'how checkout places files: an ordered fallback list of reflink, hardlink, symlink, copy',
    default: DEFAULT_LINK.join(','),
    validate(v) {
      const parts = v.split(',').map((s) => s.trim());
      if (parts.length === 0 || parts.some((p) => !(LINK_STRATEGIES as readonly string[]).includes(p))) {
        return `expected a comma-separated list of ${LINK_STRATEGIES.join(', ')}`;
      }
      if (new Set(parts).size !== parts.length) return 'a strategy is listed twice';
      return undefined;
    },
  },
  'core.autostage': {
    description: 'stage pointer files and .gitignore changes in Git after add and untrack',
    default: 'true',
    validate: bool,
  },
  'core.jobs': {
    description: 'worker threads for hashing (default: number of CPUs)',
    validate: (v) => (/^[1-9][0-9]{0,2}$/.test(v) && Number(v) <= 256 ? undefined : 'expected an integer from 1 to 256'),
  },
  'core.no_scm': {
    description: 'true when the project is not inside a Git repository (set by mlv init --no-scm)',
    default: 'false',
    validate: bool,
  },
  'core.remote': {
    description: 'the default remote for push, fetch and pull (set by mlv remote add --default)',
    validate: (v) => (REMOTE_NAME.test(v) ? undefined : 'expected a remote name (letters, digits, "-", "_")'),
  },
  'core.lock_timeout': {
    description: 'seconds to wait for another mlv command holding the repository lock',
    default: '60',
    validate: (v) => (/^(0|[1-9][0-9]{0,5})$/.test(v) ? undefined : 'expected a whole number of seconds'),
  },
  'gc.grace': {
    // No default here: gc applies its own (7d) when the key is unset.
    description: 'mlv gc keeps unreferenced objects younger than this (0, 30m, 2h, 7d, 2w; default 7d)',
    validate: (v) => (/^(0|[0-9]{1,9}[smhdw])$/.test(v) ? undefined : 'expected 0 or a number with a unit: s, m, h, d or w (e.g. 7d)'),
  },
};

export const REMOTE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function configKeySpec(key: string): KeySpec | undefined {
  if (Object.hasOwn(CONFIG_KEYS, key)) return CONFIG_KEYS[key];
  const m = /^remote\.(.+)\.([a-z_]+)$/.exec(key);
  if (m && REMOTE_NAME.test(m[1]!) && Object.hasOwn(REMOTE_OPTIONS, m[2]!)) return REMOTE_OPTIONS[m[2]!];
  return undefined;
}

export function validateConfigValue(key: string, value: string): void {
  const spec = configKeySpec(key);
  if (!spec) {
    throw new MlvError('USAGE', `unknown configuration key ${JSON.stringify(key)}`, {
      hint: `known keys: ${Object.keys(CONFIG_KEYS).join(', ')}, remote.<name>.{${Object.keys(REMOTE_OPTIONS).join(',')}}`,
    });
  }
  if (CONTROL.test(value)) {
    throw new MlvError('USAGE', `invalid value for ${key}: control characters and line breaks are not allowed`);
  }
  const problem = spec.validate(value);
  // Secrets, URLs and endpoints may hold credentials: their values are never repeated.
  const shown = spec.secret || /\.(url|endpoint)$/.test(key) ? '' : `${JSON.stringify(value)}: `;
  if (problem) throw new MlvError('USAGE', `invalid value for ${key}: ${shown}${problem}`);
}

export class Config {
  constructor(
    readonly shared: ConfigFile,
    readonly local: ConfigFile,
  ) {}

  static load(mlvDir: string): Config {
    return Config.of(ConfigFile.load(path.join(mlvDir, 'config')), ConfigFile.load(path.join(mlvDir, 'config.local')));
  }

  /** A configuration from its two files (e.g. `.mlv/config` read from a commit), validated. */
  static of(shared: ConfigFile, local: ConfigFile): Config {
    const config = new Config(shared, local);
    for (const file of [config.shared, config.local]) {
      for (const [key, value] of file.entries()) {
        if (file === config.shared && configKeySpec(key)?.secret) {
          throw new MlvError('INVALID_CONFIG', `${file.file}: ${key} is a secret and must not be in the committed config`, {
            hint: `move it to .mlv/config.local (mlv config --local ${key} ...), delete it from .mlv/config, and rotate the key if it was ever committed`,
          });
        }
        try {
          validateConfigValue(key, value);
        } catch (err) {
          throw new MlvError('INVALID_CONFIG', `${file.file}: ${(err as Error).message}`, {
            hint: (err as MlvError).hint ?? 'fix or remove that line',
          });
        }
      }
    }
    return config;
  }

  get(key: string): string | undefined {
    return this.local.get(key) ?? this.shared.get(key) ?? configKeySpec(key)?.default;
  }

  get link(): LinkStrategy[] {
    return this.get('core.link')!.split(',').map((s) => s.trim() as LinkStrategy);
  }

  get autostage(): boolean {
    return this.get('core.autostage') === 'true';
  }

  get noScm(): boolean {
    return this.get('core.no_scm') === 'true';
  }

  get jobs(): number | undefined {
    const v = this.get('core.jobs');
    return v === undefined ? undefined : Number(v);
  }

  /** Every key of one section in effect (config.local over config), e.g. for `remote.origin`. */
  section(prefix: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const file of [this.shared, this.local]) {
      for (const [key, value] of file.entries()) {
        if (key.startsWith(prefix + '.') && !key.slice(prefix.length + 1).includes('.')) out.set(key.slice(prefix.length + 1), value);
      }
    }
    return out;
  }

  /** Names of the configured remotes (sections `remote.<name>` with a url). */
  get remoteNames(): string[] {
    const names = new Set<string>();
    for (const file of [this.shared, this.local]) {
      for (const [key] of file.entries()) {
        const m = /^remote\.(.+)\.url$/.exec(key);
        if (m) names.add(m[1]!);
      }
    }
    return [...names].sort();
  }

  get lockTimeoutMs(): number {
    const env = process.env.MLV_LOCK_TIMEOUT;
    if (env !== undefined && /^[0-9]+(\.[0-9]+)?$/.test(env)) return Number(env) * 1000;
    return Number(this.get('core.lock_timeout')) * 1000;
  }
}

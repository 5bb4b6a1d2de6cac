/** Resolving a configured remote (`remote.<name>.*` in config and config.local) to its settings. */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MlvError } from '../core/errors.js';
import type { Config } from './config.js';
import type { Repo } from './repo.js';
import { REMOTE_OPTIONS, remoteUrlProblem } from './remote-options.js';

export type RemoteLocation = { kind: 's3'; bucket: string; prefix: string } | { kind: 'folder'; path: string };

export interface RemoteSpec {
  name: string;
  /** The URL as configured (never contains credentials: those are refused). */
  url: string;
  location: RemoteLocation;
  endpoint?: string;
  region?: string;
  profile?: string;
  pathStyle?: boolean;
  checksum?: 'auto' | 'when_required';
  jobs?: number;
  /** From config.local only. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export function parseRemoteUrl(url: string, repoRoot: string): RemoteLocation {
  const problem = remoteUrlProblem(url);
  if (problem) throw new MlvError('USAGE', `invalid remote URL: ${problem}`);
  if (/^s3:\/\//i.test(url)) {
    const rest = url.slice(5);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = (slash === -1 ? '' : rest.slice(slash + 1)).replace(/^\/+|\/+$/g, '');
    return { kind: 's3', bucket, prefix };
  }
  if (/^file:\/\//i.test(url)) return { kind: 'folder', path: fileURLToPath(url) };
  return { kind: 'folder', path: path.resolve(repoRoot, url) };
}

/** The remote to use: the named one, else core.remote, else the only one configured. */
export function resolveRemote(repo: Repo, name?: string): RemoteSpec {
  return resolveRemoteIn(repo.config, repo.root, name);
}

/** The same, from any configuration (e.g. one read at a commit); folder URLs are relative to `root`. */
export function resolveRemoteIn(config: Config, root: string, name?: string): RemoteSpec {
  const names = config.remoteNames;
  let chosen = name;
  if (!chosen) {
    chosen = config.get('core.remote');
    if (!chosen && names.length === 1) chosen = names[0];
    if (!chosen) {
      throw new MlvError('USAGE', names.length === 0 ? 'no remote is configured' : `no default remote is set (configured: ${names.join(', ')})`, {
        hint: names.length === 0 ? 'add one: mlv remote add --default origin s3://bucket/path (or a folder path)' : `pick one with -r <name>, or set a default: mlv remote default ${names[0]}`,
      });
    }
  }
  if (!names.includes(chosen)) {
    throw new MlvError('USAGE', `no remote named ${JSON.stringify(chosen)}${names.length ? ` (configured: ${names.join(', ')})` : ''}`, {
      hint: 'list them with mlv remote list',
    });
  }
  const s = config.section(`remote.${chosen}`);
  const url = s.get('url')!;
  const spec: RemoteSpec = { name: chosen, url, location: parseRemoteUrl(url, root) };
  const endpoint = s.get('endpoint') ?? (spec.location.kind === 's3' ? process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined : undefined);
  if (endpoint) {
    const problem = REMOTE_OPTIONS.endpoint!.validate(endpoint);
    if (problem) throw new MlvError('USAGE', `invalid S3 endpoint${s.get('endpoint') ? ` for remote ${chosen}` : ' in AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL'}: ${problem}`);
    spec.endpoint = endpoint;
  }
  if (s.has('region')) spec.region = s.get('region')!;
  if (s.has('profile')) spec.profile = s.get('profile')!;
  if (s.has('path_style')) spec.pathStyle = s.get('path_style') === 'true';
  if (s.has('checksum')) spec.checksum = s.get('checksum') as 'auto' | 'when_required';
  if (s.has('jobs')) spec.jobs = Number(s.get('jobs'));
  const key = s.get('access_key_id');
  const secret = s.get('secret_access_key');
  if (s.get('session_token') && !(key && secret)) {
    throw new MlvError('INVALID_CONFIG', `remote ${chosen}: session_token needs access_key_id and secret_access_key (in .mlv/config.local)`);
  }
  if (key || secret) {
    if (!key || !secret) {
      throw new MlvError('INVALID_CONFIG', `remote ${chosen}: access_key_id and secret_access_key must be set together (in .mlv/config.local)`);
    }
    spec.credentials = { accessKeyId: key, secretAccessKey: secret };
    const token = s.get('session_token');
    if (token) spec.credentials.sessionToken = token;
  }
  return spec;
}

/** A description of the remote safe to print: never credentials. */
export function describeRemote(spec: RemoteSpec): string {
  return `${spec.name} (${spec.location.kind === 's3' ? `s3://${spec.location.bucket}/${spec.location.prefix}` : spec.location.path})`;
}

/** The settings a remote takes (`remote.<name>.<option>`), validated like every other key. */
import type { KeySpec } from './config.js';

const bool = (v: string) => (v === 'true' || v === 'false' ? undefined : 'expected true or false');
/** C0 and C1 control characters, DEL, and the Unicode line and paragraph separators. */
export const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export const REMOTE_OPTIONS: Record<string, KeySpec> = {
  url: {
    description: 'where the remote is: s3://bucket/prefix, a folder path, or file:///path',
    validate: (v) => remoteUrlProblem(v),
  },
  endpoint: {
    description: 'S3-compatible endpoint URL (MinIO, Ceph, R2, ...); also read from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL',
    validate(v) {
      if (CONTROL.test(v)) return 'control characters are not allowed';
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        return 'expected a URL such as https://minio.example.com:9000';
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'the endpoint must be an http:// or https:// URL';
      if (u.username || u.password) return 'credentials must not be part of the URL (use the AWS credential chain or config.local)';
      return undefined;
    },
  },
  region: { description: 'S3 region (default us-east-1 for custom endpoints)', validate: (v) => (/^[a-z0-9-]{1,32}$/.test(v) ? undefined : 'expected a region name such as eu-west-1') },
  profile: { description: 'AWS profile from ~/.aws/config and ~/.aws/credentials', validate: (v) => (/^[A-Za-z0-9_.@+-]{1,64}$/.test(v) ? undefined : 'expected a profile name') },
  path_style: { description: 'path-style addressing (default true with a custom endpoint)', validate: bool },
  checksum: {
    description: 'request checksums: when_required (default with a custom endpoint) or auto (SDK default)',
    validate: (v) => (v === 'auto' || v === 'when_required' ? undefined : 'expected auto or when_required'),
  },
  jobs: { description: 'concurrent transfers (default 64 for S3, 16 for folders)', validate: (v) => (/^[1-9][0-9]{0,3}$/.test(v) && Number(v) <= 1024 ? undefined : 'expected an integer from 1 to 1024') },
  access_key_id: { description: 'access key id (config.local only)', secret: true, validate: (v) => (/^[\x21-\x7e]{1,256}$/.test(v) ? undefined : 'expected printable characters') },
  secret_access_key: { description: 'secret access key (config.local only)', secret: true, validate: (v) => (/^[\x21-\x7e]{1,256}$/.test(v) ? undefined : 'expected printable characters') },
  session_token: { description: 'session token (config.local only)', secret: true, validate: (v) => (/^[\x21-\x7e]{1,4096}$/.test(v) ? undefined : 'expected printable characters') },
};

/** Why a remote URL is unacceptable, or undefined. Never echoes the URL (it may hold a secret). */
export function remoteUrlProblem(url: string): string | undefined {
  if (url.length === 0) return 'empty URL';
  if (CONTROL.test(url)) return 'control characters and line breaks are not allowed in a remote URL';
  if (/^s3:\/\//i.test(url)) {
    const rest = url.slice(5);
    const slash = rest.indexOf('/');
    const authority = slash === -1 ? rest : rest.slice(0, slash);
    if (authority.includes('@') || authority.includes(':')) return 'credentials must not be part of the URL (use the AWS credential chain or .mlv/config.local)';
    if (!/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/i.test(authority)) return 'expected s3://<bucket>/<prefix> with a valid bucket name';
    const prefix = slash === -1 ? '' : rest.slice(slash + 1);
    if (prefix.split('/').some((s) => s === '..' || s === '.')) return 'the prefix must not contain "." or ".." segments';
    return undefined;
  }
  if (/^file:\/\//i.test(url)) {
    if (!url.startsWith('file:///')) return 'expected file:///absolute/path';
    return undefined;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return 'unsupported scheme: use s3://bucket/prefix, a folder path or file:///path';
  return undefined;
}

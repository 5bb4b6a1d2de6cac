/** Opens the store behind a configured remote; the S3 code (and SDK) loads only when needed. */
import type { RemoteSpec } from '../workspace/remotes.js';
import { FolderRemote } from './folder-remote.js';
import type { RemoteStore } from './remote-store.js';

export async function openRemote(spec: RemoteSpec): Promise<RemoteStore> {
  if (spec.location.kind === 'folder') return new FolderRemote(spec.location.path);
  const { openS3Remote } = await import('./s3-remote.js');
  return openS3Remote(spec);
}

/** Default concurrency: transfers of small objects are latency-bound, so many run at once. */
export function defaultJobs(spec: RemoteSpec): number {
  return spec.jobs ?? (spec.location.kind === 's3' ? 64 : 16);
}

/** What every command receives: where it runs and where progress goes. Commands never print. */
import type { ProgressListener } from '../core/progress.js';
import { acquireLock } from '../workspace/lock.js';
import type { Repo } from '../workspace/repo.js';

export interface CommandContext {
  cwd: string;
  onProgress?: ProgressListener;
}

export async function withLock<T>(repo: Repo, command: string, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(repo.mlvDir, command, repo.config.lockTimeoutMs);
  // A run that died holding the lock may have left temp files beside cache objects.
  if (lock.tookOverStale) repo.cache.cleanStaleShardTemps();
  const release = () => lock.release();
  process.once('exit', release);
  try {
    return await fn();
  } finally {
    process.removeListener('exit', release);
    lock.release();
  }
}

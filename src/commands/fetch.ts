/** `mlv fetch`: download the objects the pointers reference and the cache lacks, verified. */
import { fetchGraph } from '../storage/sync.js';
import { findRepo, type Repo } from '../workspace/repo.js';
import { withLock, type CommandContext } from './context.js';
import type { TransferOptionsCli, TransferResult } from './push.js';
import { graphFor, localThenRemoteTrees, setUpSync } from './sync-context.js';

export async function fetchData(ctx: CommandContext, opts: TransferOptionsCli = {}): Promise<TransferResult> {
  const repo = findRepo(ctx.cwd);
  return withLock(repo, 'fetch', () => fetchLocked(repo, ctx, opts));
}

/** The body of fetch, for commands (pull) that already hold the lock. */
export async function fetchLocked(repo: Repo, ctx: CommandContext, opts: TransferOptionsCli): Promise<TransferResult> {
  repo.cache.cleanStaleTemps();
  const setup = await setUpSync(repo, ctx.cwd, opts);
  try {
    const graph = await graphFor(setup, localThenRemoteTrees(repo, setup.remote));
    const summary = await fetchGraph(repo.cache, setup.remote, graph, { jobs: setup.jobs, onProgress: ctx.onProgress });
    return { remote: setup.remoteLabel, ...summary };
  } finally {
    setup.remote.close();
  }
}

/** `mlv push`: upload what the current pointers reference and the remote lacks. */
import { pushGraph, type TransferFailure } from '../storage/sync.js';
import { findRepo } from '../workspace/repo.js';
import { withLock, type CommandContext } from './context.js';
import { graphFor, localTrees, setUpSync } from './sync-context.js';

export interface TransferOptionsCli {
  targets?: string[];
  remote?: string;
  jobs?: number;
}

export interface TransferResult {
  remote: string;
  /** Objects copied in this run, and their bytes. */
  transferred: number;
  transferredBytes: number;
  /** Objects that were already in place. */
  skipped: number;
  failed: TransferFailure[];
}

export async function push(ctx: CommandContext, opts: TransferOptionsCli = {}): Promise<TransferResult> {
  const repo = findRepo(ctx.cwd);
  return withLock(repo, 'push', async () => {
    const setup = await setUpSync(repo, ctx.cwd, opts);
    try {
      const graph = await graphFor(setup, localTrees(repo));
      const summary = await pushGraph(repo.cache, setup.remote, graph, { jobs: setup.jobs, onProgress: ctx.onProgress });
      return { remote: setup.remoteLabel, ...summary };
    } finally {
      setup.remote.close();
    }
  });
}

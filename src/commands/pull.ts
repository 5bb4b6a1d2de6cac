/** `mlv pull`: fetch, then checkout; a target may be a part of a tracked folder. */
import { findRepo } from '../workspace/repo.js';
import { checkoutLocked, type CheckoutResult } from './checkout.js';
import { withLock, type CommandContext } from './context.js';
import { fetchLocked } from './fetch.js';
import type { TransferOptionsCli, TransferResult } from './push.js';
import { crashPoint } from '../core/crash-points.js';

export interface PullOptions extends TransferOptionsCli {
  force?: boolean;
}

export interface PullResult {
  fetch: TransferResult;
  checkout: CheckoutResult;
}

export async function pull(ctx: CommandContext, opts: PullOptions = {}): Promise<PullResult> {
  const repo = findRepo(ctx.cwd);
  return withLock(repo, 'pull', async () => {
    const fetched = await fetchLocked(repo, ctx, opts);
    crashPoint('pull:before-checkout');
    const checkoutOpts: { targets?: string[]; force?: boolean } = {};
    if (opts.targets) checkoutOpts.targets = opts.targets;
    if (opts.force) checkoutOpts.force = opts.force;
    const checkedOut = await checkoutLocked(repo, ctx, checkoutOpts);
    return { fetch: fetched, checkout: checkedOut };
  });
}

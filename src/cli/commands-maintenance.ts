/** `mlv gc` and `mlv fsck`: cleaning up and checking the cache and remotes (docs/maintenance.md). */
import { ExitCode } from '../core/errors.js';
import type { CliKit, CommonFlags } from './kit.js';

export function registerMaintenanceCommands(kit: CliKit): void {
  kit.program
    .command('gc')
    .description('remove cache objects (with --cloud, remote objects too) that no pointer in the chosen scope references')
    .option('-w, --workspace', "keep what the working tree's pointer files reference (always kept; the default scope without --cloud)")
    .option('-a, --all-branches', 'also keep what the tip of every local branch (and HEAD) references')
    .option('-T, --all-tags', 'also keep what every tagged commit references')
    .option('-A, --all-commits', 'also keep what any commit reachable from any ref (branches, tags, remote-tracking branches, stash, HEAD) references')
    .option('-c, --cloud', 'also remove unreferenced objects from the remote (needs an explicit scope)')
    .option('-r, --remote <name>', 'the remote for --cloud (default: core.remote); without --cloud, read missing folder listings from it')
    .option('-n, --dry-run', 'list what would be removed; change nothing')
    .option('--grace <duration>', 'keep unreferenced objects younger than this: 0, 30m, 2h, 7d, 2w (default: gc.grace, else 7d)')
    .option('-j, --jobs <n>', 'concurrent remote requests (default: remote.<name>.jobs, else 64 for S3, 16 for folders)', kit.parseTransferJobs)
    .addOption(kit.json())
    .addOption(kit.quiet())
    .addHelpText(
      'after',
      kit.examples([
        'mlv gc --dry-run',
        'mlv gc --all-branches --all-tags',
        'mlv gc --all-commits --grace 0',
        'mlv gc --cloud --all-commits --dry-run',
        'mlv gc --cloud -r backup --all-branches --all-tags',
      ]),
    )
    .action(
      async (
        o: { workspace?: boolean; allBranches?: boolean; allTags?: boolean; allCommits?: boolean; cloud?: boolean; remote?: string; dryRun?: boolean; grace?: string; jobs?: number } & CommonFlags,
      ) => {
        const { gc } = await import('../commands/gc.js');
        const { renderGc } = await import('./render-maintenance.js');
        await kit.run(
          o,
          (out, cwd) =>
            gc(
              { cwd, onProgress: out.progress },
              {
                workspace: o.workspace,
                allBranches: o.allBranches,
                allTags: o.allTags,
                allCommits: o.allCommits,
                cloud: o.cloud,
                remote: o.remote,
                dryRun: o.dryRun,
                grace: o.grace,
                jobs: o.jobs,
              },
            ),
          renderGc,
          (r) => (r.remote && r.remote.failed.length > 0 ? ExitCode.transferFailed : ExitCode.ok),
        );
      },
    );

  kit.program
    .command('fsck')
    .description('re-hash every cache object (with --remote, every remote object too) and report corrupt and missing ones')
    .option('--remote', 'also check every object on the remote (streamed; the remote is never modified)')
    .option('-r, --remote-name <name>', 'the remote to check (implies --remote; default: core.remote)')
    .option('-j, --jobs <n>', 'concurrent reads (cache files, or remote downloads with --remote)', kit.parseTransferJobs)
    .addOption(kit.json())
    .addOption(kit.quiet())
    .addHelpText('after', kit.examples(['mlv fsck', 'mlv fsck --remote', 'mlv fsck -r backup -j 32 --json']))
    .action(async (o: { remote?: boolean; remoteName?: string; jobs?: number } & CommonFlags) => {
      const { fsck, fsckExitCode } = await import('../commands/fsck.js');
      const { renderFsck } = await import('./render-maintenance.js');
      await kit.run(o, (out, cwd) => fsck({ cwd, onProgress: out.progress }, { remote: o.remote, remoteName: o.remoteName, jobs: o.jobs }), renderFsck, fsckExitCode);
    });
}

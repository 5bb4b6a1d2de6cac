/** `mlv ls`, `mlv diff`, `mlv get`, `mlv export`: reading the data of any commit. */
import { MlvError } from '../core/errors.js';
import type { CliKit, CommonFlags } from './kit.js';

export function registerHistoryCommands(kit: CliKit): void {
  const { program } = kit;
  program
    .command('ls')
    .description('list tracked data at a revision (default: the working tree), down into tracked folders')
    .argument('[path]', 'a folder, a tracked target, or a path inside a tracked folder (default: the current folder)')
    .option('--rev <rev>', 'a commit, branch, tag, HEAD~N ...')
    .option('-R, --recursive', 'list every file inside tracked folders')
    .option('-r, --remote <name>', 'remote to read folder listings from when the cache lacks them')
    .addOption(kit.json())
    .addHelpText('after', kit.examples(['mlv ls', 'mlv ls data --rev v1.0 -R', 'mlv ls data/train --rev HEAD~3 --json']))
    .action(async (p: string | undefined, o: { rev?: string; recursive?: boolean; remote?: string } & CommonFlags) => {
      const { ls } = await import('../commands/ls.js');
      const { renderLs } = await import('./render-history.js');
      await kit.run(o, (_out, cwd) => ls({ cwd }, { path: p, rev: o.rev, recursive: o.recursive, remote: o.remote }), renderLs);
    });

  program
    .command('get')
    .description('write tracked data as of a revision to a file or folder outside the workspace')
    .argument('<path>', 'path relative to the repository root: a tracked target, a part of one, or a folder of targets')
    .option('--rev <rev>', 'a commit, branch, tag, HEAD~N ... (default: HEAD)')
    .option('--repo <path-or-url>', 'read another repository: a local path or an http(s) Git URL')
    .option('-o, --out <path>', 'the file or folder to create (default: the last part of <path>, here)')
    .option('-r, --remote <name>', "a remote from that revision's configuration (default: its default remote)")
    .option('-j, --jobs <n>', 'concurrent downloads', kit.parseTransferJobs)
    .addOption(kit.json())
    .addOption(kit.quiet())
    .addHelpText('after', kit.examples(['mlv get data --rev v1.0 -o /tmp/data-v1', 'mlv get models/best.pt --rev HEAD~2', 'mlv get data/train --repo https://git.example.com/team/project.git --rev main']))
    .action(async (p: string, o: { rev?: string; repo?: string; out?: string; remote?: string; jobs?: number } & CommonFlags) => {
      const { get } = await import('../commands/get.js');
      const { renderGet } = await import('./render-history.js');
      await kit.run(o, (out, cwd) => get({ cwd, onProgress: out.progress }, { path: p, rev: o.rev, repo: o.repo, out: o.out, remote: o.remote, jobs: o.jobs }), renderGet);
    });

  program
    .command('diff')
    .description('tracked files added, deleted, modified and renamed between two revisions, or a revision and the workspace')
    .argument('[revs-and-paths...]', 'up to two revisions (default: HEAD against the workspace), then paths (after -- if ambiguous)')
    .option('-r, --remote <name>', 'remote to read folder listings from when the cache lacks them')
    .option('-j, --jobs <n>', 'hashing threads for the workspace side', kit.parseJobs)
    .addOption(kit.json())
    .addHelpText('after', kit.examples(['mlv diff', 'mlv diff v1.0', 'mlv diff v1.0 v2.0 data/train', 'mlv diff HEAD~3 HEAD -- data', 'mlv diff main experiment --json']))
    .action(async (args: string[], o: { remote?: string; jobs?: number } & CommonFlags) => {
      const { diff } = await import('../commands/diff.js');
      const { renderDiff } = await import('./render-history.js');
      const dashes = kit.argv.indexOf('--');
      const paths = dashes === -1 ? [] : kit.argv.slice(dashes + 1);
      const leading = dashes === -1 ? args : args.slice(0, args.length - paths.length);
      await kit.run(o, (out, cwd) => diff({ cwd, onProgress: out.progress }, { args: leading, paths, remote: o.remote, jobs: o.jobs }), renderDiff);
    });

  program
    .command('export')
    .description('write tracked data as of a revision to a deterministic tar archive')
    .argument('<paths...>', 'paths relative to the repository root')
    .requiredOption('-o, --out <file>', 'the archive to write, or - for stdout')
    .option('--rev <rev>', 'a commit, branch, tag, HEAD~N ... (default: HEAD)')
    .option('--repo <path-or-url>', 'read another repository: a local path or an http(s) Git URL')
    .option('-f, --force', 'replace an existing archive')
    .option('-r, --remote <name>', "a remote from that revision's configuration (default: its default remote)")
    .option('-j, --jobs <n>', 'concurrent downloads', kit.parseTransferJobs)
    .addOption(kit.json())
    .addOption(kit.quiet())
    .addHelpText('after', kit.examples(['mlv export data models -o training-inputs.tar --rev v1.0', 'mlv export data -o - | ssh host tar -x -C /srv/data']))
    .action(async (paths: string[], o: { out: string; rev?: string; repo?: string; force?: boolean; remote?: string; jobs?: number } & CommonFlags) => {
      const { exportArchive } = await import('../commands/export.js');
      const { renderExport } = await import('./render-history.js');
      const toStdout = o.out === '-';
      if (toStdout && o.json) {
        await kit.run(o, async () => {
          throw new UsageError('--json cannot be combined with -o - (the archive goes to stdout)');
        }, () => {});
        return;
      }
      await kit.run(
        toStdout ? { ...o, quiet: true } : o,
        (out, cwd) => exportArchive({ cwd, onProgress: out.progress }, { paths, out: o.out, stdout: process.stdout, rev: o.rev, repo: o.repo, force: o.force, remote: o.remote, jobs: o.jobs }),
        renderExport,
      );
    });
}

class UsageError extends MlvError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

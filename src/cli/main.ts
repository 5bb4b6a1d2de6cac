/**
 * The mlv command line: parses arguments with commander, runs a command function, renders its
 * result (human or --json) and maps errors to documented exit codes (docs/cli.md).
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ExitCode } from '../core/errors.js';
import { Output } from './output.js';
import { examples, type CliKit, type CommonFlags } from './kit.js';
import { registerRemoteCommands } from './commands-remote.js';
import { registerHistoryCommands } from './commands-history.js';
import { registerMaintenanceCommands } from './commands-maintenance.js';
import { registerHookCommands } from './commands-hooks.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };


export async function main(argv: string[]): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = new Command();
  program
    .name('mlv')
    .description('Version datasets and models next to your code: content-addressed cache, pointer files in Git.')
    .version(version, '-V, --version')
    .option('-C, --cwd <dir>', 'run as if started in <dir>')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });

  const run = async <T>(flags: CommonFlags, fn: (out: Output, cwd: string) => Promise<T>, render: (out: Output, r: T) => void, codeOf?: (r: T) => number) => {
    const out = new Output({ json: flags.json ?? false, quiet: flags.quiet ?? false });
    const cwd = (program.opts().cwd as string | undefined) ?? process.cwd();
    try {
      const result = await fn(out, cwd);
      out.clearProgress();
      if (out.opts.json) out.json(result);
      else render(out, result);
      exitCode = codeOf ? codeOf(result) : ExitCode.ok;
    } catch (err) {
      exitCode = out.error(err);
    }
  };
  const json = () => new Option('--json', 'print the result as JSON on stdout');
  const quiet = () => new Option('-q, --quiet', 'print nothing but errors');
  const kit: CliKit = { program, argv, run, json, quiet, examples, parseJobs, parseTransferJobs };

  program
    .command('init')
    .description('create .mlv/ at the root of the current Git repository')
    .option('--no-scm', 'work without Git (pointer files are not staged)')
    .option('--no-stage', 'do not stage .mlv/config and .mlv/.gitignore in Git')
    .addOption(json())
    .addOption(quiet())
    .addHelpText('after', examples(['git init && mlv init', 'mlv init --no-scm']))
    .action(async (o: { scm: boolean; stage: boolean } & CommonFlags) => {
      const { init } = await import('../commands/init.js');
      const { renderInit } = await import('./render.js');
      await run(o, (out, cwd) => init({ cwd, onProgress: out.progress }, { noScm: !o.scm, stage: o.stage }), renderInit);
    });

  program
    .command('add')
    .description('hash files or folders into the cache and write pointer files (<path>.mlv) for Git')
    .argument('<paths...>', 'files or folders inside the repository')
    .option('--no-stage', 'do not stage the pointer and .gitignore in Git')
    .option('-d, --description <text>', 'a description kept in the pointer file')
    .option('-j, --jobs <n>', 'hashing threads (default: number of CPUs)', parseJobs)
    .addOption(json())
    .addOption(quiet())
    .addHelpText('after', examples(['mlv add data/', 'mlv add data/ models/resnet.pt', 'mlv add models/best.pt -d "epoch 40, val acc 0.91"']))
    .action(async (paths: string[], o: { stage?: boolean; description?: string; jobs?: number } & CommonFlags) => {
      const { add } = await import('../commands/add.js');
      const { renderAdd } = await import('./render.js');
      const stage = o.stage === false ? false : undefined;
      await run(o, (out, cwd) => add({ cwd, onProgress: out.progress }, { paths, stage, description: o.description, jobs: o.jobs }), renderAdd);
    });

  program
    .command('status')
    .description('compare tracked targets in the workspace with their pointers and the cache (or, with --remote, the cache with a remote)')
    .argument('[targets...]', 'tracked targets, pointer files or folders (default: everything)')
    .option('-v, --verbose', 'list the added, deleted and modified files inside folders')
    .option('--remote', 'compare the cache with a remote: what is missing there, what is only there')
    .option('-r, --remote-name <name>', 'the remote for --remote (default: core.remote)')
    .option('-j, --jobs <n>', 'hashing threads (up to 256), or concurrent requests with --remote', parseTransferJobs)
    .addOption(json())
    .addOption(quiet())
    .addHelpText('after', examples(['mlv status', 'mlv status data -v', 'mlv status --json', 'mlv status --remote -r origin']))
    .action(async (targets: string[], o: { verbose?: boolean; jobs?: number; remote?: boolean; remoteName?: string } & CommonFlags) => {
      const { renderStatus, renderRemoteStatus } = await import('./render.js');
      if (o.remote || o.remoteName) {
        const { remoteStatus } = await import('../commands/remote-status.js');
        await run(o, (out, cwd) => remoteStatus({ cwd, onProgress: out.progress }, { targets, remote: o.remoteName, jobs: o.jobs }), renderRemoteStatus);
        return;
      }
      const { status } = await import('../commands/status.js');
      const jobs = o.jobs === undefined ? undefined : Math.min(o.jobs, 256);
      await run(o, (out, cwd) => status({ cwd, onProgress: out.progress }, { targets, verbose: o.verbose || o.json, jobs }), renderStatus);
    });

  const transferCommand = (name: 'push' | 'fetch' | 'pull', description: string, ex: string[]) =>
    program
      .command(name)
      .description(description)
      .argument('[targets...]', 'tracked targets, parts of tracked folders, pointer files or folders (default: everything)')
      .option('-r, --remote <name>', 'the remote to use (default: core.remote, or the only one)')
      .option('-j, --jobs <n>', 'concurrent transfers (default: remote.<name>.jobs, else 64 for S3, 16 for folders)', parseTransferJobs)
      .addOption(json())
      .addOption(quiet())
      .addHelpText('after', examples(ex));
  const transferExit = (r: { failed: unknown[] }) => (r.failed.length > 0 ? ExitCode.transferFailed : ExitCode.ok);

  transferCommand('push', 'upload the data the pointers reference and the remote lacks', ['mlv push', 'mlv push data -r backup', 'mlv push -j 128'])
    .action(async (targets: string[], o: { remote?: string; jobs?: number } & CommonFlags) => {
      const { push } = await import('../commands/push.js');
      const { renderTransfer } = await import('./render.js');
      await run(o, (out, cwd) => push({ cwd, onProgress: out.progress }, { targets, remote: o.remote, jobs: o.jobs }), renderTransfer('pushed'), transferExit);
    });

  transferCommand('fetch', 'download the data the pointers reference into the cache (verified), without touching the workspace', ['mlv fetch', 'mlv fetch data/train'])
    .action(async (targets: string[], o: { remote?: string; jobs?: number } & CommonFlags) => {
      const { fetchData } = await import('../commands/fetch.js');
      const { renderTransfer } = await import('./render.js');
      await run(o, (out, cwd) => fetchData({ cwd, onProgress: out.progress }, { targets, remote: o.remote, jobs: o.jobs }), renderTransfer('fetched'), transferExit);
    });

  transferCommand('pull', 'fetch, then checkout: get the data of the current pointers into the workspace', ['git clone <repo> && cd <repo> && mlv pull', 'mlv pull data/train/part-000.csv', 'mlv pull --force'])
    .option('-f, --force', 'replace workspace changes too (their content is saved in the cache first)')
    .action(async (targets: string[], o: { remote?: string; jobs?: number; force?: boolean } & CommonFlags) => {
      const { pull } = await import('../commands/pull.js');
      const { renderPull } = await import('./render.js');
      await run(o, (out, cwd) => pull({ cwd, onProgress: out.progress }, { targets, remote: o.remote, jobs: o.jobs, force: o.force }), renderPull, (r) =>
        r.fetch.failed.length > 0 ? ExitCode.transferFailed : r.checkout.corrupt.length > 0 ? ExitCode.corrupt : r.checkout.missing.length > 0 ? ExitCode.missingData : ExitCode.ok,
      );
    });

  registerRemoteCommands(kit);
  registerHistoryCommands(kit);
  registerMaintenanceCommands(kit);
  registerHookCommands(kit);

  program
    .command('checkout')
    .description('make the workspace match the pointer files, from the cache')
    .argument('[targets...]', 'tracked targets, pointer files or folders (default: everything)')
    .option('-f, --force', 'replace workspace changes too (their content is saved in the cache first)')
    .option('-j, --jobs <n>', 'hashing threads (default: number of CPUs)', parseJobs)
    .addOption(json())
    .addOption(quiet())
    .addHelpText('after', examples(['mlv checkout', 'git checkout v1.0 && mlv checkout data', 'mlv checkout --force data']))
    .action(async (targets: string[], o: { force?: boolean; jobs?: number } & CommonFlags) => {
      const { checkout } = await import('../commands/checkout.js');
      const { renderCheckout } = await import('./render.js');
      await run(
        o,
        (out, cwd) => checkout({ cwd, onProgress: out.progress }, { targets, force: o.force, jobs: o.jobs }),
        renderCheckout,
        (r) => (r.corrupt.length > 0 ? ExitCode.corrupt : r.missing.length > 0 ? ExitCode.missingData : ExitCode.ok),
      );
    });

  program
    .command('untrack')
    .description('stop tracking targets: remove the pointer and the .gitignore entry, keep the data')
    .argument('<targets...>', 'tracked targets or their pointer files')
    .option('--no-stage', 'do not stage the removal in Git')
    .addOption(json())
    .addOption(quiet())
    .addHelpText('after', examples(['mlv untrack data', 'mlv untrack models/old.pt.mlv']))
    .action(async (targets: string[], o: { stage?: boolean } & CommonFlags) => {
      const { untrack } = await import('../commands/untrack.js');
      const { renderUntrack } = await import('./render.js');
      await run(o, (out, cwd) => untrack({ cwd, onProgress: out.progress }, { targets, stage: o.stage === false ? false : undefined }), renderUntrack);
    });

  program
    .command('config')
    .description('read or write configuration (.mlv/config, or .mlv/config.local with --local)')
    .argument('[key]', 'a key such as core.link')
    .argument('[value]', 'the new value')
    .option('--local', 'use .mlv/config.local (git-ignored: machine settings and secrets)')
    .option('--unset', 'remove the key')
    .option('-l, --list', 'list every setting in effect')
    .addOption(json())
    .addOption(quiet())
    .addHelpText('after', examples(['mlv config core.link hardlink,copy', 'mlv config core.link', 'mlv config --local core.jobs 4', 'mlv config --list']))
    .action(async (key: string | undefined, value: string | undefined, o: { local?: boolean; unset?: boolean; list?: boolean } & CommonFlags) => {
      const { config } = await import('../commands/config.js');
      const { renderConfig } = await import('./render.js');
      await run(o, (_out, cwd) => config({ cwd }, { key, value, local: o.local, unset: o.unset, list: o.list }), renderConfig);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.ok;
      return ExitCode.usage;
    }
    throw err;
  }
  return exitCode;
}

export function parseTransferJobs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InvalidArgumentError(`expected an integer from 1 to 1024, got ${JSON.stringify(value)}`);
  return n;
}

export function parseJobs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new InvalidArgumentError(`expected an integer from 1 to 256, got ${JSON.stringify(value)}`);
  }
  return n;
}

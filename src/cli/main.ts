/**
 * The mlv command line: parses arguments with commander, runs a command function, renders its
 * result (human or --json) and maps errors to documented exit codes (docs/cli.md).
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ExitCode } from '../core/errors.js';
import { Output } from './output.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

interface CommonFlags {
  json?: boolean;
  quiet?: boolean;
}

function examples(lines: string[]): string {
  return '\nExamples:\n' + lines.map((l) => `  $ ${l}`).join('\n') + '\n';
}

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
    .description('compare tracked targets in the workspace with their pointers and the cache')
    .argument('[targets...]', 'tracked targets, pointer files or folders (default: everything)')
    .option('-v, --verbose', 'list the added, deleted and modified files inside folders')
    .option('-j, --jobs <n>', 'hashing threads (default: number of CPUs)', parseJobs)
    .addOption(json())
    .addOption(quiet())
    .addHelpText('after', examples(['mlv status', 'mlv status data -v', 'mlv status --json']))
    .action(async (targets: string[], o: { verbose?: boolean; jobs?: number } & CommonFlags) => {
      const { status } = await import('../commands/status.js');
      const { renderStatus } = await import('./render.js');
      await run(o, (out, cwd) => status({ cwd, onProgress: out.progress }, { targets, verbose: o.verbose || o.json, jobs: o.jobs }), renderStatus);
    });

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

function parseJobs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new InvalidArgumentError(`expected an integer from 1 to 256, got ${JSON.stringify(value)}`);
  }
  return n;
}

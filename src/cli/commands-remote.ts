/** `mlv remote add | list | remove | modify | default`. */
import type { CliKit, CommonFlags } from './kit.js';

export function registerRemoteCommands(kit: CliKit): void {
  const remote = kit.program.command('remote').description('manage remotes: S3-compatible buckets and folders the data is pushed to and pulled from');
  remote
    .command('add')
    .description('add a remote: s3://bucket/prefix, a folder path, or file:///path')
    .argument('<name>', 'a short name such as origin')
    .argument('<url>', 's3://bucket/prefix, /path/to/folder or file:///path')
    .option('-d, --default', 'make it the default remote')
    .option('--local', 'write to .mlv/config.local (this machine only) instead of .mlv/config')
    .addOption(kit.json())
    .addOption(kit.quiet())
    .addHelpText('after', kit.examples(['mlv remote add --default origin s3://my-bucket/datasets', 'mlv remote add nas /mnt/nas/mlv-store', 'mlv remote add minio s3://ml/data && mlv remote modify minio endpoint http://minio.local:9000']))
    .action(async (name: string, url: string, o: { default?: boolean; local?: boolean } & CommonFlags) => {
      const { remoteAdd } = await import('../commands/remote.js');
      const { renderRemote } = await import('./render.js');
      await kit.run(o, (_out, cwd) => remoteAdd({ cwd }, { name, url, makeDefault: o.default, local: o.local }), renderRemote);
    });
  remote
    .command('list')
    .description('list the remotes (secrets are never shown)')
    .addOption(kit.json())
    .action(async (o: CommonFlags) => {
      const { remoteList } = await import('../commands/remote.js');
      const { renderRemote } = await import('./render.js');
      await kit.run(o, (_out, cwd) => remoteList({ cwd }), renderRemote);
    });
  remote
    .command('remove')
    .description('remove a remote from the configuration (the data on it is not touched)')
    .argument('<name>')
    .addOption(kit.json())
    .addOption(kit.quiet())
    .action(async (name: string, o: CommonFlags) => {
      const { remoteRemove } = await import('../commands/remote.js');
      const { renderRemote } = await import('./render.js');
      await kit.run(o, (_out, cwd) => remoteRemove({ cwd }, { name }), renderRemote);
    });
  remote
    .command('modify')
    .description('set an option of a remote: url, endpoint, region, profile, path_style, checksum, jobs; secrets (access_key_id, secret_access_key, session_token) only with --local')
    .argument('<name>')
    .argument('<option>')
    .argument('[value]')
    .option('--local', 'write to .mlv/config.local (required for secrets)')
    .option('--unset', 'remove the option')
    .addOption(kit.json())
    .addOption(kit.quiet())
    .addHelpText('after', kit.examples(['mlv remote modify origin endpoint https://s3.eu-central-1.wasabisys.com', 'mlv remote modify origin profile ml-team', 'mlv remote modify --local origin access_key_id AKIA...']))
    .action(async (name: string, option: string, value: string | undefined, o: { local?: boolean; unset?: boolean } & CommonFlags) => {
      const { remoteModify } = await import('../commands/remote.js');
      const { renderRemote } = await import('./render.js');
      await kit.run(o, (_out, cwd) => remoteModify({ cwd }, { name, option, value, local: o.local, unset: o.unset }), renderRemote);
    });
  remote
    .command('default')
    .description('set the default remote')
    .argument('<name>')
    .option('--local', 'only on this machine (.mlv/config.local)')
    .addOption(kit.json())
    .addOption(kit.quiet())
    .action(async (name: string, o: { local?: boolean } & CommonFlags) => {
      const { remoteDefault } = await import('../commands/remote.js');
      const { renderRemote } = await import('./render.js');
      await kit.run(o, (_out, cwd) => remoteDefault({ cwd }, { name, local: o.local }), renderRemote);
    });
}

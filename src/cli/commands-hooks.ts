/** `mlv install-hooks` and `mlv uninstall-hooks` (docs/hooks.md). */
import type { CliKit, CommonFlags } from './kit.js';

export function registerHookCommands(kit: CliKit): void {
  kit.program
    .command('install-hooks')
    .description('install Git hooks: post-checkout and post-merge run mlv checkout, pre-push runs mlv push (existing hooks keep running)')
    .addOption(kit.json())
    .addOption(kit.quiet())
    .addHelpText(
      'after',
      kit.examples(['mlv install-hooks', 'git checkout v1.0            # the data follows', 'MLV_SKIP_HOOKS=1 git push    # once without the data upload', 'mlv uninstall-hooks']) +
        '\nThe hooks skip mlv when MLV_SKIP_HOOKS=1. Run this once per clone: Git does not copy hooks.\n',
    )
    .action(async (o: CommonFlags) => {
      const { installHooks } = await import('../commands/hooks.js');
      const { renderInstallHooks } = await import('./render-hooks.js');
      await kit.run(o, (_out, cwd) => installHooks({ cwd }), renderInstallHooks);
    });
  kit.program
    .command('uninstall-hooks')
    .description("remove mlv's Git hooks and put back the hooks they ran first (other hooks are left alone)")
    .addOption(kit.json())
    .addOption(kit.quiet())
    .addHelpText('after', kit.examples(['mlv uninstall-hooks']))
    .action(async (o: CommonFlags) => {
      const { uninstallHooks } = await import('../commands/hooks.js');
      const { renderUninstallHooks } = await import('./render-hooks.js');
      await kit.run(o, (_out, cwd) => uninstallHooks({ cwd }), renderUninstallHooks);
    });
}

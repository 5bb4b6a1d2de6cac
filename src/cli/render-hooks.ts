/** Human-readable output of install-hooks and uninstall-hooks. */
import * as path from 'node:path';
import type { HookReport, HooksResult } from '../commands/hooks.js';
import { displayPath } from '../core/paths.js';
import type { Output } from './output.js';

const WHAT: Record<HookReport['name'], string> = {
  'post-checkout': 'mlv checkout after git checkout / git switch',
  'post-merge': 'mlv checkout after git merge / git pull',
  'pre-push': 'mlv push before git push',
};

/** The hooks folder relative to the work tree when inside it (`.git/hooks`), else absolute. */
function where(r: HooksResult): string {
  const rel = path.relative(r.workTree, r.hooksDir);
  const shown = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : r.hooksDir;
  return displayPath(shown) + (r.hooksPathFrom ? ` (core.hooksPath, set in ${displayPath(r.hooksPathFrom)})` : '');
}

const pad = (name: string) => name.padEnd(15);

export function renderInstallHooks(out: Output, r: HooksResult): void {
  if (r.hooks.every((h) => h.action === 'unchanged')) {
    out.line(`mlv's Git hooks are already installed in ${where(r)}: ${r.hooks.map((h) => h.name).join(', ')}`);
    return;
  }
  out.line(`Git hooks in ${where(r)}:`);
  for (const h of r.hooks) {
    const first = h.chained ? `; your earlier hook, now ${h.chained}, runs first` : '';
    out.line(`  ${pad(h.name)}${h.action === 'chained' ? 'installed' : h.action}: ${WHAT[h.name]}${first}`);
  }
  out.line('skip them with MLV_SKIP_HOOKS=1; remove them with mlv uninstall-hooks');
}

export function renderUninstallHooks(out: Output, r: HooksResult): void {
  const kept = r.hooks.filter((h) => h.action === 'kept').map((h) => h.name);
  if (r.hooks.every((h) => h.action === 'absent' || h.action === 'kept')) {
    out.line(`no mlv hooks in ${where(r)}${kept.length > 0 ? ` (left alone: ${kept.join(', ')}, not written by mlv)` : ''}`);
    return;
  }
  out.line(`Git hooks in ${where(r)}:`);
  for (const h of r.hooks) {
    let text: string;
    if (h.action === 'restored') text = `removed; your earlier hook is back from ${h.chained}`;
    else if (h.action === 'kept') text = 'left alone (not written by mlv)';
    else if (h.action === 'absent') text = 'not installed';
    else text = h.action;
    out.line(`  ${pad(h.name)}${text}`);
  }
}

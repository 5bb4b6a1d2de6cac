/** Human-readable rendering of command results. */
import type { AddResult } from '../commands/add.js';
import type { CheckoutResult } from '../commands/checkout.js';
import type { ConfigResult } from '../commands/config.js';
import type { InitResult } from '../commands/init.js';
import type { StatusResult, TargetStatus } from '../commands/status.js';
import type { UntrackResult } from '../commands/untrack.js';
import type { TransferResult } from '../commands/push.js';
import type { PullResult } from '../commands/pull.js';
import type { RemoteResult } from '../commands/remote.js';
import type { RemoteStatusResult } from '../commands/remote-status.js';
import { displayPath } from '../core/paths.js';
import { formatBytes, formatCount } from './format.js';
import type { Output } from './output.js';

export function renderInit(out: Output, r: InitResult): void {
  out.line(r.created ? `initialised mlv in ${r.root}/.mlv` : `mlv is already initialised in ${r.root}/.mlv (checked its layout)`);
  if (r.staged.length > 0) out.line(`staged in Git: ${r.staged.join(', ')}`);
  if (!r.scm) out.line('working without Git (--no-scm): pointer files are not staged');
}

export function renderAdd(out: Output, r: AddResult): void {
  for (const t of r.targets) {
    const what = t.kind === 'dir' ? `folder, ${formatCount(t.files ?? 0, 'file')}, ${formatBytes(t.size)}` : `file, ${formatBytes(t.size)}`;
    const hashed = t.hashedFiles > 0 ? `, hashed ${formatCount(t.hashedFiles, 'file')}` : '';
    out.line(`${t.status} ${t.path} (${what}${hashed}) -> ${t.pointer}`);
  }
  if (r.staged.length > 0) {
    out.line(`staged in Git: ${r.staged.join(', ')}`);
    out.line('next: git commit, then mlv push');
  }
}

function describeChanges(t: TargetStatus): string {
  if (!t.changes) return '';
  const parts: string[] = [];
  if (t.changes.added) parts.push(`${t.changes.added} added`);
  if (t.changes.deleted) parts.push(`${t.changes.deleted} deleted`);
  if (t.changes.modified) parts.push(`${t.changes.modified} modified`);
  if (t.changes.unsupported) parts.push(`${t.changes.unsupported} unsupported (links or special files)`);
  return parts.length > 0 && t.kind === 'dir' ? ` (${parts.join(', ')})` : '';
}

export function renderStatus(out: Output, r: StatusResult): void {
  if (r.targets.length === 0) {
    out.line('nothing tracked yet (start with mlv add <path>)');
    return;
  }
  for (const t of r.targets) {
    switch (t.state) {
      case 'up-to-date':
        out.line(`${t.path}: up to date`);
        break;
      case 'modified':
        out.line(`${t.path}: modified${describeChanges(t)}${t.incomplete ? ' (the recorded version is not fully in the cache; counts are partial)' : ''}`);
        if (!t.inCache) out.line(`    only part of ${t.path} is local: mlv pull ${t.path} gets the rest (mlv add now would record the partial copy)`);
        if (t.paths) {
          for (const p of t.paths.added) out.line(`    added:       ${t.path}/${p}`);
          for (const p of t.paths.deleted) out.line(`    deleted:     ${t.path}/${p}`);
          for (const p of t.paths.modified) out.line(`    modified:    ${t.path}/${p}`);
          for (const p of t.paths.unsupported) out.line(`    unsupported: ${t.path}/${p}`);
        }
        break;
      case 'missing':
        out.line(`${t.path}: missing from the workspace${t.inCache ? ' (restore it with mlv checkout)' : ' and not in the cache'}`);
        break;
      case 'not-in-cache':
        out.line(`${t.path}: not in the cache (the workspace matches the pointer, but the cache lacks some of its objects: mlv fetch ${t.path} downloads them, mlv add ${t.path} stores the workspace copy)`);
        break;
      case 'invalid':
        out.line(`${t.pointer}: invalid pointer file: ${t.error}`);
        break;
    }
  }
  if (r.clean) out.line('everything up to date');
  else if (r.targets.some((t) => t.state === 'modified' && t.inCache)) out.line('record changes with mlv add <target>, or discard them with mlv checkout --force <target>');
}

export function renderCheckout(out: Output, r: CheckoutResult): void {
  for (const t of r.targets) {
    const parts = [`${t.written} written`, `${t.deleted} deleted`, `${t.unchanged} unchanged`];
    if (t.missing) parts.push(`${t.missing} missing from the cache`);
    out.line(`${t.path}: ${parts.join(', ')}`);
  }
  for (const s of r.saved) out.line(`saved ${displayPath(s.path)} in the cache before replacing it: ${s.object}`);
  for (const l of r.removedLinks) out.line(`removed ${displayPath(l)} (a link or special file; what it pointed to was not touched)`);
  for (const l of r.left) out.line(`left ${displayPath(l)} in place (a folder whose name mlv cannot track; move it yourself)`);
  renderCheckoutProblems(out, r);
}

/** Missing and corrupt objects go to stderr (also with -q), ending with an error line and a hint. */
export function renderCheckoutProblems(out: Output, r: CheckoutResult): void {
  for (const m of r.missing.slice(0, 20)) out.problem(`not in the cache: ${m.path} (${m.id})`);
  if (r.missing.length > 20) out.problem(`... and ${r.missing.length - 20} more not in the cache`);
  for (const c of r.corrupt) out.problem(`corrupt in the cache, not written: ${c.path} (${c.id})`);
  if (r.corrupt.length > 0) {
    out.problem(`error: ${r.corrupt.length} file(s) were not written because their cache object is corrupt`);
    out.problem('hint: run mlv fsck (it moves damaged objects aside), then mlv pull or mlv add to restore them');
  } else if (r.missing.length > 0) {
    out.problem(`error: ${r.missing.length} file(s) or folder(s) could not be written: their data is not in the cache`);
    out.problem('hint: mlv pull downloads it from the remote (or mlv fetch, then mlv checkout)');
  }
}

export function renderUntrack(out: Output, r: UntrackResult): void {
  for (const u of r.untracked) out.line(`untracked ${u.path} (removed ${u.pointer}; the data stays in place)`);
  if (r.staged.length > 0) out.line(`staged in Git: ${r.staged.join(', ')}`);
}

export function renderConfig(out: Output, r: ConfigResult): void {
  switch (r.action) {
    case 'get':
      process.stdout.write(r.value + '\n');
      break;
    case 'set':
      out.line(`${r.key} = ${r.value} (in ${r.file})`);
      break;
    case 'unset':
      out.line(r.existed ? `removed ${r.key} from ${r.file}` : `${r.key} was not set in ${r.file}`);
      break;
    case 'list':
      for (const e of r.entries) process.stdout.write(`${e.key}=${e.value}${e.source === 'default' ? '  (default)' : e.source === 'config.local' ? '  (config.local)' : ''}\n`);
      break;
  }
}

function renderFailures(out: Output, failed: TransferResult['failed']): void {
  for (const f of failed.slice(0, 20)) process.stderr.write(`failed: ${displayPath(f.path)} (${f.id.slice(0, 12)}): ${f.reason}\n`);
  if (failed.length > 20) process.stderr.write(`... and ${failed.length - 20} more failures (see --json)\n`);
  void out;
}

export function renderTransfer(verb: 'pushed' | 'fetched') {
  return (out: Output, r: TransferResult): void => {
    out.line(`${verb} ${formatCount(r.transferred, 'object')} (${formatBytes(r.transferredBytes)}) ${verb === 'pushed' ? 'to' : 'from'} ${r.remote}; ${r.skipped} already in place`);
    if (r.failed.length > 0) {
      renderFailures(out, r.failed);
      process.stderr.write(`error: ${formatCount(r.failed.length, 'object')} could not be ${verb}; run the command again to retry them\n`);
    }
  };
}

export function renderPull(out: Output, r: PullResult): void {
  renderTransfer('fetched')(out, r.fetch);
  renderCheckout(out, r.checkout);
}

export function renderRemote(out: Output, r: RemoteResult): void {
  switch (r.action) {
    case 'add':
      out.line(`added remote ${r.name} -> ${r.url}${r.default ? ' (default)' : ''} in ${r.file}`);
      break;
    case 'list':
      if (r.remotes.length === 0) out.line('no remotes (add one with mlv remote add <name> <url>)');
      for (const x of r.remotes) {
        const opts = Object.entries(x.options).map(([k, v]) => `${k}=${v}`).join(' ');
        process.stdout.write(`${x.name}\t${x.url}${x.default ? '\t(default)' : ''}${opts ? `\t${opts}` : ''}\n`);
      }
      break;
    case 'remove':
      out.line(`removed remote ${r.name} (the data on it was not touched)`);
      break;
    case 'modify':
      out.line(r.value === undefined ? `updated ${r.option} of remote ${r.name} in ${r.file}` : `remote ${r.name}: ${r.option} = ${r.value} (in ${r.file})`);
      break;
    case 'default':
      out.line(`default remote: ${r.name} (in ${r.file})`);
      break;
  }
}

export function renderRemoteStatus(out: Output, r: RemoteStatusResult): void {
  out.line(`remote ${r.remote}: ${formatCount(r.objects, 'object')} referenced`);
  const show = (label: string, list: Array<{ id: string; path: string }>, hint: string) => {
    if (list.length === 0) return;
    out.line(`${label}: ${formatCount(list.length, 'object')} (${hint})`);
    for (const e of list.slice(0, 10)) out.line(`    ${displayPath(e.path)}`);
    if (list.length > 10) out.line(`    ... and ${list.length - 10} more`);
  };
  show('not on the remote', r.notOnRemote, 'mlv push uploads them');
  show('only on the remote', r.onlyOnRemote, 'mlv fetch downloads them');
  show('missing everywhere', r.missingEverywhere, 'neither in the cache nor on the remote');
  show('unreadable folders', r.unreadable, 'their listings are not available');
  if (r.inSync) out.line('in sync: everything referenced is both in the cache and on the remote');
}

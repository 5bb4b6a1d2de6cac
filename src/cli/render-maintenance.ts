/** Human-readable output of `mlv gc` and `mlv fsck`. */
import type { FsckProblem, FsckResult, FsckSide, FsckUnchecked } from '../commands/fsck.js';
import type { GcResult, GcSide } from '../commands/gc.js';
import { displayPath } from '../core/paths.js';
import { formatBytes, formatCount, groupDigits } from './format.js';
import type { Output } from './output.js';

const SCOPE_TEXT: Record<string, string> = {
  workspace: 'workspace',
  'all-branches': 'all branches',
  'all-tags': 'all tags',
  'all-commits': 'all commits',
};

function warn(out: Output, text: string): void {
  if (!out.opts.quiet) process.stderr.write(`warning: ${text}\n`);
}

function gcSide(out: Output, label: string, side: GcSide, r: GcResult): void {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const keptParts = [`${groupDigits(side.referenced)} referenced`];
  if (side.young > 0) keptParts.push(`${groupDigits(side.young)} unreferenced but younger than ${r.grace} (or below such a tree)`);
  out.line(`${label}: ${verb} ${formatCount(side.removed, 'object')} (${formatBytes(side.removedBytes)}); kept ${keptParts.join(', ')}`);
  for (const o of side.list ?? []) out.line(`    ${o.id}  ${formatBytes(o.size).padStart(9)}  ${o.kind}${o.where === 'incomplete' ? ' (incomplete/)' : ''}`);
}

export function renderGc(out: Output, r: GcResult): void {
  for (const w of r.warnings) warn(out, w);
  const scope = r.scope.map((s) => SCOPE_TEXT[s] ?? s).join(', ');
  const history = r.commits > 0 ? `, ${formatCount(r.commits, 'commit')}` : '';
  out.line(`scope: ${scope} (${formatCount(r.pointerFiles, 'pointer file')}${history}, ${formatCount(r.referenced, 'object')} referenced); grace period ${r.grace}`);
  if (r.dryRun) out.line('dry run: nothing was changed');
  gcSide(out, 'cache', r.local, r);
  if (r.remote) {
    gcSide(out, `remote ${r.remote.remote}`, r.remote, r);
    const failed = r.remote.failed;
    for (const f of failed.slice(0, 20)) process.stderr.write(`failed: ${f.id.slice(0, 12)}: ${f.reason}\n`);
    if (failed.length > 20) process.stderr.write(`... and ${failed.length - 20} more (see --json)\n`);
    if (failed.length > 0) process.stderr.write(`error: ${formatCount(failed.length, 'remote object')} could not be removed (they are kept); run mlv gc again to retry\n`);
  }
}

const LABEL: Record<FsckProblem['problem'], string> = {
  corrupt: 'corrupt',
  truncated: 'truncated',
  'invalid-tree': 'not a tree',
  missing: 'missing',
  'missing-below-tree': 'missing below a tree',
};

function where(p: { id: string; path?: string | undefined }): string {
  return `${p.path !== undefined ? displayPath(p.path) : '(not used by the workspace)'} (${p.id.slice(0, 12)})`;
}

function problems(out: Output, list: FsckProblem[], suffix: string): void {
  for (const p of list) {
    out.line(`${LABEL[p.problem]}${suffix}: ${where(p)}: ${p.detail}${p.movedTo ? `; moved to ${p.movedTo}` : ''}`);
    if (p.problem !== 'missing' && p.problem !== 'missing-below-tree' && p.path === undefined) out.line(`    object ${p.id}`);
  }
}

function unchecked(out: Output, list: FsckUnchecked[], suffix: string): void {
  for (const u of list.slice(0, 50)) out.line(`not checked${suffix}: ${u.id ? where({ id: u.id, path: u.path }) : ''}: ${u.reason}`);
  if (list.length > 50) out.line(`... and ${list.length - 50} more not checked (see --json)`);
}

function summary(side: FsckSide): string {
  return `checked ${formatCount(side.checked, 'object')} (${formatBytes(side.checkedBytes)})`;
}

export function renderFsck(out: Output, r: FsckResult): void {
  const hints = new Set<string>();
  out.line(`cache: ${summary(r.local)}`);
  problems(out, r.local.problems, '');
  for (const p of r.local.invalidPointers) out.line(`invalid pointer: ${displayPath(p.pointer)}: ${p.error}`);
  unchecked(out, r.local.unchecked, '');
  for (const p of r.local.problems) {
    if (p.problem === 'corrupt' || p.problem === 'truncated') {
      hints.add('corrupt objects were moved to .mlv/cache/corrupt/ (delete them when you no longer need them): mlv fetch gets good copies from the remote, or mlv add <target> stores them again from an intact workspace copy');
    } else if (p.problem === 'missing' || p.problem === 'missing-below-tree') {
      hints.add('missing objects: mlv fetch downloads them (mlv pull also restores the workspace), or mlv add <target> stores them again from the workspace');
    } else {
      hints.add('an object used as a folder is not a tree: re-add that folder with mlv add');
    }
  }
  if (r.local.invalidPointers.length > 0) hints.add('invalid pointers: restore them from Git (git checkout -- <file>) or re-create them with mlv add');
  if (r.local.unchecked.length > 0) hints.add('objects that could not be read: check the permissions of .mlv/cache and the disk, then run mlv fsck again');

  if (r.remote) {
    const rem = r.remote;
    out.line(`remote ${rem.remote}: ${rem.error ? 'could not be checked' : summary(rem)}`);
    if (rem.error) out.line(`not checked: ${rem.error}`);
    problems(out, rem.problems, ' on the remote');
    unchecked(out, rem.unchecked, ' on the remote');
    for (const p of rem.problems) {
      if (p.problem === 'truncated' || (p.problem === 'corrupt' && /expected/.test(p.detail))) {
        hints.add('remote copies of the wrong size: mlv push replaces them from a cache that has the object');
      } else if (p.problem === 'corrupt') {
        hints.add('corrupt remote copies of the right size: mlv push does not replace them; delete the remote copy (<remote>/<ab>/<rest of the id>), then mlv push from a cache that has a good copy');
      } else if (p.problem === 'missing' || p.problem === 'missing-below-tree') {
        hints.add('objects missing on the remote: mlv push uploads them from a cache that has them');
      }
    }
    if (rem.error || rem.unchecked.length > 0) hints.add('the remote could not be fully read: check the remote settings (mlv remote list) and your network, then run mlv fsck --remote again');
  }
  for (const h of hints) out.line(`hint: ${h}`);
  const count = r.local.problems.length + r.local.invalidPointers.length + (r.remote?.problems.length ?? 0);
  if (count > 0) out.line(`${formatCount(count, 'problem')} found`);
  else if (r.healthy) out.line('no problems found');
  else out.line('no problems found in what could be checked; some objects could not be checked');
}

/** Human output of ls, diff, get and export. */
import type { DiffResult } from '../commands/diff.js';
import type { ExportResult } from '../commands/export.js';
import type { GetResult } from '../commands/get.js';
import type { LsResult } from '../commands/ls.js';
import { formatBytes, formatCount } from './format.js';
import type { Output } from './output.js';

export function renderLs(out: Output, r: LsResult): void {
  if (r.entries.length === 0) {
    out.line('nothing tracked here');
    return;
  }
  const width = Math.max(...r.entries.map((e) => String(e.size).length));
  for (const e of r.entries) {
    out.line(`${String(e.size).padStart(width)}  ${e.id.slice(0, 12)}  ${e.cached ? 'cached' : '-     '}  ${e.path}${e.kind === 'dir' ? '/' : ''}`);
  }
}

export function renderGet(out: Output, r: GetResult): void {
  const from = r.fetched > 0 ? ` (${formatCount(r.fetched, 'object')} fetched)` : '';
  out.line(`${r.path || '.'} at ${r.rev === r.commit ? r.commit.slice(0, 12) : `${r.rev} (${r.commit.slice(0, 12)})`}: ${formatCount(r.files, 'file')}, ${formatBytes(r.bytes)} -> ${r.output}${from}`);
}

export function renderDiff(out: Output, r: DiffResult): void {
  for (const a of r.added) out.line(`added:    ${a.path} (${formatBytes(a.size)})`);
  for (const d of r.deleted) out.line(`deleted:  ${d.path} (${formatBytes(d.size)})`);
  for (const m of r.modified) {
    const exec = m.executable === undefined ? '' : m.executable ? ', now executable' : ', no longer executable';
    out.line(`modified: ${m.path} (${formatBytes(m.oldSize)} -> ${formatBytes(m.newSize)}${exec})`);
  }
  for (const n of r.renamed) out.line(`renamed:  ${n.from} -> ${n.to}`);
  const c = r.counts;
  const what = `${r.a.rev} -> ${r.b.rev}`;
  if (c.added + c.deleted + c.modified + c.renamed === 0) {
    out.line(`no changes (${what})`);
    return;
  }
  out.line(
    `${what}: ${c.added} added (${formatBytes(r.bytes.added)}), ${c.deleted} deleted (${formatBytes(r.bytes.deleted)}), ${c.modified} modified (${formatBytes(r.bytes.modified)}), ${c.renamed} renamed`,
  );
}

export function renderExport(out: Output, r: ExportResult): void {
  out.line(`${r.commit.slice(0, 12)}: ${formatCount(r.files, 'file')}, ${formatBytes(r.bytes)} -> ${r.output} (${formatBytes(r.archiveBytes)})`);
}

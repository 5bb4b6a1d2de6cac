// Markdown rendering of the benchmark results.

const MiB = 1024 * 1024;

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
const secs = (x) => (x === undefined || x === null ? '—' : x.toFixed(3));
const mib = (x) => (x === undefined || x === null ? '—' : x.toFixed(1));

function table(header, rows, align) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const sep = align.map((a) => (a === 'r' ? '---:' : '---'));
  return [line(header), line(sep), ...rows.map(line)].join('\n');
}

export function renderMachine(m, ds, opts, otherCores) {
  const lines = [
    '## Machine',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores; RAM: ${m.ramGiB} GiB`,
    `- OS: ${m.os}; Node ${m.node}; ${m.git}` +
      `; git-lfs: ${m.gitLfs ?? 'not installed'}; git-annex: ${m.gitAnnex ?? 'not installed'}` +
      (m.aws !== undefined ? `; aws: ${m.aws ?? 'not installed'}` : ''),
    `- Work dir: \`${m.workDir}\` (file system: ${m.fsType}${m.fsDevice ? ` on ${m.fsDevice}` : ''})`,
    `- mlv ${m.mlv} (commit ${m.mlvCommit}${m.mlvDirty ? ', with uncommitted changes in src/ or bin/' : ''}; dist/ snapshotted at start)`,
    `- Dataset: ${plural(ds.spec.smallFiles, 'file')} of ${ds.spec.smallSize} B in ${plural(ds.spec.folders, 'folder')} + ${plural(ds.spec.largeFiles, 'file')} of ${ds.spec.largeSizeMiB} MiB ` +
      `(${ds.files} files, ${(ds.bytes / MiB).toFixed(1)} MiB, random content)`,
    `- Runs per row: ${opts.runs}${opts.hasRemoteRows ? ` (push/pull rows: ${opts.remoteRuns})` : ''} (median reported; peak memory is the largest of the runs)`,
  ];
  if (otherCores !== undefined) {
    lines.push(
      `- Other processes kept on average ${otherCores.toFixed(2)} of ${m.cores} cores busy while commands were timed` +
        (otherCores >= 0.2 ? ' (the machine was not idle: timings are disturbed)' : ''),
    );
  }
  return lines.join('\n');
}

export function renderResults(rows) {
  const header = ['Row', 'mlv median (s)', 'Baseline', 'Baseline median (s)', 'mlv / baseline', 'mlv peak mem (MiB)', 'Target', 'Result'];
  const body = rows.map((r) => [
    `\`${r.id}\` ${r.title}`,
    secs(r.mlv?.median),
    r.baselineName ?? '—',
    secs(r.baseline?.median),
    r.ratio === undefined || r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
    mib(r.mlv?.peakMiB),
    r.target,
    r.result,
  ]);
  const out = ['## Results', '', table(header, body, ['l', 'r', 'l', 'r', 'r', 'r', 'l', 'l'])];
  const notes = [];
  for (const r of rows) {
    for (const n of r.failures ?? []) notes.push(`- \`${r.id}\`: FAIL: ${n}`);
    if (r.error) notes.push(`- \`${r.id}\`: ERROR: ${r.error}`);
    for (const n of r.notes ?? []) notes.push(`- \`${r.id}\`: ${n}`);
  }
  if (notes.length) out.push('', 'Notes:', '', ...notes);
  return out.join('\n');
}

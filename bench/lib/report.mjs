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

export function renderMachine(m, opts, otherCores, load) {
  const lines = [
    '## Machine',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores; RAM: ${m.ramGiB} GiB`,
    `- OS: ${m.os}; Node ${m.node}; ${m.git}` +
      `; git-lfs: ${m.gitLfs ?? 'not installed'}; git-annex: ${m.gitAnnex ?? 'not installed'}` +
      (m.aws !== undefined ? `; aws: ${m.aws ?? 'not installed'}` : '') +
      (m.rclone !== undefined ? `; rclone: ${m.rclone ?? 'not installed'}` : ''),
    `- Work dir: \`${m.workDir}\` (file system: ${m.fsType}${m.fsDevice ? ` on ${m.fsDevice}` : ''})`,
    `- mlv ${m.mlv} (commit ${m.mlvCommit}${m.mlvDirty ? ', with uncommitted changes in src/ or bin/' : ''}; dist/ snapshotted at start)`,
    `- Runs per row: ${opts.runs}${opts.hasRemoteRows ? ` (push/pull rows: ${opts.remoteRuns})` : ''} (median reported; peak memory is the largest of the runs)`,
    `- Baseline peak memory: ${m.gnuTime ? '`/usr/bin/time -f %M` around the baseline command' : 'not measured (GNU time not installed)'}`,
  ];
  if (load) lines.push(`- Load average (1 min): ${load.start.toFixed(2)} at start; ${load.min.toFixed(2)}–${load.max.toFixed(2)} after the rows (includes the benchmark itself)`);
  if (otherCores !== undefined) {
    lines.push(
      `- Other processes kept on average ${otherCores.toFixed(2)} of ${m.cores} cores busy while commands were timed` +
        (otherCores >= 0.2 ? ' (the machine was not idle: timings are disturbed)' : ''),
    );
  }
  return lines.join('\n');
}

export function describeDataset(ds) {
  const s = ds.spec;
  const parts = [];
  if (s.smallFiles) parts.push(`${plural(s.smallFiles, 'file')} of ${s.smallSize} B in ${plural(s.folders, s.depth >= 2 ? 'nested folder' : 'folder')}`);
  if (s.largeFiles) parts.push(`${plural(s.largeFiles, 'file')} of ${s.largeSizeMiB} MiB`);
  return `${parts.join(' + ')} (${plural(ds.files, 'file')}, ${(ds.bytes / MiB).toFixed(1)} MiB, random content)`;
}

/**
 * Time per file (µs) for many-file datasets; when the files average ≥ 1 MiB, GB/s of content for
 * the rows that read or write every byte (`bytes`), nothing for the others.
 */
export function rate(seconds, ds, bytes) {
  if (seconds === undefined || seconds === null || !(seconds > 0)) return '—';
  if (ds.bytes / ds.files >= MiB) return bytes ? `${(ds.bytes / seconds / 1e9).toFixed(2)} GB/s` : '—';
  return `${((seconds / ds.files) * 1e6).toFixed(1)} µs/file`;
}

export function renderResults(rows, ds, title = '## Results') {
  const header = ['Row', 'mlv median (s)', 'mlv rate', 'Baseline', 'Baseline median (s)', 'mlv / baseline', 'mlv peak mem (MiB)', 'Baseline peak mem (MiB)', 'Target', 'Result'];
  const body = rows.map((r) => [
    `\`${r.id}\` ${r.title}`,
    secs(r.mlv?.median),
    rate(r.mlv?.median, ds, r.bytes),
    r.baselineName ?? '—',
    secs(r.baseline?.median),
    r.ratio === undefined || r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
    mib(r.mlv?.peakMiB),
    mib(r.baseline?.peakMiB),
    r.target,
    r.result,
  ]);
  const out = [title, '', `Dataset: ${describeDataset(ds)}`, '', table(header, body, ['l', 'r', 'r', 'l', 'r', 'r', 'r', 'r', 'l', 'l'])];
  const notes = [];
  for (const r of rows) {
    for (const n of r.failures ?? []) notes.push(`- \`${r.id}\`: FAIL: ${n}`);
    if (r.error) notes.push(`- \`${r.id}\`: ERROR: ${r.error}`);
    for (const n of r.notes ?? []) notes.push(`- \`${r.id}\`: ${n}`);
  }
  if (notes.length) out.push('', 'Notes:', '', ...notes);
  return out.join('\n');
}

/**
 * The --scale table: for each row, the time per file of mlv (and of its baseline) at each size,
 * and how the per-file time grew from the smallest to the largest size (1.00× = linear).
 */
export function renderScale(sessions) {
  const sizes = sessions.map((s) => s.ds.files);
  const ids = [...new Set(sessions.flatMap((s) => s.rows.map((r) => r.id)))];
  const us = (sec, files) => (sec === undefined || sec === null ? undefined : (sec / files) * 1e6);
  const cell = (m, b) => (m === undefined ? '—' : `${m.toFixed(1)}${b === undefined ? '' : ` (${b.toFixed(1)})`}`);
  const body = ids.map((id) => {
    const per = sessions.map((s) => {
      const r = s.rows.find((x) => x.id === id);
      return { m: us(r?.mlv?.median, s.ds.files), b: us(r?.baseline?.median, s.ds.files), name: r?.baselineName };
    });
    const first = per[0];
    const last = per.at(-1);
    const growth = (a, b) => (a !== undefined && b !== undefined && a > 0 ? `${(b / a).toFixed(2)}×` : '—');
    return [`\`${id}\``, per.find((p) => p.name)?.name ?? '—', ...per.map((p) => cell(p.m, p.b)), growth(first.m, last.m), growth(first.b, last.b)];
  });
  const header = ['Row', 'Baseline', ...sizes.map((n) => `${n.toLocaleString('en-US')} files: mlv (baseline) µs/file`), 'mlv growth per file', 'baseline growth per file'];
  return [
    '## Scaling: time per file (shape b)',
    '',
    `Median wall time divided by the number of files, in µs; growth is the time per file at ${sizes.at(-1).toLocaleString('en-US')} files divided by that at ${sizes[0].toLocaleString('en-US')} (1.00× = linear, above = super-linear).`,
    '',
    table(header, body, ['l', 'l', ...sizes.map(() => 'r'), 'r', 'r']),
  ].join('\n');
}

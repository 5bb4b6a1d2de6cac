// The benchmark dataset: many small files spread over folders (one level, or two levels of nested
// folders) plus a few large ones, all random bytes so nothing deduplicates. Generated once into
// <work>/dataset and reused while its manifest matches the requested shape.
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log, rmTree } from './util.mjs';

const FORMAT = 2;
const MiB = 1024 * 1024;

const blocks = (n) => Math.ceil(n / 4096) * 4096;

export function datasetSpec(o) {
  return {
    format: FORMAT,
    smallFiles: o.smallFiles,
    folders: Math.max(1, Math.min(o.folders, o.smallFiles)),
    // 1: data/dir-NN/file; 2: data/dir-NN/sub-NN/file (the leaf folders grouped under ~sqrt of them)
    depth: o.depth ?? 1,
    smallSize: o.smallSize,
    largeFiles: o.largeFiles,
    largeSizeMiB: o.largeSizeMiB,
  };
}

/** Relative paths (inside data/) of the dataset's files, small ones first. */
function layout(spec) {
  const perFolder = Math.ceil(spec.smallFiles / spec.folders);
  const dirDigits = Math.max(2, String(spec.folders - 1).length);
  const fileDigits = Math.max(5, String(spec.smallFiles - 1).length);
  const fanout = Math.ceil(Math.sqrt(spec.folders));
  const subDigits = Math.max(2, String(fanout - 1).length);
  const small = [];
  for (let i = 0; i < spec.smallFiles; i++) {
    const folder = Math.floor(i / perFolder);
    const dir =
      spec.depth >= 2
        ? `dir-${String(Math.floor(folder / fanout)).padStart(subDigits, '0')}/sub-${String(folder % fanout).padStart(subDigits, '0')}`
        : `dir-${String(folder).padStart(dirDigits, '0')}`;
    small.push(`${dir}/file-${String(i).padStart(fileDigits, '0')}.bin`);
  }
  const large = [];
  for (let i = 0; i < spec.largeFiles; i++) large.push(`large-${i}.bin`);
  return { small, large };
}

/**
 * Makes sure <root>/data holds the dataset described by `spec`; returns its description:
 * { dataDir, files, bytes, sampleRel, rels, diskBytes } (sampleRel: one small file, or the first
 * large one when there are no small files, relative to the repo root; rels: every file, relative
 * to the repo root, small ones first; diskBytes: the space the files take, in 4 KiB blocks).
 */
export function ensureDataset(root, spec) {
  const dataDir = path.join(root, 'data');
  const manifestPath = path.join(root, 'manifest.json');
  const { small, large } = layout(spec);
  const info = {
    dataDir,
    files: small.length + large.length,
    bytes: small.length * spec.smallSize + large.length * spec.largeSizeMiB * MiB,
    sampleRel: `data/${small[0] ?? large[0]}`,
    rels: [...small, ...large].map((r) => `data/${r}`),
    diskBytes: small.length * blocks(spec.smallSize) + large.length * blocks(spec.largeSizeMiB * MiB),
    spec,
  };
  let existing;
  try {
    existing = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch {
    existing = undefined;
  }
  if (existing && JSON.stringify(existing.spec) === JSON.stringify(spec) && fs.existsSync(dataDir)) {
    log(`dataset: reusing ${dataDir} (${info.files} files, ${(info.bytes / MiB).toFixed(0)} MiB)`);
    return info;
  }

  log(`dataset: generating ${small.length} x ${spec.smallSize} B in ${spec.folders} folders${spec.depth >= 2 ? ' (nested)' : ''} + ${large.length} x ${spec.largeSizeMiB} MiB in ${dataDir}`);
  rmTree(root);
  fs.mkdirSync(dataDir, { recursive: true });
  const made = new Set();
  const buf = Buffer.allocUnsafe(Math.max(spec.smallSize, 8 * MiB));
  for (const rel of small) {
    const dir = path.dirname(rel);
    if (!made.has(dir)) {
      fs.mkdirSync(path.join(dataDir, dir), { recursive: true });
      made.add(dir);
    }
    const chunk = buf.subarray(0, spec.smallSize);
    randomFillSync(chunk);
    fs.writeFileSync(path.join(dataDir, rel), chunk);
  }
  for (const rel of large) {
    const fd = fs.openSync(path.join(dataDir, rel), 'w');
    try {
      let left = spec.largeSizeMiB * MiB;
      while (left > 0) {
        const chunk = buf.subarray(0, Math.min(left, 8 * MiB));
        randomFillSync(chunk);
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
        left -= chunk.length;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  // Written last: an interrupted generation has no manifest and is redone next time.
  fs.writeFileSync(manifestPath, JSON.stringify({ spec, files: info.files, bytes: info.bytes }, null, 2) + '\n');
  log(`dataset: done (${info.files} files, ${(info.bytes / MiB).toFixed(0)} MiB)`);
  return info;
}

/** Files, content bytes and space on disk (4 KiB blocks) of a dataset spec, without making it. */
export function footprint(spec) {
  const { small, large } = layout(spec);
  return {
    files: small.length + large.length,
    folders: new Set(small.map((r) => r.slice(0, r.lastIndexOf('/')))).size,
    bytes: small.length * spec.smallSize + large.length * spec.largeSizeMiB * MiB,
    diskBytes: small.length * blocks(spec.smallSize) + large.length * blocks(spec.largeSizeMiB * MiB),
  };
}

// The dataset shapes of the benchmark (issue 6), as presets of the dataset options. Explicit
// options (--small-files, --folders, ...) still win over a shape's values; --files N sets the
// number of small files of a shape (and, for shape b, the folders with it).

const MiB_PER_GiB = 1024;

/** Files per leaf folder in shape b (nested: ~sqrt(folders) top folders of ~sqrt(folders) each). */
export const SHAPE_B_FILES_PER_FOLDER = 100;

/** Shape b's sizes for --scale (and for --scale --quick). */
export const SCALE_SIZES = [20000, 100000, 200000];
export const SCALE_SIZES_QUICK = [1000, 2000, 4000];

/**
 * Dataset options of a shape: { smallFiles, folders, depth, smallSize, largeFiles, largeSizeMiB,
 * describe }. `files` overrides the number of small files (shapes a and b).
 */
export function shapePreset(shape, { quick = false, files } = {}) {
  switch (shape) {
    case 'a': {
      // 20,000 files of 4 KiB in 20 folders plus 2 files of 256 MiB (quick: 2,000 + 1 x 16 MiB)
      const n = files ?? (quick ? 2000 : 20000);
      return { smallFiles: n, folders: 20, depth: 1, smallSize: 4096, largeFiles: quick ? 1 : 2, largeSizeMiB: quick ? 16 : 256 };
    }
    case 'b': {
      // 200,000 files of 1 KiB in nested folders, 100 per leaf folder (quick: 2,000)
      const n = files ?? (quick ? 2000 : 200000);
      return { smallFiles: n, folders: Math.max(1, Math.ceil(n / SHAPE_B_FILES_PER_FOLDER)), depth: 2, smallSize: 1024, largeFiles: 0, largeSizeMiB: 1 };
    }
    case 'c':
      // one file of 4 GiB (quick: 256 MiB)
      return { smallFiles: files ?? 0, folders: 1, depth: 1, smallSize: 4096, largeFiles: 1, largeSizeMiB: quick ? 256 : 4 * MiB_PER_GiB };
    default:
      throw new Error(`unknown shape ${shape}`);
  }
}

export const SHAPES = ['a', 'b', 'c'];

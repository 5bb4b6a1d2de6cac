/**
 * V8 lets the old generation grow to as much as four times what survived the last full collection
 * before it collects again. A loop over 200,000 files (checkout's writes) then peaks at two or three
 * times the memory it keeps alive: 298 MB against 205 MB with growth capped at 1.3x, measured side
 * by side, in the same time. The flag is process-wide and read whenever V8 sets its next limit.
 */
import { setFlagsFromString } from 'node:v8';

export function capHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=30');
}

/**
 * Double-quoted strings in pointer and tree files: JSON string syntax (also valid YAML), with the
 * line separators U+2028 and U+2029 escaped so every value stays on one line for line-based readers.
 */
const LINE_SEPARATORS = /[\u2028\u2029]/;
const SURROGATE = /[\uD800-\uDFFF]/;

export function quote(value: string): string {
  const json = JSON.stringify(value);
  return LINE_SEPARATORS.test(json) ? json.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029') : json;
}

/** True when the string contains a UTF-16 surrogate that is not part of a pair (no UTF-8 form). */
export function hasLoneSurrogate(value: string): boolean {
  if (!SURROGATE.test(value)) return false;
  return /[\uD800-\uDFFF]/.test(value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''));
}

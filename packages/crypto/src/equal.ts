/**
 * Constant-time comparison for MACs and HASH payloads: the time taken depends only on the
 * lengths, never on where the first differing byte is. Lengths are public (they are on the
 * wire), so a length mismatch returns false at once.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

// Layer: net/wire. Stable parse result codes the stack counts and drops on (docs/architecture.md §3, the first error tier).
// Parsers return one of these or null (valid); they never throw and never allocate.
export const ParseError = {
  TRUNCATED: 1,
  BAD_VERSION: 2,
  BAD_HEADER_LENGTH: 3,
  BAD_TOTAL_LENGTH: 4,
  BAD_CHECKSUM: 5,
  BAD_OPTION: 6,
  BAD_LENGTH: 7,
  UNSUPPORTED: 8,
} as const;
export type ParseError = (typeof ParseError)[keyof typeof ParseError];

const NAMES: readonly string[] = [
  'OK', 'TRUNCATED', 'BAD_VERSION', 'BAD_HEADER_LENGTH', 'BAD_TOTAL_LENGTH',
  'BAD_CHECKSUM', 'BAD_OPTION', 'BAD_LENGTH', 'UNSUPPORTED',
];

/** Stable name of a code (for counters, logs and the printer). */
export function parseErrorName(code: ParseError | null): string {
  return code === null ? 'OK' : (NAMES[code] ?? 'UNKNOWN');
}

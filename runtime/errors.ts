// Programmer errors that WSK leaves undefined (design.md §4, third tier): thrown, with a stable
// code and a message that says how to fix the calling code. Never used on the hot path.
export class WskUsageError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'WskUsageError';
  }
}

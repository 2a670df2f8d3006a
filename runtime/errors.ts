// Programmer errors that WSK leaves undefined (docs/architecture.md §3, the third error tier): thrown, with a stable
// code and a message that says how to fix the calling code. Never used on the hot path.
export class WskUsageError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'WskUsageError';
  }
}

export interface MemorySample { heapUsed: number; external: number; arrayBuffers: number; rss: number }
export function out(o: unknown): void;
export function memory(): MemorySample;
export function serveControl(h: {
  mem(): MemorySample;
  open(): number;
  source(seconds: number): void;
  stats?(): unknown;
  quit(): void | Promise<void>;
}): void;

// Child processes for the benchmarks: peer programs and app sides, optionally inside a lab
// namespace (`ip netns exec`, which execs, so the pid we hold is the program's own) and pinned
// to a CPU (`taskset -c`, which execs too). Every child has a deadline and is ended by its pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** Where a child runs: a lab namespace (none: this one) and a CPU list (none: anywhere). */
export interface Placement { ns?: string; cpu?: string }

export function placed(p: Placement, argv: string[]): string[] {
  const pinned = p.cpu ? ['taskset', '-c', p.cpu, ...argv] : argv;
  return p.ns ? ['ip', 'netns', 'exec', p.ns, ...pinned] : pinned;
}

/** argv that runs a TypeScript file with node (no tsx CLI wrapper process, so the pid is node's). */
export function tsNode(file: string, args: string[], nodeFlags: string[] = []): string[] {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [process.execPath, ...nodeFlags, '--import', loader, file, ...args];
}

export interface JsonOutput { figures: Record<string, number>; raw: string; code: number | null }

/** Runs argv to completion (killed by pid at the deadline); resolves with the last JSON line it printed. */
export function runJson(p: Placement, argv: string[], timeoutMs = 60_000): Promise<JsonOutput> {
  const full = placed(p, argv);
  return new Promise((resolve) => {
    const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      let figures: Record<string, number> = {};
      try { figures = last ? JSON.parse(last) : {}; } catch { /* reported as NaN */ }
      resolve({ figures, raw: out, code });
    });
    child.on('error', () => { /* 'close' follows */ });
  });
}

/** A background server (a baseline's); ended by pid. */
export function serve(p: Placement, argv: string[]): { stop(): void } {
  const full = placed(p, argv);
  const child = spawn(full[0]!, full.slice(1), { stdio: 'ignore' });
  child.on('error', () => {});
  return { stop: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); } };
}

/**
 * A child that answers JSON lines: `next(pred)` waits for the next line matching `pred`,
 * `ask(cmd, pred)` writes a command and waits for its answer. Every wait has a deadline.
 */
export class JsonLineProcess {
  readonly child: ChildProcess;
  private buf = '';
  private lines: Record<string, unknown>[] = [];
  private waiters: { pred: (o: Record<string, unknown>) => boolean; resolve: (o: Record<string, unknown>) => void }[] = [];
  /** Everything it printed that was not JSON (its errors, for the log). */
  text = '';
  exited: Promise<number | null>;

  constructor(p: Placement, argv: string[]) {
    const full = placed(p, argv);
    this.child = spawn(full[0]!, full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.on('error', (e) => { this.text += String(e); });
    this.child.stdin!.on('error', () => {});
    this.child.stderr!.on('data', (d) => { this.text += d; });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      this.buf += d;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (!line.startsWith('{')) { this.text += line + '\n'; continue; }
        let o: Record<string, unknown>;
        try { o = JSON.parse(line); } catch { this.text += line + '\n'; continue; }
        const w = this.waiters.findIndex((x) => x.pred(o));
        if (w >= 0) this.waiters.splice(w, 1)[0]!.resolve(o); else this.lines.push(o);
      }
    });
    this.exited = new Promise((r) => this.child.on('close', (code) => r(code)));
  }

  next(pred: (o: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    const i = this.lines.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.lines.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (o: Record<string, unknown>) => { clearTimeout(timer); resolve(o); } };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no answer within ${timeoutMs} ms${this.text ? `: ${this.text.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
      }, timeoutMs);
      this.waiters.push(w);
      void this.exited.then(() => {
        if (!this.waiters.includes(w)) return;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(timer);
        reject(new Error(`exited before answering${this.text ? `: ${this.text.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
      });
    });
  }

  ask(cmd: string, pred: (o: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    this.child.stdin!.write(cmd + '\n');
    return this.next(pred, timeoutMs);
  }

  /** Closes stdin (the polite quit), waits up to `graceMs`, then ends it by pid. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

// Summarises a V8 .cpuprofile (node --cpu-prof, or `bench/suite.ts --cpu-prof DIR`): self time
// per function (file:line) and per file, largest first, so a profile can be quoted in a report.
//   npx tsx bench/profile-top.ts file.cpuprofile [--top N] [--filter substring]
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface Hot { name: string; ms: number; share: number }

const sources = new Map<string, string[] | null>();

/**
 * tsx compiles with whitespace minified, so V8 reports every TypeScript function on line 1: find
 * the declaration in the source instead (first match; marked with ~).
 */
function declarationLine(path: string, functionName: string): number | null {
  if (!sources.has(path)) sources.set(path, existsSync(path) ? readFileSync(path, 'utf8').split('\n') : null);
  const lines = sources.get(path);
  const name = functionName.replace(/^(get|set) /, '').split('.').pop()!;
  if (!lines || !/^[A-Za-z_$][\w$]*$/.test(name)) return null;
  const decl = new RegExp(`(function\\s+${name}\\b|\\b(class|interface)\\s+${name}\\b|^\\s*(export\\s+)?(const|let)\\s+${name}\\s*=|^\\s*(public\\s+|private\\s+|protected\\s+|static\\s+|readonly\\s+|async\\s+|get\\s+|set\\s+)*${name}\\s*[(<])`);
  const i = lines.findIndex((l) => decl.test(l));
  return i >= 0 ? i + 1 : null;
}

export function summarise(p: Profile, top = 25, filter = ''): { totalMs: number; functions: Hot[]; files: Hot[] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const abs = n.callFrame.url.replace(/^file:\/\//, '');
    const url = abs.replace(ROOT, '');
    let line = `${n.callFrame.lineNumber + 1}`;
    if (url.endsWith('.ts') && n.callFrame.lineNumber === 0) {
      const d = declarationLine(abs, n.callFrame.functionName);
      line = d === null ? '?' : `~${d}`;
    }
    const where = url ? `${url}:${line}` : '';
    const name = `${n.callFrame.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    total += us;
    if (filter && !name.includes(filter)) continue;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const f = url || n.callFrame.functionName;
    file.set(f, (file.get(f) ?? 0) + us);
  }
  const list = (m: Map<string, number>): Hot[] => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
  return { totalMs: total / 1000, functions: list(fn), files: list(file) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) { console.error('usage: profile-top.ts file.cpuprofile [--top N] [--filter s]'); process.exit(2); }
  const at = (k: string): string | undefined => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined; };
  const s = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(at('--top') ?? 25), at('--filter') ?? '');
  console.log(`${file}: ${s.totalMs.toFixed(0)} ms sampled`);
  console.log('self time by function:');
  process.stdout.on('error', () => process.exit(0));
  for (const h of s.functions) console.log(`  ${(h.share * 100).toFixed(1).padStart(5)} %  ${h.ms.toFixed(1).padStart(8)} ms  ${h.name}`);
  console.log('self time by file:');
  for (const h of s.files) console.log(`  ${(h.share * 100).toFixed(1).padStart(5)} %  ${h.ms.toFixed(1).padStart(8)} ms  ${h.name}`);
}

// The bench suite's app-side control protocol, shared by the plain node:net app
// (bench/peer-net.mjs serve) and the WSK app (bench/suite/app.ts) so both answer identically.
// Commands on stdin, one a line; answers on stdout, one JSON line each:
//   mem              -> {mem: {heapUsed, external, arrayBuffers, rss}}  (after a full GC when
//                       the process runs with --expose-gc)
//   open             -> {open: n}   connections the echo server holds
//   source <seconds> -> {ok: true}  how long the source server sends on its next connections
//   stats            -> {stats: {...}}  the app's counters (the userspace stack's; {} for others)
//   quit / stdin end -> {bye: true}, then the process exits
// The app prints {ready: true, sink, source, echo} (its three ports) once it listens.

/** Writes one JSON line. */
export function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }

/** Heap + external after a full collection, and RSS, in bytes. */
export function memory() {
  if (globalThis.gc) { globalThis.gc(); globalThis.gc(); }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss };
}

/** Serves the protocol above; `quit` may return a promise (the process exits once it settles). */
export function serveControl(h) {
  let buf = '';
  let quitting = false;
  const quit = () => {
    if (quitting) return;
    quitting = true;
    Promise.resolve().then(() => h.quit()).catch(() => {}).finally(() => { out({ bye: true }); process.exit(0); });
  };
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const [cmd, a] = buf.slice(0, i).trim().split(/\s+/);
      buf = buf.slice(i + 1);
      if (cmd === 'mem') out({ mem: h.mem() });
      else if (cmd === 'open') out({ open: h.open() });
      else if (cmd === 'source') { h.source(Number(a)); out({ ok: true }); }
      else if (cmd === 'stats') out({ stats: h.stats ? h.stats() : {} });
      else if (cmd === 'quit') quit();
    }
  });
  process.stdin.on('end', quit);
}

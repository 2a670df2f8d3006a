// The Linux side of the veth benchmark: plain node:net / node:dgram programs run in a lab
// namespace (ip netns exec), against either another of these (the baseline) or a WSK
// application on the userspace stack. Every mode is bounded in time or rounds and prints one
// JSON line.
//   send <host> <port> <seconds>            write 64 KiB chunks for <seconds>, then end: {sent, gbps}
//                                           (gbps: bytes over connect..close, i.e. until the receiver took it all)
//   sink <port> [<host>]                    accept one connection, count until it ends: {gbps}
//   pull <host> <port>                      connect and count what arrives until the end: {gbps}
//   source <port> <seconds> [<host>]        accept one connection, write for <seconds>, end
//   echo <port> [<host>]                    TCP echo server (until killed)
//   rr <host> <port> <rounds>               64-byte request-response: {p50, p99} in µs
//   udp-echo <port> [<host>]                UDP echo server (until killed)
//   udp-rr <host> <port> <rounds>           64-byte UDP request-response: {p50, p99, lost}
//   udp-flood <host> <port> <count> <size>  send <count> datagrams as fast as the socket takes them: {sent}
//   conns <host> <port> <count> <seconds> <concurrency>
//                                           connect, 64-byte exchange, close (FIN, wait for the peer's), with
//                                           <concurrency> in flight, until <count> or <seconds>:
//                                           {conns, failed, abandoned (open at the deadline), stuck (of those,
//                                           open for over 500 ms), seconds, cps, p50ms, p99ms, maxms, over500ms}
//   hold <host> <port> <n> <seconds>        open <n> idle connections, print {holding, failed}, keep them until
//                                           stdin ends or <seconds> pass, then reset them all
//   many-send <host> <port> <n> <seconds>   open <n> connections (64 connects in flight), then write 64 KiB chunks on
//                                           all of them for <seconds> and end them: {conns, sent, gbps} (gbps:
//                                           every byte over first write..last close; unfinished: still open at the deadline)
//   many-rr <host> <port> <n> <rounds> <seconds>
//                                           <n> connections, each a closed loop of 64-byte request-responses, until
//                                           <rounds> in all or <seconds>; each connection's first round dropped:
//                                           {conns, rounds, p50, p99 (µs), tps}
//   serve <host> <port>                     the bench suite's app side as plain node:net: sink, source and echo
//                                           servers (on <port>, +1, +2; 0: any free ports), driven by
//                                           bench/suite/control.mjs's protocol on stdin
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { memory, serveControl } from './suite/control.mjs';

const [mode, ...args] = process.argv.slice(2);
const CHUNK = Buffer.alloc(64 * 1024, 0x5a);
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const out = (o) => { process.stdout.write(JSON.stringify(o) + '\n'); };
const gbps = (bytes, ms) => (bytes * 8) / (ms * 1e6);

function countUntilEnd(sock, done) {
  let bytes = 0;
  let t0 = 0;
  sock.on('data', (d) => { if (bytes === 0) t0 = performance.now(); bytes += d.length; });
  sock.on('end', () => { done({ bytes, gbps: gbps(bytes, performance.now() - t0) }); sock.end(); });
  sock.on('error', (e) => { out({ error: e.message, bytes }); process.exit(1); });
}

function writeFor(sock, seconds, done) {
  const end = performance.now() + seconds * 1000;
  let bytes = 0;
  const pump = () => {
    while (performance.now() < end) {
      bytes += CHUNK.length;
      if (!sock.write(CHUNK)) { sock.once('drain', pump); return; }
    }
    sock.end();
    done(bytes);
  };
  pump();
}

/** Opens <n> connections, 64 connects in flight (a listen backlog is not the figure under test), then calls back with the connected ones. */
function openMany(host, port, n, ready) {
  const socks = [];
  let started = 0;
  let failed = 0;
  const settle = () => { if (socks.length + failed === n) { clearTimeout(timer); ready(socks, failed); } else next(); };
  const next = () => {
    if (started >= n) return;
    started++;
    const s = net.connect({ host, port, noDelay: true }, () => { socks.push(s); settle(); });
    s.on('error', () => { if (!socks.includes(s)) { failed++; settle(); } });
  };
  const timer = setTimeout(() => { out({ error: `connected ${socks.length} of ${n} within 60 s`, failed }); process.exit(1); }, 60_000);
  for (let i = 0; i < Math.min(64, n); i++) next();
}

function listen(port, host, onConn) {
  const server = net.createServer({ noDelay: true }, onConn);
  server.listen(Number(port), host ?? '0.0.0.0', () => out({ listening: Number(port) }));
  return server;
}

switch (mode) {
  case 'send': {
    const [host, port, seconds] = args;
    const s = net.connect({ host, port: Number(port), noDelay: true }, () => {
      const t0 = performance.now();
      writeFor(s, Number(seconds), (bytes) => {
        s.on('close', () => { out({ sent: bytes, gbps: gbps(bytes, performance.now() - t0) }); process.exit(0); });
      });
    });
    s.on('error', (e) => { out({ error: e.message }); process.exit(1); });
    break;
  }
  case 'sink': {
    const server = listen(args[0], args[1], (sock) => countUntilEnd(sock, (r) => { out(r); server.close(); process.exit(0); }));
    break;
  }
  case 'pull': {
    const [host, port] = args;
    const s = net.connect({ host, port: Number(port), noDelay: true });
    countUntilEnd(s, (r) => { out(r); process.exit(0); });
    break;
  }
  case 'source': {
    const [port, seconds, host] = args;
    const server = listen(port, host, (sock) => writeFor(sock, Number(seconds), (bytes) => {
      sock.on('close', () => { out({ sent: bytes }); server.close(); process.exit(0); });
    }));
    break;
  }
  case 'echo': {
    listen(args[0], args[1], (sock) => { sock.on('data', (d) => sock.write(d)); sock.on('error', () => {}); });
    break;
  }
  case 'rr': {
    const [host, port, rounds] = args;
    const msg = Buffer.alloc(64, 1);
    const s = net.connect({ host, port: Number(port), noDelay: true }, async () => {
      const samples = [];
      for (let i = 0; i < Number(rounds); i++) {
        const t = performance.now();
        await new Promise((r) => { let n = 0; const on = (d) => { n += d.length; if (n >= 64) { s.off('data', on); r(); } }; s.on('data', on); s.write(msg); });
        samples.push((performance.now() - t) * 1000);
      }
      const warm = samples.slice(Math.floor(samples.length / 10));
      out({ p50: pct(warm, 0.5), p99: pct(warm, 0.99) });
      s.destroy();
      process.exit(0);
    });
    s.on('error', (e) => { out({ error: e.message }); process.exit(1); });
    break;
  }
  case 'udp-echo': {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (m, r) => sock.send(m, r.port, r.address));
    sock.bind(Number(args[0]), args[1] ?? '0.0.0.0', () => out({ listening: Number(args[0]) }));
    break;
  }
  case 'udp-rr': {
    const [host, port, rounds] = args;
    const sock = dgram.createSocket('udp4');
    const msg = Buffer.alloc(64, 1);
    let lost = 0;
    sock.bind(0, async () => {
      const samples = [];
      for (let i = 0; i < Number(rounds); i++) {
        const t = performance.now();
        const ok = await new Promise((r) => {
          const timer = setTimeout(() => { sock.off('message', on); r(false); }, 200);
          const on = () => { clearTimeout(timer); sock.off('message', on); r(true); };
          sock.on('message', on);
          sock.send(msg, Number(port), host);
        });
        if (ok) samples.push((performance.now() - t) * 1000); else lost++;
      }
      const warm = samples.slice(Math.floor(samples.length / 10));
      out({ p50: pct(warm, 0.5), p99: pct(warm, 0.99), lost });
      process.exit(0);
    });
    break;
  }
  case 'udp-flood': {
    const [host, port, count, size] = args;
    const sock = dgram.createSocket('udp4');
    const msg = Buffer.alloc(Number(size), 0x33);
    let started = 0;
    let done = 0;
    const total = Number(count);
    // A bounded window of sends in flight keeps the socket busy without unbounded queueing.
    const next = () => {
      if (started === total) {
        if (++done === Math.min(32, total)) { out({ sent: total }); sock.close(); }
        return;
      }
      started++;
      sock.send(msg, Number(port), host, next);
    };
    for (let i = 0; i < 32 && i < total; i++) next();
    break;
  }
  case 'conns': {
    // A time window (wrk-style): connections are started until <count> or <seconds>; those still
    // in flight at the deadline are abandoned and not counted, so one lost SYN (a 1 s
    // retransmission) costs its slot's time, not the whole run's.
    const [host, port, count, seconds, concurrency] = args;
    const total = Number(count);
    const msg = Buffer.alloc(64, 2);
    const t0 = performance.now();
    const end = t0 + Number(seconds) * 1000;
    const live = new Map(); // socket -> start time
    let started = 0;
    let conns = 0;
    let failed = 0;
    let finished = false;
    const times = [];
    const finish = () => {
      if (finished) return;
      finished = true;
      const s = (Math.min(performance.now(), end) - t0) / 1000;
      const abandoned = live.size;
      const now = performance.now();
      let stuck = 0;
      for (const [sock, c0] of live) { if (now - c0 > 500) stuck++; sock.destroy(); }
      // Per-connection times (connect to close), ms: a lost SYN shows as a ~1 s outlier.
      out({ conns, failed, abandoned, stuck, seconds: s, cps: conns / s, p50ms: pct(times, 0.5), p99ms: pct(times, 0.99), maxms: pct(times, 1), over500ms: times.filter((x) => x > 500).length });
      process.exit(0);
    };
    const next = () => {
      if (finished) return;
      if (started >= total) { if (live.size === 0) finish(); return; }
      started++;
      let got = 0;
      const c0 = performance.now();
      const s = net.connect({ host, port: Number(port), noDelay: true }, () => s.write(msg));
      live.set(s, c0);
      s.on('data', (d) => { got += d.length; if (got >= msg.length) s.end(); });
      s.on('error', () => {});
      s.on('close', (hadError) => {
        if (!live.delete(s) || finished) return;
        times.push(performance.now() - c0);
        if (got >= msg.length && !hadError) conns++; else failed++;
        next();
      });
    };
    setTimeout(finish, Math.max(0, end - performance.now()));
    for (let i = 0; i < Number(concurrency); i++) next();
    break;
  }
  case 'hold': {
    const [host, port, n, seconds] = args;
    const total = Number(n);
    const socks = [];
    let started = 0;
    let connected = 0;
    let failed = 0;
    let reported = false;
    const quit = () => { for (const s of socks) s.destroy(); process.exit(0); };
    const report = () => { if (!reported && connected + failed >= total) { reported = true; out({ holding: connected, failed }); } };
    const next = () => {
      if (started >= total) return;
      started++;
      const s = net.connect({ host, port: Number(port) }, () => { connected++; report(); next(); });
      s.on('error', () => { failed++; report(); next(); });
      socks.push(s);
    };
    for (let i = 0; i < 32; i++) next();
    process.stdin.on('end', quit);
    process.stdin.on('error', quit);
    process.stdin.resume();
    setTimeout(quit, Number(seconds) * 1000).unref();
    setTimeout(() => {}, Number(seconds) * 1000 + 1000); // keeps the loop alive until quit
    break;
  }
  case 'many-send': {
    const [host, port, n, seconds] = args;
    openMany(host, Number(port), Number(n), (socks, failed) => {
      const t0 = performance.now();
      let sent = 0;
      let open = socks.length;
      const finish = (unfinished) => {
        out({ conns: socks.length, failed, sent, gbps: gbps(sent, performance.now() - t0), unfinished });
        for (const s of socks) s.destroy();
        process.exit(0);
      };
      // Bounded: whatever is still open well after the writers stopped is reported, not awaited.
      setTimeout(() => finish(open), (Number(seconds) + 30) * 1000).unref();
      for (const s of socks) {
        s.on('close', () => { if (--open === 0) finish(0); });
        writeFor(s, Number(seconds), (bytes) => { sent += bytes; });
      }
    });
    break;
  }
  case 'many-rr': {
    const [host, port, n, rounds, seconds] = args;
    openMany(host, Number(port), Number(n), (socks, failed) => {
      const msg = Buffer.alloc(64, 1);
      const total = Number(rounds);
      const samples = [];
      const t0 = performance.now();
      const end = t0 + Number(seconds) * 1000;
      let done = 0;
      let running = socks.length;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        const elapsed = (performance.now() - t0) / 1000;
        out({ conns: socks.length, failed, rounds: samples.length, p50: pct(samples, 0.5), p99: pct(samples, 0.99), tps: done / elapsed });
        for (const s of socks) s.destroy();
        process.exit(0);
      };
      setTimeout(finish, Number(seconds) * 1000 + 5000).unref();
      for (const s of socks) {
        let first = true;
        let got = 0;
        let t = 0;
        const send = () => {
          if (done >= total || performance.now() >= end) { if (--running === 0) finish(); return; }
          got = 0;
          t = performance.now();
          s.write(msg);
        };
        s.on('data', (d) => {
          got += d.length;
          if (got < msg.length) return;
          if (first) first = false; else samples.push((performance.now() - t) * 1000);
          done++;
          send();
        });
        send();
      }
    });
    break;
  }
  case 'serve': {
    // The app side of bench/suite.ts as plain node:net, with the same control protocol as the
    // WSK app (bench/suite/app.ts): one JSON line per answer on stdout.
    const [host, port] = args;
    const base = Number(port);
    const at = (k) => (base === 0 ? 0 : base + k);
    let sourceSeconds = 2;
    const echoSockets = new Set();
    const servers = [];
    const mk = (p, onConn) => new Promise((resolve) => {
      const server = net.createServer({ noDelay: true }, onConn);
      server.listen(p, host, () => resolve());
      servers.push(server);
    });
    Promise.all([
      mk(at(0), (sock) => { sock.on('data', () => {}); sock.on('error', () => {}); }),
      mk(at(1), (sock) => { sock.on('error', () => {}); sock.on('data', () => {}); writeFor(sock, sourceSeconds, () => {}); }),
      mk(at(2), (sock) => {
        echoSockets.add(sock);
        sock.on('data', (d) => sock.write(d));
        sock.on('error', () => {});
        sock.on('close', () => echoSockets.delete(sock));
      }),
    ]).then(() => out({ ready: true, sink: servers[0].address().port, source: servers[1].address().port, echo: servers[2].address().port }));
    serveControl({
      mem: () => memory(),
      open: () => echoSockets.size,
      source: (s) => { sourceSeconds = s; },
      quit: () => { for (const s of echoSockets) s.destroy(); for (const s of servers) s.close(); },
    });
    break;
  }
  default:
    console.error('usage: peer-net.mjs send|sink|pull|source|echo|rr|udp-echo|udp-rr|udp-flood|conns|hold|many-send|many-rr|serve ...');
    process.exit(2);
}

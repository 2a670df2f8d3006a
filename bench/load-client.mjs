// The load generator for bench/kernel-echo.bench.ts, in its own process so that client and
// server do not share one event loop: `node bench/load-client.mjs rtt|bulk PORT COUNT`.
// rtt: COUNT 64-byte round trips, prints {p50, p99} in µs (first 10% dropped as warm-up).
// bulk: COUNT MiB one way, then FIN, prints {gbps} once the server has closed.
import * as net from 'node:net';

const [mode, portText, countText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const deadline = Date.now() + 120_000;

function connect() {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

async function rtt() {
  const sock = await connect();
  sock.on('error', () => {});
  sock.setNoDelay(true);
  const msg = Buffer.alloc(64, 7);
  const samples = [];
  let pending = 0;
  let t0 = 0n;
  await new Promise((resolve) => {
    const send = () => { t0 = process.hrtime.bigint(); pending = msg.length; sock.write(msg); };
    sock.on('data', (d) => {
      pending -= d.length;
      if (pending > 0) return;
      samples.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (samples.length >= count || Date.now() > deadline) resolve(); else send();
    });
    send();
  });
  sock.destroy();
  const warm = samples.slice(Math.floor(samples.length / 10)).sort((a, b) => a - b);
  return { p50: warm[Math.floor(warm.length * 0.5)], p99: warm[Math.floor(warm.length * 0.99)] };
}

async function bulk() {
  const sock = await connect();
  sock.on('error', () => {});
  const chunk = Buffer.alloc(256 * 1024, 1);
  const total = count * 1024 * 1024;
  const t0 = process.hrtime.bigint();
  let sent = 0;
  while (sent < total && Date.now() < deadline) {
    if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
    sent += chunk.length;
  }
  sock.end();
  await new Promise((r) => sock.once('close', r));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { gbps: (sent * 8) / seconds / 1e9 };
}

const result = mode === 'rtt' ? await rtt() : await bulk();
process.stdout.write(JSON.stringify(result) + '\n');

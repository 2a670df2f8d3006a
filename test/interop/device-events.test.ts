// What a WSK application sees when the network under the userspace stack fails (issue 6 quality
// bar): the device pulled down mid-transfer (and brought back), a peer that stops answering, a
// peer killed mid-connection, and the peer's namespace deleted (which deletes the veth pair and
// so our device). Each ends in clean NTSTATUS results — never a hang or a crash — and the runtime
// keeps serving other sockets. On every link. Needs root (CI runs as root).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import {
  STATUS_CONNECTION_ABORTED, STATUS_CONNECTION_RESET, STATUS_IO_TIMEOUT, STATUS_NETWORK_UNREACHABLE, STATUS_SUCCESS,
  createKernelProvider, type WSK_SOCKET,
} from '../../index.ts';
import { WskSubsystem } from '../../runtime/wsk/subsystem.ts';
import { buf, connTable } from '../contract/fixtures.ts';
import { LINK_KINDS, openStackLab, sha256, type StackLab } from '../helpers/real-link.ts';
import { sessionOn, type WskSession } from '../helpers/wsk-session.ts';
import { start, until, sleep } from '../helpers/wsk-call.ts';
import { WskCallError, wskClose, wskConnect, wskDisconnect, wskReceiveAll, wskSendAll, wskUdp } from '../helpers/wsk-stream.ts';

const MiB = 1 << 20;

/** The status a WSK call failed with (WskCallError), or STATUS_SUCCESS. */
async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return STATUS_SUCCESS;
  } catch (err) {
    if (err instanceof WskCallError) return err.status;
    throw err;
  }
}

async function hashServer(L: StackLab, port: number) {
  const server = L.peerProcess(`socat -d -d TCP4-LISTEN:${port},reuseaddr SYSTEM:sha256sum`);
  await server.waitFor('listening on');
  return server;
}

/** Finishes an upload: our FIN, then the server's SHA-256 of what it received. */
async function finishUpload(sock: WSK_SOCKET): Promise<string> {
  expect(await wskDisconnect(sock)).toBe(STATUS_SUCCESS);
  return (await wskReceiveAll(sock)).toString().split(/\s+/)[0]!;
}

for (const kind of LINK_KINDS) {
  describe(`${kind} link: device and peer failures`, () => {
    let L: StackLab;
    let w: WskSession;
    beforeAll(async () => {
      // A short retransmission limit, so "the peer is gone" is decided in seconds.
      L = await openStackLab(kind, { tcp: { maxRetransmits: 4 } });
      w = await sessionOn(L.subsystem);
    }, 60_000);
    afterEach((ctx) => {
      if (ctx.task.result?.state === 'fail' && L) console.error(`capture of the failed test: ${L.keepCapture(`${kind}-events-${ctx.task.name}`)}`);
    });
    afterAll(async () => {
      await w?.close();
      await L?.close();
      L?.device.arena.assertNoLeaks();
    }, 60_000);

    it('device pulled down mid-transfer: new connections and datagrams fail with STATUS_NETWORK_UNREACHABLE; back up, the transfer completes intact', async () => {
      const server = await hashServer(L, 5401);
      const f = L.randomFile('down-up.bin', 16 * MiB);
      const sock = await wskConnect(w, L.address, L.peerAddress, 5401);
      const udp = await wskUdp(w, L.address, 5402);
      try {
        const sending = wskSendAll(sock, f.data, 64 * 1024, 4);
        await sleep(30);
        L.lab.exec('stack', ['ip', 'link', 'set', L.lab.stackIf, 'down']);
        await until(() => L.stack.nic.linkState === 'down', 5000, 'the link to report down');
        expect(await udp.sendTo(Buffer.from('hello'), L.peerAddress, 9)).toBe(STATUS_NETWORK_UNREACHABLE);
        const refused = await statusOf(wskConnect(w, L.address, L.peerAddress, 5401));
        expect(refused).toBe(STATUS_NETWORK_UNREACHABLE);
        await sleep(1000);
        L.lab.exec('stack', ['ip', 'link', 'set', L.lab.stackIf, 'up']);
        await until(() => L.stack.nic.linkState === 'up', 5000, 'the link to report up');
        await sending;
        expect(await finishUpload(sock)).toBe(f.sha256);
        expect(L.stack.counters.linkStateChanges).toBeGreaterThanOrEqual(2);
      } finally {
        expect(await wskClose(sock)).toBe(STATUS_SUCCESS);
        expect(await udp.close()).toBe(STATUS_SUCCESS);
        server.stop();
      }
    }, 60_000);

    it('a peer that stops answering: the pending WskSend and WskReceive complete with STATUS_IO_TIMEOUT; other connections go on', async () => {
      const server = await hashServer(L, 5403);
      const sock = await wskConnect(w, L.address, L.peerAddress, 5403);
      try {
        // The peer host drops everything from us from now on (nothing is answered, not even RST).
        await L.peer('nft add table ip wsk_blackhole && nft add chain ip wsk_blackhole in "{ type filter hook input priority 0; policy drop; }"');
        const receive = start<number>((irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(1024)), 0, irp), 60_000);
        const send = start<number>((irp) => connTable(sock).WskSend(sock, buf(new Uint8Array(256 * 1024)), 0, irp), 60_000);
        const [s, r] = await Promise.all([send.done, receive.done]);
        expect(s.status).toBe(STATUS_IO_TIMEOUT);
        expect(r.status).toBe(STATUS_IO_TIMEOUT);
        expect(L.provider.tcp!.counters.timeouts).toBeGreaterThanOrEqual(4);
      } finally {
        expect(await wskClose(sock)).toBe(STATUS_SUCCESS);
        server.stop();
        await L.peer('nft delete table ip wsk_blackhole');
      }
      // The stack and the same peer carry on with a new connection.
      const again = await hashServer(L, 5404);
      const f = L.randomFile('after-timeout.bin', MiB);
      const sock2 = await wskConnect(w, L.address, L.peerAddress, 5404);
      try {
        await wskSendAll(sock2, f.data);
        expect(await finishUpload(sock2)).toBe(f.sha256);
      } finally {
        expect(await wskClose(sock2)).toBe(STATUS_SUCCESS);
        again.stop();
      }
    }, 90_000);

    it('a peer killed mid-connection: its kernel resets us and the next WskSend completes with STATUS_CONNECTION_RESET', async () => {
      const server = await hashServer(L, 5405);
      const sock = await wskConnect(w, L.address, L.peerAddress, 5405);
      try {
        await wskSendAll(sock, new Uint8Array(64 * 1024));
        server.stop();
        await server.exited;
        // The killed socket's FIN may arrive first; data sent after it meets a RST.
        let status = STATUS_SUCCESS;
        for (let i = 0; i < 20 && status === STATUS_SUCCESS; i++) {
          status = await statusOf(wskSendAll(sock, new Uint8Array(64 * 1024)));
          if (status === STATUS_SUCCESS) await sleep(50);
        }
        expect(status).toBe(STATUS_CONNECTION_RESET);
      } finally {
        expect(await wskClose(sock)).toBe(STATUS_SUCCESS);
      }
    }, 60_000);
  });

  describe(`${kind} link: the peer's namespace deleted mid-transfer`, () => {
    it('pending operations complete with STATUS_CONNECTION_ABORTED, new ones STATUS_NETWORK_UNREACHABLE, nothing leaks, other subsystems serve on', async () => {
      const L = await openStackLab(kind);
      const w = await sessionOn(L.subsystem);
      const kernel = new WskSubsystem(createKernelProvider(), { name: 'alongside', registerWithNmr: false });
      await kernel.start();
      const kw = await sessionOn(kernel);
      const echo = net.createServer((s) => s.pipe(s));
      await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
      try {
        const server = await hashServer(L, 5406);
        const sock = await wskConnect(w, L.address, L.peerAddress, 5406);
        try {
          const sending = statusOf(wskSendAll(sock, new Uint8Array(64 * MiB), 256 * 1024, 4));
          const receiving = start<number>((irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(1024)), 0, irp), 30_000);
          await sleep(50);
          // The peer's programs hold its namespace alive, so they go first; silenced, so that
          // their kernel's farewell (a RST) cannot end the connection before the device does.
          await L.peer('nft add table ip wsk_mute && nft add chain ip wsk_mute out "{ type filter hook output priority 0; policy drop; }"');
          server.stop();
          await server.exited;
          // A socket orphaned by the kill would keep the namespace (and the veth) alive while it
          // retries its FIN: destroy them (ss -K) so that deleting the namespace deletes it now.
          await L.peer('ss -t -K >/dev/null');
          // Deleting the peer's namespace destroys its veth end, and with it ours.
          L.lab.down();
          await until(() => L.stack.nic.linkState === 'gone', 15_000, 'the link to report gone');
          expect(await sending).toBe(STATUS_CONNECTION_ABORTED);
          expect((await receiving.done).status).toBe(STATUS_CONNECTION_ABORTED);
          expect(await statusOf(wskConnect(w, L.address, L.peerAddress, 5406))).toBe(STATUS_NETWORK_UNREACHABLE);
        } finally {
          expect(await wskClose(sock)).toBe(STATUS_SUCCESS);
        }

        // Another subsystem of the same runtime (the kernel provider) keeps working.
        const port = (echo.address() as net.AddressInfo).port;
        const ks = await wskConnect(kw, '127.0.0.1', '127.0.0.1', port);
        const data = new Uint8Array(MiB).map((_, i) => i * 7);
        await wskSendAll(ks, data);
        expect(await wskDisconnect(ks)).toBe(STATUS_SUCCESS);
        expect(sha256(await wskReceiveAll(ks))).toBe(sha256(data));
        expect(await wskClose(ks)).toBe(STATUS_SUCCESS);
      } finally {
        echo.close();
        await kw.close();
        await kernel.stop();
        await w.close();
        await L.close();
      }
      expect(L.stack.held.count).toBe(0);
      L.device.arena.assertNoLeaks();
    }, 60_000);
  });
}

// Control buffers for tests, laid out as a C port builds them (ws2def.h WSA_CMSG_* macros).
import { WSACMSGHDR, WSA_CMSG_DATA, WSA_CMSG_LEN, WSA_CMSG_SPACE } from '../../index.ts';

/** A control buffer of (level, type, data) objects, each at WSA_CMSG_SPACE alignment. */
export function controlBuffer(...items: [number, number, Uint8Array][]): Uint8Array {
  const b = new Uint8Array(items.reduce((n, [, , d]) => n + WSA_CMSG_SPACE(d.byteLength), 0));
  let at = 0;
  for (const [level, type, data] of items) {
    const h = new WSACMSGHDR(b, at);
    h.cmsg_len = WSA_CMSG_LEN(data.byteLength);
    h.cmsg_level = level;
    h.cmsg_type = type;
    WSA_CMSG_DATA(h).set(data);
    at += WSA_CMSG_SPACE(data.byteLength);
  }
  return b;
}

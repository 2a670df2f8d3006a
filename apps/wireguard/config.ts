// The wg-quick configuration file (wg-quick(8), wg(8) "CONFIGURATION FILE FORMAT"): an [Interface]
// section (PrivateKey, ListenPort, Address, MTU) and [Peer] sections (PublicKey, PresharedKey,
// Endpoint, AllowedIPs, PersistentKeepalive). Keys and section names are case-insensitive, `#`
// starts a comment, AllowedIPs and Address take comma-separated lists and may repeat. wg-quick's
// host-side keys (DNS, Table, PreUp/PostUp/PreDown/PostDown, SaveConfig, FwMark) are accepted and
// listed in `ignored`: there is no host routing table to change here. Every error is one line
// naming the file line and saying the fix.
import { parseKey } from './crypto/x25519.ts';
import { Endpoint } from './endpoint.ts';
import { formatIp, parsePrefix, type IpFamily } from './ip-address.ts';
import type { PeerOptions } from './device.ts';
import { WireGuardError } from './errors.ts';

/** A wg-quick file that cannot be used; `code` is WG_ERR_CONFIG. */
export class WireGuardConfigError extends WireGuardError {
  override name = 'WireGuardConfigError';
  constructor(message: string) {
    super('WG_ERR_CONFIG', message);
  }
}

export interface InterfaceAddress {
  family: IpFamily;
  /** The address itself (host bits kept), e.g. 198.19.0.2. */
  address: string;
  cidr: number;
}

export interface WgQuickConfig {
  privateKey: Uint8Array;
  listenPort: number | null;
  addresses: InterfaceAddress[];
  mtu: number | null;
  peers: (PeerOptions & { allowedIps: string[] })[];
  /** wg-quick keys that only change the host (DNS, Table, PostUp, ...), as "Key = value". */
  ignored: string[];
}

const HOST_SIDE_KEYS = new Set(['dns', 'table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig', 'fwmark']);

export function parseWgQuickConfig(text: string, fileName = 'wg.conf'): WgQuickConfig {
  let section: 'none' | 'interface' | 'peer' = 'none';
  let privateKey: Uint8Array | null = null;
  let listenPort: number | null = null;
  let mtu: number | null = null;
  const addresses: InterfaceAddress[] = [];
  const peers: WgQuickConfig['peers'] = [];
  const ignored: string[] = [];
  let sawInterface = false;
  const lines = text.split(/\r?\n/);
  const fail = (line: number, msg: string): never => { throw new WireGuardConfigError(`${fileName} line ${line}: ${msg}`); };
  const checkPeerKey = (line: number): void => {
    const p = peers.at(-1);
    if (p && p.publicKey.length === 0) fail(line, 'this [Peer] has no PublicKey: add "PublicKey = <the peer\'s wg pubkey output>"');
  };

  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!.replace(/#.*/, '').trim();
    if (line === '') continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      const name = header[1]!.toLowerCase();
      if (name === 'interface') {
        if (sawInterface) fail(n, 'a second [Interface] section: a file describes one interface, merge the two');
        sawInterface = true;
        checkPeerKey(n);
        section = 'interface';
      } else if (name === 'peer') {
        checkPeerKey(n);
        section = 'peer';
        peers.push({ publicKey: new Uint8Array(0), allowedIps: [] });
      } else {
        fail(n, `unknown section [${header[1]}]: write [Interface] or [Peer]`);
      }
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) fail(n, `"${line}" is not "Key = value" or a [Section]: add the "=" or remove the line`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const k = key.toLowerCase();
    if (section === 'none') fail(n, `${key} comes before any section: put it under [Interface] or [Peer]`);
    if (section === 'interface') {
      switch (k) {
        case 'privatekey':
          privateKey = parseKey(value) ?? fail(n, 'PrivateKey is not a WireGuard key: use the output of `wg genkey` (44 characters of base64 ending in "=")');
          break;
        case 'listenport':
          listenPort = /^\d+$/.test(value) && Number(value) <= 65535 ? Number(value) : fail(n, `ListenPort "${value}" is not a port: write a number from 0 to 65535`);
          break;
        case 'address':
          for (const item of splitList(value)) addresses.push(parseAddress(item) ?? fail(n, `Address "${item}" is not address/cidr: write it like 198.19.0.2/24 or fd00::2/64`));
          break;
        case 'mtu':
          mtu = /^\d+$/.test(value) && Number(value) >= 576 && Number(value) <= 65535 ? Number(value) : fail(n, `MTU "${value}" is out of range: write a number from 576 to 65535, or leave it out for 1420`);
          break;
        default:
          if (HOST_SIDE_KEYS.has(k)) { ignored.push(`${key} = ${value}`); break; }
          fail(n, `unknown key ${key} in [Interface]: the keys are PrivateKey, ListenPort, Address, MTU (and wg-quick's DNS, Table, PreUp, PostUp, PreDown, PostDown, SaveConfig, FwMark)`);
      }
      continue;
    }
    const peer = peers.at(-1)!;
    switch (k) {
      case 'publickey':
        peer.publicKey = parseKey(value) ?? fail(n, 'PublicKey is not a WireGuard key: use the peer\'s `wg pubkey` output (44 characters of base64 ending in "=")');
        break;
      case 'presharedkey':
        peer.presharedKey = parseKey(value) ?? fail(n, 'PresharedKey is not a WireGuard key: use the output of `wg genpsk`, the same on both peers');
        break;
      case 'endpoint':
        peer.endpoint = Endpoint.parse(value) ?? fail(n, `Endpoint "${value}" is not address:port: write a literal address like 198.18.0.1:51820 or [fd00::1]:51820 (host names are not resolved)`);
        break;
      case 'allowedips':
        for (const item of splitList(value)) {
          const p = parsePrefix(item) ?? fail(n, `AllowedIPs "${item}" is not address/cidr: write it like 198.19.0.0/16, fd00::/64 or 0.0.0.0/0`);
          peer.allowedIps.push(`${formatIp(p.family, p.bytes)}/${p.cidr}`);
        }
        break;
      case 'persistentkeepalive':
        if (value.toLowerCase() === 'off') peer.persistentKeepalive = 0;
        else if (/^\d+$/.test(value) && Number(value) <= 65535) peer.persistentKeepalive = Number(value);
        else fail(n, `PersistentKeepalive "${value}" is not a number of seconds: write 1 to 65535 (25 is usual), or "off"`);
        break;
      default:
        fail(n, `unknown key ${key} in [Peer]: the keys are PublicKey, PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive`);
    }
  }
  checkPeerKey(lines.length);
  if (!privateKey) throw new WireGuardConfigError(`${fileName}: no PrivateKey in [Interface]: add "PrivateKey = <output of wg genkey>"`);
  const seen = new Set<string>();
  for (const p of peers) {
    const k = Buffer.from(p.publicKey).toString('base64');
    if (seen.has(k)) throw new WireGuardConfigError(`${fileName}: peer ${k} appears twice: merge the two [Peer] sections`);
    seen.add(k);
  }
  return { privateKey, listenPort, addresses, mtu, peers, ignored };
}

function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function parseAddress(text: string): InterfaceAddress | null {
  const prefix = parsePrefix(text);
  if (!prefix) return null;
  return { family: prefix.family, address: text.split('/')[0]!.trim(), cidr: prefix.cidr };
}

// Cryptokey routing (the paper §2): each peer owns a set of prefixes; an outgoing packet goes to
// the peer owning the longest prefix that contains its destination, and an incoming packet is
// accepted only from the peer owning the longest prefix that contains its source. A binary trie
// per family, one level per bit: at most 32 or 128 steps and no allocation per lookup.
import type { IpFamily } from './ip-address.ts';

class TrieNode<T> {
  zero: TrieNode<T> | null = null;
  one: TrieNode<T> | null = null;
  value: T | null = null;
}

function bitAt(bytes: Uint8Array, offset: number, i: number): number {
  return (bytes[offset + (i >>> 3)]! >>> (7 - (i & 7))) & 1;
}

export class AllowedIps<T> {
  private readonly v4 = new TrieNode<T>();
  private readonly v6 = new TrieNode<T>();

  /** Routes family/bytes/cidr to `owner`, taking it from any previous owner (as `wg set` does). */
  insert(family: IpFamily, bytes: Uint8Array, cidr: number, owner: T): void {
    let node = family === 4 ? this.v4 : this.v6;
    for (let i = 0; i < cidr; i++) {
      if (bitAt(bytes, 0, i)) node = node.one ??= new TrieNode<T>();
      else node = node.zero ??= new TrieNode<T>();
    }
    node.value = owner;
  }

  /** The owner of the longest prefix containing the address at bytes[offset], or null. */
  lookup(family: IpFamily, bytes: Uint8Array, offset: number): T | null {
    let node: TrieNode<T> | null = family === 4 ? this.v4 : this.v6;
    const bits = family === 4 ? 32 : 128;
    let best: T | null = node.value;
    for (let i = 0; i < bits && node; i++) {
      node = bitAt(bytes, offset, i) ? node.one : node.zero;
      if (node?.value != null) best = node.value;
    }
    return best;
  }

  /** Removes every prefix `owner` holds. */
  removeOwner(owner: T): void {
    const walk = (n: TrieNode<T> | null): void => {
      if (!n) return;
      if (n.value === owner) n.value = null;
      walk(n.zero);
      walk(n.one);
    };
    walk(this.v4);
    walk(this.v6);
  }

  /** The prefixes `owner` holds, as "address bytes + cidr" entries (for status output). */
  entriesOf(owner: T): { family: IpFamily; bytes: Uint8Array; cidr: number }[] {
    const out: { family: IpFamily; bytes: Uint8Array; cidr: number }[] = [];
    const walk = (n: TrieNode<T> | null, family: IpFamily, path: Uint8Array, depth: number): void => {
      if (!n) return;
      if (n.value === owner) out.push({ family, bytes: path.slice(), cidr: depth });
      if (depth === path.length * 8) return;
      const byte = depth >>> 3; const mask = 0x80 >>> (depth & 7);
      walk(n.zero, family, path, depth + 1);
      path[byte]! |= mask;
      walk(n.one, family, path, depth + 1);
      path[byte]! &= ~mask;
    };
    walk(this.v4, 4, new Uint8Array(4), 0);
    walk(this.v6, 6, new Uint8Array(16), 0);
    return out;
  }
}

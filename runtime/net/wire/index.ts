// Layer: net/wire. Zero-copy packet views, emitters and checksums for the userspace stack
// (docs/architecture.md §5; smoltcp's src/wire is the model). Re-exports only.
export * from './parse-error.ts';
export * from './bytes.ts';
export * from './checksum.ts';
export * from './ethernet.ts';
export * from './arp.ts';
export * from './ipv4.ts';
export * from './icmpv4.ts';
export * from './udp.ts';
export * from './tcp.ts';
export * from './offload.ts';
export * from './print.ts';
export * from './view.ts';

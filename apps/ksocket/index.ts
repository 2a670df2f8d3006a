// The package's `wsk-runtime/apps/ksocket` entry: KSOCKET's Ks* layer and its driver demo. Its
// BSD-style wrapper (socket, connect, send, ...) is the separate `wsk-runtime/apps/ksocket/berkeley`,
// as berkeley.h is a separate header in the C.
export * from './ksocket.ts';
export * from './ksocket-demo.ts';

// Everything provider-independent: NTSTATUS, IRP/KEVENT/MDL support routines, SOCKADDR helpers,
// NMR and WSK. The package entry (../index.ts) adds the kernel provider as the default.
export * from './ntstatus.ts';
export * from './irp/irp.ts';
export * from './irp/kevent.ts';
export * from './mdl/mdl.ts';
export * from './sockaddr.ts';
export * from './nmr/index.ts';
export * from './wsk/index.ts';
export { WskUsageError } from './errors.ts';
export * from './provider.ts';

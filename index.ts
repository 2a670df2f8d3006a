// Package entry of wsk-runtime: the whole WSK/NMR/wdm surface with wsk.h spellings, and the
// kernel provider (host sockets) as the default subsystem for apps that start none.
import { setDefaultProviderFactory } from './runtime/wsk/subsystem.ts';
import { createKernelProvider, KernelProvider } from './transports/kernel/kernel-provider.ts';

setDefaultProviderFactory(createKernelProvider);

export * from './runtime/index.ts';
export { createKernelProvider, KernelProvider };

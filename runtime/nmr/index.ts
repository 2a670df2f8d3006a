// Network Module Registrar, public surface (netioddk.h names; Microsoft: Network Module Registrar). The top-level Nmr*
// functions use the per-process registrar; `new NmrRegistrar()` gives an isolated one.
export * from './types.ts';
export * from './registrar.ts';

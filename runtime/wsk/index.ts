// The WSK API surface: every wsk.h name a port needs.
export * from './constants.ts';
export * from './types.ts';
export { WskRegister, WskDeregister, WskCaptureProviderNPI, WskReleaseProviderNPI, WskQueryProviderCharacteristics } from './registration.ts';
export {
  WskSubsystem, startWskSubsystem, getDefaultWskSubsystem, setDefaultWskSubsystem, setDefaultProviderFactory,
  WSK_HIGHEST_VERSION, WSK_LOWEST_VERSION, type WskSubsystemOptions,
} from './subsystem.ts';
export { PsGetCurrentProcess, CurrentProcess } from './client.ts';
export { sharingOutcome, type Binding, type SharingMode } from './address-sharing.ts';

// The WSK API surface: every wsk.h name a port needs.
export * from './constants.ts';
export * from './types.ts';
export {
  WSACMSGHDR, CMSGHDR, WSAMSG, IN_PKTINFO, IN6_PKTINFO, WSA_CMSGHDR_ALIGN, WSA_CMSGDATA_ALIGN, WSA_CMSG_FIRSTHDR, WSA_CMSG_NXTHDR,
  WSA_CMSG_DATA, WSA_CMSG_SPACE, WSA_CMSG_LEN, CMSGHDR_ALIGN, CMSGDATA_ALIGN, CMSG_FIRSTHDR, CMSG_NXTHDR, CMSG_DATA, CMSG_SPACE,
  CMSG_LEN, SIZEOF_WSACMSGHDR, SIZEOF_IN_PKTINFO, SIZEOF_IN6_PKTINFO, SIZEOF_INT, cmsgInt, setCmsgInt, type WSABUF,
} from './control-info.ts';
export { IP_MREQ, IPV6_MREQ, SIZEOF_IP_MREQ, SIZEOF_IPV6_MREQ } from './ip-mreq.ts';
export { WskRegister, WskDeregister, WskCaptureProviderNPI, WskReleaseProviderNPI, WskQueryProviderCharacteristics } from './registration.ts';
export {
  WskSubsystem, startWskSubsystem, getDefaultWskSubsystem, setDefaultWskSubsystem, setDefaultProviderFactory,
  WSK_HIGHEST_VERSION, WSK_LOWEST_VERSION, type WskSubsystemOptions,
} from './subsystem.ts';
export { PsGetCurrentProcess, CurrentProcess } from './client.ts';
export { sharingOutcome, type Binding, type SharingMode } from './address-sharing.ts';

// IGMPv2 message layout (RFC 2236 §2): the fields igmp.ts reads and writes, by name.
export const IGMP_LENGTH = 8;
export const IgmpField = { TYPE: 0, MAX_RESPONSE_TIME: 1, CHECKSUM: 2, GROUP: 4 } as const;

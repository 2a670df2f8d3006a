// The WSK contract suite (docs/wsk-rules.md R1–R60) on the userspace stack over the memory link: every
// datagram, basic-socket, connection, listen and stream rule (TCP peers are a second userspace
// stack), over IPv4 and IPv6 (the stacks have fd00:198:18::1 and ::2; the target sets ipv6: true,
// so every IPv6 rule runs, R47 included).
import { stackTarget } from './contract/stack-target.ts';
import { registrationContract } from './contract/registration.contract.ts';
import { irpContract } from './contract/irp.contract.ts';
import { irpTimingContract } from './contract/irp-timing.contract.ts';
import { releaseContract } from './contract/release.contract.ts';
import { socketsContract } from './contract/sockets.contract.ts';
import { eventsContract } from './contract/events.contract.ts';
import { dataContract } from './contract/data.contract.ts';
import { clientControlsContract } from './contract/client-controls.contract.ts';
import { controlInfoContract } from './contract/control-info.contract.ts';
import { ipOptionsContract, multicast6Contract, multicastContract } from './contract/ip-options.contract.ts';
import { rawContract } from './contract/raw.contract.ts';
import { tcpIpOptionsContract } from './contract/tcp-ip-options.contract.ts';

registrationContract(stackTarget);
irpContract(stackTarget);
irpTimingContract(stackTarget);
socketsContract(stackTarget);
eventsContract(stackTarget);
releaseContract(stackTarget);
dataContract(stackTarget);
clientControlsContract(stackTarget);
controlInfoContract(stackTarget);
ipOptionsContract(stackTarget);
multicastContract(stackTarget);
multicast6Contract(stackTarget);
rawContract(stackTarget);
tcpIpOptionsContract(stackTarget);

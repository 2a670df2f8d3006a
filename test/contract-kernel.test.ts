// The WSK contract suite (docs/wsk-rules.md R1–R60) on the kernel provider. A later provider adds one
// file like this one with its own ContractTarget and must pass every test its target defines.
import { kernelTarget } from './contract/kernel-target.ts';
import { registrationContract } from './contract/registration.contract.ts';
import { irpContract } from './contract/irp.contract.ts';
import { irpTimingContract } from './contract/irp-timing.contract.ts';
import { releaseContract } from './contract/release.contract.ts';
import { socketsContract } from './contract/sockets.contract.ts';
import { eventsContract } from './contract/events.contract.ts';
import { dataContract } from './contract/data.contract.ts';
import { clientControlsContract } from './contract/client-controls.contract.ts';
import { controlInfoContract } from './contract/control-info.contract.ts';
import { ipOptionsContract, multicastContract } from './contract/ip-options.contract.ts';
import { rawContract } from './contract/raw.contract.ts';
import { tcpIpOptionsContract } from './contract/tcp-ip-options.contract.ts';

registrationContract(kernelTarget);
irpContract(kernelTarget);
irpTimingContract(kernelTarget);
socketsContract(kernelTarget);
eventsContract(kernelTarget);
releaseContract(kernelTarget);
dataContract(kernelTarget);
clientControlsContract(kernelTarget);
controlInfoContract(kernelTarget);
ipOptionsContract(kernelTarget);
multicastContract(kernelTarget);
rawContract(kernelTarget);
tcpIpOptionsContract(kernelTarget);

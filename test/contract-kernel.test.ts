// The WSK contract suite (wsk.md R1–R60) on the kernel provider. A later provider adds one
// file like this one with its own factory and must pass the same suite.
import { createKernelProvider } from '../index.ts';
import { registrationContract } from './contract/registration.contract.ts';

registrationContract(createKernelProvider);
import { irpContract } from './contract/irp.contract.ts';
irpContract(createKernelProvider);
import { socketsContract } from './contract/sockets.contract.ts';
socketsContract(createKernelProvider);
import { eventsContract } from './contract/events.contract.ts';
eventsContract(createKernelProvider);
import { dataContract } from './contract/data.contract.ts';
dataContract(createKernelProvider);
import { clientControlsContract } from './contract/client-controls.contract.ts';
clientControlsContract(createKernelProvider);

// The package's `wsk-runtime/lab` entry: the two-namespace veth labs (lab.ts, root only), the
// experiment runner of `wsk lab run` (experiment.ts; examples in apps/lab/experiments/), and the
// pair of userspace stacks on one memory network that the memory-medium experiments use.
export * from './lab.ts';
export * from './experiment.ts';
export { A_IP, B_IP, stackPair, type StackPair } from './stack-pair.ts';

// Two userspace stacks on one memory network: lives in apps/lab (the lab's network simulation is
// built on it); re-exported here for the stack and provider tests.
export * from '../../apps/lab/stack-pair.ts';

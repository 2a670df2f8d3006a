// Fixture of cli-interrupt.test.ts: a process that holds a lab and a peer process in it, as `wsk
// lab run` and `wsk demo` do, with the exit cleanup `wsk` installs (apps/cli/main.ts), and then
// dies of an uncaught error. Prints {"id", "pid"} first; ends by itself.
import { cleanUpOnExit } from '../../apps/cli/interrupt.ts';
import { labUp } from '../../apps/lab/lab.ts';

cleanUpOnExit({
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  onSignal: () => {},
});
const lab = labUp();
const peer = lab.spawn('peer', ['sleep', '60']);
process.stdout.write(JSON.stringify({ id: lab.id, pid: peer.pid }) + '\n');
setTimeout(() => { throw new Error('crash-with-lab: an error nobody catches (on purpose)'); }, 300);

// The package's `wsk-runtime/apps/iperf3` entry: the iperf3-compatible server and client, written
// only against WSK (the iperf3 3.x control protocol; see iperf3-protocol.ts).
export { startIperf3Server, type Iperf3Server, type Iperf3ServerOptions, type ServerTestReport } from './iperf3-server.ts';
export { runIperf3Client, Iperf3Error, type Iperf3ClientOptions, type Iperf3ClientReport, type Iperf3Sum } from './iperf3-client.ts';
export { IPERF3_DEFAULT_PORT } from './iperf3-protocol.ts';
export { formatBytes, formatRate, unitText, UNIT_FORMATS, type UnitFormat } from './units.ts';

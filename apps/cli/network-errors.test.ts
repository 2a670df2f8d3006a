// The words for a failed bind or connect: which statuses get them, and that the NTSTATUS is found
// however the app reported it (a WskError, a cause, or its name inside another error's message).
import { describe, expect, it } from 'vitest';
import { STATUS_ADDRESS_ALREADY_EXISTS, STATUS_CONNECTION_REFUSED, STATUS_INVALID_PARAMETER } from '../../index.ts';
import { WskError } from '../common/wsk-io.ts';
import { explainNetworkError, explainNetworkStatus, failedCallOf } from './network-errors.ts';

describe('explainNetworkStatus', () => {
  it('a port in use, as WSK documents it and as Windows returns it: what, where, the fix, the status last', () => {
    expect(explainNetworkStatus('bind', STATUS_ADDRESS_ALREADY_EXISTS, '198.18.0.1:5201'))
      .toBe('address 198.18.0.1:5201 already in use: pick another port with -p, or stop the program that holds it (STATUS_ADDRESS_ALREADY_EXISTS)');
    expect(explainNetworkStatus('bind', 'STATUS_ADDRESS_ALREADY_ASSOCIATED', '[::]:40007')).toMatch(/^address \[::\]:40007 already in use: .* \(STATUS_ADDRESS_ALREADY_ASSOCIATED\)$/);
  });

  it('connect failures name the peer and its port', () => {
    expect(explainNetworkStatus('connect', STATUS_CONNECTION_REFUSED, '127.0.0.1:5201'))
      .toBe('connection to 127.0.0.1:5201 refused: nothing listens on port 5201 there; start the server first, or check the address and the port (-p) (STATUS_CONNECTION_REFUSED)');
    expect(explainNetworkStatus('connect', 'STATUS_HOST_UNREACHABLE', '198.18.0.9:80')).toMatch(/^198\.18\.0\.9:80 is unreachable .*--gateway \(STATUS_HOST_UNREACHABLE\)$/);
    expect(explainNetworkStatus('connect', 'STATUS_IO_TIMEOUT', '198.18.0.9:80')).toMatch(/timed out.*\(STATUS_IO_TIMEOUT\)$/);
  });

  it('a status without words, or one that belongs to the other step, is left alone', () => {
    expect(explainNetworkStatus('bind', STATUS_INVALID_PARAMETER, '[::]:1')).toBeNull();
    expect(explainNetworkStatus('bind', STATUS_CONNECTION_REFUSED, '[::]:1')).toBeNull();
    expect(explainNetworkStatus('connect', null, 'x:1')).toBeNull();
  });
});

describe('explainNetworkError', () => {
  it('finds the call and status in a WskError, a cause, or a message that quotes them', () => {
    expect(failedCallOf(new WskError('WskBind', STATUS_ADDRESS_ALREADY_EXISTS))).toEqual({ call: 'WskBind', status: 'STATUS_ADDRESS_ALREADY_EXISTS' });
    expect(failedCallOf(new Error('setup failed', { cause: new WskError('WskConnect', STATUS_CONNECTION_REFUSED) }))).toEqual({ call: 'WskConnect', status: 'STATUS_CONNECTION_REFUSED' });
    expect(failedCallOf(new Error('unable to connect to 127.0.0.1:1: WskConnect: STATUS_CONNECTION_REFUSED (0xC0000236)'))).toEqual({ call: 'WskConnect', status: 'STATUS_CONNECTION_REFUSED' });
    expect(failedCallOf(new Error('no status here'))).toBeNull();
  });

  it("explains only the step's own call; anything else keeps its message", () => {
    const refused = new Error('unable to connect to 127.0.0.1:1: WskConnect: STATUS_CONNECTION_REFUSED (0xC0000236)');
    expect(explainNetworkError('connect', refused, '127.0.0.1:1')).toMatch(/^connection to 127\.0\.0\.1:1 refused: /);
    // A reset in the middle of a test is not a connect failure.
    const reset = new Error('receive: WskReceive: STATUS_CONNECTION_RESET (0xC000020D)');
    expect(explainNetworkError('connect', reset, '127.0.0.1:1')).toBe(reset.message);
    expect(explainNetworkError('bind', 'a string', '[::]:1')).toBe('a string');
  });
});

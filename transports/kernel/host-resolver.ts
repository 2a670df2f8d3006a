// Resolver over the host's getaddrinfo/getnameinfo (dns.lookup / dns.lookupService, so /etc/hosts
// and nsswitch apply). Endpoints come back with port 0 in resolver order; failures reject with
// ProviderError (no such name → STATUS_NOT_FOUND). A null/empty host gives the loopback addresses.
import { lookup, lookupService } from 'node:dns';
import { ProviderError, type Resolver } from '../../runtime/provider.ts';
import { ntStatusFromErrno, STATUS_INVALID_PARAMETER } from '../../runtime/ntstatus.ts';
import { AF_INET, AF_INET6, AF_UNSPEC, endpointFromText, type Endpoint } from '../../runtime/sockaddr.ts';
import { endpointOf, hostText, providerError } from './kernel-address.ts';

export class HostResolver implements Resolver {
  lookup(host: string | null, family: number): Promise<Endpoint[]> {
    if (family !== AF_UNSPEC && family !== AF_INET && family !== AF_INET6) {
      return Promise.reject(new ProviderError(ntStatusFromErrno('EAFNOSUPPORT'), `lookup: address family ${family}`));
    }
    if (host === null || host === '') {
      // getaddrinfo(NULL, ...) without AI_PASSIVE: the loopback addresses, IPv6 first.
      const v6 = endpointFromText('::1', 0, AF_INET6);
      const v4 = endpointFromText('127.0.0.1', 0, AF_INET);
      return Promise.resolve(family === AF_INET ? [v4] : family === AF_INET6 ? [v6] : [v6, v4]);
    }
    const nodeFamily = family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0;
    return new Promise((resolve, reject) => {
      try {
        lookup(host, { all: true, family: nodeFamily, verbatim: true }, (err, addresses) => {
          if (err) { reject(providerError(err, `lookup ${host}`)); return; }
          resolve(addresses.map((a) => endpointOf(a.address, 0, a.family === 4 ? AF_INET : AF_INET6)));
        });
      } catch (err) {
        reject(providerError(err, `lookup ${host}`));
      }
    });
  }

  reverse(endpoint: Endpoint): Promise<{ host: string; service: string }> {
    if (endpoint.family !== AF_INET && endpoint.family !== AF_INET6) {
      return Promise.reject(new ProviderError(STATUS_INVALID_PARAMETER, `reverse: address family ${String(endpoint.family)}`));
    }
    const address = hostText(endpoint);
    return new Promise((resolve, reject) => {
      try {
        lookupService(address, endpoint.port, (err, hostname, service) => {
          if (err) { reject(providerError(err, `reverse ${address}`)); return; }
          resolve({ host: hostname, service });
        });
      } catch (err) {
        reject(providerError(err, `reverse ${address}`));
      }
    });
  }
}

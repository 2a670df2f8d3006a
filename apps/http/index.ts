// The package's `wsk-runtime/apps/http` entry: the HTTP/1.1 server and client written against WSK.
export { startHttpServer, generatedBody, type HttpServer, type HttpServerOptions, type HttpServerStats } from './http-server.ts';
export { HttpClient, type HttpRequest, type HttpResponse } from './http-client.ts';
export { HttpError } from './http-message.ts';

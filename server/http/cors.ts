/**
 * CORS for third-party registry UIs (Joxit's docker-registry-ui and the like), off
 * unless `http.cors.origins` lists origins. Preflights (OPTIONS) are answered here,
 * before the API's router; the headers such UIs need are allowed (Authorization,
 * Accept, Range) and exposed (Docker-Content-Digest, WWW-Authenticate, Link, ...).
 */
import cors from 'cors';
import type { RequestHandler } from 'express';

export const CORS_EXPOSED_HEADERS = [
  'Docker-Content-Digest',
  'Docker-Distribution-API-Version',
  'WWW-Authenticate',
  'Link',
  'Location',
  'Range',
  'Content-Range',
  'Content-Length',
  'Docker-Upload-UUID',
  'OCI-Subject',
  'OCI-Filters-Applied',
];

export function corsMiddleware(origins: string[]): RequestHandler {
  const any = origins.includes('*');
  return cors({
    // `*` answers with the request's origin reflected only when credentials are not involved.
    origin: any ? '*' : origins,
    credentials: !any,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Accept', 'Content-Type', 'Content-Range', 'Range', 'Docker-Content-Digest'],
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 600,
    optionsSuccessStatus: 204,
  });
}

/** The auth listener's four paths, /auth/<path>: one per AuthBackend method (backend.ts). */
export const AUTH_PATHS = ['user', 'vhost', 'resource', 'topic'] as const;
export type AuthPath = (typeof AUTH_PATHS)[number];

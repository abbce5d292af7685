import { existsSync } from 'node:fs';

/** True only when a Docker engine actually answers; fails fast on machines without one. */
export async function dockerAnswers(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([getContainerRuntimeClient(), new Promise((_, reject) => setTimeout(() => reject(new Error('docker timeout')), 3000))]);
    return true;
  } catch {
    return false;
  }
}

// The cache's keys. A version's configuration never changes, so it is kept under a key that
// names the version; only the small pointer "which version is published" changes, and a
// publish replaces it (purging what was served before).

export function pointerKey(tenantId: string, agentId: string): string {
  return `published:${tenantId}:${agentId}`;
}

export function configKey(tenantId: string, agentId: string, version: string): string {
  return `config:${tenantId}:${agentId}:${version}`;
}

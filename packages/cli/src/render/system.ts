import type { PingReply, VersionInfo } from '../data.js';

export function renderVersion(data: VersionInfo): string {
  return [`Hostname: ${data.hostName}`, `Model: ${data.model} (platform ${data.platform})`, `${data.daemon} ${data.version} on Node.js ${data.node}`].join('\n') + '\n';
}

export function renderPing(data: PingReply): string {
  return `${data.name}: ${data.role} on ${data.platform}, pid ${data.pid}, up ${duration(data.uptimeSeconds)}\n`;
}

/** 3725 -> "1h 2m 5s"; leading zero units are left out. */
export function duration(totalSeconds: number): string {
  const seconds = Math.floor(totalSeconds);
  const parts: string[] = [];
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) parts.push(`${days}d`);
  if (parts.length > 0 || hours > 0) parts.push(`${hours}h`);
  if (parts.length > 0 || minutes > 0) parts.push(`${minutes}m`);
  parts.push(`${seconds % 60}s`);
  return parts.join(' ');
}

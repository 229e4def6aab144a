// The agent's system user as a sysusers.d(5) file: systemd-sysusers creates it at install and
// again on a factory-reset or read-only image that boots with an empty /etc. Pure.

/** The groups the agent needs: serial adapters (dialout) and cameras (video). */
export const DEVICE_GROUPS = ['dialout', 'video'] as const;

/** The sysusers.d lines: a system user with its own group, no login, and membership in DEVICE_GROUPS. */
export function sysusersFile(user: string): string {
  return [
    '# Written by `rivulet agent install`; removed by `rivulet agent uninstall`.',
    `u ${user} - "Rivulet edge agent" - /usr/sbin/nologin`,
    ...DEVICE_GROUPS.map((group) => `m ${user} ${group}`),
    '',
  ].join('\n');
}
